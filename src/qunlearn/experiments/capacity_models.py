r"""The model families of the capacity study, their sizes, parameter counts, light cones, the PCA projection
and the local effective dimension.

Families (the ``family`` column of the capacity study's tables) and how a ``size`` is written:

* ``qnn``: the paper ansatz (:class:`qunlearn.models.QNN`), size = depth (``"6"``);
* ``qnn-landscape``: the landscape ansatz (:class:`qunlearn.models.LandscapeQNN`), size = depth;
* ``mlp``: :class:`qunlearn.models.MLP` on the amplitudes, size = hidden widths (``"64-16"``, ``"1"``);
* ``linear``: logistic regression on the amplitudes (an MLP without hidden layer), size ``"0"``;
* ``pca-mlp``: an MLP on the first k principal components, size ``"k16:8"`` (k, then widths; ``"k16:0"``
  is logistic regression on them); the projection is fitted on the training inputs only and is not a
  trained parameter (its size, ``k * D + D`` numbers for D real input features, is reported apart);
* ``mlp-decay``: the MLP trained with decoupled weight decay (``optax.adamw``);
* ``mlp-early-stop``: the MLP stopped early on a part of the *poisoned* training set held out;
* ``mlp-bounded``: an MLP whose logit is ``bound * tanh(f)`` (bound 5), as the QNN's readout
  :math:`\sigma(5\langle Z\rangle)` caps its logit at :math:`\pm 5`.

The local effective dimension (Abbas, Sutter, Figalli, Woerner, arXiv:2112.04807) at parameters
:math:`\theta` from n inputs :math:`x_i`, with the model Fisher of a Bernoulli output :math:`p = \sigma(s)`,

.. math:: F = \frac1n \sum_i p_i (1 - p_i)\, \nabla_\theta s_i \nabla_\theta s_i^\top, \quad
          \hat F = d\, F / \operatorname{tr} F, \quad
          d_{\gamma,n} = \frac{\log\det(I + \kappa \hat F)}{\log \kappa}, \quad
          \kappa = \frac{\gamma n}{2\pi \log n},

with d the number of parameters that can change the output (:func:`n_live`). The paper's local version
averages :math:`\sqrt{\det}` over a ball of radius :math:`1/\sqrt n` around :math:`\theta`; here it is
evaluated at :math:`\theta` itself. :math:`F` has rank at most n, so the determinant is computed through the
n x n Gram matrix :math:`K = G G^\top` (:math:`G_i = \sqrt{p_i(1-p_i)}\nabla s_i`) when the model has more
parameters than n: :math:`\det(I_d + \kappa \hat F) = \det(I_n + \kappa d K / \operatorname{tr} K)`. The
measure therefore saturates near n for every model larger than n: it counts at most n directions, each
contributing at most :math:`\log(1 + \kappa d) / \log \kappa`, so beyond n parameters it grows only
logarithmically in d (with n = 84 and kappa = 3 it can exceed n by a factor of a few).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..models.mlp import MLP
from .capacity_config import FAMILIES, QNN_FAMILIES, Size, parse_size  # noqa: F401

def real_features(ds) -> int:
    """Real input features of the classical models: 2 D for complex amplitudes (real and imaginary parts)."""
    return ds.n_features * (2 if ds.is_complex else 1)


def mlp_params(inputs: int, hidden: tuple[int, ...]) -> int:
    """Weights and biases of a dense network ``inputs -> hidden -> 1``: the closed form."""
    sizes = (inputs, *hidden, 1)
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def n_params(size: Size, ds) -> int:
    """Trained parameters of a family at a size on dataset ``ds`` (closed forms; the PCA projection not counted)."""
    if size.family == "qnn":
        return 4 * ds.n_qubits * size.depth
    if size.family == "qnn-landscape":
        return 2 * ds.n_qubits * size.depth
    if size.family == "pca-mlp":
        return mlp_params(size.k, size.hidden)
    return mlp_params(real_features(ds), size.hidden)


def projection_size(size: Size, ds) -> int:
    """Numbers of a fitted PCA projection (k components of D features and the mean), not trained."""
    return (size.k + 1) * real_features(ds) if size.family == "pca-mlp" else 0


# ------------------------------------------------------------------ light cones of the QNNs


def live_mask(family: str, n_qubits: int, depth: int) -> np.ndarray:
    """Which parameters (shape ``(depth, n_qubits, angles)``) lie in the backward light cone of the readout
    ``Z_{L-1}``: those that can change the output. Gates are walked from the last to the first; a gate whose
    qubits meet the support of the (Heisenberg-evolved) observable is live and adds its qubits to the support.
    The paper ansatz's last RZZ ring is diagonal and commutes with ``Z_{L-1}``, so it is dead (as
    :meth:`qunlearn.models.QNN.last_layer_expectation` uses); the landscape ansatz's CNOT ring is walked
    gate by gate in reverse order (``CNOT(L-1, 0)`` first)."""
    n = n_qubits
    support = {n - 1}
    if family == "qnn":
        live = np.zeros((depth, n, 4), bool)
        for layer in reversed(range(depth)):
            if layer < depth - 1:  # the ring (after the rotations): pair i is (i, i+1)
                touched = [i for i in range(n) if i in support or (i + 1) % n in support]
                for i in touched:
                    live[layer, i, 3] = True
                for i in touched:
                    support |= {i, (i + 1) % n}
            for q in support:
                live[layer, q, :3] = True
        return live
    if family == "qnn-landscape":
        live = np.zeros((depth, n, 2), bool)
        for layer in reversed(range(depth)):
            for i in reversed(range(n)):  # CNOT(i, i+1 mod n), applied in order i = 0..n-1
                pair = {i, (i + 1) % n}
                if pair & support:
                    support |= pair
            for q in support:
                live[layer, q, :] = True
        return live
    raise InputError(f"{family!r} is not a QNN family")


def n_live(size: Size, ds) -> int:
    """Parameters that can change the output: the light cone of the readout for QNNs, every one otherwise."""
    if size.family in QNN_FAMILIES:
        return int(live_mask(size.family, ds.n_qubits, size.depth).sum())
    return n_params(size, ds)


# ------------------------------------------------------------------ models


@dataclass(frozen=True)
class LogitMLP(MLP):
    """:class:`qunlearn.models.MLP` (same initialisation and inputs) that also exposes its logit; with
    ``bound > 0`` the logit is ``bound * tanh(f)`` of the network's output f (the family ``mlp-bounded``)."""

    bound: float = 0.0

    def logit(self, params, x):
        x = jnp.asarray(x)
        if jnp.iscomplexobj(x):
            x = jnp.concatenate([jnp.real(x), jnp.imag(x)], axis=-1)
        h = x.astype(self.real_dtype)
        for layer in params[:-1]:
            h = jax.nn.relu(h @ layer["w"] + layer["b"])
        f = (h @ params[-1]["w"] + params[-1]["b"])[:, 0]
        return self.bound * jnp.tanh(f) if self.bound > 0 else f

    def apply(self, params, x, key=None):
        return jax.nn.sigmoid(self.logit(params, x))


def build(size: Size, ds, precision: str, bound: float = 5.0):
    """The model of a family at a size (pca-mlp: on its k components)."""
    from ..models.qnn import LandscapeQNN, QNN

    if size.family in QNN_FAMILIES:
        cls = QNN if size.family == "qnn" else LandscapeQNN
        return cls(n_qubits=ds.n_qubits, depth=size.depth, precision=precision, name=size.family)
    inputs = size.k if size.family == "pca-mlp" else real_features(ds)
    return LogitMLP(in_features=inputs, hidden=size.hidden, name=size.family, precision=precision,
                    bound=bound if size.family == "mlp-bounded" else 0.0)


def logit(model, params, x):
    """The model's logit s (``p = sigmoid(s)``): ``readout_scale * <Z>`` for a QNN."""
    if hasattr(model, "logit"):
        return model.logit(params, x)
    return model.readout_scale * model.expectation(params, x)[0]


# ------------------------------------------------------------------ PCA


@dataclass(frozen=True)
class Projection:
    """A PCA projection fitted on training inputs: ``(x - mean) @ components.T`` (real features)."""

    mean: np.ndarray
    components: np.ndarray  # (k, D)

    def __call__(self, x) -> np.ndarray:
        return (as_real(x) - self.mean) @ self.components.T


def as_real(x) -> np.ndarray:
    x = np.asarray(x)
    return np.concatenate([x.real, x.imag], axis=1).astype(np.float64) if np.iscomplexobj(x) else x.astype(np.float64)


def fit_pca(x_train, k: int) -> Projection:
    """The first ``k`` principal components of ``x_train`` (numpy SVD of the centred inputs; each component's
    sign fixed so that its largest entry is positive). Only the inputs given are seen."""
    x = as_real(x_train)
    if k > min(x.shape):
        raise InputError(f"pca-mlp: k = {k} is more than the {min(x.shape)} principal components of "
                         f"{x.shape[0]} training inputs of {x.shape[1]} features; use a smaller k")
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    return Projection(mean, comps * signs[:, None])


# ------------------------------------------------------------------ effective dimension


def kappa(n: int, gamma: float) -> float:
    return gamma * n / (2 * math.pi * math.log(n))


def effective_dimension_from_gradients(g, d: int, gamma: float):
    """The local effective dimension from ``g`` (n x P rows ``sqrt(p(1-p)) grad s``) and the parameter
    count ``d`` (jax or numpy); through the n x n Gram matrix when P > n, else the P x P Fisher."""
    n, p = g.shape
    xp = jnp if isinstance(g, jax.Array) else np
    k = kappa(n, gamma)
    if k <= 1:  # log(kappa) <= 0: too few samples for the measure (n / log n must exceed 2 pi / gamma)
        return xp.asarray(xp.nan)
    mat = g @ g.T if p > n else g.T @ g
    tr = xp.trace(mat)
    lam = xp.clip(xp.linalg.eigvalsh(mat), 0, None)
    return xp.sum(xp.log1p(k * d * lam / tr)) / math.log(k)


@lru_cache(maxsize=None)
def effective_dimension_program(model, d: int, gamma: float):
    """``f(params, x) -> (effective dimension, spread of the logit over x)`` for one parameter set, jitted."""
    from jax.flatten_util import ravel_pytree

    def one(params, x):
        flat, unravel = ravel_pytree(params)

        def s(theta, xi):
            return logit(model, unravel(theta), xi[None])[0]

        grads = jax.vmap(jax.grad(s), in_axes=(None, 0))(flat, x)
        z = logit(model, params, x)
        p = jax.nn.sigmoid(z)
        g = jnp.sqrt(p * (1 - p))[:, None] * grads
        return effective_dimension_from_gradients(g, d, gamma), jnp.max(z) - jnp.min(z)

    return jax.jit(lambda params, x: jax.lax.map(lambda prm: one(prm, x), params))
