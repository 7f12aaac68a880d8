"""Tests of the unlearning methods (qunlearn.unlearn) and of the unlearning
experiment (qunlearn.experiments.unlearning) on a tiny synthetic problem.

The problem: amplitude-encoded states of 4 qubits, class k concentrated on the
basis states whose most significant qubit equals k, 40 training and 20
validation states; alpha = 0.3 label flipping gives 12 forget and 28 retain
samples per run, 2 runs. Models: ``QNN(4, 2)`` and ``MLP(16, (8,))`` (the MLP
memorises the flipped labels of its training set).

Compilation dominates the run time, so every unlearning program is compiled
once and shared: the method runs are cached per (model, method, weights), the
MLP schedule is full batch (as in the paper's MLP setting) so that the weight
sweep, the experiment and the direct calls reuse the same compiled programs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from jax.flatten_util import ravel_pytree

from helpers import qnn_toy

from qunlearn import cli, landscape
from qunlearn.config import ModelConfig, SweepConfig, UnlearnConfig
from qunlearn.data import Dataset
from qunlearn.errors import InputError
from qunlearn.experiments import sweeps, unlearning
from qunlearn.losses import bce
from qunlearn.models import MLP
from qunlearn.models.specs import MLPSpec, QNNSpec
from qunlearn.runs import RunDir
from qunlearn.train import TrainConfig, eval_epochs
from qunlearn.unlearn import DEFAULT_WEIGHTS, METHODS, resolve_weights

# ---------------------------------------------------------------- the tiny problem

N_QUBITS = 4
RUNS = 2
TABLE_COLUMNS = ["dataset", "model", "attack", "alpha", "method", "run", "step", "metric", "value"]


_XT, _YT = qnn_toy(N_QUBITS, 40, 0)
_XV, _YV = qnn_toy(N_QUBITS, 20, 1)
DS = Dataset("mnist", _XT, _YT, _XV, _YV, {"source": "synthetic test data"})

U_EPOCHS = 3
MODELS = {
    "qnn": ModelConfig(QNNSpec(2), TrainConfig(30, 16, 0.1, 30), TrainConfig(U_EPOCHS, 16, 0.05, 1)),
    "mlp": ModelConfig(MLPSpec((8,)), TrainConfig(200, 40, 0.05, 200), TrainConfig(U_EPOCHS, None, 0.05, 1)),
}
N_EVALS = len(eval_epochs(MODELS["mlp"].unlearn))
GA_LARGE = 5.0  # a forget weight that dominates the retain loss


def make_cfg(**changes) -> UnlearnConfig:
    base = dict(dataset="mnist", models=dict(MODELS), alpha=0.3, runs=RUNS, seed=0,
                methods=("retrain", "finetune", "gradient_ascent"))
    base.update(changes)
    return UnlearnConfig(**base)


def _fake_load(name, **options):
    return DS


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Per-run retain/forget data and the trained models, exactly as the experiment builds them."""
    cfg = make_cfg()
    data = unlearning.unlearning_data(cfg, DS)
    run_dir = RunDir(tmp_path_factory.mktemp("trained") / "run", "unlearn", cfg.to_dict()).start()
    seen = []
    trained = unlearning.trained_models(cfg, DS, data, run_dir, on_cell=lambda c, s, t: seen.append(s))
    assert seen == ["done"] * len(MODELS)
    # built as run() builds them (same precision), so the compiled programs below are shared with it
    models = {name: cfg.models[name].spec.build(DS, cfg.precision) for name in MODELS}
    keys = jax.random.split(jax.random.key(7), RUNS)
    val = (jnp.asarray(DS.x_val), jnp.asarray(DS.y_val))
    return {"cfg": cfg, "data": data, "models": models, "trained": trained, "keys": keys,
            "run_data": data.per_run(), "val": val, "cache": {}}


def unlearn(setup, name: str, method: str, weights: dict | None = None):
    """``(params, history)`` of ``method`` on model ``name`` (both runs, the fixture's keys), cached."""
    w = tuple(sorted(resolve_weights(method, weights).items()))
    ck = (name, method, w)
    if ck not in setup["cache"]:
        program = unlearning.unlearn_program(setup["models"][name], method, w, MODELS[name].unlearn)
        params, hist = program(setup["keys"], setup["trained"][name], setup["run_data"], *setup["val"])
        setup["cache"][ck] = (params, {k: np.asarray(v) for k, v in hist.items()})
    return setup["cache"][ck]


def _run(tree, r):
    return jax.tree_util.tree_map(lambda v: v[r], tree)


def _leaves(tree):
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


# ---------------------------------------------------------------- 1. every method on both models


@pytest.mark.parametrize("name", ["mlp", "qnn"])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_with_finite_history(setup, name, method):
    params, hist = unlearn(setup, name, method)
    n_f = setup["data"].x_forget.shape[1]
    for metric in unlearning.SCALARS:
        assert hist[metric].shape == (RUNS, N_EVALS), metric
        assert np.all(np.isfinite(hist[metric])), (metric, hist[metric])
    for metric in ("train_acc", "val_acc", "retain_acc", "forget_acc", "forget_poison_acc"):
        assert np.all((hist[metric] >= 0) & (hist[metric] <= 1))
    assert hist["p_val"].shape == (RUNS, N_EVALS, len(DS.y_val))
    assert hist["p_forget"].shape == (RUNS, N_EVALS, n_f)
    # true-label and poisoned-label forget accuracies are complementary (binary labels, all flipped)
    np.testing.assert_allclose(hist["forget_acc"] + hist["forget_poison_acc"], 1.0, atol=1e-6)
    trained = setup["trained"][name]
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(trained)
    for a, b in zip(_leaves(params), _leaves(trained)):
        assert a.shape == b.shape and np.all(np.isfinite(a))


# ---------------------------------------------------------------- 2. where each method starts


def _own_metrics(model, params, run_data, r):
    n_val = len(DS.y_val)
    p = np.asarray(model.apply(params, np.concatenate([DS.x_val, run_data.x_forget[r]])))
    pv, pf = p[:n_val], p[n_val:]
    yf = np.asarray(run_data.y_forget[r])
    return {
        "p_val": pv,
        "val_acc": np.mean((pv > 0.5) == DS.y_val),
        "forget_poison_acc": np.mean((pf > 0.5) == yf),
        "val_loss": float(bce(jnp.asarray(pv), jnp.asarray(DS.y_val))),
        "forget_loss": float(bce(jnp.asarray(pf), jnp.asarray(yf))),
    }


@pytest.mark.parametrize("name", ["mlp", "qnn"])
def test_finetune_starts_from_trained_and_retrain_from_fresh_init(setup, name):
    model, trained, rd = setup["models"][name], setup["trained"][name], setup["run_data"]
    _, ft = unlearn(setup, name, "finetune")
    _, rt = unlearn(setup, name, "retrain")
    for r in range(RUNS):
        own = _own_metrics(model, _run(trained, r), rd, r)
        np.testing.assert_allclose(ft["p_val"][r, 0], own["p_val"], atol=1e-5)
        for k in ("val_acc", "forget_poison_acc"):
            assert ft[k][r, 0] == pytest.approx(own[k], abs=1e-6), k
        for k in ("val_loss", "forget_loss"):
            assert ft[k][r, 0] == pytest.approx(own[k], rel=1e-4), k

        # retrain: the fresh initialisation of _unlearn_one's key derivation
        k_init, _, _ = jax.random.split(setup["keys"][r], 3)
        fresh = _own_metrics(model, model.init(k_init), rd, r)["p_val"]
        np.testing.assert_allclose(rt["p_val"][r, 0], fresh, atol=1e-5)
        assert np.max(np.abs(rt["p_val"][r, 0] - own["p_val"])) > 1e-2
    # every method that starts from the trained model has finetune's step-0 metrics
    for method in METHODS:
        if method == "retrain":
            continue
        _, h = unlearn(setup, name, method)
        for k in unlearning.SCALARS:
            np.testing.assert_allclose(h[k][:, 0], ft[k][:, 0], atol=1e-6, err_msg=f"{method} {k}")


# ---------------------------------------------------------------- 3. zero forget weight == finetune


@pytest.mark.parametrize("method, weights", [
    ("gradient_ascent", {"fo_w": 0.0, "ce_w": 1.0}),
    ("scrub", {"fo_w": 0.0, "kl_w": 0.0, "ce_w": 1.0}),
    ("neggrad_plus", {"fo_w": 0.0}),
])
def test_zero_forget_weight_equals_finetune(setup, method, weights):
    p_ft, ft = unlearn(setup, "mlp", "finetune")
    p, h = unlearn(setup, "mlp", method, weights)
    for k in unlearning.SCALARS + ("p_val", "p_forget"):
        np.testing.assert_allclose(h[k], ft[k], atol=1e-6, err_msg=k)
    for a, b in zip(_leaves(p), _leaves(p_ft)):
        np.testing.assert_allclose(a, b, atol=1e-6)


# ---------------------------------------------------------------- 4. a positive forget weight matters


@pytest.mark.parametrize("name", ["mlp", "qnn"])
@pytest.mark.parametrize("method", ["scrub", "gradient_ascent", "neggrad_plus", "scrub_full", "random_labels"])
def test_positive_forget_weight_changes_the_outcome(setup, name, method):
    _, ft = unlearn(setup, name, "finetune")
    _, h = unlearn(setup, name, method)
    diff = np.max(np.abs(h["forget_loss"][:, -1] - ft["forget_loss"][:, -1]))
    assert diff > 1e-5, (method, h["forget_loss"], ft["forget_loss"])


def test_gradient_ascent_erases_memorised_poison_faster_than_finetune(setup):
    _, ft = unlearn(setup, "mlp", "finetune")
    _, ga = unlearn(setup, "mlp", "gradient_ascent", {"fo_w": GA_LARGE})
    # the trained MLP memorised the flipped labels
    assert np.all(ft["forget_poison_acc"][:, 0] >= 0.9)
    # ascent on the forget set pushes its loss (on the flipped labels) up, step after step, beyond finetune's
    assert np.all(np.diff(ga["forget_loss"], axis=1) > 0)
    assert np.all(ga["forget_loss"][:, -1] > ft["forget_loss"][:, -1] + 0.1)
    assert np.all(ga["forget_poison_acc"][:, -1] <= ft["forget_poison_acc"][:, -1])
    assert np.mean(ga["forget_poison_acc"][:, -1]) < np.mean(ga["forget_poison_acc"][:, 0])


# ---------------------------------------------------------------- 5. Newton


def _grad_and_hessian(model, like):
    """One compiled ``(flat, x, y) -> (g, H)`` of the mean retain BCE over the flattened parameters."""
    _, unravel = ravel_pytree(like)

    def f(flat, x, y):
        return bce(model.apply(unravel(flat), x), y)

    return jax.jit(lambda flat, x, y: (jax.grad(f)(flat, x, y), jax.hessian(f)(flat, x, y)))


def _newton_expected(grad_hess, trained_r, x, y, damping, max_norm, saddle_free=True):
    """Own damped Newton step from ``jax.hessian``, in float64 NumPy; also returns g, H and H's eigenvalues."""
    flat, _ = ravel_pytree(trained_r)
    g, h = (np.asarray(v, np.float64) for v in grad_hess(flat, x, y))
    h = 0.5 * (h + h.T)
    evals, evecs = np.linalg.eigh(h)
    if saddle_free:
        step = evecs @ ((evecs.T @ g) / (np.abs(evals) + damping))
    else:
        step = np.linalg.solve(h + damping * np.eye(len(g)), g)
    step = step * min(1.0, max_norm / max(np.linalg.norm(step), 1e-12))
    return np.asarray(flat, np.float64) - step, g, h, evals


def test_newton_exact_path_solves_saddle_free_system_on_qnn(setup):
    """QNN(4, 2) has 32 parameters <= exact_max: the step is (|H| + lambda I)^-1 g, then the trust region."""
    w = DEFAULT_WEIGHTS["newton"]
    model, trained, rd = setup["models"]["qnn"], setup["trained"]["qnn"], setup["run_data"]
    params, hist = unlearn(setup, "qnn", "newton")
    grad_hess = _grad_and_hessian(model, _run(trained, 0))
    for r in range(RUNS):
        expected, g, h, evals = _newton_expected(grad_hess, _run(trained, r), rd.x_retain[r], rd.y_retain[r],
                                                 w["damping"], w["max_norm"])
        got = np.asarray(ravel_pytree(_run(params, r))[0], np.float64)
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-5)
        start = np.asarray(ravel_pytree(_run(trained, r))[0], np.float64)
        assert np.linalg.norm(got - start) <= w["max_norm"] * (1 + 1e-5)
        if evals.min() < -w["damping"]:  # H + lambda I indefinite: the absolute values matter
            plain, *_ = _newton_expected(grad_hess, _run(trained, r), rd.x_retain[r], rd.y_retain[r],
                                         w["damping"], w["max_norm"], saddle_free=False)
            assert np.max(np.abs(got - plain)) > 1e-3
    # one step, in the first epoch only: nothing changes afterwards
    for k in unlearning.SCALARS:
        np.testing.assert_allclose(hist[k][:, 2:], hist[k][:, 1:-1], atol=1e-7, err_msg=k)


LOGREG = MLP(2**N_QUBITS, ())  # logistic regression: convex loss, positive semi-definite Hessian


INDEFINITE_MLP = MLP(2**N_QUBITS, (8,))  # 16*8 + 8 + 8 + 1 = 145 parameters, more than the preset QNNs' 32


def _fresh_newton(setup, model, weights, seed=3):
    """Newton from a fresh initialisation of ``model`` (both runs): ``(start, params, history)``."""
    trained = jax.vmap(model.init)(jax.random.split(jax.random.key(seed), RUNS))
    w = tuple(sorted(resolve_weights("newton", weights).items()))
    program = unlearning.unlearn_program(model, "newton", w, MODELS["mlp"].unlearn)
    params, hist = program(setup["keys"], trained, setup["run_data"], *setup["val"])
    return trained, params, hist


def test_newton_default_step_is_saddle_free_at_negative_curvature_beyond_128_parameters(setup):
    """145 parameters with default weights, at an initialisation where the retain Hessian has eigenvalues
    well below -damping (H + lambda I indefinite): the step is still (|H| + lambda I)^-1 g, trust-clipped."""
    w = DEFAULT_WEIGHTS["newton"]
    trained, params, _ = _fresh_newton(setup, INDEFINITE_MLP, None)
    rd = setup["run_data"]
    grad_hess = _grad_and_hessian(INDEFINITE_MLP, _run(trained, 0))
    for r in range(RUNS):
        start = _run(trained, r)
        assert ravel_pytree(start)[0].size == 145 > 128
        expected, g, h, evals = _newton_expected(grad_hess, start, rd.x_retain[r], rd.y_retain[r],
                                                 w["damping"], w["max_norm"])
        assert evals.min() < -2 * w["damping"]  # the premise: clearly negative curvature
        got = np.asarray(ravel_pytree(_run(params, r))[0], np.float64)
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-5)
        plain, *_ = _newton_expected(grad_hess, start, rd.x_retain[r], rd.y_retain[r],
                                     w["damping"], w["max_norm"], saddle_free=False)
        assert np.max(np.abs(got - plain)) > 1e-3  # the absolute values matter here


@pytest.mark.parametrize("model", [LOGREG, INDEFINITE_MLP], ids=["logreg_psd", "mlp_indefinite"])
def test_newton_lanczos_path_at_full_rank_equals_exact_path(setup, model):
    """exact_max=0 forces the Lanczos path; rank 1000 is capped at n, where the low-rank step is the exact one."""
    base = {"damping": 0.1, "max_norm": 1e6}  # no trust-region clipping: the raw step is compared
    trained, exact, h_exact = _fresh_newton(setup, model, {**base, "exact_max": 1000})
    _, lanc, h_lanc = _fresh_newton(setup, model, {**base, "exact_max": 0, "rank": 1000})
    rd = setup["run_data"]
    grad_hess = _grad_and_hessian(model, _run(trained, 0))
    for r in range(RUNS):
        start = ravel_pytree(_run(trained, r))[0]
        d_exact = np.asarray(start - ravel_pytree(_run(exact, r))[0], np.float64)
        d_lanc = np.asarray(start - ravel_pytree(_run(lanc, r))[0], np.float64)
        expected, g, h, evals = _newton_expected(grad_hess, _run(trained, r), rd.x_retain[r], rd.y_retain[r],
                                                 0.1, 1e6)
        if model is LOGREG:
            assert evals.min() > -1e-6  # convex: H positive semi-definite
        else:
            assert evals.min() < -0.2  # clearly indefinite
        assert np.linalg.norm(d_exact) > 1e-3  # a real step
        d_own = np.asarray(start, np.float64) - expected
        np.testing.assert_allclose(d_exact, d_own, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(d_lanc, d_own, rtol=1e-3, atol=1e-5)
        # the step solves (|H| + lambda I) d = g
        w_, u_ = np.linalg.eigh(h)
        np.testing.assert_allclose((u_ * (np.abs(w_) + 0.1)) @ u_.T @ d_lanc, g, rtol=1e-3, atol=1e-5)
    for k in unlearning.SCALARS:
        np.testing.assert_allclose(h_exact[k], h_lanc[k], atol=1e-4, err_msg=k)


def test_newton_low_rank_path_descends_at_negative_curvature(setup):
    """Default rank (32) below n = 145, Lanczos path forced: a finite step along which the retain loss
    decreases (g.d > 0), where the undamped-sign step (H + lambda I)^-1 g need not."""
    w = DEFAULT_WEIGHTS["newton"]
    assert w["rank"] < 145
    trained, params, hist = _fresh_newton(setup, INDEFINITE_MLP, {"exact_max": 0, "max_norm": 1e6})
    rd = setup["run_data"]
    grad_hess = _grad_and_hessian(INDEFINITE_MLP, _run(trained, 0))
    for r in range(RUNS):
        start = np.asarray(ravel_pytree(_run(trained, r))[0], np.float64)
        d = start - np.asarray(ravel_pytree(_run(params, r))[0], np.float64)
        _, g, h, evals = _newton_expected(grad_hess, _run(trained, r), rd.x_retain[r], rd.y_retain[r],
                                          w["damping"], 1e6)
        assert evals.min() < -2 * w["damping"]
        assert np.all(np.isfinite(d)) and np.linalg.norm(d) > 1e-3
        assert g @ d > 0.1 * np.linalg.norm(g) * np.linalg.norm(d) / np.sqrt(len(g))
    assert all(np.all(np.isfinite(hist[k])) for k in unlearning.SCALARS)


def test_newton_defaults_take_the_exact_path_for_the_preset_qnns():
    w = DEFAULT_WEIGHTS["newton"]
    assert set(w) == {"damping", "max_norm", "exact_max", "rank"}
    assert w["exact_max"] >= 240 and w["rank"] >= 1  # the paper's QNNs have 240 and 200 parameters


# ---------------------------------------------------------------- landscape.saddle_free_step on its own

SF_N, SF_RANK, SF_DAMPING = 60, 8, 0.1
SF_OUTLIERS = np.array([-4.0, -2.5, -1.5, 1.2, 2.0, 3.0, 4.5, 6.0])  # SF_RANK eigenvalues away from 0


def _sf_problem(eigenvalues, seed=0):
    """Symmetric ``A = U diag(eigenvalues) U^T`` with a random orthogonal ``U``, a gradient, float64."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(SF_N, SF_N)))
    return (u * eigenvalues) @ u.T, u, rng.normal(size=SF_N)


def _sf(a, g, **kw):
    a32 = jnp.asarray(a, jnp.float32)
    fn = jax.jit(lambda gg: landscape.saddle_free_step(lambda v: a32 @ v, gg, damping=SF_DAMPING, **kw))
    return np.asarray(fn(jnp.asarray(g, jnp.float32)), np.float64)


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_saddle_free_step_exact_and_full_rank_lanczos_match_numpy_on_indefinite_matrix():
    eig = np.random.default_rng(1).uniform(-3.0, 3.0, SF_N)
    assert (eig < -0.5).sum() >= 5  # indefinite
    a, u, g = _sf_problem(eig)
    mu, v = np.linalg.eigh(a)
    want = v @ ((v.T @ g) / (np.abs(mu) + SF_DAMPING))
    # float32 arithmetic on a 60-dim problem with condition number ~30: ~1e-6 relative, measured
    assert _rel(_sf(a, g, exact=True), want) < 1e-4
    assert _rel(_sf(a, g, rank=SF_N), want) < 1e-4
    assert _rel(_sf(a, g, rank=10 * SF_N), want) < 1e-4  # rank capped at n


@pytest.mark.parametrize("width", [0.0, 1e-6])
@pytest.mark.parametrize("rank", [SF_RANK, 20])
def test_saddle_free_step_low_rank_is_the_top_eigenpair_formula(width, rank):
    """SF_RANK outliers over a cluster of half-width ``width`` around 0: rank >= SF_RANK Lanczos steps give
    sum_i u_i u_i.g / (|mu_i| + lambda) + (g - U U^T g) / lambda over the true outlying eigenpairs."""
    eig = np.concatenate([SF_OUTLIERS, np.linspace(-width, width, SF_N - SF_RANK)])
    a, u, g = _sf_problem(eig)
    ur = u[:, :SF_RANK]
    c = ur.T @ g
    want = ur @ (c / (np.abs(SF_OUTLIERS) + SF_DAMPING)) + (g - ur @ c) / SF_DAMPING
    # Tolerance: float32 rounding (~1e-6 relative, measured) plus first-order perturbation in the cluster
    # width: the cluster moves the Krylov space of Hg and the Ritz pairs by O(width / gap) (gap = 1.2, the
    # smallest outlier), an error the complement's 1/lambda amplifies: O(width / (lambda gap)) ~ 8e-6 for
    # width 1e-6 (measured 2e-5, so a constant of 10). At width 0, Hg meets exactly SF_RANK eigenvalues and the
    # Krylov space is invariant after SF_RANK steps (rank 20: later vectors dropped), so the formula is exact.
    tol = 1e-5 + 10 * width / (SF_DAMPING * 1.2)
    assert _rel(_sf(a, g, rank=rank), want) < tol
    # the low-rank formula is itself the exact step up to the same order
    mu, v = np.linalg.eigh(a)
    assert _rel(want, v @ ((v.T @ g) / (np.abs(mu) + SF_DAMPING))) < tol


def test_saddle_free_step_descends_a_quadratic_with_negative_curvature():
    eig = np.concatenate([SF_OUTLIERS, np.zeros(SF_N - SF_RANK)])
    a, u, _ = _sf_problem(eig)
    g = 2.0 * u[:, 0] + 0.1 * u[:, 3]  # mostly along the most negative curvature direction (mu = -4)

    def q(x):  # a quadratic with Hessian a and gradient g at x = 0
        return g @ x + 0.5 * x @ a @ x

    plain = np.linalg.solve(a + SF_DAMPING * np.eye(SF_N), g)
    assert g @ plain < 0  # (H + lambda I)^-1 g points uphill here
    for kw in ({"exact": True}, {"rank": SF_RANK}, {"rank": 3}):
        s = _sf(a, g, **kw)
        assert g @ s > 0, kw
        for t in (1e-3, 0.1, 1.0):
            assert q(-t * s) < q(0 * s), (kw, t)
    # no curvature seen (Hg = 0): s = g / lambda
    np.testing.assert_allclose(_sf(np.zeros((SF_N, SF_N)), g, rank=4), g / SF_DAMPING, rtol=1e-6)


def test_saddle_free_step_refuses_bad_input():
    a, _, g = _sf_problem(np.ones(SF_N))
    with pytest.raises(InputError, match="rank"):
        _sf(a, g)  # neither exact nor a rank
    with pytest.raises(InputError, match="rank"):
        _sf(a, g, rank=0)
    with pytest.raises(InputError, match="damping"):
        landscape.saddle_free_step(lambda v: v, jnp.ones(3), damping=0.0, rank=2)


@pytest.mark.parametrize("weight", ["damping", "max_norm", "rank"])
def test_newton_zero_step_controls_are_refused(weight):
    """damping 0 would divide by a zero eigenvalue of the retain Hessian (a dead ReLU unit): NaN parameters."""
    with pytest.raises(InputError, match="must be > 0"):
        resolve_weights("newton", {weight: 0.0})


def test_empty_forget_set_is_refused_before_touching_the_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(unlearning.data_mod, "load", _fake_load)
    cfg = make_cfg(models={"mlp": MODELS["mlp"]}, methods=("finetune",), alpha=0.02)
    out = tmp_path / "run"
    with pytest.raises(InputError, match="nothing to unlearn"):
        unlearning.run(cfg, RunDir(out, "unlearn", cfg.to_dict()))
    assert not out.exists()


# ---------------------------------------------------------------- 6. the weight sweep


def test_gradient_ascent_sweep_matches_individual_runs(setup, tmp_path, monkeypatch):
    monkeypatch.setattr(unlearning.data_mod, "load", _fake_load)
    cfg = make_cfg(models={"mlp": MODELS["mlp"]}, methods=("gradient_ascent",))
    grid = (0.0, 0.2, GA_LARGE)
    scfg = SweepConfig(cfg, "gradient_ascent", grid)
    run_dir = RunDir(tmp_path / "sweep", "sweep", scfg.to_dict())
    cells = []
    table = sweeps.run(scfg, run_dir, on_cell=lambda c, s, t: cells.append((c, s))).results
    assert cells == [(("mlp", "train model to unlearn", None), "done"), (("mlp", "gradient_ascent", None), "done")]
    assert list(table.columns) == ["dataset", "model", "attack", "alpha", "method", "kl_w", "fo_w", "run", "metric",
                                   "value"]
    assert len(table) == len(grid) * RUNS * 2
    assert table["kl_w"].isna().all()
    assert (run_dir.path / "results.csv").exists()

    data = unlearning.unlearning_data(cfg, DS)
    seen = []
    trained = unlearning.trained_models(cfg, DS, data, run_dir, on_cell=lambda c, s, t: seen.append(s))["mlp"]
    assert seen == ["skipped"]
    model = cfg.models["mlp"].spec.build(DS, cfg.precision)

    def final(t, metric):
        t = t[(t["metric"] == metric) & (t["step"] == U_EPOCHS)].sort_values("run")
        return t["value"].to_numpy()

    def swept(fo, metric):
        t = table[(table["fo_w"] == fo) & (table["metric"] == metric)].sort_values("run")
        return t["value"].to_numpy()

    for fo in grid:
        single = cfg.replace(weights={"gradient_ascent": {"fo_w": fo}})
        t, *_ = unlearning.run_method(single, DS, "mlp", model, trained, data, "gradient_ascent")
        for metric in ("val_acc", "forget_poison_acc"):
            np.testing.assert_allclose(swept(fo, metric), final(t, metric), atol=1e-5, err_msg=f"fo_w={fo} {metric}")
    # fo_w = 0 is finetune (the schedule is full batch, so the method's own shuffling key does not matter)
    ft, *_ = unlearning.run_method(cfg, DS, "mlp", model, trained, data, "finetune")
    np.testing.assert_allclose(swept(0.0, "val_acc"), final(ft, "val_acc"), atol=1e-5)
    np.testing.assert_allclose(swept(0.0, "forget_poison_acc"), final(ft, "forget_poison_acc"), atol=1e-5)

    # a second call recomputes nothing
    monkeypatch.setattr(sweeps, "sweep_program", _boom)
    cells.clear()
    again = sweeps.run(scfg, run_dir, on_cell=lambda c, s, t: cells.append((c, s))).results
    assert cells == [(("mlp", "train model to unlearn", None), "skipped"),
                     (("mlp", "gradient_ascent", None), "skipped")]
    pd.testing.assert_frame_equal(again, table)


def test_sweep_programs_evaluate_metrics_only_before_and_after(setup, tmp_path, monkeypatch):
    """The sweep reports final values only: its programs evaluate the metrics twice per run and
    setting (before and after), not after every epoch as the unlearning curves do."""
    monkeypatch.setattr(unlearning.data_mod, "load", _fake_load)
    evaluations = []
    plain = unlearning._metrics_fn

    def counting(model):
        fn = plain(model)

        def metrics_fn(params, d, key):
            out = fn(params, d, key)
            jax.debug.callback(lambda v: evaluations.append(np.size(v)), out["val_acc"])
            return out

        return metrics_fn

    monkeypatch.setattr(unlearning, "_metrics_fn", counting)
    sweeps.sweep_program.cache_clear()
    cfg = make_cfg(models={"mlp": MODELS["mlp"]}, methods=("gradient_ascent",))
    grid = (0.0, 0.5)
    sweeps.run(SweepConfig(cfg, "gradient_ascent", grid), tmp_path / "s")
    sweeps.sweep_program.cache_clear()
    assert MODELS["mlp"].unlearn.eval_every == 1 and U_EPOCHS > 1
    # at most one evaluation before (shared by the settings, whose starting point is the same) and one
    # after per run and setting; with an evaluation every epoch it was 2 + 3 x 4 = 14 here
    assert RUNS * len(grid) < sum(evaluations) <= 2 * RUNS * len(grid), evaluations


def _boom(*args, **kwargs):
    raise AssertionError("recomputed a finished cell")


# ---------------------------------------------------------------- 7. the experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, setup):
    """One run of the experiment with retrain, finetune and gradient ascent on both models."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(unlearning.data_mod, "load", _fake_load)
        cfg = make_cfg()
        path = tmp_path_factory.mktemp("experiment") / "run"
        cells = []
        result = unlearning.run(cfg, RunDir(path, "unlearn", cfg.to_dict()),
                                on_cell=lambda c, s, t: cells.append((c, s)))
    history, results = result.history, result.results
    return {"cfg": cfg, "path": path, "history": history, "results": results, "cells": cells}


def test_experiment_writes_tidy_tables(experiment):
    path, history, results = experiment["path"], experiment["history"], experiment["results"]
    for name, table in (("history.csv", history), ("results.csv", results)):
        assert list(table.columns) == TABLE_COLUMNS, name
        on_disk = pd.read_csv(path / name)
        assert list(on_disk.columns) == TABLE_COLUMNS, name
        expected = table if name == "history.csv" else table[~table["metric"].isin(unlearning.TIMING)]
        assert len(on_disk) == len(expected)
    timing = pd.read_csv(path / "timing.csv")  # wall-clock metrics apart, so results.csv is deterministic
    assert set(timing["metric"]) == set(unlearning.TIMING)
    assert len(timing) + len(pd.read_csv(path / "results.csv")) == len(results)
    assert set(history["model"]) == set(results["model"]) == {"qnn", "mlp"}
    assert set(history["method"]) == set(results["method"]) == {"retrain", "finetune", "gradient_ascent"}
    assert set(history["metric"]) == set(unlearning.CURVES)
    assert (history[history["metric"] == "diverged"]["value"] == 0).all()  # nothing diverged on the toy problem
    assert sorted(history["step"].unique()) == list(range(U_EPOCHS + 1))
    assert not history.duplicated(["model", "method", "run", "step", "metric"]).any()
    assert np.isfinite(history["value"]).all()
    assert (results["dataset"] == "mnist").all() and (results["attack"] == "label-flip").all()
    assert (results["alpha"] == 0.3).all()
    # the models to unlearn first (every method starts from them), then the methods, retrain first
    assert experiment["cells"] == [((m, "train model to unlearn"), "done") for m in ("qnn", "mlp")] + [
        ((m, c), "done") for m in ("qnn", "mlp") for c in ("retrain", "finetune", "gradient_ascent")]


def test_experiment_results_metrics(experiment):
    res = experiment["results"]
    needed = set(unlearning.CURVES) | {"mia_auc", "oracle_agreement_val", "oracle_agreement_forget",
                                        "oracle_kl_val", "oracle_kl_forget", "time_s", "compile_s", "speedup"}
    for (model, method), g in res.groupby(["model", "method"]):
        assert needed <= set(g["metric"]), (model, method)
        for metric in needed - {"mia_auc"}:
            rows = g[g["metric"] == metric]
            assert len(rows) == RUNS and (rows["step"] == U_EPOCHS).all(), (model, method, metric)
        mia = g[g["metric"] == "mia_auc"]
        assert sorted(mia["step"].unique()) == [0, U_EPOCHS] and len(mia) == 2 * RUNS
        assert mia["value"].between(0, 1).all()
        assert (g[g["metric"] == "time_s"]["value"] > 0).all()
    retrain = res[res["method"] == "retrain"]
    for metric, value in (("oracle_agreement_val", 1.0), ("oracle_agreement_forget", 1.0), ("speedup", 1.0)):
        np.testing.assert_array_equal(retrain[retrain["metric"] == metric]["value"], value)
    np.testing.assert_allclose(retrain[retrain["metric"].isin(["oracle_kl_val", "oracle_kl_forget"])]["value"], 0.0,
                               atol=1e-6)
    # the final-step scalars of results are those of history
    hist = experiment["history"]
    last = hist[hist["step"] == U_EPOCHS].set_index(["model", "method", "run", "metric"])["value"]
    sub = res[res["metric"].isin(unlearning.CURVES)].set_index(["model", "method", "run", "metric"])["value"]
    pd.testing.assert_series_equal(sub.sort_index(), last.sort_index())


def test_experiment_history_matches_direct_program(experiment, setup):
    """run() uses the same data, trained model and keys as a direct run_method call."""
    cfg, hist = experiment["cfg"], experiment["history"]
    model, trained = setup["models"]["mlp"], setup["trained"]["mlp"]
    t, *_ = unlearning.run_method(cfg, DS, "mlp", model, trained, setup["data"], "gradient_ascent")
    sel = hist[(hist["model"] == "mlp") & (hist["method"] == "gradient_ascent")].reset_index(drop=True)
    np.testing.assert_allclose(sel["value"].to_numpy(), t["value"].to_numpy(), atol=1e-6)
    assert list(sel["metric"]) == list(t["metric"]) and list(sel["step"]) == list(t["step"])


def test_experiment_rerun_recomputes_nothing(experiment, monkeypatch):
    monkeypatch.setattr(unlearning.data_mod, "load", _fake_load)
    monkeypatch.setattr(unlearning, "run_method", _boom)
    monkeypatch.setattr(unlearning, "supervised_program", _boom)
    path, cfg = experiment["path"], experiment["cfg"]
    files = {n: (path / n).read_bytes() for n in ("history.csv", "results.csv")}
    cells = []
    result = unlearning.run(cfg, RunDir(path, "unlearn", cfg.to_dict()),
                            on_cell=lambda c, s, t: cells.append((c, s)))
    history, results = result.history, result.results
    assert {s for _, s in cells} == {"skipped"} and len(cells) == len(experiment["cells"])
    pd.testing.assert_frame_equal(history, experiment["history"])
    pd.testing.assert_frame_equal(results, experiment["results"])
    for n, content in files.items():
        assert (path / n).read_bytes() == content, n


def test_retrain_oracle_runs_but_is_not_reported(setup, tmp_path, monkeypatch):
    monkeypatch.setattr(unlearning.data_mod, "load", _fake_load)
    cfg = make_cfg(models={"mlp": MODELS["mlp"]}, methods=("finetune",))
    run_dir = RunDir(tmp_path / "run", "unlearn", cfg.to_dict())
    cells = []
    result = unlearning.run(cfg, run_dir, on_cell=lambda c, s, t: cells.append((c, s)))
    history, results = result.history, result.results
    assert [c for c, _ in cells] == [("mlp", "train model to unlearn"), ("mlp", "retrain"), ("mlp", "finetune")]
    assert (run_dir.cells_dir / f"{RunDir.cell_id('mlp', 'retrain')}.csv").exists()
    assert (run_dir.cells_dir / f"{RunDir.cell_id('mlp', 'retrain')}.npz").exists()
    assert set(history["method"]) == set(results["method"]) == {"finetune"}
    for metric in ("oracle_agreement_val", "oracle_agreement_forget", "oracle_kl_val", "speedup", "mia_auc"):
        assert (results["metric"] == metric).any(), metric
    with np.load(run_dir.cells_dir / f"{RunDir.cell_id('mlp', 'retrain')}.npz") as z:
        retrain_s = float(z["seconds"])
    with np.load(run_dir.cells_dir / f"{RunDir.cell_id('mlp', 'finetune')}.npz") as z:
        finetune_s = float(z["seconds"])
    speedup = results[results["metric"] == "speedup"]["value"].to_numpy()
    np.testing.assert_allclose(speedup, retrain_s / finetune_s, rtol=1e-9)
    saved = pd.read_csv(run_dir.path / "results.csv")
    assert set(saved["method"]) == {"finetune"}


def _knowing_vectors(data, runs, evals=2, conf=0.9):
    """Outputs of a model that knows every true label and nothing of membership: p(y=1) = 0.9 for class 1."""
    pf = np.where(data.y_forget_true == 1, conf, 1 - conf)[:, None, :].repeat(evals, 1)
    pv = np.broadcast_to(np.where(DS.y_val == 1, conf, 1 - conf), (runs, evals, DS.y_val.size))
    return {"p_forget": pf.astype(np.float32), "p_val": np.asarray(pv, np.float32)}


def test_membership_attack_reads_membership_not_the_flipped_labels(setup, monkeypatch):
    """The forget set carries flipped labels. A model that never saw it but knows every true label gives its
    members a large loss; clean held-out points would get a small one, and the attack would score 1.0 for a
    model that remembers nothing. The non-members are therefore held-out points with flipped labels too: the
    same model then gives both groups the same losses."""
    cfg, data = setup["cfg"], setup["data"]
    vec = _knowing_vectors(data, RUNS)
    seen = []
    monkeypatch.setattr(unlearning.metrics, "mia_auc", lambda m, n, **kw: seen.append((m, n)) or 0.5)
    unlearning.posthoc_table(cfg, DS, "mlp", data, {"retrain": vec}, {"retrain": (1.0, 0.1)}, 3)
    assert len(seen) == 2 * RUNS
    for members, nonmembers in seen:
        np.testing.assert_allclose(nonmembers, -np.log(np.float32(0.1)), rtol=1e-6)  # every label flipped
        np.testing.assert_allclose(np.unique(members), np.unique(nonmembers))  # nothing tells them apart
    feature = make_cfg(attack="feature-randomization")  # keeps labels: the held-out points keep theirs
    np.testing.assert_array_equal(unlearning.nonmember_labels(feature, DS), DS.y_val)
    np.testing.assert_array_equal(unlearning.nonmember_labels(cfg, DS), 1 - DS.y_val)


def test_membership_gap_is_the_distance_from_the_oracles_score(setup):
    cfg, data = setup["cfg"], setup["data"]
    knowing = _knowing_vectors(data, RUNS)
    memorised = dict(knowing, p_forget=np.where(data.y_forget == 1, 0.99, 0.01)[:, None, :].repeat(2, 1))
    table = unlearning.posthoc_table(cfg, DS, "mlp", data, {"retrain": knowing, "finetune": memorised},
                                     {"retrain": (1.0, 0.1), "finetune": (1.0, 0.1)}, 3)
    get = lambda method, metric: table[(table["method"] == method) & (table["metric"] == metric)].set_index(  # noqa
        ["run", "step"])["value"].sort_index()
    for method in ("retrain", "finetune"):
        oracle = get(method, "mia_auc_oracle")
        assert list(oracle.index.get_level_values("step")) == [3] * RUNS  # the last step only
        pd.testing.assert_series_equal(oracle, get("retrain", "mia_auc").xs(3, level="step", drop_level=False),
                                       check_names=False)
        gap = get(method, "mia_gap")
        np.testing.assert_allclose(gap, get(method, "mia_auc").xs(3, level="step") - oracle.xs(3, level="step"))
    np.testing.assert_array_equal(get("retrain", "mia_gap"), 0.0)  # the oracle's own gap: 0 by construction
    assert (get("finetune", "mia_gap") > 0.3).all()  # a model that remembers the flipped labels is exposed


# ---------------------------------------------------------------- 8. bad input


def test_resolve_weights_defaults_and_overrides():
    assert resolve_weights("scrub") == {"ce_w": 1.0, "kl_w": 0.0, "fo_w": 0.2}
    assert resolve_weights("gradient_ascent") == {"ce_w": 1.0, "fo_w": 0.2}
    assert resolve_weights("gradient_ascent", {"fo_w": "0.5"}) == {"ce_w": 1.0, "fo_w": 0.5}
    assert resolve_weights("finetune") == {}
    assert set(DEFAULT_WEIGHTS) == set(METHODS)
    resolve_weights("scrub", {"fo_w": 0})  # zero is allowed


@pytest.mark.parametrize("name, weights, needle", [
    ("foo", None, "unknown unlearning method"),
    ("scrub", {"zz": 1.0}, "takes no weight"),
    ("finetune", {"fo_w": 0.1}, "takes no weight"),
    ("gradient_ascent", {"fo_w": -0.1}, ">= 0"),
    ("scrub", {"kl_w": math.nan}, "finite"),
    ("scrub", {"kl_w": math.inf}, "finite"),
    ("newton", {"damping": "abc"}, "must be a number"),
    ("newton", {"cg_iters": 30}, "takes no weight"),
    ("newton", {"rank": -1}, ">= 0"),
])
def test_resolve_weights_refuses_bad_input(name, weights, needle):
    with pytest.raises(InputError, match=needle):
        resolve_weights(name, weights)


def test_unlearn_config_refuses_bad_weights_and_methods():
    with pytest.raises(InputError):
        make_cfg(weights={"scrub": {"zz": 1.0}})
    with pytest.raises(InputError):
        make_cfg(methods=("foo",))
    with pytest.raises(InputError):
        make_cfg(alpha=0.0)


@pytest.mark.parametrize("argv", [
    ["unlearn", "--methods", "foo"],
    ["unlearn", "--alpha", "0"],
    ["unlearn", "--alpha", "1"],
    ["unlearn", "--weight", "scrub.zz=1"],
    ["unlearn", "--weight", "scrub.fo_w=-1"],
    ["unlearn", "--weight", "gradient_ascent.fo_w=nan"],
    ["sweep", "newton"],
])
def test_cli_refuses_bad_unlearning_input(argv, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + ["--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("qunlearn: error:"), err
    assert not out.exists()
