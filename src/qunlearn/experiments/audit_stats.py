r"""The numerics of the per-example unlearning audit (:mod:`qunlearn.experiments.audit`), in NumPy alone.

Every function takes per-model, per-example arrays: ``(models, examples)``, one row per model index. The
models are split into two halves by index (the first ``n // 2`` indices are half A, the rest half B), and the
confidence intervals come from a bootstrap over model indices that resamples each half within itself, so that
a model never lands in both halves of one replicate.

Margins
    For an output :math:`p = P(y=1)` and the label :math:`y` the example carried in training (the flipped label
    for the forget set), the margin is the logit of the probability given to that label,
    :math:`\log p_y - \log(1 - p_y)`, clipped to ``[-clip, clip]`` (:func:`margins`).

KLOM (Georgiev et al., "Attribute-to-delete", appendix E.1)
    For each example, :math:`\mathrm{KL}(\text{unlearned} \,\|\, \text{oracle})` between the histograms of its
    margins under the unlearned models and under the oracles (:func:`hist_kl`): ``bins`` equal-width bins over
    the range of the two samples pooled (per example and comparison), every bin count plus ``smoothing``
    (additive smoothing, so no bin is empty). To compare like with like, :func:`klom` takes unlearned models of
    one half against oracles of the other, both ways, and averages; the *floor* is the same statistic for the
    oracles of half A against those of half B, which is what two samples of one distribution at this N score.

U-LiRA (Hayes et al., "Inexact unlearning needs more careful evaluations", 2024)
    Per example, Gaussians fitted to its margins under the unlearned models and under the oracles of half A; the
    attack scores a model of half B by the log-likelihood ratio of the two fits (:func:`lira_scores`), positives
    the unlearned models, negatives the oracles (:func:`ulira`). Reported: the ROC AUC over all (model, example)
    pairs, and the TPR at 1% and 0.1% FPR; a TPR at an FPR the negatives cannot resolve (fewer than
    ``10 / FPR`` of them) is NaN with the reason (:func:`tpr_at`).

Online LiRA (Carlini et al., 2022) before unlearning
    Shadow models each trained on a random half of the training set: per example, Gaussians of its margins under
    the half-A shadows that trained on it (in) and those that did not (out); the attack is tested on the half-B
    shadows, members against non-members (:func:`lira_before`).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

SD_FLOOR = 1e-4  # the smallest standard deviation of a Gaussian fit (margins); a constant margin is not infinitely sure
MIN_NEGATIVES = 10.0  # a TPR at FPR f needs at least MIN_NEGATIVES / f negatives
FPRS = {"ulira_tpr_1pct": 0.01, "ulira_tpr_01pct": 0.001}


def margins(p, y, clip: float = 15.0) -> np.ndarray:
    """The margin of every output ``p = P(y=1)`` (any shape) for the labels ``y`` (broadcast), clipped."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    z = np.log(p) - np.log1p(-p)
    z = np.where(np.asarray(y) > 0.5, z, -z)
    return np.clip(z, -clip, clip)


def auto_bins(n_half: int) -> int:
    """The bins of a KLOM histogram for ``n_half`` models per sample: about sqrt(n), between 3 and 20."""
    return int(min(20, max(3, round(math.sqrt(n_half)))))


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Model indices of half A (the first ``n // 2``) and half B (the rest)."""
    return np.arange(n // 2), np.arange(n // 2, n)


# ------------------------------------------------------------------ KLOM


def hist_kl(a: np.ndarray, b: np.ndarray, bins: int, smoothing: float = 0.5) -> np.ndarray:
    """Per example (column), KL(hist(a) || hist(b)): ``bins`` equal-width bins over the range of the column's
    values of ``a`` and ``b`` together, ``smoothing`` added to every bin count. ``a``: (na, E), ``b``: (nb, E)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    lo = np.minimum(a.min(0), b.min(0))
    width = np.maximum(a.max(0), b.max(0)) - lo
    width = np.where(width > 0, width, 1.0)  # one value: everything in the first bin

    def dist(x):
        idx = np.clip(np.floor((x - lo) / width * bins).astype(int), 0, bins - 1)  # the last bin holds its right edge
        counts = (idx[..., None] == np.arange(bins)).sum(0).astype(np.float64)  # (E, bins)
        return (counts + smoothing) / (x.shape[0] + smoothing * bins)

    p, q = dist(a), dist(b)
    return np.sum(p * (np.log(p) - np.log(q)), axis=1)


def klom(unlearned: np.ndarray, oracle: np.ndarray, bins: int, smoothing: float = 0.5,
         ia=None, ib=None) -> np.ndarray:
    """Per example: the mean of KL(unlearned of A || oracles of B) and KL(unlearned of B || oracles of A).
    ``ia``, ``ib``: the model indices of the halves (default :func:`halves`)."""
    if ia is None:
        ia, ib = halves(oracle.shape[0])
    return 0.5 * (hist_kl(unlearned[ia], oracle[ib], bins, smoothing) + hist_kl(unlearned[ib], oracle[ia], bins,
                                                                                   smoothing))


def klom_floor(oracle: np.ndarray, bins: int, smoothing: float = 0.5, ia=None, ib=None) -> np.ndarray:
    """Per example: the same-distribution floor, KLOM of the oracles of half A against those of half B."""
    return klom(oracle, oracle, bins, smoothing, ia, ib)


# ------------------------------------------------------------------ attacks


def fit_gaussians(x: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: mean, standard deviation (ddof 1, at least :data:`SD_FLOOR`) and count of the rows in
    ``mask`` (all rows by default)."""
    x = np.asarray(x, dtype=np.float64)
    m = np.ones(x.shape, bool) if mask is None else np.asarray(mask, bool)
    n = m.sum(0)
    mu = np.where(m, x, 0).sum(0) / np.maximum(n, 1)
    var = np.where(m, (x - mu) ** 2, 0).sum(0) / np.maximum(n - 1, 1)
    return mu, np.maximum(np.sqrt(var), SD_FLOOR), n


def gauss_llr(x: np.ndarray, pos: tuple, neg: tuple) -> np.ndarray:
    """log N(x; pos) - log N(x; neg) for Gaussians ``(mu, sd, ...)`` per column."""
    (mp, sp), (mn, sn) = pos[:2], neg[:2]
    return (-0.5 * ((x - mp) / sp) ** 2 - np.log(sp)) - (-0.5 * ((x - mn) / sn) ** 2 - np.log(sn))


def lira_scores(fit_pos: np.ndarray, fit_neg: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The likelihood-ratio score of every test value, Gaussians fitted per column to ``fit_pos`` and ``fit_neg``."""
    return gauss_llr(np.asarray(test, dtype=np.float64), fit_gaussians(fit_pos), fit_gaussians(fit_neg))


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of scores ``pos`` (label 1) against ``neg`` (label 0), ties counted half (Mann-Whitney)."""
    from scipy.stats import rankdata

    pos, neg = np.ravel(pos), np.ravel(neg)
    if pos.size == 0 or neg.size == 0:
        return math.nan
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def auc_per_column(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """The AUC of every column: ``pos`` (n1, E) against ``neg`` (n2, E)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    gt = (pos[:, None, :] > neg[None, :, :]).mean((0, 1))
    eq = (pos[:, None, :] == neg[None, :, :]).mean((0, 1))
    return gt + 0.5 * eq


def tpr_at(pos: np.ndarray, neg: np.ndarray, fpr: float) -> tuple[float, str]:
    """The TPR at false-positive rate ``fpr``: the share of ``pos`` above the threshold that at most ``fpr`` of
    ``neg`` exceed; NaN and the reason where fewer than ``10 / fpr`` negatives cannot resolve it."""
    pos, neg = np.ravel(pos), np.ravel(neg)
    need = MIN_NEGATIVES / fpr
    if neg.size < need:
        return math.nan, f"{neg.size} negatives cannot resolve an FPR of {fpr:g} (needs about {need:.0f})"
    k = int(math.floor(fpr * neg.size))
    thr = np.sort(neg)[::-1][k]  # at most k negatives lie above it
    return float(np.mean(pos > thr)), ""


def roc_curve(pos: np.ndarray, neg: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of the scores at thresholds on the quantiles of all scores."""
    pos, neg = np.ravel(pos), np.ravel(neg)
    thr = np.unique(np.quantile(np.concatenate([pos, neg]), np.linspace(0, 1, points)))[::-1]
    fpr = (neg[None, :] > thr[:, None]).mean(1)
    tpr = (pos[None, :] > thr[:, None]).mean(1)
    return np.concatenate([[0.0], fpr, [1.0]]), np.concatenate([[0.0], tpr, [1.0]])


def ulira(unlearned: np.ndarray, oracle: np.ndarray, ia=None, ib=None) -> dict:
    """U-LiRA on (models, examples) margins: fits on half A, attack on half B. Returns the pooled scores
    (``pos``, ``neg``), ``auc``, the TPRs (:data:`FPRS`, with ``reasons``), the per-example AUC and the
    per-example effect size |mean(unlearned) - mean(oracle)| / pooled sd (fit half)."""
    if ia is None:
        ia, ib = halves(oracle.shape[0])
    fu, fo = fit_gaussians(unlearned[ia]), fit_gaussians(oracle[ia])
    pos = gauss_llr(np.asarray(unlearned[ib], dtype=np.float64), fu, fo)
    neg = gauss_llr(np.asarray(oracle[ib], dtype=np.float64), fu, fo)
    out = {"pos": pos, "neg": neg, "auc": auc(pos, neg), "per_example_auc": auc_per_column(pos, neg),
           "effect": np.abs(fu[0] - fo[0]) / np.sqrt(0.5 * (fu[1] ** 2 + fo[1] ** 2)), "reasons": {}}
    for name, f in FPRS.items():
        out[name], why = tpr_at(pos, neg, f)
        if why:
            out["reasons"][name] = why
    return out


def lira_before(shadow: np.ndarray, member: np.ndarray, ia=None, ib=None, per_example: bool = True) -> dict:
    """Online LiRA on shadow margins (models, examples) with their membership (models, examples): per example,
    in and out Gaussians from half A, tested on half B. Returns ``auc`` (pooled over the examples with at least
    two in and two out models in half A), ``per_example_auc`` (NaN where half A or B lacks in or out models) and
    the pooled scores ``pos``/``neg``."""
    shadow, member = np.asarray(shadow, dtype=np.float64), np.asarray(member, bool)
    if ia is None:
        ia, ib = halves(shadow.shape[0])
    fin, fout = fit_gaussians(shadow[ia], member[ia]), fit_gaussians(shadow[ia], ~member[ia])
    ok = (fin[2] >= 2) & (fout[2] >= 2)
    s = gauss_llr(shadow[ib], fin, fout)
    mb = member[ib]
    pos, neg = s[:, ok][mb[:, ok]], s[:, ok][~mb[:, ok]]
    per = np.full(shadow.shape[1], np.nan)
    for e in np.flatnonzero(ok & mb.any(0) & (~mb).any(0)) if per_example else ():
        per[e] = auc(s[mb[:, e], e], s[~mb[:, e], e])
    return {"auc": auc(pos, neg), "per_example_auc": per, "pos": pos, "neg": neg}


# ------------------------------------------------------------------ bootstrap


def bootstrap(stat: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray, n_boot: int,
              seed: int, level: float = 0.95, point: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of ``stat(ia, ib)`` (an array of statistics) over model indices: each replicate
    resamples the indices ``a`` of half A within A and ``b`` of half B within B, with replacement.

    Without ``point``, the percentile interval. With ``point`` (the statistics on the sample itself), the
    percentile interval shifted so that the replicates' median falls on the point: KLOM needs it, since a
    resample repeats models, which makes its histograms spikier and every replicate's KL larger than the sample's
    (at small N, often all of them); the shift keeps the spread and removes that bias."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a), np.asarray(b)
    reps = np.array([stat(rng.choice(a, a.size), rng.choice(b, b.size)) for _ in range(n_boot)], dtype=np.float64)
    q = (1 - level) / 2
    with warnings.catch_warnings():  # a statistic undefined in every replicate: NaN bounds, said by the NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, q, axis=0), np.nanquantile(reps, 1 - q, axis=0)
        if point is not None:
            shift = np.nanmedian(reps, axis=0) - np.asarray(point, dtype=np.float64)
            lo, hi = lo - shift, hi - shift
    return lo, hi


def bootstrap_mean(values: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-model values (NaN left out)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    reps = v[rng.integers(0, v.size, (n_boot, v.size))].mean(1)
    q = (1 - level) / 2
    return float(np.quantile(reps, q)), float(np.quantile(reps, 1 - q))
