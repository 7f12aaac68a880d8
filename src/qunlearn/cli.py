"""The ``qunlearn`` command line: a thin shell over the experiments.

Every bad input is refused before any work starts with one line on stderr
(``qunlearn: error: ...``) and exit status 2; no file is touched.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from pathlib import Path
from typing import NamedTuple, Optional

import typer

from .console import DIVERGED_EXIT, err, out, print_claims, print_table
from .errors import InputError, check_alpha, count
from .executor import check_args as check_executor_args
from .parsing import check_weight, parse_alphas, parse_grid, parse_list, parse_methods, parse_seeds, parse_weights

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


# ----------------------------------------------------------------- options shared by the commands

DATASET = typer.Option("mnist", help="mnist, xxz, a registered dataset or a .npz file of x_train, y_train, "
                                     "x_val, y_val")
FRESH = typer.Option(False, "--fresh", help="discard an existing run in --out and start over")
RUNS = typer.Option(None, help="independent runs per cell [preset: paper 5, quick 2]")
SEED = typer.Option(None, help="base seed; every cell derives its keys from it [0]")
MODEL = typer.Option(None, help="comma list of the preset's models [qnn,mlp]")
MNIST_PATH = typer.Option(None, help="full MNIST (mnist.npz or a directory of IDX files)")
PUBLISHED = typer.Option(True, "--published/--no-published", help="draw the paper's published numbers on Figure 2")
XXZ_PHASE = typer.Option(None, "--xxz-phase", help="gauge of the XXZ states: random (a random global phase per "
                                                   "state, as published) or fixed (real) [preset: random]")
EXECUTOR = typer.Option("local", "--executor", help="where cells run: local (this process) or dask")
SCHEDULER = typer.Option(None, "--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (--executor dask)")
WORKERS = typer.Option(None, "--workers", help="start a local dask cluster of N worker processes on loopback")

# The options every experiment command takes, added to its signature by @_experiment.
_SHARED = {
    "preset": (Optional[str], typer.Option(None, help="paper (the paper's settings) or quick [the config file's "
                                                      "preset, else paper]")),
    "config": (Optional[Path], typer.Option(None, "--config", help="TOML file overriding any field of the preset "
                                                                   "(flags override it)")),
    "precision": (Optional[str], typer.Option(None, help="circuit precision: complex64 or complex128 [complex64]")),
    "mnist_path": (Optional[Path], MNIST_PATH),
    "xxz_phase": (Optional[str], XXZ_PHASE),
    "fresh": (bool, FRESH),
    "executor": (str, EXECUTOR),
    "scheduler": (Optional[str], SCHEDULER),
    "workers": (Optional[int], WORKERS),
}


class _Common(NamedTuple):
    preset: Optional[str]
    config: Optional[Path]
    precision: Optional[str]
    mnist_path: Optional[Path]
    xxz_phase: Optional[str]
    fresh: bool
    executor: str
    scheduler: Optional[str]
    workers: Optional[int]

    @property
    def where(self) -> tuple:
        return self.executor, self.scheduler, self.workers


def _experiment(fn):
    """Give an experiment command the shared options (:data:`_SHARED`), passed to it as ``common``."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name != "common"]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=a)
               for n, (a, o) in _SHARED.items()]

    @functools.wraps(fn)
    def command(**kw):
        common = _Common(**{k: kw.pop(k) for k in _SHARED})
        check_executor_args(*common.where)
        return fn(**kw, common=common._replace(preset=_preset(common.preset, common.config)))

    command.__signature__ = sig.replace(parameters=params)
    del command.__wrapped__  # typer reads the signature above, not fn's
    return command


def _preset(flag: Optional[str], config: Optional[Path]) -> str:
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


def _given(**fields) -> dict:
    """The flags that were given, as a config tree (None means: keep the preset's value)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if v is not None}


def _model_list(model: Optional[str], common: _Common, dataset: str, part: str) -> Optional[list]:
    """``--model a,b`` checked against the preset's (and the config file's) models of ``part``."""
    from . import study as st

    if model is None:
        return None
    return list(parse_list(model, st.model_names(common.preset, dataset, common.config, part), "model", "--model"))


def _run(experiment: str, common: _Common, dataset: str, out_dir, title: Optional[str] = None, **fields) -> None:
    """Run one experiment through the Python API (:func:`qunlearn.api.run`) with the flags that were given."""
    from . import api

    run = api.run(experiment, preset=common.preset, dataset=dataset, out=out_dir, config=common.config,
                  fresh=common.fresh, executor=common.executor, scheduler=common.scheduler, workers=common.workers,
                  mnist_path=common.mnist_path, xxz_phase=common.xxz_phase, title=title,
                  **_given(precision=common.precision, **fields))
    if run.lost:
        err.print("qunlearn: every run of a cell diverged; lower the learning rate (--lr)", highlight=False)
        raise typer.Exit(DIVERGED_EXIT)


# ----------------------------------------------------------------- commands


@app.command()
@_experiment
def poison(
    dataset: str = DATASET,
    model: Optional[str] = MODEL,
    attack: Optional[str] = typer.Option(None, help="comma list of attacks [label-flip,feature-randomization]"),
    alphas: Optional[str] = typer.Option(None, help="noise ratios: start:stop:step (stop included) or a comma list "
                                                    "[0:0.9:0.1]"),
    runs: Optional[int] = RUNS,
    out_dir: str = typer.Option("runs/poison", "--out", help="run directory"),
    epochs: Optional[int] = typer.Option(None, help="override the preset's epochs (all models)"),
    batch_size: Optional[int] = typer.Option(None, help="override the preset's batch size (all models)"),
    lr: Optional[float] = typer.Option(None, help="override the preset's learning rate (all models)"),
    seed: Optional[int] = SEED,
    published: bool = PUBLISHED,
    common: _Common = None,
):
    """Noise-ratio sweep: train every (model, attack, alpha) cell and draw Figure 2."""
    from .vocab import ATTACKS

    models = _model_list(model, common, dataset, "poison") if model is not None else (
        ["qnn", "mlp"] if not common.config else None)
    _run("poison", common, dataset, out_dir, models=models,
         attacks=None if attack is None else parse_list(attack, ATTACKS, "attack", "--attack"),
         alphas=None if alphas is None else parse_alphas(alphas), runs=runs, seed=seed, epochs=epochs,
         batch_size=batch_size, lr=lr, published=published)


@app.command()
def quickstart(
    out_dir: str = typer.Option("runs/quickstart", "--out", help="run directory"),
    fresh: bool = FRESH,
):
    """The main job: a small label-flip sweep of the QNN and the MLP on MNIST (a few minutes)."""
    from . import api

    common = _Common("quick", None, None, None, None, fresh, "local", None, None)
    fields = {"attacks": ["label-flip"], "models": ["qnn", "mlp"]}
    cfg = api.resolve("poison", preset="quick", dataset="mnist", **fields)["poison"]
    out.print(
        "qunlearn quickstart: label flipping on MNIST 1 vs 9 (amplitude-encoded, 10 qubits), "
        f"{cfg.models['qnn'].describe()} vs {cfg.models['mlp'].describe()}, "
        f"alpha {cfg.alphas[0]}..{cfg.alphas[-1]}, {count(cfg.runs, 'run')} per alpha"
    )
    _run("poison", common, "mnist", out_dir, title="MNIST quickstart (quick preset)", **fields)


def _unlearn_over(attack, alpha, methods, runs, seed, weights=()) -> dict:
    """The unlearning flags that were given, checked, as config fields."""
    from .vocab import ATTACKS, PAPER_METHODS, method_names

    method_list = parse_methods(methods, method_names(), PAPER_METHODS)
    if attack is not None and attack not in ATTACKS:
        raise InputError(f"unknown attack {attack!r}; use one of {', '.join(ATTACKS)}")
    return _given(attack=attack, alpha=None if alpha is None else check_alpha(alpha), methods=method_list,
                  weights=parse_weights(weights) or None, runs=runs, seed=seed)


@app.command()
@_experiment
def unlearn(
    dataset: str = DATASET,
    model: Optional[str] = MODEL,
    attack: Optional[str] = typer.Option(None, help="how the forget set was poisoned [label-flip]"),
    alpha: Optional[str] = typer.Option(None, help="noise ratio of the poisoning to unlearn [0.3]"),
    methods: Optional[str] = typer.Option(None, help="comma list of methods, 'paper' (retrain,finetune,scrub,"
                                                     "gradient_ascent) or 'all' [the config file's, else paper]"),
    runs: Optional[int] = RUNS,
    out_dir: str = typer.Option("runs/unlearn", "--out", help="run directory"),
    epochs: Optional[int] = typer.Option(None, help="unlearning epochs (all models) [paper 50]"),
    batch_size: Optional[int] = typer.Option(None, help="unlearning batch size (all models)"),
    lr: Optional[float] = typer.Option(None, help="unlearning learning rate (all models)"),
    train_epochs: Optional[int] = typer.Option(None, help="epochs of training the model to unlearn"),
    weight: list[str] = typer.Option([], "--weight", help="METHOD.WEIGHT=VALUE, e.g. scrub.fo_w=0.5 (repeatable)"),
    seed: Optional[int] = SEED,
    common: _Common = None,
):
    """Unlearn the poison: train on poisoned data, run every method, draw Figure 3."""
    _run("unlearn", common, dataset, out_dir, models=_model_list(model, common, dataset, "unlearn"),
         **_unlearn_over(attack, alpha, methods, runs, seed, weight), epochs=epochs, batch_size=batch_size, lr=lr,
         train_epochs=train_epochs)


@app.command()
@_experiment
def sweep(
    method: str = typer.Argument(..., help="scrub (grid over kl_w x fo_w) or gradient_ascent (grid over fo_w)"),
    dataset: str = DATASET,
    model: Optional[str] = MODEL,
    attack: Optional[str] = typer.Option(None, help="label-flip or feature-randomization [label-flip]"),
    alpha: Optional[str] = typer.Option(None, help="noise ratio of the poisoning to unlearn [0.3]"),
    grid: Optional[str] = typer.Option(None, help="weight values: start:stop:step or a comma list [the config "
                                                  "file's, else the preset's: paper 0:0.9:0.1, quick 0,0.45,0.9]"),
    runs: Optional[int] = RUNS,
    out_dir: Optional[str] = typer.Option(None, "--out", help="run directory [runs/sweep-METHOD]"),
    epochs: Optional[int] = typer.Option(None, help="unlearning epochs (all models)"),
    train_epochs: Optional[int] = typer.Option(None, help="epochs of training the model to unlearn"),
    seed: Optional[int] = SEED,
    common: _Common = None,
):
    """Weight sweep of SCRUB or gradient ascent: final validation accuracy over the grid."""
    from .config import SWEEPS

    if method not in SWEEPS:
        raise InputError(f"no weight sweep for {method!r}; use one of {', '.join(SWEEPS)}")
    values = None if grid is None else parse_grid(grid, "weight", "--grid", check_weight)
    _run("sweeps", common, dataset, out_dir if out_dir is not None else f"runs/sweep-{method}",
         models=_model_list(model, common, dataset, "sweeps"), method=method, grid=values,
         **_unlearn_over(attack, alpha, None, runs, seed), epochs=epochs, train_epochs=train_epochs)


@app.command()
@_experiment
def landscape(
    dataset: str = DATASET,
    model: Optional[str] = typer.Option(None, help="comma list of the preset's models: qnn (the landscape ansatz), "
                                                   "mlp [qnn,mlp]"),
    alphas: Optional[str] = typer.Option(None, help="noisy label-flip ratios (the clean model is always trained) "
                                                    "[0.2,0.3,0.4]"),
    seeds: Optional[str] = typer.Option(None, help="comma list of seeds [0,42,123,1024,2048]"),
    out_dir: str = typer.Option("runs/landscape", "--out", help="run directory"),
    epochs: Optional[int] = typer.Option(None, help="override the training epochs"),
    n_hessian: Optional[int] = typer.Option(None, help="held-out points in the Hessian's loss [100]"),
    common: _Common = None,
):
    """Loss landscape: Hessian trace and top eigenvalues of clean vs label-noisy QNNs and MLPs."""
    _run("landscape", common, dataset, out_dir, models=_model_list(model, common, dataset, "landscape"),
         alphas=None if alphas is None else parse_alphas(alphas),
         seeds=None if seeds is None else parse_seeds(seeds), n_hessian=n_hessian, epochs=epochs)


@app.command()
def embed(
    dataset: str = DATASET,
    attack: Optional[str] = typer.Option(None, help="comma list of attacks [label-flip,feature-randomization]"),
    alpha: Optional[str] = typer.Option(None, help="noise ratio [0.3]"),
    out_dir: str = typer.Option("runs/embed", "--out", help="run directory"),
    seed: Optional[int] = typer.Option(None, help="seed of the poisoning and of t-SNE [0]"),
    perplexity: Optional[float] = typer.Option(None, help="t-SNE perplexity [30]"),
    mnist_path: Optional[Path] = MNIST_PATH,
    xxz_phase: Optional[str] = XXZ_PHASE,
    fresh: bool = FRESH,
):
    """t-SNE of clean, label-flipped and feature-randomised data, side by side."""
    from .vocab import ATTACKS

    common = _Common("paper", None, None, mnist_path, xxz_phase, fresh, "local", None, None)
    _run("embed", common, dataset, out_dir, title=f"t-SNE of {dataset.upper()}",
         attacks=None if attack is None else parse_list(attack, ATTACKS, "attack", "--attack"),
         alpha=None if alpha is None else check_alpha(alpha), seed=seed, perplexity=perplexity)


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


@app.command()
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
    parts: Optional[str] = typer.Option(None, "--parts", help="comma list of parts to run instead of the preset's: "
                                        "poison, gauge (xxz), unlearn, sweeps, landscape, embed, noise (beyond the "
                                        "paper: the study under device noise)"),
    report: bool = typer.Option(True, "--report/--no-report", help="write report.md and report.html at the end"),
    published: bool = PUBLISHED,
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
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
                  executor=executor, scheduler=scheduler, workers=workers)
    if run.lost:
        err.print("qunlearn: every run of a cell diverged; lower its learning rate", highlight=False)
        raise typer.Exit(DIVERGED_EXIT)


@app.command("report")
def report_cmd(
    run_dir: Path = typer.Argument(..., help="a run directory (qunlearn reproduce --out, or one experiment's)"),
):
    """Write DIR/report.md and DIR/report.html: setup, figures, key tables and the paper's claims tested."""
    from . import report as rep

    md, page, found = rep.write(run_dir)
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


@data_app.command("mnist")
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
        rv = app(args=args, prog_name="qunlearn", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:
            # typer turns Ctrl-C / SIGTERM into Exit(130) and, without standalone mode, returns the code
            if rv == 130:
                err.print("qunlearn: interrupted; finished cells are saved, rerun the same command to resume",
                          highlight=False)
            return _exit(rv)
    except InputError as e:
        err.print(f"qunlearn: error: {e}", highlight=False, markup=False, soft_wrap=True)
        return _exit(2)
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
    except typer.Abort:
        err.print("qunlearn: interrupted; finished cells are saved, rerun the same command to resume", highlight=False)
        return _exit(130)
    except KeyboardInterrupt:
        err.print("qunlearn: interrupted; finished cells are saved, rerun the same command to resume", highlight=False)
        return _exit(130)
    except typer.Exit as e:
        return _exit(e.exit_code)
    return _exit(0)


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


def _exit(code: int) -> int:
    if __name__ != "__main__":
        sys.exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
