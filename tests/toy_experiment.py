"""A toy experiment that only the tests register: everything a new experiment needs is this file and one
line, ``ql.register(EXPERIMENT)``; nothing in the package is edited.

It draws ``n`` bootstrap samples of the training labels (a cell each) and reports their mean: a table, a
figure, a report section and a claim (number 90: the labels are balanced).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

import numpy as np
import pandas as pd

import qunlearn as ql
from qunlearn import commands as cmd
from qunlearn.experiments.common import Result, StoredRun, open_run, read_tables, run_cells, stored_config

NAME = "toy"


@dataclass(frozen=True)
class ToyConfig:
    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    n: int = 3
    scale: float = 1.0

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= 100:
            raise ql.InputError(f"n must be an integer in 1..100, got {self.n!r}", path="n")
        if not isinstance(self.scale, (int, float)) or not math.isfinite(self.scale):
            raise ql.InputError(f"scale must be a finite number, got {self.scale!r}", path="scale")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ToyConfig":
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ql.InputError(f"unknown config key {unknown[0]!r}; known keys there: "
                                f"{', '.join(sorted(cls.__dataclass_fields__))}", path=unknown[0])
        return cls(**d)

    def replace(self, **changes) -> "ToyConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class Cell:
    draw: int

    @property
    def id(self) -> str:
        return f"draw-{self.draw}"

    @property
    def label(self) -> str:
        return f"draw {self.draw}"


def cells(cfg: ToyConfig) -> list[Cell]:
    return [Cell(i) for i in range(cfg.n)]


def run_cell(cfg: ToyConfig, ds, cell: Cell) -> pd.DataFrame:
    rng = np.random.default_rng(cell.draw)
    idx = rng.integers(0, len(ds.y_train), len(ds.y_train))
    return pd.DataFrame({"dataset": [cfg.dataset], "draw": [cell.draw], "metric": ["label_mean"],
                         "value": [cfg.scale * float(ds.y_train[idx].mean())]})


class ToyResult(Result):
    def __init__(self, cfg, run_dir, results):
        super().__init__(cfg, run_dir)
        self.results = results

    def build_figures(self, title=None, **options) -> dict:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4, 3))
        ax = fig.subplots()
        ax.plot(self.results["draw"], self.results["value"], "o")
        ax.set_title(title or "toy draws")
        return {"toy": fig}


def run(cfg: ToyConfig, workdir, *, fresh=False, executor=None, on_cell=None) -> ToyResult:
    from qunlearn import data

    ds = data.load(cfg.dataset, **cfg.data_options)
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    run_dir.start()
    todo = cells(cfg)
    tables = run_cells(run_dir, executor, todo, run_cell, (cfg, ds), on_cell)
    results = pd.concat([tables[c.id] for c in todo], ignore_index=True)
    run_dir.write_table("results.csv", results)
    return ToyResult(cfg, run_dir, results)


def read_result(directory, record) -> ToyResult | None:
    tables, cfg = read_tables(directory, "results.csv"), stored_config(ToyConfig, record.get("config", {}))
    return None if tables is None or cfg is None else ToyResult(cfg, StoredRun(directory), tables[0])


def _balanced(dataset, res, part):
    from qunlearn.report import HELD, NOT_HELD, UNTESTED, Claim

    statement, rule = "The training labels are balanced.", "mean label of the draws within 0.1 of 0.5"
    v = res[res["metric"] == "label_mean"]["value"] if "metric" in res else res
    if not len(v):
        return Claim(90, dataset, statement, rule, "needs the toy draws", UNTESTED)
    m = float(v.mean())
    return Claim(90, dataset, statement, rule, f"mean label {m:.3f}", HELD if abs(m - 0.5) <= 0.1 else NOT_HELD)


def toy_command(
    n: Optional[int] = cmd.option(None, help="bootstrap draws [quick 3, paper 10]"),
    out_dir: str = cmd.option("runs/toy", "--out", help="run directory"),
    common: cmd.Common = None,
):
    """Bootstrap means of the training labels."""
    cmd.run(NAME, common, "mnist", out_dir, n=n)


class Toy(ql.Experiment):
    name = "toy"
    title = "bootstrap means of the labels"
    section = "toy"
    config_class = ToyConfig
    runner = __name__
    kind = NAME
    opt_in = True  # not part of the paper's study: runs only when asked for
    claims = (ql.ClaimRule(90, "toy", _balanced),)
    commands = {"toy": toy_command}  # qunlearn toy --n 5

    def preset(self, section, preset, dataset):
        return ToyConfig(dataset=dataset, data_options=dict(section["poison"]["data_options"]),
                         n=3 if preset == "quick" else 10).to_dict()

    def estimate_seconds(self, part, ds) -> float:
        return 0.01 * part.cfg.n

    def setup_line(self, dataset, dirname, cfg):
        return f"{dataset}/{dirname}: {cfg['n']} bootstrap draws"

    def report(self, doc, dataset, dirname, part, run):
        if part["results"] is not None:
            doc.h(2, f"{dataset.upper()}: toy draws")
            doc.image(part["dir"] / "toy.png", "the draws")
            doc.table(part["results"])


EXPERIMENT = Toy()
