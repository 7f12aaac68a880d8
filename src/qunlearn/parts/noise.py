"""Beyond the paper: the alpha sweep and the unlearning with noisy QNNs (part ``noise``); claims 6 and 7."""

from __future__ import annotations

import math
from pathlib import Path

from .._lazy import lazy
from ..registry import ClaimRule, Experiment, Step
from ..report import HELD, NOT_HELD, UNTESTED, Claim, Verdict, _at, _describe, _means, _pm
from .poison import poison_table, train_table

np = lazy("numpy")
pd = lazy("pandas")


def _noisy_models(part: dict) -> list[str]:
    """Names of the models of a part's stored config that have a noise table."""
    return [k for k, v in part.get("config", {}).get("models", {}).items() if isinstance(v, dict) and "noise" in v]


def _claim6(d, res, part) -> Claim:
    statement = "Beyond the paper: under device noise the QNN keeps its resilience to label flipping: no " \
                "memorisation, a plateau of validation accuracy to alpha = 0.3 and the collapse past 0.5."
    rule = "For every noisy QNN of the noise part, claim 2's rule without the MLP comparison: mean |train acc - " \
           "max(alpha, 1 - alpha)| <= 0.1; val acc at alpha 0.3 >= 0.85; val acc <= 0.5 at every alpha >= 0.6."
    noisy = _noisy_models(part)
    parts, ok, tested = [], True, False
    for m in dict.fromkeys(["qnn"] * ("qnn" in set(res["model"])) + noisy):  # the noiseless reference first
        tr = _means(res, "train_acc", model=m, attack="label-flip")
        va = _means(res, "val_acc", model=m, attack="label-flip")
        q3 = _at(va, 0.3)
        high = va[va.index.to_numpy(dtype=float) >= 0.6 - 1e-9]
        if not len(tr) or math.isnan(q3) or not len(high):
            continue
        a = tr.index.to_numpy(dtype=float)
        dev = float(np.mean(np.abs(tr.to_numpy() - np.maximum(a, 1 - a))))
        holds = dev <= 0.1 and q3 >= 0.85 and high.max() <= 0.5
        if m in noisy:
            tested, ok = True, ok and holds
        parts.append(f"{m}: deviation {dev:.3f}, val acc at 0.3 {q3:.3f}, max val acc for alpha >= 0.6 "
                     f"{high.max():.3f}" + ("" if m in noisy else " (noiseless, for reference)"))
    if not tested:
        return Claim(6, d, statement, rule, "needs label-flip results of a noisy QNN at alpha 0.3 and >= 0.6",
                     UNTESTED)
    return Claim(6, d, statement, rule, "; ".join(parts), HELD if ok else NOT_HELD)


def _claim7(d, res, part) -> Claim:
    statement = "Beyond the paper: under device noise, finetuning still leaves the QNN with less poison memory " \
                "than the MLP, also as a device measures it (finite shots)."
    rule = "After finetune, every noisy QNN's poison memory (forget-set accuracy on the flipped labels) is below " \
           "the MLP's, from exact outputs and from 1000-shot outputs (a difference within the runs' spread is a " \
           "tie: not tested)."
    last = res[res["step"] == res.groupby("model")["step"].transform("max")]
    sel = lambda model, metric: last[(last["model"] == model) & (last["method"] == "finetune")  # noqa: E731
                                     & (last["metric"] == metric)].groupby("run")["value"].mean().to_numpy()
    get = lambda model, metric: float(np.mean(sel(model, metric))) if sel(model, metric).size else math.nan  # noqa
    mlp = get("mlp", "forget_poison_acc")
    noisy = _noisy_models(part)
    parts, tested, verdict = [], False, Verdict()
    for m in noisy:
        q, q_shots, mia, gap = (get(m, "forget_poison_acc"), get(m, "forget_poison_acc_shots1000"),
                                get(m, "mia_auc_shots1000"), get(m, "mia_gap_shots1000"))
        if any(math.isnan(v) for v in (q, q_shots, mlp)):
            continue
        tested = True
        verdict.order(f"{m} poison memory vs MLP", sel(m, "forget_poison_acc"), sel("mlp", "forget_poison_acc"), -1)
        verdict.order(f"{m} 1000-shot poison memory vs MLP", sel(m, "forget_poison_acc_shots1000"),
                      sel("mlp", "forget_poison_acc"), -1)
        parts.append(f"{m}: poison memory {q:.3f} (1000 shots: {q_shots:.3f}; MIA AUC from 1000 shots {mia:.3f}, "
                     f"{gap:+.3f} from the retrain oracle's)")
    if not tested:
        return Claim(7, d, statement, rule, "needs finetune results of a noisy QNN and the MLP with 1000-shot "
                     "metrics", UNTESTED)
    ref = get("qnn", "forget_poison_acc")
    return Claim(7, d, statement, rule, "; ".join(parts) + f"; MLP {mlp:.3f}"
                 + ("" if math.isnan(ref) else f"; noiseless QNN {ref:.3f}") + verdict.note(), verdict.status())


def shots_table(res: pd.DataFrame) -> pd.DataFrame:
    """Poison memory and MIA AUC from finite-shot outputs at the last step: a row per (model, method), columns per N."""
    last = res[res["step"] == res.groupby("model")["step"].transform("max")]
    found = sorted({int(m.rsplit("shots", 1)[1]) for m in last["metric"].unique() if "_shots" in m})
    rows = []
    for (model, method), g in last.groupby(["model", "method"], sort=False):
        if not g["metric"].str.contains("_shots").any():
            continue
        row = {"model": model, "method": method}
        for n in found:
            for metric, label in ((f"forget_poison_acc_shots{n}", f"poison memory, {n} shots"),
                                  (f"mia_auc_shots{n}", f"MIA AUC, {n} shots"),
                                  (f"mia_gap_shots{n}", f"MIA gap vs oracle, {n} shots")):
                v = g[g["metric"] == metric]["value"]
                row[label] = _pm(v.mean(), v.std()) if len(v) else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def _noise_section(doc, d: str, part: dict) -> None:
    from ..experiments.noise import standard_errors

    res = part["results"]
    doc.h(2, f"{d.upper()}: beyond the paper, the study under device noise")
    doc.p("The alpha sweep again with QNNs that run on a simulated noisy device (depolarizing errors after the "
          "single- and two-qubit gates, amplitude damping, as Monte Carlo trajectories; see qunlearn.noise), beside "
          "the noiseless QNN and the MLP. Setup above; the claims 6 and 7 test the numbers.")
    doc.image(part["dir"] / "noise.png", "accuracy against alpha under noise")
    doc.h(3, "Validation accuracy (clean) at the last epoch")
    doc.table(poison_table(res))
    doc.h(3, "Training accuracy on the poisoned labels (label flipping)")
    doc.table(train_table(res))
    se = standard_errors(res)
    if len(se):
        doc.p("Standard error of each noisy QNN's measured <Z> on the validation states (from its trajectories "
              "and shots), averaged over states; the outputs are estimates, and this is how precise.")
        doc.table(se)


class Noise(Experiment):
    name = "noise"
    title = "beyond the paper: the study under device noise"
    section = "noise"
    runner = "qunlearn.experiments.noise"
    kind = "noise"
    opt_in = True
    claims = (ClaimRule(6, "noise", _claim6), ClaimRule(7, "noise-unlearn", _claim7))

    @staticmethod
    def _config_class():
        from ..config import NoiseConfig

        return NoiseConfig

    def models_of(self, value):
        return value.poison.models

    def with_models(self, value, models):
        self.check_own_models()

    def check_own_models(self):
        from ..errors import InputError

        raise InputError("the noise part builds device noise into qunlearn's own QNN ansaetze; a model or circuit of "
                         "your own cannot run there: run it through poison or unlearn", path="models")

    def steps(self, value, typed, base: Path, **plan_options) -> list[Step]:
        return [Step("noise", self.runner, value.poison),
                Step("noise-unlearn", "qunlearn.experiments.unlearning", value.unlearn)]

    def owns(self, dirname):
        return dirname in ("noise", "noise-unlearn")

    def order(self, dirname):
        return 0 if dirname == "noise" else 1

    def cells(self, part) -> int:
        n = len(part.module.cells(part.cfg))
        return n + len(part.cfg.models) if part.name == "noise-unlearn" else n

    def estimate_seconds(self, part, ds) -> float:
        from .poison import train_seconds
        from .unlearn import unlearn_work

        return unlearn_work(part.cfg, ds) if part.name == "noise-unlearn" else train_seconds(part.cfg, ds)

    def setup_line(self, dataset, dirname, cfg):
        models = ", ".join(f"{k} ({_describe(v)})" for k, v in cfg.get("models", {}).items())
        what = (f"alphas {', '.join(f'{a:g}' for a in cfg.get('alphas', []))}" if dirname == "noise" else
                f"{cfg.get('attack')} alpha {cfg.get('alpha')}; methods {', '.join(cfg.get('methods', []))}; "
                f"shots {cfg.get('shots', [])}")
        return f"{dataset}/{dirname}: {what}; {cfg.get('runs')} runs; data {cfg.get('data_options')}; {models}"

    def report(self, doc, dataset, dirname, part, run) -> None:
        from .unlearn import unlearn_table

        res = part["results"]
        if res is None:
            return
        if dirname == "noise":
            _noise_section(doc, dataset, part)
            return
        doc.h(3, f"{dataset.upper()}: unlearning under noise")
        doc.image(part["dir"] / "figure3.png", "unlearning curves, the noisy QNNs beside the noiseless one and the MLP")
        doc.p("Every method from the models trained on the poisoned data, the noisy QNNs beside the noiseless "
              "one and the MLP (final step; mean ± std over runs). The second table gives what a device "
              "would reveal: the same metrics from outputs estimated with N measurements.")
        doc.table(unlearn_table(res, part["timing"]))
        shots = shots_table(res)
        if len(shots):
            doc.table(shots)


EXPERIMENT = Noise()
