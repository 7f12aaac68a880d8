"""What qunlearn prints on a terminal: a plan run with its first line and progress, result summaries,
diverged runs and the claims of a report. The command line (:mod:`qunlearn.cli`) parses arguments and
calls these; nothing here parses or decides.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table

from .errors import count

out = Console(width=None if sys.stdout.isatty() else 170)
err = Console(stderr=True, log_path=False, width=None if sys.stderr.isatty() else 170)  # a log file: no wrapping at 80

DIVERGED_EXIT = 3  # exit status when every run of some cell diverged (its results are not averaged)


def run_plan(parts: list, executor: tuple, title: str, go=None, datasets: list | None = None,
             quiet: bool = False) -> list:
    """Run a plan (inputs checked first, unless ``datasets`` says they were) with progress; return the results.

    ``go(executor, on_part, on_cell)`` runs it (default: every part in order); ``quiet``: no plan line, no bars.
    """
    from .experiments import reproduce as rp
    from .executor import make_executor
    from .progress import Reporter, estimate_seconds, fmt_duration

    from .executor import check_args

    check_args(*executor)
    datasets = datasets or rp.check_inputs(parts)
    estimates = [estimate_seconds(p, ds) for p, ds in zip(parts, datasets)]
    seconds = sum(estimates)
    cells = sum(p.total for p in parts)
    if not quiet:
        out.print(f"{title}: {count(cells, 'cell')} in {count(len(parts), 'part')}, {fmt_duration(seconds)} on 2 CPU "
                  "cores with an empty compilation cache, by a rough estimate", highlight=False)
    go = go or (lambda ex, on_part, on_cell: rp.run_parts(parts, ex, on_part, on_cell))
    with make_executor(executor[0], scheduler=executor[1], workers=executor[2]) as ex:
        from .backend import use_compile_cache

        ex.everywhere(use_compile_cache)  # compiled programs kept on disk ($QUNLEARN_COMPILE_CACHE=off: not)
        if executor[0] != "local" and not quiet:
            err.print(f"executor: {ex.describe()}", highlight=False)
        if quiet:
            return go(ex, None, None)
        with Reporter(err, parts, title, estimates) as rep:
            return go(ex, rep.on_part, rep.on_cell)


def run_study(study, out_dir, fresh: bool, executor: tuple, title: str, published: bool = True,
              quiet: bool = False, summaries: bool = False) -> tuple[bool, list]:
    """Run a study (every part of every dataset) into ``out_dir``; ``(every run of some cell diverged, results)``."""
    from .experiments import reproduce as rp

    loaded = rp.check_inputs(rp.configs(study))  # bad data or sizes are named before the directory is looked at
    top, parts = rp.plan(study, out_dir, fresh=fresh, published=published)  # refuses a clashing directory
    results = run_plan(parts, executor, title, datasets=loaded, quiet=quiet,
                       go=lambda ex, on_part, on_cell: rp.run(study, top, parts, executor=ex, on_part=on_part,
                                                              on_cell=on_cell))
    if summaries and not quiet:
        print_results(parts, results)
    return report_divergence(parts, results, quiet), results


def report_divergence(parts: list, results: list, quiet: bool = False) -> bool:
    """One line per cell with diverged runs; True if every run of some cell diverged."""
    lost = False
    for part, result in zip(parts, results):
        lines, all_lost = result.divergence()
        for line in lines if not quiet else ():
            err.print(f"{part.label} {line}", highlight=False, markup=False, soft_wrap=True)
        lost |= all_lost
    return lost


def print_results(parts: list, results: list) -> None:
    for part, result in zip(parts, results):
        for table_title, table in result.summary():
            print_table(f"{part.label}: {table_title}", table)
        for line in result.notes():
            out.print(line, highlight=False)


def print_table(title: str, df) -> None:
    t = Table(title=title)
    text = df.columns[: 2 if "method" in df.columns or "attack" in df.columns else 1]
    for col in df.columns:
        t.add_column(str(col), justify="left" if col in text else "right")
    for row in df.itertuples(index=False):
        t.add_row(*[str(v) for v in row])
    out.print(t)


def run_single(experiment: str, cfg, out_dir: str, fresh: bool, title: str, executor: tuple, quiet: bool = False,
               **figure_options) -> tuple[bool, list]:
    """Run one experiment as a plan of one part and print what it found; ``(every run of some cell diverged,
    [result])``."""
    from .experiments import reproduce as rp

    datasets = rp.check_inputs([cfg])  # bad data or sizes are named before the directory is looked at
    part = rp.single(experiment, cfg, out_dir, fresh, title, **figure_options)  # refuses a clashing directory
    t0 = time.perf_counter()
    result, = run_plan([part], executor, title, datasets=datasets, quiet=quiet)
    if not quiet:
        print_results([part], [result])
        out.print(f"finished in {time.perf_counter() - t0:.1f}s", highlight=False)
        out.print(f"config:   {result.path / 'config.json'}", highlight=False)
        if result.figure_paths:
            out.print("figures:  " + ", ".join(str(f) for f in result.figure_paths), highlight=False)
    return report_divergence([part], [result], quiet), [result]


def print_claims(found: list) -> None:
    t = Table(title="claims of the paper, tested on this run")
    for col in ("claim", "dataset", "status", "numbers"):
        t.add_column(col)
    for c in found:
        t.add_row(str(c.number), c.dataset, c.status, c.evidence)
    out.print(t)
