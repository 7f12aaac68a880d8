"""The loss-landscape study (PAPER.md, "Loss-landscape analysis").

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

from .. import backend, data as data_mod, landscape
from ..config import LandscapeConfig, ModelConfig
from ..poison import label_flip_random
from ..runs import RunDir
from ..train import supervised_program
from .common import alpha_tag, build_model, cell_key, run_cells

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


def run_cell(cfg: LandscapeConfig, ds, kind: str, seed: int) -> pd.DataFrame:
    """Train the clean and noisy variants of one (model, seed); return their Hessian statistics."""
    mc = ModelConfig(kind, cfg.train, depth=cfg.qnn_depth, hidden=cfg.mlp_hidden)
    if kind == "qnn":
        from ..models import LandscapeQNN

        model = LandscapeQNN(n_qubits=ds.n_qubits, depth=cfg.qnn_depth)
    else:
        model = build_model(mc, ds)
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
    key = cell_key(seed, ds.name, "landscape", kind)
    keys = jnp.stack([key] * len(variants))  # same init and batch order: only the labels differ
    V = len(variants)
    params, hist = supervised_program(model, cfg.train)(
        keys, jnp.asarray(np.stack([x_tr] * V)), jnp.asarray(np.stack(ys)), jnp.asarray(np.stack([y_tr] * V)),
        jnp.asarray(np.stack(masks)), jnp.asarray(x_ho), jnp.asarray(y_ho))
    x_h, y_h = jnp.asarray(x_ho[: cfg.n_hessian]), jnp.asarray(y_ho[: cfg.n_hessian])
    rows = []
    for v, alpha in enumerate(variants):
        p_v = jax.tree_util.tree_map(lambda a: a[v], params)
        rep = landscape.hessian_report(model, p_v, x_h, y_h, key=cell_key(seed, "hutchinson", kind, v),
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
        rows += [(kind, alpha, seed, k, v_) for k, v_ in vals.items()]
    table = pd.DataFrame(rows, columns=["model", "alpha", "seed", "metric", "value"])
    table.insert(0, "dataset", ds.name)
    return table


def add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Append ``trace_ratio`` and ``top_eig_ratio`` rows: value / mean clean value of the model (non-collapsed seeds)."""
    wide = table.pivot_table(index=["dataset", "model", "alpha", "seed"], columns="metric", values="value").reset_index()
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
    backend.set_precision(cfg.precision)  # a worker process may not have set it yet
    return run_cell(cfg, ds, *cell)


def run(cfg: LandscapeConfig, run_dir: RunDir, on_cell: Callable | None = None, executor=None) -> pd.DataFrame:
    """Run every unfinished (model, seed) cell into ``run_dir``; return the results table with ratios.

    ``on_cell(cell, status, seconds)`` reports each cell; ``executor`` computes them.
    """
    backend.set_precision(cfg.precision)
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    run_dir.start()
    todo = cells(cfg)
    tables = run_cells(run_dir, executor, todo, _cell, (cfg, ds), on_cell, cell_id=cell_id)
    result = add_ratios(pd.concat([tables[cell_id(c)] for c in todo], ignore_index=True))
    run_dir.write_table("results.csv", result)
    return result


def excluded(result: pd.DataFrame) -> pd.DataFrame:
    """The (model, alpha, seed) runs excluded as collapsed."""
    c = result[(result["metric"] == "collapsed") & (result["value"] > 0)]
    return c[["model", "alpha", "seed"]].reset_index(drop=True)
