"""Ship the report of one finished run as documentation: report.md and the PNG figures it embeds.

    qunlearn reproduce all --preset paper --out runs/paper 2> runs/paper.log
    qunlearn report runs/paper
    python benchmarks/reference_run.py runs/paper --log runs/paper.log --command "qunlearn reproduce all --preset paper"

Writes ``docs/reference-run/`` (or ``--dest``): ``report.md`` with a header (the
command, the machine, the package versions the run recorded, the wall time of
every part and of the whole run as the command's own log printed them) above
the report as ``qunlearn report`` wrote it, and every PNG the report embeds, at
the same relative path. No cells, no CSVs, no HTML (its figures are inline
copies of the PNGs). The destination is refused unless it is empty or an
earlier export (it holds ``report.md`` and only PNGs besides); the whole is
refused above ``--max-mb`` (5 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
PART_LINE = re.compile(r"(?:^|\s)([\w/ ()-]+?): finished in (.+?)(?: \(the plan said (.+?)\))?\s*$")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def this_machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}"


def timings(log: Path) -> list[tuple[str, str, str]]:
    """``(what, measured, the plan's estimate)`` for every 'finished in' line of a reproduce log."""
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        m = PART_LINE.search(line.rstrip())
        if m:
            rows.append((m.group(1).strip(), m.group(2).strip(), (m.group(3) or "").strip()))
    return rows


def images(report: str) -> list[str]:
    """Relative paths of the figures a report embeds (PNG only; nothing outside the run)."""
    out = []
    for rel in IMAGE.findall(report):
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts or p.suffix.lower() != ".png":
            sys.exit(f"reference_run: the report embeds {rel!r}, not a PNG inside the run")
        out.append(rel)
    return out


def is_export(dest: Path) -> bool:
    """Empty, or an earlier export: report.md and PNGs in folders, nothing else."""
    files = [p for p in dest.rglob("*") if p.is_file()]
    return not files or ((dest / "report.md").is_file()
                         and all(p == dest / "report.md" or p.suffix.lower() == ".png" for p in files))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--dest", type=Path, default=Path("docs/reference-run"))
    ap.add_argument("--log", type=Path, default=None, help="the command's stderr (its 'finished in' lines)")
    ap.add_argument("--command", default="qunlearn reproduce all --preset paper")
    ap.add_argument("--machine", default=None, help="the run's machine in words (default: this machine's CPU)")
    ap.add_argument("--note", default="", help="a paragraph to add under the header (how the run was made)")
    ap.add_argument("--max-mb", type=float, default=5.0)
    args = ap.parse_args()

    report_md = args.run_dir / "report.md"
    if not report_md.is_file():
        sys.exit(f"reference_run: {report_md} is missing; run `qunlearn report {args.run_dir}` first")
    if args.dest.exists() and not is_export(args.dest):
        sys.exit(f"reference_run: {args.dest} holds files that are not an earlier export; choose another --dest")
    body = report_md.read_text()
    figures = images(body)
    missing = [f for f in figures if not (args.run_dir / f).is_file()]
    if missing:
        sys.exit(f"reference_run: the report embeds figures that are not there: {', '.join(missing)}")
    size = sum((args.run_dir / f).stat().st_size for f in figures) + len(body.encode())
    if size > args.max_mb * 1e6:
        sys.exit(f"reference_run: {size / 1e6:.1f} MB of report and figures, above --max-mb {args.max_mb}")

    config = json.loads((args.run_dir / "config.json").read_text())
    versions = ", ".join(f"{k} {v}" for k, v in sorted(config.get("versions", {}).items()))
    head = [f"# What `{args.command}` gives you", "",
            "The report of one full run, as `qunlearn report` wrote it, with the figures it embeds. "
            "It is documentation: the cells and tables of the run are not in the repository.", "",
            f"- command: `{args.command}`",
            f"- machine: {args.machine or this_machine()}",
            f"- versions (recorded by the run): {versions}"]
    rows = timings(args.log) if args.log else []
    if rows:
        head += ["", "Wall time, as the command printed it (compilation included; the plan's estimate beside it):",
                 "", "| part | wall time | the plan said |", "|---|---:|---:|"]
        head += [f"| {what} | {wall} | {plan or '-'} |" for what, wall, plan in rows]
    if args.note:
        head += ["", args.note]
    head += ["", "---", ""]

    stage = Path(tempfile.mkdtemp(prefix=".reference-run-", dir=args.dest.parent if args.dest.parent.exists()
                                  else None))
    try:
        for f in figures:
            (stage / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.run_dir / f, stage / f)
        (stage / "report.md").write_text("\n".join(head) + body)
        if args.dest.exists():
            shutil.rmtree(args.dest)  # an earlier export (checked above)
        args.dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage, args.dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"{args.dest}: report.md and {len(figures)} figures, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
