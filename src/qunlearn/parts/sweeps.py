"""Weight sweeps of SCRUB and gradient ascent: final validation accuracy over a grid of loss weights."""

from __future__ import annotations

from typing import Optional

from pathlib import Path

from .._lazy import lazy
from .. import commands as cmd
from ..commands import Common
from ..registry import Experiment, Step

pd = lazy("pandas")


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


# ----------------------------------------------------------------- its command


def sweep_command(
    method: str = cmd.argument(help="scrub (grid over kl_w x fo_w) or gradient_ascent (grid over fo_w)"),
    dataset: str = cmd.DATASET,
    model: Optional[str] = cmd.MODEL,
    attack: Optional[str] = cmd.option(None, help="label-flip or feature-randomization [label-flip]"),
    alpha: Optional[str] = cmd.option(None, help="noise ratio of the poisoning to unlearn [0.3]"),
    grid: Optional[str] = cmd.option(None, help="weight values: start:stop:step or a comma list [the config "
                                                "file's, else the preset's: paper 0:0.9:0.1, quick 0,0.45,0.9]"),
    runs: Optional[int] = cmd.RUNS,
    out_dir: Optional[str] = cmd.option(None, "--out", help="run directory [runs/sweep-METHOD]"),
    epochs: Optional[int] = cmd.option(None, help="unlearning epochs (all models)"),
    train_epochs: Optional[int] = cmd.option(None, help="epochs of training the model to unlearn"),
    seed: Optional[int] = cmd.SEED,
    common: Common = None,
):
    """Weight sweep of SCRUB or gradient ascent: final validation accuracy over the grid."""
    from ..config import SWEEPS
    from ..errors import InputError
    from ..parsing import check_weight, parse_grid
    from .unlearn import unlearning_flags

    if method not in SWEEPS:
        raise InputError(f"no weight sweep for {method!r}; use one of {', '.join(SWEEPS)}")
    values = None if grid is None else parse_grid(grid, "weight", "--grid", check_weight)
    cmd.run("sweeps", common, dataset, out_dir if out_dir is not None else f"runs/sweep-{method}",
            models=cmd.model_list(model, common, dataset, "sweeps"), method=method, grid=values,
            **unlearning_flags(attack, alpha, None, runs, seed), epochs=epochs, train_epochs=train_epochs)


class Sweeps(Experiment):
    name = "sweeps"
    title = "weight sweeps of SCRUB and gradient ascent"
    section = "sweeps"
    runner = "qunlearn.experiments.sweeps"
    kind = "sweep"
    commands = {"sweep": sweep_command}
    models_section = "unlearn"  # a sweep unlearns the unlearning experiment's models
    model_keys = {"epochs": ("unlearn", "epochs"), "train_epochs": ("train", "epochs")}

    def overrides(self, fields):
        """``methods``/``method`` and ``grid`` are the sweep's own; the rest (attack, alpha, runs, ...) its
        unlearning's."""
        fields = dict(fields)
        if "method" in fields:
            fields["methods"] = [fields.pop("method")]
        own = {k: fields.pop(k) for k in ("methods", "grid") if k in fields}
        return {k: v for k, v in (("sweeps", own), ("unlearn", fields)) if v}

    def models_of(self, value):
        return next(iter(value.values())).unlearn.models

    def with_models(self, value, models):
        from ..config import SweepConfig

        return {m: SweepConfig(c.unlearn.replace(models=models), c.method, c.grid) for m, c in value.items()}

    def parse(self, raw, typed, where, dataset):
        from ..config import SWEEPS, SweepConfig
        from ..errors import InputError, check_choices

        if not isinstance(raw, dict):
            raise InputError(f"{where} must be a table with methods and grid", path=where)
        unknown = set(raw) - {"methods", "grid"}
        if unknown:
            key = sorted(unknown)[0]
            raise InputError(f"unknown config key {where}.{key!r}; known keys there: grid, methods",
                             path=f"{where}.{key}")
        try:
            methods = check_choices(raw.get("methods", []), tuple(SWEEPS), "weight sweep", field="methods")
            return {m: SweepConfig(typed["unlearn"], m, tuple(raw.get("grid", []))) for m in methods}
        except InputError as e:
            raise e.within(where) from None

    def dump(self, value):
        sweeps = list(value.values())
        return {"methods": list(value), "grid": list(sweeps[0].grid) if sweeps else []}

    def overridden(self, preset_tree, section):
        """The sweep's unlearning config and grid; its method list is the sweep's own."""
        from ..registry import _changed_names
        from ..runs import _diff

        sweep = next(iter(section["sweeps"].values()))
        before = {**preset_tree["unlearn"], "grid": preset_tree["sweeps"]["grid"], "methods": None, "weights": None}
        after = {**sweep.unlearn.to_dict(), "grid": list(sweep.grid), "methods": None, "weights": None}
        return _changed_names(_diff(before, after))

    def steps(self, value, typed, base: Path, **plan_options) -> list[Step]:
        return [Step(f"sweep-{m}", self.runner, cfg, options={"models_from": base / "unlearn"})
                for m, cfg in value.items()]

    def single(self, value):
        (method, cfg), = value.items()
        return Step(f"sweep-{method}", self.runner, cfg)

    def owns(self, dirname):
        return dirname.startswith("sweep-")

    def dir_name(self, record):
        return f"sweep-{record.get('sweep', {}).get('method', '?')}"

    def order(self, dirname):
        from ..config import SWEEPS

        return list(SWEEPS).index(dirname[6:]) if dirname[6:] in SWEEPS else len(SWEEPS)

    def cells(self, part) -> int:
        return len(part.module.cells(part.cfg)) + len(part.cfg.models)

    def headline(self, value):
        (method, cfg), = value.items()
        return f"{cfg.dataset.upper()} {method} weight sweep (alpha={cfg.unlearn.alpha})"

    def estimate_seconds(self, part, ds) -> float:
        from ..progress import train_seconds, unlearn_seconds

        cfg = part.cfg
        u, n = cfg.unlearn, len(cfg.grid)
        settings = n * n if cfg.method == "scrub" else n
        borrowed = "models_from" in part.options
        return sum((0 if borrowed else train_seconds(mc, ds, u.runs, u.precision))
                   + unlearn_seconds(mc, ds, u.runs, u.precision, u.alpha, settings, method=cfg.method,
                                     sched=mc.unlearn.ends_only())  # as the sweep's program runs it
                   for mc in u.models.values())

    def setup_line(self, dataset, dirname, cfg):
        return (f"{dataset}/{dirname}: grid {', '.join(f'{g:g}' for g in cfg.get('sweep', {}).get('grid', []))}; "
                f"{cfg.get('runs')} runs")

    def report(self, doc, dataset, dirname, part, run) -> None:
        if part["results"] is None:
            return
        doc.h(2, f"{dataset.upper()}: {dirname}")
        doc.image(part["dir"] / f"{dirname}.png", "final validation accuracy over the weight grid")
        doc.table(sweep_table(part["results"]))


EXPERIMENT = Sweeps()
