"""The whole study as one config tree: named presets, TOML and flag overrides, validation.

A *study* config says, per dataset, which parts run and with what settings::

    [mnist]
    parts = ["poison", "unlearn", "sweeps", "landscape", "embed"]
    [mnist.poison]            # a PoisonConfig: the alpha sweep (Figure 2); models include the extra MLP widths
                              # (part "gauge", XXZ only: the sweep's MLPs again, states in the other gauge)
    [mnist.unlearn]           # an UnlearnConfig: every method (Figure 3)
    [mnist.sweeps]            # methods = ["scrub", "gradient_ascent"], grid = [0.0, ..., 0.9]
    [mnist.landscape]         # a LandscapeConfig: Hessian traces
    [mnist.embed]             # attacks, alpha, seed, perplexity: t-SNE panels
    [mnist.noise.poison]      # part "noise" (beyond the paper; run only when named in parts): the alpha sweep
    [mnist.noise.unlearn]     # and unlearning with noisy QNNs (models with a noise table) beside the noiseless ones

Presets: ``paper-mnist`` and ``paper-xxz`` (the paper's settings) and ``quick``
(both datasets, minutes on a laptop). Overrides, from a TOML file or from CLI
flags, go through one path (:func:`resolve`): they replace fields of the
preset's tree, and the result is validated once, before anything is written.
A ``models`` table replaces the preset's table, so models can be removed as
well as added: an entry named like a preset model starts from that model (so
``[mnist.poison.models.qnn] depth = 4`` is complete), a new name needs a
``kind`` and starts from the preset's first model of that kind.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from .config import (
    DATASET_NAMES,
    SWEEPS,
    EmbedConfig,
    LandscapeConfig,
    NoiseConfig,
    PoisonConfig,
    SweepConfig,
    UnlearnConfig,
    preset_configs,
)
from .errors import InputError

STUDY_PRESETS = ("paper-mnist", "paper-xxz", "quick")
PARTS = ("poison", "gauge", "unlearn", "sweeps", "landscape", "embed", "noise")
OPT_IN = ("noise",)  # parts beyond the paper: run when named in parts (or --parts), never by default
SWEEP_METHODS = tuple(SWEEPS)
_EMBED_KEYS = ("attacks", "alpha", "seed", "perplexity")  # embed's dataset and data options are poison's


def _dataset_section(preset: str, dataset: str) -> dict[str, Any]:
    cfgs = preset_configs(preset, dataset)
    parts = [p for p in PARTS if p != ("landscape" if dataset == "xxz" else "gauge") and p not in OPT_IN]
    embed = cfgs["embed"].to_dict()
    return {
        "parts": parts,
        "poison": cfgs["poison"].to_dict(),
        "unlearn": cfgs["unlearn"].to_dict(),
        "noise": cfgs["noise"].to_dict(),
        "sweeps": cfgs["sweeps"],
        "landscape": cfgs["landscape"].to_dict(),
        "embed": {k: embed[k] for k in _EMBED_KEYS},
    }


def preset_study(name: str) -> dict[str, Any]:
    """The study config of a named preset, as a plain nested dict."""
    if name not in STUDY_PRESETS:
        raise InputError(f"unknown preset {name!r}; use one of {', '.join(STUDY_PRESETS)} (or paper / quick)")
    if name == "quick":
        return {d: _dataset_section("quick", d) for d in DATASET_NAMES}
    dataset = name.split("-", 1)[1]
    return {dataset: _dataset_section("paper", dataset)}


def datasets_of(name: str | None, config_file: str | Path | None = None) -> tuple[str, ...]:
    """The datasets a preset name covers (``paper-xxz``: xxz), or those a config file sets (no name)."""
    if name is None:
        return tuple(d for d in DATASET_NAMES if d in read_toml(config_file)) or DATASET_NAMES
    if name in STUDY_PRESETS and name != "quick":
        return (name.split("-", 1)[1],)
    if name not in ("paper", "quick"):
        raise InputError(f"unknown preset {name!r}; use one of {', '.join(STUDY_PRESETS)}, paper, or a .toml file")
    return DATASET_NAMES


def preset_for(preset: str, datasets: tuple[str, ...]) -> dict[str, Any]:
    """``paper`` / ``quick`` / a full preset name, restricted to ``datasets``."""
    for d in datasets:
        if d not in DATASET_NAMES:
            raise InputError(f"unknown dataset {d!r}; use one of {', '.join(DATASET_NAMES)}")
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
    if path.is_dir():
        raise InputError(f"config file {str(path)!r} is a directory; pass a .toml file")
    if path.exists() and not path.is_file():
        raise InputError(f"config file {str(path)!r} is not a regular file (a pipe or a device?); pass a .toml file")
    if not path.is_file():
        raise InputError(f"config file {str(path)!r} does not exist; check the path or see 'qunlearn config show quick'")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"config file {str(path)!r} is not valid TOML ({e}); fix it or start from "
                         "'qunlearn config show quick > my.toml'") from None


_FREE = ("weights", "data_options")  # tables whose keys are the user's (checked by the config itself)
_FREE_IN_MODEL = _FREE + ("noise",)  # and, in a model entry, its noise table
_OPTIONAL = ("shots",)  # fields a config leaves out of its record when unset (checked by the config itself)


def _merge_free(base: Any, over: Any) -> Any:
    """A user-keyed table merged key by key (nested tables too); the config validates the result."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge_free(base.get(k), v) for k, v in over.items()}}
    return copy.deepcopy(over)


def _merge(base: dict, over: dict, where: str, free: tuple[str, ...] = _FREE) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        here = f"{where}.{key}" if where else key
        if key == "models" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _replace_models(out[key], value, here)
            continue
        if key in free:
            if not isinstance(value, dict):
                raise InputError(f"config key {here!r} is a table; write it as [{here}] or {{key = value}}")
            out[key] = _merge_free(out.get(key, {}), value)
            continue
        if key not in out and key not in _OPTIONAL:
            known = ", ".join(sorted(out)) or "none"
            raise InputError(f"unknown config key {here!r}; known keys there: {known}")
        if isinstance(out.get(key), dict) and not isinstance(value, dict):
            raise InputError(f"config key {here!r} is a table; write it as [{here}]")
        if isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _replace_models(preset: dict, given: dict, where: str) -> dict:
    """The ``models`` table as given: each entry completed from its template (see the module docstring)."""
    out = {}
    for name, entry in given.items():
        here = f"{where}.{name}"
        if not isinstance(entry, dict):
            raise InputError(f"config key {here!r} is a table; write it as [{here}]")
        if name in preset and entry.get("kind", preset[name]["kind"]) == preset[name]["kind"]:
            template = preset[name]
        elif "kind" not in entry:
            raise InputError(f"config key {here!r}: a new model needs a kind (kind = \"qnn\" or \"mlp\")")
        else:
            template = next((m for m in preset.values() if m.get("kind") == entry["kind"]), None)
            if template is None:
                from .models.specs import MODEL_KINDS, SPECS, spec_to_dict

                if entry["kind"] not in MODEL_KINDS:
                    raise InputError(f"config key {here!r}: unknown model kind {entry['kind']!r}; "
                                     f"use one of {', '.join(MODEL_KINDS)}")
                if "train" not in entry:
                    raise InputError(f"config key {here!r}: no {entry['kind']} model in the preset to start from; "
                                     "give the entry a [train] table")
                template = spec_to_dict(SPECS[entry["kind"]]())
        out[name] = _merge(template, entry, here, _FREE_IN_MODEL)
    return out


def apply_overrides(study: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``study`` with the fields of ``overrides`` (a parsed TOML file, or flags as a tree) replaced."""
    over = {k: v for k, v in overrides.items() if k != "preset"}
    for d in over:
        if d not in study:
            if d in DATASET_NAMES:
                raise InputError(f"the config file sets [{d}], which this run does not include; "
                                 f"run 'qunlearn reproduce {d}' or 'all', or remove that section")
            raise InputError(f"unknown config section [{d}]; use {', '.join(DATASET_NAMES)} (and top-level preset)")
    return _merge(study, over, "")


# ------------------------------------------------------------------ validation


def _typed(cls, section: Any, where: str, **extra):
    try:
        if not isinstance(section, dict):
            raise InputError(f"expected a table, got {section!r}")
        return cls.from_dict({**section, **extra})
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{where}: {type(e).__name__}: {e}".replace("\n", " ")) from None


def _sweep_configs(s: Any, unlearn: UnlearnConfig, where: str) -> dict[str, SweepConfig]:
    if not isinstance(s, dict):
        raise InputError(f"{where} must be a table with methods and grid")
    unknown = set(s) - {"methods", "grid"}
    if unknown:
        raise InputError(f"unknown config key {where}.{sorted(unknown)[0]!r}; known keys there: grid, methods")
    from .errors import check_choices

    try:
        methods = check_choices(s.get("methods", []), SWEEP_METHODS, "weight sweep")
        return {m: SweepConfig(unlearn, m, tuple(s.get("grid", []))) for m in methods}
    except InputError as e:
        raise InputError(f"{where}: {e}") from None


class Study:
    """A validated study: per dataset, the parts to run and their typed configs.

    ``sections[d]`` holds ``parts`` and the configs ``poison``, ``unlearn``,
    ``landscape``, ``embed`` and ``sweeps`` (method -> :class:`SweepConfig`).
    """

    def __init__(self, study: dict[str, Any]):
        self.sections: dict[str, dict[str, Any]] = {}
        for d, sec in study.items():
            if d not in DATASET_NAMES:
                raise InputError(f"unknown dataset section [{d}]; use {', '.join(DATASET_NAMES)}")
            given = sec.get("parts", [])
            if isinstance(given, (str, bytes)) or not isinstance(given, (list, tuple)):
                raise InputError(f"{d}.parts must be a list such as [\"poison\", \"noise\"], got {given!r}")
            parts = list(given)
            for p in parts:
                if p not in PARTS:
                    raise InputError(f"{d}.parts: unknown part {p!r}; use some of {', '.join(PARTS)}")
            if not parts:
                raise InputError(f"{d}.parts is empty; name at least one of {', '.join(PARTS)}")
            if len(set(parts)) != len(parts):
                raise InputError(f"{d}.parts names a part twice: {parts}; list each once")
            typed = {"parts": [p for p in PARTS if p in parts]}
            for name, cls in (("poison", PoisonConfig), ("unlearn", UnlearnConfig), ("landscape", LandscapeConfig),
                              ("noise", NoiseConfig)):
                typed[name] = _typed(cls, sec[name], f"{d}.{name}")
                if typed[name].dataset != d:
                    raise InputError(f"{d}.{name}.dataset is {typed[name].dataset!r}; it must be {d!r}")
            embed = sec["embed"]
            if isinstance(embed, dict) and set(embed) - set(_EMBED_KEYS):
                raise InputError(f"unknown config key {d}.embed.{sorted(set(embed) - set(_EMBED_KEYS))[0]!r}; "
                                 f"known keys there: {', '.join(sorted(_EMBED_KEYS))}")
            typed["embed"] = _typed(EmbedConfig, embed, f"{d}.embed", dataset=d,
                                    data_options=typed["poison"].data_options)
            typed["sweeps"] = _sweep_configs(sec["sweeps"], typed["unlearn"], f"{d}.sweeps")
            if "gauge" in typed["parts"]:
                from .experiments.gauge import GaugeConfig

                try:
                    typed["gauge"] = GaugeConfig(typed["poison"])
                except InputError as e:
                    raise InputError(f"{d}.parts: {e}") from None
            self.sections[d] = typed

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self.sections)

    def to_dict(self, unused_opt_in: bool = True) -> dict[str, Any]:
        """The resolved config as printed by ``config show``; with ``unused_opt_in=False`` without the sections of
        opt-in parts the run does not run, as stored with a run (so a run started before those parts existed
        still resumes)."""
        out = {}
        for d, t in self.sections.items():
            sweeps = list(t["sweeps"].values())
            grid = list(sweeps[0].grid) if sweeps else []
            embed = t["embed"].to_dict()
            out[d] = {"parts": list(t["parts"]), "poison": t["poison"].to_dict(), "unlearn": t["unlearn"].to_dict(),
                      "sweeps": {"methods": list(t["sweeps"]), "grid": grid},
                      "landscape": t["landscape"].to_dict(), "embed": {k: embed[k] for k in _EMBED_KEYS},
                      "noise": t["noise"].to_dict()}
            if not unused_opt_in:
                for part in OPT_IN:
                    if part not in t["parts"]:
                        del out[d][part]
        return out


DATA_PARTS = ("poison", "unlearn", "landscape")  # the parts that load data (embed uses poison's options)


def data_overrides(datasets, mnist_path: str | Path | None = None, xxz_phase: str | None = None) -> dict[str, Any]:
    """The data options of ``--mnist-path`` (every MNIST part) and ``--xxz-phase`` (every XXZ part) as a tree."""
    options = {"mnist": {"mnist_path": None if mnist_path is None else str(mnist_path)}, "xxz": {"phase": xxz_phase}}
    tree = {}
    for d in datasets:
        given = {k: v for k, v in options.get(d, {}).items() if v is not None}
        if given:
            tree[d] = {part: {"data_options": dict(given)} for part in DATA_PARTS}
            tree[d]["noise"] = {part: {"data_options": dict(given)} for part in ("poison", "unlearn")}
    return tree


def resolve(preset: str | None, datasets: tuple[str, ...], config_file: str | Path | None = None,
            mnist_path: str | Path | None = None, overrides: dict[str, Any] | None = None,
            xxz_phase: str | None = None) -> Study:
    """The validated study: ``preset`` (or the file's ``preset``, else ``paper``), then the file's
    overrides, then ``overrides`` (CLI flags as a tree); nothing is written.

    ``mnist_path`` (full MNIST files) is set in the data options of every MNIST part, and
    ``xxz_phase`` (the gauge of the XXZ states) in those of every XXZ part.
    """
    file_over = read_toml(config_file) if config_file is not None else {}
    file_preset = file_over.get("preset")
    if file_preset is not None and not isinstance(file_preset, str):
        raise InputError(f"config file {str(config_file)!r}: preset must be a string such as \"quick\"")
    name = preset or file_preset or "paper"
    study = preset_for(name, datasets)
    try:
        study = apply_overrides(study, file_over)
    except InputError as e:
        raise InputError(f"config file {str(config_file)!r}: {e}") from None
    try:
        if overrides:
            study = apply_overrides(study, overrides)
        data = data_overrides(tuple(study), mnist_path, xxz_phase)
        if data:
            study = apply_overrides(study, data)
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


# ------------------------------------------------------------------ one part from command-line flags


def _part_key(part: str) -> str:
    return "unlearn" if part == "sweeps" else part


def model_names(preset: str, dataset: str, config_file: str | Path | None, part: str) -> tuple[str, ...]:
    """The model names of ``part`` in the preset (after the config file): what ``--model`` may choose from."""
    only = {dataset: {"parts": [part]}}  # another part's config (e.g. the gauge study's) is not this command's
    return tuple(resolve(preset, (dataset,), config_file, overrides=only).to_dict()[dataset][_part_key(part)]["models"])


def resolve_part(part: str, preset: str, dataset: str, over: dict[str, Any], *, config: str | Path | None = None,
                 mnist_path: str | Path | None = None, xxz_phase: str | None = None, precision: str | None = None,
                 models: tuple[str, ...] | None = None, model_over: dict | None = None) -> dict[str, Any]:
    """The validated section of ``dataset`` for one experiment command: preset, then the config file, then
    the flags, through the one override path of :func:`resolve`.

    ``over`` is the flags as a tree ``{part: {field: value}}``; ``models`` (names
    of the preset's models) replaces the model table of ``part`` and
    ``model_over`` (e.g. ``{"train": {"epochs": 3}}``) is applied to every model
    kept. The section also holds ``overridden``: the fields that differ from the
    preset, for titles that say what they show.
    """
    if dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    if preset not in ("paper", "quick"):
        raise InputError(f"unknown preset {preset!r}; use paper or quick")
    if mnist_path is not None and dataset != "mnist":
        raise InputError("--mnist-path applies to --dataset mnist only")
    if xxz_phase is not None and dataset != "xxz":
        raise InputError("--xxz-phase applies to --dataset xxz only")
    if precision is not None:
        over = {k: {**v, "precision": precision} if k in DATA_PARTS else v for k, v in over.items()}
    over = {**over, "parts": [part]}  # only this part's config is the command's (another part's is not checked)
    model_over = {k: v for k, v in (model_over or {}).items() if v}
    if models is not None or model_over:
        key = _part_key(part)
        chosen = models if models is not None else model_names(preset, dataset, config, part)
        over = {**over, key: {**over.get(key, {}), "models": {m: model_over for m in chosen}}}
    section = resolve(preset, (dataset,), config, mnist_path=mnist_path, overrides={dataset: over},
                      xxz_phase=xxz_phase).sections[dataset]
    section["overridden"] = _overridden(preset_for(preset, (dataset,))[dataset], section, part)
    return section


def _overridden(preset_tree: dict, section: dict, part: str) -> list[str]:
    """The fields of ``part`` that differ from the preset."""
    from .runs import _diff

    if part == "sweeps":  # the sweep's unlearning config and grid; its method list is the sweep's own
        sweep = next(iter(section["sweeps"].values()))
        before = {**preset_tree["unlearn"], "grid": preset_tree["sweeps"]["grid"], "methods": None, "weights": None}
        after = {**sweep.unlearn.to_dict(), "grid": list(sweep.grid), "methods": None, "weights": None}
    else:
        before, after = preset_tree[part], section[part].to_dict()
    names = []
    for d in _diff(before, after):
        path = d.split(":")[0].replace(" (new)", "").replace(" (removed)", "").split(".")
        name = "models" if path[0] == "models" and len(path) <= 2 else path[-1]
        if name not in names:
            names.append(name)
    return names
