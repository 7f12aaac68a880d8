"""The loss-landscape study (PROTOCOL.md, "Loss-landscape analysis").

Per seed: a stratified train / held-out split of the training data, one clean
and one noisy model per alpha (labels flipped at random, not class-balanced),
all with the same initialisation and minibatch order, so that within a seed
only the labels differ; the variants of a seed train as one vmapped program.
Then the Hessian of the mean loss over ``n_hessian`` held-out points (true
labels) is taken w.r.t. the flattened parameters: its trace (exact, from
Hessian-vector products, no eigendecomposition; Hutchinson beyond
``exact_max`` parameters) and its top eigenvalues (the full spectrum up to
``eig_exact_max`` parameters, Lanczos beyond).

An MLP that collapsed to a constant predictor (one class for >= 99 % of the
held-out points) has a degenerate landscape; such runs are flagged
(``collapsed`` = 1), excluded from the ratios, and listed.

Table ``results.csv``: ``dataset, model, alpha, seed, metric, value`` with
``trace``, ``trace_se``, ``trace_ratio`` (trace / mean clean trace of the
model over non-collapsed seeds), ``top_eig_1..k``, ``top_eig_ratio``,
``collapsed``, ``val_acc``, ``n_params``; alpha 0 rows are the clean models.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .. import data as data_mod, landscape
from ..config import LandscapeConfig
from ..poison import label_flip_random
from ..runs import RunDir
from ..train import supervised_program
from .common import Result, alpha_tag, cell_key, check_memory, open_run, run_cells, wide_summary

NAME = "landscape"

COLLAPSE_SHARE = 0.99


def split(ds, cfg: LandscapeConfig, seed: int):
    """Stratified train / held-out indices of the dataset's training set for one seed."""
    idx = np.arange(len(ds.y_train))
    tr, ho = train_test_split(idx, test_size=cfg.test_size, stratify=ds.y_train, random_state=seed)
    return np.sort(tr), np.sort(ho)


def is_collapsed(p: np.ndarray) -> bool:
    """A constant predictor: one class predicted for at least 99 % of the points."""
    hard = np.asarray(p) > 0.5
    return bool(max(hard.mean(), 1 - hard.mean()) >= COLLAPSE_SHARE)


def run_cell(cfg: LandscapeConfig, ds, name: str, seed: int) -> pd.DataFrame:
    """Train the clean and noisy variants of one (model, seed); return their Hessian statistics."""
    mc = cfg.models[name]
    model = mc.spec.build(ds, cfg.precision)
    tr, ho = split(ds, cfg, seed)
    x_tr, y_tr = ds.x_train[tr], ds.y_train[tr]
    x_ho, y_ho = ds.x_train[ho], ds.y_train[ho]
    variants = (0.0,) + cfg.alphas
    ys, masks = [], []
    for alpha in variants:
        if alpha == 0:
            ys.append(y_tr.copy())
            masks.append(np.zeros(len(y_tr), np.float32))
        else:
            y_p, idx = label_flip_random(y_tr, alpha, cell_key(seed, ds.name, "landscape-flip", alpha_tag(alpha)))
            m = np.zeros(len(y_tr), np.float32)
            m[idx] = 1
            ys.append(y_p)
            masks.append(m)
    key = cell_key(seed, ds.name, "landscape", name)
    keys = jnp.stack([key] * len(variants))  # same init and batch order: only the labels differ
    V = len(variants)
    params, hist = supervised_program(model, mc.train)(
        keys, jnp.asarray(np.stack([x_tr] * V)), jnp.asarray(np.stack(ys)), jnp.asarray(np.stack([y_tr] * V)),
        jnp.asarray(np.stack(masks)), jnp.asarray(x_ho), jnp.asarray(y_ho))
    x_h, y_h = jnp.asarray(x_ho[: cfg.n_hessian]), jnp.asarray(y_ho[: cfg.n_hessian])
    rows = []
    for v, alpha in enumerate(variants):
        p_v = jax.tree_util.tree_map(lambda a: a[v], params)
        rep = landscape.hessian_report(model, p_v, x_h, y_h, key=cell_key(seed, "hutchinson", name, v),
                                       exact_max=cfg.eig_exact_max, trace_exact_max=cfg.exact_max, top_k=cfg.top_k)
        collapsed = is_collapsed(np.asarray(model.apply(p_v, jnp.asarray(x_ho))))
        vals = {
            "trace": rep["trace"],
            "trace_se": rep["trace_se"],
            "collapsed": float(collapsed),
            "val_acc": float(hist["val_acc"][v, -1]),
            "train_acc": float(hist["train_acc"][v, -1]),
            "n_params": float(rep["n_params"]),
        }
        for i, e in enumerate(rep["top_eigenvalues"][: cfg.top_k]):
            vals[f"top_eig_{i + 1}"] = float(e)
        rows += [(name, alpha, seed, k, v_) for k, v_ in vals.items()]
    table = pd.DataFrame(rows, columns=["model", "alpha", "seed", "metric", "value"])
    table.insert(0, "dataset", ds.name)
    return table


def add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Append ``trace_ratio`` and ``top_eig_ratio`` rows: value / mean clean value of the model
    (non-collapsed seeds)."""
    wide = table.pivot_table(index=["dataset", "model", "alpha", "seed"], columns="metric",
                             values="value").reset_index()
    out = []
    for model, sub in wide.groupby("model"):
        clean = sub[(sub["alpha"] == 0) & (sub["collapsed"] == 0)]
        for metric, ratio in (("trace", "trace_ratio"), ("top_eig_1", "top_eig_ratio")):
            if metric not in sub or clean.empty:
                continue
            ref = clean[metric].mean()
            r = sub[["dataset", "model", "alpha", "seed"]].copy()
            r["metric"] = ratio
            r["value"] = np.where(sub["collapsed"] == 0, sub[metric] / ref, np.nan)
            out.append(r)
    return pd.concat([table] + out, ignore_index=True)


def cells(cfg: LandscapeConfig) -> list[tuple[str, int]]:
    return [(m, s) for m in cfg.models for s in cfg.seeds]


def cell_id(cell: tuple[str, int]) -> str:
    return RunDir.cell_id(cell[0], f"seed{cell[1]}")


def _cell(cfg: LandscapeConfig, ds, cell: tuple[str, int]) -> pd.DataFrame:
    return run_cell(cfg, ds, *cell)


class LandscapeResult(Result):
    """Hessian statistics per (model, alpha, seed), with ratios to the clean models; collapsed runs flagged."""

    def __init__(self, cfg, run_dir, results):
        super().__init__(cfg, run_dir)
        self.results = results

    def build_figures(self, title: str | None = None) -> dict:
        """``{"landscape": figure}`` built in memory; nothing written."""
        from .. import plots

        return {"landscape": plots.make_landscape_figure(
            self.results, title=title or f"{self.cfg.dataset.upper()} loss landscape")}

    def figures(self, title: str | None = None) -> list:
        from .. import plots

        return plots.save_figures(self.build_figures(title), self.path)

    def kept(self) -> pd.DataFrame:
        """Rows of the runs that did not collapse."""
        ex = excluded(self.results)
        dropped = set(map(tuple, ex[["model", "alpha", "seed"]].to_numpy().tolist()))
        r = self.results
        return r[[(m, a, sd) not in dropped for m, a, sd in zip(r["model"], r["alpha"], r["seed"])]]

    def summary(self) -> list:
        cols = [("trace", "trace"), ("trace_ratio", "trace ratio"), ("top_eig_1", "top eigenvalue"),
                ("top_eig_ratio", "top-eig ratio"), ("val_acc", "val acc")]
        table = wide_summary(self.kept(), ["model", "alpha"], cols)
        table["alpha"] = table["alpha"].map(lambda a: f"{a:.1f}")
        return [(f"Hessian of the held-out loss ({self.cfg.n_hessian} points): mean ± std over seeds, "
                 "collapsed runs excluded", table)]

    def notes(self) -> list[str]:
        ex = excluded(self.results)
        if len(ex):
            line = "excluded (collapsed to a constant predictor): " + ", ".join(
                f"{r.model} alpha={r.alpha:.1f} seed={r.seed}" for r in ex.itertuples())
        else:
            line = "no run collapsed to a constant predictor"
        return [line, f"results:  {self.path / 'results.csv'}"]


def run(cfg: LandscapeConfig, workdir, *, fresh: bool = False, executor=None,
        on_cell: Callable | None = None) -> LandscapeResult:
    """Run every unfinished (model, seed) cell into ``workdir``; return the results with ratios.

    ``on_cell(cell, status, seconds)`` reports each cell; ``executor`` computes them.
    """
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    check_memory(cfg.models, ds, 1 + len(cfg.alphas), cfg.precision)
    cfg.check_data(ds)
    run_dir.start(ds)
    todo = cells(cfg)
    tables = run_cells(run_dir, executor, todo, _cell, (cfg, ds), on_cell, cell_id=cell_id)
    result = add_ratios(pd.concat([tables[cell_id(c)] for c in todo], ignore_index=True))
    run_dir.write_table("results.csv", result)
    return LandscapeResult(cfg, run_dir, result)


def excluded(result: pd.DataFrame) -> pd.DataFrame:
    """The (model, alpha, seed) runs excluded as collapsed."""
    c = result[(result["metric"] == "collapsed") & (result["value"] > 0)]
    return c[["model", "alpha", "seed"]].reset_index(drop=True)


def read_result(directory, record: dict) -> LandscapeResult | None:
    """The result of a finished landscape study, read from its directory (None while it is unfinished)."""
    from .common import StoredRun, read_tables, stored_config

    tables, cfg = read_tables(directory, "results.csv"), stored_config(LandscapeConfig, record.get("config", {}))
    return None if tables is None or cfg is None else LandscapeResult(cfg, StoredRun(directory), tables[0])
