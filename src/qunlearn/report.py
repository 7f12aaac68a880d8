"""The report of a run: setup, figures, key tables and a test of every claim.

``write(DIR)`` reads only the tidy tables and figures of a run directory (a
``qunlearn reproduce`` directory, or the directory of a single experiment) and
writes ``DIR/report.md`` and ``DIR/report.html`` (figures embedded, one
self-contained file). Each claim of docs/PROTOCOL.md is tested with an explicit rule
on the run's own numbers and marked *held*, *not held*, or *not tested* when
the run lacks the part or the noise ratios the rule needs.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .runs import atomic_write_text

HELD, NOT_HELD, UNTESTED = "held", "not held", "not tested"


# ------------------------------------------------------------------ reading a run


@dataclass
class RunTables:
    path: Path
    config: dict
    versions: dict
    parts: dict = field(default_factory=dict)  # (dataset, part) -> {"dir": Path, "results": DataFrame, ...}


_NEEDED = {"results.csv": ("metric", "value"), "timing.csv": ("metric", "value"), "embedding.csv": ("panel", "x", "y")}


def _read_csv(path: Path) -> pd.DataFrame | None:
    """A table qunlearn wrote, None if absent; a table without the columns qunlearn writes is refused."""
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a readable table ({type(e).__name__}); rerun that experiment with --fresh") \
            from None
    missing = [c for c in _NEEDED.get(path.name, ()) if c not in table.columns]
    if missing:
        raise InputError(f"{path} is not a qunlearn table (no {', '.join(missing)} column); rerun that experiment "
                         "with --fresh")
    return table


def _read_part(d: Path) -> dict[str, Any] | None:
    cfg_file = d / "config.json"
    if not cfg_file.exists():
        return None
    try:
        record = json.loads(cfg_file.read_text())
    except ValueError:
        raise InputError(f"{cfg_file} is corrupt; rerun the experiment into that directory with --fresh") from None
    part = {"dir": d, "experiment": record.get("experiment"), "config": record.get("config", {})}
    for name in ("results", "timing"):  # the report needs no learning curves (history.csv)
        part[name] = _read_csv(d / f"{name}.csv")
    part["diverged"] = None
    if part["results"] is not None and "run" in part["results"]:
        from .experiments.common import diverged_runs, drop_diverged

        part["diverged"] = diverged_runs(part["results"])  # reported, then never averaged
        part["results"] = drop_diverged(part["results"])
    part["embedding"] = _read_csv(d / "embedding.csv")
    return part


def load(path: str | Path) -> RunTables:
    """The tables of a run directory; refuses a directory that holds no qunlearn run."""
    path = Path(path)
    cfg_file = path / "config.json"
    if not path.is_dir() or not cfg_file.exists():
        raise InputError(f"{str(path)!r} holds no qunlearn run (no config.json); pass the --out of a finished run")
    try:
        record = json.loads(cfg_file.read_text())
    except ValueError:
        raise InputError(f"{cfg_file} is corrupt; rerun into a new --out") from None
    from .runs import FORMAT_VERSION

    if not isinstance(record, dict) or record.get("format_version") != FORMAT_VERSION:
        version = record.get("format_version") if isinstance(record, dict) else None
        raise InputError(f"{str(path)!r} was written by an incompatible qunlearn run format ({version!r}; this version "
                         f"reads {FORMAT_VERSION}); rerun the experiment into a new --out to report on it")
    run = RunTables(path, record.get("config", {}), record.get("versions", {}))
    if record.get("experiment") == "reproduce":
        for dataset in run.config:
            for sub in sorted((path / dataset).glob("*")) if (path / dataset).is_dir() else []:
                part = _read_part(sub)
                if part is not None:
                    run.parts[(dataset, sub.name)] = part
    else:
        part = _read_part(path)
        dataset = part["config"].get("dataset", "?")
        name = part["experiment"]
        if name == "sweep":
            name = f"sweep-{part['config'].get('sweep', {}).get('method', '?')}"
        run.parts[(dataset, name)] = part
    if not any(p["results"] is not None or p["embedding"] is not None for p in run.parts.values()):
        raise InputError(f"{str(path)!r} has no finished results yet; run or resume the experiment first")
    return run


# ------------------------------------------------------------------ claims


@dataclass
class Claim:
    number: int
    dataset: str
    statement: str
    rule: str
    evidence: str
    status: str


def _means(results: pd.DataFrame, metric: str, **where) -> pd.Series:
    t = results[results["metric"] == metric]
    for k, v in where.items():
        t = t[t[k] == v]
    return t.groupby("alpha")["value"].mean()


def _at(series: pd.Series, alpha: float) -> float:
    hit = series[np.isclose(series.index.to_numpy(dtype=float), alpha)]
    return float(hit.iloc[0]) if len(hit) else math.nan


def _fmt_series(s: pd.Series) -> str:
    return ", ".join(f"{a:.1f}: {v:.3f}" for a, v in s.items())


def _claim1(d, res) -> Claim:
    statement = "Under label flipping the MLP memorises: training accuracy on the poisoned labels stays near 1 and " \
                "validation accuracy falls roughly linearly with alpha."
    rule = "MLP training accuracy (poisoned labels) >= 0.9 at every alpha, and the correlation of its validation " \
           "accuracy with alpha <= -0.9 over at least 4 noise ratios."
    tr, va = _means(res, "train_acc", model="mlp", attack="label-flip"), _means(res, "val_acc", model="mlp",
                                                                                attack="label-flip")
    if len(va) < 4:
        return Claim(1, d, statement, rule, "needs the MLP label-flip sweep over >= 4 alphas", UNTESTED)
    r = float(np.corrcoef(va.index.to_numpy(dtype=float), va.to_numpy())[0, 1])
    ok = tr.min() >= 0.9 and r <= -0.9
    ev = f"train acc min {tr.min():.3f} (by alpha {_fmt_series(tr)}); val acc {_fmt_series(va)}; correlation {r:.3f}"
    return Claim(1, d, statement, rule, ev, HELD if ok else NOT_HELD)


def _claim2(d, res) -> Claim:
    statement = "Under label flipping the QNN does not memorise: training accuracy is about max(alpha, 1 - alpha) " \
                "(V-shaped), validation accuracy holds a plateau to alpha = 0.3 and collapses past 0.5."
    rule = "QNN mean |train acc - max(alpha, 1 - alpha)| <= 0.1; QNN val acc at alpha 0.3 >= 0.85 and above the " \
           "MLP's; QNN val acc <= 0.5 at every alpha >= 0.6."
    tr = _means(res, "train_acc", model="qnn", attack="label-flip")
    va = _means(res, "val_acc", model="qnn", attack="label-flip")
    mva = _means(res, "val_acc", model="mlp", attack="label-flip")
    q3, m3 = _at(va, 0.3), _at(mva, 0.3)
    high = va[va.index.to_numpy(dtype=float) >= 0.6 - 1e-9]
    if not len(tr) or math.isnan(q3) or math.isnan(m3) or not len(high):
        return Claim(2, d, statement, rule, "needs QNN and MLP label-flip results at alpha 0.3 and >= 0.6", UNTESTED)
    a = tr.index.to_numpy(dtype=float)
    dev = float(np.mean(np.abs(tr.to_numpy() - np.maximum(a, 1 - a))))
    ok = dev <= 0.1 and q3 >= 0.85 and q3 > m3 and high.max() <= 0.5
    ev = (f"mean |train - max(a, 1-a)| = {dev:.3f}; val acc at 0.3: QNN {q3:.3f}, MLP {m3:.3f}; "
          f"QNN val acc for alpha >= 0.6: max {high.max():.3f}; QNN val acc {_fmt_series(va)}")
    return Claim(2, d, statement, rule, ev, HELD if ok else NOT_HELD)


def _claim3(d, res) -> Claim:
    statement = "Under feature randomisation both models stay fairly accurate" + (
        "; the QNN more so on quantum data." if d == "xxz" else ".")
    rule = "QNN and MLP validation accuracy >= 0.65 at every alpha (well above chance; the published curves bottom " \
           "out at 0.70)" + ("; QNN mean validation accuracy over the grid >= the MLP's." if d == "xxz" else ".")
    q = _means(res, "val_acc", model="qnn", attack="feature-randomization")
    m = _means(res, "val_acc", model="mlp", attack="feature-randomization")
    if not len(q) or not len(m):
        return Claim(3, d, statement, rule, "needs QNN and MLP feature-randomisation results", UNTESTED)
    ok = q.min() >= 0.65 and m.min() >= 0.65 and (d != "xxz" or q.mean() >= m.mean())
    ev = f"min val acc: QNN {q.min():.3f}, MLP {m.min():.3f}; mean over the grid: QNN {q.mean():.3f}, MLP {m.mean():.3f}"
    return Claim(3, d, statement, rule, ev, HELD if ok else NOT_HELD)


def _claim4(d, res) -> Claim:
    statement = "Approximate unlearning (finetune, SCRUB) leaves the MLP a stubborn memory of the wrong labels, " \
                "while the QNN reaches high validation accuracy and keeps few wrong labels."
    rule = "At the last unlearning epoch, for finetune and SCRUB: QNN val acc >= 0.9 and QNN poison memory " \
           "(forget-set accuracy on the flipped labels) below the MLP's."
    last = res[res["step"] == res.groupby("model")["step"].transform("max")]
    parts, ok, tested = [], True, False
    for method in ("finetune", "scrub"):
        get = lambda model, metric: last[(last["model"] == model) & (last["method"] == method)  # noqa: E731
                                         & (last["metric"] == metric)]["value"].mean()
        qv, qm, mm = get("qnn", "val_acc"), get("qnn", "forget_poison_acc"), get("mlp", "forget_poison_acc")
        if any(math.isnan(v) for v in (qv, qm, mm)):
            continue
        tested = True
        ok &= qv >= 0.9 and qm < mm
        parts.append(f"{method}: QNN val {qv:.3f}, poison memory QNN {qm:.3f} vs MLP {mm:.3f}")
    if not tested:
        return Claim(4, d, statement, rule, "needs finetune or SCRUB results for both models", UNTESTED)
    return Claim(4, d, statement, rule, "; ".join(parts), HELD if ok else NOT_HELD)


def _claim5(d, res) -> Claim:
    statement = "The Hessian trace grows by one to two orders of magnitude for the noisy MLP, while the QNN's " \
                "noisy/clean ratio stays at or below 1 and falls as alpha grows."
    rule = "Mean trace ratio (noisy / clean, collapsed runs excluded): MLP >= 10 at some alpha; QNN <= 1.05 at " \
           "every alpha and lower at the largest alpha than at the smallest."
    r = res[(res["metric"] == "trace_ratio") & (res["alpha"] > 0)]
    q = r[r["model"] == "qnn"].groupby("alpha")["value"].mean()
    m = r[r["model"] == "mlp"].groupby("alpha")["value"].mean()
    if len(q) < 2 or not len(m):
        return Claim(5, d, statement, rule, "needs QNN and MLP trace ratios at >= 2 noisy alphas", UNTESTED)
    ok = m.max() >= 10 and q.max() <= 1.05 and q.iloc[-1] < q.iloc[0]
    ev = f"trace ratio MLP {_fmt_series(m)}; QNN {_fmt_series(q)}"
    return Claim(5, d, statement, rule, ev, HELD if ok else NOT_HELD)


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
           "the MLP's, from exact outputs and from 1000-shot outputs."
    last = res[res["step"] == res.groupby("model")["step"].transform("max")]
    get = lambda model, metric: last[(last["model"] == model) & (last["method"] == "finetune")  # noqa: E731
                                     & (last["metric"] == metric)]["value"].mean()
    mlp = get("mlp", "forget_poison_acc")
    noisy = _noisy_models(part)
    parts, ok, tested = [], True, False
    for m in noisy:
        q, q_shots, mia = get(m, "forget_poison_acc"), get(m, "forget_poison_acc_shots1000"), get(m, "mia_auc_shots1000")
        if any(math.isnan(v) for v in (q, q_shots, mlp)):
            continue
        tested, ok = True, ok and q < mlp and q_shots < mlp
        parts.append(f"{m}: poison memory {q:.3f} (1000 shots: {q_shots:.3f}; MIA AUC from 1000 shots {mia:.3f})")
    if not tested:
        return Claim(7, d, statement, rule, "needs finetune results of a noisy QNN and the MLP with 1000-shot "
                     "metrics", UNTESTED)
    ref = get("qnn", "forget_poison_acc")
    return Claim(7, d, statement, rule, "; ".join(parts) + f"; MLP {mlp:.3f}"
                 + ("" if math.isnan(ref) else f"; noiseless QNN {ref:.3f}"), HELD if ok else NOT_HELD)


_CLAIMS = ((_claim1, "poison"), (_claim2, "poison"), (_claim3, "poison"), (_claim4, "unlearn"), (_claim5, "landscape"),
           (_claim6, "noise"), (_claim7, "noise-unlearn"))
_BEYOND = ("noise", "noise-unlearn")  # parts of claims beyond the paper: tested only when the run has them
_EMPTY = pd.DataFrame(columns=["model", "attack", "alpha", "method", "step", "run", "metric", "value"])


def claims(run: RunTables) -> list[Claim]:
    """Every claim of docs/PROTOCOL.md for every dataset of the run: held, not held, or not tested with the reason."""
    out = []
    for d in sorted({d for d, _ in run.parts}):
        for fn, part in _CLAIMS:
            if part in _BEYOND and (d, part) not in run.parts:
                continue
            res = run.parts.get((d, part), {}).get("results")
            if part in _BEYOND:
                claim = fn(d, _EMPTY if res is None else res, run.parts[(d, part)])
            else:
                claim = fn(d, _EMPTY if res is None else res)
            if res is None:
                claim.evidence = f"this run has no {part} results for {d.upper()}: {claim.evidence}"
            out.append(claim)
    return out


# ------------------------------------------------------------------ tables


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _alpha_table(sub: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    """Mean ± std over runs of ``sub``'s values: a row per ``rows``, a column per alpha, and ``runs``, the
    number of runs behind each row's cells (``2-3`` when they differ)."""
    g = sub.groupby([*rows, "alpha"])["value"]
    t = g.agg(["mean", "std"]).apply(lambda r: _pm(r["mean"], r["std"]), axis=1).unstack("alpha")
    t.columns = [f"{a:.1f}" for a in t.columns]
    n = g.count().groupby(rows).agg(["min", "max"])
    t["runs"] = [int(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in zip(n["min"], n["max"])]
    return t.reset_index()


def poison_table(res: pd.DataFrame) -> pd.DataFrame:
    """Validation accuracy (clean), mean ± std over runs: a row per (model, attack), a column per alpha."""
    return _alpha_table(res[res["metric"] == "val_acc"], ["model", "attack"])


def train_table(res: pd.DataFrame) -> pd.DataFrame:
    """Training accuracy on the poisoned labels under label flipping, mean ± std over runs, per model and alpha."""
    return _alpha_table(res[(res["metric"] == "train_acc") & (res["attack"] == "label-flip")], ["model"])


def unlearn_table(res: pd.DataFrame, timing: pd.DataFrame | None) -> pd.DataFrame:
    full = pd.concat([res, timing]) if timing is not None else res
    last = full[full["step"] == full.groupby("model")["step"].transform("max")]
    cols = [("val_acc", "val acc"), ("retain_acc", "retain acc"), ("forget_acc", "forget acc (true)"),
            ("forget_poison_acc", "poison memory"), ("mia_auc", "MIA AUC"), ("oracle_agreement_val", "oracle agree"),
            ("speedup", "speedup vs retrain")]
    rows = []
    for (model, method), g in last.groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method}
        for metric, label in cols:
            v = g[g["metric"] == metric]["value"]
            row[label] = _pm(v.mean(), v.std()) if len(v) else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_table(res: pd.DataFrame) -> pd.DataFrame:
    val = res[res["metric"] == "val_acc"]
    by = ["model", "kl_w", "fo_w"] if val["kl_w"].notna().any() else ["model", "fo_w"]
    s = val.groupby(by)["value"].mean().reset_index()
    best = s.loc[s.groupby("model")["value"].idxmax()]
    worst = s.loc[s.groupby("model")["value"].idxmin()]
    rows = []
    for (_, b), (_, w) in zip(best.iterrows(), worst.iterrows()):
        rows.append({"model": b["model"], "best setting": ", ".join(f"{c}={b[c]:.2f}" for c in by[1:]),
                     "best val acc": f"{b['value']:.3f}", "worst setting": ", ".join(f"{c}={w[c]:.2f}" for c in by[1:]),
                     "worst val acc": f"{w['value']:.3f}"})
    return pd.DataFrame(rows)


def landscape_table(res: pd.DataFrame) -> pd.DataFrame:
    t = res[res["metric"].isin(["trace", "trace_ratio", "val_acc"])]
    s = t.groupby(["model", "alpha", "metric"])["value"].agg(["mean", "std"])
    s = s.apply(lambda r: _pm(r["mean"], r["std"]), axis=1).unstack("metric").reset_index()
    c = res[(res["metric"] == "collapsed")].groupby(["model", "alpha"])["value"].sum().astype(int)
    s["collapsed runs"] = [c.get((m, a), 0) for m, a in zip(s["model"], s["alpha"])]
    return s


# ------------------------------------------------------------------ rendering


def _md_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Doc:
    """Blocks rendered to Markdown and to self-contained HTML."""

    def __init__(self, root: Path):
        self.root, self.md, self.html = root, [], []

    def h(self, level: int, text: str):
        self.md.append("#" * level + " " + text)
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str):
        self.md.append(text)
        self.html.append(f"<p>{html.escape(text)}</p>")

    def items(self, items: list[str]):
        self.md.append("\n".join(f"- {i}" for i in items))
        self.html.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")

    def table(self, df: pd.DataFrame):
        self.md.append(_md_table(df))
        self.html.append(_html_table(df))

    def image(self, path: Path, caption: str):
        if not path.exists():
            return
        rel = path.relative_to(self.root).as_posix()
        self.md.append(f"![{caption}]({rel})")
        data = base64.b64encode(path.read_bytes()).decode()
        self.html.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def claim(self, c: Claim):
        mark = {HELD: "HELD", NOT_HELD: "NOT HELD", UNTESTED: "NOT TESTED"}[c.status]
        self.md.append(f"**Claim {c.number} ({c.dataset.upper()}): {mark}.** {c.statement}\n\n"
                       f"- rule: {c.rule}\n- numbers: {c.evidence}")
        cls = c.status.replace(" ", "-")
        self.html.append(f'<div class="claim {cls}"><p><b>Claim {c.number} ({c.dataset.upper()}): {mark}.</b> '
                         f"{html.escape(c.statement)}</p><ul><li>rule: {html.escape(c.rule)}</li>"
                         f"<li>numbers: {html.escape(c.evidence)}</li></ul></div>")


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}figcaption{color:#555;font-size:0.9em}
.claim{border-left:5px solid #999;padding:0.2em 1em;margin:1em 0;background:#fafafa}.claim.held{border-color:#2a9d52}
.claim.not-held{border-color:#c0392b}.claim.not-tested{border-color:#aaa}"""


def _describe(entry: dict) -> str:
    """A stored model entry in words (its spec's description)."""
    from .models.specs import spec_from_dict

    spec = {k: v for k, v in entry.items() if k not in ("train", "unlearn")}
    try:
        return spec_from_dict(spec).describe()
    except InputError:
        return str(spec.get("kind", "?"))


def _setup_lines(run: RunTables) -> list[str]:
    lines = []
    for (d, name), part in _ordered(run):
        cfg = part["config"]
        if name == "poison":
            models = ", ".join(f"{k} ({_describe(v)}, {v['train']['epochs']} epochs, batch {v['train']['batch_size']}, "
                               f"lr {v['train']['lr']})" for k, v in cfg.get("models", {}).items())
            lines.append(f"{d}/poison: attacks {', '.join(cfg.get('attacks', []))}; alphas "
                         f"{', '.join(f'{a:g}' for a in cfg.get('alphas', []))}; {cfg.get('runs')} runs; {models}")
        elif name == "unlearn":
            lines.append(f"{d}/unlearn: {cfg.get('attack')} alpha {cfg.get('alpha')}; methods "
                         f"{', '.join(cfg.get('methods', []))}; {cfg.get('runs')} runs; unlearning epochs "
                         + ", ".join(f"{k} {v['unlearn']['epochs']}" for k, v in cfg.get("models", {}).items()))
        elif name.startswith("sweep-"):
            lines.append(f"{d}/{name}: grid {', '.join(f'{g:g}' for g in cfg.get('sweep', {}).get('grid', []))}; "
                         f"{cfg.get('runs')} runs")
        elif name == "landscape":
            models = ", ".join(f"{k} ({_describe(v)}, {v['train']['epochs']} epochs)"
                               for k, v in cfg.get("models", {}).items())
            lines.append(f"{d}/landscape: alphas {cfg.get('alphas')}; seeds {cfg.get('seeds')}; {models}; "
                         f"Hessian on {cfg.get('n_hessian')} points")
        elif name == "embed":
            lines.append(f"{d}/embed: t-SNE, alpha {cfg.get('alpha')}, perplexity {cfg.get('perplexity')}")
        elif name in ("noise", "noise-unlearn"):
            models = ", ".join(f"{k} ({_describe(v)})" for k, v in cfg.get("models", {}).items())
            what = (f"alphas {', '.join(f'{a:g}' for a in cfg.get('alphas', []))}" if name == "noise" else
                    f"{cfg.get('attack')} alpha {cfg.get('alpha')}; methods {', '.join(cfg.get('methods', []))}; "
                    f"shots {cfg.get('shots', [])}")
            lines.append(f"{d}/{name}: {what}; {cfg.get('runs')} runs; data {cfg.get('data_options')}; {models}")
    v = run.versions
    lines.append("versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)))
    return lines


_ORDER = {"poison": 0, "gauge": 1, "unlearn": 2, "sweep-scrub": 3, "sweep-gradient_ascent": 4, "landscape": 5,
          "embed": 6, "noise": 7, "noise-unlearn": 8}


def _ordered(run: RunTables):
    """Parts in pipeline order, dataset by dataset."""
    return sorted(run.parts.items(), key=lambda kv: (kv[0][0], _ORDER.get(kv[0][1], 9), kv[0][1]))


MAD_NOTE = 0.05  # a curve whose mean absolute deviation from the published one exceeds this is called out


def published_table(res: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ours vs published per curve: ``(cells, curves)``. ``cells`` has a row per (model, attack, metric) and a
    column per alpha, "ours / published"; ``curves`` the mean absolute deviation of each curve."""
    from . import reference

    both = reference.beside(res)
    if both.empty:
        return both, both
    both["cell"] = [f"{o:.2f} / {p:.2f}" for o, p in zip(both["ours"], both["published"])]
    cells = both.pivot_table(index=["model", "attack", "metric"], columns="alpha", values="cell", aggfunc="first")
    cells.columns = [f"{a:.1f}" for a in cells.columns]
    curves = (both.assign(absdiff=both["diff"].abs()).groupby(["model", "attack", "metric"])
              .agg(alphas=("alpha", "count"), mad=("absdiff", "mean"), runs=("runs", "max"),
                   published_runs=("published_runs", "max")).reset_index())
    curves["mad"] = curves["mad"].round(3)
    return cells.reset_index(), curves


def _published_section(doc: "_Doc", d: str, res: pd.DataFrame) -> None:
    from . import reference

    cells, curves = published_table(res)
    doc.h(3, "Ours beside the published numbers")
    if cells.empty:
        doc.p("The published Figure 2 has no point of this run's models, attacks and alphas.")
        return
    doc.p(f"Each cell: our mean / the published mean (final epoch). Source: {reference.SOURCE}. "
          f"Ours: the runs given per curve below.")
    doc.table(cells)
    doc.table(curves.rename(columns={"mad": "mean abs deviation", "runs": "our runs",
                                     "published_runs": "published runs"}))
    off = curves[curves["mad"] > MAD_NOTE]
    if len(off):
        names = "; ".join(f"{r.model} {r.attack} {r.metric} ({r.mad:.3f})" for r in off.itertuples())
        doc.p(f"Curves that differ by more than {MAD_NOTE} on average: {names}. Known reason for {d.upper()}: "
              f"{reference.REASONS.get(d, 'none known')}.")
    else:
        doc.p(f"Every curve lies within {MAD_NOTE} of the published one on average.")


def _gauge_section(doc: "_Doc", d: str, part: dict, reference_res: pd.DataFrame | None) -> None:
    from .experiments import gauge

    res, cfg = part["results"], part["config"]
    ref_phase = cfg.get("reference_phase", "random")
    doc.h(2, f"{d.upper()}: gauge of the states")
    doc.p("A ground state is defined only up to a global phase. The QNN's output cannot depend on it; the MLP reads "
          "real and imaginary parts, so it can. The alpha sweep's MLPs were trained again with every state in the "
          f"{gauge.OTHER[ref_phase]} gauge (the sweep above used the {ref_phase} gauge); nothing else changed.")
    doc.image(part["dir"] / "gauge.png", "MLP accuracy in both gauges")
    if reference_res is None:
        doc.p("The reference alpha sweep of this run has no results, so the gauges cannot be compared.")
        return
    table = gauge.compare(reference_res, res, ref_phase)
    doc.items(gauge.sensitivity(table, ref_phase))
    wide = table[table["model"] == "mlp"].copy()
    wide["cell"] = [f"{a:.2f} / {b:.2f}" for a, b in zip(wide[ref_phase], wide[gauge.OTHER[ref_phase]])]
    wide = wide.pivot_table(index=["attack", "metric"], columns="alpha", values="cell", aggfunc="first")
    wide.columns = [f"{a:.1f}" for a in wide.columns]
    doc.p(f"MLP, each cell: {ref_phase} gauge / {gauge.OTHER[ref_phase]} gauge (means over runs).")
    doc.table(wide.reset_index())


def build(run: RunTables, found: list[Claim]) -> _Doc:
    doc = _Doc(run.path)
    doc.h(1, "qunlearn report")
    doc.p("Chen and Zhang, 'Superior resilience to poisoning and amenability to unlearning in quantum machine "
          "learning' (arXiv:2508.02422), reproduced with qunlearn. Every number below is read from this run's "
          "tables; mean ± standard deviation over runs.")
    doc.h(2, "Claims")
    if found:
        n = {s: sum(c.status == s for c in found) for s in (HELD, NOT_HELD, UNTESTED)}
        doc.p(f"{n[HELD]} held, {n[NOT_HELD]} not held, {n[UNTESTED]} not tested.")
        for c in found:
            doc.claim(c)
    else:
        doc.p("This run has no part that a claim of the paper is about.")
    doc.h(2, "Setup")
    doc.items(_setup_lines(run))
    for (d, name), part in _ordered(run):
        res, pdir = part["results"], part["dir"]
        bad = part.get("diverged")
        if bad is not None and len(bad):
            doc.p(f"{d.upper()} {name}: runs whose loss became non-finite are excluded from every number below: "
                  + "; ".join(", ".join(f"{k} {v}" for k, v in r.items() if k not in ("runs", "diverged"))
                              + f": {r['diverged']} of {r['runs']} runs" for r in bad.to_dict("records")) + ".")
        title = f"{d.upper()}: {name}"
        if name == "poison" and res is not None:
            doc.h(2, f"{title} (Figure 2)")
            doc.image(pdir / "figure2.png", "accuracy against noise ratio")
            doc.image(pdir / "widths.png", "validation accuracy of every MLP width")
            doc.h(3, "Validation accuracy (clean) at the last epoch")
            doc.table(poison_table(res))
            doc.h(3, "Training accuracy on the poisoned labels (label flipping)")
            doc.table(train_table(res))
            _published_section(doc, d, res)
        elif name == "gauge" and res is not None:
            _gauge_section(doc, d, part, run.parts.get((d, "poison"), {}).get("results"))
        elif name == "unlearn" and res is not None:
            doc.h(2, f"{title} (Figure 3)")
            doc.image(pdir / "figure3.png", "unlearning curves")
            doc.table(unlearn_table(res, part["timing"]))
        elif name.startswith("sweep-") and res is not None:
            doc.h(2, f"{title}")
            doc.image(pdir / f"{name}.png", "final validation accuracy over the weight grid")
            doc.table(sweep_table(res))
        elif name == "landscape" and res is not None:
            doc.h(2, f"{title}")
            doc.image(pdir / "landscape.png", "Hessian trace ratios")
            doc.table(landscape_table(res))
        elif name == "embed" and part["embedding"] is not None:
            doc.h(2, f"{title}")
            doc.image(pdir / "embedding.png", "t-SNE of clean and poisoned data")
        elif name == "noise" and res is not None:
            _noise_section(doc, d, part)
        elif name == "noise-unlearn" and res is not None:
            doc.h(3, f"{d.upper()}: unlearning under noise")
            doc.p("Every method from the models trained on the poisoned data, the noisy QNNs beside the noiseless "
                  "one and the MLP (final step; mean ± std over runs). The second table gives what a device "
                  "would reveal: the same metrics from outputs estimated with N measurements.")
            doc.table(unlearn_table(res, part["timing"]))
            shots = shots_table(res)
            if len(shots):
                doc.table(shots)
    return doc


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
                                  (f"mia_auc_shots{n}", f"MIA AUC, {n} shots")):
                v = g[g["metric"] == metric]["value"]
                row[label] = _pm(v.mean(), v.std()) if len(v) else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def _noise_section(doc: "_Doc", d: str, part: dict) -> None:
    from .experiments.noise import standard_errors

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


def write(path: str | Path) -> tuple[Path, Path, list[Claim]]:
    """Write ``report.md`` and ``report.html`` into the run directory ``path``; return their paths and the claims."""
    run = load(path)
    found = claims(run)
    doc = build(run, found)
    md, page = run.path / "report.md", run.path / "report.html"
    atomic_write_text(md, "\n\n".join(doc.md) + "\n")
    atomic_write_text(page, "<!doctype html><html><head><meta charset='utf-8'><title>qunlearn report</title>"
                      f"<style>{_CSS}</style></head><body>" + "\n".join(doc.html) + "</body></html>\n")
    return md, page, found
