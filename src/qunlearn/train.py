r"""One optimisation loop for every model and every objective.

:func:`fit` is a pure function: Adam (optax) over shuffled minibatches, one
``jax.lax.scan`` over the evaluation points (epoch 0, every ``eval_every``
epochs, and the last epoch), each running the epochs before it (a scan over
epochs and, inside, one over minibatches) and then the metrics, which are
traced once, inside the compiled program. It knows nothing about models or
datasets: it gets a minibatch loss and a metrics function. Training
(:func:`supervised_program`) and unlearning build on it; the runs of one cell
(the seeds) are one ``jax.vmap`` of it.

Minibatches follow the usual convention: each epoch draws a fresh permutation
of the ``n`` training indices and cuts it into ``ceil(n / batch_size)`` batches;
the last, shorter batch is padded and its padding masked out of the loss, so
every sample counts exactly once per epoch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .losses import accuracy, bce
from .models.base import for_training, predict
from .schedule import TrainConfig, eval_epochs  # noqa: F401  (the schedule lives where reading a config needs no JAX)


LossFn = Callable[[Any, Any, jax.Array, jax.Array, jax.Array], jax.Array]
MetricsFn = Callable[[Any, Any, jax.Array], dict]
METRICS_STREAM = 0x6D657472  # folded into fit's key for the metrics' keys, apart from the shuffling stream


def fit(
    params: Any,
    loss_fn: LossFn,
    metrics_fn: MetricsFn,
    data: Any,
    n: int,
    cfg: TrainConfig,
    key: jax.Array,
    optimizer: optax.GradientTransformation | None = None,
    step_fn: Callable | None = None,
):
    """Minimise ``loss_fn`` with Adam over minibatches of ``n`` indices.

    Args:
      params: initial parameter pytree.
      loss_fn: ``loss_fn(params, data, idx, mask, key) -> scalar``; ``idx`` holds
        ``batch_size`` indices into ``range(n)`` and ``mask`` is 1 for real
        entries and 0 for the padding of a short last batch.
      metrics_fn: ``metrics_fn(params, data, key) -> {name: scalar}``; ``key`` (one per
        evaluation, from a stream of its own, so it changes no other random draw)
        is for stochastic models (noisy QNNs); deterministic ones ignore it.
      data: any pytree of arrays, passed through to both functions.
      n: number of samples the minibatches cover (static).
      cfg: epochs, batch size, learning rate, evaluation schedule.
      key: PRNG key for shuffling (and any randomness inside ``loss_fn``).
      optimizer: defaults to ``optax.adam(cfg.lr)``.
      step_fn: a custom update rule replacing the default gradient step,
        ``step_fn(params, opt_state, data, idx, mask, key, epoch, tx) ->
        (params, opt_state)``; ``epoch`` is the (unbatched) epoch index, so a
        rule may switch phases with ``lax.cond`` at no cost under ``vmap``.

    Returns:
      ``(params, history)`` with ``history[name]`` of length ``len(eval_epochs(cfg))``.

    ``fit`` runs under ``jax.jit`` and ``jax.vmap`` and is differentiable (``jax.grad`` of a function of its
    result, for bilevel studies).
    """
    tx = optimizer if optimizer is not None else optax.adam(cfg.lr)
    bs = cfg.batch(n)
    n_batches = cfg.batches(n)
    pad = n_batches * bs - n
    mask = (jnp.arange(n_batches * bs) < n).reshape(n_batches, bs)
    grad_fn = jax.grad(loss_fn)

    def gradient_step(params, opt_state, data, idx, m, key, epoch, tx):
        grads = grad_fn(params, data, idx, m, key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    update = gradient_step if step_fn is None else step_fn

    def step(carry, batch):
        params, opt_state, key, ep = carry
        idx, m = batch
        key, sub = jax.random.split(key)
        params, opt_state = update(params, opt_state, data, idx, m, sub, ep, tx)
        return (params, opt_state, key, ep), None

    def epoch(carry, _):
        params, opt_state, key, ep = carry
        key, kperm = jax.random.split(key)
        perm = jax.random.permutation(kperm, n)
        idx = jnp.concatenate([perm, jnp.zeros((pad,), perm.dtype)]).reshape(n_batches, bs)
        (params, opt_state, key, _), _ = jax.lax.scan(step, (params, opt_state, key, ep), (idx, mask))
        return (params, opt_state, key, ep + 1), None

    metrics_key = jax.random.fold_in(key, METRICS_STREAM)

    epochs_before = np.diff(np.asarray(eval_epochs(cfg)), prepend=0).astype(np.int32)
    longest = int(epochs_before.max())

    def block(carry, n_epochs):  # n_epochs epochs (0 for the first evaluation), then the metrics
        def maybe(c, i):  # a scan with a skip, not a while loop: fit stays reverse-mode differentiable
            return jax.lax.cond(i < n_epochs, lambda c: epoch(c, None)[0], lambda c: c, c), None

        carry, _ = jax.lax.scan(maybe, carry, jnp.arange(longest))
        return carry, metrics_fn(carry[0], data, jax.random.fold_in(metrics_key, carry[3]))

    # one loop over the evaluation points: the model's forward pass of the metrics is traced and compiled once
    carry = (params, tx.init(params), key, jnp.zeros((), jnp.int32))
    carry, history = jax.lax.scan(block, carry, jnp.asarray(epochs_before))
    return carry[0], history


def supervised_metrics(model, params, data, key: jax.Array | None = None) -> dict[str, jax.Array]:
    """Metrics of a model trained on (possibly poisoned) data.

    ``data`` holds ``x, y`` (training inputs and the labels trained on), ``y_true``
    (the clean labels), ``poisoned`` (1 for poisoned samples) and ``x_val, y_val``.
    Returns ``train_loss, train_acc`` (on the labels trained on),
    ``train_clean_acc`` (on the clean labels), ``poison_fit`` (accuracy on the
    poisoned samples against the labels trained on: memorisation of the poison,
    NaN without poison), ``val_loss, val_acc``. ``key`` draws a stochastic model's noise; such a
    model (a noisy QNN) also reports ``val_z_se``, the mean standard error of its measured
    ``<Z>`` on the validation states (trajectories and shots).
    """
    k_train, k_val = (None, None) if key is None else (jax.random.fold_in(key, 0), jax.random.fold_in(key, 1))
    p = model.apply(params, data["x"], k_train)
    pv, se = predict(model, params, data["x_val"], k_val)
    extra = {} if se is None else {"val_z_se": jnp.mean(se)}
    return extra | {
        "train_loss": bce(p, data["y"]),
        "train_acc": accuracy(p, data["y"]),
        "train_clean_acc": accuracy(p, data["y_true"]),
        "poison_fit": accuracy(p, data["y"], data["poisoned"]),
        "val_loss": bce(pv, data["y_val"]),
        "val_acc": accuracy(pv, data["y_val"]),
    }


@lru_cache(maxsize=None)
def supervised_program(model, cfg: TrainConfig):
    """A compiled, seed-vmapped training program for ``model`` under ``cfg``.

    Returns ``f(keys, x, y, y_true, poisoned, x_val, y_val) -> (params, history)``
    where ``keys``, ``x``, ``y``, ``y_true`` and ``poisoned`` carry a leading run
    axis and the validation data are shared. Each run initialises the model from
    its own key, so runs differ in initialisation and in the data they get.
    Cached per (model, cfg): cells of the same shapes reuse one compilation.
    """

    stepping = for_training(model)  # a noisy QNN may run fewer trajectories in its steps than in its metrics

    def one(key, x, y, y_true, poisoned, x_val, y_val):
        k_init, k_fit = jax.random.split(key)
        data = {"x": x, "y": y, "y_true": y_true, "poisoned": poisoned, "x_val": x_val, "y_val": y_val}

        def loss_fn(params, data, idx, mask, key):
            return bce(stepping.apply(params, data["x"][idx], key), data["y"][idx], mask)

        def metrics_fn(params, data, key):
            return supervised_metrics(model, params, data, key)

        return fit(model.init(k_init), loss_fn, metrics_fn, data, x.shape[0], cfg, k_fit)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None, None)))


def train(model, key, x, y, cfg: TrainConfig, *, x_val=None, y_val=None, y_true=None, poisoned=None):
    """Train one model on ``(x, y)``: a convenience wrapper over :func:`supervised_program`.

    Returns ``(params, history)`` with history values as NumPy arrays (one entry
    per :func:`eval_epochs`). Validation data default to the training data.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    x_val = x if x_val is None else jnp.asarray(x_val)
    y_val = y if y_val is None else jnp.asarray(y_val)
    y_true = y if y_true is None else jnp.asarray(y_true)
    poisoned = jnp.zeros(y.shape, jnp.float32) if poisoned is None else jnp.asarray(poisoned, jnp.float32)
    program = supervised_program(model, cfg)
    params, hist = program(key[None], x[None], y[None], y_true[None], poisoned[None], x_val, y_val)
    params = jax.tree_util.tree_map(lambda v: v[0], params)
    return params, {k: np.asarray(v[0]) for k, v in hist.items()}
