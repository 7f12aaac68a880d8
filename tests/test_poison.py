"""Tests for qunlearn.poison (PROTOCOL.md, section "Poisoning")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qunlearn.errors import InputError
from qunlearn.poison import (
    ATTACKS,
    feature_randomize,
    flip_mask,
    label_flip,
    n_poisoned,
    poison,
)

ALPHAS = [i / 10 for i in range(10)]
ALPHAS_ARANGE = list(np.arange(10) * 0.1)  # 0.30000000000000004 and friends


def make_data(n=500, d=8, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.tile(np.array([0, 1], dtype=np.int32), n // 2 + 1)[:n]
    rng.shuffle(y)
    if np.issubdtype(np.dtype(dtype), np.complexfloating):
        x = rng.normal(size=(n, d)) + 1j * rng.normal(size=(n, d))
    else:
        x = rng.normal(size=(n, d))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype), y


def even_down(v):
    return v - v % 2


def even_up(v):
    return v + v % 2


# ------------------------------------------------------------------ counts


@pytest.mark.parametrize("alpha", ALPHAS)
def test_label_flip_count_n500(alpha):
    x, y = make_data(500)
    y_p, idx = label_flip(y, alpha, jax.random.key(1))
    expected = even_down(int(round(500 * alpha)))
    assert idx.size == expected
    assert np.count_nonzero(y_p != y) == expected
    assert np.count_nonzero(y[idx] == 0) == expected // 2
    assert np.count_nonzero(y[idx] == 1) == expected // 2


@pytest.mark.parametrize("alpha", ALPHAS)
def test_feature_randomize_count_n500(alpha):
    x, y = make_data(500)
    x_p, idx = feature_randomize(x, y, alpha, jax.random.key(1))
    expected = even_up(int(round(500 * alpha)))
    assert idx.size == expected
    changed = np.any(x_p != x, axis=1)
    assert np.count_nonzero(changed) == expected
    assert np.count_nonzero(y[idx] == 0) == expected // 2


@pytest.mark.parametrize(
    "n, alpha, flipped, replaced",
    [
        (10, 0.25, 2, 4),  # 2.5 -> down 2, up 4
        (10, 0.3, 2, 4),  # 3 -> down 2, up 4
        (10, 0.4, 4, 4),  # 4 even: same both ways
        (10, 0.05, 0, 2),  # 0.5 -> down 0, up 2
        (7, 0.5, 2, 4),  # 3.5 -> down 2, up 4
        (9, 0.9, 8, 10),  # 8.1 -> down 8, up 10
        (100, 0.29, 28, 30),  # 28.999999999999996 in floats: still 29
        (1000, 0.1 * 3, 300, 300),  # 300.00000000000006 in floats: still 300
        (1000, 0.7000000000000001, 700, 700),
        (0, 0.5, 0, 0),
    ],
)
def test_n_poisoned_by_hand(n, alpha, flipped, replaced):
    assert n_poisoned(n, alpha, round_up=False) == flipped
    assert n_poisoned(n, alpha, round_up=True) == replaced


@pytest.mark.parametrize("alpha", ALPHAS_ARANGE)
def test_grid_counts_not_disturbed_by_float_noise(alpha):
    for n in (100, 500, 1000, 1200, 2000):
        exact = round(n * round(float(alpha), 1))
        assert n_poisoned(n, alpha, round_up=False) == even_down(exact)
        assert n_poisoned(n, alpha, round_up=True) == even_up(exact)


def test_odd_case_n10_alpha_quarter():
    x, y = make_data(10)
    y_p, fidx = label_flip(y, 0.25, jax.random.key(3))
    x_p, ridx = feature_randomize(x, y, 0.25, jax.random.key(3))
    assert fidx.size == 2 and np.count_nonzero(y_p != y) == 2
    assert ridx.size == 4 and np.count_nonzero(np.any(x_p != x, axis=1)) == 4
    for idx in (fidx, ridx):
        assert np.count_nonzero(y[idx] == 0) == np.count_nonzero(y[idx] == 1)


# ------------------------------------------------------------------ label flipping


def test_only_chosen_labels_change_and_are_inverted():
    _, y = make_data(500)
    y_before = y.copy()
    y_p, idx = label_flip(y, 0.3, jax.random.key(7))
    np.testing.assert_array_equal(y, y_before)  # input not mutated
    mask = flip_mask(y.size, idx)
    np.testing.assert_array_equal(y_p[mask], 1 - y[mask])
    np.testing.assert_array_equal(y_p[~mask], y[~mask])
    assert y_p.dtype == np.int32 and isinstance(y_p, np.ndarray)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)


def test_label_flip_accepts_jax_arrays_and_legacy_keys():
    _, y = make_data(200)
    y_p, idx = label_flip(jnp.asarray(y), 0.2, jax.random.PRNGKey(5))
    assert isinstance(y_p, np.ndarray) and isinstance(idx, np.ndarray)
    assert idx.size == 40 and np.count_nonzero(y_p != y) == 40


# ------------------------------------------------------------------ feature randomisation


def test_randomised_rows_real_float32():
    x, y = make_data(300, dtype=np.float32)
    x_before, y_before = x.copy(), y.copy()
    x_p, idx = feature_randomize(x, y, 0.4, jax.random.key(11))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    assert x_p.dtype == np.float32 and x_p.shape == x.shape
    mask = flip_mask(len(y), idx)
    np.testing.assert_allclose(np.linalg.norm(x_p[idx], axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(x_p[~mask], x[~mask])
    assert np.all(np.any(x_p[mask] != x[mask], axis=1))


def test_randomised_rows_complex():
    x, y = make_data(300, d=16, dtype=np.complex64)
    x_before = x.copy()
    x_p, idx = feature_randomize(jnp.asarray(x), y, 0.4, jax.random.key(11))
    np.testing.assert_array_equal(x, x_before)
    assert isinstance(x_p, np.ndarray) and x_p.dtype == np.complex64
    rows = x_p[idx]
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    assert np.all(np.abs(rows.imag).max(axis=1) > 0)
    assert np.all(np.abs(rows.real).max(axis=1) > 0)
    mask = flip_mask(len(y), idx)
    np.testing.assert_array_equal(x_p[~mask], x[~mask])


def test_complex128_kept():
    x, y = make_data(50, d=4, dtype=np.complex128)
    x_p, idx = feature_randomize(x, y, 0.2, jax.random.key(0))
    assert x_p.dtype == np.complex128
    np.testing.assert_allclose(np.linalg.norm(x_p[idx], axis=1), 1.0, atol=1e-12)


def test_poison_feature_randomization_keeps_labels():
    x, y = make_data(100)
    x_p, y_p, idx = poison("feature-randomization", x, y, 0.5, jax.random.key(2))
    np.testing.assert_array_equal(y_p, y)
    assert y_p.dtype == np.int32
    assert idx.size == 50
    x_q, idx_q = feature_randomize(x, y, 0.5, jax.random.key(2))
    np.testing.assert_array_equal(x_p, x_q)
    np.testing.assert_array_equal(idx, idx_q)


def test_poison_label_flip_keeps_x():
    x, y = make_data(100)
    x_p, y_p, idx = poison("label-flip", x, y, 0.5, jax.random.key(2))
    np.testing.assert_array_equal(x_p, x)
    assert x_p is not x
    assert idx.size == 50 and np.count_nonzero(y_p != y) == 50


def test_random_directions_roughly_isotropic():
    # N(0, sigma^2) entries cannot be checked after normalisation; check instead
    # that the random unit vectors show no preferred direction.
    x, y = make_data(4000, d=8, dtype=np.float64)
    x_p, idx = feature_randomize(x, y, 0.9, jax.random.key(42))
    rows = x_p[idx]
    assert abs(rows.mean()) < 0.01
    assert np.all(np.abs(rows.mean(axis=0)) < 0.02)
    # each coordinate of a uniform unit vector in d=8 has second moment 1/8
    np.testing.assert_allclose((rows**2).mean(axis=0), 1 / 8, atol=0.01)


def test_sigma_scale_invariant_after_normalisation():
    x, y = make_data(100)
    a, ia = feature_randomize(x, y, 0.3, jax.random.key(9), sigma=0.1)
    b, ib = feature_randomize(x, y, 0.3, jax.random.key(9), sigma=2.0)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(a, b, atol=1e-6)


# ------------------------------------------------------------------ determinism, balance


def test_determinism_same_key():
    x, y = make_data(500)
    for fn in (
        lambda k: label_flip(y, 0.3, k),
        lambda k: feature_randomize(x, y, 0.3, k),
    ):
        a = fn(jax.random.key(123))
        b = fn(jax.random.key(123))
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def test_different_key_different_indices():
    x, y = make_data(500)
    _, i1 = label_flip(y, 0.3, jax.random.key(1))
    _, i2 = label_flip(y, 0.3, jax.random.key(2))
    assert not np.array_equal(i1, i2)
    _, j1 = feature_randomize(x, y, 0.3, jax.random.key(1))
    _, j2 = feature_randomize(x, y, 0.3, jax.random.key(2))
    assert not np.array_equal(j1, j2)


def test_typed_and_legacy_keys_agree():
    _, y = make_data(200)
    _, a = label_flip(y, 0.3, jax.random.key(4))
    _, b = label_flip(y, 0.3, jax.random.PRNGKey(4))
    np.testing.assert_array_equal(a, b)


def test_same_key_rows_nested():
    # With one key the rounded-up choice contains the rounded-down one.
    x, y = make_data(10)
    _, fidx = label_flip(y, 0.25, jax.random.key(8))
    _, ridx = feature_randomize(x, y, 0.25, jax.random.key(8))
    assert set(fidx) <= set(ridx)


@pytest.mark.parametrize("seed", range(5))
def test_balance_unbalanced_data(seed):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.zeros(400, np.int32), np.ones(100, np.int32)])
    rng.shuffle(y)
    x = rng.normal(size=(500, 4)).astype(np.float32)
    _, fidx = label_flip(y, 0.2, jax.random.key(seed))
    _, ridx = feature_randomize(x, y, 0.2, jax.random.key(seed))
    for idx in (fidx, ridx):
        assert idx.size == 100
        assert np.count_nonzero(y[idx] == 0) == 50
        assert np.count_nonzero(y[idx] == 1) == 50
        assert np.unique(idx).size == idx.size


def test_alpha_zero_changes_nothing():
    x, y = make_data(100)
    y_p, fidx = label_flip(y, 0.0, jax.random.key(0))
    x_p, ridx = feature_randomize(x, y, 0.0, jax.random.key(0))
    np.testing.assert_array_equal(y_p, y)
    np.testing.assert_array_equal(x_p, x)
    assert fidx.size == 0 and ridx.size == 0
    assert fidx.dtype == np.int64 and ridx.dtype == np.int64


def test_flip_mask():
    m = flip_mask(6, np.array([0, 3, 5]))
    np.testing.assert_array_equal(m, [True, False, False, True, False, True])
    assert m.dtype == bool
    assert not flip_mask(4, np.zeros(0, np.int64)).any()
    with pytest.raises(InputError):
        flip_mask(3, np.array([3]))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("alpha", [-0.1, 1.0, float("nan"), float("inf"), "abc"])
def test_bad_alpha(alpha):
    x, y = make_data(20)
    for call in (
        lambda: label_flip(y, alpha, jax.random.key(0)),
        lambda: feature_randomize(x, y, alpha, jax.random.key(0)),
        lambda: poison("label-flip", x, y, alpha, jax.random.key(0)),
        lambda: n_poisoned(20, alpha, round_up=True),
    ):
        with pytest.raises(InputError, match=r"\[0, 1\)") as info:
            call()
        assert "\n" not in str(info.value)


def test_unknown_kind_lists_valid_ones():
    x, y = make_data(20)
    with pytest.raises(InputError) as info:
        poison("gaussian", x, y, 0.1, jax.random.key(0))
    msg = str(info.value)
    assert "gaussian" in msg
    for kind in ATTACKS:
        assert kind in msg


def test_class_too_small():
    y = np.array([0] * 18 + [1] * 2, dtype=np.int32)
    x = np.ones((20, 3), np.float32)
    with pytest.raises(InputError, match="class 1") as info:
        label_flip(y, 0.5, jax.random.key(0))  # needs 5 per class
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="class 1"):
        feature_randomize(x, y, 0.3, jax.random.key(0))  # 6 -> 3 per class
    # exactly enough is fine
    _, idx = label_flip(y, 0.2, jax.random.key(0))
    assert idx.size == 4


def test_other_bad_input():
    x, y = make_data(20)
    with pytest.raises(InputError, match="0 or 1"):
        label_flip(np.array([0, 1, 2, 1]), 0.5, jax.random.key(0))
    with pytest.raises(InputError, match="rows"):
        feature_randomize(x[:10], y, 0.2, jax.random.key(0))
    with pytest.raises(InputError, match="float or complex"):
        feature_randomize(np.ones((20, 3), np.int64), y, 0.2, jax.random.key(0))
    with pytest.raises(InputError, match="key"):
        label_flip(y, 0.2, 0)
    with pytest.raises(InputError, match="sigma"):
        feature_randomize(x, y, 0.2, jax.random.key(0), sigma=0.0)


def test_label_flip_random_counts_and_determinism():
    import jax
    import numpy as np

    from qunlearn.poison import label_flip_random

    y = np.array([0] * 90 + [1] * 10, dtype=np.int32)
    yp, idx = label_flip_random(y, 0.3, jax.random.key(3))
    assert len(idx) == 30 and len(set(idx.tolist())) == 30
    assert np.all(yp[idx] == 1 - y[idx])
    mask = np.ones(100, bool)
    mask[idx] = False
    assert np.all(yp[mask] == y[mask])
    yp2, idx2 = label_flip_random(y, 0.3, jax.random.key(3))
    assert np.array_equal(idx, idx2) and np.array_equal(yp, yp2)
    # not class-balanced: with 90/10 classes most flips fall in class 0 (a balanced flip would take 15 of each)
    assert (y[idx] == 0).sum() > 15
