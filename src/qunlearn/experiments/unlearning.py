"""Unlearning the poison (the paper's Figure 3); the weight sweeps are in :mod:`.sweeps`.

Protocol (PROTOCOL.md, "Unlearning"): poison the training set at ``alpha``
(label flipping by default), train the model to unlearn on it, then, from that
model, run every unlearning method for every run. The forget set is the
poisoned samples, the retain set the rest. The poisoning of run ``r`` is the
same as in the noise-ratio sweep with the same seed.

Tables (tidy, columns ``dataset, model, attack, alpha, method, run, step,
metric, value``):

* ``history.csv``: after every unlearning epoch (step 0 = before unlearning)
  ``train_acc, val_acc, retain_acc, forget_acc`` (forget set, true labels),
  ``forget_poison_acc`` (forget set, poisoned labels: the memory of the poison),
  ``val_loss, retain_loss, forget_loss``, and ``diverged`` (1 once a loss was
  non-finite: such a run is reported and excluded from every mean); a noisy QNN also
  ``val_z_se`` (the standard error of its measured ``<Z>`` on the validation states);
* ``results.csv``: the final step of the above plus ``mia_auc`` (membership
  inference on per-sample losses, forget vs held-out points whose labels are
  poisoned as the forget set's are), ``mia_auc_oracle`` (the retrain oracle's
  ``mia_auc`` on the same run: the attack's target, not 0.5) and ``mia_gap``
  (``mia_auc - mia_auc_oracle``, 0 for the oracle itself), ``oracle_agreement_val``,
  ``oracle_agreement_forget``, ``oracle_kl_val``, ``oracle_kl_forget`` (against
  the retrain oracle of the same run), ``time_s``, ``compile_s`` and
  ``speedup`` (retrain time / method time); ``mia_auc`` also at step 0. With
  ``shots`` (the study under noise), for QNNs and every N in it, also
  ``mia_auc_shotsN``, ``forget_poison_acc_shotsN`` and ``val_acc_shotsN``: the
  same metrics from outputs estimated with N measurements, as a device gives
  them (steps 0 and last), with ``mia_auc_oracle_shotsN`` and ``mia_gap_shotsN``.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import data as data_mod, metrics
from ..config import UnlearnConfig
from ..errors import InputError
from ..losses import accuracy, bce
from ..models.base import for_training, predict
from ..runs import CellError, RunDir, identity
from ..train import eval_epochs, fit, supervised_program
from ..unlearn import METHODS, UnlearnData, resolve_weights
from .common import DIVERGED, Result, drop_diverged, cell_key, check_memory, divergence, history_table, open_run, \
    poisoned_training_set, run_cells, wide_summary

NAME = "unlearn"
SCALARS = ("train_acc", "val_acc", "retain_acc", "forget_acc", "forget_poison_acc", "val_loss", "retain_loss",
           "forget_loss")
CURVES = SCALARS + (DIVERGED,)  # the metrics of history.csv
TEACHER_STREAM = 0x74656163  # folded into a run's key for the teacher's noise (no other draw changes)


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class Split:
    """Per-run retain and forget sets, stacked over runs (equal sizes: poisoning is class-balanced)."""

    x_retain: np.ndarray
    y_retain: np.ndarray
    x_forget: np.ndarray
    y_forget: np.ndarray  # the poisoned labels the model was trained on
    y_forget_true: np.ndarray
    x_train: np.ndarray  # the whole poisoned training set
    y_train: np.ndarray
    poisoned: np.ndarray  # 1.0 for the forget set's rows of x_train

    def per_run(self) -> UnlearnData:
        """The per-run arrays as the unlearning methods see them (validation data added later)."""
        return UnlearnData(*(jnp.asarray(getattr(self, k)) for k in ("x_retain", "y_retain", "x_forget", "y_forget",
                                                                      "y_forget_true")))


def unlearning_data(cfg: UnlearnConfig, ds) -> Split:
    """The retain / forget split of every run, poisoned as the alpha sweep poisons run ``r``."""
    parts = {k: [] for k in Split.__dataclass_fields__}
    for run in range(cfg.runs):
        x_p, y_p, idx = poisoned_training_set(cfg.seed, ds, cfg.attack, cfg.alpha, run)
        forget = np.zeros(len(y_p), bool)
        forget[idx] = True
        for k, v in (("x_retain", x_p[~forget]), ("y_retain", y_p[~forget]), ("x_forget", x_p[forget]),
                     ("y_forget", y_p[forget]), ("y_forget_true", ds.y_train[forget]), ("x_train", x_p),
                     ("y_train", y_p), ("poisoned", forget.astype(np.float32))):
            parts[k].append(v)
    if parts["y_forget"][0].size == 0:
        raise InputError(
            f"alpha={cfg.alpha} poisons no sample of the {len(ds.y_train)} training samples, so there is nothing "
            "to unlearn; use a larger --alpha (e.g. 0.3)"
        )
    return Split(**{k: np.stack(v) for k, v in parts.items()})


# ------------------------------------------------------------------ programs


def _split(v, xs):
    return jnp.split(v, np.cumsum([x.shape[0] for x in xs])[:-1])


def _predict_parts(model, params, *xs, key=None):
    """``model.apply`` on several inputs in one call (one compiled circuit, one big batch)."""
    return _split(model.apply(params, jnp.concatenate(xs), key), xs)


def _metrics_fn(model):
    def metrics_fn(params, d: UnlearnData, key):
        xs = (d.x_retain, d.x_forget, d.x_val)
        p, se = predict(model, params, jnp.concatenate(xs), key)  # one compiled circuit, one big batch
        pr, pf, pv = _split(p, xs)
        extra = {} if se is None else {"val_z_se": jnp.mean(_split(se, xs)[2])}  # a noisy QNN's precision
        n_r, n_f = pr.shape[0], pf.shape[0]
        retain_acc, poison_acc = accuracy(pr, d.y_retain), accuracy(pf, d.y_forget)
        return extra | {
            "train_acc": (retain_acc * n_r + poison_acc * n_f) / (n_r + n_f),
            "val_acc": accuracy(pv, d.y_val),
            "retain_acc": retain_acc,
            "forget_acc": accuracy(pf, d.y_forget_true),
            "forget_poison_acc": poison_acc,
            "val_loss": bce(pv, d.y_val),
            "retain_loss": bce(pr, d.y_retain),
            "forget_loss": bce(pf, d.y_forget),
            "p_val": pv,
            "p_forget": pf,
        }

    return metrics_fn


def _unlearn_one(model, method: str, static_w: tuple, swept: tuple, ucfg):
    """One run of one method: ``(key, trained, run_data, x_val, y_val, swept_values) -> (params, history)``."""

    def one(key, trained, run_data: UnlearnData, x_val, y_val, swept_values):
        w = dict(static_w)
        w.update(zip(swept, swept_values))
        k_init, k_fit, k_rand = jax.random.split(key, 3)
        teacher_retain, teacher_forget = _predict_parts(model, trained, run_data.x_retain, run_data.x_forget,
                                                        key=jax.random.fold_in(key, TEACHER_STREAM))
        d = replace(run_data, x_val=x_val, y_val=y_val, teacher_retain=teacher_retain, teacher_forget=teacher_forget)
        plan = METHODS[method](for_training(model), trained, w)  # steps may run fewer noise trajectories
        n = d.x_retain.shape[0]
        if plan.union:
            rand = jax.random.bernoulli(k_rand, 0.5, d.y_forget.shape).astype(d.y_retain.dtype)
            d = replace(d, x_union=jnp.concatenate([d.x_retain, d.x_forget]),
                        y_union_random=jnp.concatenate([d.y_retain, rand]))
            n = d.x_union.shape[0]
        cfg = ucfg.replace(batch_size=None) if plan.full_batch else ucfg
        params0 = model.init(k_init) if plan.fresh else trained
        loss = plan.loss if plan.loss is not None else (lambda p, d, idx, m, k: 0.0)
        return fit(params0, loss, _metrics_fn(model), d, n, cfg, k_fit, step_fn=plan.step_fn)

    return one


@lru_cache(maxsize=None)
def unlearn_program(model, method: str, static_w: tuple, ucfg):
    """Compiled program running ``method`` for every run (vmapped)."""
    one = _unlearn_one(model, method, static_w, (), ucfg)
    run = lambda keys, trained, run_data, x_val, y_val: jax.vmap(one, in_axes=(0, 0, 0, None, None, None))(  # noqa: E731
        keys, trained, run_data, x_val, y_val, ())
    return jax.jit(run)


# ------------------------------------------------------------------ the experiment


def training_record(cfg: dict) -> dict:
    """The part of an unlearning config that fixes the models to unlearn (their cells' identity)."""
    keep = ("dataset", "data_options", "attack", "alpha", "runs", "seed", "precision")
    return {**{k: cfg.get(k) for k in keep},
            "models": {n: {k: v for k, v in m.items() if k != "unlearn"} for n, m in cfg.get("models", {}).items()}}


def _flatten(tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves(tree)
    return {f"leaf{i}": np.asarray(v) for i, v in enumerate(leaves)}


def _unflatten(like, stored) -> object:
    treedef = jax.tree_util.tree_structure(like)
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(stored[f"leaf{i}"]) for i in range(treedef.num_leaves)])


def _train_cell(cfg: UnlearnConfig, ds, data: Split, name: str):
    """Train the models to unlearn of every run (one vmapped program); return their parameters."""
    mc = cfg.models[name]
    model = mc.spec.build(ds, cfg.precision)
    keys = jnp.stack([cell_key(cfg.seed, cfg.dataset, "train-to-unlearn", name, r) for r in range(cfg.runs)])
    y_true = np.broadcast_to(ds.y_train, data.y_train.shape)
    params, _ = supervised_program(model, mc.train)(
        keys, jnp.asarray(data.x_train), jnp.asarray(data.y_train), jnp.asarray(y_true),
        jnp.asarray(data.poisoned), jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
    return jax.device_get(params)


def trained_path(run_path, name: str):
    """Where the run directory ``run_path`` keeps the models to unlearn of model ``name`` (every run's)."""
    return Path(run_path) / "cells" / f"{RunDir.cell_id(name, 'trained')}.npz"


def trained_models(cfg: UnlearnConfig, ds, data: Split, run_dir: RunDir, executor=None,
                   on_cell: Callable | None = None) -> dict:
    """The models to unlearn of every model name (one per run), trained once and cached in the run directory."""
    path = lambda name: trained_path(run_dir.path, name)  # noqa: E731

    record = training_record(cfg.to_dict())
    # a trained model's identity: the settings that fix it (so the weight sweeps can borrow it), not the unlearning's
    ident = lambda name: identity({**record, "models": {name: record["models"][name]}})  # noqa: E731

    def load(name):
        model = cfg.models[name].spec.build(ds, cfg.precision)
        like = jax.vmap(model.init)(jax.random.split(jax.random.key(0), cfg.runs))
        return _unflatten(like, run_dir.read_arrays(path(name), ident(name)))

    params = run_cells(run_dir, executor, list(cfg.models), _train_cell, (cfg, ds, data),
                       on_cell=None if on_cell is None else (lambda n, st, sec: on_cell((n, "train model to unlearn"),
                                                                                       st, sec)),
                       cell_id=lambda name: name, done=lambda name: path(name).exists(), load=load,
                       save=lambda name, p: run_dir.write_arrays(path(name), _flatten(p), ident(name)))
    return {name: jax.tree_util.tree_map(jnp.asarray, params[name]) for name in cfg.models}


def run_method(cfg: UnlearnConfig, ds, name: str, model, trained, data, method: str):
    """Run one method for all runs; return (history table, vectors, seconds, compile seconds)."""
    mc = cfg.models[name]
    w = tuple(sorted(resolve_weights(method, cfg.weights.get(method)).items()))
    keys = jnp.stack([cell_key(cfg.seed, cfg.dataset, "unlearn", name, method, r) for r in range(cfg.runs)])
    args = (keys, trained, data.per_run(), jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
    t0 = time.perf_counter()
    compiled = unlearn_program(model, method, w, mc.unlearn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, hist = compiled(*args)
    hist = jax.device_get(jax.block_until_ready(hist))
    seconds = time.perf_counter() - t0
    vectors = {"p_val": np.asarray(hist.pop("p_val")), "p_forget": np.asarray(hist.pop("p_forget"))}
    hist[DIVERGED] = divergence(hist["val_loss"], hist["retain_loss"], hist["forget_loss"])
    table = history_table(
        hist, eval_epochs(mc.unlearn), range(cfg.runs),
        dataset=cfg.dataset, model=name, attack=cfg.attack, alpha=cfg.alpha, method=method,
    ).rename(columns={"epoch": "step"})
    return table, vectors, seconds, compile_s


def shot_outputs(p: np.ndarray, readout_scale: float, shots: int, rng: np.random.Generator) -> np.ndarray:
    """What a device reports instead of the QNN output ``p = sigmoid(s <Z>)``: the same function of ``<Z>``
    estimated from ``shots`` measurements (:func:`qunlearn.noise.shot_expectation`)."""
    from ..noise import shot_expectation

    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    z = (np.log(p) - np.log1p(-p)) / readout_scale
    return 1.0 / (1.0 + np.exp(-readout_scale * shot_expectation(z, shots, rng)))


def shot_rows(cfg: UnlearnConfig, ds, name: str, data, method: str, r: int, pf, pv, step: int) -> list[tuple]:
    """Membership inference and poison memory of run ``r`` from finite-shot outputs, for every ``cfg.shots``
    (QNNs only: an MLP's output is not a measurement)."""
    model = cfg.models[name].spec.build(ds, cfg.precision)
    scale = getattr(model, "readout_scale", None)
    if scale is None:
        return []
    rows = []
    for n in cfg.shots:
        rng = np.random.default_rng([cfg.seed, r, n, zlib.crc32(f"{name}/{method}".encode())])
        qf, qv = shot_outputs(pf, scale, n, rng), shot_outputs(pv, scale, n, rng)
        members = metrics.per_sample_bce(qf, data.y_forget[r])
        heldout = metrics.per_sample_bce(qv, nonmember_labels(cfg, ds))
        rows += [(method, r, step, f"mia_auc_shots{n}", metrics.mia_auc(members, heldout, seed=r)),
                 (method, r, step, f"forget_poison_acc_shots{n}", metrics.accuracy(qf, data.y_forget[r])),
                 (method, r, step, f"val_acc_shots{n}", metrics.accuracy(qv, ds.y_val))]
    return rows


def nonmember_labels(cfg: UnlearnConfig, ds) -> np.ndarray:
    """The labels of the membership attack's non-members, the held-out points, poisoned as the forget set is.

    Every forget point of a label-flip poisoning carries a flipped label, so a loss-based attack against clean
    held-out points would separate wrong labels from right ones whether or not the model remembers the samples
    (the retrain oracle, which never saw the forget set, would score far above 0.5). Against held-out points
    whose labels are flipped too, a model that knows nothing of membership scores 0.5. Feature randomisation
    keeps the labels (its forget points are random inputs), so the held-out points keep theirs.
    """
    y = np.asarray(ds.y_val)
    return (1 - y).astype(y.dtype) if cfg.attack == "label-flip" else y


def oracle_gap_rows(table: pd.DataFrame, last_step: int) -> pd.DataFrame:
    """``mia_auc_oracle`` (the retrain oracle's last-step score on the same run) and ``mia_gap`` (the score minus
    the oracle's) for every membership metric (``mia_auc``, ``mia_auc_shotsN``) of every method: the attack's
    target is the oracle's score, not 0.5. Empty without the oracle's rows."""
    last = table[(table["step"] == last_step) & table["metric"].str.match(r"mia_auc(_shots\d+)?$")]
    oracle = last[last["method"] == "retrain"].set_index(["run", "metric"])["value"]
    if oracle.empty:
        return table.iloc[:0]
    ref = oracle.reindex(pd.MultiIndex.from_arrays([last["run"], last["metric"]])).to_numpy()
    suffix = last["metric"].str.slice(len("mia_auc"))
    both = [last.assign(metric="mia_auc_oracle" + suffix, value=ref),
            last.assign(metric="mia_gap" + suffix, value=last["value"].to_numpy() - ref)]
    return pd.concat(both, ignore_index=True)


def posthoc_table(cfg: UnlearnConfig, ds, name: str, data, vectors: dict, timing: dict, last_step: int) -> pd.DataFrame:
    """MIA AUC (against held-out points poisoned as the forget set is; :func:`nonmember_labels`) with the retrain
    oracle's score and the gap to it (:func:`oracle_gap_rows`), oracle agreement / KL against retrain, and time,
    per method and run; with ``cfg.shots``, MIA AUC, poison memory and validation accuracy from finite-shot
    outputs too."""
    rows = []
    oracle = vectors.get("retrain")
    y_nonmember = nonmember_labels(cfg, ds)
    for method, vec in vectors.items():
        for r in range(cfg.runs):
            pf, pv = vec["p_forget"][r], vec["p_val"][r]  # (evals, n)
            for step_i, step in ((0, 0), (-1, last_step)):
                members = metrics.per_sample_bce(pf[step_i], data.y_forget[r])
                heldout = metrics.per_sample_bce(pv[step_i], y_nonmember)
                rows.append((method, r, step, "mia_auc", metrics.mia_auc(members, heldout, seed=r)))
                rows += shot_rows(cfg, ds, name, data, method, r, pf[step_i], pv[step_i], step)
            if oracle is not None:
                of, ov = oracle["p_forget"][r][-1], oracle["p_val"][r][-1]
                rows += [
                    (method, r, last_step, "oracle_agreement_val", metrics.oracle_agreement(pv[-1], ov)),
                    (method, r, last_step, "oracle_agreement_forget", metrics.oracle_agreement(pf[-1], of)),
                    (method, r, last_step, "oracle_kl_val", metrics.oracle_kl(pv[-1], ov)),
                    (method, r, last_step, "oracle_kl_forget", metrics.oracle_kl(pf[-1], of)),
                ]
            seconds, compile_s = timing[method]
            rows += [(method, r, last_step, "time_s", seconds), (method, r, last_step, "compile_s", compile_s)]
            if "retrain" in timing:
                rows.append((method, r, last_step, "speedup", timing["retrain"][0] / max(seconds, 1e-9)))
    table = pd.DataFrame(rows, columns=["method", "run", "step", "metric", "value"])
    table = pd.concat([table, oracle_gap_rows(table, last_step)], ignore_index=True)
    for i, (k, v) in enumerate(dict(dataset=cfg.dataset, model=name, attack=cfg.attack, alpha=cfg.alpha).items()):
        table.insert(i, k, v)
    return table


def cells(cfg: UnlearnConfig) -> list[tuple[str, str]]:
    """(model, method) cells; retrain first, since it is the oracle of the others."""
    methods = ("retrain",) + tuple(m for m in cfg.methods if m != "retrain")
    return [(name, m) for name in cfg.models for m in methods]


def _method_cell(cfg: UnlearnConfig, ds, data: Split, trained: dict, cell: tuple[str, str]):
    name, method = cell
    model = cfg.models[name].spec.build(ds, cfg.precision)
    return run_method(cfg, ds, name, model, trained[name], data, method)


TIMING = ("time_s", "compile_s", "speedup")


class UnlearnResult(Result):
    """Unlearning tables: ``history`` (every epoch) and ``results`` (final step, post-hoc metrics, timing)."""

    COLUMNS = (("val_acc", "val acc"), ("retain_acc", "retain acc"), ("forget_acc", "forget acc (true)"),
               ("forget_poison_acc", "poison memory"), ("mia_auc", "MIA AUC"), ("mia_gap", "MIA gap vs oracle"),
               ("oracle_agreement_val", "oracle agree (val)"), ("oracle_kl_val", "oracle KL (val)"),
               ("time_s", "time s"), ("speedup", "speedup vs retrain"))

    def __init__(self, cfg, run_dir, history, results):
        super().__init__(cfg, run_dir)
        self.history, self.results = history, results

    def build_figures(self, title: str | None = None) -> dict:
        """``{"figure3": figure}`` built in memory (empty if every run diverged); nothing written."""
        from .. import plots

        cfg = self.cfg
        title = title or f"{cfg.dataset.upper()} unlearning, {cfg.attack} alpha={cfg.alpha}"
        history = drop_diverged(self.history)
        return {"figure3": plots.make_figure3(history, title=title)} if len(history) else {}

    def figures(self, title: str | None = None) -> list:
        from .. import plots

        return plots.save_figures(self.build_figures(title), self.path)

    def summary(self) -> list:
        res = self.results
        last = res[res["step"] == res.groupby("model")["step"].transform("max")]
        table = wide_summary(last, ["model", "method"], list(self.COLUMNS))
        return [("final step, mean ± std over the runs counted (diverged runs excluded)", table)]

    def notes(self) -> list[str]:
        return [f"results:  {self.path / 'results.csv'}  (per-epoch curves: history.csv; wall clock: timing.csv)"]


def run(cfg: UnlearnConfig, workdir, *, fresh: bool = False, executor=None,
        on_cell: Callable | None = None) -> UnlearnResult:
    """Run every unfinished cell into ``workdir``; return the unlearning tables.

    The retrain oracle always runs (it defines oracle agreement and speedup),
    and is reported as a method only if it was asked for. ``results.csv`` holds
    the deterministic metrics and ``timing.csv`` the wall-clock ones
    (``time_s``, ``compile_s``, ``speedup``); the result's ``results`` has both.
    """
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    check_memory(cfg.models, ds, cfg.runs, cfg.precision)
    data = unlearning_data(cfg, ds)  # refuses an empty forget set before the directory is touched
    run_dir.start(ds)
    trained = trained_models(cfg, ds, data, run_dir, executor, on_cell)
    npz = lambda cid: run_dir.cells_dir / f"{cid}.npz"  # noqa: E731

    def load(cid):
        z = run_dir.read_arrays(npz(cid))
        try:
            vec = {"p_val": z["p_val"], "p_forget": z["p_forget"]}
            seconds, compile_s = float(z["seconds"]), float(z["compile_s"])
        except KeyError as e:
            raise CellError(npz(cid), f"lacks its array {e}") from None
        return run_dir.read_cell(cid), vec, seconds, compile_s

    def save(cid, result):
        table, vec, seconds, compile_s = result
        run_dir.write_arrays(npz(cid), {**vec, "seconds": seconds, "compile_s": compile_s})
        run_dir.write_cell(cid, table)

    out = run_cells(run_dir, executor, cells(cfg), _method_cell, (cfg, ds, data, trained), on_cell,
                    cell_id=lambda c: RunDir.cell_id(*c), done=lambda cid: run_dir.has_cell(cid) and npz(cid).exists(),
                    load=load, save=save)
    tables, vectors, timing = {}, {}, {}
    for cell in cells(cfg):
        table, vec, seconds, compile_s = out[RunDir.cell_id(*cell)]
        tables[cell], vectors[cell], timing[cell] = table, vec, (seconds, compile_s)
    histories, results = [], []
    for name in cfg.models:
        last_step = cfg.models[name].unlearn.epochs
        keep = list(cfg.methods)
        hist = pd.concat([tables[(name, m)] for m in keep], ignore_index=True)
        histories.append(hist)
        vec = {m: vectors[(name, m)] for m in keep} | {"retrain": vectors[(name, "retrain")]}
        times = {m: timing[(name, m)] for m in set(keep) | {"retrain"}}
        post = posthoc_table(cfg, ds, name, data, vec, times, last_step)
        post = post[post["method"].isin(keep)]
        results.append(pd.concat([hist[hist["step"] == last_step], post], ignore_index=True))
    history = pd.concat(histories, ignore_index=True)
    result = pd.concat(results, ignore_index=True)
    run_dir.write_table("history.csv", history)
    is_time = result["metric"].isin(TIMING)
    run_dir.write_table("results.csv", result[~is_time])
    run_dir.write_table("timing.csv", result[is_time])
    return UnlearnResult(cfg, run_dir, history, result)


def read_result(directory, record: dict) -> UnlearnResult | None:
    """The result of a finished unlearning run, read from its directory (None while it is unfinished)."""
    from .common import StoredRun, read_tables, stored_config

    tables = read_tables(directory, "history.csv", "results.csv")
    cfg = stored_config(UnlearnConfig, record.get("config", {}))
    if tables is None or cfg is None:
        return None
    timing = read_tables(directory, "timing.csv")
    results = tables[1] if timing is None else pd.concat([tables[1], timing[0]], ignore_index=True)
    return UnlearnResult(cfg, StoredRun(directory), tables[0], results)
