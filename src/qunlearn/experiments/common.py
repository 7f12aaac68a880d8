"""Pieces every experiment shares: keys per cell, model construction, tidy tables."""

from __future__ import annotations

import zlib
from typing import Any, Callable, Iterable

import jax
import numpy as np
import pandas as pd

from ..config import ModelConfig
from ..data import Dataset
from ..models import MLP, QNN


def cell_key(seed: int, *parts: Any) -> jax.Array:
    """A PRNG key that depends only on ``seed`` and the cell's identity ``parts``.

    Parts are folded in through a stable hash of their string form, so a cell's
    numbers do not depend on which other cells ran, in what order, or whether
    the run was resumed.
    """
    key = jax.random.key(seed)
    for part in parts:
        key = jax.random.fold_in(key, zlib.crc32(str(part).encode()) & 0x7FFFFFFF)
    return key


def alpha_tag(alpha: float) -> str:
    return f"{alpha:.6f}"


def build_model(mc: ModelConfig, ds: Dataset):
    """The model a :class:`ModelConfig` describes, sized for dataset ``ds``."""
    if mc.kind == "qnn":
        return QNN(n_qubits=ds.n_qubits, depth=mc.depth)
    return MLP.for_inputs(ds.x_train, hidden=mc.hidden)


def history_table(history: dict[str, np.ndarray], epochs: Iterable[int], runs: Iterable[int], **labels) -> pd.DataFrame:
    """Long table from ``history[metric]`` of shape (runs, evals).

    Columns: the ``labels`` (constant per table), ``run``, ``epoch``, ``metric``, ``value``.
    """
    epochs = np.asarray(list(epochs))
    runs = np.asarray(list(runs))
    frames = []
    for metric, values in history.items():
        values = np.asarray(values, dtype=float)
        frames.append(
            pd.DataFrame(
                {
                    "run": np.repeat(runs, len(epochs)),
                    "epoch": np.tile(epochs, len(runs)),
                    "metric": metric,
                    "value": values.reshape(-1),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    for i, (k, v) in enumerate(labels.items()):
        table.insert(i, k, v)
    return table


def summarize(table: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over runs of ``metrics``, one row per group."""
    sub = table[table["metric"].isin(metrics)]
    agg = sub.groupby(by + ["metric"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return agg


def run_cells(run_dir, executor, cells: list, fn: Callable, shared: tuple, on_cell: Callable | None = None,
              cell_id: Callable = lambda c: c.id, done: Callable | None = None, load: Callable | None = None,
              save: Callable | None = None) -> dict[str, Any]:
    """Results of every cell: loaded if finished, else computed by ``executor`` and saved atomically.

    ``fn(*shared, cell)`` computes one cell; ``shared`` is sent to the executor's
    workers once. ``on_cell(cell, status, seconds)`` reports each cell
    (``"skipped"``: already in ``run_dir``; ``"done"``: just computed, with its
    wall time). A cell's result is a table kept as ``cells/<id>.csv`` unless
    ``done(id)``, ``load(id)`` and ``save(id, result)`` say how else it is stored.
    """
    from ..executor import LocalExecutor

    executor = executor or LocalExecutor()
    done, load, save = done or run_dir.has_cell, load or run_dir.read_cell, save or run_dir.write_cell
    results, todo = {}, []
    for cell in cells:
        cid = cell_id(cell)
        if done(cid):
            results[cid] = load(cid)
            if on_cell:
                on_cell(cell, "skipped", 0.0)
        else:
            todo.append(cell)
    if todo:
        handles = tuple(executor.share(s) for s in shared)
        by_id = {cell_id(c): c for c in todo}
        for cid, result, seconds in executor.map([(cell_id(c), fn, handles + (c,)) for c in todo]):
            save(cid, result)
            results[cid] = result
            if on_cell:
                on_cell(by_id[cid], "done", seconds)
    return results


def check_memory(models: dict, ds: Dataset, runs: int, precision: str = "complex64") -> None:
    """Refuse, before any work, a QNN whose vmapped training would not fit in the device's memory.

    ``models`` maps names to configs with ``kind``, ``depth`` and ``train`` (a
    :class:`ModelConfig` or an unlearning model config).
    """
    from ..memory import check_qnn_fits

    itemsize = 16 if precision == "complex128" else 8
    n_train = len(ds.y_train)
    for name, mc in models.items():
        if mc.kind == "qnn":
            check_qnn_fits(ds.n_qubits, min(mc.train.batch_size, n_train), runs, mc.depth, itemsize,
                           what=f"model {name!r}")
