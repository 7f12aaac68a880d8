"""The whole study as one config: named presets, TOML overrides, validation.

A *study* config says, per dataset, which parts run and with what settings::

    [mnist]
    parts = ["poison", "unlearn", "sweeps", "landscape", "embed"]
    [mnist.poison]            # a PoisonConfig: the alpha sweep (Figure 2), extra MLP widths included
    [mnist.unlearn]           # an UnlearnConfig: every method (Figure 3)
    [mnist.sweeps]            # methods = ["scrub", "gradient_ascent"], grid = [0.0, ..., 0.9]
    [mnist.landscape]         # a LandscapeConfig: Hessian traces
    [mnist.embed]             # attacks, alpha, seed, perplexity: t-SNE panels

Presets: ``paper-mnist`` and ``paper-xxz`` (PAPER.md settings) and ``quick``
(both datasets, minutes on a laptop). A TOML file overrides any field of a
preset; its optional top-level ``preset`` key names the preset it starts from.
A model added under ``models`` starts from the preset's model of the same
``kind`` (its name's prefix if ``kind`` is not given), so
``[mnist.poison.models.mlp-8-2] hidden = [8, 2]`` is a complete entry.
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import (
    DATASET_NAMES,
    LandscapeConfig,
    PoisonConfig,
    UnlearnConfig,
    landscape_preset,
    poison_preset,
    unlearn_preset,
)
from .errors import InputError, check_alpha, check_nonnegative
from .poison import ATTACKS
from .train import TrainConfig

STUDY_PRESETS = ("paper-mnist", "paper-xxz", "quick")
PARTS = ("poison", "unlearn", "sweeps", "landscape", "embed")
SWEEP_METHODS = ("scrub", "gradient_ascent")
WEIGHT_GRID = tuple(round(0.1 * i, 10) for i in range(10))

# PAPER.md, "Models": the extra MLP widths of the alpha sweeps.
EXTRA_WIDTHS = {"mnist": ((16, 4),), "xxz": ((32, 8), (16, 4), (8, 2), (8, 4))}


def width_name(hidden) -> str:
    return "mlp-" + "-".join(str(h) for h in hidden)


def _with_widths(cfg: PoisonConfig, widths) -> PoisonConfig:
    models = dict(cfg.models)
    for h in widths:
        models[width_name(h)] = replace(cfg.models["mlp"], hidden=tuple(h))
    return replace(cfg, models=models)


def _dataset_section(preset: str, dataset: str) -> dict[str, Any]:
    poison = _with_widths(poison_preset(preset, dataset), EXTRA_WIDTHS[dataset])
    unlearn = replace(unlearn_preset(preset, dataset), methods=tuple(_all_methods()))
    landscape = landscape_preset(preset, dataset)
    parts = list(PARTS) if dataset == "mnist" else [p for p in PARTS if p != "landscape"]
    sweeps = {"methods": list(SWEEP_METHODS), "grid": list(WEIGHT_GRID)}
    embed = {"attacks": list(ATTACKS), "alpha": 0.3, "seed": 0, "perplexity": 30.0}
    if preset == "quick":
        sweeps["grid"] = [0.0, 0.45, 0.9]
    return {
        "parts": parts,
        "poison": poison.to_dict(),
        "unlearn": unlearn.to_dict(),
        "sweeps": sweeps,
        "landscape": landscape.to_dict(),
        "embed": embed,
    }


def _all_methods():
    from .unlearn import METHODS

    return METHODS


def preset_study(name: str) -> dict[str, Any]:
    """The study config of a named preset, as a plain nested dict."""
    if name not in STUDY_PRESETS:
        raise InputError(f"unknown preset {name!r}; use one of {', '.join(STUDY_PRESETS)} (or paper / quick)")
    if name == "quick":
        return {d: _dataset_section("quick", d) for d in DATASET_NAMES}
    dataset = name.split("-", 1)[1]
    return {dataset: _dataset_section("paper", dataset)}


def preset_for(preset: str, datasets: tuple[str, ...]) -> dict[str, Any]:
    """``paper`` / ``quick`` / a full preset name, restricted to ``datasets``."""
    if preset == "paper":
        study = {}
        for d in datasets:
            study.update(preset_study(f"paper-{d}"))
        return study
    study = preset_study(preset)
    missing = [d for d in datasets if d not in study]
    if missing:
        raise InputError(f"preset {preset!r} has no {', '.join(missing)} section; use --preset paper or quick")
    return {d: study[d] for d in datasets}


# ------------------------------------------------------------------ overrides


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file; a missing or malformed file is refused in one line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {str(path)!r} does not exist; check the path or see 'qunlearn config show quick'")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"config file {str(path)!r} is not valid TOML ({e}); fix it or start from "
                         "'qunlearn config show quick > my.toml'") from None


def _merge(base: dict, over: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        here = f"{where}.{key}" if where else key
        if key not in out:
            if where.endswith(".models") and isinstance(value, dict):
                out[key] = _merge(_model_template(out, key, value, here), value, here)
                continue
            if where.endswith(".weights") or where.endswith("data_options"):
                out[key] = copy.deepcopy(value)
                continue
            known = ", ".join(sorted(out)) or "none"
            raise InputError(f"unknown config key {here!r}; known keys there: {known}")
        if isinstance(out[key], dict) and out[key] and not isinstance(value, dict):
            raise InputError(f"config key {here!r} is a table; write it as [{here}]")
        if isinstance(out[key], dict) and isinstance(value, dict) and (out[key] or not key.endswith("options")):
            out[key] = _merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _model_template(models: dict, name: str, entry: dict, where: str) -> dict:
    kind = entry.get("kind", name.split("-", 1)[0])
    for m in models.values():
        if m.get("kind") == kind:
            return copy.deepcopy(m)
    raise InputError(f"config key {where!r}: model kind {kind!r} has no template; set kind = \"qnn\" or \"mlp\"")


def apply_overrides(study: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``study`` with the fields of ``overrides`` (a parsed TOML file) replaced."""
    over = {k: v for k, v in overrides.items() if k != "preset"}
    for d in over:
        if d not in study:
            if d in DATASET_NAMES:
                raise InputError(f"the config file sets [{d}], which this run does not include; "
                                 f"run 'qunlearn reproduce {d}' or 'all', or remove that section")
            raise InputError(f"unknown config section [{d}]; use {', '.join(DATASET_NAMES)} (and top-level preset)")
    return _merge(study, over, "")


# ------------------------------------------------------------------ validation


def _typed(section: dict, name: str, d: str):
    where = f"{d}.{name}"
    try:
        if name == "poison":
            return PoisonConfig.from_dict(section)
        if name == "unlearn":
            return UnlearnConfig.from_dict(section)
        if name == "landscape":
            s = dict(section)
            s["train"] = TrainConfig(**s["train"])
            for k in ("models", "alphas", "seeds", "mlp_hidden"):
                s[k] = tuple(s[k])
            return LandscapeConfig(**s)
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{where}: {type(e).__name__}: {e}".replace("\n", " ")) from None
    raise AssertionError(name)


def _check_sweeps(s: dict, where: str) -> dict:
    unknown = set(s) - {"methods", "grid"}
    if unknown:
        raise InputError(f"unknown config key {where}.{sorted(unknown)[0]!r}; known keys there: grid, methods")
    methods = list(s.get("methods", []))
    for m in methods:
        if m not in SWEEP_METHODS:
            raise InputError(f"{where}.methods: no weight sweep for {m!r}; use {', '.join(SWEEP_METHODS)}")
    grid = [check_nonnegative(v, f"{where}.grid value") for v in s.get("grid", [])]
    if not grid:
        raise InputError(f"{where}.grid is empty; give weight values such as [0.0, 0.3, 0.6, 0.9]")
    return {"methods": methods, "grid": grid}


def _check_embed(e: dict, where: str) -> dict:
    unknown = set(e) - {"attacks", "alpha", "seed", "perplexity"}
    if unknown:
        raise InputError(f"unknown config key {where}.{sorted(unknown)[0]!r}; known keys there: alpha, attacks, "
                         "perplexity, seed")
    attacks = list(e["attacks"])
    for a in attacks:
        if a not in ATTACKS:
            raise InputError(f"{where}.attacks: unknown attack {a!r}; use {', '.join(ATTACKS)}")
    p = e["perplexity"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
        raise InputError(f"{where}.perplexity must be a positive finite number, got {p!r}")
    seed = e["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{where}.seed must be a non-negative integer, got {seed!r}")
    return {"attacks": attacks, "alpha": check_alpha(e["alpha"]), "seed": seed, "perplexity": float(p)}


class Study:
    """A validated study: per dataset, the parts to run and their typed configs."""

    def __init__(self, study: dict[str, Any]):
        self.raw = study
        self.sections: dict[str, dict[str, Any]] = {}
        for d, sec in study.items():
            if d not in DATASET_NAMES:
                raise InputError(f"unknown dataset section [{d}]; use {', '.join(DATASET_NAMES)}")
            parts = list(sec.get("parts", []))
            for p in parts:
                if p not in PARTS:
                    raise InputError(f"{d}.parts: unknown part {p!r}; use some of {', '.join(PARTS)}")
            if not parts:
                raise InputError(f"{d}.parts is empty; name at least one of {', '.join(PARTS)}")
            typed = {"parts": [p for p in PARTS if p in parts]}
            for name in ("poison", "unlearn", "landscape"):
                typed[name] = _typed(sec[name], name, d)
                if typed[name].dataset != d:
                    raise InputError(f"{d}.{name}.dataset is {typed[name].dataset!r}; it must be {d!r}")
            typed["sweeps"] = _check_sweeps(sec["sweeps"], f"{d}.sweeps")
            typed["embed"] = _check_embed(sec["embed"], f"{d}.embed")
            self.sections[d] = typed

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.sections)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as stored with the run (typed configs serialised back)."""
        out = {}
        for d, t in self.sections.items():
            out[d] = {"parts": list(t["parts"]), "poison": t["poison"].to_dict(), "unlearn": t["unlearn"].to_dict(),
                      "sweeps": dict(t["sweeps"]), "landscape": t["landscape"].to_dict(), "embed": dict(t["embed"])}
        return out


DATA_PARTS = ("poison", "unlearn", "landscape")  # the parts that load data (embed uses poison's options)


def resolve(preset: str | None, datasets: tuple[str, ...], config_file: str | Path | None = None,
            mnist_path: str | Path | None = None) -> Study:
    """The validated study for ``preset`` (or the file's ``preset``, else ``paper``) and the file's overrides.

    ``mnist_path`` (full MNIST files) is set in the data options of every MNIST part.
    """
    overrides = read_toml(config_file) if config_file is not None else {}
    file_preset = overrides.get("preset")
    if file_preset is not None and not isinstance(file_preset, str):
        raise InputError(f"config file {str(config_file)!r}: preset must be a string such as \"quick\"")
    name = preset or file_preset or "paper"
    study = preset_for(name, datasets)
    try:
        study = apply_overrides(study, overrides)
        if mnist_path is not None and "mnist" in study:
            for part in DATA_PARTS:
                study["mnist"][part]["data_options"] = {**study["mnist"][part]["data_options"],
                                                        "mnist_path": str(mnist_path)}
        return Study(study)
    except InputError as e:
        if config_file is None:
            raise
        raise InputError(f"config file {str(config_file)!r}: {e}") from None


# ------------------------------------------------------------------ TOML output


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict) and not v:
        return "{}"
    raise TypeError(f"cannot write {v!r} as a TOML value")


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() else _toml_value(k)


def to_toml(d: dict[str, Any], header: str = "") -> str:
    """A nested dict as TOML (tables for non-empty dicts, inline values otherwise)."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_toml_value(v)}")
    out = ""
    if header and (lines or not tables):
        out += f"[{header}]\n"
    if lines:
        out += "\n".join(lines) + "\n"
    for k, v in tables:
        sub = f"{header}.{_key(k)}" if header else _key(k)
        out += ("\n" if out else "") + to_toml(v, sub)
    return out
