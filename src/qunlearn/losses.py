r"""Losses and accuracies of binary classifiers, written once for JAX and NumPy.

Every function uses the array namespace of its inputs: ``jax.numpy`` for JAX
arrays and tracers (so training, unlearning and the Hessian code can jit and
differentiate them) and ``numpy`` otherwise (the post-hoc metrics). Predictions
are :math:`p = P(y = 1)`; wherever a logarithm is taken they are clipped to
:math:`[\epsilon, 1 - \epsilon]` with :math:`\epsilon = 10^{-7}`, as Keras does,
so a confident prediction gives a finite loss.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

EPS = 1e-7


def _xp(*xs: Any):
    return jnp if any(isinstance(x, jax.Array) for x in xs) else np


def per_sample_bce(p: Any, y: Any, eps: float = EPS):
    r"""Per-sample binary cross-entropy :math:`-[y\log p + (1-y)\log(1-p)]`."""
    xp = _xp(p, y)
    p = xp.clip(xp.asarray(p), eps, 1.0 - eps)
    y = xp.asarray(y).astype(p.dtype)
    return -(y * xp.log(p) + (1.0 - y) * xp.log1p(-p))


def _weighted_mean(xp, values, weights):
    if weights is None:
        return xp.mean(values)
    weights = xp.asarray(weights).astype(values.dtype)
    return xp.sum(values * weights) / xp.maximum(xp.sum(weights), 1.0)


def bce(p: Any, y: Any, weights: Any = None):
    """Binary cross-entropy: the (weighted) mean of :func:`per_sample_bce`."""
    return _weighted_mean(_xp(p, y, weights), per_sample_bce(p, y), weights)


def hits(p: Any, y: Any):
    """1 where the hard prediction ``p > 0.5`` equals the label ``y``, else 0 (in ``p``'s dtype)."""
    xp = _xp(p, y)
    p = xp.asarray(p)
    return ((p > 0.5).astype(xp.int32) == xp.asarray(y).astype(xp.int32)).astype(p.dtype)


def accuracy(p: Any, y: Any, weights: Any = None):
    """Fraction of hard predictions equal to ``y`` (weighted: over the samples with weight); NaN for none."""
    xp = _xp(p, y, weights)
    h = hits(p, y)
    if weights is None:
        return xp.mean(h) if h.size else xp.nan
    total = xp.sum(xp.asarray(weights).astype(h.dtype))
    return xp.where(total > 0, _weighted_mean(xp, h, weights), xp.nan)


def bernoulli_kl(p_teacher: Any, p_student: Any, eps: float = EPS):
    r"""Elementwise :math:`\mathrm{KL}(\mathrm{Bern}(p_t) \,\|\, \mathrm{Bern}(p_s))`, both clipped.

    .. math:: p_t \log\frac{p_t}{p_s} + (1-p_t)\log\frac{1-p_t}{1-p_s}
    """
    xp = _xp(p_teacher, p_student)
    pt = xp.clip(xp.asarray(p_teacher), eps, 1.0 - eps)
    ps = xp.clip(xp.asarray(p_student), eps, 1.0 - eps)
    return pt * (xp.log(pt) - xp.log(ps)) + (1.0 - pt) * (xp.log1p(-pt) - xp.log1p(-ps))
