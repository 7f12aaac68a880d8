"""Progress of long work on the terminal: bars, one line per cell, and time-left estimates.

One reporter serves every command: a single experiment is a plan of one part,
``reproduce`` a plan of many. Estimates come from the cells computed so far in
this process (cells found finished on disk cost nothing and are not counted),
per part, so a resumed run estimates only what is left.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Eta:
    """Time left from the cells computed so far (cached cells cost nothing and are not counted)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.count[key] = self.count.get(key, 0) + 1

    def per_cell(self, key: str | None = None) -> float | None:
        if key is not None and self.count.get(key):
            return self.seconds[key] / self.count[key]
        n = sum(self.count.values())
        return sum(self.seconds.values()) / n if n else None

    @staticmethod
    def fmt(seconds: float | None) -> str:
        if seconds is None:
            return "eta -:--:--"
        s = int(round(seconds))
        return f"eta {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def cell_label(cell: Any) -> str:
    """A cell as one short line: its ``label``, or its parts joined by spaces."""
    if hasattr(cell, "label"):
        return cell.label
    if isinstance(cell, tuple):
        return " ".join(str(c) for c in cell if c is not None)
    return str(cell)


def live_bars(console: Console) -> bool:
    """Whether ``console`` can redraw progress bars in place: a terminal, or a notebook with ipywidgets (rich
    draws a notebook's bars in a widget and, without ipywidgets, only warns at every redraw)."""
    if console.is_jupyter:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return False
        return True
    return console.is_terminal and not console.is_dumb_terminal


class Reporter:
    """Bars for the whole plan (when it has several parts) and the current part, one line per cell.

    Where bars cannot be redrawn (a notebook without ipywidgets, a log file), there are no bars and each
    cell's line says how far the run is instead: ``3/8`` cells, and the time left."""

    def __init__(self, console: Console, parts: list, title: str, estimates: list[float] | None = None):
        self.parts, self.eta, self.done, self.cells_done = parts, Eta(), 0, 0
        self.title, self.estimates = title, estimates
        self.started = self.part_started = time.perf_counter()
        self.open_part = None  # the part whose cells are running, for its closing line
        self.live = live_bars(console)
        self.progress = Progress(TextColumn("[bold]{task.description:<28}"), BarColumn(bar_width=30),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
                                 console=console, disable=not self.live)
        self.whole = None
        if len(parts) > 1:
            self.whole = self.progress.add_task(title, total=sum(p.total for p in parts), eta=Eta.fmt(None))
        self.current = self.progress.add_task(title, total=1, eta=Eta.fmt(None))

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if exc[0] is None and self.whole is not None:
            self._close_part()
            self._log(self.title, time.perf_counter() - self.started,
                      sum(self.estimates) if self.estimates else None)
        return self.progress.__exit__(*exc)

    def _estimate(self, part) -> float | None:
        return self.estimates[self.parts.index(part)] if self.estimates else None

    def _log(self, what: str, seconds: float, estimate: float | None) -> None:
        said = "" if estimate is None else f" (the plan said {fmt_duration(estimate)})"
        self.progress.console.log(f"{what}: finished in {fmt_clock(seconds)}{said}", highlight=False)

    def _close_part(self) -> None:
        """One line for the part that just ended: its wall time beside the plan's estimate of it."""
        if self.open_part is not None:
            self._log(self.open_part.label, time.perf_counter() - self.part_started, self._estimate(self.open_part))
        self.open_part = None

    def on_part(self, part) -> None:
        self.done = 0
        self.progress.reset(self.current, total=part.total, description=part.label, eta=Eta.fmt(None))
        if self.whole is not None:
            self._close_part()
            self.open_part, self.part_started = part, time.perf_counter()
            est = self._estimate(part)
            said = "" if est is None else f", {fmt_duration(est)}"
            self.progress.console.log(f"{part.label}: {part.total} cells{said}", highlight=False)

    def on_cell(self, part, cell, status: str, seconds: float) -> None:
        self.done += 1
        if status == "done":
            self.eta.add(part.name, seconds)
        per = self.eta.per_cell(part.name) or 0.0
        left_part = max(part.total - self.done, 0) * per
        later = self.parts[self.parts.index(part) + 1:]
        left_all = left_part + sum(p.total * (self.eta.per_cell(p.name) or self.eta.per_cell() or 0.0) for p in later)
        note = "cached" if status == "skipped" else f"{seconds:.1f}s"
        known = bool(self.eta.count)
        self.cells_done += 1
        line = f"  {cell_label(cell):<40} {note:>8}"
        if not self.live:
            total = sum(p.total for p in self.parts)
            left = left_all if self.whole is not None else left_part
            line += f"  {self.cells_done}/{total}  {Eta.fmt(left if known else None)}"
        self.progress.console.log(line, markup=False, highlight=False)
        if self.whole is not None:
            self.progress.update(self.whole, advance=1, eta=Eta.fmt(left_all if known else None))
        self.progress.update(self.current, advance=1, eta=Eta.fmt(left_part if known else None))


# ------------------------------------------------------------------ estimates before a run
# A rough cost model, so that a long command says up front what it will take (the bars then
# estimate from the cells actually computed). A model's forward pass of one sample costs
# ``spec.pass_seconds(ds, precision)``; a training step costs three passes per sample, plus a
# fixed cost per optimiser step (XLA's per-operation cost on a CPU: what a small MLP's step costs,
# whatever its width): :data:`STEP_SECONDS` shared by the vmapped runs, :data:`STEP_RUN_SECONDS` for
# each run, and the model's own ``spec.step_run_seconds(ds, precision)`` for each run where it has
# one (an MLP's step reads and updates every weight: memory, not arithmetic, on small minibatches);
# every evaluation is one pass over the training and validation sets (``evaluation=True``: a noisy
# QNN's metrics run more trajectories than its steps); every compiled program costs
# ``spec.overhead_seconds`` once per part (cells of one shape share it; each unlearning method is a
# program of its own). An unlearning method's step also passes over the forget set where its loss
# has a forget term (:data:`qunlearn.vocab.STEP_DATA`). Calibrated on 2 CPU cores with an empty
# compilation cache against the measured quick preset and the full paper-preset run
# (benchmarks/README.md); machines of one kind differ by up to 2x.

STEP_SECONDS = 0.7e-3  # one optimiser step of a compiled loop, all vmapped runs together, beyond its arithmetic
STEP_RUN_SECONDS = 0.35e-3  # and for each vmapped run (XXZ MLPs, 2 and 5 runs: 1.4 and 2.5 ms a step in all)
HVP_PASSES = 5  # a Hessian-vector product (forward over reverse) costs about five forward passes


def step_seconds(spec, ds, precision: str, runs: int) -> float:
    """Fixed seconds of one optimiser step of ``runs`` vmapped runs of ``spec``'s models: the spec's own
    ``step_seconds`` (all runs together) where it has one, else :data:`STEP_SECONDS`, plus per run
    :data:`STEP_RUN_SECONDS` and the spec's ``step_run_seconds(ds, precision)`` where it has one."""
    own = getattr(spec, "step_run_seconds", None)
    per_run = STEP_RUN_SECONDS + (own(ds, precision) if own is not None else 0.0)
    return float(getattr(spec, "step_seconds", STEP_SECONDS)) + runs * per_run


def schedule_seconds(mc, sched, ds, runs: int, precision: str, n: int, forget: int = 0) -> float:
    """One schedule ``sched`` (training or unlearning) of ``mc`` on ``n`` samples, ``runs`` times (vmapped):
    its passes and evaluations per run, and its optimiser steps; ``forget``: samples every step also
    passes over (forward and backward) beyond its minibatch."""
    from .schedule import eval_epochs

    steps = sched.epochs * sched.batches(n)
    evals = len(eval_epochs(sched)) * (len(ds.y_train) + len(ds.y_val))
    return (runs * ((sched.epochs * n + steps * forget) * 3 * mc.spec.pass_seconds(ds, precision)
                    + evals * mc.spec.pass_seconds(ds, precision, evaluation=True))
            + steps * step_seconds(mc.spec, ds, precision, runs))


def train_seconds(mc, ds, runs: int, precision: str, n_train: int | None = None) -> float:
    """Training one model ``runs`` times (vmapped) on ``n_train`` samples (default: the whole training set)."""
    return schedule_seconds(mc, mc.train, ds, runs, precision, len(ds.y_train) if n_train is None else n_train)


def unlearn_seconds(mc, ds, runs: int, precision: str, alpha: float, settings: int = 1, method: str | None = None,
                    sched=None) -> float:
    """Unlearning one model ``runs`` times for ``settings`` weight settings of ``method`` (its step data, see
    :data:`qunlearn.vocab.STEP_DATA`; ``None``: the retain set alone), on the data of ``alpha``, with the
    schedule ``sched`` (default: the model's unlearning schedule)."""
    from .vocab import STEP_DATA

    n = len(ds.y_train)
    n_retain = int(n * (1 - alpha))
    data = STEP_DATA.get(method, "retain")
    return settings * schedule_seconds(mc, sched or mc.unlearn, ds, runs, precision,
                                       n if data == "union" else n_retain,
                                       forget=n - n_retain if data == "forget" else 0)


def estimate_seconds(part, ds) -> float:
    """Rough wall seconds of one part of a plan on 2 CPU cores, from its config and dataset: its experiment's
    estimate of the work and each model's set-up."""
    models = getattr(part.cfg, "models", {})
    return part.owner.estimate_seconds(part, ds) + sum(mc.spec.overhead_seconds for mc in models.values())


def fmt_clock(seconds: float) -> str:
    """A measured duration: ``42 s``, ``12 min 05 s``, ``2 h 03 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"


def fmt_duration(seconds: float) -> str:
    """``about 40 s``, ``about 12 min``, ``about 2.5 h``."""
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
