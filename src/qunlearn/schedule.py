"""Optimiser schedules: :class:`TrainConfig` and the epochs at which metrics are evaluated.

A pydantic schema and NumPy, so that reading and validating a config imports no JAX; the training
loop that runs a schedule is :mod:`qunlearn.train`.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, Field

from .schema import Count, Positive, Schema


def _full(value: Any) -> Any:
    """``"full"`` (TOML has no null) is full batch: ``None``."""
    return None if value == "full" else value


class TrainConfig(Schema):
    """Optimiser schedule. ``batch_size=None`` means full batch (one step per epoch);
    ``eval_every``: epochs between metric evaluations."""

    epochs: Count(1_000_000) = 100
    batch_size: Annotated[Count(10_000_000) | None, BeforeValidator(_full), Field(title="batch size")] = 256
    lr: Annotated[Positive, Field(title="learning rate")] = 0.005
    eval_every: Count(1_000_000) = 10

    def to_dict(self) -> dict[str, Any]:
        """Plain fields; full batch is written ``batch_size = "full"``."""
        d = super().to_dict()
        if d["batch_size"] is None:
            d["batch_size"] = "full"
        return d

    def batch(self, n: int) -> int:
        """The minibatch size over ``n`` samples."""
        return n if self.batch_size is None else min(self.batch_size, n)

    def batches(self, n: int) -> int:
        """Minibatches (optimiser steps) of one epoch over ``n`` samples: ``ceil(n / batch(n))``."""
        return -(-n // max(self.batch(n), 1))

    def ends_only(self) -> "TrainConfig":
        """The same schedule with its metrics recorded before the first epoch and after the last only (the
        weight sweeps: the training is unchanged, the evaluations in between are gone)."""
        return self.replace(eval_every=self.epochs)


def eval_epochs(cfg: TrainConfig) -> np.ndarray:
    """Epochs at which :func:`fit` records metrics: 0, every ``eval_every``, and the last."""
    epochs = list(range(0, cfg.epochs + 1, cfg.eval_every))
    if epochs[-1] != cfg.epochs:
        epochs.append(cfg.epochs)
    return np.asarray(epochs)
