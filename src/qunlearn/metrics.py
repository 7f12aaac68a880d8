r"""Post-hoc metrics of training and unlearning, in NumPy and scikit-learn.

The compiled (JAX) loops produce per-sample predictions :math:`p = P(y=1)`;
everything here turns those into plain Python floats (or NumPy arrays for the
per-sample quantities). JAX arrays are accepted anywhere and converted with
:func:`numpy.asarray`.

The losses themselves live in :mod:`qunlearn.losses` (one definition for JAX
and NumPy); this module validates shapes and reduces to floats.

Membership inference (:func:`mia_auc`) follows the attack used in the
unlearning literature (SCRUB; Kurmanji et al., "Towards unbounded machine
unlearning", 2023): a logistic regression on the per-sample loss, members
(the forget set) against non-members (held-out samples), balanced by
subsampling and scored by the ROC AUC of stratified cross-validated decision
values. 0.5 means the attacker cannot tell the forget set from unseen data. After unlearning the
target is the retrain oracle's score on the same sets (``mia_auc_oracle`` in the unlearning tables),
which is 0.5 only when the non-members are poisoned as the forget set is
(:func:`qunlearn.experiments.unlearning.nonmember_labels`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import losses
from .errors import InputError
from .losses import EPS, bernoulli_kl
LOSS_CLIP = 1e6  # non-finite or huge losses are clipped to this before the attack


def _as_1d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of per-sample values, got shape {arr.shape}; flatten it first")
    return arr


def _pair(a: Any, b: Any, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}; "
                         "pass one value per sample for both")
    return a, b


def binary_predictions(p: Any) -> np.ndarray:
    """Hard labels ``(p > 0.5)`` as ints."""
    return (np.asarray(p) > 0.5).astype(int)


def accuracy(p: Any, y: Any) -> float:
    """Fraction of hard predictions ``p > 0.5`` equal to ``y``; NaN for no samples."""
    p, y = _pair(p, y, "predictions", "labels")
    return float(losses.accuracy(p.astype(np.float64), y))


def per_sample_bce(p: Any, y: Any, eps: float = EPS) -> np.ndarray:
    r"""Per-sample binary cross-entropy (:func:`qunlearn.losses.per_sample_bce`) in float64."""
    p, y = _pair(p, y, "predictions", "labels")
    return losses.per_sample_bce(p.astype(np.float64), y, eps)


def oracle_agreement(p: Any, p_oracle: Any) -> float:
    """Fraction of samples whose hard prediction equals the oracle's (e.g. the retrained model); NaN if empty."""
    p, q = _pair(p, p_oracle, "predictions", "oracle predictions")
    if p.size == 0:
        return math.nan
    return float(np.mean(binary_predictions(p) == binary_predictions(q)))


def oracle_kl(p: Any, p_oracle: Any, eps: float = EPS) -> float:
    """Mean over samples of ``KL(Bern(p_oracle) || Bern(p))`` (clipped); NaN if empty."""
    p, q = _pair(p, p_oracle, "predictions", "oracle predictions")
    if p.size == 0:
        return math.nan
    return float(np.mean(bernoulli_kl(q.astype(np.float64), p.astype(np.float64), eps)))


def mia_auc(member_losses: Any, nonmember_losses: Any, *, folds: int = 5, seed: int = 0) -> float:
    """ROC AUC of a loss-based membership-inference attack (0.5 = chance).

    Features: per-sample losses; label 1 for members (the forget set), 0 for
    non-members (held-out samples). The larger group is subsampled (without
    replacement, ``np.random.default_rng(seed)``) to the size of the smaller.
    A ``StandardScaler`` + ``LogisticRegression`` pipeline is evaluated by
    ``StratifiedKFold(min(folds, n_per_group), shuffle=True,
    random_state=seed)``; the AUC is taken over the cross-validated decision
    values. A fold-wise inverted fit can give an AUC below 0.5; it is reported
    as is. Non-finite losses are clipped to ``±1e6`` (NaN to ``1e6``).
    Returns NaN when either group has fewer than 2 samples. Deterministic for
    a fixed ``seed``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    members = _as_1d(member_losses, "member losses").astype(np.float64)
    nonmembers = _as_1d(nonmember_losses, "non-member losses").astype(np.float64)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise InputError(f"folds must be an integer >= 2, got {folds!r}")
    n = min(members.size, nonmembers.size)
    if n < 2:
        return math.nan

    def clean(x: np.ndarray) -> np.ndarray:
        return np.clip(np.nan_to_num(x, nan=LOSS_CLIP, posinf=LOSS_CLIP, neginf=-LOSS_CLIP), -LOSS_CLIP, LOSS_CLIP)

    rng = np.random.default_rng(seed)
    if members.size > n:
        members = members[np.sort(rng.choice(members.size, n, replace=False))]
    if nonmembers.size > n:
        nonmembers = nonmembers[np.sort(rng.choice(nonmembers.size, n, replace=False))]

    x = clean(np.concatenate([members, nonmembers])).reshape(-1, 1)
    y = np.concatenate([np.ones(n, dtype=int), np.zeros(n, dtype=int)])
    cv = StratifiedKFold(n_splits=min(int(folds), n), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    scores = cross_val_predict(model, x, y, cv=cv, method="decision_function")
    return float(roc_auc_score(y, scores))
