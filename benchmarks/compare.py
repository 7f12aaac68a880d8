"""Set two tables of ``reproduce.py`` side by side (wall time per part, before / after, ratio).

    python benchmarks/compare.py results/reproduce-paper-before.json results/reproduce-paper-after.json

Prints a markdown table: part, cells, wall s and compile s of each, the ratio of
the wall times, and how each was obtained.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(path: str) -> dict[str, list]:
    return {r[0]: r for r in json.loads(Path(path).read_text())["rows"]}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/compare.py BEFORE.json AFTER.json")
    before, after = rows(sys.argv[1]), rows(sys.argv[2])
    print("| part | cells | before: wall s | compile s | after: wall s | compile s | before / after "
          "| how obtained (before; after) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for part, b in before.items():
        a = after.get(part)
        if a is None:
            continue
        ratio = float(b[2]) / max(float(a[2]), 1e-9)
        how = b[7] if b[7] == a[7] else f"{b[7]}; {a[7]}"
        print(f"| {part} | {a[1]} | {b[2]} | {b[3]} | {a[2]} | {a[3]} | {ratio:.2f}x | {how} |")


if __name__ == "__main__":
    main()
