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

from pathlib import Path
from typing import Callable

import pandas as pd

from ..config import GAUGES, GaugeConfig, PoisonConfig  # noqa: F401  (GaugeConfig: the config this runs)
from . import poisoning
from .common import open_run

NAME = "gauge"
OTHER = GAUGES  # an XXZ gauge -> the other one


def cells(cfg: GaugeConfig) -> list:
    return poisoning.cells(cfg.other())


class GaugeResult(poisoning.PoisonResult):
    """The other-gauge sweep; with the reference sweep's results (``reference``) it draws both gauges."""

    reference: pd.DataFrame | None = None
    ref_phase: str = "random"

    def build_figures(self, title: str | None = None) -> dict:
        """``{"gauge": figure}`` built in memory (empty without the reference sweep); nothing written."""
        from .. import plots

        if self.reference is None:
            return {}
        table = compare(self.reference, self.results, self.ref_phase)
        qnn = self.reference[self.reference["model"] == "qnn"]
        return {"gauge": plots.make_gauge_figure(
            table, self.ref_phase, qnn if len(qnn) else None,
            title=title or f"{self.cfg.dataset.upper()}: the MLP in both gauges of the states")}

    def figures(self, title: str | None = None) -> list:
        from .. import plots

        return plots.save_figures(self.build_figures(title), self.path)

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


def read_result(directory, record: dict) -> GaugeResult | None:
    """The result of a finished gauge study, read from its directory (with its reference sweep's results, where
    the sweep is its sibling ``poison`` in a study)."""
    from .common import StoredRun, read_tables, stored_config

    stored = {k: v for k, v in record.get("config", {}).items() if k != "reference_phase"}
    tables, cfg = read_tables(directory, "history.csv"), stored_config(PoisonConfig, stored)
    if tables is None or cfg is None:
        return None
    out = GaugeResult(cfg, StoredRun(directory), tables[0])
    ref = Path(directory).parent / "poison" / "results.csv"
    if ref.exists():
        out.reference = pd.read_csv(ref)
    return out
