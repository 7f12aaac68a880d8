"""Tests of qunlearn.landscape against known spectra and independent jax.hessian computations.

* a quadratic f(v) = v^T A v / 2 with A = Q diag(d) Q^T (known eigenvalues d)
  checks the generic layer: Hessian, trace, Lanczos, Hutchinson, SLQ;
* a small MLP in float64 and two small QNNs (float32, the default precision)
  check the model layer against ``jax.hessian`` of a loss written here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from qunlearn import backend
from qunlearn import landscape as L
from qunlearn.errors import InputError
from qunlearn.models import MLP, QNN, LandscapeQNN


@pytest.fixture
def x64():
    backend.set_precision("complex128")
    try:
        yield
    finally:
        backend.set_precision("complex64")


def _bce(p, y):
    """Mean binary cross-entropy, written out independently of qunlearn.train."""
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def _reference_hessian(model, params, x, y) -> np.ndarray:
    flat, unravel = ravel_pytree(params)
    y = jnp.asarray(y, flat.dtype)
    f = lambda v: _bce(model.apply(unravel(v), x), y)  # noqa: E731
    return np.asarray(jax.jit(jax.hessian(f))(flat))


# ------------------------------------------------------------------ quadratic with a known spectrum

D = np.array([-1.5, -0.3, 0.0, 0.2, 0.5, 1.0, 1.0, 2.0, 3.5, 4.0, 6.0, 10.0])  # 1.0 twice: Lanczos breakdown
N = D.size


def _quadratic():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(N, N)))
    a = q @ np.diag(D) @ q.T
    a = 0.5 * (a + a.T)
    aj = jnp.asarray(a)
    return (lambda v: 0.5 * v @ aj @ v), jnp.asarray(np.random.default_rng(1).normal(size=N)), a


def test_quadratic_hessian_trace_hvp(x64):
    f, flat, a = _quadratic()
    v = jnp.asarray(np.random.default_rng(2).normal(size=N))
    np.testing.assert_allclose(np.asarray(L.hvp_fn(f, flat)(v)), a @ np.asarray(v), atol=1e-12)
    h = L.hessian_of(f, flat, chunk=5)  # 12 columns in chunks of 5: a ragged last chunk
    np.testing.assert_allclose(h, a, atol=1e-12)
    assert np.array_equal(h, h.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(h), D, atol=1e-12)
    assert L.trace_of(f, flat, chunk=5) == pytest.approx(D.sum(), abs=1e-12)


def test_quadratic_lanczos(x64):
    f, flat, _ = _quadratic()
    alphas, betas = L.lanczos(L.hvp_fn(f, flat), N, 3, jax.random.PRNGKey(0), dtype=flat.dtype)
    assert alphas.shape == (N,) and betas.shape == (N - 1,)  # iters = min(n, 30)
    t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    # full reorthogonalisation and the restart at breakdown recover the whole spectrum,
    # the repeated eigenvalue included
    np.testing.assert_allclose(np.linalg.eigvalsh(t), D, atol=1e-9)
    top = L.top_eigs_of(f, flat, k=3, key=jax.random.PRNGKey(1), iters=8)
    assert top[0] == pytest.approx(D.max(), abs=1e-4)
    assert np.all(np.diff(top) <= 0)  # largest first


def test_quadratic_slq_density(x64):
    f, flat, _ = _quadratic()
    n_probes = 64
    grid, rho = L.slq_of(f, flat, key=jax.random.PRNGKey(0), n_probes=n_probes, iters=N)
    dx = grid[1] - grid[0]
    assert np.all(rho >= 0)
    assert rho.sum() * dx == pytest.approx(1.0, abs=1e-3)
    # E[v^T A v] = mean(d) for unit probes, variance 2 var(d) / (n + 2) per probe
    tol = 4 * np.sqrt(2 * D.var() / (N + 2) / n_probes)
    assert abs((grid * rho).sum() * dx - D.mean()) < tol
    # iters = n: the Ritz values are the eigenvalues, so the density peaks near each of them
    peaks = grid[1:-1][(rho[1:-1] > rho[:-2]) & (rho[1:-1] > rho[2:])]
    assert all(np.min(np.abs(peaks - d)) < 0.1 for d in (-1.5, 4.0, 6.0, 10.0))


def test_quadratic_hutchinson(x64):
    f, flat, _ = _quadratic()
    est, se = L.hutchinson_of(f, flat, key=jax.random.PRNGKey(0), n_samples=400)
    assert abs(est - D.sum()) < 3 * se
    _, se_small = L.hutchinson_of(f, flat, key=jax.random.PRNGKey(0), n_samples=25)
    assert se < se_small


# ------------------------------------------------------------------ small MLP, float64

MLP_MODEL = MLP(6, (3,), precision="complex128")  # 6*3 + 3 + 3 + 1 = 25 parameters


def _mlp_case():
    rng = np.random.default_rng(3)
    params = [
        {"w": rng.normal(0, 0.8, (6, 3)), "b": rng.normal(0, 0.3, 3)},
        {"w": rng.normal(0, 0.8, (3, 1)), "b": rng.normal(0, 0.3, 1)},
    ]
    x = rng.normal(size=(40, 6))
    y = (rng.random(40) < 0.5).astype(np.int32)
    return params, x, y


def test_mlp_exact_hessian_trace_spectrum(x64):
    params, x, y = _mlp_case()
    ref = _reference_hessian(MLP_MODEL, params, x, y)
    assert ref.shape == (25, 25)
    h = L.exact_hessian(MLP_MODEL, params, x, y)
    assert h.dtype == np.float64
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-12)
    assert L.exact_trace(MLP_MODEL, params, x, y) == pytest.approx(np.trace(ref), rel=1e-10)
    np.testing.assert_allclose(L.spectrum(MLP_MODEL, params, x, y), np.linalg.eigvalsh(ref), atol=1e-10)
    f, flat = L.loss_fn(MLP_MODEL, params, x, y)
    assert flat.shape == (25,)
    expected = _bce(MLP_MODEL.apply(params, x), jnp.asarray(y, flat.dtype))
    assert float(f(flat)) == pytest.approx(float(expected), rel=1e-12)


def test_mlp_lanczos_and_hutchinson(x64):
    params, x, y = _mlp_case()
    exact = np.linalg.eigvalsh(_reference_hessian(MLP_MODEL, params, x, y))
    # 15 Lanczos steps for 25 parameters: a genuine Krylov approximation
    top = L.top_eigenvalues(MLP_MODEL, params, x, y, k=2, key=jax.random.PRNGKey(0), iters=15)
    assert top.shape == (2,)
    assert top[0] == pytest.approx(exact[-1], rel=1e-3)
    est, se = L.hutchinson_trace(MLP_MODEL, params, x, y, n_samples=400, key=jax.random.PRNGKey(0))
    assert se > 0 and abs(est - exact.sum()) < 3 * se
    again = L.hutchinson_trace(MLP_MODEL, params, x, y, n_samples=400, key=jax.random.PRNGKey(0))
    assert again == (est, se)  # deterministic given the key (and the compiled program is reused)
    # one probe with the same Lanczos length reuses the compiled program of top_eigenvalues
    grid, rho = L.slq_density(
        MLP_MODEL, params, x, y, key=jax.random.PRNGKey(2), n_probes=1, iters=15,
        grid=np.linspace(-1, 2, 3001), sigma=0.02,
    )
    assert grid.shape == rho.shape == (3001,)
    assert rho.sum() * (grid[1] - grid[0]) == pytest.approx(1.0, abs=1e-3)


def test_mlp_hessian_report_both_paths(x64):
    params, x, y = _mlp_case()
    exact = np.linalg.eigvalsh(_reference_hessian(MLP_MODEL, params, x, y))
    small = L.hessian_report(MLP_MODEL, params, x, y, key=jax.random.PRNGKey(0), top_k=3)
    assert small["n_params"] == 25 and small["trace_method"] == "exact" and small["trace_se"] == 0.0
    assert small["method"] == "exact"
    assert small["trace"] == pytest.approx(exact.sum(), rel=1e-10)
    np.testing.assert_allclose(small["top_eigenvalues"], exact[::-1][:3], atol=1e-10)
    assert np.isfinite(small["loss"])
    # the same static settings as the test above, so the compiled programs are reused
    large = L.hessian_report(
        MLP_MODEL, params, x, y, key=jax.random.PRNGKey(1), exact_max=10, top_k=2, n_samples=400, iters=15
    )
    assert large["trace_method"] == "hutchinson" and large["method"] == "hvp" and large["trace_se"] > 0
    assert abs(large["trace"] - exact.sum()) < 3 * large["trace_se"]
    assert large["top_eigenvalues"][0] == pytest.approx(exact[-1], rel=1e-3)
    mixed = L.hessian_report(
        MLP_MODEL, params, x, y, key=jax.random.PRNGKey(1), exact_max=10, trace_exact_max=100, top_k=2, iters=15
    )
    assert mixed["trace_method"] == "exact" and mixed["trace"] == pytest.approx(exact.sum(), rel=1e-10)


# ------------------------------------------------------------------ small QNNs, default precision (float32)


@pytest.mark.parametrize("model", [QNN(4, 1), LandscapeQNN(4, 1)], ids=["qnn", "landscape-qnn"])
def test_qnn_exact_trace_matches_jax_hessian(model):
    backend.set_precision("complex64")  # the default; float32 parameters, probes and basis vectors
    rng = np.random.default_rng(4)
    params = jnp.asarray(rng.normal(0, 0.7, model.param_shape), dtype=backend.real_dtype())
    x = rng.normal(size=(12, 16)) + 1j * rng.normal(size=(12, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (rng.random(12) < 0.5).astype(np.int32)
    assert params.dtype == jnp.float32
    ref = _reference_hessian(model, params, x, y)
    tr = L.exact_trace(model, params, x, y, chunk=8)
    assert abs(tr - np.trace(ref)) <= 1e-4 * np.abs(np.diag(ref)).sum() + 1e-6


# ------------------------------------------------------------------ bad input


def test_bad_input_is_refused():
    params, x, y = _mlp_case()
    key = jax.random.PRNGKey(0)
    with pytest.raises(InputError, match="same length") as exc:
        L.exact_trace(MLP_MODEL, params, x, y[:-1])
    assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="at least one sample"):
        L.exact_hessian(MLP_MODEL, params, x[:0], y[:0])
    with pytest.raises(InputError, match="k"):
        L.top_eigenvalues(MLP_MODEL, params, x, y, k=0, key=key)
    with pytest.raises(InputError, match="k"):
        L.top_eigenvalues(MLP_MODEL, params, x, y, k=26, key=key)
    with pytest.raises(InputError, match="iters"):
        L.top_eigenvalues(MLP_MODEL, params, x, y, k=5, key=key, iters=3)
    with pytest.raises(InputError, match="n_samples >= 2"):
        L.hutchinson_trace(MLP_MODEL, params, x, y, n_samples=1, key=key)
    with pytest.raises(InputError, match="sigma"):
        L.slq_density(MLP_MODEL, params, x, y, key=key, sigma=-1.0)
    with pytest.raises(InputError, match="key"):
        L.hessian_report(MLP_MODEL, params, x, y, key=None)
    with pytest.raises(InputError, match="chunk"):
        L.exact_trace(MLP_MODEL, params, x, y, chunk=0)
    f, flat, _ = _quadratic()
    with pytest.raises(InputError, match="k"):
        L.lanczos(L.hvp_fn(f, flat), N, 0, key)
    with pytest.raises(InputError, match="n_samples >= 2"):
        L.hutchinson_of(f, flat, key=key, n_samples=1)
    with pytest.raises(InputError, match="1-D"):
        L.trace_of(f, jnp.zeros((2, 2)))
