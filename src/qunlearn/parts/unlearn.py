"""Unlearning (Figure 3): every method from the models trained on the poisoned data; claim 4."""

from __future__ import annotations

from typing import Optional


from .._lazy import lazy
from .. import commands as cmd
from ..commands import Common
from ..registry import ClaimRule, Experiment
from ..report import UNTESTED, Claim, Verdict, _pm

pd = lazy("pandas")


def _claim4(d, res, part=None) -> Claim:
    statement = "Approximate unlearning (finetune, SCRUB) leaves the MLP a stubborn memory of the wrong labels, " \
                "while the QNN reaches high validation accuracy and keeps few wrong labels."
    rule = "At the last unlearning epoch, for finetune and SCRUB: QNN val acc >= 0.9 and QNN poison memory " \
           "(forget-set accuracy on the flipped labels) below the MLP's (a difference within the runs' spread is " \
           "a tie: not tested)."
    last = res[res["step"] == res.groupby("model")["step"].transform("max")]
    parts, tested, v = [], False, Verdict()
    for method in ("finetune", "scrub"):
        runs = lambda model, metric: last[(last["model"] == model) & (last["method"] == method)  # noqa: E731
                                          & (last["metric"] == metric)].groupby("run")["value"].mean().to_numpy()
        qv, qm, mm = runs("qnn", "val_acc"), runs("qnn", "forget_poison_acc"), runs("mlp", "forget_poison_acc")
        if not (qv.size and qm.size and mm.size):
            continue
        tested = True
        v.check(qv.mean() >= 0.9)
        v.order(f"{method} poison memory, QNN vs MLP", qm, mm, -1)
        parts.append(f"{method}: QNN val {qv.mean():.3f}, poison memory QNN {qm.mean():.3f} vs MLP {mm.mean():.3f}")
    if not tested:
        return Claim(4, d, statement, rule, "needs finetune or SCRUB results for both models", UNTESTED)
    return Claim(4, d, statement, rule, "; ".join(parts) + v.note(), v.status())


def unlearn_table(res: pd.DataFrame, timing: pd.DataFrame | None) -> pd.DataFrame:
    full = pd.concat([res, timing]) if timing is not None else res
    last = full[full["step"] == full.groupby("model")["step"].transform("max")]
    cols = [("val_acc", "val acc"), ("retain_acc", "retain acc"), ("forget_acc", "forget acc (true)"),
            ("forget_poison_acc", "poison memory"), ("mia_auc", "MIA AUC"), ("mia_auc_oracle", "MIA AUC of oracle"),
            ("mia_gap", "MIA gap vs oracle"), ("oracle_agreement_val", "oracle agree"),
            ("speedup", "speedup vs retrain")]
    rows = []
    for (model, method), g in last.groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method}
        for metric, label in cols:
            v = g[g["metric"] == metric]["value"]
            row[label] = _pm(v.mean(), v.std()) if len(v) else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def newton_hvps(mc, ds, weights: dict | None) -> int:
    """Hessian-vector products of one Newton step: one per parameter on the exact path, ``rank`` beyond it."""
    from ..vocab import resolve_weights

    w = resolve_weights("newton", weights)
    n = getattr(mc.spec, "n_params", lambda ds: int(w["exact_max"]) + 1)(ds)
    return n if n <= int(w["exact_max"]) else min(int(w["rank"]), n)


def unlearn_work(cfg, ds) -> float:
    """Training the models to unlearn, then every method (retrain always runs: it is the oracle), each with its
    own step data; Newton's step costs its Hessian-vector products over the retain set on top of its
    evaluations."""
    from ..progress import HVP_PASSES, train_seconds, unlearn_seconds

    methods = set(cfg.methods) | {"retrain"}
    n_retain = int(len(ds.y_train) * (1 - cfg.alpha))
    total = 0.0
    for mc in cfg.models.values():
        total += train_seconds(mc, ds, cfg.runs, cfg.precision)
        total += sum(unlearn_seconds(mc, ds, cfg.runs, cfg.precision, cfg.alpha, method=m)
                     + mc.spec.overhead_seconds for m in methods)  # each method is a compiled program of its own
        if "newton" in methods:
            total += (cfg.runs * newton_hvps(mc, ds, cfg.weights.get("newton")) * n_retain * HVP_PASSES
                      * mc.spec.pass_seconds(ds, cfg.precision))
    return total


# ----------------------------------------------------------------- its command


def unlearning_flags(attack, alpha, methods, runs, seed, weights=()) -> dict:
    """The unlearning flags that were given, checked, as config fields (``unlearn`` and ``sweep``)."""
    from ..errors import InputError, check_alpha
    from ..parsing import parse_methods, parse_weights
    from ..vocab import ATTACKS, PAPER_METHODS, method_names

    method_list = parse_methods(methods, method_names(), PAPER_METHODS)
    if attack is not None and attack not in ATTACKS:
        raise InputError(f"unknown attack {attack!r}; use one of {', '.join(ATTACKS)}")
    return cmd.given(attack=attack, alpha=None if alpha is None else check_alpha(alpha), methods=method_list,
                     weights=parse_weights(weights) or None, runs=runs, seed=seed)


def unlearn_command(
    dataset: str = cmd.DATASET,
    model: Optional[str] = cmd.MODEL,
    attack: Optional[str] = cmd.option(None, help="how the forget set was poisoned [label-flip]"),
    alpha: Optional[str] = cmd.option(None, help="noise ratio of the poisoning to unlearn [0.3]"),
    methods: Optional[str] = cmd.option(None, help="comma list of methods, 'paper' (retrain,finetune,scrub,"
                                                   "gradient_ascent) or 'all' [the config file's, else paper]"),
    runs: Optional[int] = cmd.RUNS,
    out_dir: str = cmd.option("runs/unlearn", "--out", help="run directory"),
    epochs: Optional[int] = cmd.option(None, help="unlearning epochs (all models) [paper 50]"),
    batch_size: Optional[int] = cmd.option(None, help="unlearning batch size (all models)"),
    lr: Optional[float] = cmd.option(None, help="unlearning learning rate (all models)"),
    train_epochs: Optional[int] = cmd.option(None, help="epochs of training the model to unlearn"),
    weight: list[str] = cmd.option([], "--weight", help="METHOD.WEIGHT=VALUE, e.g. scrub.fo_w=0.5 (repeatable)"),
    seed: Optional[int] = cmd.SEED,
    common: Common = None,
):
    """Unlearn the poison: train on poisoned data, run every method, draw Figure 3."""
    cmd.run("unlearn", common, dataset, out_dir, models=cmd.model_list(model, common, dataset, "unlearn"),
            **unlearning_flags(attack, alpha, methods, runs, seed, weight), epochs=epochs, batch_size=batch_size,
            lr=lr, train_epochs=train_epochs)


class Unlearn(Experiment):
    name = "unlearn"
    title = "every unlearning method (Figure 3)"
    section = "unlearn"
    runner = "qunlearn.experiments.unlearning"
    kind = "unlearn"
    commands = {"unlearn": unlearn_command}
    claims = (ClaimRule(4, "unlearn", _claim4),)
    model_keys = {"epochs": ("unlearn", "epochs"), "batch_size": ("unlearn", "batch_size"),
                  "lr": ("unlearn", "lr"), "train_epochs": ("train", "epochs")}

    @staticmethod
    def _config_class():
        from ..config import UnlearnConfig

        return UnlearnConfig

    def cells(self, part) -> int:
        return len(part.module.cells(part.cfg)) + len(part.cfg.models)  # and the models to unlearn, trained

    def headline(self, value):
        return f"{value.dataset.upper()} unlearning, {value.attack} alpha={value.alpha}"

    def estimate_seconds(self, part, ds) -> float:
        return unlearn_work(part.cfg, ds)

    def setup_line(self, dataset, dirname, cfg):
        return (f"{dataset}/{dirname}: {cfg.get('attack')} alpha {cfg.get('alpha')}; methods "
                f"{', '.join(cfg.get('methods', []))}; {cfg.get('runs')} runs; unlearning epochs "
                + ", ".join(f"{k} {v['unlearn']['epochs']}" for k, v in cfg.get("models", {}).items()))

    def report(self, doc, dataset, dirname, part, run) -> None:
        if part["results"] is None:
            return
        doc.h(2, f"{dataset.upper()}: {dirname} (Figure 3)")
        doc.image(part["dir"] / "figure3.png", "unlearning curves")
        doc.table(unlearn_table(part["results"], part["timing"]))


EXPERIMENT = Unlearn()
