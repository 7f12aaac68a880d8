"""Weight sweeps of SCRUB and gradient ascent (final validation accuracy over a weight grid).

From the models to unlearn of the unlearning experiment (the same config trains
the same models; an unlearning run directory can lend them, so they are
trained once), every setting of the swept weights runs for every run. SCRUB
sweeps ``(kl_w, fo_w)`` over ``grid x grid`` (one cell per ``kl_w`` row; the
``fo_w`` row is one vmapped program), gradient ascent ``fo_w`` over ``grid``
(one cell); the other weights keep their configured values. The sweep programs
keep only what the sweep reports: the final validation accuracy and the final
poison memory (forget-set accuracy on the poisoned labels).

Table ``results.csv``: ``dataset, model, attack, alpha, method, kl_w, fo_w, run, metric, value``.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import data as data_mod
from ..config import SWEEPS, SweepConfig
from ..errors import count
from ..runs import WEIGHT_DECIMALS, RunDir, number_tag
from ..unlearn import resolve_weights
from .common import Result, cell_key, check_memory, open_run, run_cells
from .unlearning import _unlearn_one, trained_models, trained_path, training_record, unlearning_data

NAME = "sweep"


@lru_cache(maxsize=None)
def sweep_program(model, method: str, static_w: tuple, swept: tuple, ucfg, chunk: int):
    """Compiled program running ``method`` over a grid of swept weights x every run.

    The weight grid is mapped in chunks of ``chunk`` settings (``lax.map`` with
    ``batch_size``), each chunk vmapped together with the runs, so memory stays
    bounded while one compilation serves the whole sweep.
    """
    # metrics only before and after the last epoch (not every eval_every epochs): the training itself is
    # unchanged (the epochs' keys do not depend on the evaluation schedule), the per-epoch evaluations are gone
    one = _unlearn_one(model, method, static_w, swept, ucfg.ends_only())
    per_runs = jax.vmap(one, in_axes=(0, 0, 0, None, None, None))

    def run(keys, trained, run_data, x_val, y_val, grid):
        def for_setting(values):
            _, hist = per_runs(keys, trained, run_data, x_val, y_val, tuple(values[i] for i in range(len(swept))))
            return hist["val_acc"][:, -1], hist["forget_poison_acc"][:, -1]

        return jax.lax.map(for_setting, grid, batch_size=chunk)

    return jax.jit(run)


def cells(cfg: SweepConfig) -> list[tuple[str, float | None]]:
    """(model, kl_w) cells for SCRUB (the fo_w row is one vmapped program), (model, None) otherwise;
    each model's training to unlearn comes first."""
    rows = cfg.grid if len(SWEEPS[cfg.method]) == 2 else (None,)
    return [(name, r) for name in cfg.unlearn.models for r in rows]


def _chunk(mc, ds, data, runs: int, n_settings: int, precision: str) -> int:
    """Weight settings vmapped together: all where memory is no concern; for a QNN on CPU a fixed
    10 // runs (results do not depend on the machine), on an accelerator as many as half its memory holds."""
    per = mc.spec.training_bytes(ds, data.x_retain.shape[1] + data.x_forget.shape[1], runs, precision)
    if per is None:
        return n_settings
    if jax.devices()[0].platform == "cpu":
        return max(1, min(n_settings, 10 // runs))
    from ..memory import chunk_size

    return chunk_size(per, n_settings)


def _sweep_cell(cfg: SweepConfig, ds, data, trained: dict, cell) -> pd.DataFrame:
    """One row of a weight sweep (all fo_w values of one kl_w for SCRUB; the whole grid otherwise)."""
    ucfg, method, grid = cfg.unlearn, cfg.method, cfg.grid
    name, row = cell
    mc = ucfg.models[name]
    model = mc.spec.build(ds, ucfg.precision)
    swept = SWEEPS[method]
    base = resolve_weights(method, ucfg.weights.get(method))
    static_w = tuple(sorted((k, v) for k, v in base.items() if k not in swept))
    keys = jnp.stack([cell_key(ucfg.seed, ucfg.dataset, "unlearn", name, method, r) for r in range(ucfg.runs)])
    settings = [(row, fo) for fo in grid] if row is not None else [(fo,) for fo in grid]
    chunk = _chunk(mc, ds, data, ucfg.runs, len(settings), ucfg.precision)
    program = sweep_program(model, method, static_w, swept, mc.unlearn, chunk)
    params = jax.tree_util.tree_map(jnp.asarray, trained[name])
    val, memory = program(keys, params, data.per_run(), jnp.asarray(ds.x_val), jnp.asarray(ds.y_val),
                          jnp.asarray(settings, dtype=jnp.float32))
    val, memory = np.asarray(val), np.asarray(memory)
    rows = []
    for si, setting in enumerate(settings):
        w = dict(zip(swept, setting))
        for r in range(ucfg.runs):
            for metric, arr in (("val_acc", val), ("forget_poison_acc", memory)):
                rows.append((w.get("kl_w", base.get("kl_w", np.nan)), w["fo_w"], r, metric, float(arr[si, r])))
    table = pd.DataFrame(rows, columns=["kl_w", "fo_w", "run", "metric", "value"])
    for i, (k, v) in enumerate(dict(dataset=ucfg.dataset, model=name, attack=ucfg.attack, alpha=ucfg.alpha,
                                     method=method).items()):
        table.insert(i, k, v)
    return table


def borrow_trained(cfg: SweepConfig, run_dir: RunDir, source: str | Path) -> list[str]:
    """Link the models to unlearn from the unlearning run directory ``source`` into ``run_dir``, if
    ``source`` trained them under the same settings; return the names linked."""
    source = Path(source)
    try:
        stored = json.loads((source / "config.json").read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if training_record(stored) != training_record(cfg.unlearn.to_dict()):
        return []
    linked = []
    for name in cfg.unlearn.models:
        src, target = trained_path(source, name), trained_path(run_dir.path, name)
        if src.exists() and not target.exists():
            try:
                os.link(src, target)
            except OSError:
                shutil.copyfile(src, target)
            linked.append(name)
    return linked


class SweepResult(Result):
    def __init__(self, cfg: SweepConfig, run_dir: RunDir, results: pd.DataFrame):
        super().__init__(cfg, run_dir)
        self.results = results

    @property
    def by(self) -> list[str]:
        return ["model", *SWEEPS[self.cfg.method]]

    def _means(self) -> pd.DataFrame:
        val = self.results[self.results["metric"] == "val_acc"]
        return val.groupby(self.by)["value"].agg(["mean", "std"]).reset_index()

    def build_figures(self, title: str | None = None) -> dict:
        """``{"sweep-<method>": figure}`` built in memory; nothing written."""
        from .. import plots

        cfg = self.cfg
        title = title or f"{cfg.dataset.upper()} {cfg.method} weight sweep (alpha={cfg.unlearn.alpha})"
        return {f"sweep-{cfg.method}": plots.make_sweep_figure(self.results, cfg.method, title=title)}

    def figures(self, title: str | None = None) -> list:
        from .. import plots

        return plots.save_figures(self.build_figures(title), self.path)

    def summary(self) -> list:
        from .common import pm

        s = self._means()
        table = pd.DataFrame({c: s[c] if c == "model" else s[c].map(lambda v: f"{v:.2f}") for c in self.by})
        table["val acc"] = [pm(m, sd) for m, sd in zip(s["mean"], s["std"])]
        return [(f"{self.cfg.method} sweep: final validation accuracy, mean ± std over "
                 f"{count(self.cfg.unlearn.runs, 'run')}",
                 table)]

    def notes(self) -> list[str]:
        s = self._means()
        out = []
        for _, r in s.loc[s.groupby("model")["mean"].idxmax()].iterrows():
            w = ", ".join(f"{c}={r[c]:.2f}" for c in self.by[1:])
            out.append(f"best for {r['model']}: {w} -> val acc {r['mean']:.3f}")
        return out + [f"results:  {self.path / 'results.csv'}"]


def run(cfg: SweepConfig, workdir, *, fresh: bool = False, executor=None, on_cell: Callable | None = None,
        models_from: str | Path | None = None) -> SweepResult:
    """Final validation accuracy (and poison memory) over the weight grid of ``cfg.method``.

    ``models_from``: an unlearning run directory whose models to unlearn are
    reused when they were trained under the same settings (``reproduce`` passes
    its unlearning part), instead of training them again.
    """
    ucfg = cfg.unlearn
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    ds = data_mod.load(ucfg.dataset, **ucfg.data_options)
    check_memory(ucfg.models, ds, ucfg.runs, ucfg.precision)
    data = unlearning_data(ucfg, ds)
    run_dir.start(ds)
    if models_from is not None:
        borrow_trained(cfg, run_dir, models_from)
    trained = trained_models(ucfg, ds, data, run_dir, executor, on_cell=None if on_cell is None else (
        lambda c, st, sec: on_cell((c[0], c[1], None), st, sec)))
    todo = cells(cfg)
    cid = lambda c: RunDir.cell_id(c[0], cfg.method, "sweep",  # noqa: E731
                                   "all" if c[1] is None else number_tag(c[1], WEIGHT_DECIMALS))
    tables = run_cells(run_dir, executor, todo, _sweep_cell, (cfg, ds, data, trained),
                       on_cell=None if on_cell is None else (lambda c, st, sec: on_cell(
                           (c[0], cfg.method, None if c[1] is None else f"kl_w={c[1]:.2f}"), st, sec)),
                       cell_id=cid)
    result = pd.concat([tables[cid(c)] for c in todo], ignore_index=True)
    run_dir.write_table("results.csv", result)
    return SweepResult(cfg, run_dir, result)


def read_result(directory, record: dict) -> SweepResult | None:
    """The result of a finished weight sweep, read from its directory (None while it is unfinished)."""
    from .common import StoredRun, read_tables, stored_config

    tables, cfg = read_tables(directory, "results.csv"), stored_config(SweepConfig, record.get("config", {}))
    return None if tables is None or cfg is None else SweepResult(cfg, StoredRun(directory), tables[0])
