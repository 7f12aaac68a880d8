"""The model interface shared by every model in qunlearn.

A model is a frozen (hashable) dataclass with two pure functions over a
parameter pytree::

    params = model.init(key)          # fresh parameters
    p1 = model.apply(params, x, key)  # p(y = 1 | x), shape (B,), for a batch x

``key`` (optional) draws the randomness of a stochastic model (a noisy QNN:
noise trajectories and finite shots; ``model.stochastic`` is then true, and
the key is required); a deterministic model ignores it. Training, unlearning
and the metrics always pass one, so they stay model-agnostic.

Training, unlearning and the Hessian code see nothing else, so a new ansatz or
a new network is a new file in :mod:`qunlearn.models` and nothing else changes.
Models are hashable so compiled programs can be cached per model. A model's
``precision`` (``"complex64"`` or ``"complex128"``) is one of its fields, so it is
part of every such cache key; a model takes all its dtypes from it and puts the
process (TensorCircuit-NG, JAX's x64 mode) in it when initialised or traced.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np

Params = Any


@runtime_checkable
class Model(Protocol):
    name: str
    precision: str
    stochastic: bool

    def init(self, key: jax.Array) -> Params: ...

    def apply(self, params: Params, x: jax.Array, key: jax.Array | None = None) -> jax.Array: ...


def n_params(params: Params) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def for_training(model):
    """The model the training and unlearning steps run: ``model.for_training()`` where a model has one (a noisy
    QNN samples fewer trajectories per step than its metrics do), else the model itself."""
    return model.for_training() if hasattr(model, "for_training") else model


def predict(model, params: Params, x: jax.Array, key: jax.Array | None = None):
    """``(p, se)``: ``model.apply(params, x, key)`` and, for a stochastic model (a noisy QNN), the standard
    error of each measured ``<Z>`` (``None`` for a deterministic model)."""
    if getattr(model, "stochastic", False):
        return model.apply_with_error(params, x, key)
    return model.apply(params, x, key), None
