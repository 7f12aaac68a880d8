"""Pieces every experiment shares: keys per cell, model construction, tidy tables."""

from __future__ import annotations

import zlib
from typing import Any, Iterable

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
