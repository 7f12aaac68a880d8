"""The capacity study: parameter counts against closed forms, light cones against gradients, the local effective
dimension against a direct NumPy computation, PCA fitted on training inputs only, early stopping on the
poisoned set, a degenerate configuration, the tables, resume after an interruption, and the command line."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import qunlearn as ql
from helpers import run_cli, snapshot
from qunlearn import progress
from qunlearn.executor import clear_stop, request_stop
from qunlearn.experiments import capacity as cap
from qunlearn.experiments import capacity_models as cm
from qunlearn.experiments.capacity_config import parse_size
from qunlearn.models.base import n_params as count

_T = {"epochs": 3, "eval_every": 1, "batch_size": 8, "lr": 0.02}
TINY = {"runs": 1, "alphas": [0.0, 0.3], "fisher_samples": 20,
        "families": ["qnn", "linear", "pca-mlp", "mlp-early-stop"],
        "settings": {"qnn": {"sizes": ["1", "2"], "train": _T}, "linear": {"sizes": ["0"], "train": _T},
                     "pca-mlp": {"sizes": ["k4:2"], "train": _T},
                     "mlp-early-stop": {"sizes": ["2"], "train": _T, "holdout": 0.25}}}
XXZ = {"n_spins": 4, "n_per_class": 24, "phase": "random"}


def _ds(n_features: int, is_complex: bool = False):
    return SimpleNamespace(n_features=n_features, is_complex=is_complex, n_qubits=int(np.log2(n_features)))


# ------------------------------------------------------------------ parameter counts


@pytest.mark.parametrize("family, size, features, cplx, expected", [
    ("qnn", "6", 1024, False, 240),  # the paper's QNN: 10 qubits x 6 layers x 4 angles
    ("qnn", "16", 4096, True, 768),  # XXZ, 12 qubits
    ("qnn-landscape", "5", 1024, False, 100),  # 2 angles per qubit and layer
    ("mlp", "64-16", 1024, False, 1024 * 64 + 64 + 64 * 16 + 16 + 16 + 1),  # the paper's MLP: 66,657
    ("mlp", "1", 1024, False, 1024 + 1 + 1 + 1),
    ("mlp", "256-64", 1024, False, 278_913),
    ("linear", "0", 1024, False, 1025),
    ("linear", "0", 4096, True, 8193),  # real and imaginary parts of 4096 amplitudes
    ("pca-mlp", "k16:8", 1024, False, 16 * 8 + 8 + 8 + 1),
    ("pca-mlp", "k4:0", 4096, True, 5),
    ("mlp-decay", "4", 1024, False, 1024 * 4 + 4 + 5),
    ("mlp-early-stop", "4", 1024, False, 4105),
    ("mlp-bounded", "64-16", 1024, False, 66_657),
])
def test_parameter_counts_match_closed_forms(family, size, features, cplx, expected):
    s = parse_size(family, size)
    ds = _ds(features, cplx)
    assert cm.n_params(s, ds) == expected
    if s.depth <= 6 and features <= 1024 and expected < 100_000:  # and the model built has that many parameters
        model = cm.build(s, ds, "complex64")
        assert count(model.init(jax.random.key(0))) == expected


def test_projection_size_is_reported_apart_from_the_trained_parameters():
    s = parse_size("pca-mlp", "k16:8")
    assert cm.projection_size(s, _ds(1024)) == 17 * 1024  # 16 components and the mean, not trained
    assert cm.projection_size(s, _ds(4096, True)) == 17 * 8192
    assert cm.projection_size(parse_size("mlp", "4"), _ds(1024)) == 0


@pytest.mark.parametrize("family, text, match", [
    ("qnn", "0", "depth"), ("mlp", "64x16", "widths"), ("linear", "4", "no hidden layer"),
    ("pca-mlp", "16:8", "k and widths"), ("nope", "1", "unknown family"),
])
def test_bad_sizes_are_refused_in_one_line(family, text, match):
    with pytest.raises(ql.InputError, match=match):
        parse_size(family, text)


# ------------------------------------------------------------------ light cones


def test_light_cone_of_the_paper_ansatz_has_its_closed_form():
    # last layer: the readout qubit's rotation (3); each earlier layer adds the ring pairs touching the cone
    # and the rotations of the cone, which grows by one qubit on each side (10 qubits, depth 6: 135)
    assert cm.n_live(parse_size("qnn", "6"), _ds(1024)) == 3 + (2 + 9) + (4 + 15) + (6 + 21) + (8 + 27) + (10 + 30)
    assert cm.n_live(parse_size("qnn", "1"), _ds(1024)) == 3
    assert cm.n_live(parse_size("qnn-landscape", "3"), _ds(16)) == 2 * 4 * 3  # the CNOT ring spreads it at once


@pytest.mark.parametrize("family", ["qnn", "qnn-landscape"])
def test_light_cone_is_where_the_gradient_can_be_nonzero(family):
    n, depth = 6, 3
    model = cm.build(parse_size(family, str(depth)), _ds(2**n), "complex128")
    model.init(jax.random.key(0))  # puts the process in the model's precision before its inputs are made
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 2**n)) + 1j * rng.normal(size=(4, 2**n))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    params = jnp.asarray(rng.normal(size=model.param_shape))
    jac = np.asarray(jax.jit(jax.jacrev(lambda p: model.expectation(p, jnp.asarray(x))[0]))(params))
    size = np.abs(jac).max(axis=0)
    moves = size > 1e-9 * size.max()
    live = cm.live_mask(family, n, depth)
    assert not (moves & ~live).any()  # nothing outside the cone changes the output
    assert (moves == live).all()  # and every parameter inside it does, at generic parameters


# ------------------------------------------------------------------ effective dimension


def _numpy_effective_dimension(w1, b1, w2, b2, x, gamma):
    """A direct computation: the logit's Jacobian by central differences (float64), the d x d Fisher."""
    theta = np.concatenate([w1.ravel(), b1, w2.ravel(), b2])
    shapes = [w1.shape, b1.shape, w2.shape, b2.shape]

    def logits(t):
        parts, i = [], 0
        for s in shapes:
            k = int(np.prod(s))
            parts.append(t[i:i + k].reshape(s))
            i += k
        a, b, c, e = parts
        return (np.maximum(x @ a + b, 0) @ c + e)[:, 0]

    eps = 1e-6
    jac = np.stack([(logits(theta + eps * e) - logits(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)], 1)
    s = logits(theta)
    p = 1 / (1 + np.exp(-s))
    n, d = x.shape[0], theta.size
    fisher = (jac * (p * (1 - p))[:, None]).T @ jac / n
    f_hat = d * fisher / np.trace(fisher)
    kappa = gamma * n / (2 * np.pi * np.log(n))
    return np.linalg.slogdet(np.eye(d) + kappa * f_hat)[1] / np.log(kappa)


@pytest.mark.parametrize("inputs, hidden, n", [(3, 2, 40), (8, 4, 25)])  # d = 11 < n; d = 41 > n: the Gram matrix
def test_effective_dimension_matches_a_direct_numpy_computation(inputs, hidden, n):
    model = cm.LogitMLP(in_features=inputs, hidden=(hidden,), precision="complex128")
    params = model.init(jax.random.key(3))
    params[0]["b"] = params[0]["b"] + 0.1  # no unit exactly at the kink of its ReLU
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, inputs))
    d = count(params)
    ed, spread = cm.effective_dimension_program(model, d, 1.0)(jax.tree_util.tree_map(lambda v: v[None], params),
                                                                jnp.asarray(x))
    w = [np.asarray(params[0]["w"]), np.asarray(params[0]["b"]), np.asarray(params[1]["w"]),
         np.asarray(params[1]["b"])]
    expected = _numpy_effective_dimension(*w, x, 1.0)
    np.testing.assert_allclose(float(ed[0]), expected, rtol=1e-5)
    kappa = n / (2 * np.pi * np.log(n))  # each eigenvalue of F-hat is at most its trace d; the rank at most min(d, n)
    assert 0 < float(ed[0]) <= min(d, n) * np.log1p(kappa * d) / np.log(kappa)
    z = np.asarray(model.logit(params, x))
    np.testing.assert_allclose(float(spread[0]), z.max() - z.min(), rtol=1e-9)


def test_effective_dimension_of_too_few_samples_is_not_a_number():
    g = np.ones((5, 3))  # kappa = 5 / (2 pi log 5) < 1: log kappa is not positive
    assert np.isnan(cm.effective_dimension_from_gradients(g, 3, 1.0))


# ------------------------------------------------------------------ PCA on training inputs only


def test_pca_is_fitted_on_the_training_inputs_only(monkeypatch):
    rng = np.random.default_rng(0)
    x_tr, x_val = rng.normal(size=(30, 16)), rng.normal(size=(20, 16))
    seen = []
    real_fit = cm.fit_pca
    monkeypatch.setattr(cm, "fit_pca", lambda x, k: seen.append(np.array(x)) or real_fit(x, k))
    size = parse_size("pca-mlp", "k4:2")
    a_tr, a_val = cap.inputs(size, SimpleNamespace(x_train=x_tr, x_val=x_val))
    b_tr, b_val = cap.inputs(size, SimpleNamespace(x_train=x_tr, x_val=10 * x_val + 3))  # other validation data
    assert len(seen) == 2 and all(np.array_equal(s, x_tr) for s in seen)  # only the training inputs were seen
    np.testing.assert_array_equal(a_tr, b_tr)  # the validation data change nothing of the projection
    # independently: the top-4 right singular vectors of the centred training inputs, up to sign
    _, _, vt = np.linalg.svd(x_tr - x_tr.mean(0), full_matrices=False)
    ref = (x_val - x_tr.mean(0)) @ vt[:4].T
    np.testing.assert_allclose(np.abs(a_val), np.abs(ref), rtol=1e-4, atol=1e-5)
    with pytest.raises(ql.InputError, match="principal components"):
        cm.fit_pca(x_tr, 31)


# ------------------------------------------------------------------ a run, end to end


def _config():
    return {"xxz": {"capacity": {**TINY, "data_options": XXZ}}}


@pytest.fixture(scope="module")
def xxz_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cap") / "run"
    return ql.run("capacity", preset="quick", dataset="xxz", out=out, config=_config(), quiet=True)


def test_results_table_is_long_with_the_issue_columns(xxz_run):
    res = pd.read_csv(xxz_run.path / "results.csv", dtype={"size": str})
    assert list(res.columns) == ["dataset", "family", "size", "n_params", "alpha", "run", "metric", "value"]
    for metric in ("train_acc", "poison_fit", "val_acc", "n_live_params", "effective_dimension",
                   "random_label_fit", "fisher_n", "fisher_gamma", "projection_size", "stop_epoch"):
        assert metric in set(res["metric"]), metric
    rl = res[res["metric"] == "random_label_fit"]
    assert rl["alpha"].isna().all() and len(rl) == 5  # one per (family, size, run)
    assert set(res["size"].astype(str)) == {"1", "2", "0", "k4:2"}
    live = res[res["metric"] == "n_live_params"].set_index("size")["value"]
    assert live.to_dict() == {"1": 3.0, "2": 3 + 2 + 9.0}  # 4 qubits: the cone of depth 2 covers 3 of them
    assert (res[res["metric"] == "fisher_n"]["value"] == 20).all()
    hist = pd.read_csv(xxz_run.path / "history.csv")
    assert list(hist.columns) == ["dataset", "family", "size", "alpha", "run", "epoch", "metric", "value"]
    assert sorted(hist["epoch"].unique()) == [0, 1, 2, 3]


def test_depth_one_paper_ansatz_on_xxz_is_reported_degenerate_and_left_out(xxz_run):
    res = pd.read_csv(xxz_run.path / "results.csv", dtype={"size": str})
    deg = cap.degenerate(res)
    assert deg[["family", "size"]].values.tolist() == [["qnn", "1"]]
    assert "I/2" in deg["reason"][0]
    assert "1" not in set(cap.usable(res).query("family == 'qnn'")["size"])
    crit = cap.critical_table(res, 0.75)
    assert not ((crit["family"] == "qnn") & (crit["size"] == "1")).any()


def test_early_stopping_keeps_the_epoch_of_the_lowest_held_out_poisoned_loss(xxz_run):
    res = pd.read_csv(xxz_run.path / "results.csv", dtype={"size": str})
    hist = pd.read_csv(xxz_run.path / "history.csv", dtype={"size": str})
    es = res[res["family"] == "mlp-early-stop"]
    h = hist[hist["family"] == "mlp-early-stop"]
    for alpha in (0.0, 0.3):
        stop = es[(es["metric"] == "stop_epoch") & (es["alpha"] == alpha)]["value"].item()
        curve = h[(h["metric"] == "holdout_loss") & (h["alpha"] == alpha)].set_index("epoch")["value"]
        assert stop == curve.idxmin()
        # the final numbers are those of that epoch (trained again to it, from the same keys)
        val = h[(h["metric"] == "val_acc") & (h["alpha"] == alpha)].set_index("epoch")["value"]
        assert es[(es["metric"] == "val_acc") & (es["alpha"] == alpha)]["value"].item() == pytest.approx(val[stop])
        # trained on 75% of the poisoned training set, 25% held out (never the validation data)
    n_train = 24  # n_per_class 24 -> 12 + 12 training states
    hold = h[(h["metric"] == "holdout_acc")]["value"] * round(0.25 * n_train)
    assert np.allclose(hold, np.round(hold))  # accuracies over round(0.25 n) held-out samples


def test_the_report_tests_the_capacity_claims(xxz_run):
    from qunlearn import report

    _, _, found = report.write(xxz_run.path)
    ids = {c.id: c for c in found}
    assert {"xxz/8", "xxz/9", "xxz/10", "xxz/11"} <= set(ids)
    assert ids["xxz/9"].status == report.UNTESTED  # no depth 16 in this run
    text = (xxz_run.path / "report.md").read_text()
    assert "memorisation against capacity" in text and "capacity.png" in text
    assert "Critical noise ratio" in text and "Degenerate configurations" in text


def test_capacity_resumes_after_an_interruption_without_recomputing(xxz_run, tmp_path, monkeypatch):
    seen = []
    original = progress.Reporter.on_cell

    def on_cell(self, part, cell, status, seconds):
        original(self, part, cell, status, seconds)
        seen.append(status)
        if stop and seen.count("done") == 2:
            request_stop()  # the next cell boundary stops the run, as SIGTERM does

    monkeypatch.setattr(progress.Reporter, "on_cell", on_cell)
    out, stop = tmp_path / "run", True
    try:
        with pytest.raises(KeyboardInterrupt):
            ql.run("capacity", preset="quick", dataset="xxz", out=out, config=_config())
    finally:
        clear_stop()
    assert not (out / "results.csv").exists()
    seen.clear()
    stop = False
    ql.run("capacity", preset="quick", dataset="xxz", out=out, config=_config())
    assert seen.count("skipped") == 2 and seen.count("done") == 3
    for table in ("results.csv", "history.csv"):
        assert (out / table).read_bytes() == (xxz_run.path / table).read_bytes()


def test_the_command_line_runs_it_and_refuses_bad_input_before_writing(tmp_path):
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        '[mnist.capacity]\nruns = 1\nalphas = [0.0, 0.5]\nfisher_samples = 20\nfamilies = ["mlp-bounded"]\n'
        'data_options = {n_per_class = 12, n_val_per_class = 12}\n'
        '[mnist.capacity.settings.mlp-bounded]\nsizes = ["2"]\nbound = 5.0\n'
        'train = {epochs = 2, eval_every = 1, batch_size = 8, lr = 0.01}\n')
    out = tmp_path / "cli"
    assert run_cli(["capacity", "--preset", "quick", "--config", str(toml), "--out", str(out)]) == 0
    res = pd.read_csv(out / "results.csv")
    assert set(res["family"]) == {"mlp-bounded"} and (out / "capacity.png").exists()
    bad = tmp_path / "bad"
    assert run_cli(["capacity", "--preset", "quick", "--config", str(toml), "--family", "mlp,quantum",
                    "--out", str(bad)]) == 2
    assert snapshot(bad) == {}
    with pytest.raises(ql.InputError, match="settings.mlp.sizes"):
        ql.run("capacity", preset="quick", out=tmp_path / "bad2", config={"mnist": {"capacity": {
            "settings": {"mlp": {"sizes": ["64x16"]}}}}})
    assert not (tmp_path / "bad2").exists()


def test_bounded_mlp_caps_its_logit():
    model = cm.build(parse_size("mlp-bounded", "4"), _ds(16), "complex64")
    params = jax.tree_util.tree_map(lambda v: 100.0 * v, model.init(jax.random.key(0)))
    x = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    z = np.asarray(cm.logit(model, params, x))
    assert np.abs(z).max() <= 5.0 + 1e-6 and np.abs(z).max() > 4.0


def test_schedules_are_set_per_family_and_models_are_not_taken():
    with pytest.raises(ql.InputError, match="unknown config key 'mnist.capacity.epochs'"):
        ql.resolve("capacity", preset="quick", dataset="mnist", epochs=3)
    with pytest.raises(ql.InputError, match="model"):
        ql.resolve("capacity", preset="quick", dataset="mnist", models=["qnn"])
    with pytest.raises(ql.InputError, match="mnist.capacity.settings.mlp-decay.bound"):
        ql.resolve("capacity", preset="quick", dataset="mnist",
                   config={"mnist": {"capacity": {"settings": {"mlp-decay": {"bound": 2.0}}}}})
    from qunlearn.experiments.capacity_config import CapacityConfig

    own = {"sizes": ["4"], "train": {}, "weight_decay": 0.1}
    with pytest.raises(ql.InputError, match="settings.mlp-decay.bound: only mlp-bounded takes it"):
        CapacityConfig(families=["mlp-decay"], settings={"mlp-decay": {**own, "bound": 2.0}})
    with pytest.raises(ql.InputError, match="settings.mlp-early-stop.holdout: family mlp-early-stop needs it"):
        CapacityConfig(families=["mlp-early-stop"], settings={"mlp-early-stop": {"sizes": ["4"], "train": {}}})
    with pytest.raises(ql.InputError, match="family 'mlp' has no settings"):
        CapacityConfig(families=["mlp"], settings={"mlp-decay": own})
    cfg = ql.resolve("capacity", preset="quick", dataset="mnist", family="qnn", runs=3)["capacity"]
    assert cfg.families == ("qnn",) and cfg.runs == 3 and [s.text for s in cfg.sizes()] == ["1", "2", "4", "8", "16"]
