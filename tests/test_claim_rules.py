"""Claims that compare two means treat a difference within the runs' spread as a tie: not tested, with the reason.

A tie is never held or not held: 0.000 ± 0.000 against 0.000 ± 0.000 says nothing about which model keeps more
of the poison. The rule (report.compare_runs): the means differ only when the difference exceeds the standard
error of the difference of the two means, sqrt(s_a^2 / n_a + s_b^2 / n_b), and is not 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qunlearn import report
from qunlearn.parts.poison import _claim2, _claim3
from qunlearn.parts.unlearn import _claim4

COLS = ["dataset", "model", "attack", "alpha", "method", "run", "step", "metric", "value"]


def _unlearn(values: dict) -> pd.DataFrame:
    """Results of the unlearning part: ``values[(model, method, metric)]`` = per-run values at the last step."""
    rows = [("mnist", m, "label-flip", 0.3, method, r, 10, metric, v)
            for (m, method, metric), vs in values.items() for r, v in enumerate(vs)]
    return pd.DataFrame(rows, columns=COLS)


def test_compare_runs_against_the_standard_error_of_the_difference():
    assert report.compare_runs([0.0, 0.0], [0.0, 0.0]) == 0  # equal: a tie
    assert report.compare_runs([0.1, 0.3], [0.2, 0.2]) == 0  # 0.2 vs 0.2
    se = math.sqrt(np.var([0.0, 0.2], ddof=1) / 2 + np.var([0.1, 0.3], ddof=1) / 2)  # 0.1414
    assert report.compare_runs([0.0, 0.2], [0.1, 0.3]) == 0 and 0.1 < se  # 0.1 apart: within
    assert report.compare_runs([0.0, 0.02], [0.5, 0.52]) == -1
    assert report.compare_runs([0.9, 0.91], [0.5, 0.52]) == 1
    assert report.compare_runs([0.2], [0.1]) == 1  # one run each: no spread, any difference counts
    assert report.compare_runs([], [0.1]) is None and report.compare_runs([math.nan], [0.1]) is None


def test_claim4_tie_in_poison_memory_is_not_tested_with_the_reason():
    """The quick preset's SCRUB once left QNN and MLP both at poison memory 0.000: a tie, which said 'not held'."""
    res = _unlearn({("qnn", "finetune", "val_acc"): [0.95, 0.96], ("qnn", "finetune", "forget_poison_acc"): [0.0, 0.02],
                    ("mlp", "finetune", "forget_poison_acc"): [0.6, 0.7],
                    ("qnn", "scrub", "val_acc"): [0.95, 0.96], ("qnn", "scrub", "forget_poison_acc"): [0.0, 0.0],
                    ("mlp", "scrub", "forget_poison_acc"): [0.0, 0.0]})
    claim = _claim4("mnist", res)
    assert claim.status == report.UNTESTED, claim
    assert "tie" in claim.evidence and "scrub" in claim.evidence.lower()


def test_claim4_a_definite_failure_stays_not_held_beside_a_tie():
    res = _unlearn({("qnn", "finetune", "val_acc"): [0.95, 0.96], ("qnn", "finetune", "forget_poison_acc"): [0.8, 0.8],
                    ("mlp", "finetune", "forget_poison_acc"): [0.1, 0.1],
                    ("qnn", "scrub", "val_acc"): [0.95, 0.96], ("qnn", "scrub", "forget_poison_acc"): [0.0, 0.0],
                    ("mlp", "scrub", "forget_poison_acc"): [0.0, 0.0]})
    assert _claim4("mnist", res).status == report.NOT_HELD


def test_claim4_held_when_every_comparison_is_clear():
    res = _unlearn({("qnn", m, k): v for m in ("finetune", "scrub")
                    for k, v in (("val_acc", [0.95, 0.96]), ("forget_poison_acc", [0.0, 0.02]))}
                   | {("mlp", m, "forget_poison_acc"): [0.6, 0.7] for m in ("finetune", "scrub")})
    assert _claim4("mnist", res).status == report.HELD


def _sweep(curves: dict) -> pd.DataFrame:
    """Alpha-sweep results: ``curves[(model, attack, metric)]`` = {alpha: per-run values}."""
    rows = [("xxz", m, attack, a, None, r, 100, metric, v) for (m, attack, metric), by in curves.items()
            for a, vs in by.items() for r, v in enumerate(vs)]
    return pd.DataFrame(rows, columns=COLS)


def test_claim3_on_xxz_ties_the_grid_means_within_their_spread():
    alphas = [0.0, 0.3, 0.6, 0.9]
    res = _sweep({("qnn", "feature-randomization", "val_acc"): {a: [0.80, 0.90] for a in alphas},
                  ("mlp", "feature-randomization", "val_acc"): {a: [0.86, 0.86] for a in alphas}})
    claim = _claim3("xxz", res)
    assert claim.status == report.UNTESTED and "tie" in claim.evidence, claim


@pytest.mark.parametrize("mlp_at_03, status", [([0.70, 0.72], report.HELD), ([0.88, 0.96], report.UNTESTED)])
def test_claim2_compares_qnn_and_mlp_at_03_against_their_spread(mlp_at_03, status):
    alphas = [round(0.1 * i, 1) for i in range(10)]
    qnn_train = {a: [max(a, 1 - a)] * 2 for a in alphas}
    qnn_val = {a: [0.93, 0.95] if a < 0.5 else [0.2, 0.2] for a in alphas}
    mlp_val = {a: [1 - a, 1 - a] for a in alphas} | {0.3: mlp_at_03}
    res = _sweep({("qnn", "label-flip", "train_acc"): qnn_train, ("qnn", "label-flip", "val_acc"): qnn_val,
                  ("mlp", "label-flip", "val_acc"): mlp_val})
    claim = _claim2("mnist", res)
    assert claim.status == status, claim
