r"""The capacity study: is the QNN's resilience to label flipping just low capacity?

Every (family, size) is a *cell* (:mod:`qunlearn.experiments.capacity_models` lists the families and how a
size is written). Within a cell every noise ratio ``alpha`` of label flipping and every run, plus one
training on random labels per run, are one vmapped training program (:func:`qunlearn.train.fit`): the
alphas are data, so a QNN depth compiles once. Run ``r`` at ``alpha`` trains on exactly the poisoned set
every other experiment's run ``r`` sees (:func:`qunlearn.experiments.common.poisoned_training_set`);
the random labels (i.i.d. Bernoulli(0.5)) of run ``r`` are the same for every family. ``mlp-early-stop``
holds out a fraction of that *poisoned* set, trains on the rest, and keeps the parameters of the
evaluation epoch with the lowest held-out loss (trained again to that epoch, from the same keys, in the
same program; its ``stop_epoch`` is a metric).

Tables (tidy, long):

* ``results.csv``: ``dataset, family, size, n_params, alpha, run, metric, value``. Per (alpha, run), at
  the end of training: ``train_acc`` (on the poisoned labels), ``poison_fit`` (on the flipped samples:
  the memorisation), ``val_acc`` (clean validation), ``train_clean_acc``, ``train_loss``, ``val_loss``,
  ``diverged``, ``effective_dimension`` (at the trained parameters) with its ``fisher_n`` and
  ``fisher_gamma``, ``output_spread`` (max - min of the logit over the Fisher's inputs) and, for the
  early-stopped family, ``stop_epoch``. Per run with ``alpha`` empty: ``random_label_fit``. Per cell with
  ``alpha`` and ``run`` empty: ``n_live_params`` (QNNs: parameters in the readout's light cone),
  ``projection_size`` (pca-mlp: numbers of the fitted projection, not trained) and ``degenerate``
  (1 for a constant predictor: ``output_spread`` below :data:`CONSTANT` at every alpha and run; such a
  cell is reported and left out of the figures, fits and claims).
* ``history.csv``: the same columns without ``n_params`` plus ``epoch``, every evaluation of every
  training (``alpha`` empty for the random labels): the learning curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from .. import backend
from .. import data as data_mod
from ..losses import accuracy, bce
from ..poison import flip_mask
from ..runs import RunDir
from ..train import eval_epochs, fit, supervised_metrics
from . import capacity_models as cm
from .capacity_config import CapacityConfig, Size, parse_size
from .common import (DIVERGED, Result, alpha_tag, cell_key, divergence, drop_diverged, open_run,
                     poisoned_training_set, run_cells, wide_summary)

NAME = "capacity"
CONSTANT = 1e-4  # a logit spread below this over the Fisher's inputs: the output does not depend on the input
PAPER_POINTS = (("qnn", "6"), ("mlp", "64-16"))  # the paper's two operating points (MNIST's QNN depth)
KEYS = ["dataset", "family", "size", "n_params", "alpha", "run"]


@dataclass(frozen=True)
class Cell:
    family: str
    size: str

    @property
    def id(self) -> str:
        return RunDir.cell_id(self.family, self.size.replace(":", "."))

    @property
    def label(self) -> str:
        return f"{self.family} {self.size}"


def cells(cfg: CapacityConfig) -> list[Cell]:
    return [Cell(s.family, s.text) for s in cfg.sizes()]


# ------------------------------------------------------------------ the training program


@lru_cache(maxsize=None)
def program(model, train, weight_decay: float, holdout: bool):
    """The vmapped, jitted training of one cell: ``f(keys, x, y, y_true, poisoned, x_val, y_val, x_hold,
    y_hold, stop) -> (params, history)``, every argument but the validation data with a leading run axis.
    ``stop`` (per run) freezes the parameters from that epoch on (early stopping; the full schedule
    otherwise); the held-out set is evaluated only when ``holdout``."""
    tx = optax.adamw(train.lr, weight_decay=weight_decay) if weight_decay else optax.adam(train.lr)

    def one(key, x, y, y_true, poisoned, x_val, y_val, x_hold, y_hold, stop):
        k_init, k_fit = jax.random.split(key)
        data = {"x": x, "y": y, "y_true": y_true, "poisoned": poisoned, "x_val": x_val, "y_val": y_val,
                "x_hold": x_hold, "y_hold": y_hold, "stop": stop}

        def loss_fn(params, data, idx, mask, key):
            return bce(model.apply(params, data["x"][idx], key), data["y"][idx], mask)

        def metrics_fn(params, data, key):
            out = supervised_metrics(model, params, data, key)
            if holdout:
                ph = model.apply(params, data["x_hold"], key)
                out |= {"holdout_loss": bce(ph, data["y_hold"]), "holdout_acc": accuracy(ph, data["y_hold"])}
            return out

        grad_fn = jax.grad(loss_fn)

        def frozen_after_stop(params, opt_state, data, idx, mask, key, epoch, tx):
            updates, new_state = tx.update(grad_fn(params, data, idx, mask, key), opt_state, params)
            new = optax.apply_updates(params, updates)
            go = epoch < data["stop"]
            keep = lambda a, b: jnp.where(go, a, b)  # noqa: E731
            return jax.tree_util.tree_map(keep, new, params), jax.tree_util.tree_map(keep, new_state, opt_state)

        return fit(model.init(k_init), loss_fn, metrics_fn, data, x.shape[0], train, k_fit, optimizer=tx,
                   step_fn=frozen_after_stop if holdout else None)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None, None, 0, 0, 0)))


def random_labels(seed: int, ds, run: int) -> np.ndarray:
    """Labels drawn i.i.d. Bernoulli(0.5) for run ``run`` (the same for every family)."""
    key = cell_key(seed, ds.name, "random-labels", run)
    return np.asarray(jax.random.bernoulli(key, 0.5, (len(ds.y_train),)), dtype=np.int32)


def training_sets(cfg: CapacityConfig, ds):
    """Every training of a cell: the labels (poisoned at each alpha, then random) and the poisoned masks,
    stacked over ``(alphas x runs) + runs``; with the (alpha, run) of each."""
    ys, masks, where = [], [], []
    for alpha in cfg.alphas:
        for run in range(cfg.runs):
            x_p, y_p, idx = poisoned_training_set(cfg.seed, ds, "label-flip", alpha, run)
            if not np.array_equal(x_p, ds.x_train):  # label flipping changes labels only
                raise AssertionError("label flipping changed the inputs")
            ys.append(y_p)
            masks.append(flip_mask(len(y_p), idx).astype(np.float32))
            where.append((alpha, run))
    for run in range(cfg.runs):
        y_r = random_labels(cfg.seed, ds, run)
        ys.append(y_r)
        masks.append((y_r != ds.y_train).astype(np.float32))
        where.append((np.nan, run))
    return np.stack(ys).astype(np.int32), np.stack(masks), where


def inputs(size: Size, ds):
    """The inputs of a family: the amplitudes, or (pca-mlp) their first k principal components fitted on the
    training inputs only."""
    if size.family != "pca-mlp":
        return ds.x_train, ds.x_val
    proj = cm.fit_pca(ds.x_train, size.k)
    return proj(ds.x_train).astype(np.float32), proj(ds.x_val).astype(np.float32)


def run_cell(cfg: CapacityConfig, ds, cell: Cell) -> pd.DataFrame:
    """Train every alpha and run (and the random labels) of one (family, size); its tidy table (results and
    history rows, told apart by ``epoch``: empty for a result)."""
    backend.set_precision(cfg.precision)  # the process in the model's precision before any input is made
    size = parse_size(cell.family, cell.size)
    fc = cfg.settings[size.family]
    model = cm.build(size, ds, cfg.precision, fc.bound or 5.0)
    x_tr, x_val = inputs(size, ds)
    y, poisoned, where = training_sets(cfg, ds)
    b, n = y.shape
    keys = jnp.stack([cell_key(cfg.seed, cfg.dataset, NAME, size.family, size.text,
                                "random" if np.isnan(a) else alpha_tag(a), r) for a, r in where])
    holdout = size.family == "mlp-early-stop"
    x = np.broadcast_to(x_tr, (b, *x_tr.shape))
    y_true = np.broadcast_to(ds.y_train, y.shape)
    if holdout:  # a part of each poisoned training set held out to stop on: never the clean validation data
        n_hold = max(1, int(round(fc.holdout * n)))
        perms = np.stack([np.asarray(jax.random.permutation(cell_key(cfg.seed, ds.name, "holdout",
                                                                      "random" if np.isnan(a) else alpha_tag(a), r), n))
                          for a, r in where])
        fit_i, hold_i = perms[:, n_hold:], perms[:, :n_hold]
        take = lambda arr, i: np.take_along_axis(arr, i.reshape(i.shape + (1,) * (arr.ndim - 2)), axis=1)  # noqa
        x_hold, y_hold = take(x, hold_i), take(y, hold_i)
        x, y, y_true, poisoned = take(x, fit_i), take(y, fit_i), take(y_true, fit_i), take(poisoned, fit_i)
    else:
        x_hold, y_hold = x[:, :1], y[:, :1]
    prog = program(model, fc.train, float(fc.weight_decay or 0.0), holdout)
    args = [jnp.asarray(a) for a in (x, y, y_true, poisoned)]
    rest = [jnp.asarray(ds.y_val)]
    full = jnp.full((b,), fc.train.epochs, jnp.int32)
    params, hist = prog(keys, *args, jnp.asarray(x_val), *rest, jnp.asarray(x_hold), jnp.asarray(y_hold), full)
    hist = jax.device_get(hist)
    epochs = eval_epochs(fc.train)
    final = {k: np.asarray(v)[:, -1] for k, v in hist.items()}
    extra = {}
    if holdout:  # the evaluation epoch of the lowest held-out loss; train again, frozen from there on
        loss = np.where(np.isfinite(hist["holdout_loss"]), hist["holdout_loss"], np.inf)
        stop = epochs[np.argmin(loss, axis=1)]
        params, again = prog(keys, *args, jnp.asarray(x_val), *rest, jnp.asarray(x_hold), jnp.asarray(y_hold),
                             jnp.asarray(stop, jnp.int32))
        final = {k: np.asarray(v)[:, -1] for k, v in jax.device_get(again).items()}
        extra["stop_epoch"] = stop.astype(float)
    hist[DIVERGED] = divergence(hist["train_loss"], hist["val_loss"])
    final[DIVERGED] = hist[DIVERGED][:, -1]

    n_alpha = len(cfg.alphas) * cfg.runs
    d = cm.n_live(size, ds)
    n_f = min(cfg.fisher_samples, n)
    ed_fn = cm.effective_dimension_program(model, d, float(cfg.gamma))
    sub = jax.tree_util.tree_map(lambda v: v[:n_alpha], params)
    ed, spread = jax.device_get(ed_fn(sub, jnp.asarray(x_tr[:n_f])))
    extra |= {"effective_dimension": np.concatenate([ed, np.full(b - n_alpha, np.nan)]),
              "output_spread": np.concatenate([spread, np.full(b - n_alpha, np.nan)]),
              "fisher_n": np.full(b, float(n_f)), "fisher_gamma": np.full(b, float(cfg.gamma))}

    n_par = cm.n_params(size, ds)
    rows = []
    for i, (a, r) in enumerate(where):
        if np.isnan(a):  # the random labels: their fit (and whether the run diverged)
            rows += [(a, r, "random_label_fit", float(final["train_acc"][i])),
                     (a, r, DIVERGED, float(final[DIVERGED][i]))]
            continue
        metrics = ("train_acc", "poison_fit", "val_acc", "train_clean_acc", "train_loss", "val_loss", DIVERGED)
        rows += [(a, r, m, float(final[m][i])) for m in metrics]
        rows += [(a, r, m, float(v[i])) for m, v in extra.items()]
    constant = bool(np.all(np.asarray(spread) < CONSTANT))
    rows.append((np.nan, np.nan, "degenerate", float(constant)))
    if size.family in cm.QNN_FAMILIES:
        rows.append((np.nan, np.nan, "n_live_params", float(d)))
    if size.family == "pca-mlp":
        rows.append((np.nan, np.nan, "projection_size", float(cm.projection_size(size, ds))))
    res = pd.DataFrame(rows, columns=["alpha", "run", "metric", "value"]).astype({"run": "Int64"})
    res.insert(0, "n_params", n_par)
    res.insert(0, "size", size.text)
    res.insert(0, "family", size.family)
    res.insert(0, "dataset", cfg.dataset)
    res.insert(len(res.columns) - 2, "epoch", np.nan)

    frames = []
    for metric, values in hist.items():
        values = np.asarray(values, float)
        frames.append(pd.DataFrame({"alpha": np.repeat([a for a, _ in where], len(epochs)),
                                    "run": np.repeat([r for _, r in where], len(epochs)),
                                    "epoch": np.tile(epochs, b), "metric": metric, "value": values.reshape(-1)}))
    h = pd.concat(frames, ignore_index=True).astype({"run": "Int64"})
    h.insert(0, "n_params", n_par)
    h.insert(0, "size", size.text)
    h.insert(0, "family", size.family)
    h.insert(0, "dataset", cfg.dataset)
    return pd.concat([res, h[res.columns]], ignore_index=True)


# ------------------------------------------------------------------ the result


def degenerate(results: pd.DataFrame) -> pd.DataFrame:
    """The cells found to be constant predictors, with the reason."""
    flag = results[(results["metric"] == "degenerate") & (results["value"] > 0)]
    out = flag[["family", "size", "n_params"]].copy()
    out["reason"] = [reason(f, s) for f, s in zip(out["family"], out["size"])]
    return out.reset_index(drop=True)


def reason(family: str, size: str) -> str:
    base = (f"constant predictor: its logit varies by less than {CONSTANT:g} over the training inputs at every "
            "alpha and run")
    if family == "qnn" and size == "1":
        return base + (" (depth 1 of the paper ansatz: only the readout qubit's rotation acts on its single-site "
                       "reduced state, which is I/2 for these symmetric ground states)")
    return base


def usable(results: pd.DataFrame) -> pd.DataFrame:
    """Result rows of non-degenerate cells and non-diverged runs: what figures, fits and claims use."""
    bad = degenerate(results)[["family", "size"]].assign(_bad=True)
    res = results.merge(bad, on=["family", "size"], how="left")
    res = res[res["_bad"].isna()].drop(columns="_bad")
    return drop_diverged(res)


def by_size(results: pd.DataFrame, metric: str, alpha: float | None) -> pd.DataFrame:
    """Mean, std and count over runs of ``metric`` per (family, size) at ``alpha`` (None: alpha empty)."""
    sub = results[results["metric"] == metric]
    sub = sub[sub["alpha"].isna()] if alpha is None else sub[np.isclose(sub["alpha"].astype(float), alpha)]
    g = sub.groupby(["family", "size", "n_params"], sort=False)["value"]
    return g.agg(["mean", "std", "count"]).reset_index()


def critical_table(results: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (family, size): the smallest alpha at which the mean clean validation accuracy falls below
    ``threshold`` ("none up to A" when it never does up to the largest alpha A)."""
    res = usable(results)
    va = res[(res["metric"] == "val_acc") & res["alpha"].notna()]
    g = va.groupby(["family", "size", "n_params", "alpha"], sort=False)["value"].mean().reset_index()
    rows = []
    for (f, s, p), sub in g.groupby(["family", "size", "n_params"], sort=False):
        sub = sub.sort_values("alpha")
        below = sub[sub["value"] < threshold]
        crit = f"{below['alpha'].iloc[0]:.2f}" if len(below) else f"none up to {sub['alpha'].max():.2f}"
        rows.append({"family": f, "size": s, "n_params": int(p),
                     f"critical alpha (val acc < {threshold:g})": crit})
    return pd.DataFrame(rows)


def figure_alpha(results: pd.DataFrame) -> float | None:
    """The noise ratio of the capacity figures: 0.3 where it was run, else the largest alpha run."""
    alphas = sorted(a for a in results["alpha"].dropna().unique() if a > 0)
    if not alphas:
        return None
    return 0.3 if any(np.isclose(alphas, 0.3)) else float(alphas[-1])


class CapacityResult(Result):
    """The capacity study's tables: ``results`` and ``history``."""

    def __init__(self, cfg: CapacityConfig, run_dir, table: pd.DataFrame):
        super().__init__(cfg, run_dir)
        table = table.astype({"run": "Int64", "size": str})  # as computed, also when read back from a cell's CSV
        self.results = table[table["epoch"].isna()].drop(columns="epoch").reset_index(drop=True)
        self.history = table[table["epoch"].notna()].drop(columns="n_params").reset_index(drop=True)
        self.history["epoch"] = self.history["epoch"].astype(int)

    def build_figures(self, title: str | None = None, **options) -> dict:
        from . import capacity_plots

        res = usable(self.results)
        alpha = figure_alpha(res)
        if res.empty or alpha is None:
            return {}
        head = title or f"{self.cfg.dataset.upper()}: memorisation against capacity"
        ds_points = paper_points(self.cfg)
        return {"capacity": capacity_plots.make_capacity_figure(res, alpha, "n_params", head, ds_points),
                "capacity_effdim": capacity_plots.make_capacity_figure(res, alpha, "effective_dimension", head,
                                                                       None)}

    def summary(self) -> list:
        cols = [("train_acc", "train acc (poisoned)"), ("poison_fit", "poison fit"), ("val_acc", "val acc (clean)"),
                ("effective_dimension", "effective dim")]
        table = wide_summary(self.results[self.results["alpha"].notna()], ["family", "size", "n_params", "alpha"],
                             cols)
        table["alpha"] = table["alpha"].map(lambda a: f"{a:.2f}")
        out = [("final metrics, mean ± std over the runs counted (diverged runs excluded)", table),
               (f"critical noise ratio: smallest alpha with mean clean val acc < {self.cfg.threshold:g}",
                critical_table(self.results, self.cfg.threshold))]
        deg = degenerate(self.results)
        if len(deg):
            out.append(("degenerate configurations (reported, left out of figures, fits and claims)", deg))
        return out

    def notes(self) -> list[str]:
        return [f"results:  {self.path / 'results.csv'}  (learning curves: history.csv)"]


def paper_points(cfg: CapacityConfig) -> list[tuple[str, float]]:
    """The paper's operating points on this dataset's axes: the QNN of depth 6 and the MLP (64, 16)."""
    ds = _dataset_shape(cfg)
    if ds is None:
        return []
    out = []
    for family, text in PAPER_POINTS:
        label = "paper QNN (depth 6)" if family == "qnn" else "paper MLP (64, 16)"
        out.append((label, float(cm.n_params(parse_size(family, text), ds))))
    return out


class _Shape:
    def __init__(self, n_features: int, is_complex: bool):
        self.n_features, self.is_complex = n_features, is_complex
        self.n_qubits = int(np.log2(n_features))


def _dataset_shape(cfg) -> _Shape | None:
    try:
        ds = data_mod.load(cfg.dataset, **cfg.data_options)
    except Exception:  # noqa: BLE001 - a figure read back without its data: no marks
        return None
    return _Shape(ds.n_features, ds.is_complex)


def run(cfg: CapacityConfig, workdir, *, fresh: bool = False, executor=None,
        on_cell: Callable | None = None) -> CapacityResult:
    """Run every unfinished (family, size) cell into ``workdir``; return the study's tables."""
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    check_data(cfg, ds)
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    run_dir.start()
    todo = cells(cfg)
    tables = run_cells(run_dir, executor, todo, run_cell, (cfg, ds), on_cell)
    table = pd.concat([tables[c.id] for c in todo], ignore_index=True)
    result = CapacityResult(cfg, run_dir, table)
    run_dir.write_table("history.csv", result.history)
    run_dir.write_table("results.csv", result.results)
    return result


def check_data(cfg: CapacityConfig, ds) -> None:
    """Refuse, before anything is written, sizes the data cannot take (a k beyond the principal components)
    and QNN cells whose vmapped training would not fit in memory."""
    from ..errors import InputError
    from ..memory import check_qnn_fits

    n, feats = len(ds.y_train), cm.real_features(ds)
    trainings = (len(cfg.alphas) + 1) * cfg.runs
    for s in cfg.sizes():
        if s.family in cm.QNN_FAMILIES:
            check_qnn_fits(ds.n_qubits, cfg.settings[s.family].train.batch(n), trainings, s.depth,
                           16 if cfg.precision == "complex128" else 8, what=f"capacity cell {s.family} {s.text}")
        if s.family == "pca-mlp" and s.k > min(n, feats):
            raise InputError(f"settings.pca-mlp.sizes: {s.text!r} asks for {s.k} principal components; "
                             f"{n} training inputs of {feats} features have {min(n, feats)}",
                             path="settings.pca-mlp.sizes")


def read_result(directory, record: dict) -> CapacityResult | None:
    """The result of a finished capacity study, read from its directory (None while it is unfinished)."""
    from .common import StoredRun, read_tables, stored_config

    tables = read_tables(directory, "results.csv", "history.csv")
    cfg = stored_config(CapacityConfig, record.get("config", {}))
    if tables is None or cfg is None:
        return None
    res, hist = tables
    hist = hist.assign(n_params=np.nan)
    res = res.assign(epoch=np.nan)
    table = pd.concat([res, hist[res.columns]], ignore_index=True)
    return CapacityResult(cfg, StoredRun(directory), table)
