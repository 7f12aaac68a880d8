"""Beyond the paper: forgetting audited example by example against many retrained models (part ``audit``);
claims 12 and 13.

N original models (one poisoned training set, N seeds), N oracles retrained on the retain set, N shadow models
on random halves of the training set, and every unlearning method applied to every original; then, per example,
KLOM against the oracles with its same-distribution floor, U-LiRA, online LiRA before unlearning and, side by
side, the population attack of the unlearning experiment. The runner is :mod:`qunlearn.experiments.audit`, its
numerics :mod:`qunlearn.experiments.audit_stats`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from .._lazy import lazy
from .. import commands as cmd
from ..commands import Common
from ..config import (MAX_GRID, Dataset, DataOptions, Models, _can_unlearn, _Experiment, _forgets, _methods,
                      _one_attack)
from ..errors import InputError
from ..registry import ClaimRule, Experiment
from ..report import HELD, NOT_HELD, UNTESTED, Claim, _describe
from ..schema import Alpha, Choices, Count, Positive, Precision, Seed

np = lazy("numpy")
pd = lazy("pandas")

MAX_MODELS = 4096
APPROXIMATE = ("finetune", "scrub", "gradient_ascent")  # the paper's approximate methods, compared across models


def _even(n: int) -> int:
    if n < 4 or n % 2:
        raise InputError(f"must be an even number >= 4 (the models are split into two halves), got {n}")
    return n


def _bins(value: Any) -> Any:
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1000:
        raise InputError(f"must be \"auto\" or an integer in 2..1000, got {value!r}")
    return value


class AuditConfig(_Experiment):
    """The per-example audit of one model family's unlearning: ``n_models`` originals, oracles, shadows and every
    method applied to every original, in cells of ``chunk`` model indices."""

    dataset: Dataset = "mnist"
    data_options: DataOptions = Field(default_factory=dict)
    models: Models = Field(default_factory=dict)  # each with a training and an unlearning schedule
    attack: Annotated[str, BeforeValidator(_one_attack)] = "label-flip"
    alpha: Annotated[Alpha, AfterValidator(_forgets)] = 0.3
    methods: Choices(_methods, "unlearning method") = ("retrain", "finetune", "scrub", "gradient_ascent")
    weights: dict[str, dict] = Field(default_factory=dict)
    n_models: Annotated[Count(MAX_MODELS), AfterValidator(_even)] = 32
    chunk: Count(MAX_MODELS) = 16  # model indices per cell (at most n_models of them)
    seed: Seed = 0
    precision: Precision = "complex64"
    bins: Annotated[Any, BeforeValidator(_bins)] = "auto"  # KLOM histogram bins ("auto": about sqrt(n_models / 2))
    clip: Positive = 15.0  # margins clipped to [-clip, clip]
    smoothing: Positive = 0.5  # added to every histogram bin count
    n_boot: Count(MAX_GRID * 10) = 200  # bootstrap replicates over model indices
    mia_models: Count(MAX_MODELS) = 8  # the population attack (cross-validated fits) on the first few indices

    @field_validator("models")
    @classmethod
    def _can_audit(cls, models: dict) -> dict:
        for name, mc in _can_unlearn(models).items():
            if getattr(mc.spec, "stochastic", False):
                raise InputError(f"model {name!r}: the audit compares output distributions over seeds, and this "
                                 "QNN's outputs are random; remove its noise table")
        return models

    @model_validator(mode="after")
    def _consistent(self):
        from ..vocab import resolve_weights

        for m, w in self.weights.items():
            try:
                resolve_weights(m, w)
            except InputError as e:
                raise e.within(f"weights.{m}") from None
            if m not in self.methods:
                raise InputError(f"a weight is given for {m!r}, which this audit does not run (methods: "
                                 f"{', '.join(self.methods)}); drop the weight or add the method")
        return self

    @property
    def n_bins(self) -> int:
        from ..experiments.audit_stats import auto_bins

        return auto_bins(self.n_models // 2) if self.bins == "auto" else int(self.bins)


# ----------------------------------------------------------------- the report and claims


def _value(res, model: str, method: str, metric: str, split: str = "forget") -> float:
    sel = res[(res["model"] == model) & (res["method"].fillna("") == method) & (res["metric"] == metric)
              & (res["split"].fillna("") == split)]["value"]
    return float(sel.iloc[0]) if len(sel) else math.nan


def _ci(res, model, method, metric, split="forget") -> tuple[float, float, float]:
    return tuple(_value(res, model, method, m, split) for m in (metric, f"{metric}_lo", f"{metric}_hi"))


def sanity(res, model: str) -> list[str]:
    """The failed sanity rows of ``model`` (empty when all hold): ``retrain`` scores as retraining does (forget-set
    KLOM p95 interval reaching the floor's, U-LiRA AUC interval holding 0.5), ``none`` scores worst (no method's
    forget-set KLOM p95 or U-LiRA AUC interval lies entirely above none's)."""
    fails = []
    methods = [m for m in res[res["model"] == model]["method"].dropna().unique() if m]
    if "retrain" not in methods or "none" not in methods:
        return [f"{model}: needs the retrain and none rows"]
    k, k_lo, _ = _ci(res, model, "retrain", "klom_p95")
    f, _, f_hi = _ci(res, model, "retrain", "klom_floor_p95")
    if not k_lo <= f_hi:
        fails.append(f"{model}: retrain's KLOM p95 {k:.3f} (lower bound {k_lo:.3f}) above its floor {f:.3f} "
                     f"(upper bound {f_hi:.3f})")
    a, a_lo, a_hi = _ci(res, model, "retrain", "ulira_auc")
    if not a_lo <= 0.5 <= a_hi:
        fails.append(f"{model}: retrain's U-LiRA AUC {a:.3f} [{a_lo:.3f}, {a_hi:.3f}] excludes 0.5")
    for metric in ("klom_p95", "ulira_auc"):
        worst, _, worst_hi = _ci(res, model, "none", metric)
        beat = [m for m in methods if m != "none" and _ci(res, model, m, metric)[1] > worst_hi]
        if beat:
            fails.append(f"{model}: none is not worst by {metric} ({worst:.3f}, upper bound {worst_hi:.3f}; "
                         f"intervals entirely above it: {', '.join(beat)})")
    return fails


def _compare_claim(number: int, metric: str, what: str):
    def test(d, res, part) -> Claim:
        statement = (f"Beyond the paper: per example, QNN unlearning is closer to retraining than MLP unlearning "
                     f"({what}).")
        rule = (f"For each approximate method ({', '.join(APPROXIMATE)}) audited for both models: the QNN's {metric} "
                "on the forget set has a bootstrap 95% interval entirely below the MLP's (non-overlapping). Tested "
                "only when both models pass their sanity rows (retrain at its floor and its U-LiRA interval holding "
                "0.5; none worst).")
        if "split" not in res or not {"qnn", "mlp"} <= set(res["model"]):
            return Claim(number, d, statement, rule, "needs the audit of a QNN named qnn and an MLP named mlp",
                         UNTESTED)
        fails = sanity(res, "qnn") + sanity(res, "mlp")
        if fails:
            return Claim(number, d, statement, rule, "sanity rows fail: " + "; ".join(fails), UNTESTED)
        parts, ok, tested = [], True, False
        for m in APPROXIMATE:
            q, q_lo, q_hi = _ci(res, "qnn", m, metric)
            c, c_lo, c_hi = _ci(res, "mlp", m, metric)
            if any(math.isnan(v) for v in (q, q_hi, c, c_lo)):
                continue
            tested, ok = True, ok and q_hi < c_lo
            parts.append(f"{m}: QNN {q:.3f} [{q_lo:.3f}, {q_hi:.3f}] vs MLP {c:.3f} [{c_lo:.3f}, {c_hi:.3f}]")
        if not tested:
            return Claim(number, d, statement, rule, "needs an approximate method audited for both models", UNTESTED)
        return Claim(number, d, statement, rule, "; ".join(parts), HELD if ok else NOT_HELD)

    return test


_METRIC_LABELS = (("klom_median", "KLOM median"), ("klom_p95", "KLOM p95"), ("klom_floor_p95", "floor p95"),
                  ("ulira_auc", "U-LiRA AUC"), ("ulira_tpr_1pct", "TPR@1%"), ("ulira_tpr_01pct", "TPR@0.1%"),
                  ("mia_auc", "population MIA AUC"))


def _fmt(v, lo, hi) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if not (math.isnan(lo) or math.isnan(hi)) else f"{v:.3f}"


def audit_table(res, split: str = "forget") -> pd.DataFrame:
    """Display table: a row per (model, method), each metric ``value [lo, hi]`` and the models counted."""
    rows = []
    for (model, method), _ in res[res["method"].fillna("") != ""].groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method, "models": _fmt(_value(res, model, method, "n_models", ""),
                                                                math.nan, math.nan).split(".")[0]}
        for metric, label in _METRIC_LABELS:
            sp = "" if metric == "mia_auc" else split
            row[label] = _fmt(*_ci(res, model, method, metric, sp))
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_table(res) -> pd.DataFrame:
    """Per model: LiRA AUC before unlearning (forget, retain), the oracles' spread of margins, and the U-LiRA effect
    size of every method (median over the forget set)."""
    rows = []
    for model in res["model"].unique():
        row = {"model": model}
        for split in ("forget", "retain"):
            row[f"LiRA AUC before ({split})"] = _fmt(*_ci(res, model, "", "lira_auc_before", split))
        row["oracle margin sd (forget, median)"] = _fmt(*_ci(res, model, "", "oracle_margin_sd"))
        for m in res[(res["model"] == model) & (res["metric"] == "ulira_effect_median")]["method"]:
            row[f"effect size {m}"] = f"{_value(res, model, m, 'ulira_effect_median'):.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------- its command


def audit_command(
    dataset: str = cmd.DATASET,
    model: Optional[str] = cmd.MODEL,
    alpha: Optional[str] = cmd.option(None, help="noise ratio of the label flipping to unlearn [0.3]"),
    methods: Optional[str] = cmd.option(None, help="comma list of methods, 'paper' (retrain,finetune,scrub,"
                                                   "gradient_ascent) or 'all' [paper]; 'none' is always audited"),
    n_models: Optional[int] = cmd.option(None, "--n-models", help="models per role [quick 32, paper 128]"),
    chunk: Optional[int] = cmd.option(None, "--chunk", help="model indices per cell [16; paper 32]"),
    seed: Optional[int] = cmd.SEED,
    out_dir: str = cmd.option("runs/audit", "--out", help="run directory"),
    common: Common = None,
):
    """Audit unlearning example by example: KLOM, U-LiRA and LiRA against many retrained models."""
    from ..errors import check_alpha
    from ..parsing import parse_methods
    from ..vocab import PAPER_METHODS, method_names

    method_list = None if methods is None else parse_methods(methods, method_names(), PAPER_METHODS)
    cmd.run("audit", common, dataset, out_dir, models=cmd.model_list(model, common, dataset, "audit"),
            **cmd.given(alpha=None if alpha is None else check_alpha(alpha), methods=method_list, n_models=n_models,
                        chunk=chunk, seed=seed))


class Audit(Experiment):
    name = "audit"
    title = "beyond the paper: per-example audit of unlearning (KLOM, U-LiRA, LiRA)"
    section = "audit"
    runner = "qunlearn.experiments.audit"
    kind = "audit"
    opt_in = True
    config_class = AuditConfig
    commands = {"audit": audit_command}
    claims = (ClaimRule(12, "audit", _compare_claim(12, "klom_p95", "95th-percentile KLOM on the forget set")),
              ClaimRule(13, "audit", _compare_claim(13, "ulira_auc", "U-LiRA AUC on the forget set")))
    model_keys = {"epochs": ("unlearn", "epochs"), "batch_size": ("unlearn", "batch_size"),
                  "lr": ("unlearn", "lr"), "train_epochs": ("train", "epochs")}

    def preset(self, section, preset, dataset):
        """The unlearning experiment's models (metrics at the last epoch only), data, poisoning and weights; N = 32
        (quick) or 128 (paper). The quick audit runs on fewer samples (MNIST: 100 images per class; XXZ: 8 spins),
        as the noise part does."""
        u = section["unlearn"]
        quick = preset == "quick"
        options = dict(u.get("data_options", {}))
        if quick and dataset == "mnist":
            options.update(n_per_class=100, n_val_per_class=100)
        elif quick and dataset == "xxz":
            options.update(n_spins=8)
        methods = [m for m in ("retrain", "finetune", "scrub", "gradient_ascent")]
        models = {k: v for k, v in u["models"].items() if k in ("qnn", "mlp")} or dict(u["models"])
        # the audit reads the final models only: metrics once, at the last epoch (they cost as much as the steps)
        models = {k: {**v, **{t: {**v[t], "eval_every": v[t]["epochs"]} for t in ("train", "unlearn") if t in v}}
                  for k, v in models.items()}
        return {"dataset": dataset, "data_options": options, "models": models,
                "attack": "label-flip", "alpha": u.get("alpha", 0.3), "methods": methods,
                "weights": {k: v for k, v in u.get("weights", {}).items() if k in methods},
                "n_models": 32 if quick else 128, "chunk": 16 if quick else 32, "seed": u.get("seed", 0),
                "precision": u.get("precision", "complex64"), "bins": "auto", "clip": 15.0, "smoothing": 0.5,
                "n_boot": 200 if quick else 500, "mia_models": 8}

    def headline(self, value):
        return f"{value.dataset.upper()} audit, {value.attack} alpha={value.alpha}, N={value.n_models}"

    def estimate_seconds(self, part, ds) -> float:
        from ..experiments.audit import estimate_seconds

        return estimate_seconds(part.cfg, ds)

    def setup_line(self, dataset, dirname, cfg):
        return (f"{dataset}/{dirname}: {cfg.get('attack')} alpha {cfg.get('alpha')}; N = {cfg.get('n_models')} "
                f"models per role in cells of {cfg.get('chunk')}; methods none, {', '.join(cfg.get('methods', []))}; "
                f"KLOM bins {cfg.get('bins')}, clip {cfg.get('clip')}, smoothing {cfg.get('smoothing')}; "
                f"{cfg.get('n_boot')} bootstrap replicates; data {cfg.get('data_options')}; "
                + ", ".join(f"{k} ({_describe(v)})" for k, v in cfg.get("models", {}).items()))

    def report(self, doc, dataset, dirname, part, run) -> None:
        res = part["results"]
        if res is None:
            return
        from ..experiments.audit import PROTOCOL_NOTE

        doc.h(2, f"{dataset.upper()}: beyond the paper, forgetting audited example by example")
        doc.p(PROTOCOL_NOTE)
        doc.image(part["dir"] / "klom.png", "per-example KLOM against the oracles, with the same-distribution floor")
        doc.image(part["dir"] / "ulira_roc.png", "U-LiRA ROC curves (log-log)")
        doc.image(part["dir"] / "vulnerability.png", "each forget example's vulnerability before and after")
        for split in ("forget", "retain", "val"):
            doc.h(3, f"{split} set: value [95% bootstrap interval over model indices]")
            doc.table(audit_table(res, split))
        notes = part["dir"] / "notes.csv"
        if notes.exists() and notes.stat().st_size:
            try:
                reasons = pd.read_csv(notes)
            except ValueError:  # a table without rows: nothing was left empty
                reasons = pd.DataFrame(columns=["model", "metric", "reason"])
            if len(reasons):
                doc.p("Left empty (-): " + "; ".join(f"{r.model} {r.metric}: {r.reason}" for r in reasons[
                    ["model", "metric", "reason"]].drop_duplicates().itertuples()))
        doc.h(3, "Privacy before unlearning, the oracles' spread and the effect sizes")
        doc.p("LiRA AUC before: online LiRA on the shadow models, each trained on a random half of the poisoned "
              "training set. The oracles' spread is the standard deviation of an example's margin over the oracles "
              "(median over the forget set); the effect size is |mean unlearned - mean oracle| / pooled sd per "
              "example (median). Where the spread is tiny, a U-LiRA success measures optimisation (the methods end "
              "in different places) rather than privacy.")
        doc.table(baseline_table(res))
        doc.h(3, "Sanity rows")
        rows = []
        for model in res["model"].unique():
            fails = sanity(res, model)
            rows.append({"model": model, "sanity": "pass" if not fails else "fail: " + "; ".join(fails)})
        doc.p("retrain must score as retraining does (forget-set KLOM p95 interval reaching the floor's; U-LiRA AUC "
              "interval holding 0.5), and none (the original model) must score worst (no method's forget-set KLOM "
              "p95 or U-LiRA AUC interval entirely above none's). Claims 12 and 13 are tested only when these hold.")
        doc.table(pd.DataFrame(rows))


EXPERIMENT = Audit()
