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

from .config import DATASET_NAMES, _check_dataset, is_dataset
from .errors import InputError
from .registry import experiments

STUDY_PRESETS = ("paper-mnist", "paper-xxz", "quick")


def parts() -> tuple[str, ...]:
    """The parts a study can run: the registered experiments, in pipeline order."""
    return tuple(experiments())


def opt_in() -> tuple[str, ...]:
    """Parts beyond the paper: run when named in parts (or --parts), never by default."""
    return tuple(n for n, e in experiments().items() if e.opt_in)


def __getattr__(name: str):  # PARTS and OPT_IN read the registry when asked (experiments may be added)
    if name == "PARTS":
        return parts()
    if name == "OPT_IN":
        return opt_in()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PRESET_FILES = {"paper": "paper.toml", "quick": "quick.toml"}  # in qunlearn/presets/


def preset_file(preset: str) -> Path:
    """The TOML file of a preset (``paper`` holds ``paper-mnist`` and ``paper-xxz``)."""
    if preset not in PRESET_FILES:
        raise InputError(f"unknown preset {preset!r}; use one of {', '.join(PRESET_FILES)}", path="preset")
    return Path(__file__).parent / "presets" / PRESET_FILES[preset]


def _preset_tree(preset: str) -> dict[str, Any]:
    return tomllib.loads(preset_file(preset).read_text(encoding="utf-8"))


def _as_dataset(tree: Any, dataset: str) -> Any:
    """A preset section made for another dataset: every ``dataset`` field set to it, every ``data_options``
    emptied (the options are the other loader's)."""
    if not isinstance(tree, dict):
        return tree
    return {k: dataset if k == "dataset" else {} if k == "data_options" else _as_dataset(v, dataset)
            for k, v in tree.items()}


def _dataset_section(preset: str, dataset: str) -> dict[str, Any]:
    """The preset's section of ``dataset`` (a user's dataset gets the MNIST section's settings), with the
    preset values of every registered experiment the file does not know (they say their own)."""
    tree = _preset_tree(preset)
    section = copy.deepcopy(tree[dataset]) if dataset in tree else _as_dataset(tree["mnist"], dataset)
    if dataset not in tree:
        section["parts"] = [p for p in section["parts"] if experiments()[p].default_for(dataset)]
    for e in experiments().values():
        if e.section is not None and e.section not in section:
            section[e.section] = e.preset(section, preset, dataset)
            if e.default_for(dataset):
                section["parts"].append(e.name)
    return section


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
        return tuple(d for d in DATASET_NAMES if d in read_config(config_file)) or DATASET_NAMES
    if name in STUDY_PRESETS and name != "quick":
        return (name.split("-", 1)[1],)
    if name not in ("paper", "quick"):
        raise InputError(f"unknown preset {name!r}; use one of {', '.join(STUDY_PRESETS)}, paper, or a .toml file")
    return DATASET_NAMES


def preset_for(preset: str, datasets: tuple[str, ...]) -> dict[str, Any]:
    """``paper`` / ``quick`` / a full preset name, restricted to ``datasets``."""
    for d in datasets:
        _check_dataset(d)
    own = [d for d in datasets if d not in DATASET_NAMES]  # a user's dataset: the preset's MNIST schedules
    if preset == "paper":
        study = {}
        for d in datasets:
            study.update(preset_study(f"paper-{d}") if d not in own else {d: _dataset_section("paper", d)})
        return study
    study = {**preset_study(preset), **{d: _dataset_section("quick", d) for d in own if preset == "quick"}}
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
        raise InputError(f"config file {str(path)!r} does not exist; "
                         "check the path or see 'qunlearn config show quick'")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"config file {str(path)!r} is not valid TOML ({e}); fix it or start from "
                         "'qunlearn config show quick > my.toml'") from None


def read_config(config: str | Path | dict | None) -> dict[str, Any]:
    """A config tree: ``config`` itself if it is a dict (a copy), else the parsed TOML file (None: empty)."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return copy.deepcopy(config)
    return read_toml(config)


def _config_label(config: str | Path | dict | None) -> str:
    return "config" if isinstance(config, dict) else f"config file {str(config)!r}"


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
            raise InputError(f"unknown config key {here!r}; known keys there: {known}", path=here)
        if isinstance(out.get(key), dict) and not isinstance(value, dict):
            raise InputError(f"config key {here!r} is a table; write it as [{here}]")
        if isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    _drop_unused_weights(base, over, out)
    return out


def _drop_unused_weights(base: dict, over: dict, out: dict) -> None:
    """When an override chooses the methods, the base's (the preset's) weights of methods it no longer runs go
    with them (the quick preset's Newton settings, say); weights the override itself gives are kept, so that
    the config still refuses a weight for a method that does not run."""
    if "methods" not in over or not isinstance(out.get("weights"), dict) or not isinstance(out["methods"], list):
        return
    given = over.get("weights") if isinstance(over.get("weights"), dict) else {}
    for method in list(out["weights"]):
        if method not in out["methods"] and method not in given and method in (base.get("weights") or {}):
            del out["weights"][method]


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


def typed_config(cls, section: Any, where: str, **extra):
    """``cls.from_dict(section)``, every error one line that starts with ``where`` (and names it as its path)."""
    try:
        if not isinstance(section, dict):
            raise InputError(f"expected a table, got {section!r}")
        return cls.from_dict({**section, **extra})
    except InputError as e:
        raise e.within(where) from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{where}: {type(e).__name__}: {e}".replace("\n", " "), path=where) from None


class Study:
    """A validated study: per dataset, the parts to run and the typed config of every experiment.

    ``sections[d]`` holds ``parts`` and, by experiment name, its typed config (``poison``: a
    :class:`qunlearn.config.PoisonConfig`; ``sweeps``: method -> :class:`SweepConfig`; and so on).
    """

    def __init__(self, study: dict[str, Any]):
        self.sections: dict[str, dict[str, Any]] = {}
        exps = experiments()
        known = tuple(exps)
        for d, sec in study.items():
            if not is_dataset(d):
                raise InputError(f"unknown dataset section [{d}]; use {', '.join(DATASET_NAMES)}", path=d)
            given = sec.get("parts", [])
            where = f"{d}.parts"
            if isinstance(given, (str, bytes)) or not isinstance(given, (list, tuple)):
                raise InputError(f"{where} must be a list such as [\"poison\", \"noise\"], got {given!r}", path=where)
            chosen = list(given)
            for i, p in enumerate(chosen):
                if p not in known:
                    raise InputError(f"{where}: unknown part {p!r}; use some of {', '.join(known)}",
                                     path=f"{where}[{i}]")
            if not chosen:
                raise InputError(f"{where} is empty; name at least one of {', '.join(known)}", path=where)
            if len(set(chosen)) != len(chosen):
                raise InputError(f"{where} names a part twice: {chosen}; list each once", path=where)
            typed: dict[str, Any] = {"parts": [p for p in known if p in chosen]}
            for e in exps.values():
                if e.section is not None:
                    if e.section not in sec:
                        raise InputError(f"{d} has no [{d}.{e.section}] table", path=f"{d}.{e.section}")
                    typed[e.name] = e.parse(sec[e.section], typed, f"{d}.{e.section}", d)
                elif e.name in typed["parts"]:
                    typed[e.name] = e.derive(typed, d)
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
            out[d] = {"parts": list(t["parts"])}
            for e in experiments().values():
                if e.section is None or e.name not in t:
                    continue
                if not unused_opt_in and e.opt_in and e.name not in t["parts"]:
                    continue
                out[d][e.section] = e.dump(t[e.name])
        return out


def _with_key(tree: Any, key: str, value: Any) -> Any:
    """The tables of ``tree`` that hold ``key``, each with ``value`` there, as an override tree (None: none)."""
    if not isinstance(tree, dict):
        return None
    if key in tree:
        return {key: value}
    subs = {k: _with_key(v, key, value) for k, v in tree.items() if k not in _FREE_IN_MODEL + ("models",)}
    subs = {k: v for k, v in subs.items() if v is not None}
    return subs or None


def data_overrides(study: dict[str, Any], mnist_path: str | Path | None = None,
                   xxz_phase: str | None = None) -> dict[str, Any]:
    """The data options of ``--mnist-path`` (every MNIST part) and ``--xxz-phase`` (every XXZ part) as a tree:
    set in every table of the study that holds ``data_options``."""
    options = {"mnist": {"mnist_path": None if mnist_path is None else str(mnist_path)}, "xxz": {"phase": xxz_phase}}
    tree = {}
    for d, sec in study.items():
        given = {k: v for k, v in options.get(d, {}).items() if v is not None}
        if given:
            over = {k: _with_key(v, "data_options", dict(given)) for k, v in sec.items() if k != "parts"}
            tree[d] = {k: v for k, v in over.items() if v is not None}
    return tree


def resolve(preset: str | None, datasets: tuple[str, ...], config_file: str | Path | None = None,
            mnist_path: str | Path | None = None, overrides: dict[str, Any] | None = None,
            xxz_phase: str | None = None) -> Study:
    """The validated study: ``preset`` (or the file's ``preset``, else ``paper``), then the file's
    overrides, then ``overrides`` (CLI flags as a tree); nothing is written.

    ``mnist_path`` (full MNIST files) is set in the data options of every MNIST part, and
    ``xxz_phase`` (the gauge of the XXZ states) in those of every XXZ part.
    """
    file_over = read_config(config_file)
    where = _config_label(config_file)
    file_preset = file_over.get("preset")
    if file_preset is not None and not isinstance(file_preset, str):
        raise InputError(f"{where}: preset must be a string such as \"quick\"", path="preset")
    name = preset or file_preset or "paper"
    study = preset_for(name, datasets)
    try:
        study = apply_overrides(study, file_over)
    except InputError as e:
        raise InputError(f"{where}: {e}", path=e.path) from None
    try:
        if overrides:
            study = apply_overrides(study, overrides)
        data = data_overrides(study, mnist_path, xxz_phase)
        if data:
            study = apply_overrides(study, data)
        return Study(study)
    except InputError as e:
        if config_file is None:
            raise
        raise InputError(f"{where}: {e}", path=e.path) from None


# ------------------------------------------------------------------ TOML output


def to_toml(d: dict[str, Any]) -> str:
    """A config tree as TOML (tomli-w: tables for tables, values inline), as ``config show`` prints it."""
    import tomli_w

    return tomli_w.dumps(d)


# ------------------------------------------------------------------ one part from command-line flags


def _part_key(part: str) -> str:
    """The section whose models the part's ``--model`` chooses (a weight sweep's: the unlearning's)."""
    e = experiments()[part]
    return e.models_section or e.section or part


def model_names(preset: str, dataset: str, config_file: str | Path | None, part: str) -> tuple[str, ...]:
    """The model names of ``part`` in the preset (after the config file): what ``--model`` may choose from."""
    only = {dataset: {"parts": [part]}}  # another part's config (e.g. the gauge study's) is not this command's
    table = resolve(preset, (dataset,), config_file, overrides=only).to_dict()[dataset].get(_part_key(part), {})
    if "models" not in table:
        raise InputError(f"part {part!r} has no model table of its own to choose from; set its models in a config "
                         "file", path="models")
    return tuple(table["models"])


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
    _check_dataset(dataset)
    if preset not in ("paper", "quick"):
        raise InputError(f"unknown preset {preset!r}; use paper or quick")
    if mnist_path is not None and dataset != "mnist":
        raise InputError("--mnist-path applies to --dataset mnist only")
    if xxz_phase is not None and dataset != "xxz":
        raise InputError("--xxz-phase applies to --dataset xxz only")
    if precision is not None:  # in every table of the part's section (and its models' section) with a precision
        tree = preset_for(preset, (dataset,))[dataset]
        e = experiments()[part]
        over = {**{k: {} for k in (e.section, _part_key(part)) if k is not None}, **over}
        over = {k: _merge_free(_with_key(tree.get(k), "precision", precision) or {}, v) if isinstance(v, dict)
                else v for k, v in over.items()}
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
    return experiments()[part].overridden(preset_tree, section)
