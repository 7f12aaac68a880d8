"""The per-example unlearning audit: its numerics against direct NumPy / SciPy computations, and the experiment
at tiny size (tables, figures, chunk-size independence, resume, refusals)."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from qunlearn.experiments import audit_stats as st


# ------------------------------------------------------------------ numerics


def _direct_kl(a, b, bins, smoothing):
    """KL(hist(a) || hist(b)) of one example, from np.histogram over the pooled range."""
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    ca, _ = np.histogram(a, bins=bins, range=(lo, hi))
    cb, _ = np.histogram(b, bins=bins, range=(lo, hi))
    p = (ca + smoothing) / (ca.sum() + smoothing * bins)
    q = (cb + smoothing) / (cb.sum() + smoothing * bins)
    return float(np.sum(p * np.log(p / q)))


def test_hist_kl_is_the_direct_numpy_computation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (16, 7)), rng.normal(0.5, 2, (20, 7))
    got = st.hist_kl(a, b, 5, 0.5)
    want = [_direct_kl(a[:, e], b[:, e], 5, 0.5) for e in range(7)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(st.hist_kl(np.ones((4, 3)), np.ones((4, 3)), 5) == 0)  # one value: one bin, no divergence


def test_klom_of_one_distribution_sits_at_its_floor_and_of_separated_ones_is_large():
    rng = np.random.default_rng(1)
    n, e, bins = 32, 400, st.auto_bins(16)
    oracle = rng.normal(0, 1, (n, e))
    same = rng.normal(0, 1, (n, e))
    far = rng.normal(6, 1, (n, e))
    floor = st.klom_floor(oracle, bins)
    k_same, k_far = st.klom(same, oracle, bins), st.klom(far, oracle, bins)
    # the floor is far from 0 at this N, and a sample of the same distribution scores as the floor does
    assert np.median(floor) > 0.05
    assert abs(np.median(k_same) - np.median(floor)) < 0.25 * np.median(floor)
    assert np.median(k_far) > 10 * np.median(floor)
    # each direction, example by example, is the direct computation on the halves
    a, b = np.arange(16), np.arange(16, 32)
    want = [0.5 * (_direct_kl(far[a, j], oracle[b, j], bins, 0.5) + _direct_kl(far[b, j], oracle[a, j], bins, 0.5))
            for j in range(5)]
    np.testing.assert_allclose(k_far[:5], want, rtol=1e-12)


def test_margins_are_clipped_logits_of_the_label():
    p = np.array([0.9, 0.9, 0.5, 1.0])
    y = np.array([1, 0, 1, 0])
    np.testing.assert_allclose(st.margins(p, y, clip=15.0), [math.log(9), -math.log(9), 0.0, -15.0])


def test_auc_is_sklearns_and_per_column_auc_the_columnwise_one():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    pos, neg = rng.normal(1, 1, (30, 4)).round(1), rng.normal(0, 1, (25, 4)).round(1)  # ties included
    y = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    assert st.auc(pos, neg) == pytest.approx(roc_auc_score(y, np.r_[pos.ravel(), neg.ravel()]))
    for j in range(4):
        yj = np.r_[np.ones(30), np.zeros(25)]
        assert st.auc_per_column(pos, neg)[j] == pytest.approx(roc_auc_score(yj, np.r_[pos[:, j], neg[:, j]]))


@pytest.mark.parametrize("d", [0.5, 1.0, 2.0])
def test_ulira_on_gaussians_matches_the_analytic_auc_and_tpr(d):
    """Unit-variance Gaussians shifted by d: the likelihood ratio is monotone in the margin, so the pooled
    AUC is Phi(d / sqrt 2) and the TPR at FPR f is 1 - Phi(Phi^-1(1 - f) - d)."""
    rng = np.random.default_rng(3)
    n, e = 400, 60
    mu = rng.normal(0, 3, e)  # every example its own mean: the attack is per example
    unlearned, oracle = mu + d + rng.normal(0, 1, (n, e)), mu + rng.normal(0, 1, (n, e))
    out = st.ulira(unlearned, oracle)
    assert out["auc"] == pytest.approx(norm.cdf(d / math.sqrt(2)), abs=0.01)
    assert out["ulira_tpr_1pct"] == pytest.approx(1 - norm.cdf(norm.ppf(0.99) - d), abs=0.03)
    assert out["ulira_tpr_01pct"] == pytest.approx(1 - norm.cdf(norm.ppf(0.999) - d), abs=0.03)
    assert np.median(out["effect"]) == pytest.approx(d, rel=0.15)


def test_retrained_against_retrained_is_at_chance():
    rng = np.random.default_rng(4)
    n, e = 64, 150
    mu, sd = rng.normal(0, 2, e), rng.uniform(0.2, 1.5, e)
    a, b = mu + sd * rng.normal(size=(n, e)), mu + sd * rng.normal(size=(n, e))
    out = st.ulira(a, b)
    lo, hi = st.bootstrap(lambda ia, ib: np.array([st.ulira(a, b, ia, ib)["auc"]]), n, 100, seed=0)
    assert lo[0] <= 0.5 <= hi[0] and abs(out["auc"] - 0.5) < 0.05


def test_a_tpr_the_negatives_cannot_resolve_is_empty_with_the_reason():
    rng = np.random.default_rng(5)
    v, why = st.tpr_at(rng.normal(size=500), rng.normal(size=999), 0.01)
    assert math.isnan(v) and "999 negatives" in why and "1000" in why
    v, why = st.tpr_at(np.arange(10.0), np.r_[np.zeros(990), np.full(10, 100.0)], 0.01)  # 10 negatives above 0
    assert v == pytest.approx(0.9) and why == ""
    out = st.ulira(rng.normal(size=(32, 50)), rng.normal(size=(32, 50)))  # 16 x 50 = 800 negatives
    assert math.isnan(out["ulira_tpr_1pct"]) and "800 negatives" in out["reasons"]["ulira_tpr_1pct"]


def test_online_lira_on_gaussians_matches_the_analytic_auc():
    rng = np.random.default_rng(6)
    n, e, d = 200, 80, 1.5
    member = rng.random((n, e)) < 0.5
    mu = rng.normal(0, 3, e)
    shadow = mu + d * member + rng.normal(size=(n, e))
    out = st.lira_before(shadow, member)
    assert out["auc"] == pytest.approx(norm.cdf(d / math.sqrt(2)), abs=0.015)
    null = st.lira_before(mu + rng.normal(size=(n, e)), member)  # membership changes nothing: chance
    assert abs(null["auc"] - 0.5) < 0.03


def test_bootstrap_resamples_within_halves():
    seen = []
    st.bootstrap(lambda ia, ib: seen.append((ia.copy(), ib.copy())) or np.zeros(1), 10, 5, seed=0)
    for ia, ib in seen:
        assert ia.max() < 5 <= ib.min() and ia.size == ib.size == 5
    lo, hi = st.bootstrap_mean(np.r_[np.ones(10), np.nan], 50, 0)
    assert lo == hi == 1.0
