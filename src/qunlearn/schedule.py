"""Optimiser schedules: :class:`TrainConfig` and the epochs at which metrics are evaluated.

Plain dataclasses and NumPy, so that reading and validating a config imports no JAX; the training
loop that runs a schedule is :mod:`qunlearn.train`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import check_finite_positive, check_positive_int


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser schedule. ``batch_size=None`` means full batch (one step per epoch);
    ``eval_every``: epochs between metric evaluations."""

    epochs: int = 100
    batch_size: int | None = 256
    lr: float = 0.005
    eval_every: int = 10

    def __post_init__(self):
        object.__setattr__(self, "epochs", check_positive_int(self.epochs, "epochs", 1_000_000))
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", check_positive_int(self.batch_size, "batch size", 10_000_000))
        object.__setattr__(self, "lr", check_finite_positive(self.lr, "learning rate"))
        object.__setattr__(self, "eval_every", check_positive_int(self.eval_every, "eval_every", 1_000_000))

    def to_dict(self) -> dict[str, Any]:
        """Plain fields; full batch is written ``batch_size = "full"`` (TOML has no null)."""
        d = asdict(self)
        if d["batch_size"] is None:
            d["batch_size"] = "full"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        if d.get("batch_size") == "full":
            d["batch_size"] = None
        return cls(**d)

    def batch(self, n: int) -> int:
        """The minibatch size over ``n`` samples."""
        return n if self.batch_size is None else min(self.batch_size, n)


def eval_epochs(cfg: TrainConfig) -> np.ndarray:
    """Epochs at which :func:`fit` records metrics: 0, every ``eval_every``, and the last."""
    epochs = list(range(0, cfg.epochs + 1, cfg.eval_every))
    if epochs[-1] != cfg.epochs:
        epochs.append(cfg.epochs)
    return np.asarray(epochs)
