r"""Forgetting audited example by example against many retrained models (part ``audit``, beyond the paper).

For one dataset, one poisoning (label flipping at the unlearning ``alpha``, the poisoned set of run 0 of the
unlearning experiment) and each model, with model indices ``i = 0 .. n_models - 1``:

* ``original`` i: trained on the poisoned training set with the model's *training* schedule, from its own seed;
* ``oracle`` i: trained on the retain set only, with the training schedule, from an independent seed (the
  ``retrain`` method's program: a fresh initialisation, cross-entropy on the retain set);
* ``shadow`` i: trained on a random half of the poisoned training set (drawn per index), for online LiRA;
* every unlearning method applied to original i (:mod:`qunlearn.unlearn`, the unlearning experiment's
  program), with the unlearning schedule; ``retrain`` with the *training* schedule, from its own seed, so that
  it is one more sample of the oracles' distribution; and ``none``, the original itself, the control.

Every model's key is derived from the seed, the model name, its role and its index alone
(:func:`qunlearn.experiments.common.cell_key`), so the outputs do not depend on how the indices are cut into
cells (``chunk`` indices per cell). A cell trains its indices' models as vmapped programs and stores every
model's output on every training and validation example (``cells/<model>__chunkK.npz``); the analysis
(:mod:`.audit_stats`) runs once all cells are there.

Tables (tidy):

* ``results.csv``: ``dataset, model, method, split, metric, value``, ``split`` one of ``forget``, ``retain``,
  ``val`` or empty. Metrics: ``klom_median``, ``klom_p95``, ``klom_floor_median``, ``klom_floor_p95`` (every
  split), ``ulira_auc``, ``ulira_tpr_1pct``, ``ulira_tpr_01pct``, ``ulira_effect_median`` (forget set),
  ``mia_auc`` (no split: the population attack of the unlearning experiment, forget set against held-out
  points with flipped labels, mean over the first ``mia_models`` model indices),
  ``lira_auc_before`` and ``oracle_margin_sd`` (method empty: before unlearning / the oracles), and for every
  metric its bootstrap interval as ``<metric>_lo`` and ``<metric>_hi``; ``n_models`` and ``diverged`` per method
  (models counted, and left out because an output was not finite). A TPR the test half cannot resolve is empty;
  ``notes.csv`` gives the reason.
* ``examples.csv``: per example (``example`` is its index in the training or validation set),
  ``dataset, model, method, split, example, metric, value`` with ``klom``, ``klom_floor``, ``ulira_auc``,
  ``ulira_effect``, ``lira_auc_before`` and ``oracle_margin_sd``.
* ``roc.csv``: the U-LiRA ROC curve of every method (``fpr``, ``tpr``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import data as data_mod, metrics
from ..parts.audit import AuditConfig
from ..runs import CellError, RunDir
from ..unlearn import UnlearnData, resolve_weights
from . import audit_stats as st
from .common import Result, StoredRun, cell_key, open_run, poisoned_training_set, read_tables, run_cells, \
    stored_config

NAME = "audit"
ROLES = ("original", "oracle", "shadow")
SPLITS = ("forget", "retain", "val")
PROTOCOL_NOTE = (
    "N original models trained on one poisoned training set from N seeds, N oracles retrained on the retain set "
    "with the training schedule from independent seeds, N shadow models on random halves of the training set, and "
    "every unlearning method applied to every original (retrain with the training schedule; none: the original "
    "itself). Per example, margins (the clipped logit of the label the example carried in training). KLOM: "
    "KL(unlearned || oracle) between histograms of an example's margins (equal-width bins over the pooled range, "
    "additive smoothing), unlearned models of one half of the indices against oracles of the other, both ways; the "
    "floor is the oracles of one half against those of the other, what one distribution scores at this N. U-LiRA: "
    "per-example Gaussian fits to unlearned and oracle margins on one half of the indices, the likelihood-ratio "
    "attack tested on the other half (AUC 0.5: no better than chance). LiRA before: online LiRA on the shadow "
    "models. The population MIA is the unlearning experiment's (logistic regression on the losses of the forget "
    "set, flipped labels, against the validation set): it pools all examples and is confounded by the flipped "
    "labels (a forget example the model has unlearned has a high loss on its flipped label, so it looks unlike "
    "held-out data because it is now right). Intervals: 95% percentile bootstrap over model indices, each "
    "half resampled within itself; KLOM's shifted so that the replicates' median is the estimate (a resample "
    "repeats models, which inflates a histogram KL); the population MIA's: of the mean over models.")


@dataclass(frozen=True)
class Cell:
    model: str
    chunk: int
    start: int
    stop: int

    @property
    def id(self) -> str:
        return RunDir.cell_id(self.model, f"chunk{self.chunk:04d}")

    @property
    def label(self) -> str:
        return f"{self.model} models {self.start}-{self.stop - 1}"


def cells(cfg: AuditConfig) -> list[Cell]:
    n, c = cfg.n_models, min(cfg.chunk, cfg.n_models)
    return [Cell(name, k, s, min(s + c, n)) for name in cfg.models for k, s in enumerate(range(0, n, c))]


# ------------------------------------------------------------------ data and memory


@dataclass(frozen=True)
class AuditData:
    x_train: np.ndarray  # the poisoned training set
    y_train: np.ndarray  # its labels (flipped on the forget set)
    y_true: np.ndarray
    forget: np.ndarray  # bool per training example
    x_val: np.ndarray
    y_val: np.ndarray

    @property
    def n_all(self) -> int:
        return len(self.y_train) + len(self.y_val)


def audit_data(cfg: AuditConfig, ds) -> AuditData:
    """The poisoned training set (run 0 of the unlearning experiment with this seed) and its forget set."""
    from ..errors import InputError

    x_p, y_p, idx = poisoned_training_set(cfg.seed, ds, cfg.attack, cfg.alpha, 0)
    forget = np.zeros(len(y_p), bool)
    forget[idx] = True
    if not forget.any():
        raise InputError(f"alpha={cfg.alpha} poisons no sample of the {len(y_p)} training samples, so there is "
                         "nothing to unlearn; use a larger alpha (e.g. 0.3)", path="alpha")
    return AuditData(np.asarray(x_p), np.asarray(y_p), np.asarray(ds.y_train), forget, np.asarray(ds.x_val),
                     np.asarray(ds.y_val))


def audit_bytes(cfg: AuditConfig, ds) -> int:
    """Estimated peak bytes of the audit: the largest cell (a vmapped training step of ``chunk`` models and their
    forward pass over every example) plus the analysis (every model's outputs, margins in float64 and the
    per-example attack comparisons)."""
    from ..memory import qnn_bytes

    n_all = len(ds.y_train) + len(ds.y_val)
    roles = len(ROLES) + len(cfg.methods)
    cell = 0
    for mc in cfg.models.values():
        chunk = min(cfg.chunk, cfg.n_models)
        step = mc.spec.training_bytes(ds, mc.train.batch(len(ds.y_train)), chunk, cfg.precision) or 0
        forward = (qnn_bytes(ds.n_qubits, n_all, chunk, 0, 16 if cfg.precision == "complex128" else 8)
                   if step else 0)
        cell = max(cell, step + forward)
    outputs = cfg.n_models * roles * n_all * 4 * len(cfg.models)  # float32, every model
    analysis = cfg.n_models * n_all * 8 * 6  # margins (float64) and a few working copies
    pairs = (cfg.n_models // 2) ** 2 * len(ds.y_train) * 2  # per-example AUCs: every test pair, boolean
    return int(cell + outputs + analysis + pairs)


def check_memory(cfg: AuditConfig, ds, available: int | None = None) -> None:
    """Refuse, before any work, an audit whose estimated memory exceeds what is available (the GiB it needs)."""
    from ..errors import InputError
    from ..memory import GIB, HEADROOM, device_memory

    need = audit_bytes(cfg, ds)
    where = "given"
    if available is None:
        available, where = device_memory()
    if need > HEADROOM * available:
        raise InputError(f"the audit of {cfg.n_models} models per role in cells of {min(cfg.chunk, cfg.n_models)} "
                         f"needs about {need / GIB:.1f} GiB, more than the {available / GIB:.1f} GiB of {where} "
                         "available; use fewer models (n_models) or a smaller chunk", path="n_models")


def estimate_seconds(cfg: AuditConfig, ds) -> float:
    """Rough wall seconds on 2 CPU cores: originals, oracles, shadows, retrain (training schedule) and the other
    methods (unlearning schedule), ``n_models`` each."""
    from ..progress import train_seconds, unlearn_seconds

    n, total = len(ds.y_train), 0.0
    for mc in cfg.models.values():
        one = lambda m: train_seconds(mc, ds, cfg.n_models, cfg.precision, m)  # noqa: E731
        total += one(n) + one(int(n * (1 - cfg.alpha))) + one(n // 2)
        total += sum(one(int(n * (1 - cfg.alpha))) if m == "retrain" else
                     unlearn_seconds(mc, ds, cfg.n_models, cfg.precision, cfg.alpha, method=m)
                     for m in cfg.methods)
    return total


# ------------------------------------------------------------------ a cell


@lru_cache(maxsize=None)
def _predictor(model):
    """Every model's output on one set of inputs (vmapped over the models' parameters)."""
    return jax.jit(jax.vmap(lambda p, x: model.apply(p, x, None), in_axes=(0, None)))


def _keys(cfg: AuditConfig, model: str, role: str, indices) -> jax.Array:
    return jnp.stack([cell_key(cfg.seed, cfg.dataset, "audit", model, role, i) for i in indices])


def shadow_halves(cfg: AuditConfig, model: str, indices, n: int) -> np.ndarray:
    """The training examples of shadow model i, for each index: a random half, drawn from the index's own key."""
    return np.stack([np.sort(np.asarray(jax.random.permutation(cell_key(cfg.seed, cfg.dataset, "audit", model,
                                                                         "shadow-half", i), n)[: n // 2]))
                     for i in indices])


def run_cell(cfg: AuditConfig, ds, d: AuditData, cell: Cell) -> dict:
    """Train and unlearn the models of the cell's indices; return every model's outputs on every example."""
    from ..train import supervised_program
    from .unlearning import unlearn_program

    mc = cfg.models[cell.model]
    model = mc.spec.build(ds, cfg.precision)
    idx = range(cell.start, cell.stop)
    r = len(idx)
    bc = lambda a: jnp.broadcast_to(jnp.asarray(a), (r,) + np.shape(a))  # noqa: E731
    x_val, y_val = jnp.asarray(d.x_val), jnp.asarray(d.y_val)
    x_all = jnp.concatenate([jnp.asarray(d.x_train), x_val])
    train = supervised_program(model, mc.train)
    poisoned = d.forget.astype(np.float32)
    orig, _ = train(_keys(cfg, cell.model, "original", idx), bc(d.x_train), bc(d.y_train), bc(d.y_true),
                    bc(poisoned), x_val, y_val)
    keep = ~d.forget
    run_data = UnlearnData(bc(d.x_train[keep]), bc(d.y_train[keep]), bc(d.x_train[d.forget]),
                           bc(d.y_train[d.forget]), bc(d.y_true[d.forget]))
    weights = {m: tuple(sorted(resolve_weights(m, cfg.weights.get(m)).items())) for m in set(cfg.methods) | {"retrain"}}
    # an oracle is retraining on the retain set with the training schedule: the retrain program (one compilation
    # for the oracles and the retrain method), from the oracles' own keys
    retrain = unlearn_program(model, "retrain", weights["retrain"], mc.train)
    oracle, _ = retrain(_keys(cfg, cell.model, "oracle", idx), orig, run_data, x_val, y_val)
    half = shadow_halves(cfg, cell.model, idx, len(d.y_train))
    shadow, _ = train(_keys(cfg, cell.model, "shadow", idx), jnp.asarray(d.x_train[half]),
                      jnp.asarray(d.y_train[half]), jnp.asarray(d.y_true[half]), jnp.asarray(poisoned[half]),
                      x_val, y_val)
    member = np.zeros((r, len(d.y_train)), np.uint8)
    np.put_along_axis(member, half, 1, axis=1)
    predict = _predictor(model)
    out = {"original": predict(orig, x_all), "oracle": predict(oracle, x_all), "shadow": predict(shadow, x_all)}
    for m in cfg.methods:
        schedule = mc.train if m == "retrain" else mc.unlearn  # retrain: one more oracle, from its own seeds
        params, _ = unlearn_program(model, m, weights[m], schedule)(_keys(cfg, cell.model, f"unlearn-{m}", idx),
                                                                    orig, run_data, x_val, y_val)
        out[f"method-{m}"] = predict(params, x_all)
    arrays = {k: np.asarray(jax.device_get(v), dtype=np.float32) for k, v in out.items()}
    arrays["member"] = member
    return arrays


# ------------------------------------------------------------------ the analysis


def _role_arrays(cfg: AuditConfig, out: dict, name: str) -> dict[str, np.ndarray]:
    """Every role's outputs of model ``name`` over all indices, in index order."""
    parts = [out[c.id] for c in cells(cfg) if c.model == name]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _quantiles(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    return (math.nan, math.nan) if v.size == 0 else (float(np.median(v)), float(np.quantile(v, 0.95)))


def analyse(cfg: AuditConfig, d: AuditData, name: str, arrays: dict) -> tuple[list, list, list, list]:
    """The tidy rows of one model: (results, per-example rows, ROC rows, notes)."""
    n_train = len(d.y_train)
    labels = np.concatenate([d.y_train, d.y_val])
    split_idx = {"forget": np.flatnonzero(d.forget), "retain": np.flatnonzero(~d.forget),
                 "val": n_train + np.arange(len(d.y_val))}
    finite = {k: np.isfinite(v).all(1) for k, v in arrays.items() if k != "member"}
    marg = {k: st.margins(v, labels, cfg.clip) for k, v in arrays.items() if k != "member"}
    bins, sm, nb = cfg.n_bins, cfg.smoothing, cfg.n_boot
    rows, ex, roc, notes = [], [], [], []

    def add(method, split, metric, value, lo=math.nan, hi=math.nan, ci=True):
        rows.append((method, split, metric, float(value)))
        if ci:
            rows.extend([(method, split, f"{metric}_lo", float(lo)), (method, split, f"{metric}_hi", float(hi))])

    def per_example(method, split, metric, values):
        for e, v in zip(split_idx[split], values):
            ex.append((method, split, int(e if split != "val" else e - n_train), metric, float(v)))

    def index_halves(ok):
        a, b = st.halves(cfg.n_models)
        return a[ok[a]], b[ok[b]]

    def klom_stats(u, o, ia, ib):
        k = st.klom(u, o, bins, sm, ia, ib)
        return np.array([q for s in SPLITS for q in _quantiles(k[split_idx[s]])])

    # the oracles: the floor, their spread
    o_ok = finite["oracle"]
    oa, ob = index_halves(o_ok)
    oracle = marg["oracle"]
    floor = st.klom_floor(oracle, bins, sm, oa, ob)
    floor_q = np.array([q for s in SPLITS for q in _quantiles(floor[split_idx[s]])])
    floor_lo, floor_hi = st.bootstrap(lambda ia, ib: klom_stats(oracle, oracle, ia, ib), oa, ob, nb, cfg.seed,
                                      point=floor_q)
    floor_lo = np.maximum(floor_lo, 0.0)
    sd = oracle[o_ok].std(0, ddof=1)
    for s in SPLITS:
        per_example("", s, "oracle_margin_sd", sd[split_idx[s]])
        per_example("", s, "klom_floor", floor[split_idx[s]])
    f = split_idx["forget"]
    sd_lo, sd_hi = st.bootstrap(lambda ia, ib: np.array([np.median(oracle[np.r_[ia, ib]][:, f].std(0, ddof=1))]),
                                oa, ob, nb, cfg.seed + 1)
    add("", "forget", "oracle_margin_sd", np.median(sd[f]), sd_lo[0], sd_hi[0])

    # before unlearning: online LiRA on the shadows
    sa, sb = index_halves(finite["shadow"])
    shadow, member = marg["shadow"][:, :n_train], arrays["member"].astype(bool)
    before = st.lira_before(shadow, member, sa, sb)
    for s, cols in (("forget", split_idx["forget"]), ("retain", split_idx["retain"]), ("", np.arange(n_train))):
        sh, mem = shadow[:, cols], member[:, cols]
        v = before["auc"] if s == "" else st.lira_before(sh, mem, sa, sb, per_example=False)["auc"]
        lo, hi = st.bootstrap(lambda ia, ib: np.array([st.lira_before(sh, mem, ia, ib, per_example=False)["auc"]]),
                              sa, sb, nb, cfg.seed + 2)
        add("", s, "lira_auc_before", v, lo[0], hi[0])
        if s:
            per_example("", s, "lira_auc_before", before["per_example_auc"][cols])

    # every method, and none (the original)
    val = split_idx["val"]
    for method in ("none",) + tuple(cfg.methods):
        key = "original" if method == "none" else f"method-{method}"
        ok = finite[key] & finite["original"] & o_ok
        ia, ib = index_halves(ok)
        u = marg[key]
        rows.append((method, "", "n_models", float(ok.sum())))
        rows.append((method, "", "diverged", float((~(finite[key] & finite["original"])).sum())))
        k = st.klom(u, oracle, bins, sm, ia, ib)
        q = np.array([v for s in SPLITS for v in _quantiles(k[split_idx[s]])])
        lo, hi = st.bootstrap(lambda a, b: klom_stats(u, oracle, a, b), ia, ib, nb, cfg.seed + 4, point=q)
        lo = np.maximum(lo, 0.0)  # a KL is never negative
        for j, s in enumerate(SPLITS):
            add(method, s, "klom_median", q[2 * j], lo[2 * j], hi[2 * j])
            add(method, s, "klom_p95", q[2 * j + 1], lo[2 * j + 1], hi[2 * j + 1])
            add(method, s, "klom_floor_median", floor_q[2 * j], floor_lo[2 * j], floor_hi[2 * j])
            add(method, s, "klom_floor_p95", floor_q[2 * j + 1], floor_lo[2 * j + 1], floor_hi[2 * j + 1])
            per_example(method, s, "klom", k[split_idx[s]])
        uf, of = u[:, f], oracle[:, f]
        att = st.ulira(uf, of, ia, ib)

        def ulira_stats(a, b):
            r = st.ulira(uf, of, a, b)
            return np.array([r["auc"], r["ulira_tpr_1pct"], r["ulira_tpr_01pct"], np.median(r["effect"])])

        lo, hi = st.bootstrap(ulira_stats, ia, ib, nb, cfg.seed + 5)
        add(method, "forget", "ulira_auc", att["auc"], lo[0], hi[0])
        add(method, "forget", "ulira_tpr_1pct", att["ulira_tpr_1pct"], lo[1], hi[1])
        add(method, "forget", "ulira_tpr_01pct", att["ulira_tpr_01pct"], lo[2], hi[2])
        add(method, "forget", "ulira_effect_median", np.median(att["effect"]), lo[3], hi[3])
        notes += [(method, "forget", metric, why) for metric, why in att["reasons"].items()]
        per_example(method, "forget", "ulira_auc", att["per_example_auc"])
        per_example(method, "forget", "ulira_effect", att["effect"])
        fpr, tpr = st.roc_curve(att["pos"], att["neg"])
        roc += [(method, float(a), float(b)) for a, b in zip(fpr, tpr)]
        p = arrays[key]
        mia = np.full(cfg.n_models, np.nan)
        for i in np.flatnonzero(ok)[: cfg.mia_models]:  # each a cross-validated fit: a few models tell its mean
            members = metrics.per_sample_bce(p[i, f], d.y_train[f])
            # non-members poisoned as the members are (labels flipped), as the unlearning experiment reads it
            heldout = metrics.per_sample_bce(p[i, val], 1 - d.y_val)
            mia[i] = metrics.mia_auc(members, heldout, seed=i)
        lo, hi = st.bootstrap_mean(mia, nb, cfg.seed + 6)
        add(method, "", "mia_auc", np.mean(mia[np.isfinite(mia)]) if np.isfinite(mia).any() else math.nan, lo, hi)
    return rows, ex, roc, notes


def _frame(rows, columns, cfg: AuditConfig, name: str) -> pd.DataFrame:
    t = pd.DataFrame(rows, columns=columns)
    t.insert(0, "model", name)
    t.insert(0, "dataset", cfg.dataset)
    return t


class AuditResult(Result):
    """The audit's tables: ``results`` (summary metrics with intervals), ``examples`` (per example), ``roc``."""

    def __init__(self, cfg, run_dir, results, examples, roc):
        super().__init__(cfg, run_dir)
        self.results, self.examples, self.roc = results, examples, roc

    def build_figures(self, title: str | None = None) -> dict:
        from . import audit_plots

        title = title or f"{self.cfg.dataset.upper()} audit, N={self.cfg.n_models}"
        return audit_plots.figures(self.results, self.examples, self.roc, title)

    def summary(self) -> list:
        from ..parts.audit import audit_table

        return [("forget set: value [95% bootstrap interval over model indices]", audit_table(self.results))]

    def notes(self) -> list[str]:
        return [f"results:  {self.path / 'results.csv'}  (per example: examples.csv; ROC curves: roc.csv)"]


def run(cfg: AuditConfig, workdir, *, fresh: bool = False, executor=None,
        on_cell: Callable | None = None) -> AuditResult:
    """Run every unfinished cell into ``workdir``, then the per-example analysis; return the audit's tables."""
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    check_memory(cfg, ds)
    d = audit_data(cfg, ds)  # refuses an empty forget set before the directory is touched
    run_dir.start()
    npz = lambda cid: run_dir.cells_dir / f"{cid}.npz"  # noqa: E731
    names = set(ROLES[:2]) | {"shadow", "member"} | {f"method-{m}" for m in cfg.methods}

    def load(cid):
        z = run_dir.read_arrays(npz(cid))
        missing = sorted(names - set(z))
        if missing:
            raise CellError(npz(cid), f"lacks its array {missing[0]!r}")
        return {k: z[k] for k in names}

    out = run_cells(run_dir, executor, cells(cfg), run_cell, (cfg, ds, d), on_cell,
                    done=lambda cid: npz(cid).exists(), load=load,
                    save=lambda cid, arrays: run_dir.write_arrays(npz(cid), arrays))
    results, examples, roc, notes = [], [], [], []
    for name in cfg.models:
        r, e, c, n = analyse(cfg, d, name, _role_arrays(cfg, out, name))
        results.append(_frame(r, ["method", "split", "metric", "value"], cfg, name))
        examples.append(_frame(e, ["method", "split", "example", "metric", "value"], cfg, name))
        roc.append(_frame(c, ["method", "fpr", "tpr"], cfg, name))
        notes.append(_frame(n, ["method", "split", "metric", "reason"], cfg, name))
    results, examples, roc = (pd.concat(t, ignore_index=True) for t in (results, examples, roc))
    run_dir.write_table("results.csv", results)
    run_dir.write_table("examples.csv", examples)
    run_dir.write_table("roc.csv", roc)
    run_dir.write_table("notes.csv", pd.concat(notes, ignore_index=True))
    return AuditResult(cfg, run_dir, results, examples, roc)


def read_result(directory, record: dict) -> AuditResult | None:
    """The result of a finished audit, read from its directory (None while it is unfinished)."""
    tables = read_tables(directory, "results.csv", "examples.csv", "roc.csv")
    cfg = stored_config(AuditConfig, record.get("config", {}))
    if tables is None or cfg is None:
        return None
    return AuditResult(cfg, StoredRun(directory), *tables)
