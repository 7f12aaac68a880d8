"""The Python API: run an experiment or the whole study, read a run back, list and extend the registries.

>>> import qunlearn as ql                                                    # doctest: +SKIP
>>> run = ql.run("poison", preset="quick", dataset="mnist", out="runs/nb",   # doctest: +SKIP
...              models=["mlp"], alphas=[0, 0.3], runs=1, epochs=2)
>>> run.results                 # the tidy results table (pandas)            # doctest: +SKIP
>>> fig = run.figure("figure2")  # a matplotlib Figure; nothing written      # doctest: +SKIP
>>> ql.load("runs/nb").claims   # each claim: .id, .statement, .held, .evidence  # doctest: +SKIP

Keyword arguments of :func:`run` are the experiment's own config fields, validated exactly as TOML keys
and CLI flags are (one path: :func:`qunlearn.study.resolve_part`), before anything is written. The CLI
is a layer over this module.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

_RUN_OPTIONS = ("published",)  # keyword arguments that are options of the run, not config fields


def experiments() -> tuple[str, ...]:
    """The names of the registered experiments (``ql.run(name)``), in pipeline order."""
    from . import registry

    return registry.names()


def datasets() -> tuple[str, ...]:
    """The names of the registered datasets (``dataset=``; a path to a ``.npz`` file works too)."""
    from . import data

    return data.names()


def models() -> tuple[str, ...]:
    """The registered model kinds (``kind = ...`` of a model entry in a config)."""
    from .models.specs import model_kinds

    return model_kinds()


def register(obj: Any, name: str | None = None, *, replace: bool = False):
    """Register an experiment (a :class:`qunlearn.Experiment`, instance or subclass), a dataset (a
    :class:`qunlearn.data.Dataset`, or a loader with ``name``) or a model family (a spec class with a ``kind``).
    Returns ``obj``, so it also works as a class decorator."""
    from . import registry

    if isinstance(obj, registry.Experiment) or (isinstance(obj, type) and issubclass(obj, registry.Experiment)):
        return registry.register(obj, replace=replace)
    from . import data

    if isinstance(obj, data.Dataset):
        data.register_dataset(name or obj.name, obj, replace=replace)
        return obj
    if isinstance(obj, type) and isinstance(getattr(obj, "kind", None), str) and hasattr(obj, "build"):
        from .models import specs

        specs.register_model(obj.kind, obj, replace=replace)
        return obj
    if callable(obj) and name is not None:
        data.register_dataset(name, obj, replace=replace)
        return obj
    raise InputError(f"register() takes an Experiment, a Dataset (or a loader with name=) or a model spec class, "
                     f"got {type(obj).__name__}")


# ------------------------------------------------------------------ runs


@dataclass
class Run:
    """A run directory: what :func:`run` returns and :func:`load` reads back (finished or half-finished)."""

    path: Path
    parts: list = field(default_factory=list)  # (dataset, step name, owner experiment, directory)
    lost: bool = False  # every run of some cell diverged (the CLI exits 3)
    _results: dict = field(default_factory=dict, repr=False)  # step label -> in-memory Result of this process

    # ---------------------------------------------------------- tables

    def _table(self, name: str):
        import pandas as pd

        frames = []
        for d, step, _, directory in self.parts:
            f = directory / name
            if f.exists():
                t = pd.read_csv(f)
                if len(self.parts) > 1:
                    t.insert(0, "part", step)
                    if "dataset" not in t:
                        t.insert(0, "dataset", d)
                frames.append(t)
        if not frames:
            return pd.DataFrame()
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    @property
    def results(self):
        """The tidy results table (``results.csv``; of a study: every part's, with ``dataset`` and ``part``
        columns). Empty while no part has finished."""
        return self._table("results.csv")

    @property
    def history(self):
        """The learning curves (``history.csv``: every evaluation epoch), like :attr:`results`."""
        return self._table("history.csv")

    @property
    def finished(self) -> bool:
        """Whether every part has written its results."""
        return bool(self.parts) and all((p[3] / "results.csv").exists() or (p[3] / "embedding.csv").exists()
                                        for p in self.parts)

    @property
    def config(self) -> dict:
        """The stored config of the run (``config.json``'s ``config``)."""
        from .runs import read_record

        return (read_record(self.path) or {}).get("config", {})

    # ---------------------------------------------------------- claims, figures, report

    @property
    def claims(self) -> list:
        """Every claim tested on this run's numbers (:class:`qunlearn.report.Claim`: ``.id``, ``.statement``,
        ``.held`` True / False / None for not tested, ``.evidence``)."""
        from . import report

        return report.claims(report.load(self.path))

    def report(self) -> tuple[Path, Path]:
        """Write ``report.md`` and ``report.html`` into the run directory; return their paths."""
        from . import report

        md, page, _ = report.write(self.path)
        return md, page

    def figure_names(self, part: str | None = None) -> list[str]:
        """The figures :meth:`figure` can build (of one step, e.g. ``"mnist/poison"``, or of every step)."""
        return sorted({n for _, result in self._results_of(part) for n in result.build_figures()})

    def figure(self, name: str, part: str | None = None, **options):
        """A matplotlib Figure of this run (``"figure2"``, ``"figure3"``, ...), built from its tables on demand:
        nothing is written and no backend or rcParams is changed. ``part`` (``"mnist/poison"``) picks the
        step when several have a figure of that name."""
        found = []
        for label, result in self._results_of(part):
            figs = result.build_figures(**options) if options else result.build_figures()
            if name in figs:
                found.append((label, figs[name]))
        if not found:
            known = ", ".join(self.figure_names(part)) or "none (no finished part)"
            raise InputError(f"this run has no figure {name!r}; it has: {known}", path="figure")
        if len(found) > 1:
            raise InputError(f"figure {name!r} is drawn by {', '.join(lb for lb, _ in found)}; pick one with "
                             f"part=", path="part")
        return found[0][1]

    def _results_of(self, part: str | None):
        out = []
        for d, step, owner, directory in self.parts:
            label = f"{d}/{step}"
            if part is not None and part not in (label, step):
                continue
            result = self._results.get(label)
            if result is None and owner is not None:
                result = _read_result(owner, step, directory)
                if result is not None:
                    self._results[label] = result
            if result is not None:
                out.append((label, result))
        return out

    def __repr__(self) -> str:
        steps = ", ".join(f"{d}/{s}" for d, s, _, _ in self.parts)
        return f"Run({str(self.path)!r}, parts=[{steps}], finished={self.finished})"


def _read_result(owner, step: str, directory: Path):
    """The in-memory result of a finished step read from its directory (None if it has not finished)."""
    from importlib import import_module

    from .runs import read_record

    from . import registry

    record = read_record(directory)
    kind = registry.by_kind(record.get("experiment", "")) if isinstance(record, dict) else None
    if kind is None:
        return None
    module = import_module(kind.runner)  # a step's own runner (noise-unlearn: the unlearning's)
    if not hasattr(module, "read_result"):
        return None
    return module.read_result(directory, record)


def load(path: str | Path) -> Run:
    """The run in directory ``path`` (a study or one experiment; finished or half-finished)."""
    from . import registry
    from .runs import FORMAT_VERSION, read_record

    path = Path(path)
    if not path.is_dir() or not (path / "config.json").exists():
        raise InputError(f"{str(path)!r} holds no qunlearn run (no config.json); pass the out= of a run",
                         path="path")
    record = read_record(path)
    if not isinstance(record, dict):
        raise InputError(f"{path / 'config.json'} is corrupt; rerun into a new out=", path="path")
    if record.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{str(path)!r} was written by an incompatible qunlearn run format "
                         f"({record.get('format_version')!r}; this version reads {FORMAT_VERSION})", path="path")
    parts = []
    if record.get("experiment") == "reproduce":
        from .runs import dataset_dir

        for d in record.get("config", {}):
            base = path / dataset_dir(d)
            for sub in sorted(base.iterdir()) if base.is_dir() else []:
                if (sub / "config.json").exists():
                    parts.append((d, sub.name, registry.owner(sub.name), sub))
    else:
        owner = registry.by_kind(record.get("experiment", ""))
        cfg = record.get("config", {})
        name = owner.dir_name(cfg) if owner is not None else str(record.get("experiment"))
        parts.append((cfg.get("dataset", "?"), name, owner, path))
    order = {n: i for i, n in enumerate(registry.names())}
    parts.sort(key=lambda p: (p[0], order.get(p[2].name, len(order)) if p[2] else len(order),
                              p[2].order(p[1]) if p[2] else 0, p[1]))
    return Run(path, parts)


def _dataset_name(dataset: Any) -> str:
    """A dataset argument as a config's dataset: a name, a path to a .npz file, or a Dataset (its name; the
    caller registers it for the run, see :func:`_lent`)."""
    from . import data

    if isinstance(dataset, data.Dataset):
        return dataset.name
    if isinstance(dataset, Path):
        return str(dataset)
    if not isinstance(dataset, str):
        raise InputError(f"dataset must be a name ({', '.join(data.names())}), a path to a .npz file or a "
                         f"qunlearn.data.Dataset, got {type(dataset).__name__}", path="dataset")
    return dataset


@contextmanager
def _lent(dataset: Any):
    """A :class:`qunlearn.data.Dataset` given as ``dataset=`` is registered under its name while the call runs
    (the experiments load data by name), and the registry is as it was afterwards."""
    from . import data

    if not isinstance(dataset, data.Dataset):
        yield
        return
    before = data.DATASETS.get(dataset.name)
    data.register_dataset(dataset.name, dataset, replace=True)
    try:
        yield
    finally:
        if before is None:
            data.unregister_dataset(dataset.name)
        else:
            data.DATASETS[dataset.name] = before


def _as_lists(fields: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def _split(exp, fields: dict) -> tuple[dict, list | dict | None, dict]:
    """``fields`` as (the experiment's own config fields, model names, what to set in every model)."""
    fields = dict(fields)
    for alias, target in exp.aliases.items():
        if alias in fields:
            if target in fields:
                raise InputError(f"give {alias}= or {target}=, not both", path=target)
            value = fields.pop(alias)
            fields[target] = [value] if isinstance(value, str) else value
    names = fields.pop("models", None)
    if isinstance(names, str):
        names = [names]
    model_over: dict[str, dict] = {}
    for key, (table, *targets) in exp.model_keys.items():
        if key in fields:
            for t in targets:
                model_over.setdefault(table, {})[t] = fields[key]
            fields.pop(key)
    if names is not None and not isinstance(names, dict):
        names = list(names)
    return _as_lists(fields), names, model_over


def _preset_name(preset: str | None, config) -> str:
    from . import study as st

    name = preset
    if name is None and config is not None:
        name = st.read_config(config).get("preset")
        if name is not None and not isinstance(name, str):
            raise InputError(f"{st._config_label(config)}: preset must be a string such as \"quick\", got {name!r}",
                             path="preset")
    name = "paper" if name in ("paper-mnist", "paper-xxz") else (name or "paper")
    if name not in ("paper", "quick"):
        raise InputError(f"unknown preset {name!r}; use paper or quick", path="preset")
    return name


def resolve(experiment: str, *, preset: str | None = None, dataset: Any = "mnist", config=None,
            mnist_path=None, xxz_phase=None, **fields) -> dict:
    """The validated section of ``dataset`` for ``experiment`` with ``fields`` (nothing written): what
    :func:`run` runs. Its ``experiment`` entry is the experiment's typed config."""
    from . import registry

    with _lent(dataset):
        return _resolve(registry.get(experiment), preset, dataset, config, mnist_path, xxz_phase, fields)


def _resolve(exp, preset, dataset, config, mnist_path, xxz_phase, fields) -> dict:
    from . import study as st

    ds = _dataset_name(dataset)
    own, names, model_over = _split(exp, {k: v for k, v in fields.items() if k not in _RUN_OPTIONS})
    precision = own.pop("precision", None)
    name = _preset_name(preset, config)
    own_models = {}
    if isinstance(names, dict) and any(not isinstance(v, str) for v in names.values()):
        exp.check_own_models()
    if names is not None:
        known = st.model_names(name, ds, config, exp.name)
        chosen = names if isinstance(names, dict) else {n: n for n in names}
        for i, (key, n) in enumerate(chosen.items()):
            where = f"models[{key!r}]" if isinstance(names, dict) else f"models[{i}]"
            if isinstance(n, str) and n not in known:
                raise InputError(f"{where}: unknown model {n!r}; use some of {', '.join(known)}", path=where)
            if not isinstance(key, str) or not key:
                raise InputError(f"{where}: a model's name must be a non-empty string", path=where)
        own_models = {k: v for k, v in chosen.items() if not isinstance(v, str)}
        template = "qnn" if "qnn" in known else known[0]  # a model of your own trains on the preset QNN's schedule
        names = list(dict.fromkeys([v for v in chosen.values() if isinstance(v, str)] + [template] * bool(own_models)))
    sec = st.resolve_part(exp.name, name, ds, exp.overrides(own), config=config, mnist_path=mnist_path,
                          xxz_phase=xxz_phase, precision=precision, models=None if names is None else tuple(names),
                          model_over=model_over)
    if names is not None and (own_models or any(k != v for k, v in chosen.items())):
        sec[exp.name] = exp.with_models(sec[exp.name], _models_for(exp, sec[exp.name], chosen, template))
        sec["overridden"] = list(dict.fromkeys([*sec.get("overridden", []), "models"]))
    return sec


def _models_for(exp, value, chosen: dict, template: str) -> dict:
    """The model table of ``chosen`` (name -> a preset model's name, a model object or a spec)."""
    from .models.custom import UserModelSpec

    base = exp.models_of(value)
    out = {}
    for key, v in chosen.items():
        if isinstance(v, str):
            out[key] = base[v]
            continue
        spec = v if hasattr(v, "build") and hasattr(v, "kind") else UserModelSpec(v, name=key)
        out[key] = base[template].replace(spec=spec)
    return out


def run(experiment: str, *, preset: str | None = None, dataset: Any = "mnist", out: str | Path | None = None,
        config: str | Path | dict | None = None, fresh: bool = False, executor: str = "local",
        scheduler: str | None = None, workers: int | None = None, mnist_path: str | Path | None = None,
        xxz_phase: str | None = None, title: str | None = None, quiet: bool = False, wait: bool = False,
        **fields) -> Run:
    """Run one registered experiment (or ``"all"``: the whole study, as ``qunlearn reproduce``) into ``out``
    and return the :class:`Run`. Bad input is refused with :class:`qunlearn.InputError` before anything
    is written; a finished cell found in ``out`` is kept, not recomputed.

    ``fields`` are the experiment's config fields (``models``, ``attacks``, ``alphas``, ``runs``, ``seed``,
    ``precision``, ``methods``, ...; ``model=`` and ``attack=`` are aliases); ``epochs``, ``batch_size``
    and ``lr`` set every chosen model's (for ``unlearn``: the unlearning's, ``train_epochs`` the training's).
    ``config`` is a TOML path or a dict of the config tree. ``executor`` is ``local`` or ``dask``.
    One command writes a run directory at a time: another one's is refused at once, or with ``wait`` waited
    for (:mod:`qunlearn.locks`).
    """
    from . import locks
    from .executor import check_args

    check_args(executor, scheduler, workers)
    if out is not None and not str(out).strip():  # Path("") would be the working directory
        raise InputError("the output path is empty; pass --out DIR (out= in Python)", path="out")
    with _lent(dataset), locks.scope(wait=bool(wait)):
        return _run(experiment, preset, dataset, out, config, fresh, (executor, scheduler, workers), mnist_path,
                    xxz_phase, title, quiet, fields)


def _run(experiment, preset, dataset, out, config, fresh, where, mnist_path, xxz_phase, title, quiet,
         fields) -> "Run":
    executor, scheduler, workers = where
    if experiment == "all":
        return _run_study(preset=preset, dataset=dataset, out=out, config=config, fresh=fresh,
                          where=(executor, scheduler, workers), mnist_path=mnist_path, xxz_phase=xxz_phase,
                          quiet=quiet, **fields)
    from . import registry
    from .console import run_single, run_study

    exp = registry.get(experiment)
    published = fields.get("published", True)
    sec = resolve(experiment, preset=preset, dataset=dataset, config=config, mnist_path=mnist_path,
                  xxz_phase=xxz_phase, **fields)
    value = sec[exp.name]
    out = Path(out if out is not None else f"runs/{experiment}")
    steps = exp.steps(value, sec, Path("."))
    if len(steps) == 1:
        step = exp.single(value)
        options = {**step.figure_options, **({"published": published} if "published" in step.figure_options else {})}
        lost, results = run_single(exp.name, step.cfg, out, fresh, title or _title(exp, sec, preset, config),
                                   (executor, scheduler, workers), quiet=quiet, **options)
    else:
        from .study import Study

        study = Study.__new__(Study)
        study.sections = {sec_dataset(value, dataset): {**sec, "parts": [exp.name]}}
        lost, results = run_study(study, out, fresh, (executor, scheduler, workers), title or exp.name,
                                  published=published, quiet=quiet)
    return _loaded(out, lost, results)


def _loaded(out: Path, lost: bool, results: list) -> Run:
    """The run in ``out`` with the results this process just computed (their figures need no reading back)."""
    run = load(out)
    run.lost = lost
    where = {Path(p[3]).resolve(): f"{p[0]}/{p[1]}" for p in run.parts}
    for result in results:
        label = where.get(Path(result.path).resolve())
        if label is not None:
            run._results[label] = result
    return run


def sec_dataset(value, dataset) -> str:
    return getattr(value, "dataset", None) or _dataset_name(dataset)


def _title(exp, sec: dict, preset, config) -> str:
    changed = sec.get("overridden") or []
    name = _preset_name(preset, config)
    return f"{exp.headline(sec[exp.name])} ({name} preset" + (f"; changed: {', '.join(changed)})" if changed else ")")


def _run_study(*, preset, dataset, out, config, fresh, where, mnist_path, xxz_phase, quiet, parts=None,
               published: bool = True, report: bool = True, **fields) -> Run:
    from . import study as st
    from .console import run_study

    if fields:
        key = sorted(fields)[0]
        raise InputError(f"ql.run('all') takes parts=, published= and report= (and the options of every run); "
                         f"set {key} through config={{...}}", path=key)
    if dataset == "all":
        datasets = st.DATASET_NAMES
    else:
        datasets = (_dataset_name(dataset),)
    if preset is not None and preset not in ("paper", "quick") + st.STUDY_PRESETS:
        raise InputError(f"unknown preset {preset!r}; use paper or quick (or {', '.join(st.STUDY_PRESETS)})",
                         path="preset")
    if mnist_path is not None and "mnist" not in datasets:
        raise InputError("mnist_path applies to the mnist dataset only", path="mnist_path")
    if xxz_phase is not None and "xxz" not in datasets:
        raise InputError("xxz_phase applies to the xxz dataset only", path="xxz_phase")
    over = None
    if parts is not None:
        from .parsing import parse_list

        chosen = list(parse_list(parts if isinstance(parts, str) else ",".join(parts), st.parts(), "part", "parts"))
        over = {d: {"parts": chosen} for d in datasets}
    study = st.resolve(preset, datasets, config, mnist_path=mnist_path, xxz_phase=xxz_phase, overrides=over)
    name = preset or st.read_config(config).get("preset") or "paper"
    target = dataset if isinstance(dataset, str) else datasets[0]
    title = f"reproduce {target} ({name} preset" + (", with the overrides of the config file)" if config is not None
                                                    else ")")
    out = Path(out if out is not None else "runs/reproduce")
    t0 = time.perf_counter()
    lost, results = run_study(study, out, fresh, where, title, published=published, quiet=quiet, summaries=False)
    run = _loaded(out, lost, results)
    if not quiet:
        from .console import out as console

        console.print(f"finished in {time.perf_counter() - t0:.1f}s; run directory: {run.path}")
    if report:
        md, page = run.report()
        if not quiet:
            from .console import out as console

            for c in run.claims:
                console.print(f"claim {c.number} ({c.dataset}): {c.status}", highlight=False)
            console.print(f"report:   {md}  and  {page}")
    return run
