"""The whole study into one run directory (``qunlearn reproduce``).

Layout::

    DIR/config.json                  the resolved study config, seed, package versions
    DIR/<dataset>/poison/            alpha sweep, extra MLP widths included: Figure 2, widths figure
    DIR/<dataset>/unlearn/           every unlearning method: Figure 3
    DIR/<dataset>/sweep-<method>/    weight sweeps of SCRUB and gradient ascent
    DIR/<dataset>/landscape/         Hessian traces (MNIST in the paper)
    DIR/<dataset>/embed/             t-SNE panels
    DIR/report.md, DIR/report.html   written at the end (``qunlearn report DIR``)

Each part is a run directory of its own experiment, so every finished cell is
written atomically as it finishes and a rerun skips it. The top-level config
is checked against the stored one before anything runs: a changed config is
refused with the differences named, and ``fresh`` starts everything over.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..runs import RunDir
from ..study import Study


@dataclass
class Part:
    dataset: str
    name: str  # poison, unlearn, sweep-scrub, sweep-gradient_ascent, landscape, embed
    run_dir: RunDir
    total: int  # cells, for progress
    run: Callable  # (part, on_cell, executor) -> None

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.name}"


def plan(study: Study, out: Path, fresh: bool = False) -> tuple[RunDir, list[Part]]:
    """The top-level run directory and every part, all validated against what ``out`` holds; nothing written."""
    from . import embedding, landscape, poisoning, unlearning

    top = RunDir(out, "reproduce", study.to_dict(), fresh=fresh)
    parts: list[Part] = []
    for d, sec in study.sections.items():
        base = top.path / d

        def rd(name, experiment, record):
            return RunDir(base / name, experiment, record, fresh=fresh)

        if "poison" in sec["parts"]:
            cfg = sec["poison"]
            parts.append(Part(d, "poison", rd("poison", "poison", cfg.to_dict()), len(poisoning.cells(cfg)),
                              _runner_poison(cfg)))
        ucfg = sec["unlearn"]
        if "unlearn" in sec["parts"]:
            parts.append(Part(d, "unlearn", rd("unlearn", "unlearn", ucfg.to_dict()),
                              len(ucfg.models) + len(unlearning.cells(ucfg)), _runner_unlearn(ucfg)))
        if "sweeps" in sec["parts"]:
            grid = tuple(sec["sweeps"]["grid"])
            for method in sec["sweeps"]["methods"]:
                scfg = replace(ucfg, methods=(method,))
                parts.append(Part(d, f"sweep-{method}", rd(f"sweep-{method}", "sweep", unlearning.sweep_record(scfg, method, grid)),
                                  len(scfg.models) + len(unlearning.sweep_cells(scfg, method, grid)),
                                  _runner_sweep(scfg, method, grid, base / "unlearn")))
        if "landscape" in sec["parts"]:
            lcfg = sec["landscape"]
            parts.append(Part(d, "landscape", rd("landscape", "landscape", lcfg.to_dict()), len(landscape.cells(lcfg)),
                              _runner_landscape(lcfg)))
        if "embed" in sec["parts"]:
            e, options = sec["embed"], sec["poison"].data_options
            parts.append(Part(d, "embed", rd("embed", "embed", embedding.record(d, e["attacks"], e["alpha"], e["seed"], e["perplexity"], options)), 1,
                              _runner_embed(d, e, options)))
    return top, parts


def _runner_poison(cfg):
    def run(part: Part, on_cell, executor):
        from .. import plots
        from . import poisoning

        history = poisoning.run(cfg, part.run_dir, on_cell=lambda c, s, t: on_cell(
            f"{c.model} {c.attack} alpha={c.alpha:.2f}", s, t), executor=executor)
        results = poisoning.final_table(history)
        title = f"{cfg.dataset.upper()}: accuracy against noise ratio, {cfg.runs} runs"
        main = results[results["model"].isin(["qnn", "mlp"])]
        plots.figure2(main if len(main) else results, part.run_dir.path / "figure2", title=title)
        if results["model"].nunique() > 2:
            plots.width_figure(results, part.run_dir.path / "widths", title=f"{cfg.dataset.upper()}: MLP widths")

    return run


def _runner_unlearn(cfg):
    def run(part: Part, on_cell, executor):
        from .. import plots
        from . import unlearning

        history, _ = unlearning.run(cfg, part.run_dir, on_cell=lambda c, s, t: on_cell(f"{c[0]} {c[1]}", s, t),
                                    executor=executor)
        plots.figure3(history, part.run_dir.path / "figure3",
                      title=f"{cfg.dataset.upper()} unlearning, {cfg.attack} alpha={cfg.alpha}")

    return run


def _link_trained(src_dir: Path, dst: RunDir, names) -> None:
    """Reuse the unlearning part's models to unlearn (same config, so the same parameters)."""
    dst.cells_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        f = f"{RunDir.cell_id(name, 'trained')}.npz"
        src, target = src_dir / "cells" / f, dst.cells_dir / f
        if src.exists() and not target.exists():
            try:
                os.link(src, target)
            except OSError:
                shutil.copyfile(src, target)


def _runner_sweep(cfg, method, grid, unlearn_dir: Path):
    def run(part: Part, on_cell, executor):
        from .. import plots
        from . import unlearning

        part.run_dir.start()
        _link_trained(unlearn_dir, part.run_dir, cfg.models)
        table = unlearning.run_sweep(cfg, method, grid, part.run_dir, executor=executor, on_cell=lambda c, s, t: on_cell(
            f"{c[0]} {c[1]}" + ("" if c[2] is None else f" kl_w={c[2]:.2f}"), s, t))
        plots.sweep_figure(table, method, part.run_dir.path / f"sweep-{method}",
                           title=f"{cfg.dataset.upper()} {method} weight sweep (alpha={cfg.alpha})")

    return run


def _runner_landscape(cfg):
    def run(part: Part, on_cell, executor):
        from .. import plots
        from . import landscape

        result = landscape.run(cfg, part.run_dir, executor=executor,
                               on_cell=lambda c, s, t: on_cell(f"{c[0]} seed {c[1]}", s, t))
        plots.landscape_figure(result, part.run_dir.path / "landscape", title=f"{cfg.dataset.upper()} loss landscape")

    return run


def _runner_embed(dataset, e, options):
    def run(part: Part, on_cell, executor):
        from . import embedding

        if (part.run_dir.path / "embedding.csv").exists() and (part.run_dir.path / "embedding.png").exists():
            on_cell("t-SNE", "skipped", 0.0)
            return
        t0 = time.perf_counter()
        embedding.run(dataset, e["attacks"], e["alpha"], part.run_dir, seed=e["seed"], data_options=options,
                      perplexity=e["perplexity"])
        on_cell("t-SNE", "done", time.perf_counter() - t0)

    return run


def check_inputs(study: Study) -> None:
    """Load every dataset and check every QNN fits in memory: refuse bad input before any work."""
    from .. import data as data_mod
    from .common import check_memory

    loaded = {}

    def dataset(d, options):  # parts usually share their data options: load each set once
        key = (d, json.dumps(options, sort_keys=True))
        if key not in loaded:
            loaded[key] = data_mod.load(d, **options)
        return loaded[key]

    for d, sec in study.sections.items():
        for name in ("poison", "unlearn"):
            cfg = sec[name]
            check_memory(cfg.models, dataset(d, cfg.data_options), cfg.runs, cfg.precision)
        if "landscape" in sec["parts"]:
            dataset(d, sec["landscape"].data_options)


def run(study: Study, top: RunDir, parts: list[Part], executor=None,
        on_part: Callable | None = None, on_cell: Callable | None = None) -> None:
    """Run every part in order. ``on_part(part)`` marks the start of a part and
    ``on_cell(part, label, status, seconds)`` reports each cell."""
    if top.fresh and top.path.exists():
        for d in study.datasets:
            shutil.rmtree(top.path / d, ignore_errors=True)
        for p in parts:
            p.run_dir.fresh = False  # already cleared
    top.start()
    for part in parts:
        if on_part:
            on_part(part)
        part.run(part, lambda label, status, seconds, _p=part: on_cell and on_cell(_p, label, status, seconds),
                 executor)
