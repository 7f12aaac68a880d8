r"""The gauge study: the alpha sweep again in the other gauge of the XXZ states, for the models that can tell.

A ground state is defined only up to a global phase :math:`e^{i\varphi}`.
A QNN's output :math:`\langle\psi|W^\dagger Z W|\psi\rangle` cannot see it
(its spec says ``phase_invariant``), so only the other models (the MLPs, which
read real and imaginary parts) are trained again, on the same grid with every
state in the other gauge (``random`` <-> ``fixed``, see
:mod:`qunlearn.data.xxz`). Everything else (poisoning, seeds, schedules) is the
reference sweep's, so the two sweeps differ only in the gauge: a few minutes
of MLP training, not a second sweep.

Tables: ``results.csv`` and ``history.csv`` of the other-gauge sweep, as the
alpha sweep writes them, with a column ``phase``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..config import PoisonConfig
from ..errors import InputError
from . import poisoning
from .common import open_run

NAME = "gauge"
OTHER = {"random": "fixed", "fixed": "random"}


@dataclass(frozen=True)
class GaugeConfig:
    """The reference alpha sweep (XXZ); the gauge study reruns its phase-sensitive models in the other gauge."""

    reference: PoisonConfig

    def __post_init__(self):
        if self.reference.dataset != "xxz":
            raise InputError(f"the gauge study is about the global phase of XXZ states, not {self.reference.dataset!r}; "
                             "remove 'gauge' from the parts of this dataset")
        if self.phase not in OTHER:
            raise InputError(f"unknown XXZ phase {self.phase!r}; use one of {', '.join(OTHER)} "
                             "(the global phase of each state)")
        if not any(not mc.spec.phase_invariant for mc in self.reference.models.values()):
            raise InputError("the gauge study needs a model that can see a global phase (an MLP) in the alpha sweep")

    @property
    def dataset(self) -> str:
        return self.reference.dataset

    def __getattr__(self, name):  # data_options, models, runs, precision: those of the sweep it runs
        if name in ("data_options", "models", "runs", "precision"):
            return getattr(self.other(), name)
        raise AttributeError(name)

    @property
    def phase(self) -> str:
        return self.reference.data_options.get("phase", "fixed")

    def other(self) -> PoisonConfig:
        """The sweep this study runs: the phase-sensitive models, every state in the other gauge."""
        ref = self.reference
        return ref.replace(models={n: m for n, m in ref.models.items() if not m.spec.phase_invariant},
                           data_options={**ref.data_options, "phase": OTHER[self.phase]})

    def to_dict(self) -> dict[str, Any]:
        return {"reference_phase": self.phase, **self.other().to_dict()}


def cells(cfg: GaugeConfig) -> list:
    return poisoning.cells(cfg.other())


class GaugeResult(poisoning.PoisonResult):
    """The other-gauge sweep; with the reference sweep's results (``reference``) it draws both gauges."""

    reference: pd.DataFrame | None = None
    ref_phase: str = "random"

    def figures(self, title: str | None = None) -> list:
        from .. import plots

        if self.reference is None:
            return []
        table = compare(self.reference, self.results, self.ref_phase)
        qnn = self.reference[self.reference["model"] == "qnn"]
        return plots.gauge_figure(table, self.path / "gauge", self.ref_phase, qnn if len(qnn) else None,
                                  title=title or f"{self.cfg.dataset.upper()}: the MLP in both gauges of the states")

    def summary(self) -> list:
        return [(f"{t} ({self.cfg.data_options['phase']} gauge)", table) for t, table in super().summary()]


def run(cfg: GaugeConfig, workdir, *, fresh: bool = False, executor=None, on_cell: Callable | None = None,
        reference_from: str | Path | None = None) -> GaugeResult:
    """Train the reference sweep's phase-sensitive models in the other gauge into ``workdir``.

    ``reference_from``: the reference sweep's run directory, whose ``results.csv``
    the result sets beside its own (figure, summary of the sensitivity).
    """
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    other = cfg.other()
    res = poisoning.sweep(other, run_dir, executor, on_cell)
    out = GaugeResult(other, run_dir, res.history)
    out.ref_phase = cfg.phase
    ref = Path(reference_from) / "results.csv" if reference_from is not None else None
    if ref is not None and ref.exists():
        out.reference = pd.read_csv(ref)
    return out


def sensitivity(table: pd.DataFrame, ref_phase: str) -> list[str]:
    """Sentences stating the gauge sensitivity with numbers, from :func:`compare` (model ``mlp``)."""
    other = OTHER[ref_phase]
    lines = []
    for attack, alpha, metric, what in (("label-flip", 0.3, "train_acc", "training accuracy on the flipped labels"),
                                        ("label-flip", 0.3, "val_acc", "clean validation accuracy"),
                                        ("feature-randomization", 0.9, "val_acc", "clean validation accuracy")):
        row = table[(table["model"] == "mlp") & (table["attack"] == attack) & (table["metric"] == metric)
                    & ((table["alpha"] - alpha).abs() < 1e-9)]
        if len(row):
            r = row.iloc[0]
            lines.append(f"{attack} alpha {alpha:g}: MLP {what} {r[ref_phase]:.3f} with the {ref_phase} gauge, "
                         f"{r[other]:.3f} with the {other} gauge")
    sub = table[table["model"] == "mlp"]
    if len(sub):
        gap = (sub[ref_phase] - sub[other]).abs()
        lines.append(f"largest difference over the grid: {gap.max():.3f} (mean {gap.mean():.3f}); the QNN cannot see a "
                     "global phase, so its numbers are the same in either gauge")
    return lines


def compare(reference: pd.DataFrame, other: pd.DataFrame, ref_phase: str) -> pd.DataFrame:
    """Final-epoch means of both gauges side by side: one row per (model, attack, alpha, metric)."""
    metrics = ["train_acc", "val_acc"]
    both = []
    for table, phase in ((reference, ref_phase), (other, OTHER[ref_phase])):
        t = table[table["metric"].isin(metrics) & table["model"].isin(other["model"].unique())]
        both.append(t.groupby(["model", "attack", "alpha", "metric"])["value"].mean().rename(phase))
    return pd.concat(both, axis=1).reset_index()
