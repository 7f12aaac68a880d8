"""The whole study into one run directory (``qunlearn reproduce``), and the part runner every command uses.

Layout::

    DIR/config.json                  the resolved study config, seed, package versions
    DIR/<dataset>/poison/            alpha sweep, extra MLP widths included: Figure 2, widths figure
    DIR/xxz/gauge/                   the MLPs of the alpha sweep again, XXZ states in the other gauge
    DIR/<dataset>/unlearn/           every unlearning method: Figure 3
    DIR/<dataset>/sweep-<method>/    weight sweeps of SCRUB and gradient ascent
    DIR/<dataset>/landscape/         Hessian traces (MNIST in the paper)
    DIR/<dataset>/embed/             t-SNE panels
    DIR/<dataset>/noise/             part "noise": the alpha sweep with noisy QNNs (noise figure)
    DIR/<dataset>/noise-unlearn/     and unlearning with them, MIA and poison memory from finite shots
    DIR/report.md, DIR/report.html   written at the end (``qunlearn report DIR``)

Each part is a run directory of its own experiment, run through that
experiment's one entry point (``run(cfg, workdir, ...)``), so every finished
cell is written atomically as it finishes and a rerun skips it. The top-level
config is checked against the stored one before anything runs: a changed
config is refused with the differences named, and ``fresh`` starts everything
over. A single experiment from the CLI is a plan of one part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from ..registry import Experiment, by_kind, experiments
from ..runs import RunDir, clear_own, dataset_dir
from ..study import Study


@dataclass
class Part:
    """One run directory of a plan: its experiment, config, run directory and how to report it."""

    dataset: str
    name: str  # the step's directory: poison, gauge, unlearn, sweep-scrub, ..., noise, noise-unlearn
    experiment: str  # the runner's NAME, as its config.json records it
    cfg: Any
    run_dir: RunDir
    title: str | None = None  # figure title (None: the experiment's own)
    options: dict = field(default_factory=dict)  # extra keyword arguments of the runner's run
    figure_options: dict = field(default_factory=dict)  # keyword arguments of the result's figures()
    owner: Experiment | None = None  # the registered experiment this step belongs to
    runner: str = ""  # module path of the runner

    @property
    def module(self):
        return import_module(self.runner)

    @property
    def total(self) -> int:
        """Cells, for progress (the experiment says how many: its runner's cells, and any models it trains)."""
        return self.owner.cells(self)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.name}"


def single(experiment: str, cfg, out, fresh: bool = False, title: str | None = None, **figure_options) -> Part:
    """A plan of one experiment (a registered name, or a runner's NAME such as ``sweep``) into ``out``
    (checked against what ``out`` holds; nothing written)."""
    exps = experiments()
    owner = exps[experiment] if experiment in exps else by_kind(experiment)
    if owner is None:
        raise ValueError(f"unknown experiment {experiment!r}")
    record = cfg.to_dict()
    module = import_module(owner.runner)
    run_dir = RunDir(out, module.NAME, record, fresh=fresh)
    return Part(cfg.dataset, owner.dir_name(record), module.NAME, cfg, run_dir, title, figure_options=figure_options,
                owner=owner, runner=owner.runner)


def _steps(study: Study, base: Path | None = None, **plan_options):
    for d, sec in study.sections.items():
        for name in sec["parts"]:
            owner = experiments()[name]
            for step in owner.steps(sec[name], sec, (base or Path(".")) / dataset_dir(d), **plan_options):
                yield d, owner, step


def plan(study: Study, out: Path, fresh: bool = False, published: bool = True) -> tuple[RunDir, list[Part]]:
    """The top-level run directory and every part, all validated against what ``out`` holds; nothing written.

    ``published``: draw the paper's numbers on Figure 2."""
    top = RunDir(out, "reproduce", study.to_dict(unused_opt_in=False), fresh=fresh)
    parts: list[Part] = []
    for d, owner, step in _steps(study, top.path, published=published):
        module = step.module
        rd = RunDir(top.path / dataset_dir(d) / step.name, module.NAME, step.cfg.to_dict(), fresh=fresh, inside=top)
        parts.append(Part(d, step.name, module.NAME, step.cfg, rd, options=step.options,
                          figure_options=step.figure_options, owner=owner, runner=step.runner))
    return top, parts


def configs(study: Study) -> list:
    """The config of every part :func:`plan` makes, in its order, without looking at any directory."""
    return [step.cfg for _, _, step in _steps(study)]


def check_inputs(items: list) -> list:
    """Load every dataset and check every model fits in memory: refuse bad input before any work.

    ``items`` are parts or configs. Returns the dataset of each (for estimates)."""
    import json

    from .. import data as data_mod
    from .common import check_memory

    loaded, per_part = {}, []
    for item in items:
        cfg = getattr(item, "cfg", item)
        key = (cfg.dataset, json.dumps(cfg.data_options, sort_keys=True))
        if key not in loaded:  # parts usually share their data options: load each set once
            loaded[key] = data_mod.load(cfg.dataset, **cfg.data_options)
        if hasattr(cfg, "models"):
            runs = getattr(cfg, "runs", 1 + len(getattr(cfg, "alphas", ())))
            check_memory(cfg.models, loaded[key], runs, cfg.precision)
        if hasattr(cfg, "check_data"):
            cfg.check_data(loaded[key])
        per_part.append(loaded[key])
    return per_part


def run_parts(parts: list[Part], executor=None, on_part: Callable | None = None,
              on_cell: Callable | None = None) -> list:
    """Run every part in order through its experiment's entry point, draw its figures (their paths in
    ``result.figure_paths``); return the results.

    ``on_part(part)`` marks the start of a part and ``on_cell(part, cell, status, seconds)`` reports each cell.
    """
    results = []
    for part in parts:
        if on_part:
            on_part(part)
        report = (None if on_cell is None
                  else (lambda cell, status, seconds, _p=part: on_cell(_p, cell, status, seconds)))
        result = part.module.run(part.cfg, part.run_dir, executor=executor, on_cell=report, **part.options)
        result.figure_paths = result.figures(part.title, **part.figure_options)
        results.append(result)
    return results


def run(study: Study, top: RunDir, parts: list[Part], executor=None,
        on_part: Callable | None = None, on_cell: Callable | None = None) -> list:
    """Run the whole study: clear it first with ``fresh`` (only the parts' directories), then every part."""
    if top.fresh and top.path.exists():
        clear_own(top.path)  # only what qunlearn wrote (RunDir refused a folder holding anything else)
    for p in parts:
        p.run_dir.fresh = False  # cleared above, or new
    top.start()
    return run_parts(parts, executor, on_part, on_cell)
