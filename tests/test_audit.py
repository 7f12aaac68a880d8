"""The per-example unlearning audit: its numerics against direct NumPy / SciPy computations, and the experiment
at tiny size (tables, figures, chunk-size independence, resume, refusals)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import qunlearn as ql
from helpers import run_cli

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
    lo, hi = st.bootstrap(lambda ia, ib: np.array([st.ulira(a, b, ia, ib)["auc"]]), *st.halves(n), 100, seed=0)
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
    st.bootstrap(lambda ia, ib: seen.append((ia.copy(), ib.copy())) or np.zeros(1), *st.halves(10), 5, seed=0)
    for ia, ib in seen:
        assert ia.max() < 5 <= ib.min() and ia.size == ib.size == 5
    lo, hi = st.bootstrap_mean(np.r_[np.ones(10), np.nan], 50, 0)
    assert lo == hi == 1.0


# ------------------------------------------------------------------ the experiment, tiny

_MLP = {"kind": "mlp", "hidden": [4], "train": {"epochs": 2, "eval_every": 2},
        "unlearn": {"epochs": 1, "eval_every": 1}}
TINY = {"methods": ["retrain", "finetune"], "n_models": 6, "n_boot": 20, "models": {"mlp": _MLP},
        "data_options": {"n_spins": 4, "n_per_class": 12}}
METRICS = ("klom_median", "klom_p95", "klom_floor_median", "klom_floor_p95", "ulira_auc", "ulira_tpr_1pct",
           "ulira_tpr_01pct", "lira_auc_before", "mia_auc")


def _audit(out, chunk, **kw):
    return ql.run("audit", preset="quick", dataset="xxz", out=out, quiet=True,
                  config={"xxz": {"audit": {**TINY, "chunk": chunk}}}, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """N = 6 in cells of 4 and 2 model indices."""
    return _audit(tmp_path_factory.mktemp("audit") / "ref", 4)


def test_results_are_the_long_table_of_the_issue(reference):
    res = pd.read_csv(reference.path / "results.csv", keep_default_na=False)
    assert list(res.columns) == ["dataset", "model", "method", "split", "metric", "value"]
    assert set(res["split"]) == {"forget", "retain", "val", ""}
    assert set(res["method"]) == {"none", "retrain", "finetune", ""}
    for m in METRICS:
        for suffix in ("", "_lo", "_hi"):
            assert (res["metric"] == m + suffix).any(), m + suffix
    get = lambda method, split, metric: res[(res["method"] == method) & (res["split"] == split)  # noqa: E731
                                            & (res["metric"] == metric)]["value"]
    assert len(get("finetune", "forget", "klom_p95")) == 1 and len(get("none", "", "mia_auc")) == 1
    assert set(get("", "", "lira_auc_before")) and float(get("none", "", "n_models").iloc[0]) == 6
    # 3 test models x the forget examples cannot resolve 1% FPR: empty, with the reason
    assert get("finetune", "forget", "ulira_tpr_1pct").iloc[0] == ""
    notes = pd.read_csv(reference.path / "notes.csv")
    assert notes["reason"].str.contains("negatives cannot resolve an FPR of 0.01").any()
    ex = pd.read_csv(reference.path / "examples.csv")
    assert list(ex.columns) == ["dataset", "model", "method", "split", "example", "metric", "value"]
    assert {"klom", "klom_floor", "ulira_auc", "lira_auc_before", "oracle_margin_sd"} <= set(ex["metric"])
    for stem in ("klom", "ulira_roc", "vulnerability"):
        assert (reference.path / f"{stem}.png").stat().st_size > 1000


def test_the_report_section_names_the_sanity_rows_and_what_was_left_empty(reference):
    from qunlearn.report import write

    md_path, _, claims = write(reference.path)
    md = md_path.read_text()
    assert "## XXZ: beyond the paper, forgetting audited example by example" in md and "klom.png" in md
    import re

    assert re.search(r"Left empty \(-\): mlp ulira_tpr_1pct: \d+ negatives cannot resolve an FPR of 0\.01", md)
    assert "### Sanity rows" in md
    assert {c.number: c.status for c in claims if c.number in (12, 13)} == {12: "not tested", 13: "not tested"}


def test_the_summary_is_the_per_example_numbers_recomputed(reference):
    """The forget-set KLOM median of a method is the median of its per-example KLOM."""
    res, ex = (pd.read_csv(reference.path / f"{t}.csv") for t in ("results", "examples"))
    k = ex[(ex["method"] == "finetune") & (ex["split"] == "forget") & (ex["metric"] == "klom")]["value"]
    v = res[(res["method"] == "finetune") & (res["split"] == "forget") & (res["metric"] == "klom_median")]["value"]
    assert float(v.iloc[0]) == pytest.approx(float(np.median(k)))


def test_the_audit_resumes_and_does_not_depend_on_the_chunk_size(reference, tmp_path, monkeypatch):
    from qunlearn import progress
    from qunlearn.executor import clear_stop, request_stop
    from qunlearn.experiments import audit

    calls, done = [], []
    real, on_cell = audit.run_cell, progress.Reporter.on_cell

    def stop_after_one(self, part, cell, status, seconds):
        on_cell(self, part, cell, status, seconds)
        done.append(status)
        if done.count("done") == 1 and stop:
            request_stop()  # the next cell boundary stops the run, as SIGTERM does

    monkeypatch.setattr(audit, "run_cell", lambda cfg, ds, d, cell: calls.append(cell.start) or real(cfg, ds, d, cell))
    monkeypatch.setattr(progress.Reporter, "on_cell", stop_after_one)
    out, stop = tmp_path / "chunks-of-2", True
    try:
        with pytest.raises(KeyboardInterrupt):
            ql.run("audit", preset="quick", dataset="xxz", out=out, config={"xxz": {"audit": {**TINY, "chunk": 2}}})
    finally:
        clear_stop()
    finished = sorted(p.name for p in (out / "cells").glob("*.npz"))
    assert calls[0] == 0 and finished == ["mlp__chunk0000.npz"]
    calls.clear()
    stop = False
    resumed = _audit(out, 2)
    assert calls == [2, 4]  # the finished cell was read back, not computed again
    for table in ("results", "examples"):  # cells of 2 indices give the numbers cells of 4 and 2 gave
        a, b = (pd.read_csv(p / f"{table}.csv") for p in (reference.path, resumed.path))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-9)


def test_the_memory_an_audit_needs_is_refused_with_its_gib():
    from qunlearn import data
    from qunlearn.experiments import audit

    cfg = ql.resolve("audit", preset="quick", dataset="xxz", config={"xxz": {"audit": TINY}})["audit"]
    ds = data.load("xxz", **cfg.data_options)
    need = audit.audit_bytes(cfg, ds)
    assert audit.audit_bytes(cfg.replace(n_models=12), ds) > need
    audit.check_memory(cfg, ds, available=2 * need)
    with pytest.raises(ql.InputError, match=r"audit of 6 models per role in cells of 6 needs about 0\.0 GiB, more "
                                            r"than the 0\.0 GiB of given available") as e:
        audit.check_memory(cfg, ds, available=need)
    assert e.value.path == "n_models"


def test_bad_audit_settings_are_refused_before_anything_is_written(tmp_path, capsys):
    with pytest.raises(ql.InputError, match="n_models: must be an even number >= 4") as e:
        _audit(tmp_path / "odd", 2, n_models=5)
    assert e.value.path == "xxz.audit.n_models" and not (tmp_path / "odd").exists()
    with pytest.raises(ql.InputError, match="xxz.audit.chunk: 5000 is more than the 4,096 qunlearn accepts"):
        _audit(tmp_path / "big", 5000)
    assert run_cli(["audit", "--dataset", "xxz", "--n-models", "3", "--out", str(tmp_path / "cli")]) == 2
    assert "n_models" in capsys.readouterr().err and not (tmp_path / "cli").exists()


# ------------------------------------------------------------------ the claims and their sanity rows


def _table(rows):
    out = []
    for model, method, metric, v, lo, hi in rows:
        out += [("xxz", model, method, "forget", metric, v), ("xxz", model, method, "forget", metric + "_lo", lo),
                ("xxz", model, method, "forget", metric + "_hi", hi)]
    return pd.DataFrame(out, columns=["dataset", "model", "method", "split", "metric", "value"])


def _rows(qnn_p95, mlp_p95, retrain_auc=(0.5, 0.4, 0.6)):
    rows = []
    for model, p95 in (("qnn", qnn_p95), ("mlp", mlp_p95)):
        rows += [(model, "retrain", "klom_p95", 0.3, 0.2, 0.4), (model, "retrain", "klom_floor_p95", 0.3, 0.2, 0.4),
                 (model, "retrain", "ulira_auc", *retrain_auc), (model, "none", "klom_p95", 5.0, 4.0, 6.0),
                 (model, "none", "ulira_auc", 1.0, 1.0, 1.0)]
        for m in ("finetune", "scrub", "gradient_ascent"):
            rows += [(model, m, "klom_p95", *p95), (model, m, "ulira_auc", 0.7, 0.6, 0.8)]
    return rows


def test_the_claims_are_tested_by_their_rule_and_only_when_the_sanity_rows_hold():
    from qunlearn.parts.audit import EXPERIMENT, sanity

    klom = EXPERIMENT.claims[0].test
    held = klom("xxz", _table(_rows((0.5, 0.4, 0.6), (2.0, 1.5, 2.5))), {})
    assert held.status == "held" and "finetune: QNN 0.500 [0.400, 0.600] vs MLP 2.000" in held.evidence
    assert klom("xxz", _table(_rows((0.5, 0.4, 1.6), (2.0, 1.5, 2.5))), {}).status == "not held"  # overlapping
    bad = klom("xxz", _table(_rows((0.5, 0.4, 0.6), (2.0, 1.5, 2.5), retrain_auc=(0.9, 0.8, 1.0))), {})
    assert bad.status == "not tested" and "retrain's U-LiRA AUC 0.900 [0.800, 1.000] excludes 0.5" in bad.evidence
    assert sanity(_table(_rows((9.0, 8.0, 10.0), (2.0, 1.5, 2.5))), "qnn") == [
        "qnn: none is not worst by klom_p95 (5.000, upper bound 6.000; intervals entirely above it: finetune, scrub, "
        "gradient_ascent)"]
    within = _rows((5.5, 3.0, 8.0), (2.0, 1.5, 2.5))  # above none's value, not significantly: none still worst
    assert sanity(_table(within), "qnn") == []


def test_the_shifted_interval_holds_the_klom_the_plain_one_misses():
    """Resampling repeats models, so bootstrap replicates of a histogram KL sit above the sample's KL; the
    shifted interval keeps their spread around the sample's value."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(32, 300)), rng.normal(size=(32, 300))

    def stat(ia, ib):
        return np.array([np.quantile(st.klom(a, b, 4, 0.5, ia, ib), 0.95)])

    ia, ib = st.halves(32)
    point = stat(ia, ib)
    plain = st.bootstrap(stat, ia, ib, 100, seed=0)
    corrected = st.bootstrap(stat, ia, ib, 100, seed=0, point=point)
    assert point[0] < plain[0][0]  # the plain percentile interval lies above the estimate
    assert corrected[0][0] <= point[0] <= corrected[1][0]
    np.testing.assert_allclose(corrected[1] - corrected[0], plain[1] - plain[0])
