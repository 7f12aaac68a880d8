"""The noise-ratio sweep (the paper's Figure 2).

For every model, attack and noise ratio ``alpha`` (a *cell*), ``runs``
independent runs each poison the training set afresh and train a freshly
initialised model on it; the runs of a cell are one vmapped program. Each cell
is written to the run directory as soon as it finishes.

Tables (tidy, one row per value):

* ``history.csv``: ``dataset, model, attack, alpha, run, epoch, metric, value``
  at every evaluation epoch;
* ``results.csv``: the same columns at the final epoch only (the numbers of
  Figure 2). Metrics: ``train_acc`` (on the poisoned labels), ``val_acc``
  (clean validation data), ``train_clean_acc``, ``poison_fit``, ``train_loss``,
  ``val_loss`` (see :func:`qunlearn.train.supervised_metrics`), and ``diverged``
  (1 from the first evaluation at which a loss was non-finite: such a run is
  reported and excluded from every mean, never averaged in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import data as data_mod
from ..errors import count
from ..config import PoisonConfig
from ..poison import flip_mask
from ..runs import RunDir
from ..train import eval_epochs, supervised_program
from .common import (DIVERGED, Result, drop_diverged, alpha_tag, cell_key, check_memory, divergence, history_table,
                     open_run, poisoned_training_set, run_cells, wide_summary)

NAME = "poison"


@dataclass(frozen=True)
class Cell:
    model: str
    attack: str
    alpha: float

    @property
    def id(self) -> str:
        return RunDir.cell_id(self.model, self.attack, alpha_tag(self.alpha))

    @property
    def label(self) -> str:
        return f"{self.model} {self.attack} alpha={self.alpha:.2f}"


def cells(cfg: PoisonConfig) -> list[Cell]:
    """All cells, grouped by model so each model compiles once."""
    return [Cell(m, a, al) for m in cfg.models for a in cfg.attacks for al in cfg.alphas]


def poisoned_runs(cfg: PoisonConfig, ds, attack: str, alpha: float):
    """Training sets of every run of one (attack, alpha): stacked x, y, poisoned mask."""
    xs, ys, masks = [], [], []
    for run in range(cfg.runs):
        x_p, y_p, idx = poisoned_training_set(cfg.seed, ds, attack, alpha, run)
        xs.append(x_p)
        ys.append(y_p)
        masks.append(flip_mask(len(y_p), idx).astype(np.float32))
    return np.stack(xs), np.stack(ys), np.stack(masks)


def run_cell(cfg: PoisonConfig, ds, cell: Cell) -> pd.DataFrame:
    """Train all runs of one cell; return its history table."""
    mc = cfg.models[cell.model]
    model = mc.spec.build(ds, cfg.precision)
    x, y, mask = poisoned_runs(cfg, ds, cell.attack, cell.alpha)
    y_true = np.broadcast_to(ds.y_train, y.shape)
    keys = jnp.stack(
        [cell_key(cfg.seed, cfg.dataset, "train", cell.model, cell.attack, alpha_tag(cell.alpha), r)
         for r in range(cfg.runs)]
    )
    program = supervised_program(model, mc.train)
    _, hist = program(keys, jnp.asarray(x), jnp.asarray(y), jnp.asarray(y_true), jnp.asarray(mask),
                      jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
    hist = jax.device_get(hist)
    hist[DIVERGED] = divergence(hist["train_loss"], hist["val_loss"])
    return history_table(
        hist, eval_epochs(mc.train), range(cfg.runs),
        dataset=cfg.dataset, model=cell.model, attack=cell.attack, alpha=cell.alpha,
    )


def final_table(history: pd.DataFrame) -> pd.DataFrame:
    """Rows of the last evaluated epoch of every (model, ...) series."""
    last = history.groupby("model")["epoch"].transform("max")
    return history[history["epoch"] == last].reset_index(drop=True)


class PoisonResult(Result):
    """The alpha sweep's tables: ``history`` (every evaluation epoch) and ``results`` (the last)."""

    def __init__(self, cfg: PoisonConfig, run_dir: RunDir, history: pd.DataFrame):
        super().__init__(cfg, run_dir)
        self.history, self.results = history, final_table(history)

    def build_figures(self, title: str | None = None, published: bool = True) -> dict:
        """Figure 2 (``"figure2"``, with the published numbers where they match, unless ``published=False``)
        and, with more than two models, the widths figure (``"widths"``); built in memory, nothing written."""
        from .. import plots, reference

        cfg, res = self.cfg, drop_diverged(self.results)
        if res.empty:
            return {}  # every run diverged: nothing to draw (the terminal and the report say so)
        title = title or f"{cfg.dataset.upper()}: accuracy against noise ratio, {count(cfg.runs, 'run')}"
        labels = {name: mc.describe() for name, mc in cfg.models.items()}
        main = res[res["model"].isin(["qnn", "mlp"])]
        figs = {"figure2": plots.make_figure2(main if len(main) else res, title=title,
                                              published=reference.figure2(cfg.dataset) if published else None)}
        if res["model"].nunique() > 2:
            figs["widths"] = plots.make_width_figure(res, title=f"{cfg.dataset.upper()}: MLP widths", labels=labels)
        return figs

    def figures(self, title: str | None = None, published: bool = True) -> list:
        """Save :meth:`build_figures` as ``figure2.png``/``.pdf`` (and ``widths``) in the run directory; the paths."""
        from .. import plots

        return plots.save_figures(self.build_figures(title, published=published), self.path)

    def summary(self) -> list:
        cols = [("train_acc", "train acc (poisoned labels)"), ("train_clean_acc", "train acc (true labels)"),
                ("val_acc", "val acc (clean)")]
        table = wide_summary(self.results, ["model", "attack", "alpha"], cols)
        table["alpha"] = table["alpha"].map(lambda a: f"{a:.2f}")
        return [("final accuracy, mean ± std over the runs counted (diverged runs excluded)", table)]

    def notes(self) -> list[str]:
        return [f"results:  {self.path / 'results.csv'}  (per-epoch curves: history.csv)"]


def run(cfg: PoisonConfig, workdir, *, fresh: bool = False, executor=None,
        on_cell: Callable | None = None) -> PoisonResult:
    """Run every unfinished cell of ``cfg`` into ``workdir``; return the sweep's tables.

    ``on_cell(cell, status, seconds)`` is called with status ``"skipped"``
    (already finished) or ``"done"`` after each cell, for progress reporting.
    ``executor`` (default: this process) computes the cells; see :mod:`qunlearn.executor`.
    Bad input (data files, memory) is refused before the directory is touched.
    """
    return sweep(cfg, open_run(workdir, NAME, cfg.to_dict(), fresh), executor, on_cell)


def sweep(cfg: PoisonConfig, run_dir: RunDir, executor=None, on_cell: Callable | None = None) -> PoisonResult:
    """The alpha sweep of ``cfg`` into an opened run directory (``run`` opens it; the gauge study opens its own)."""
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    check_memory(cfg.models, ds, cfg.runs, cfg.precision)
    run_dir.start(ds)
    todo = cells(cfg)
    tables = run_cells(run_dir, executor, todo, run_cell, (cfg, ds), on_cell)
    history = pd.concat([tables[c.id] for c in todo], ignore_index=True)
    run_dir.write_table("history.csv", history)
    result = PoisonResult(cfg, run_dir, history)
    run_dir.write_table("results.csv", result.results)
    return result


def read_result(directory, record: dict) -> PoisonResult | None:
    """The result of a finished sweep, read from its directory (None while it is unfinished)."""
    from .common import StoredRun, read_tables, stored_config

    tables, cfg = read_tables(directory, "history.csv"), stored_config(PoisonConfig, record.get("config", {}))
    return None if tables is None or cfg is None else PoisonResult(cfg, StoredRun(directory), tables[0])
