"""Tests of qunlearn.train: losses, metrics, the evaluation schedule, the minibatch
loop of ``fit`` (checked with exact SGD arithmetic), training on toy problems,
determinism and the seed-vmapped program."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import qnn_toy

from qunlearn.errors import InputError
from qunlearn.losses import accuracy, bce
from qunlearn.models import MLP, QNN
from qunlearn.train import (
    TrainConfig,
    eval_epochs,
    fit,
    supervised_program,
    train,
)

# ---------------------------------------------------------------- bce / accuracy


def test_bce_hand_computed():
    p = jnp.array([0.9, 0.2, 0.6, 0.5], jnp.float32)
    y = jnp.array([1, 0, 0, 1])
    per = np.array([-math.log(0.9), -math.log(0.8), -math.log(0.4), -math.log(0.5)])
    np.testing.assert_allclose(float(bce(p, y)), per.mean(), rtol=1e-6)
    w = jnp.array([1.0, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(float(bce(p, y, w)), (per[0] + 2 * per[2]) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(bce(p, y, jnp.ones(4))), per.mean(), rtol=1e-6)
    # boolean masks work as weights; an all-zero mask gives 0, not NaN
    np.testing.assert_allclose(float(bce(p, y, jnp.array([True, True, False, False]))), per[:2].mean(), rtol=1e-6)
    assert float(bce(p, y, jnp.zeros(4))) == 0.0


def test_bce_clips_at_zero_and_one():
    p = jnp.array([0.0, 1.0], jnp.float32)
    wrong = float(bce(p, jnp.array([1, 0])))
    right = float(bce(p, jnp.array([0, 1])))
    assert math.isfinite(wrong) and math.isfinite(right)
    # -log(1e-7) = 16.1; float32 rounding of 1 - 1e-7 puts the other side near 15.9
    assert 15.5 < wrong < 16.5
    assert 0.0 <= right < 1e-6
    g = jax.grad(lambda q: bce(q, jnp.array([1, 0])))(p)
    assert np.all(np.isfinite(np.asarray(g)))


def test_accuracy_hand_computed():
    p = jnp.array([0.6, 0.4, 0.5, 0.9], jnp.float32)
    y = jnp.array([1, 0, 1, 0])
    # predictions p > 0.5: [1, 0, 0 (0.5 is not > 0.5), 1] -> hits [1, 1, 0, 0]
    assert float(accuracy(p, y)) == 0.5
    assert float(accuracy(p, y, jnp.array([1.0, 1.0, 0.0, 0.0]))) == 1.0
    assert float(accuracy(p, y, jnp.array([0.0, 0.0, 1.0, 1.0]))) == 0.0
    np.testing.assert_allclose(float(accuracy(p, y, jnp.array([2.0, 0.0, 1.0, 1.0]))), 0.5)
    np.testing.assert_allclose(float(accuracy(p, y, jnp.array([3.0, 0.0, 1.0, 0.0]))), 0.75)
    assert math.isnan(float(accuracy(p, y, jnp.zeros(4))))


# ---------------------------------------------------------------- config and schedule


def test_eval_epochs():
    np.testing.assert_array_equal(eval_epochs(TrainConfig(epochs=10, eval_every=4)), [0, 4, 8, 10])
    np.testing.assert_array_equal(eval_epochs(TrainConfig(epochs=8, eval_every=4)), [0, 4, 8])
    np.testing.assert_array_equal(eval_epochs(TrainConfig(epochs=3, eval_every=10)), [0, 3])
    np.testing.assert_array_equal(eval_epochs(TrainConfig(epochs=1, eval_every=1)), [0, 1])
    np.testing.assert_array_equal(eval_epochs(TrainConfig(epochs=5, eval_every=1)), np.arange(6))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"epochs": -3},
        {"epochs": 2.5},
        {"batch_size": -4},
        {"batch_size": 0},
        {"lr": float("nan")},
        {"lr": float("inf")},
        {"lr": 0.0},
        {"lr": -0.01},
        {"lr": "fast"},
        {"eval_every": 0},
    ],
)
def test_train_config_refuses_bad_values(kwargs):
    """One line that starts with the field at fault, which is also the error's path."""
    name = next(iter(kwargs))
    with pytest.raises(InputError, match=f"^{name}: ") as e:
        TrainConfig(**kwargs)
    assert e.value.path == name


def test_train_config_defaults_and_dict():
    cfg = TrainConfig(epochs=5, batch_size=8, lr=0.1, eval_every=2)
    assert cfg.to_dict() == {"epochs": 5, "batch_size": 8, "lr": 0.1, "eval_every": 2}
    assert cfg == TrainConfig(epochs=5, batch_size=8, lr=0.1, eval_every=2)
    assert hash(cfg) == hash(TrainConfig(epochs=5, batch_size=8, lr=0.1, eval_every=2))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_full_batch_is_none_and_written_full():
    cfg = TrainConfig(epochs=5, batch_size=None, lr=0.1, eval_every=2)
    assert cfg.batch(37) == 37
    assert cfg.to_dict()["batch_size"] == "full"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig(epochs=5, batch_size=100, lr=0.1, eval_every=2).batch(37) == 37


# ---------------------------------------------------------------- fit: exact SGD arithmetic


def _record(params, data, key):
    return {"p": params}


@pytest.mark.parametrize("n,bs,steps_per_epoch", [(10, 4, 3), (8, 4, 2), (10, 100, 1), (7, 1, 7)])
def test_fit_takes_ceil_n_over_batch_steps_per_epoch(n, bs, steps_per_epoch):
    assert steps_per_epoch == math.ceil(n / min(bs, n))
    cfg = TrainConfig(epochs=5, batch_size=bs, lr=1.0, eval_every=2)
    lr = 0.25

    def loss_fn(params, data, idx, mask, key):  # gradient 1 on every step
        return params

    params, hist = fit(jnp.float32(0.0), loss_fn, _record, None, n, cfg, jax.random.PRNGKey(0), optax.sgd(lr))
    assert float(params) == -5 * steps_per_epoch * lr
    np.testing.assert_array_equal(np.asarray(hist["p"]), -eval_epochs(cfg) * steps_per_epoch * lr)


def test_fit_masks_short_last_batch():
    """sum(mask) / batch_size per step: an epoch adds up to exactly n / batch_size."""
    n, bs, epochs, lr = 10, 4, 3, 0.5
    cfg = TrainConfig(epochs=epochs, batch_size=bs, lr=1.0, eval_every=1)

    def loss_fn(params, data, idx, mask, key):
        assert mask.shape == (bs,) and idx.shape == (bs,)
        return jnp.sum(mask) / bs * params

    params, hist = fit(jnp.float32(0.0), loss_fn, _record, None, n, cfg, jax.random.PRNGKey(1), optax.sgd(lr))
    np.testing.assert_allclose(float(params), -epochs * n / bs * lr, rtol=1e-6)  # 2.5 per epoch, not 3
    np.testing.assert_allclose(np.asarray(hist["p"]), -np.arange(epochs + 1) * n / bs * lr, rtol=1e-6)


def test_fit_visits_every_sample_once_per_epoch():
    """Per-sample parameters: each gets gradient exactly 1 per epoch; padding adds nothing."""
    n, bs, epochs = 10, 4, 3
    cfg = TrainConfig(epochs=epochs, batch_size=bs, lr=1.0, eval_every=2)
    weights = jnp.arange(1.0, n + 1.0)

    def loss_fn(params, data, idx, mask, key):
        return jnp.sum(params["each"][idx] * mask) + params["total"] * jnp.sum(data[idx] * mask)

    init = {"each": jnp.zeros(n, jnp.float32), "total": jnp.float32(0.0)}
    params, hist = fit(init, loss_fn, _record, weights, n, cfg, jax.random.PRNGKey(2), optax.sgd(0.125))
    np.testing.assert_array_equal(np.asarray(params["each"]), np.full(n, -epochs * 0.125))
    assert float(params["total"]) == -epochs * 55 * 0.125  # sum(1..10) once per epoch
    np.testing.assert_array_equal(np.asarray(hist["p"]["total"]), -eval_epochs(cfg) * 55 * 0.125)
    assert hist["p"]["each"].shape == (len(eval_epochs(cfg)), n)


def test_fit_shuffles_with_key():
    """Each epoch cuts a fresh permutation into batches, drawn from the key.

    With loss ``p * s**2`` where ``s`` is the sum of the batch's (1-based) indices,
    SGD moves ``p`` by ``-lr * sum_k s_k**2`` per epoch: invariant to the order of
    batches but not to which samples share a batch.
    """
    n, bs, lr = 12, 4, 1.0 / 1024
    cfg = TrainConfig(epochs=6, batch_size=bs, lr=1.0, eval_every=1)

    def loss_fn(params, data, idx, mask, key):
        return params * jnp.sum((idx + 1.0) * mask) ** 2

    def run(key):
        p, hist = fit(jnp.float32(0.0), loss_fn, _record, None, n, cfg, key, optax.sgd(lr))
        return -np.diff(np.asarray(hist["p"], np.float64)) / lr  # sum_k s_k^2 per epoch

    a, b, c = run(jax.random.PRNGKey(0)), run(jax.random.PRNGKey(0)), run(jax.random.PRNGKey(9))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(set(a.tolist())) > 1  # a fresh partition each epoch
    # each epoch is a partition of 1..12 into three batches of four: sum_k s_k = 78, so
    # sum_k s_k^2 lies between 78^2 / 3 (equal sums) and the most unequal split
    most = (12 + 11 + 10 + 9) ** 2 + (8 + 7 + 6 + 5) ** 2 + (4 + 3 + 2 + 1) ** 2
    assert np.all(a >= 78**2 / 3 - 1e-3) and np.all(a <= most + 1e-3)
    np.testing.assert_allclose(a, np.round(a), atol=1e-3)  # integer sums of squares


def test_fit_default_optimizer_is_adam_with_cfg_lr():
    """Adam's step is lr * m_hat / (sqrt(v_hat) + eps) = lr for a constant gradient."""
    cfg = TrainConfig(epochs=3, batch_size=5, lr=0.01, eval_every=3)
    params, _ = fit(jnp.float32(0.0), lambda p, d, i, m, k: 2.0 * p, _record, None, 10, cfg, jax.random.PRNGKey(0))
    np.testing.assert_allclose(float(params), -3 * 2 * 0.01, rtol=1e-5)


@pytest.mark.parametrize("epochs, every", [(5, 2), (4, 2), (3, 5), (1, 1)])
def test_fit_traces_the_metrics_once_and_records_them_on_schedule(epochs, every):
    """The metrics (a model's forward pass over both data sets: the largest part of a training program)
    appear once in the compiled program, whatever the schedule; before, the first evaluation, the loop
    and a remainder of epochs each traced (and XLA compiled) them again. Values are recorded at
    eval_epochs, after the epochs before them."""
    traced = []

    def metrics_fn(params, data, key):
        traced.append(1)
        return {"w": params["w"], "key": jax.random.key_data(key)[-1].astype(jnp.float32)}

    def loss_fn(params, data, idx, mask, key):
        return jnp.sum(mask * (params["w"] - 1.0) ** 2)

    cfg = TrainConfig(epochs=epochs, batch_size=None, lr=0.5, eval_every=every)
    opt = optax.sgd(0.25)  # w <- w - 0.25 * 2 n (w - 1) = w - 0.5 (w - 1) for n = 1: the gap halves each epoch
    params, hist = jax.jit(lambda k: fit({"w": jnp.float32(0.0)}, loss_fn, metrics_fn, {}, 1, cfg, k, opt))(
        jax.random.PRNGKey(0))
    assert len(traced) == 1
    at = eval_epochs(cfg)
    np.testing.assert_allclose(np.asarray(hist["w"]), 1.0 - 0.5 ** at, rtol=1e-6)
    # each evaluation draws its own key, folded from the epoch it is taken at
    assert len(set(np.asarray(hist["key"]).tolist())) == len(at)


def test_fit_is_differentiable_through_its_epochs():
    """jax.grad of a function of fit's result (bilevel studies): with w <- w - 0.5 (w - 1) per epoch, the final
    w depends on the initial one as 0.5 ** epochs, whatever the evaluation schedule."""

    def loss_fn(params, data, idx, mask, key):
        return jnp.sum(mask * (params["w"] - 1.0) ** 2)

    def metrics_fn(params, data, key):
        return {"w": params["w"]}

    for epochs, every in [(5, 2), (3, 5)]:
        cfg = TrainConfig(epochs=epochs, batch_size=None, lr=0.5, eval_every=every)

        def final_w(w0):
            params, _ = fit({"w": w0}, loss_fn, metrics_fn, {}, 1, cfg, jax.random.PRNGKey(0), optax.sgd(0.25))
            return params["w"]

        np.testing.assert_allclose(float(jax.grad(final_w)(jnp.float32(0.0))), 0.5**epochs, rtol=1e-6)


def test_fit_custom_step_fn_sees_epoch_index():
    """``step_fn`` replaces the gradient step and gets the 0-based epoch index."""
    n, bs, epochs = 10, 4, 5
    cfg = TrainConfig(epochs=epochs, batch_size=bs, lr=1.0, eval_every=2)

    def step_fn(params, opt_state, data, idx, mask, key, epoch, tx):
        # count steps, add up epoch indices (one per step) and real samples seen
        return {"steps": params["steps"] + 1, "ep": params["ep"] + epoch,
                "seen": params["seen"] + jnp.sum(mask, dtype=jnp.int32)}, opt_state

    init = {"steps": jnp.int32(0), "ep": jnp.int32(0), "seen": jnp.int32(0)}
    unused_loss = lambda p, d, i, m, k: 0.0  # noqa: E731
    params, hist = fit(init, unused_loss, _record, None, n, cfg, jax.random.PRNGKey(0), optax.sgd(1.0), step_fn=step_fn)
    assert int(params["steps"]) == epochs * 3
    assert int(params["ep"]) == 3 * sum(range(epochs))
    assert int(params["seen"]) == epochs * n
    np.testing.assert_array_equal(np.asarray(hist["p"]["seen"]), eval_epochs(cfg) * n)


# ---------------------------------------------------------------- training on toy problems


def _blobs(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int32)
    centre = np.where(y[:, None] == 1, 1.0, -1.0) * np.ones((1, d))
    return (centre + 0.5 * rng.normal(size=(n, d))).astype(np.float32), y


MLP_MODEL = MLP(in_features=4, hidden=(8, 4))
MLP_CFG = TrainConfig(epochs=12, batch_size=16, lr=0.05, eval_every=5)


def _bce_np(p, y):
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def test_qnn_training_lowers_loss():
    x, y = qnn_toy()
    model = QNN(4, 2)
    cfg = TrainConfig(epochs=30, batch_size=16, lr=0.1, eval_every=10)
    params, hist = train(model, jax.random.PRNGKey(0), x, y, cfg)
    assert set(hist) == {"train_loss", "train_acc", "train_clean_acc", "poison_fit", "val_loss", "val_acc"}
    for v in hist.values():
        assert isinstance(v, np.ndarray) and v.shape == (len(eval_epochs(cfg)),) == (4,)
    assert params.shape == model.param_shape
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert hist["train_acc"][-1] >= 0.95
    # the recorded final metrics are those of the returned parameters
    p = np.asarray(model.apply(params, jnp.asarray(x)))
    np.testing.assert_allclose(hist["train_loss"][-1], _bce_np(p, y), rtol=1e-4)
    np.testing.assert_allclose(hist["train_acc"][-1], np.mean((p > 0.5) == y))
    # no validation data: it defaults to the training data; no poison: poison_fit is NaN
    np.testing.assert_allclose(hist["val_loss"], hist["train_loss"], rtol=1e-6)
    np.testing.assert_array_equal(hist["train_clean_acc"], hist["train_acc"])
    assert np.all(np.isnan(hist["poison_fit"]))


def test_mlp_training_lowers_loss_and_reports_poison_metrics():
    x, y = _blobs()
    y_trained = y.copy()
    poisoned = np.zeros(len(y), np.float32)
    poisoned[:4] = 1
    y_trained[:4] = 1 - y_trained[:4]
    xv, yv = _blobs(n=20, seed=1)
    params, hist = train(
        MLP_MODEL, jax.random.PRNGKey(0), x, y_trained, MLP_CFG, x_val=xv, y_val=yv, y_true=y, poisoned=poisoned
    )
    assert len(hist["train_loss"]) == len(eval_epochs(MLP_CFG)) == 4
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert hist["val_acc"][-1] >= 0.9
    p = np.asarray(MLP_MODEL.apply(params, jnp.asarray(x)))
    pv = np.asarray(MLP_MODEL.apply(params, jnp.asarray(xv)))
    pred = p > 0.5
    np.testing.assert_allclose(hist["train_acc"][-1], np.mean(pred == y_trained), atol=1e-6)
    np.testing.assert_allclose(hist["train_clean_acc"][-1], np.mean(pred == y), atol=1e-6)
    np.testing.assert_allclose(hist["poison_fit"][-1], np.mean(pred[:4] == y_trained[:4]), atol=1e-6)
    np.testing.assert_allclose(hist["val_acc"][-1], np.mean((pv > 0.5) == yv), atol=1e-6)
    np.testing.assert_allclose(hist["val_loss"][-1], _bce_np(pv, yv), rtol=1e-4)
    assert np.all(np.isfinite(hist["poison_fit"]))


def test_training_is_deterministic_per_key():
    x, y = _blobs()
    xv, yv = _blobs(n=20, seed=1)  # same shapes as above: reuses the compiled program
    p1, h1 = train(MLP_MODEL, jax.random.PRNGKey(3), x, y, MLP_CFG, x_val=xv, y_val=yv)
    p2, h2 = train(MLP_MODEL, jax.random.PRNGKey(3), x, y, MLP_CFG, x_val=xv, y_val=yv)
    _, h3 = train(MLP_MODEL, jax.random.PRNGKey(4), x, y, MLP_CFG, x_val=xv, y_val=yv)
    for k in h1:
        np.testing.assert_array_equal(h1[k], h2[k])
    for a, b in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(h1["train_loss"], h3["train_loss"])


def test_supervised_program_vmaps_runs_independently():
    x0, y0 = _blobs(seed=0)
    x1, y1 = _blobs(seed=5)
    y1 = 1 - y1  # the second run sees different data and labels
    xv, yv = _blobs(n=20, seed=1)
    keys = jnp.stack([jax.random.PRNGKey(10), jax.random.PRNGKey(11)])
    xs, ys = jnp.stack([x0, x1]), jnp.stack([y0, y1])
    pois = jnp.zeros(ys.shape, jnp.float32)
    program = supervised_program(MLP_MODEL, MLP_CFG)
    assert supervised_program(MLP_MODEL, MLP_CFG) is program  # cached per (model, cfg)
    params, hist = program(keys, xs, ys, ys, pois, xv, yv)
    assert hist["train_loss"].shape == (2, len(eval_epochs(MLP_CFG)))
    assert params[0]["w"].shape == (2, 4, 8)
    for r in range(2):
        p_r, h_r = program(keys[r : r + 1], xs[r : r + 1], ys[r : r + 1], ys[r : r + 1], pois[r : r + 1], xv, yv)
        for k in hist:
            np.testing.assert_allclose(np.asarray(hist[k][r]), np.asarray(h_r[k][0]), atol=1e-6)
        for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(p_r)):
            np.testing.assert_allclose(np.asarray(a[r]), np.asarray(b[0]), atol=1e-6)
    # and a run alone through train() (same key, same data) is the same run
    _, h0 = train(MLP_MODEL, keys[0], x0, y0, MLP_CFG, x_val=xv, y_val=yv)
    np.testing.assert_allclose(h0["train_loss"], np.asarray(hist["train_loss"][0]), atol=1e-6)
    assert not np.allclose(np.asarray(hist["train_loss"][0]), np.asarray(hist["train_loss"][1]))
