"""The ``qunlearn`` command line: a thin shell over the experiments.

Every bad input is refused before any work starts with one line on stderr
(``qunlearn: error: ...``) and exit status 2; no file is touched.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import InputError, check_alpha, check_choices, check_nonnegative
from .executor import check_args as check_executor_args

try:  # typer >= 0.26 vendors click privately; older releases use click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _cx

app = typer.Typer(
    name="qunlearn",
    help="Poisoning resilience and machine unlearning of quantum vs classical networks (Chen & Zhang, arXiv:2508.02422).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Inspect or generate the datasets.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(data_app, name="data")

out = Console(width=None if sys.stdout.isatty() else 170)
err = Console(stderr=True, log_path=False)


# ----------------------------------------------------------------- parsing


def parse_grid(text: str, what: str, flag: str, check) -> tuple[float, ...]:
    """``start:stop:step`` (stop included) or a comma list; every value passed through ``check``."""
    text = (text or "").strip()
    if not text:
        raise InputError(f"the {what} grid is empty; pass e.g. {flag} 0:0.9:0.1 or {flag} 0,0.3,0.5")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"{what} range {text!r} must be start:stop:step, e.g. 0:0.9:0.1")
        try:
            start, stop, step = (float(p) for p in parts)
        except ValueError:
            raise InputError(f"{what} range {text!r} must hold three numbers, e.g. 0:0.9:0.1") from None
        if not all(math.isfinite(v) for v in (start, stop, step)) or step <= 0:
            raise InputError(f"{what} range {text!r} needs a positive finite step, e.g. 0:0.9:0.1")
        if stop < start:
            raise InputError(f"{what} range {text!r} is empty (stop < start); e.g. 0:0.9:0.1")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        values = [round(start + i * step, 10) for i in range(count)]
    else:
        values = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise InputError(f"{what} list {text!r} has an empty entry; e.g. {flag} 0,0.3,0.5")
            values.append(check(part))
    return tuple(check(v) for v in values)


def parse_alphas(text: str) -> tuple[float, ...]:
    """Noise ratios: ``start:stop:step`` (stop included) or a comma list such as ``0,0.3,0.5``."""
    return parse_grid(text, "alpha", "--alphas", check_alpha)


def _check_weight(v) -> float:
    return check_nonnegative(v, "loss weight")


def parse_weights(items: list[str]) -> dict[str, dict[str, float]]:
    """``--weight scrub.fo_w=0.5`` (repeatable) -> {"scrub": {"fo_w": 0.5}}."""
    out: dict[str, dict[str, float]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise InputError(f"--weight {item!r} must look like METHOD.WEIGHT=VALUE, e.g. --weight scrub.fo_w=0.5")
        out.setdefault(method.strip(), {})[name.strip()] = _check_weight(value)
    return out


def parse_list(text: str, allowed: tuple[str, ...], what: str, flag: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in (text or "").split(",") if s.strip())
    if not items:
        raise InputError(f"no {what} given; pass {flag} {','.join(allowed)}")
    return check_choices(items, allowed, what)


# ----------------------------------------------------------------- options shared by the commands

DATASET = typer.Option("mnist", help="mnist or xxz")
PRECISION = typer.Option("complex64", help="circuit precision: complex64 or complex128")
MNIST_PATH = typer.Option(None, help="full MNIST (mnist.npz or a directory of IDX files)")
FRESH = typer.Option(False, "--fresh", help="discard an existing run in --out and start over")


def _data_options(dataset: str, mnist_path: Optional[Path]) -> dict:
    """The data options of ``--mnist-path`` (refused for a dataset other than MNIST)."""
    if mnist_path is None:
        return {}
    if dataset != "mnist":
        raise InputError("--mnist-path applies to --dataset mnist only")
    return {"mnist_path": str(mnist_path)}


# ----------------------------------------------------------------- executors

EXECUTOR = typer.Option("local", "--executor", help="where cells run: local (this process) or dask")
SCHEDULER = typer.Option(None, "--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (--executor dask)")
WORKERS = typer.Option(None, "--workers", help="start a local dask cluster of N worker processes on loopback")


def _executor(executor: str, scheduler: Optional[str], workers: Optional[int]):
    from .executor import make_executor

    ex = make_executor(executor, scheduler=scheduler, workers=workers)
    if executor != "local":
        err.print(f"executor: {ex.describe()}", highlight=False)
    return ex


# ----------------------------------------------------------------- output


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _fmt(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    if math.isnan(std):  # a single run: no spread to report
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def print_poison_summary(results, title: str) -> None:
    from .experiments.common import summarize

    s = summarize(results, ["model", "attack", "alpha"], ["train_acc", "val_acc", "train_clean_acc"])
    wide = s.pivot_table(index=["model", "attack", "alpha"], columns="metric", values=["mean", "std"], sort=False, dropna=False)
    table = Table(title=title, show_lines=False)
    for col in ("model", "attack", "alpha", "train acc (poisoned labels)", "train acc (true labels)", "val acc (clean)"):
        table.add_column(col, justify="right" if col != "attack" and col != "model" else "left")
    prev = None
    for (model, attack, alpha), row in wide.iterrows():
        if prev is not None and prev != (model, attack):
            table.add_section()
        prev = (model, attack)
        table.add_row(
            model, attack, f"{alpha:.2f}",
            _fmt(row[("mean", "train_acc")], row[("std", "train_acc")]),
            _fmt(row[("mean", "train_clean_acc")], row[("std", "train_clean_acc")]),
            _fmt(row[("mean", "val_acc")], row[("std", "val_acc")]),
        )
    out.print(table)


# ----------------------------------------------------------------- commands


def _poison_sweep(cfg, out_dir: Path, fresh: bool, title: str, executor=("local", None, None)) -> None:
    from . import plots
    from .experiments import poisoning
    from .runs import RunDir

    run_dir = RunDir(out_dir, "poison", cfg.to_dict(), fresh=fresh)  # refuses a clashing directory
    _check_data(cfg)
    todo = poisoning.cells(cfg)
    t0 = time.perf_counter()
    with _executor(*executor) as ex, _progress() as progress:
        task = progress.add_task(f"{cfg.dataset} sweep", total=len(todo))

        def on_cell(cell, status, seconds):
            note = "cached" if status == "skipped" else f"{seconds:.1f}s"
            progress.console.log(f"{cell.model:>4} {cell.attack:<22} alpha={cell.alpha:.2f}  {note}")
            progress.advance(task)

        history = poisoning.run(cfg, run_dir, on_cell=on_cell, executor=ex)
    results = poisoning.final_table(history)
    figs = plots.figure2(results, run_dir.path / "figure2", title=title)
    print_poison_summary(results, f"{title}: final accuracy, mean ± std over {cfg.runs} runs")
    out.print(f"finished in {time.perf_counter() - t0:.1f}s")
    out.print(f"results:  {run_dir.path / 'results.csv'}  (per-epoch curves: history.csv)")
    out.print(f"config:   {run_dir.path / 'config.json'}")
    out.print(f"figure:   {figs[0]}  and  {figs[1]}")


@app.command()
def poison(
    dataset: str = DATASET,
    model: str = typer.Option("qnn,mlp", help="comma list of models: qnn, mlp"),
    attack: str = typer.Option("label-flip,feature-randomization", help="comma list of attacks"),
    alphas: str = typer.Option("0:0.9:0.1", help="noise ratios: start:stop:step (stop included) or a comma list"),
    runs: Optional[int] = typer.Option(None, help="independent runs per cell [preset: paper 5, quick 2]"),
    preset: str = typer.Option("paper", help="paper (PAPER.md settings) or quick"),
    out_dir: Path = typer.Option(Path("runs/poison"), "--out", help="run directory"),
    epochs: Optional[int] = typer.Option(None, help="override the preset's epochs (all models)"),
    batch_size: Optional[int] = typer.Option(None, help="override the preset's batch size (all models)"),
    lr: Optional[float] = typer.Option(None, help="override the preset's learning rate (all models)"),
    seed: int = typer.Option(0, help="base seed; every cell derives its keys from it"),
    precision: str = PRECISION,
    mnist_path: Optional[Path] = MNIST_PATH,
    fresh: bool = FRESH,
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
):
    """Noise-ratio sweep: train every (model, attack, alpha) cell and draw Figure 2."""
    check_executor_args(executor, scheduler, workers)
    from .config import DATASET_NAMES, MODEL_KINDS, poison_preset, with_overrides, with_train_overrides
    from .poison import ATTACKS

    if dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    models = parse_list(model, MODEL_KINDS, "model", "--model")
    attacks = parse_list(attack, ATTACKS, "attack", "--attack")
    grid = parse_alphas(alphas)
    data_options = _data_options(dataset, mnist_path)
    cfg = poison_preset(preset, dataset)
    cfg = with_train_overrides(cfg, epochs=epochs, batch_size=batch_size, lr=lr)
    cfg = with_overrides(
        cfg,
        models={m: cfg.models[m] for m in models},
        attacks=attacks,
        alphas=grid,
        runs=runs,
        seed=seed,
        precision=precision,
        data_options=data_options,
    )
    from .backend import check_precision  # imports TensorCircuit: keep it out of start-up

    check_precision(precision)
    _poison_sweep(cfg, out_dir, fresh, f"{dataset.upper()} ({preset} preset)", (executor, scheduler, workers))


@app.command()
def quickstart(
    out_dir: Path = typer.Option(Path("runs/quickstart"), "--out", help="run directory"),
    fresh: bool = FRESH,
):
    """The main job: a small label-flip sweep of the QNN and the MLP on MNIST (a few minutes)."""
    from .config import poison_preset, with_overrides

    cfg = with_overrides(poison_preset("quick", "mnist"), attacks=("label-flip",))
    out.print(
        "qunlearn quickstart: label flipping on MNIST 1 vs 9 (amplitude-encoded, 10 qubits), "
        f"QNN depth {cfg.models['qnn'].depth} vs MLP {cfg.models['mlp'].hidden}, "
        f"alpha {cfg.alphas[0]}..{cfg.alphas[-1]}, {cfg.runs} runs per alpha"
    )
    _poison_sweep(cfg, out_dir, fresh, "MNIST quickstart (quick preset)")


UNLEARN_COLUMNS = (
    ("val_acc", "val acc"),
    ("retain_acc", "retain acc"),
    ("forget_acc", "forget acc (true)"),
    ("forget_poison_acc", "poison memory"),
    ("mia_auc", "MIA AUC"),
    ("oracle_agreement_val", "oracle agree (val)"),
    ("oracle_kl_val", "oracle KL (val)"),
    ("time_s", "time s"),
    ("speedup", "speedup vs retrain"),
)


def print_unlearn_summary(results, title: str) -> None:
    from .experiments.common import summarize

    last = results[results["step"] == results.groupby("model")["step"].transform("max")]
    s = summarize(last, ["model", "method"], [m for m, _ in UNLEARN_COLUMNS])
    wide = s.pivot_table(index=["model", "method"], columns="metric", values=["mean", "std"], sort=False, dropna=False)
    table = Table(title=title)
    table.add_column("model")
    table.add_column("method")
    for _, label in UNLEARN_COLUMNS:
        table.add_column(label, justify="right")
    prev = None
    for (model, method), row in wide.iterrows():
        if prev is not None and prev != model:
            table.add_section()
        prev = model
        cells = []
        for metric, _ in UNLEARN_COLUMNS:
            if ("mean", metric) not in row.index:
                cells.append("-")
            elif metric in ("time_s", "speedup"):
                cells.append(f"{row[('mean', metric)]:.2f}")
            else:
                cells.append(_fmt(row[("mean", metric)], row[("std", metric)]))
        table.add_row(model, method, *cells)
    out.print(table)


def _unlearn_config(dataset, model, attack, alpha, methods, runs, preset, epochs, batch_size, lr, train_epochs,
                    weights, seed, precision, mnist_path):
    from .config import DATASET_NAMES, MODEL_KINDS, unlearn_preset, with_overrides, with_unlearn_overrides
    from .poison import ATTACKS
    from .unlearn import METHODS, PAPER_METHODS

    if dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    models = parse_list(model, MODEL_KINDS, "model", "--model")
    if attack not in ATTACKS:
        raise InputError(f"unknown attack {attack!r}; use one of {', '.join(ATTACKS)}")
    alpha = check_alpha(alpha)
    if methods == "all":
        method_list = tuple(METHODS)
    elif methods == "paper":
        method_list = PAPER_METHODS
    else:
        method_list = parse_list(methods, tuple(METHODS), "unlearning method", "--methods")
    from .backend import check_precision

    check_precision(precision)
    data_options = _data_options(dataset, mnist_path)
    cfg = unlearn_preset(preset, dataset)
    cfg = with_unlearn_overrides(cfg, epochs=epochs, batch_size=batch_size, lr=lr)
    if train_epochs is not None:
        from dataclasses import replace

        cfg = replace(cfg, models={k: replace(v, train=replace(v.train, epochs=train_epochs)) for k, v in cfg.models.items()})
    return with_overrides(
        cfg, models={m: cfg.models[m] for m in models}, attack=attack, alpha=alpha, methods=method_list,
        weights=parse_weights(weights), runs=runs, seed=seed, precision=precision,
        data_options=data_options,
    )


def _check_data(cfg) -> None:
    """Load the dataset up front and check the models fit in memory, so that a bad data file or an
    impossible size is refused before the directory is touched."""
    from . import data as data_mod
    from .experiments.common import check_memory

    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    if isinstance(cfg.models, dict):  # the alpha sweep and unlearning; the landscape names model kinds only
        check_memory(cfg.models, ds, cfg.runs, cfg.precision)


@app.command()
def unlearn(
    dataset: str = DATASET,
    model: str = typer.Option("qnn,mlp", help="comma list of models: qnn, mlp"),
    attack: str = typer.Option("label-flip", help="how the forget set was poisoned: label-flip or feature-randomization"),
    alpha: str = typer.Option("0.3", help="noise ratio of the poisoning to unlearn"),
    methods: str = typer.Option("paper", help="comma list of methods, 'paper' (retrain,finetune,scrub,gradient_ascent) or 'all'"),
    runs: Optional[int] = typer.Option(None, help="independent runs [preset: paper 5, quick 2]"),
    preset: str = typer.Option("paper", help="paper (PAPER.md settings) or quick"),
    out_dir: Path = typer.Option(Path("runs/unlearn"), "--out", help="run directory"),
    epochs: Optional[int] = typer.Option(None, help="unlearning epochs (all models) [paper 50]"),
    batch_size: Optional[int] = typer.Option(None, help="unlearning batch size (all models)"),
    lr: Optional[float] = typer.Option(None, help="unlearning learning rate (all models)"),
    train_epochs: Optional[int] = typer.Option(None, help="epochs of training the model to unlearn"),
    weight: list[str] = typer.Option([], "--weight", help="METHOD.WEIGHT=VALUE, e.g. scrub.fo_w=0.5 (repeatable)"),
    seed: int = typer.Option(0, help="base seed"),
    precision: str = PRECISION,
    mnist_path: Optional[Path] = MNIST_PATH,
    fresh: bool = FRESH,
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
):
    """Unlearn the poison: train on poisoned data, run every method, draw Figure 3."""
    check_executor_args(executor, scheduler, workers)
    from . import plots
    from .experiments import unlearning
    from .runs import RunDir

    cfg = _unlearn_config(dataset, model, attack, alpha, methods, runs, preset, epochs, batch_size, lr, train_epochs,
                          weight, seed, precision, mnist_path)
    run_dir = RunDir(out_dir, "unlearn", cfg.to_dict(), fresh=fresh)
    _check_data(cfg)
    todo = unlearning.cells(cfg)
    t0 = time.perf_counter()
    with _executor(executor, scheduler, workers) as ex, _progress() as progress:
        task = progress.add_task(f"{cfg.dataset} unlearning", total=len(todo) + len(cfg.models))

        def on_cell(cell, status, seconds):
            note = "cached" if status == "skipped" else (f"{seconds:.1f}s" if seconds else "done")
            progress.console.log(f"{cell[0]:>4} {cell[1]:<24} {note}")
            progress.advance(task)

        history, results = unlearning.run(cfg, run_dir, on_cell=on_cell, executor=ex)
    title = f"{dataset.upper()} unlearning, {attack} alpha={cfg.alpha} ({preset} preset)"
    figs = plots.figure3(history, run_dir.path / "figure3", title=title)
    print_unlearn_summary(results, f"{title}: final step, mean ± std over {cfg.runs} runs")
    out.print(f"finished in {time.perf_counter() - t0:.1f}s")
    out.print(f"results:  {run_dir.path / 'results.csv'}  (per-epoch curves: history.csv)")
    out.print(f"figure:   {figs[0]}  and  {figs[1]}")


@app.command()
def sweep(
    method: str = typer.Argument(..., help="scrub (grid over kl_w x fo_w) or gradient_ascent (grid over fo_w)"),
    dataset: str = DATASET,
    model: str = typer.Option("qnn,mlp", help="comma list of models: qnn, mlp"),
    attack: str = typer.Option("label-flip", help="label-flip or feature-randomization"),
    alpha: str = typer.Option("0.3", help="noise ratio of the poisoning to unlearn"),
    grid: str = typer.Option("0:0.9:0.1", help="weight values: start:stop:step or a comma list"),
    runs: Optional[int] = typer.Option(None, help="independent runs [preset: paper 5, quick 2]"),
    preset: str = typer.Option("paper", help="paper or quick"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="run directory [runs/sweep-METHOD]"),
    epochs: Optional[int] = typer.Option(None, help="unlearning epochs (all models)"),
    train_epochs: Optional[int] = typer.Option(None, help="epochs of training the model to unlearn"),
    seed: int = typer.Option(0, help="base seed"),
    precision: str = PRECISION,
    mnist_path: Optional[Path] = MNIST_PATH,
    fresh: bool = FRESH,
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
):
    """Weight sweep of SCRUB or gradient ascent: final validation accuracy over the grid."""
    check_executor_args(executor, scheduler, workers)
    from . import plots
    from .experiments import unlearning
    from .runs import RunDir

    if method not in unlearning.SWEEPS:
        raise InputError(f"no weight sweep for {method!r}; use one of {', '.join(unlearning.SWEEPS)}")
    values = parse_grid(grid, "weight", "--grid", _check_weight)
    cfg = _unlearn_config(dataset, model, attack, alpha, method, runs, preset, epochs, None, None, train_epochs,
                          [], seed, precision, mnist_path)
    out_dir = out_dir or Path(f"runs/sweep-{method}")
    record = unlearning.sweep_record(cfg, method, values)
    run_dir = RunDir(out_dir, "sweep", record, fresh=fresh)
    _check_data(cfg)
    todo = unlearning.sweep_cells(cfg, method, values)
    t0 = time.perf_counter()
    with _executor(executor, scheduler, workers) as ex, _progress() as progress:
        task = progress.add_task(f"{method} sweep", total=len(todo) + len(cfg.models))

        def on_cell(cell, status, seconds):
            row = "" if cell[2] is None else f"kl_w={cell[2]:.2f}"
            progress.console.log(f"{cell[0]:>4} {cell[1]} {row} {'cached' if status == 'skipped' else f'{seconds:.1f}s'}")
            progress.advance(task)

        table = unlearning.run_sweep(cfg, method, values, run_dir, on_cell=on_cell, executor=ex)
    figs = plots.sweep_figure(table, method, run_dir.path / f"sweep-{method}",
                              title=f"{dataset.upper()} {method} weight sweep (alpha={cfg.alpha})")
    val = table[table["metric"] == "val_acc"]
    by = ["model", "kl_w", "fo_w"] if method == "scrub" else ["model", "fo_w"]
    summary = val.groupby(by)["value"].agg(["mean", "std"]).reset_index()
    t = Table(title=f"{method} sweep: final validation accuracy, mean over {cfg.runs} runs")
    for col in by + ["val acc"]:
        t.add_column(col, justify="right")
    for _, r in summary.iterrows():
        t.add_row(*[str(r[c]) if c == "model" else f"{r[c]:.2f}" for c in by], _fmt(r["mean"], r["std"]))
    out.print(t)
    best = summary.loc[summary.groupby("model")["mean"].idxmax()]
    for _, r in best.iterrows():
        w = ", ".join(f"{c}={r[c]:.2f}" for c in by[1:])
        out.print(f"best for {r['model']}: {w} -> val acc {r['mean']:.3f}")
    out.print(f"finished in {time.perf_counter() - t0:.1f}s; results: {run_dir.path / 'results.csv'}; figure: {figs[0]}")


@app.command()
def landscape(
    dataset: str = DATASET,
    model: str = typer.Option("qnn,mlp", help="comma list of models: qnn (the landscape ansatz), mlp"),
    alphas: str = typer.Option("0.2,0.3,0.4", help="noisy label-flip ratios (the clean model is always trained)"),
    seeds: str = typer.Option("0,42,123,1024,2048", help="comma list of seeds"),
    preset: str = typer.Option("paper", help="paper (PAPER.md settings) or quick"),
    out_dir: Path = typer.Option(Path("runs/landscape"), "--out", help="run directory"),
    epochs: Optional[int] = typer.Option(None, help="override the training epochs"),
    n_hessian: Optional[int] = typer.Option(None, help="held-out points in the Hessian's loss [100]"),
    precision: str = PRECISION,
    mnist_path: Optional[Path] = MNIST_PATH,
    fresh: bool = FRESH,
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
):
    """Loss landscape: Hessian trace and top eigenvalues of clean vs label-noisy QNNs and MLPs."""
    check_executor_args(executor, scheduler, workers)
    from dataclasses import replace

    from . import plots
    from .config import MODEL_KINDS, landscape_preset
    from .experiments import landscape as exp
    from .runs import RunDir

    models = parse_list(model, MODEL_KINDS, "model", "--model")
    grid = parse_alphas(alphas)
    seed_list = []
    for part in seeds.split(","):
        try:
            seed_list.append(int(part.strip()))
        except ValueError:
            raise InputError(f"seeds must be comma-separated non-negative integers, got {seeds!r}") from None
    from .backend import check_precision

    check_precision(precision)
    cfg = landscape_preset(preset, dataset)
    changes = dict(models=models, alphas=grid, seeds=tuple(seed_list), precision=precision,
                   data_options=_data_options(dataset, mnist_path))
    if epochs is not None:
        changes["train"] = replace(cfg.train, epochs=epochs, eval_every=epochs)
    if n_hessian is not None:
        changes["n_hessian"] = n_hessian
    cfg = replace(cfg, **changes)
    run_dir = RunDir(out_dir, "landscape", cfg.to_dict(), fresh=fresh)
    _check_data(cfg)
    t0 = time.perf_counter()
    with _executor(executor, scheduler, workers) as ex, _progress() as progress:
        task = progress.add_task("landscape", total=len(exp.cells(cfg)))

        def on_cell(cell, status, seconds):
            progress.console.log(f"{cell[0]:>4} seed {cell[1]:<6} {'cached' if status == 'skipped' else f'{seconds:.1f}s'}")
            progress.advance(task)

        result = exp.run(cfg, run_dir, on_cell=on_cell, executor=ex)
    figs = plots.landscape_figure(result, run_dir.path / "landscape", title=f"{dataset.upper()} loss landscape ({preset} preset)")
    from .experiments.common import summarize

    ex = exp.excluded(result)
    dropped = set(map(tuple, ex[["model", "alpha", "seed"]].to_numpy().tolist()))
    kept = result[[(m, a, sd) not in dropped for m, a, sd in zip(result["model"], result["alpha"], result["seed"])]]
    s = summarize(kept, ["model", "alpha"], ["trace", "trace_ratio", "top_eig_1", "top_eig_ratio", "val_acc"])
    wide = s.pivot_table(index=["model", "alpha"], columns="metric", values=["mean", "std"], sort=False, dropna=False)
    t = Table(title=f"Hessian of the held-out loss ({cfg.n_hessian} points): mean ± std over seeds, collapsed runs excluded")
    for col in ("model", "alpha", "trace", "trace ratio", "top eigenvalue", "top-eig ratio", "val acc"):
        t.add_column(col, justify="right")
    for (m, a), row in wide.iterrows():
        get = lambda k: _fmt(row.get(("mean", k), float("nan")), row.get(("std", k), float("nan")))  # noqa: E731
        t.add_row(m, f"{a:.1f}", get("trace"), get("trace_ratio"), get("top_eig_1"), get("top_eig_ratio"), get("val_acc"))
    out.print(t)
    if len(ex):
        out.print("excluded (collapsed to a constant predictor): " +
                  ", ".join(f"{r.model} alpha={r.alpha:.1f} seed={r.seed}" for r in ex.itertuples()))
    else:
        out.print("no run collapsed to a constant predictor")
    out.print(f"finished in {time.perf_counter() - t0:.1f}s; results: {run_dir.path / 'results.csv'}; figure: {figs[0]}")


@app.command()
def embed(
    dataset: str = DATASET,
    attack: str = typer.Option("label-flip,feature-randomization", help="comma list of attacks"),
    alpha: str = typer.Option("0.3", help="noise ratio"),
    out_dir: Path = typer.Option(Path("runs/embed"), "--out", help="run directory"),
    seed: int = typer.Option(0, help="seed of the poisoning and of t-SNE"),
    perplexity: float = typer.Option(30.0, help="t-SNE perplexity"),
    mnist_path: Optional[Path] = MNIST_PATH,
    fresh: bool = FRESH,
):
    """t-SNE of clean, label-flipped and feature-randomised data, side by side."""
    from .config import DATASET_NAMES
    from .experiments import embedding
    from .poison import ATTACKS
    from .runs import RunDir

    if dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    attacks = parse_list(attack, ATTACKS, "attack", "--attack")
    a = check_alpha(alpha)
    options = _data_options(dataset, mnist_path)
    record = embedding.record(dataset, attacks, a, seed, perplexity, options)
    run_dir = RunDir(out_dir, "embed", record, fresh=fresh)
    t0 = time.perf_counter()
    with err.status("running t-SNE ..."):
        table = embedding.run(dataset, attacks, a, run_dir, seed=seed, data_options=options, perplexity=perplexity)
    counts = table.groupby("panel")["poisoned"].sum()
    for panel, n in counts.items():
        out.print(f"{panel}: {int((table['panel'] == panel).sum())} points, {int(n)} poisoned")
    out.print(f"finished in {time.perf_counter() - t0:.1f}s; table: {run_dir.path / 'embedding.csv'}; "
              f"figure: {run_dir.path / 'embedding.png'} and .pdf")


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
    from .config import DATASET_NAMES

    if name.endswith(".toml") or Path(name).is_file():
        if config is not None:
            raise InputError("give one config file: either NAME or --config")
        config, name = Path(name), None
    preset, datasets = name, DATASET_NAMES
    if name in st.STUDY_PRESETS and name != "quick":
        datasets = (name.split("-", 1)[1],)
    elif name is None:
        overrides = st.read_toml(config)
        datasets = tuple(d for d in DATASET_NAMES if d in overrides) or DATASET_NAMES
    elif name not in ("paper", "quick"):
        raise InputError(f"unknown preset {name!r}; use one of {', '.join(st.STUDY_PRESETS)}, paper, or a .toml file")
    resolved = st.resolve(preset, datasets, config)
    out.print(st.to_toml(resolved.to_dict()), markup=False, highlight=False, soft_wrap=True, end="")


class _Eta:
    """Time left from the cells computed so far (cached cells cost nothing and are not counted)."""

    def __init__(self):
        self.seconds, self.count = {}, {}

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.count[key] = self.count.get(key, 0) + 1

    def per_cell(self, key: str | None = None) -> float | None:
        if key is not None and self.count.get(key):
            return self.seconds[key] / self.count[key]
        n = sum(self.count.values())
        return sum(self.seconds.values()) / n if n else None

    @staticmethod
    def fmt(seconds: float | None) -> str:
        if seconds is None:
            return "eta -:--:--"
        s = int(round(seconds))
        return f"eta {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@app.command()
def reproduce(
    target: str = typer.Argument(..., help="mnist, xxz or all"),
    preset: Optional[str] = typer.Option(None, help="paper (PAPER.md settings) or quick; also paper-mnist, "
                                                    "paper-xxz [default: the config file's preset, else paper]"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file overriding any field of the preset"),
    out_dir: Path = typer.Option(Path("runs/reproduce"), "--out", help="run directory"),
    mnist_path: Optional[Path] = typer.Option(None, help="full MNIST (mnist.npz or a directory of IDX files) "
                                                         "for every MNIST part"),
    fresh: bool = FRESH,
    report: bool = typer.Option(True, "--report/--no-report", help="write report.md and report.html at the end"),
    executor: str = EXECUTOR,
    scheduler: Optional[str] = SCHEDULER,
    workers: Optional[int] = WORKERS,
):
    """Everything the paper reports for a dataset: alpha sweeps, unlearning, weight sweeps, landscape, t-SNE."""
    from . import study as st
    from .config import DATASET_NAMES
    from .experiments import reproduce as rp

    if target not in REPRODUCE_TARGETS:
        raise InputError(f"unknown target {target!r}; use one of {', '.join(REPRODUCE_TARGETS)}")
    if preset is not None and preset not in ("paper", "quick") + st.STUDY_PRESETS:
        raise InputError(f"unknown preset {preset!r}; use paper or quick (or {', '.join(st.STUDY_PRESETS)})")
    check_executor_args(executor, scheduler, workers)
    datasets = DATASET_NAMES if target == "all" else (target,)
    if mnist_path is not None and "mnist" not in datasets:
        raise InputError("--mnist-path applies to reproduce mnist or all")
    study = st.resolve(preset, datasets, config, mnist_path=mnist_path)
    top, parts = rp.plan(study, out_dir, fresh=fresh)  # refuses a clashing directory, touches nothing
    rp.check_inputs(study)
    total = sum(p.total for p in parts)
    eta = _Eta()
    done = {"part": 0}
    t0 = time.perf_counter()
    progress = Progress(TextColumn("[bold]{task.description:<28}"), BarColumn(bar_width=30), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[eta]}"), console=err)
    with _executor(executor, scheduler, workers) as ex, progress:
        whole = progress.add_task(f"reproduce {target} (whole)", total=total, eta=_Eta.fmt(None))
        current = progress.add_task("", total=1, eta=_Eta.fmt(None))

        def on_part(part):
            done["part"] = 0
            progress.reset(current, total=part.total, description=part.label, eta=_Eta.fmt(None))
            progress.console.log(f"{part.label}: {part.total} cells", highlight=False)

        def on_cell(part, label, status, seconds):
            done["part"] += 1
            if status == "done":
                eta.add(part.name, seconds)
            left_part = (part.total - done["part"]) * (eta.per_cell(part.name) or 0.0)
            later = parts[parts.index(part) + 1:]
            left_all = left_part + sum(p.total * (eta.per_cell(p.name) or eta.per_cell() or 0.0) for p in later)
            note = "cached" if status == "skipped" else f"{seconds:.1f}s"
            progress.console.log(f"  {label:<40} {note:>8}", markup=False, highlight=False)
            progress.update(whole, advance=1, eta=_Eta.fmt(left_all if eta.count else None))
            progress.update(current, advance=1, eta=_Eta.fmt(left_part if eta.count else None))

        rp.run(study, top, parts, executor=ex, on_part=on_part, on_cell=on_cell)
    out.print(f"finished in {time.perf_counter() - t0:.1f}s; run directory: {top.path}")
    if report:
        from . import report as rep

        md, page, found = rep.write(top.path)
        for c in found:
            out.print(f"claim {c.number} ({c.dataset}): {c.status}", highlight=False)
        out.print(f"report:   {md}  and  {page}")


@app.command("report")
def report_cmd(
    run_dir: Path = typer.Argument(..., help="a run directory (qunlearn reproduce --out, or one experiment's)"),
):
    """Write DIR/report.md and DIR/report.html: setup, figures, key tables and the paper's claims tested."""
    from . import report as rep

    md, page, found = rep.write(run_dir)
    t = Table(title="claims of the paper, tested on this run")
    for col in ("claim", "dataset", "status", "numbers"):
        t.add_column(col)
    for c in found:
        t.add_row(str(c.number), c.dataset, c.status, c.evidence)
    out.print(t)
    out.print(f"report:   {md}  and  {page}")


@data_app.command("xxz")
def data_xxz(
    n_spins: int = typer.Option(12, help="chain length (even)"),
    n_per_class: int = typer.Option(83, help="grid points per phase"),
    delta_min: float = typer.Option(-0.95, help="smallest Delta (> -1)"),
    delta_max: float = typer.Option(3.0, help="largest Delta"),
    window: float = typer.Option(0.2, help="half-width of the skipped window around Delta = 1"),
    show_states: bool = typer.Option(False, "--show-states", help="print every state of the grid"),
    rebuild: bool = typer.Option(False, "--rebuild", help="recompute the grid and overwrite its cache file"),
):
    """Generate (or load from cache) the XXZ ground states and print a summary."""
    from .data import load, xxz

    t0 = time.perf_counter()
    ds = load("xxz", n_spins=n_spins, n_per_class=n_per_class, delta_min=delta_min, delta_max=delta_max, window=window,
             rebuild=rebuild)
    rows = xxz.summary_table(ds)
    info = ds.info
    out.print(f"XXZ chain, {info['n_spins']} spins, periodic; {info['hamiltonian']}")
    out.print(
        f"grid: class 0 (XY) Delta in [{info['delta_min']}, {1 - info['window']:.3f}], "
        f"class 1 (Neel) Delta in [{1 + info['window']:.3f}, {info['delta_max']}], {info['n_per_class']} points each"
    )
    s = ds.summary()
    out.print(f"train: {s['n_train']} states {s['train_per_class']}; validation: {s['n_val']} states {s['val_per_class']}")
    table = Table(title="ground states")
    for col in ("split", "label", "states", "Delta range", "E0 range", "min gap"):
        table.add_column(col)
    for split in ("train", "val"):
        for label in (0, 1):
            sel = [r for r in rows if r["split"] == split and r["label"] == label]
            if not sel:
                continue
            d = [r["delta"] for r in sel]
            e = [r["energy"] for r in sel]
            g = [r["gap"] for r in sel]
            table.add_row(split, str(label), str(len(sel)), f"{min(d):.3f} .. {max(d):.3f}",
                          f"{min(e):.4f} .. {max(e):.4f}", f"{min(g):.4f}")
    out.print(table)
    if show_states:
        t = Table(title="all states")
        for col in ("split", "Delta", "label", "E0", "gap"):
            t.add_column(col, justify="right")
        for r in sorted(rows, key=lambda r: r["delta"]):
            t.add_row(r["split"], f"{r['delta']:.4f}", str(r["label"]), f"{r['energy']:.6f}", f"{r['gap']:.4f}")
        out.print(t)
    out.print(f"smallest gap {info['gap_min']:.4f} at Delta = {info['delta_at_gap_min']:.3f}")
    out.print(f"cache: {info.get('cache_path')}  ({time.perf_counter() - t0:.1f}s)")


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
        out.print(e.ctx.get_help() if e.ctx is not None else "usage: qunlearn COMMAND --help", markup=False, highlight=False)
        return _exit(0)
    except _cx.UsageError as e:
        hint = f" (see 'qunlearn {e.ctx.info_name if e.ctx and e.ctx.parent else ''} --help')".replace("  ", " ")
        err.print(f"qunlearn: error: {e.format_message()}{hint}".replace("\n", " "), highlight=False, markup=False, soft_wrap=True)
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
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def _exit(code: int) -> int:
    if __name__ != "__main__":
        sys.exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
