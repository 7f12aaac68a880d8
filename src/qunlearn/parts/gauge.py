"""The gauge study (XXZ): the alpha sweep's MLPs again, every state in the other global phase."""

from __future__ import annotations

from pathlib import Path

from .._lazy import lazy
from ..registry import Experiment, Step

pd = lazy("pandas")


def _gauge_section(doc, d: str, part: dict, reference_res: pd.DataFrame | None) -> None:
    from ..experiments import gauge

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


class Gauge(Experiment):
    name = "gauge"
    title = "the alpha sweep's MLPs in the other gauge (XXZ)"
    section = None  # the alpha sweep's config, the states in the other gauge
    runner = "qunlearn.experiments.gauge"
    kind = "gauge"
    datasets = ("xxz",)

    def derive(self, typed, where):
        from ..errors import InputError
        from ..config import GaugeConfig

        try:
            return GaugeConfig(typed["poison"])
        except InputError as e:
            raise InputError(f"{where}.parts: {e}", path=f"{where}.parts") from None

    def steps(self, value, typed, base: Path, **plan_options) -> list[Step]:
        return [Step(self.name, self.runner, value, options={"reference_from": base / "poison"})]

    def estimate_seconds(self, part, ds) -> float:
        from .poison import train_seconds

        return train_seconds(part.cfg.other(), ds)

    def report(self, doc, dataset, dirname, part, run) -> None:
        if part["results"] is not None:
            _gauge_section(doc, dataset, part, run.parts.get((dataset, "poison"), {}).get("results"))


EXPERIMENT = Gauge()
