r"""The study under device noise: the alpha sweep of noisy QNNs beside the noiseless QNN and the MLP.

The part ``noise`` of ``qunlearn reproduce`` is two experiments: this one, the
alpha sweep (a :class:`qunlearn.config.PoisonConfig` whose models include
QNNs with a ``noise`` table, see :mod:`qunlearn.noise`), and the unlearning
experiment on the same kinds of models (``noise-unlearn``, an
:class:`qunlearn.config.UnlearnConfig` whose ``shots`` add membership inference
and poison memory measured from finite-shot outputs). Within the part every
model sees the same data, poisoning and seeds, and the QNNs share one
schedule, so their curves differ only in the noise. The presets run it at
reduced sizes on quick (see qunlearn/presets/quick.toml), with metrics
evaluated before and after training only (they cost the trajectories).

Tables: ``results.csv`` and ``history.csv`` as the alpha sweep writes them; a
noisy QNN also reports ``val_z_se``, the standard error of its measured
:math:`\langle Z\rangle` on the validation states (trajectories and shots).
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from ..config import PoisonConfig
from . import poisoning
from .common import drop_diverged, open_run

NAME = "noise"


def cells(cfg: PoisonConfig) -> list:
    return poisoning.cells(cfg)


class NoiseResult(poisoning.PoisonResult):
    """The alpha sweep under noise: its own figure (one curve per noise level) and the noise's standard error."""

    def build_figures(self, title: str | None = None) -> dict:
        """``{"noise": figure}`` built in memory (empty if every run diverged); nothing written."""
        from .. import plots

        res = drop_diverged(self.results)
        if res.empty:
            return {}
        labels = {name: _label(name, mc) for name, mc in self.cfg.models.items()}
        return {"noise": plots.make_noise_figure(
            res, labels, title=title or f"{self.cfg.dataset.upper()}: poisoning under device noise")}

    def figures(self, title: str | None = None) -> list:
        from .. import plots

        return plots.save_figures(self.build_figures(title), self.path)

    def summary(self) -> list:
        out = super().summary()
        se = standard_errors(self.results)
        if len(se):
            out.append(("standard error of the measured <Z> on the validation states (trajectories and shots), "
                        "mean over states and runs", se))
        return out


def _label(name: str, mc) -> str:
    """A legend entry: the model's name and its noise channels (or "noiseless"), or the model's description."""
    noise = getattr(mc.spec, "noise", None)
    if noise is None:
        return f"{name} (noiseless)" if hasattr(mc.spec, "noise") else f"{name}: {mc.describe()}"
    channels = ", ".join(f"{k} {getattr(noise, k):g}" for k in ("p1", "p2", "gamma", "readout") if getattr(noise, k))
    return f"{name}: {channels}" + ("" if noise.shots is None else f", {noise.shots} shots")


def standard_errors(results: pd.DataFrame) -> pd.DataFrame:
    """``val_z_se`` of every noisy model at the last epoch: its mean and largest value over the (alpha, run)
    results, and how many there are."""
    se = results[results["metric"] == "val_z_se"]
    if se.empty:
        return pd.DataFrame()
    g = se.groupby("model", sort=False)["value"]
    return pd.DataFrame({"mean se of <Z>": g.mean().round(4), "largest": g.max().round(4),
                         "alphas x runs": g.size()}).reset_index()


def run(cfg: PoisonConfig, workdir, *, fresh: bool = False, executor=None,
        on_cell: Callable | None = None) -> NoiseResult:
    """Run every unfinished cell of the sweep under noise into ``workdir``; return its tables."""
    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    res = poisoning.sweep(cfg, run_dir, executor, on_cell)
    return NoiseResult(cfg, run_dir, res.history)


def read_result(directory, record: dict) -> NoiseResult | None:
    """The result of a finished sweep under noise, read from its directory (None while it is unfinished)."""
    from .common import StoredRun, read_tables, stored_config

    tables, cfg = read_tables(directory, "history.csv"), stored_config(PoisonConfig, record.get("config", {}))
    return None if tables is None or cfg is None else NoiseResult(cfg, StoredRun(directory), tables[0])
