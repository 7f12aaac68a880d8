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

from ._lazy import lazy
from .errors import InputError
from .runs import atomic_write_text

np = lazy("numpy")
pd = lazy("pandas")


HELD, NOT_HELD, UNTESTED = "held", "not held", "not tested"


# ------------------------------------------------------------------ reading a run


@dataclass
class RunTables:
    path: Path
    config: dict
    versions: dict
    parts: dict = field(default_factory=dict)  # (dataset, part) -> {"dir": Path, "results": DataFrame, ...}


_NEEDED = {"results.csv": ("metric", "value"), "timing.csv": ("metric", "value"), "embedding.csv": ("panel", "x", "y")}


def read_table(path: Path) -> pd.DataFrame | None:
    """A table qunlearn wrote, None if absent; a garbled table or one without the columns qunlearn writes is
    refused (:class:`InputError`, with what rebuilds it)."""
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a readable table ({type(e).__name__}); {_rebuild_advice(path)}") from None
    missing = [c for c in _NEEDED.get(path.name, ()) if c not in table.columns]
    if missing:
        raise InputError(f"{path} is not a qunlearn table (no {', '.join(missing)} column); {_rebuild_advice(path)}")
    return table


def _rebuild_advice(path: Path) -> str:
    """What brings a damaged table back: a plain rerun where the run keeps the cells it is built from."""
    cells = path.parent / "cells"
    if path.name != "embedding.csv" and cells.is_dir() and any(cells.glob("*.csv")):
        return ("rerun the same command that wrote it: the table is rebuilt from the finished cells, which are "
                "kept, and nothing is computed again")
    return "rerun the same command that wrote it: it computes that table again"


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
        part[name] = read_table(d / f"{name}.csv")
    part["diverged"] = None
    if part["results"] is not None and "run" in part["results"]:
        from .experiments.common import diverged_runs, drop_diverged

        part["diverged"] = diverged_runs(part["results"])  # reported, then never averaged
        part["results"] = drop_diverged(part["results"])
    part["embedding"] = read_table(d / "embedding.csv")
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
        from .runs import dataset_dir

        for dataset in run.config:
            base = path / dataset_dir(dataset)
            for sub in sorted(base.glob("*")) if base.is_dir() else []:
                part = _read_part(sub)
                if part is not None:
                    run.parts[(dataset, sub.name)] = part
    else:
        from .registry import by_kind

        part = _read_part(path)
        dataset = part["config"].get("dataset", "?")
        owner = by_kind(part["experiment"])
        name = owner.dir_name(part["config"]) if owner is not None else str(part["experiment"])
        run.parts[(dataset, name)] = part
    if not any(p["results"] is not None or p["embedding"] is not None for p in run.parts.values()):
        raise InputError(f"{str(path)!r} has no finished results yet; run or resume the experiment first")
    return run


# ------------------------------------------------------------------ claims


@dataclass
class Claim:
    """A claim tested on a run: ``status`` is held, not held or not tested (``held``: True, False or None)."""

    number: int
    dataset: str
    statement: str
    rule: str
    evidence: str
    status: str

    @property
    def id(self) -> str:
        """``<dataset>/<number>``, e.g. ``mnist/1`` (the numbers of docs/PROTOCOL.md)."""
        return f"{self.dataset}/{self.number}"

    @property
    def held(self) -> bool | None:
        return {HELD: True, NOT_HELD: False}.get(self.status)


def _means(results: pd.DataFrame, metric: str, **where) -> pd.Series:
    t = results[results["metric"] == metric]
    for k, v in where.items():
        t = t[t[k] == v]
    return t.groupby("alpha")["value"].mean()


def _runs(results: pd.DataFrame, metric: str, alpha: float | None = None, **where) -> np.ndarray:
    """The per-run values of ``metric`` (at ``alpha``, if given; else each run's mean over the alphas)."""
    t = results[results["metric"] == metric]
    for k, v in where.items():
        t = t[t[k] == v]
    if alpha is not None:
        t = t[np.isclose(t["alpha"].to_numpy(dtype=float), alpha)]
    return t.groupby("run")["value"].mean().to_numpy(dtype=float)


def compare_runs(a, b) -> int | None:
    r"""Which of two means over runs is larger, or 0 for a tie: the claims' rule for comparing two models.

    The means differ when :math:`|\bar a - \bar b| > \sqrt{s_a^2 / n_a + s_b^2 / n_b}`, the standard error of
    the difference (``s`` the sample standard deviation, taken as 0 for a single run), and the difference is
    not 0. Otherwise the difference lies within the runs' spread: a tie, which a claim reports as not tested at
    this size, never as held or not held. Returns 1 (a larger), -1 (b larger), 0 (tie) or None (no values).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not a.size or not b.size or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    var = lambda x: float(np.var(x, ddof=1)) / x.size if x.size > 1 else 0.0  # noqa: E731
    diff = float(a.mean() - b.mean())
    if diff == 0 or abs(diff) <= math.sqrt(var(a) + var(b)):
        return 0
    return 1 if diff > 0 else -1


class Verdict:
    """A claim's status built from its conditions: a failed condition makes it not held; otherwise a tie (a
    comparison within the runs' spread) makes it not tested, with the ties named; otherwise held."""

    def __init__(self):
        self.failed, self.ties = False, []

    def check(self, ok: bool) -> bool:
        self.failed |= not ok
        return ok

    def order(self, what: str, a, b, want: int, allow_equal: bool = False) -> int | None:
        """Require ``compare_runs(a, b) == want`` (or a tie, with ``allow_equal``); a tie is recorded."""
        c = compare_runs(a, b)
        if c == 0 and not allow_equal:
            self.ties.append(f"{what}: {_pm(np.mean(a), _std(a))} vs {_pm(np.mean(b), _std(b))}")
        elif c is not None and c != 0:
            self.check(c == want)
        return c

    def status(self) -> str:
        return NOT_HELD if self.failed else UNTESTED if self.ties else HELD

    def note(self) -> str:
        """The reason a tie leaves the claim not tested ('' without ties)."""
        if not self.ties or self.failed:
            return ""
        return ("; not tested at this size: a tie within the runs' spread (difference of the means not larger "
                "than its standard error) in " + "; ".join(self.ties))


def _std(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.std(x, ddof=1)) if x.size > 1 else math.nan


def _at(series: pd.Series, alpha: float) -> float:
    hit = series[np.isclose(series.index.to_numpy(dtype=float), alpha)]
    return float(hit.iloc[0]) if len(hit) else math.nan


def _fmt_series(s: pd.Series) -> str:
    return ", ".join(f"{a:.1f}: {v:.3f}" for a, v in s.items())


_EMPTY_COLUMNS = ["model", "attack", "alpha", "method", "step", "run", "metric", "value"]


def claims(run: RunTables) -> list[Claim]:
    """Every claim of every registered experiment, for every dataset of the run: held, not held, or not
    tested with the reason. An opt-in experiment's claims are tested only when the run has its part."""
    from .registry import experiments

    out = []
    for d in sorted({d for d, _ in run.parts}):
        for exp in experiments().values():
            for rule in exp.claims:
                part = run.parts.get((d, rule.needs))
                if exp.opt_in and part is None:
                    continue
                res = None if part is None else part.get("results")
                claim = rule.test(d, pd.DataFrame(columns=_EMPTY_COLUMNS) if res is None else res, part or {})
                if res is None:
                    claim.evidence = f"this run has no {rule.needs} results for {d.upper()}: {claim.evidence}"
                    claim.status = UNTESTED
                out.append(claim)
    return sorted(out, key=lambda c: (c.dataset, c.number))


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


# ------------------------------------------------------------------ rendering


def _md_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pandas through tabulate); a literal ``|`` in a cell is escaped."""
    cells = df.astype(str).map(lambda v: v.replace("|", "\\|"))
    cells.columns = [str(c).replace("|", "\\|") for c in df.columns]
    return cells.to_markdown(index=False, tablefmt="pipe", disable_numparse=True)


def _html_table(df: pd.DataFrame) -> str:
    """An HTML table (pandas), every cell escaped."""
    return df.astype(str).to_html(index=False, border=0, escape=True, classes="results").replace(
        ' style="text-align: right;"', "")


class Doc:
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
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}\
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
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
        owner = _owner(name)
        line = None if owner is None else owner.setup_line(d, name, part["config"])
        if line:
            lines.append(line)
    v = run.versions
    lines.append("versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)))
    return lines


def _owner(dirname: str):
    from .registry import owner

    return owner(dirname)


def _ordered(run: RunTables):
    """Parts in pipeline order (the registry's, then each experiment's own), dataset by dataset."""
    from .registry import names

    order = {n: i for i, n in enumerate(names())}

    def key(kv):
        (d, name), owner = kv[0], _owner(kv[0][1])
        return (d, len(order) if owner is None else order[owner.name], 0 if owner is None else owner.order(name), name)

    return sorted(run.parts.items(), key=key)


def build(run: RunTables, found: list[Claim]) -> Doc:
    doc = Doc(run.path)
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
        bad = part.get("diverged")
        if bad is not None and len(bad):
            doc.p(f"{d.upper()} {name}: runs whose loss became non-finite are excluded from every number below: "
                  + "; ".join(", ".join(f"{k} {v}" for k, v in r.items() if k not in ("runs", "diverged"))
                              + f": {r['diverged']} of {r['runs']} runs" for r in bad.to_dict("records")) + ".")
        owner = _owner(name)
        if owner is not None:
            owner.report(doc, d, name, part, run)
    return doc


def write(path: str | Path, wait: bool = False) -> tuple[Path, Path, list[Claim]]:
    """Write ``report.md`` and ``report.html`` into the run directory ``path``; return their paths and the claims.

    A run directory another command is writing is refused (``wait``: waited for)."""
    from . import locks
    from .runs import read_record

    path = Path(path)
    if read_record(path) is None:  # not a run: say what is wrong, and take no lock in a folder of the user's
        load(path)
        raise InputError(f"{str(path)!r} holds no qunlearn run; pass the --out of a finished run")
    if not wait:
        locks.check_free(path)  # a run another command is writing is refused as in use (a read-only probe) ...
        load(path)  # ... and a run with nothing to report is refused before its lock is taken
    with locks.scope(wait=wait):
        locks.take(path)
        run = load(path)  # as it is now that nobody else writes it
        found = claims(run)
        doc = build(run, found)
        md, page = run.path / "report.md", run.path / "report.html"
        from .runs import own_report

        for f in (md, page):
            if f.exists() and not own_report(f):
                raise InputError(f"{f} was not written by qunlearn; it deletes or overwrites only its own files: "
                                 "move it away, then rerun")
        atomic_write_text(md, "\n\n".join(doc.md) + "\n")
        atomic_write_text(page, "<!doctype html><html><head><meta charset='utf-8'><title>qunlearn report</title>"
                          f"<style>{_CSS}</style></head><body>" + "\n".join(doc.html) + "</body></html>\n")
    return md, page, found
