"""A multilayer perceptron in plain JAX with the shared model interface.

Dense-ReLU hidden layers and a sigmoid output unit. Weights are Glorot-uniform
and biases zero (the Keras defaults the paper's classical baseline used).
Complex inputs are fed as their real and imaginary parts concatenated, so
``in_features`` counts real features (``2 * d`` for ``d`` complex amplitudes).
Weights and activations are in the real dtype of the model's ``precision``
(``float32`` for ``complex64``, ``float64`` for ``complex128``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .. import backend
from ..errors import InputError


@dataclass(frozen=True)
class MLP:
    in_features: int = 1024
    hidden: tuple[int, ...] = (64, 16)
    name: str = "mlp"
    precision: str = "complex64"

    def __post_init__(self):
        backend.check_precision(self.precision)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not isinstance(self.in_features, (int, np.integer)) or self.in_features < 1:
            raise InputError(f"MLP in_features must be a positive integer, got {self.in_features!r}")
        if any(h < 1 for h in self.hidden):
            raise InputError(f"MLP hidden widths must be positive integers, got {self.hidden!r}")

    @classmethod
    def for_inputs(cls, x, hidden=(64, 16), name: str = "mlp", precision: str = "complex64") -> "MLP":
        """An MLP sized for data ``x`` of shape (N, d), real or complex."""
        d = int(np.shape(x)[1])
        return cls(in_features=2 * d if np.iscomplexobj(x) else d, hidden=tuple(hidden), name=name,
                   precision=precision)

    @property
    def real_dtype(self):
        return backend.dtypes(self.precision)[1]

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.in_features, *self.hidden, 1)

    def init(self, key: jax.Array) -> list[dict[str, jax.Array]]:
        backend.set_precision(self.precision)  # float64 needs JAX's x64 mode
        dtype = self.real_dtype
        keys = jax.random.split(key, len(self.sizes) - 1)
        params = []
        for k, (fan_in, fan_out) in zip(keys, zip(self.sizes[:-1], self.sizes[1:])):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w = jax.random.uniform(k, (fan_in, fan_out), dtype=dtype, minval=-limit, maxval=limit)
            params.append({"w": w, "b": jnp.zeros((fan_out,), dtype=dtype)})
        return params

    stochastic = False  # deterministic: apply ignores its key

    def apply(self, params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        backend.set_precision(self.precision)
        x = jnp.asarray(x)
        if jnp.iscomplexobj(x):
            x = jnp.concatenate([jnp.real(x), jnp.imag(x)], axis=-1)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise InputError(
                f"MLP expects inputs of shape (batch, {self.in_features}) real features, "
                f"got {tuple(x.shape)}; build it with MLP.for_inputs(x)"
            )
        h = x.astype(self.real_dtype)
        for layer in params[:-1]:
            h = jax.nn.relu(h @ layer["w"] + layer["b"])
        return jax.nn.sigmoid((h @ params[-1]["w"] + params[-1]["b"])[:, 0])
