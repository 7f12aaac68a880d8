"""The registry of experiments: the parts of the study, each one object that says everything about itself.

An experiment (:class:`Experiment`) declares

* its ``name`` (a part of the study: ``--parts``, ``ql.run(name)``) and whether the preset runs it
  (``opt_in``, ``datasets``);
* its typed config: its ``section`` of a dataset's config tree, its preset values (:meth:`preset`),
  how that section is validated (:meth:`parse`) and written back (:meth:`dump`);
* the run directories it makes in a plan (:meth:`steps`), each run by a *runner* module
  (``NAME``, ``cells(cfg)``, ``run(cfg, workdir, ...)``), and its cells (:meth:`cells`);
* its cost estimate (:meth:`estimate_seconds`), used for the plan line and the progress bars;
* its report: a setup line (:meth:`setup_line`), its section with tables and figures (:meth:`report`)
  and its claims (:attr:`claims`, each with an id such as ``mnist/1``);
* its commands of the command line (:attr:`commands`: ``qunlearn poison``, ``qunlearn sweep``), each a
  function whose defaults are :func:`qunlearn.commands.option` specs (see :mod:`qunlearn.commands`).

``cli``, ``study``, ``experiments.reproduce``, ``report``, ``progress`` and the Python API read these
declarations and name no experiment themselves, so a new experiment is one new file holding an
:class:`Experiment` and one line that registers it: :func:`register` (from a notebook too), or an entry
of :data:`BUILTIN`. Reading this module imports no JAX, pandas or matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

#: The experiments that ship with qunlearn, in pipeline order: name -> module holding ``EXPERIMENT``.
BUILTIN = {
    "poison": "qunlearn.parts.poison",
    "gauge": "qunlearn.parts.gauge",
    "unlearn": "qunlearn.parts.unlearn",
    "sweeps": "qunlearn.parts.sweeps",
    "landscape": "qunlearn.parts.landscape",
    "embed": "qunlearn.parts.embed",
    "noise": "qunlearn.parts.noise",
    "capacity": "qunlearn.parts.capacity",
    "audit": "qunlearn.parts.audit",
}


@dataclass
class Step:
    """One run directory an experiment adds to a plan: its name (``poison``, ``sweep-scrub``), the runner
    module that computes it, its config, and keyword arguments of the runner's ``run`` and of the result's
    ``figures``."""

    name: str
    runner: str  # module path, e.g. "qunlearn.experiments.poisoning"
    cfg: Any
    options: dict = field(default_factory=dict)
    figure_options: dict = field(default_factory=dict)

    @property
    def module(self):
        return import_module(self.runner)


@dataclass(frozen=True)
class ClaimRule:
    """A claim an experiment tests: its number (the id is ``<dataset>/<number>``), the run directory whose
    results it reads (``needs``), and ``test(dataset, results, part) -> report.Claim``."""

    number: int
    needs: str
    test: Callable


class Experiment:
    """A part of the study. Subclass it (or use it as is, with a section-less single step) and register it.

    The defaults fit an experiment with one config section holding a config class with
    ``from_dict``/``to_dict`` (``config_class``), one run directory named like the experiment, run by
    ``runner``.
    """

    name: str = ""
    title: str = ""  # a few words for listings
    section: str | None = None  # key of its config in a dataset's tree (None: built from other sections)
    config_class: Any = None  # the typed config (``from_dict``/``to_dict``); a callable returning it
    runner: str = ""  # module path of the runner of its (single) run directory
    kind: str = ""  # the runner's NAME: the ``experiment`` its run directories record in config.json
    opt_in: bool = False  # beyond the paper: run only when named in parts
    datasets: tuple[str, ...] | None = None  # the built-in datasets whose presets run it (None: every dataset)
    claims: tuple[ClaimRule, ...] = ()
    models_section: str | None = None  # the section whose models ``--model`` / ``models=`` choose (None: own)
    #: what ``epochs=``, ``batch_size=``, ``lr=`` (and the like) set in every chosen model: kwarg -> (table, field)
    model_keys: dict = {"epochs": ("train", "epochs"), "batch_size": ("train", "batch_size"), "lr": ("train", "lr")}
    aliases: dict = {"model": "models", "attack": "attacks"}  # ql.run keyword aliases
    #: its commands of the command line: name -> function (see :mod:`qunlearn.commands`); none by default, so
    #: an experiment without one runs as ``qunlearn reproduce --parts NAME`` and ``ql.run(NAME)``
    commands: dict[str, Callable] = {}

    # ---------------------------------------------------------- config

    def preset(self, section: dict[str, Any], preset: str, dataset: str) -> dict:
        """The preset values of its section, for a preset file that lacks them (the built-in experiments' are in
        ``qunlearn/presets/*.toml``): ``section`` is the rest of the dataset's preset section (plain values)."""
        raise InputError(f"the {preset} preset has no [{dataset}.{self.section}] table and experiment {self.name!r} "
                         "gives no preset values of its own", path=f"{dataset}.{self.section}")

    def parse(self, raw: Any, typed: dict[str, Any], where: str, dataset: str) -> Any:
        """The typed config of its section ``raw`` (``typed`` holds the experiments validated before)."""
        from .study import typed_config

        value = typed_config(self._config_class(), raw, where)
        if getattr(value, "dataset", dataset) != dataset:
            raise InputError(f"{where}.dataset is {value.dataset!r}; it must be {dataset!r}", path=f"{where}.dataset")
        return value

    def derive(self, typed: dict[str, Any], where: str) -> Any:
        """The config of a section-less experiment, from the others' (called only when it is in parts)."""
        raise NotImplementedError

    def dump(self, value: Any) -> dict:
        return value.to_dict()

    def models_of(self, value: Any) -> dict:
        """Its typed config's models (name -> :class:`qunlearn.config.ModelConfig`)."""
        if not hasattr(value, "models"):
            raise InputError(f"experiment {self.name!r} trains no models; it takes no models=", path="models")
        return value.models

    def check_own_models(self) -> None:
        """Refuse, in one line, models of a user's own (objects, circuits) where this experiment cannot take them."""

    def with_models(self, value: Any, models: dict) -> Any:
        """Its typed config with ``models`` in place of its own (validated again): how a user's own model or
        circuit (:class:`qunlearn.models.UserModelSpec`) enters the experiment from Python."""
        self.models_of(value)
        return value.replace(models=models)

    def headline(self, value: Any) -> str:
        """The first words of its figures' titles in a one-experiment run (the preset and changes follow)."""
        return f"{str(getattr(value, 'dataset', '')).upper()} {self.name}"

    def overrides(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``ql.run``'s keyword arguments (its own config fields, lists as lists) as an override tree of a dataset's
        section (``{section: fields}``); the one path every override takes validates them."""
        if not fields:
            return {}
        if self.section is None:
            from .errors import InputError

            key = sorted(fields)[0]
            raise InputError(f"experiment {self.name!r} has no config fields of its own (it reuses the others'); "
                             f"pass {key}= through config={{...}}", path=key)
        return {self.section: fields}

    def _config_class(self):
        c = self.config_class
        return c() if callable(c) and not isinstance(c, type) else c

    def default_for(self, dataset: str) -> bool:
        """Whether the preset of ``dataset`` runs it."""
        return not self.opt_in and (self.datasets is None or dataset in self.datasets
                                    or dataset not in ("mnist", "xxz"))

    def overridden(self, preset_tree: dict, section: dict) -> list[str]:
        """The fields of its config that differ from the preset (for titles that say what they show)."""
        from .runs import _diff

        return _changed_names(_diff(preset_tree[self.section], self.dump(section[self.name])))

    # ---------------------------------------------------------- plan

    def steps(self, value: Any, typed: dict[str, Any], base: Path, **plan_options) -> list[Step]:
        """The run directories it adds under the dataset's directory ``base``."""
        return [Step(self.name, self.runner, value)]

    def single(self, value: Any) -> Step:
        """The step of a one-experiment run (``qunlearn poison``, ``ql.run("poison")``)."""
        steps = self.steps(value, {self.name: value}, Path("."))
        if len(steps) != 1:
            raise InputError(f"experiment {self.name!r} has {len(steps)} run directories; run it with "
                             f"'qunlearn reproduce --parts {self.name}' or ql.run({self.name!r}, ...) into a study")
        return steps[0]

    def cells(self, part) -> int:
        """Cells of one of its run directories, for progress."""
        return len(part.module.cells(part.cfg))

    def estimate_seconds(self, part, ds) -> float:
        """Rough wall seconds of the work of one of its run directories on 2 CPU cores (no compilation)."""
        return 10.0

    # ---------------------------------------------------------- report

    def owns(self, dirname: str) -> bool:
        """Whether a run directory named ``dirname`` is one of its steps."""
        return dirname == self.name

    def dir_name(self, record: dict) -> str:
        """The step name of a single-experiment run directory, from its stored config record."""
        return self.name

    def order(self, dirname: str) -> int:
        """The position of a step among its experiment's, in the report."""
        return 0

    def setup_line(self, dataset: str, dirname: str, cfg: dict) -> str | None:
        return None

    def report(self, doc, dataset: str, dirname: str, part: dict, run) -> None:
        """Its section of the report (``doc``: :class:`qunlearn.report.Doc`)."""


def _changed_names(diffs: list[str]) -> list[str]:
    names = []
    for d in diffs:
        path = d.split(":")[0].replace(" (new)", "").replace(" (removed)", "").split(".")
        name = "models" if path[0] == "models" and len(path) <= 2 else path[-1]
        if name not in names:
            names.append(name)
    return names


_REGISTRY: dict[str, Experiment] = {}
_LOADED = False


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    user = dict(_REGISTRY)
    _REGISTRY.clear()
    for name, module in BUILTIN.items():
        exp = import_module(module).EXPERIMENT
        if exp.name != name:
            raise RuntimeError(f"{module} declares experiment {exp.name!r}, registered as {name!r}")
        _REGISTRY[name] = exp
    _REGISTRY.update(user)


def register(experiment: Experiment, *, replace: bool = False) -> Experiment:
    """Add ``experiment`` to the registry (after the built-in ones); returns it, so it works as a decorator of
    a class too (``@register`` on an :class:`Experiment` subclass registers an instance)."""
    if isinstance(experiment, type):
        register(experiment(), replace=replace)
        return experiment
    _load_builtin()
    name = getattr(experiment, "name", "")
    if not isinstance(experiment, Experiment):
        raise InputError(f"register() takes an Experiment (qunlearn.Experiment), got {type(experiment).__name__}")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise InputError(f"an experiment's name must be letters, digits, - or _, got {name!r}")
    if name in _REGISTRY and not replace:
        raise InputError(f"an experiment named {name!r} is registered already; pass replace=True to replace it")
    _REGISTRY[name] = experiment
    return experiment


def unregister(name: str) -> None:
    """Remove a registered experiment (tests and notebooks that re-run a cell)."""
    _load_builtin()
    if name in BUILTIN:
        raise InputError(f"{name!r} is a built-in experiment; it cannot be removed")
    _REGISTRY.pop(name, None)


def experiments() -> dict[str, Experiment]:
    """Every registered experiment by name, in pipeline order (the built-in ones first)."""
    _load_builtin()
    return dict(_REGISTRY)


def names() -> tuple[str, ...]:
    return tuple(experiments())


def get(name: str) -> Experiment:
    exps = experiments()
    if name not in exps:
        raise InputError(f"unknown experiment {name!r}; use one of {', '.join(exps)}", path="experiment")
    return exps[name]


def owner(dirname: str) -> Experiment | None:
    """The experiment a run directory named ``dirname`` belongs to."""
    return next((e for e in experiments().values() if e.owns(dirname)), None)


def by_kind(kind: str) -> Experiment | None:
    """The first experiment whose run directories record ``experiment = kind`` (a single run's config.json)."""
    return next((e for e in experiments().values() if e.kind == kind), None)
