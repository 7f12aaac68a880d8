"""Shared by the benchmark scripts: timing and writing the result table."""

from __future__ import annotations

import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn):
    """``(fn(), seconds)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def emit(name: str, info: str, columns: list[tuple[str, str]], rows: list[tuple]) -> str:
    """Print a markdown table and write it to results/NAME.md, raw rows to results/NAME.json.

    ``columns`` holds (header, alignment) pairs with alignment ``"l"`` or ``"r"``.
    """
    head = "| " + " | ".join(c for c, _ in columns) + " |\n"
    head += "|" + "|".join("---:" if a == "r" else "---" for _, a in columns) + "|\n"
    table = head + "".join(f"| {' | '.join(str(v) for v in r)} |\n" for r in rows)
    print(info)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(info + "\n\n" + table)
    (RESULTS / f"{name}.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    return table
