"""Commands of the ``qunlearn`` command line, as experiments declare them.

An experiment adds its own commands (``qunlearn poison``, ``qunlearn sweep scrub``) by naming them in its
:attr:`qunlearn.registry.Experiment.commands`: command name -> a plain function whose keyword defaults are
:func:`option` / :func:`argument` specs. A parameter named ``common`` asks for the options every experiment
command shares (``--preset``, ``--config``, ``--precision``, ``--mnist-path``, ``--xxz-phase``, ``--fresh``,
``--executor``, ``--scheduler``, ``--workers``, ``--wait``), passed in as one :class:`Common`. The body checks its
flags
and calls :func:`run` (the Python API's :func:`qunlearn.api.run`), so a command is a few lines in the
experiment's own file, and the CLI module names no experiment.

The specs are plain tuples: declaring a command imports neither typer nor anything numeric; the CLI turns
them into typer options (:func:`to_typer`) when it builds its parser.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from .errors import InputError


class Opt(NamedTuple):
    """A command-line option (or positional argument) of a command: its default, flags and help."""

    default: Any
    flags: tuple[str, ...]
    help: str
    argument: bool = False


def option(default: Any = None, *flags: str, help: str = "") -> Opt:
    """An option; ``flags`` as typer takes them (``"--out"``, ``"--published/--no-published"``), else the
    parameter's name."""
    return Opt(default, flags, help)


def argument(default: Any = ..., *, help: str = "") -> Opt:
    """A positional argument (required unless given a default)."""
    return Opt(default, (), help, True)


# ----------------------------------------------------------------- options shared by the commands

DATASET = option("mnist", help="mnist, xxz, a registered dataset or a .npz file of x_train, y_train, x_val, y_val")
FRESH = option(False, "--fresh", help="discard an existing run in --out and start over")
RUNS = option(None, help="independent runs per cell [preset: paper 5, quick 2]")
SEED = option(None, help="base seed; every cell derives its keys from it [0]")
MODEL = option(None, help="comma list of the preset's models [qnn,mlp]")
MNIST_PATH = option(None, help="full MNIST (mnist.npz or a directory of IDX files)")
PUBLISHED = option(True, "--published/--no-published", help="draw the paper's published numbers on Figure 2")
XXZ_PHASE = option(None, "--xxz-phase", help="gauge of the XXZ states: random (a random global phase per state, "
                                             "as published) or fixed (real) [preset: random]")
EXECUTOR = option("local", "--executor", help="where cells run: local (this process) or dask")
SCHEDULER = option(None, "--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (--executor dask)")
WORKERS = option(None, "--workers", help="start a local dask cluster of N worker processes on loopback")
WAIT = option(False, "--wait", help="if another command is writing --out, wait for it instead of stopping")

#: The options every experiment command takes (a parameter named ``common``): name -> (type, option).
SHARED = {
    "preset": (Optional[str], option(None, help="paper (the paper's settings) or quick [the config file's preset, "
                                                "else paper]")),
    "config": (Optional[Path], option(None, "--config", help="TOML file overriding any field of the preset "
                                                             "(flags override it)")),
    "precision": (Optional[str], option(None, help="circuit precision: complex64 or complex128 [complex64]")),
    "mnist_path": (Optional[Path], MNIST_PATH),
    "xxz_phase": (Optional[str], XXZ_PHASE),
    "fresh": (bool, FRESH),
    "executor": (str, EXECUTOR),
    "scheduler": (Optional[str], SCHEDULER),
    "workers": (Optional[int], WORKERS),
    "wait": (bool, WAIT),
}


class Common(NamedTuple):
    """The shared options of an experiment command, as given (``preset`` resolved against ``--config``)."""

    preset: Optional[str]
    config: Optional[Path] = None
    precision: Optional[str] = None
    mnist_path: Optional[Path] = None
    xxz_phase: Optional[str] = None
    fresh: bool = False
    executor: str = "local"
    scheduler: Optional[str] = None
    workers: Optional[int] = None
    wait: bool = False

    @property
    def where(self) -> tuple:
        return self.executor, self.scheduler, self.workers


# ----------------------------------------------------------------- what a command's body calls


def preset_of(flag: Optional[str], config: Optional[Path]) -> str:
    """``--preset``, else the config file's ``preset`` (paper-mnist and paper-xxz mean paper), else paper."""
    from . import study as st

    name = flag
    if name is None and config is not None:
        name = st.read_toml(config).get("preset")
        if name is not None and not isinstance(name, str):
            raise InputError(f"config file {str(config)!r}: preset must be a string such as \"quick\", got {name!r}")
        if name is not None and name not in ("paper", "quick") + st.STUDY_PRESETS:
            raise InputError(f"config file {str(config)!r}: unknown preset {name!r}; use paper or quick")
        name = "paper" if name in ("paper-mnist", "paper-xxz") else name
    return name or "paper"


def given(**fields) -> dict:
    """The flags that were given, as config fields (None means: keep the preset's value)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if v is not None}


def model_list(model: Optional[str], common: Common, dataset: str, experiment: str) -> Optional[list]:
    """``--model a,b`` checked against the preset's (and the config file's) models of ``experiment``."""
    from . import study as st
    from .parsing import parse_list

    if model is None:
        return None
    return list(parse_list(model, st.model_names(common.preset, dataset, common.config, experiment), "model",
                           "--model"))


def run(experiment: str, common: Common, dataset: str, out_dir, title: Optional[str] = None, **fields):
    """Run one experiment through the Python API (:func:`qunlearn.api.run`) with the flags that were given;
    a run whose every cell diverged exits with :data:`qunlearn.console.DIVERGED_EXIT`."""
    from . import api
    from .console import DIVERGED_EXIT, err

    result = api.run(experiment, preset=common.preset, dataset=dataset, out=out_dir, config=common.config,
                     fresh=common.fresh, executor=common.executor, scheduler=common.scheduler,
                     workers=common.workers, mnist_path=common.mnist_path, xxz_phase=common.xxz_phase, title=title,
                     wait=common.wait,
                     **given(precision=common.precision, **fields))
    if result.lost:
        import typer

        err.print("qunlearn: every run of a cell diverged; lower the learning rate (--lr)", highlight=False)
        raise typer.Exit(DIVERGED_EXIT)
    return result


# ----------------------------------------------------------------- the parser's side


def _typer_default(spec: Any):
    import typer

    if not isinstance(spec, Opt):
        return spec
    if spec.argument:
        return typer.Argument(spec.default, help=spec.help)
    return typer.Option(spec.default, *spec.flags, help=spec.help)


def to_typer(fn: Callable) -> Callable:
    """The typer command of ``fn``: its :class:`Opt` defaults become typer options, and a ``common``
    parameter becomes the shared options (:data:`SHARED`), checked and passed in as one :class:`Common`."""
    from .executor import check_args as check_executor_args

    hints = typing.get_type_hints(fn, localns={"Optional": Optional, "Path": Path, "Common": Common})
    sig = inspect.signature(fn)
    shared = "common" in sig.parameters
    params = [p.replace(default=_typer_default(p.default), annotation=hints.get(p.name, p.annotation))
              for p in sig.parameters.values() if p.name != "common"]
    if shared:
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=_typer_default(o), annotation=a)
                   for n, (a, o) in SHARED.items()]

    def command(**kw):
        if shared:
            common = Common(**{k: kw.pop(k) for k in SHARED})
            check_executor_args(*common.where)
            kw["common"] = common._replace(preset=preset_of(common.preset, common.config))
        return fn(**kw)

    command.__name__, command.__qualname__, command.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    command.__module__ = fn.__module__
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command
