import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qunlearn.errors import InputError
from qunlearn.losses import bernoulli_kl
from qunlearn.metrics import (
    accuracy,
    binary_predictions,
    mia_auc,
    oracle_agreement,
    oracle_kl,
    per_sample_bce,
)

P = np.array([0.9, 0.2, 0.6])
Y = np.array([1, 0, 0])


def test_binary_predictions_threshold_is_strict():
    np.testing.assert_array_equal(binary_predictions([0.5, 0.51, 0.0, 1.0]), [0, 1, 0, 1])


def test_accuracy_hand_value():
    assert accuracy(P, Y) == pytest.approx(2 / 3)
    assert isinstance(accuracy(P, Y), float)
    assert accuracy(jnp.asarray(P), jnp.asarray(Y)) == pytest.approx(2 / 3)
    assert math.isnan(accuracy(np.array([]), np.array([])))


def test_accuracy_refuses_mismatched_shapes():
    with pytest.raises(InputError):
        accuracy([0.1, 0.2], [1, 0, 1])


def test_per_sample_bce_hand_values():
    np.testing.assert_allclose(per_sample_bce(P, Y), [-math.log(0.9), -math.log(0.8), -math.log(0.4)], rtol=1e-12)


def test_per_sample_bce_clipping_keeps_it_finite():
    losses = per_sample_bce([0.0, 1.0, 1.0, 0.0], [1, 0, 1, 0])
    assert np.all(np.isfinite(losses))
    assert losses[0] == pytest.approx(-math.log(1e-7))
    assert losses[1] == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert losses[2] == pytest.approx(1e-7, rel=1e-3)


def test_oracle_agreement_hand_value():
    # hard predictions [1, 0, 1, 0] vs [1, 1, 1, 0]
    assert oracle_agreement([0.9, 0.2, 0.6, 0.5], [0.7, 0.8, 0.99, 0.1]) == pytest.approx(0.75)


def test_bernoulli_kl_hand_values_and_asymmetry():
    forward = 0.5 * math.log(4 / 3)  # KL(Bern(.5) || Bern(.25))
    backward = 0.75 * math.log(1.5) - 0.25 * math.log(2)  # KL(Bern(.25) || Bern(.5))
    assert float(bernoulli_kl(0.5, 0.25)) == pytest.approx(forward, rel=1e-9)
    assert float(bernoulli_kl(0.25, 0.5)) == pytest.approx(backward, rel=1e-9)
    assert abs(forward - backward) > 0.01


def test_bernoulli_kl_zero_for_identical_and_finite_at_edges():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(bernoulli_kl(p, p), 0.0, atol=1e-12)
    edge = bernoulli_kl(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert np.all(np.isfinite(edge))
    assert np.all(edge > 10)


def test_bernoulli_kl_jit_matches_numpy():
    pt = np.array([0.0, 0.1, 0.3, 0.5, 0.8, 1.0], dtype=np.float32)
    ps = np.array([0.2, 0.1, 0.6, 0.25, 0.99, 0.5], dtype=np.float32)
    ref = bernoulli_kl(pt.astype(np.float64), ps.astype(np.float64))
    out = jax.jit(bernoulli_kl)(jnp.asarray(pt), jnp.asarray(ps))
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-5)
    # differentiable inside jit (SCRUB takes gradients through it)
    grad = jax.jit(jax.grad(lambda s: jnp.sum(bernoulli_kl(jnp.asarray(pt), s))))(jnp.asarray(ps))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_oracle_kl_hand_value_and_direction():
    p = np.array([0.25, 0.5])
    oracle = np.array([0.5, 0.5])
    # mean of KL(Bern(oracle) || Bern(p)) = (0.5 log(4/3) + 0) / 2
    assert oracle_kl(p, oracle) == pytest.approx(0.25 * math.log(4 / 3), rel=1e-9)
    assert oracle_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(oracle_kl([0.0, 1.0], [1.0, 0.0]))


def test_mia_auc_chance_for_same_distribution():
    rng = np.random.default_rng(1)
    auc = mia_auc(rng.exponential(size=200), rng.exponential(size=200), seed=0)
    assert abs(auc - 0.5) < 0.1


def test_mia_auc_separable():
    rng = np.random.default_rng(2)
    auc = mia_auc(rng.uniform(0.01, 0.1, 100), rng.uniform(2.0, 3.0, 100))
    assert auc > 0.99


def test_mia_auc_overlapping_in_between_and_deterministic():
    rng = np.random.default_rng(3)
    members = rng.normal(0.5, 0.3, 150)
    nonmembers = rng.normal(0.9, 0.3, 150)
    auc = mia_auc(members, nonmembers, seed=7)
    assert 0.6 < auc < 0.95
    assert mia_auc(members, nonmembers, seed=7) == auc


def test_mia_auc_unbalanced_and_non_finite():
    rng = np.random.default_rng(4)
    members = rng.uniform(0.01, 0.1, 30)
    nonmembers = np.concatenate([rng.uniform(2.0, 3.0, 300), [np.inf, np.nan]])
    auc = mia_auc(members, nonmembers, folds=5, seed=0)
    assert math.isfinite(auc) and auc > 0.99
    # fewer samples than folds: folds shrink to the group size
    assert math.isfinite(mia_auc([0.1, 0.2, 0.3], [2.0, 2.5, 3.0, 4.0], folds=5))


def test_mia_auc_too_few_and_bad_input():
    assert math.isnan(mia_auc([0.1], [1.0, 2.0, 3.0]))
    assert math.isnan(mia_auc([], []))
    with pytest.raises(InputError):
        mia_auc(np.zeros((3, 2)), np.zeros(6))
