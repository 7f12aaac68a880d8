"""Beyond the paper: memorisation against capacity, QNNs beside matched classical controls (part ``capacity``);
claims 8 to 11."""

from __future__ import annotations

from typing import Optional

from .._lazy import lazy
from .. import commands as cmd
from ..commands import Common
from ..registry import ClaimRule, Experiment
from ..report import HELD, NOT_HELD, UNTESTED, Claim, Verdict

np = lazy("numpy")
pd = lazy("pandas")

ALPHA = 0.3  # the noise ratio the claims read
QNNS = ("qnn", "qnn-landscape")


def _means(res, metric: str, alpha: float | None = ALPHA):
    """Mean of ``metric`` per (family, size, n_params) over the usable runs at ``alpha`` (None: alpha empty)."""
    from ..experiments.capacity import by_size, usable

    t = by_size(usable(res), metric, alpha)
    return {(f, s): (m, int(p), int(c)) for f, s, p, m, c in zip(t["family"], t["size"], t["n_params"], t["mean"],
                                                                  t["count"])}


def _runs_of(res, metric: str, family: str, size: str, alpha: float = ALPHA):
    """The usable per-run values of ``metric`` of one (family, size) at ``alpha``."""
    from ..experiments.capacity import usable

    t = usable(res)
    t = t[(t["metric"] == metric) & (t["family"] == family) & (t["size"].astype(str) == str(size))]
    return t[np.isclose(t["alpha"].astype(float), alpha)]["value"].to_numpy(dtype=float)


def _claim8(d, res, part) -> Claim:
    statement = ("Beyond the paper: at matched parameter count the QNN memorises less of the poison than every "
                 "classical control.")
    rule = (f"At alpha {ALPHA}, for every pair of a paper-ansatz QNN size and a classical (family, size) whose "
            "parameter counts are within a factor of 2, the QNN's mean poison_fit is below the classical one's "
            "(a difference within the runs' spread is a tie: not tested); degenerate cells and diverged runs left "
            "out.")
    fit = _means(res, "poison_fit")
    pairs, bad, v = [], [], Verdict()
    for (f, s), (m, p, _) in fit.items():
        if f != "qnn":
            continue
        for (g, t), (mc, pc, _) in fit.items():
            if g in QNNS or not 0.5 <= pc / p <= 2:
                continue
            pairs.append(f"qnn {s} ({p}) {m:.3f} vs {g} {t} ({pc}) {mc:.3f}")
            if v.order(f"qnn {s} vs {g} {t}", _runs_of(res, "poison_fit", f, s), _runs_of(res, "poison_fit", g, t),
                       -1) == 1:
                bad.append(pairs[-1])
    if not pairs:
        return Claim(8, d, statement, rule, "no classical size within a factor of 2 of a QNN size at alpha "
                     f"{ALPHA}", UNTESTED)
    ev = f"{len(pairs)} matched pairs; " + ("every QNN below: " + "; ".join(pairs) if not bad else
                                           f"{len(bad)} not below: " + "; ".join(bad))
    return Claim(8, d, statement, rule, ev + v.note(), v.status())


def _claim9(d, res, part) -> Claim:
    statement = "Beyond the paper: the QNN's resistance to memorisation persists at depth 16."
    rule = (f"The paper-ansatz QNN of depth 16 fits at most half of the flipped labels at alpha {ALPHA} "
            "(mean poison_fit <= 0.5).")
    fit = _means(res, "poison_fit")
    if ("qnn", "16") not in fit:
        return Claim(9, d, statement, rule, f"needs the QNN of depth 16 at alpha {ALPHA}", UNTESTED)
    m, p, c = fit[("qnn", "16")]
    shallow = "; ".join(f"depth {s}: {v[0]:.3f}" for (f, s), v in sorted(fit.items(), key=lambda kv: kv[1][1])
                        if f == "qnn")
    return Claim(9, d, statement, rule, f"depth 16 ({p} parameters, {c} runs): poison_fit {m:.3f}; every depth: "
                 f"{shallow}", HELD if m <= 0.5 else NOT_HELD)


def _claim10(d, res, part) -> Claim:
    statement = ("Beyond the paper: a bounded output alone does not explain the QNN's resilience: the MLP whose "
                 "logit is capped at ±5 as the QNN's is (mlp-bounded) memorises more than every QNN.")
    rule = (f"At alpha {ALPHA}, every mlp-bounded size's mean poison_fit exceeds the largest of the QNN sizes' (a "
            "difference within the runs' spread is a tie: not tested).")
    fit = _means(res, "poison_fit")
    q = {(f, s): v[0] for (f, s), v in fit.items() if f in QNNS}
    b = {s: v[0] for (f, s), v in fit.items() if f == "mlp-bounded"}
    if not q or not b:
        return Claim(10, d, statement, rule, f"needs QNN and mlp-bounded results at alpha {ALPHA}", UNTESTED)
    (qf, qs), top = max(q.items(), key=lambda kv: kv[1])
    verdict = Verdict()
    for s in b:
        verdict.order(f"mlp-bounded {s} vs {qf} {qs}", _runs_of(res, "poison_fit", "mlp-bounded", s),
                      _runs_of(res, "poison_fit", qf, qs), 1)
    ev = (f"largest QNN poison_fit {top:.3f} ({qf} {qs}); mlp-bounded: "
          + ", ".join(f"{s}: {v:.3f}" for s, v in b.items()))
    return Claim(10, d, statement, rule, ev + verdict.note(), verdict.status())


def _claim11(d, res, part) -> Claim:
    statement = ("Beyond the paper: the QNNs of this study cannot fit random labels, while the largest MLP can "
                 "(Gil-Fuster et al. show QNNs that do fit them).")
    rule = ("Mean random_label_fit <= 0.7 for every QNN size, and >= 0.9 for the MLP family's largest size "
            "(by parameters).")
    fit = _means(res, "random_label_fit", None)
    q = {f"{f} {s}": v[0] for (f, s), v in fit.items() if f in QNNS}
    mlps = [(v[1], s, v[0]) for (f, s), v in fit.items() if f == "mlp"]
    if not q or not mlps:
        return Claim(11, d, statement, rule, "needs random-label fits of QNNs and MLPs", UNTESTED)
    _, s_big, big = max(mlps)
    ev = ("QNN: " + ", ".join(f"{k}: {v:.3f}" for k, v in q.items()) + f"; largest MLP ({s_big}): {big:.3f}")
    return Claim(11, d, statement, rule, ev, HELD if max(q.values()) <= 0.7 and big >= 0.9 else NOT_HELD)


# ----------------------------------------------------------------- its command


def capacity_command(
    dataset: str = cmd.option("mnist", help="mnist or xxz"),
    family: Optional[str] = cmd.option(None, help="comma list of families [all: qnn,qnn-landscape,mlp,linear,"
                                                  "pca-mlp,mlp-decay,mlp-early-stop,mlp-bounded]"),
    alphas: Optional[str] = cmd.option(None, help="noise ratios of label flipping: start:stop:step or a comma "
                                                  "list [quick 0:0.5:0.1]"),
    runs: Optional[int] = cmd.RUNS,
    seed: Optional[int] = cmd.SEED,
    out_dir: str = cmd.option("runs/capacity", "--out", help="run directory"),
    common: Common = None,
):
    """Memorisation against capacity: QNNs of growing depth beside MLP, linear, PCA and regularised controls."""
    from ..experiments.capacity_config import FAMILIES
    from ..parsing import parse_alphas, parse_list

    cmd.run("capacity", common, dataset, out_dir,
            families=None if family is None else parse_list(family, FAMILIES, "family", "--family"),
            alphas=None if alphas is None else parse_alphas(alphas), runs=runs, seed=seed)


# ----------------------------------------------------------------- the experiment


class Capacity(Experiment):
    name = "capacity"
    title = "beyond the paper: memorisation against capacity"
    section = "capacity"
    runner = "qunlearn.experiments.capacity"
    kind = "capacity"
    opt_in = True
    commands = {"capacity": capacity_command}
    claims = (ClaimRule(8, "capacity", _claim8), ClaimRule(9, "capacity", _claim9),
              ClaimRule(10, "capacity", _claim10), ClaimRule(11, "capacity", _claim11))
    aliases = {"family": "families"}
    model_keys: dict = {}  # each family has its own schedule: set it in [DATASET.capacity.settings.FAMILY.train]

    @staticmethod
    def _config_class():
        from ..experiments.capacity_config import CapacityConfig

        return CapacityConfig

    def preset(self, section, preset, dataset):
        from ..experiments.capacity_config import preset_values

        return preset_values(preset, dataset, dict(section["poison"].get("data_options", {})))

    def models_of(self, value):
        from ..errors import InputError

        raise InputError("the capacity study trains its own families of models; choose them with families= "
                         "(--family)", path="models")

    def check_own_models(self):
        self.models_of(None)

    def with_models(self, value, models):
        self.models_of(value)

    def headline(self, value):
        return f"{value.dataset.upper()} capacity"

    def estimate_seconds(self, part, ds) -> float:
        from ..experiments import capacity_models as cm

        cfg, total = part.cfg, 0.0
        trainings = (len(cfg.alphas) + 1) * cfg.runs
        n = len(ds.y_train)
        for s in cfg.sizes():
            t = cfg.settings[s.family].train
            if s.family in QNNS:
                per = 2e-8 * 2 ** ds.n_qubits * s.depth * 3
            else:
                per = 3e-9 * cm.n_params(s, ds)
            total += trainings * t.epochs * n * per * (2 if s.family == "mlp-early-stop" else 1) + 3.0
        return total

    def setup_line(self, dataset, dirname, cfg):
        fams = "; ".join(f"{f}: {', '.join(cfg['settings'][f]['sizes'])} ({cfg['settings'][f]['train']['epochs']} "
                         f"epochs, lr {cfg['settings'][f]['train']['lr']})" for f in cfg.get("families", []))
        return (f"{dataset}/{dirname}: label flipping at alphas {', '.join(f'{a:g}' for a in cfg.get('alphas', []))} "
                f"and random labels; {cfg.get('runs')} runs; data {cfg.get('data_options')}; effective dimension "
                f"from {cfg.get('fisher_samples')} training inputs, gamma {cfg.get('gamma')}; {fams}")

    def report(self, doc, dataset, dirname, part, run) -> None:
        from ..experiments.capacity import critical_table, degenerate, figure_alpha, usable, by_size
        from ..experiments.common import pm

        res = part["results"]
        if res is None:
            return
        threshold = part.get("config", {}).get("threshold", 0.75)
        doc.h(2, f"{dataset.upper()}: beyond the paper, memorisation against capacity")
        doc.p("Is the QNN's resilience to label flipping a property of quantum models or of small ones? Every "
              "family is trained at several sizes on the same poisoned training sets (label flipping) and once on "
              "random labels; memorisation is the accuracy on the flipped labels (poison_fit). Parameter counts "
              "are trained parameters: the PCA projection of pca-mlp is fitted on the training inputs only and "
              "not counted (its size is in the table below). The local effective dimension (Abbas et al., "
              "arXiv:2112.04807) is taken at the trained parameters from the model Fisher p(1-p) grad s grad s^T "
              "through the n x n Gram matrix: the Fisher has rank at most n (its sample count, fisher_n), so "
              "the measure saturates near n for every model larger than that, growing only logarithmically in "
              "the parameter count beyond it. Claims 8 to 11 test the numbers.")
        alpha = figure_alpha(usable(res))
        doc.image(part["dir"] / "capacity.png", f"memorisation and clean accuracy at alpha {alpha} against "
                  "parameter count")
        doc.image(part["dir"] / "capacity_effdim.png", "the same against the local effective dimension")
        table = []
        u = usable(res)
        for metric, label in (("poison_fit", "poison fit"), ("val_acc", "val acc"),
                              ("effective_dimension", "effective dim")):
            t = by_size(u, metric, alpha).set_index(["family", "size", "n_params"])
            table.append(t.apply(lambda r: pm(r["mean"], r["std"]), axis=1).rename(f"{label} at {alpha}"))
        rl = by_size(u, "random_label_fit", None).set_index(["family", "size", "n_params"])
        table.append(rl.apply(lambda r: pm(r["mean"], r["std"]), axis=1).rename("random-label fit"))
        table.append(rl["count"].rename("runs"))
        live = res[res["metric"] == "n_live_params"].set_index(["family", "size", "n_params"])["value"]
        proj = res[res["metric"] == "projection_size"].set_index(["family", "size", "n_params"])["value"]
        if len(table[0]):
            wide = pd.concat(table, axis=1)
            wide["live / projection"] = [f"{int(live[k])} live" if k in live.index else
                                         f"projection {int(proj[k])}" if k in proj.index else "-"
                                         for k in wide.index]
            doc.h(3, f"Every (family, size) at alpha {alpha}, mean ± std over runs")
            doc.table(wide.reset_index())
        doc.h(3, "Critical noise ratio")
        doc.p(f"The smallest alpha at which the mean clean validation accuracy falls below {threshold:g}.")
        doc.table(critical_table(res, threshold))
        deg = degenerate(res)
        if len(deg):
            doc.h(3, "Degenerate configurations (reported, left out of the figures, fits and claims)")
            doc.table(deg)


EXPERIMENT = Capacity()
