r"""Unlearning methods as loss compositions (or update rules) over :func:`qunlearn.train.fit`.

Every method sees the same data and the same model interface, and none knows
which model it runs on. With :math:`\mathrm{CE}_R` the cross-entropy on a retain
minibatch, :math:`\mathrm{CE}_F` the cross-entropy of the whole forget set on
its (poisoned) training labels, and :math:`\mathrm{KL}_S = \mathrm{KL}(p_\text{teacher}
\,\|\, p_\text{student})` averaged over a set :math:`S` (the teacher is the
trained model, frozen):

======================  =====================================================================
``retrain``             fresh initialisation; :math:`\mathrm{CE}_R`
``finetune``            from the trained model; :math:`\mathrm{CE}_R`
``scrub``               :math:`w_{ce}\mathrm{CE}_R + w_{kl}\mathrm{KL}_R - w_{fo}\mathrm{KL}_F` (paper: 1, 0, 0.2)
``gradient_ascent``     :math:`w_{ce}\mathrm{CE}_R - w_{fo}\mathrm{CE}_F` (paper: 1, 0.2)
``neggrad_plus``        :math:`(1-w_{fo})\mathrm{CE}_R - w_{fo}\mathrm{CE}_F` (one weight; default 0.1)
``random_labels``       finetune on retain :math:`\cup` forget, forget labels drawn at random
``scrub_full``          SCRUB as Kurmanji et al. describe it: each step a max-step
                        (:math:`-w_{fo}\mathrm{KL}` on a forget minibatch) in the first
                        ``max_epochs`` epochs, then a min-step
                        (:math:`w_{ce}\mathrm{CE}_R + w_{kl}\mathrm{KL}_R`)
``newton``              one damped Newton step (in the first epoch) on the full retain loss,
                        :math:`\theta \leftarrow \theta - (|H_R| + \lambda I)^{-1}\nabla L_R`:
                        at an optimum of the full loss this removes the forget
                        set's influence (influence-function unlearning). Exact
                        eigendecomposition up to ``exact_max`` parameters; beyond,
                        the same step on a rank-``rank`` Lanczos eigendecomposition
                        (the rest of the spectrum taken as zero curvature); see
                        :func:`qunlearn.landscape.saddle_free_step`. Step norm
                        capped at ``max_norm``.
======================  =====================================================================

A method is registered with :func:`method`; it gets the model, the trained
(teacher) parameters and its weights, and returns a :class:`Plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from . import landscape
from .losses import bce, bernoulli_kl
from .vocab import DEFAULT_WEIGHTS, PAPER_METHODS, resolve_weights  # noqa: F401  (names a config reads, no JAX)
from .vocab import STEP_DATA, STEP_DATA_KINDS

METHODS: dict[str, Callable] = {}


@partial(jax.tree_util.register_dataclass,
         data_fields=["x_retain", "y_retain", "x_forget", "y_forget", "y_forget_true", "x_val", "y_val",
                      "teacher_retain", "teacher_forget", "x_union", "y_union_random"], meta_fields=[])
@dataclass(frozen=True)
class UnlearnData:
    """What an unlearning method sees (a pytree of arrays; a field not in use is None).

    ``y_forget`` are the (poisoned) labels the model was trained on and
    ``y_forget_true`` the clean ones; ``teacher_*`` are the trained model's
    predictions (SCRUB's frozen teacher); ``x_union`` / ``y_union_random`` the
    retain and forget sets together with random forget labels (``random_labels``).
    """

    x_retain: jax.Array
    y_retain: jax.Array
    x_forget: jax.Array
    y_forget: jax.Array
    y_forget_true: jax.Array
    x_val: jax.Array | None = None
    y_val: jax.Array | None = None
    teacher_retain: jax.Array | None = None
    teacher_forget: jax.Array | None = None
    x_union: jax.Array | None = None
    y_union_random: jax.Array | None = None


@dataclass(frozen=True)
class Plan:
    """How a method runs: where it starts, what it minimises, over which minibatches."""

    loss: Callable | None = None  # loss(params, data, idx, mask, key) over retain (or union) minibatches
    step_fn: Callable | None = None  # custom update rule for fit (see qunlearn.train.fit)
    fresh: bool = False  # start from a fresh initialisation instead of the trained model
    union: bool = False  # minibatches over retain + forget instead of retain alone
    full_batch: bool = False  # ignore the configured batch size (one step per epoch)


def method(name: str, weights: dict[str, float] | None = None, step_data: str | None = None):
    """Register an unlearning method under ``name`` (``weights``: the loss weights it accepts, with defaults;
    ``step_data``: what a step passes over beyond a retain minibatch, for time estimates: ``"forget"`` the
    whole forget set, ``"union"`` retain and forget minibatches; default: the retain minibatch alone)."""
    if step_data is not None and step_data not in STEP_DATA_KINDS:
        raise ValueError(f"step_data must be one of {', '.join(STEP_DATA_KINDS)}, got {step_data!r}")

    def register(fn):
        METHODS[name] = fn
        DEFAULT_WEIGHTS.setdefault(name, dict(weights or {}))
        if step_data not in (None, "retain"):
            STEP_DATA.setdefault(name, step_data)
        return fn

    return register


# ------------------------------------------------------------------ loss pieces
# Weights may be Python floats or traced scalars (the weight sweeps vmap over them).


def _masked_mean(v, mask):
    mask = mask.astype(v.dtype)
    return jnp.sum(v * mask) / jnp.maximum(jnp.sum(mask), 1.0)


# A loss's key ``k`` draws a stochastic model's noise: the retain and the forget terms each fold their own.
_RETAIN, _FORGET = 0, 1


def _retain_batch(model, params, data, idx, key):
    """Student predictions, labels and teacher predictions of a retain minibatch."""
    return (model.apply(params, data.x_retain[idx], jax.random.fold_in(key, _RETAIN)), data.y_retain[idx],
            data.teacher_retain[idx])


def _ce_forget(model, params, data, key):
    return bce(model.apply(params, data.x_forget, jax.random.fold_in(key, _FORGET)), data.y_forget)


def _kl_forget(model, params, data, key, idx=None):
    x = data.x_forget if idx is None else data.x_forget[idx]
    pt = data.teacher_forget if idx is None else data.teacher_forget[idx]
    return jnp.mean(bernoulli_kl(pt, model.apply(params, x, jax.random.fold_in(key, _FORGET))))


def _retain_ce_loss(model):
    def loss(p, d, idx, m, k):
        ps, y, _ = _retain_batch(model, p, d, idx, k)
        return bce(ps, y, m)

    return loss


# ------------------------------------------------------------------ methods


@method("retrain")
def retrain(model, teacher, w):
    return Plan(_retain_ce_loss(model), fresh=True)


@method("finetune")
def finetune(model, teacher, w):
    return Plan(_retain_ce_loss(model))


@method("scrub")
def scrub(model, teacher, w):
    def loss(p, d, idx, m, k):
        ps, y, pt = _retain_batch(model, p, d, idx, k)
        retain = w["ce_w"] * bce(ps, y, m) + w["kl_w"] * _masked_mean(bernoulli_kl(pt, ps), m)
        return retain - w["fo_w"] * _kl_forget(model, p, d, k)

    return Plan(loss)


@method("gradient_ascent")
def gradient_ascent(model, teacher, w):
    def loss(p, d, idx, m, k):
        ps, y, _ = _retain_batch(model, p, d, idx, k)
        return w["ce_w"] * bce(ps, y, m) - w["fo_w"] * _ce_forget(model, p, d, k)

    return Plan(loss)


@method("neggrad_plus")
def neggrad_plus(model, teacher, w):
    def loss(p, d, idx, m, k):
        ps, y, _ = _retain_batch(model, p, d, idx, k)
        return (1 - w["fo_w"]) * bce(ps, y, m) - w["fo_w"] * _ce_forget(model, p, d, k)

    return Plan(loss)


@method("random_labels")
def random_labels(model, teacher, w):
    def loss(p, d, idx, m, k):
        return bce(model.apply(p, d.x_union[idx], k), d.y_union_random[idx], m)

    return Plan(loss, union=True)


@method("scrub_full")
def scrub_full(model, teacher, w):
    max_epochs = int(w["max_epochs"])

    def min_loss(p, d, idx, m, k):
        ps, y, pt = _retain_batch(model, p, d, idx, k)
        return w["ce_w"] * bce(ps, y, m) + w["kl_w"] * _masked_mean(bernoulli_kl(pt, ps), m)

    def max_loss(p, d, fidx, k):
        return -w["fo_w"] * _kl_forget(model, p, d, k, fidx)

    def step_fn(params, opt_state, data, idx, mask, key, epoch, tx):
        n_forget = data.x_forget.shape[0]

        def max_step(carry):
            params, opt_state = carry
            fidx = jax.random.choice(key, n_forget, (min(idx.shape[0], n_forget),), replace=False)
            grads = jax.grad(max_loss)(params, data, fidx, jax.random.fold_in(key, 1))
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        params, opt_state = jax.lax.cond(epoch < max_epochs, max_step, lambda c: c, (params, opt_state))
        grads = jax.grad(min_loss)(params, data, idx, mask, jax.random.fold_in(key, 2))
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return Plan(min_loss, step_fn=step_fn)


@method("newton")
def newton(model, teacher, w):
    exact_max, rank = int(w["exact_max"]), int(w["rank"])

    def retain_loss(p, d, k):
        return bce(model.apply(p, d.x_retain, k), d.y_retain)

    def newton_step(params, data, key):
        flat, unravel = ravel_pytree(params)
        f = lambda v: retain_loss(unravel(v), data, key)  # noqa: E731  (one noise draw: a fixed function of v)
        g = jax.grad(f)(flat)
        # saddle-free (|H| + lambda I)^-1 g: exact eigh (8 HVPs at a time) up to exact_max, rank-`rank` Lanczos beyond
        step = landscape.saddle_free_step(
            landscape.hvp_fn(f, flat), g, damping=w["damping"], rank=rank, exact=flat.size <= exact_max, chunk=8
        )
        norm = jnp.linalg.norm(step)
        step = step * jnp.minimum(1.0, w["max_norm"] / jnp.maximum(norm, 1e-12))  # trust region
        return unravel(flat - step)

    def step_fn(params, opt_state, data, idx, mask, key, epoch, tx):
        params = jax.lax.cond(epoch == 0, lambda p: newton_step(p, data, key), lambda p: p, params)
        return params, opt_state

    return Plan(step_fn=step_fn, full_batch=True)


def plan(name: str, model, teacher, weights: dict[str, float] | None = None) -> Plan:
    """The :class:`Plan` of method ``name`` with resolved weights."""
    return METHODS[name](model, teacher, resolve_weights(name, weights))
