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
  ``val_loss`` (see :func:`qunlearn.train.supervised_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import backend, data as data_mod
from ..config import PoisonConfig
from ..poison import flip_mask, poison
from ..runs import RunDir
from ..train import eval_epochs, supervised_program
from .common import alpha_tag, build_model, cell_key, history_table, run_cells


@dataclass(frozen=True)
class Cell:
    model: str
    attack: str
    alpha: float

    @property
    def id(self) -> str:
        return RunDir.cell_id(self.model, self.attack, alpha_tag(self.alpha))


def cells(cfg: PoisonConfig) -> list[Cell]:
    """All cells, grouped by model so each model compiles once."""
    return [Cell(m, a, al) for m in cfg.models for a in cfg.attacks for al in cfg.alphas]


def poisoned_runs(cfg: PoisonConfig, ds, attack: str, alpha: float):
    """Training sets of every run of one (attack, alpha): stacked x, y, poisoned mask."""
    xs, ys, masks = [], [], []
    for run in range(cfg.runs):
        key = cell_key(cfg.seed, cfg.dataset, "poison", attack, alpha_tag(alpha), run)
        x_p, y_p, idx = poison(attack, ds.x_train, ds.y_train, alpha, key)
        xs.append(x_p)
        ys.append(y_p)
        masks.append(flip_mask(len(y_p), idx).astype(np.float32))
    return np.stack(xs), np.stack(ys), np.stack(masks)


def run_cell(cfg: PoisonConfig, ds, cell: Cell) -> pd.DataFrame:
    """Train all runs of one cell; return its history table."""
    backend.set_precision(cfg.precision)  # a worker process may not have set it yet
    mc = cfg.models[cell.model]
    model = build_model(mc, ds)
    x, y, mask = poisoned_runs(cfg, ds, cell.attack, cell.alpha)
    y_true = np.broadcast_to(ds.y_train, y.shape)
    keys = jnp.stack(
        [cell_key(cfg.seed, cfg.dataset, "train", cell.model, cell.attack, alpha_tag(cell.alpha), r) for r in range(cfg.runs)]
    )
    program = supervised_program(model, mc.train)
    _, hist = program(keys, jnp.asarray(x), jnp.asarray(y), jnp.asarray(y_true), jnp.asarray(mask),
                      jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
    hist = jax.device_get(hist)
    return history_table(
        hist, eval_epochs(mc.train), range(cfg.runs),
        dataset=cfg.dataset, model=cell.model, attack=cell.attack, alpha=cell.alpha,
    )


def final_table(history: pd.DataFrame) -> pd.DataFrame:
    """Rows of the last evaluated epoch of every (model, ...) series."""
    last = history.groupby("model")["epoch"].transform("max")
    return history[history["epoch"] == last].reset_index(drop=True)


def run(cfg: PoisonConfig, run_dir: RunDir, on_cell: Callable | None = None, executor=None) -> pd.DataFrame:
    """Run every unfinished cell of ``cfg`` into ``run_dir``; return the full history table.

    ``on_cell(cell, status, seconds)`` is called with status ``"skipped"``
    (already finished) or ``"done"`` after each cell, for progress reporting.
    ``executor`` (default: this process) computes the cells; see :mod:`qunlearn.executor`.
    """
    backend.set_precision(cfg.precision)
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    run_dir.start()
    todo = cells(cfg)
    tables = run_cells(run_dir, executor, todo, run_cell, (cfg, ds), on_cell)
    history = pd.concat([tables[c.id] for c in todo], ignore_index=True)
    run_dir.write_table("history.csv", history)
    run_dir.write_table("results.csv", final_table(history))
    return history
