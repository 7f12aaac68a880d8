"""The loss landscape: Hessian traces of clean and label-noisy models; claim 5."""

from __future__ import annotations

from typing import Optional

from .._lazy import lazy
from .. import commands as cmd
from ..commands import Common
from ..registry import ClaimRule, Experiment
from ..report import UNTESTED, Claim, Verdict, _describe, _fmt_series, _pm

pd = lazy("pandas")


def _claim5(d, res, part=None) -> Claim:
    statement = "The Hessian trace grows by one to two orders of magnitude for the noisy MLP, while the QNN's " \
                "noisy/clean ratio stays at or below 1 and falls as alpha grows."
    rule = "Mean trace ratio (noisy / clean, collapsed runs excluded): MLP >= 10 at some alpha; QNN <= 1.05 at " \
           "every alpha and lower at the largest alpha than at the smallest (a difference within the seeds' " \
           "spread is a tie: not tested)."
    r = res[(res["metric"] == "trace_ratio") & (res["alpha"] > 0)]
    q = r[r["model"] == "qnn"].groupby("alpha")["value"].mean()
    m = r[r["model"] == "mlp"].groupby("alpha")["value"].mean()
    if len(q) < 2 or not len(m):
        return Claim(5, d, statement, rule, "needs QNN and MLP trace ratios at >= 2 noisy alphas", UNTESTED)
    v = Verdict()
    v.check(m.max() >= 10 and q.max() <= 1.05)
    at = lambda a: r[(r["model"] == "qnn") & (r["alpha"] == a)]["value"].to_numpy()  # noqa: E731
    v.order(f"QNN trace ratio at alpha {q.index[-1]:g} vs {q.index[0]:g}", at(q.index[-1]), at(q.index[0]), -1)
    ev = f"trace ratio MLP {_fmt_series(m)}; QNN {_fmt_series(q)}"
    return Claim(5, d, statement, rule, ev + v.note(), v.status())


def landscape_table(res: pd.DataFrame) -> pd.DataFrame:
    t = res[res["metric"].isin(["trace", "trace_ratio", "val_acc"])]
    s = t.groupby(["model", "alpha", "metric"])["value"].agg(["mean", "std"])
    s = s.apply(lambda r: _pm(r["mean"], r["std"]), axis=1).unstack("metric").reset_index()
    c = res[(res["metric"] == "collapsed")].groupby(["model", "alpha"])["value"].sum().astype(int)
    s["collapsed runs"] = [c.get((m, a), 0) for m, a in zip(s["model"], s["alpha"])]
    return s


# ----------------------------------------------------------------- its command


def landscape_command(
    dataset: str = cmd.DATASET,
    model: Optional[str] = cmd.option(None, help="comma list of the preset's models: qnn (the landscape ansatz), "
                                                 "mlp [qnn,mlp]"),
    alphas: Optional[str] = cmd.option(None, help="noisy label-flip ratios (the clean model is always trained) "
                                                  "[0.2,0.3,0.4]"),
    seeds: Optional[str] = cmd.option(None, help="comma list of seeds [0,42,123,1024,2048]"),
    out_dir: str = cmd.option("runs/landscape", "--out", help="run directory"),
    epochs: Optional[int] = cmd.option(None, help="override the training epochs"),
    n_hessian: Optional[int] = cmd.option(None, help="held-out points in the Hessian's loss [100]"),
    common: Common = None,
):
    """Loss landscape: Hessian trace and top eigenvalues of clean vs label-noisy QNNs and MLPs."""
    from ..parsing import parse_alphas, parse_seeds

    cmd.run("landscape", common, dataset, out_dir, models=cmd.model_list(model, common, dataset, "landscape"),
            alphas=None if alphas is None else parse_alphas(alphas),
            seeds=None if seeds is None else parse_seeds(seeds), n_hessian=n_hessian, epochs=epochs)


class Landscape(Experiment):
    name = "landscape"
    title = "Hessian landscape"
    section = "landscape"
    runner = "qunlearn.experiments.landscape"
    kind = "landscape"
    commands = {"landscape": landscape_command}
    datasets = ("mnist",)
    claims = (ClaimRule(5, "landscape", _claim5),)
    model_keys = {"epochs": ("train", "epochs", "eval_every")}  # one evaluation: at the end

    @staticmethod
    def _config_class():
        from ..config import LandscapeConfig

        return LandscapeConfig

    def headline(self, value):
        return f"{value.dataset.upper()} loss landscape"

    def estimate_seconds(self, part, ds) -> float:
        from ..progress import HVP_PASSES, train_seconds

        cfg = part.cfg
        variants = 1 + len(cfg.alphas)
        n_tr = int(len(ds.y_train) * (1 - cfg.test_size))
        total = 0.0
        for mc in cfg.models.values():
            n = mc.spec.n_params(ds)
            hvps = n if n <= cfg.exact_max else 100  # the exact trace, or Hutchinson's probes
            hessian = variants * hvps * HVP_PASSES * cfg.n_hessian * mc.spec.pass_seconds(ds, cfg.precision)
            total += len(cfg.seeds) * (train_seconds(mc, ds, variants, cfg.precision, n_tr) + hessian)
            total += 2 * mc.spec.overhead_seconds  # the Hessian's programs beside the training's
        return total

    def setup_line(self, dataset, dirname, cfg):
        models = ", ".join(f"{k} ({_describe(v)}, {v['train']['epochs']} epochs)"
                           for k, v in cfg.get("models", {}).items())
        return (f"{dataset}/{dirname}: alphas {cfg.get('alphas')}; seeds {cfg.get('seeds')}; {models}; "
                f"Hessian on {cfg.get('n_hessian')} points")

    def report(self, doc, dataset, dirname, part, run) -> None:
        if part["results"] is None:
            return
        doc.h(2, f"{dataset.upper()}: {dirname}")
        doc.image(part["dir"] / "landscape.png", "Hessian trace ratios")
        doc.table(landscape_table(part["results"]))


EXPERIMENT = Landscape()
