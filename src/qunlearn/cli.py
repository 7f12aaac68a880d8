"""The ``qunlearn`` command line: a thin shell over the experiments.

Every bad input is refused before any work starts with one line on stderr
(``qunlearn: error: ...``) and exit status 2; no file is touched.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .commands import EXECUTOR, FRESH, MNIST_PATH, PUBLISHED, SCHEDULER, WAIT, WORKERS, XXZ_PHASE, option, to_typer
from .console import DIVERGED_EXIT, err, out, print_claims, print_table
from .errors import FAULT_EXIT, InputError, fault_line
from .executor import check_args as check_executor_args
from .parsing import parse_list

try:  # typer >= 0.26 vendors click privately; older releases use click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _cx

app = typer.Typer(
    name="qunlearn",
    help="Poisoning resilience and machine unlearning of quantum vs classical networks "
         "(Chen & Zhang, arXiv:2508.02422).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Inspect or generate the datasets.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(data_app, name="data")


# ----------------------------------------------------------------- the experiments' commands

_OWN = ("config", "data", "reproduce", "report")  # the commands of this module


def _add_experiment_commands() -> None:
    """Give the parser every registered experiment's commands (:attr:`qunlearn.registry.Experiment.commands`):
    the built-in ones when this module loads, a notebook's or a test's when :func:`main` runs (and drop those
    of an experiment unregistered since)."""
    from . import registry

    wanted = {}
    for exp in registry.experiments().values():
        for name, fn in exp.commands.items():
            if name in _OWN:
                raise InputError(f"experiment {exp.name!r} declares a command {name!r}, which is qunlearn's own; "
                                 "rename it")
            wanted.setdefault(name, fn)
    stale = {n for n, fn in _ADDED.items() if wanted.get(n) is not fn}
    app.registered_commands[:] = [c for c in app.registered_commands if c.name not in stale]
    for name in stale:
        del _ADDED[name]
    for name, fn in wanted.items():
        if name not in _ADDED:
            app.command(name)(to_typer(fn))
            _ADDED[name] = fn


_ADDED: dict = {}  # command name -> the experiment's function behind it
_add_experiment_commands()


def _parts_help() -> str:
    from . import registry

    def one(e):
        note = e.title if e.opt_in else ", ".join(e.datasets or ())
        return f"{e.name} ({note})" if note else e.name

    return ("comma list of parts to run instead of the preset's: "
            + ", ".join(one(e) for e in registry.experiments().values()))


config_app = typer.Typer(help="Presets and config files of the whole study.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(config_app, name="config")

REPRODUCE_TARGETS = ("mnist", "xxz", "all")


@config_app.command("show")
def config_show(
    name: str = typer.Argument(..., help="a preset (paper-mnist, paper-xxz, quick, or paper) or a TOML file"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file whose fields override the preset"),
):
    """Print the resolved study config as TOML (a starting point for a config file)."""
    from . import study as st

    if name.endswith(".toml") or Path(name).is_file():
        if config is not None:
            raise InputError("give one config file: either NAME or --config")
        config, name = Path(name), None
    resolved = st.resolve(name, st.datasets_of(name, config), config)
    out.print(st.to_toml(resolved.to_dict()), markup=False, highlight=False, soft_wrap=True, end="")


def _command(group: typer.Typer, name: Optional[str] = None):
    """Register a command whose defaults may be :func:`qunlearn.commands.option` specs."""
    def add(fn):
        group.command(name)(to_typer(fn))
        return fn
    return add


@_command(app)
def reproduce(
    target: str = typer.Argument(..., help="mnist, xxz or all"),
    preset: Optional[str] = typer.Option(None, help="paper (the paper's settings) or quick; also paper-mnist, "
                                                    "paper-xxz [default: the config file's preset, else paper]"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file overriding any field of the preset"),
    out_dir: str = typer.Option("runs/reproduce", "--out", help="run directory"),
    mnist_path: Optional[Path] = typer.Option(None, help="full MNIST (mnist.npz or a directory of IDX files) "
                                                         "for every MNIST part"),
    xxz_phase: Optional[str] = XXZ_PHASE,
    fresh: bool = FRESH,
    parts: Optional[str] = option(None, "--parts", help=_parts_help()),
    report: bool = typer.Option(True, "--report/--no-report", help="write report.md and report.html at the end"),
    published: bool = PUBLISHED,
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
    wait: bool = WAIT,
):
    """Everything the paper reports for a dataset: alpha sweeps, unlearning, weight sweeps, landscape, t-SNE."""
    from . import api
    from . import study as st

    if target not in REPRODUCE_TARGETS:
        raise InputError(f"unknown target {target!r}; use one of {', '.join(REPRODUCE_TARGETS)}")
    if preset is not None and preset not in ("paper", "quick") + st.STUDY_PRESETS:
        raise InputError(f"unknown preset {preset!r}; use paper or quick (or {', '.join(st.STUDY_PRESETS)})")
    check_executor_args(executor, scheduler, workers)
    datasets = st.DATASET_NAMES if target == "all" else (target,)
    if mnist_path is not None and "mnist" not in datasets:
        raise InputError("--mnist-path applies to reproduce mnist or all")
    if xxz_phase is not None and "xxz" not in datasets:
        raise InputError("--xxz-phase applies to reproduce xxz or all")
    chosen = None if parts is None else list(parse_list(parts, st.parts(), "part", "--parts"))
    run = api.run("all", preset=preset, dataset=target, out=out_dir, config=config, mnist_path=mnist_path,
                  xxz_phase=xxz_phase, fresh=fresh, parts=chosen, report=report, published=published,
                  executor=executor, scheduler=scheduler, workers=workers, wait=wait)
    if run.lost:
        err.print("qunlearn: every run of a cell diverged; lower its learning rate", highlight=False)
        raise typer.Exit(DIVERGED_EXIT)


@_command(app, "report")
def report_cmd(
    run_dir: Path = typer.Argument(..., help="a run directory (qunlearn reproduce --out, or one experiment's)"),
    wait: bool = option(False, "--wait", help="if a command is writing the run, wait for it instead of stopping"),
):
    """Write DIR/report.md and DIR/report.html: setup, figures, key tables and the paper's claims tested."""
    from . import report as rep

    md, page, found = rep.write(run_dir, wait=wait)
    print_claims(found)
    out.print(f"report:   {md}  and  {page}")


@data_app.command("xxz")
def data_xxz(
    n_spins: int = typer.Option(12, help="chain length (even)"),
    n_per_class: int = typer.Option(83, help="grid points per phase"),
    delta_min: float = typer.Option(-0.95, help="smallest Delta (> -1)"),
    delta_max: float = typer.Option(3.0, help="largest Delta"),
    window: float = typer.Option(0.2, help="half-width of the skipped window around Delta = 1"),
    phase: str = typer.Option("random", "--xxz-phase", help="gauge: random (a random global phase per state, as "
                                                            "published) or fixed (real)"),
    phase_seed: int = typer.Option(0, help="seed of the random gauge"),
    show_states: bool = typer.Option(False, "--show-states", help="print every state of the grid"),
    rebuild: bool = typer.Option(False, "--rebuild", help="recompute the grid and overwrite its cache file"),
):
    """Generate (or load from cache) the XXZ ground states and print a summary."""
    from .data import load, xxz

    t0 = time.perf_counter()
    ds = load("xxz", n_spins=n_spins, n_per_class=n_per_class, delta_min=delta_min, delta_max=delta_max, window=window,
             phase=phase, phase_seed=phase_seed, rebuild=rebuild)
    lines, tables = xxz.describe(ds, states=show_states)
    for line in lines[:-1]:
        out.print(line, highlight=False)
    for title, table in tables:
        print_table(title, table)
    out.print(lines[-1], highlight=False)
    out.print(f"cache: {ds.info.get('cache_path')}  ({time.perf_counter() - t0:.1f}s)", highlight=False)


@_command(data_app, "mnist")
def data_mnist(
    mnist_path: Optional[Path] = MNIST_PATH,
    n_per_class: int = typer.Option(250, help="training images per class"),
):
    """Load MNIST 1 vs 9 (amplitude-encoded) and print a summary."""
    from .data import load

    ds = load("mnist", mnist_path=None if mnist_path is None else str(mnist_path), n_per_class=n_per_class)
    s = ds.summary()
    out.print(f"MNIST 1 (label 0) vs 9 (label 1), source: {s['source']}")
    out.print(f"train: {s['n_train']} {s['train_per_class']}; validation: {s['n_val']} {s['val_per_class']}")
    out.print(f"features: {s['n_features']} = 2^{s['n_qubits']} amplitudes ({ds.info['preprocessing']})")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every input error into one line and exit status 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    _stop_on_sigterm()
    try:
        _add_experiment_commands()
        rv = app(args=args, prog_name="qunlearn", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:
            # typer turns Ctrl-C / SIGTERM into Exit(130) and, without standalone mode, returns the code
            if rv == 130:
                err.print(_interrupted(None), highlight=False, markup=False, soft_wrap=True)
            return _exit(rv)
    except InputError as e:
        err.print(f"qunlearn: error: {e}", highlight=False, markup=False, soft_wrap=True)
        return _exit(2)
    except ImportError as e:  # a library that cannot load: a broken installation or a memory limit
        why = str(e).replace("\n", " ")[:200]
        err.print(f"qunlearn: error: a library could not be loaded ({why}); check the installation (pip install -e .) "
                  "and any memory limit (ulimit -v)", highlight=False, markup=False, soft_wrap=True)
        return _exit(FAULT_EXIT)
    except (OSError, MemoryError) as e:  # the environment's fault: disk full, read-only folder, out of memory
        err.print(f"qunlearn: error: {fault_line(e)}", highlight=False, markup=False, soft_wrap=True)
        return _exit(FAULT_EXIT)
    except _cx.NoArgsIsHelpError as e:
        out.print(e.ctx.get_help() if e.ctx is not None else "usage: qunlearn COMMAND --help",
                  markup=False, highlight=False)
        return _exit(0)
    except _cx.UsageError as e:
        path = e.ctx.command_path.replace("qunlearn", "", 1).strip() if e.ctx is not None else ""
        hint = f" (see 'qunlearn {path} --help')".replace("  ", " ")
        err.print(f"qunlearn: error: {e.format_message()}{hint}".replace("\n", " "),
                  highlight=False, markup=False, soft_wrap=True)
        return _exit(2)
    except (typer.Abort, KeyboardInterrupt) as e:
        err.print(_interrupted(e), highlight=False, markup=False, soft_wrap=True)
        return _exit(130)
    except typer.Exit as e:
        return _exit(e.exit_code)
    return _exit(0)


def _interrupted(e: BaseException | None) -> str:
    """The line a stop prints: what it cost (the cell in flight, if one was) and how to resume."""
    from .executor import last_interrupted

    lost = last_interrupted()
    lost = f"the cell in flight ({lost}) is lost; " if lost else ""
    return f"qunlearn: interrupted; {lost}finished cells are saved, rerun the same command to resume"


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (kill, a batch scheduler's stop) like Ctrl-C: finished cells stay, the run exits 130."""
    import signal
    import threading

    def stop(signum, frame):
        from .executor import request_stop

        request_stop()  # the backstop: the next cell boundary stops even if this exception gets swallowed
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        from .executor import clear_stop

        clear_stop()
        signal.signal(signal.SIGTERM, stop)
        if hasattr(signal, "SIGHUP"):  # a closed terminal stops a run as SIGTERM does
            signal.signal(signal.SIGHUP, stop)
        if not getattr(sys.unraisablehook, "qunlearn", False):
            default_hook = sys.unraisablehook

            def quiet_stop(unraisable):  # a stop that landed in a callback (JAX's gc hook): the flag still stops
                if not isinstance(unraisable.exc_value, KeyboardInterrupt):
                    default_hook(unraisable)

            quiet_stop.qunlearn = True
            sys.unraisablehook = quiet_stop


def _exit(code: int) -> int:
    from .executor import cell_in_flight

    if cell_in_flight():  # a stopped cell's compiled program still runs in its thread: end the process now
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if __name__ != "__main__":
        sys.exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
