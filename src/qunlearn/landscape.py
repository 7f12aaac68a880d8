r"""Hessian of the mean loss: trace, spectrum, top eigenvalues, spectral density.

The object of study is the Hessian :math:`H = \nabla^2 L(\theta)` of the mean
binary cross-entropy

.. math:: L(\theta) = \frac1N \sum_{i=1}^N \mathrm{bce}\big(f_\theta(x_i), y_i\big)

with respect to the flattened real parameters :math:`\theta \in \mathbb R^n`
(``jax.flatten_util.ravel_pytree`` of the model's parameter pytree). Every
quantity is built from Hessian-vector products (forward-over-reverse,
:math:`Hv = \partial_\epsilon \nabla L(\theta + \epsilon v)`), so nothing of
size :math:`n \times n` is stored unless the dense Hessian is asked for.

Two layers:

* generic functions of a scalar function ``f: R^n -> R`` and a point ``flat``:
  :func:`hvp_fn`, :func:`hessian_of`, :func:`trace_of`, :func:`hutchinson_of`,
  :func:`lanczos`, :func:`top_eigs_of`, :func:`slq_of`, and the traceable
  :func:`saddle_free_step` (exact or low-rank :math:`(|H| + \lambda I)^{-1} g`);
* model wrappers taking ``(model, params, x, y)`` for any model with the shared
  interface: :func:`exact_hessian`, :func:`exact_trace`, :func:`spectrum`,
  :func:`hutchinson_trace`, :func:`top_eigenvalues`, :func:`slq_density`,
  :func:`hessian_report`. These are compiled once per (model, shapes, dtypes),
  the model being a static (hashable) argument, so sweeping seeds and noise
  levels reuses one program.

Methods:

* exact: :math:`H e_i` for every basis vector, ``chunk`` at a time
  (``jax.lax.map(..., batch_size=chunk)``); the trace keeps only
  :math:`e_i^\top H e_i`, so it needs :math:`O(\text{chunk}\cdot n)` memory;
* Hutchinson: :math:`\operatorname{tr} H = \mathbb E[v^\top H v]` over Rademacher
  :math:`v`, reported with its standard error :math:`s / \sqrt{m}`;
* Lanczos with full reorthogonalisation: the Ritz values of the tridiagonal
  :math:`T_m` approximate the extreme eigenvalues;
* stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019): for a unit
  random probe, :math:`v^\top g(H) v \approx \sum_j \tau_j g(\theta_j)` with Ritz
  values :math:`\theta_j` and weights :math:`\tau_j = (U_{1j})^2`; the density is
  :math:`\rho(t) = \overline{\sum_j \tau_j \, \mathcal N(t; \theta_j, \sigma^2)}`,
  which integrates to 1.

Probes and basis vectors take the parameters' dtype (float32 under the default
``complex64`` precision, float64 under ``complex128``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .errors import InputError, check_finite_positive, check_positive_int, require
from .train import bce

Array = jax.Array
ScalarFn = Callable[[Array], Array]

__all__ = [
    "loss_fn",
    "hvp_fn",
    "hessian_of",
    "trace_of",
    "hutchinson_of",
    "lanczos",
    "top_eigs_of",
    "slq_of",
    "saddle_free_step",
    "exact_hessian",
    "exact_trace",
    "spectrum",
    "hutchinson_trace",
    "top_eigenvalues",
    "slq_density",
    "hessian_report",
]


# ------------------------------------------------------------------ checks


def _check_xy(x: Any, y: Any) -> None:
    xs, ys = np.shape(x), np.shape(y)
    require(
        len(xs) >= 1 and xs[0] > 0,
        f"x must hold at least one sample, got shape {xs}; pass a non-empty batch",
    )
    require(len(ys) == 1, f"y must be a 1-D array of labels, got shape {ys}")
    require(ys[0] == xs[0], f"x and y must have the same length, got {xs[0]} samples and {ys[0]} labels")


def _check_flat(flat: Any) -> Array:
    flat = jnp.asarray(flat)
    require(flat.ndim == 1 and flat.size >= 1, f"flat parameters must be a non-empty 1-D array, got {flat.shape}")
    require(jnp.issubdtype(flat.dtype, jnp.floating), f"flat parameters must be real floats, got {flat.dtype}")
    return flat


def _key(key: Any) -> Array:
    if key is None:
        raise InputError("a random key is required; pass key=jax.random.PRNGKey(seed)")
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    return key


def _check_size(value: Any, name: str) -> int:
    """An integer >= 0 (a parameter-count threshold; 0 forces the HVP path)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == 0:
        return 0
    return check_positive_int(value, name)


def _lanczos_iters(n: int, k: int, iters: int | None) -> int:
    k = check_positive_int(k, "number of eigenvalues k")
    require(k <= n, f"k = {k} eigenvalues asked of a {n}-dimensional Hessian; use k <= {n}")
    if iters is None:
        iters = max(2 * k + 10, 30)
    iters = min(check_positive_int(iters, "Lanczos iterations"), n)
    require(iters >= k, f"Lanczos iterations ({iters}) must be >= k ({k}); raise iters")
    return iters


# ------------------------------------------------------------------ generic, traced cores


def hvp_fn(f: ScalarFn, flat: Array) -> Callable[[Array], Array]:
    r"""``v -> H v`` with :math:`H = \nabla^2 f(\text{flat})`, forward-over-reverse (``jvp`` of ``grad``)."""
    grad = jax.grad(f)
    return lambda v: jax.jvp(grad, (flat,), (v.astype(flat.dtype),))[1]


def _basis(i: Array, n: int, dtype) -> Array:
    return jax.nn.one_hot(i, n, dtype=dtype)


def _hvp_rows(hvp: Callable[[Array], Array], n: int, dtype, chunk: int) -> Array:
    """``H e_i`` for every basis vector (the rows of the symmetric ``H``), ``chunk`` HVPs at a time."""
    return jax.lax.map(lambda i: hvp(_basis(i, n, dtype)), jnp.arange(n), batch_size=min(chunk, n))


def _hessian_rows(f: ScalarFn, flat: Array, chunk: int) -> Array:
    return _hvp_rows(hvp_fn(f, flat), flat.size, flat.dtype, chunk)


def _diagonal(f: ScalarFn, flat: Array, chunk: int) -> Array:
    n = flat.size
    hvp = hvp_fn(f, flat)
    return jax.lax.map(lambda i: hvp(_basis(i, n, flat.dtype))[i], jnp.arange(n), batch_size=min(chunk, n))


def _hutchinson_samples(f: ScalarFn, flat: Array, key: Array, n_samples: int, chunk: int) -> Array:
    """``n_samples`` values of ``v^T H v``, Rademacher ``v``; ``chunk`` probes drawn and applied at a time."""
    n, chunk = flat.size, min(chunk, n_samples)
    hvp = hvp_fn(f, flat)

    def block(k):
        v = jax.random.rademacher(k, (chunk, n), dtype=jnp.int8).astype(flat.dtype)
        return jnp.sum(v * jax.vmap(hvp)(v), axis=1)

    n_blocks = -(-n_samples // chunk)
    return jax.lax.map(block, jax.random.split(key, n_blocks)).reshape(-1)[:n_samples]


def _lanczos_core(hvp: Callable[[Array], Array], n: int, iters: int, key: Array, dtype) -> tuple[Array, Array]:
    """``iters`` Lanczos steps from a random unit vector: ``(alphas, betas)`` of ``T``; see :func:`_lanczos_basis`."""
    q0 = jax.random.normal(key, (n,), dtype=dtype)
    _, alphas, betas = _lanczos_basis(hvp, q0 / jnp.linalg.norm(q0), iters)
    return alphas, betas[: iters - 1]


def _lanczos_basis(hvp: Callable[[Array], Array], q0: Array, iters: int) -> tuple[Array, Array, Array]:
    """``iters`` Lanczos steps from the unit vector ``q0``, full reorthogonalisation (Gram-Schmidt twice).

    Returns ``(Q, alphas, betas)``: the orthonormal rows ``Q[:iters]`` with
    ``Q[:iters] H Q[:iters]^T = T`` (diagonal ``alphas``, off-diagonal ``betas[:iters-1]``).
    On breakdown (the Krylov space is invariant: residual norm below ``100 eps ||T||``)
    the recursion restarts from the basis vector least covered by the current basis,
    orthogonalised against it, and records a zero off-diagonal, so ``T`` stays an
    orthogonal projection of ``H`` (its eigenvalues remain eigenvalues of ``H``).
    """
    n, dtype = q0.shape[0], q0.dtype
    eps = jnp.finfo(dtype).eps
    Q = jnp.zeros((iters + 1, n), dtype=dtype).at[0].set(q0)

    def orth(Q, w):
        w = w - Q.T @ (Q @ w)
        return w - Q.T @ (Q @ w)

    def restart(Q, w, beta):
        r = orth(Q, _basis(jnp.argmin(jnp.sum(Q * Q, axis=0)), n, dtype))
        return r / jnp.maximum(jnp.linalg.norm(r), jnp.finfo(dtype).tiny)

    def body(j, state):
        Q, alphas, betas, anorm = state
        q = Q[j]
        w = hvp(q)
        alpha = jnp.vdot(q, w)
        w = orth(Q, w)  # rows > j are still zero
        beta = jnp.linalg.norm(w)
        anorm = jnp.maximum(anorm, jnp.abs(alpha) + beta + jnp.where(j > 0, betas[jnp.maximum(j - 1, 0)], 0))
        ok = beta > 100 * eps * anorm
        q_next = jax.lax.cond(ok, lambda Q, w, b: w / b, restart, Q, w, beta)
        return Q.at[j + 1].set(q_next), alphas.at[j].set(alpha), betas.at[j].set(jnp.where(ok, beta, 0)), anorm

    state = (Q, jnp.zeros(iters, dtype), jnp.zeros(iters, dtype), jnp.zeros((), dtype))
    Q, alphas, betas, _ = jax.lax.fori_loop(0, iters, body, state)
    return Q, alphas, betas


def _tridiag_eigh(alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal ``T``, in float64."""
    a, b = np.asarray(alphas, np.float64), np.asarray(betas, np.float64)
    T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
    return np.linalg.eigh(T)


def _top_k(alphas, betas, k: int) -> np.ndarray:
    theta, _ = _tridiag_eigh(alphas, betas)
    return theta[::-1][:k].copy()


def _slq_from_nodes(alphas: np.ndarray, betas: np.ndarray, grid, sigma) -> tuple[np.ndarray, np.ndarray]:
    """Density on ``grid`` from per-probe tridiagonals ``alphas`` (P, m), ``betas`` (P, m-1)."""
    thetas, taus = [], []
    for a, b in zip(np.atleast_2d(alphas), np.atleast_2d(betas)):
        theta, U = _tridiag_eigh(a, b)
        thetas.append(theta)
        taus.append(U[0] ** 2)
    theta, tau = np.stack(thetas), np.stack(taus)
    lo, hi = float(theta.min()), float(theta.max())
    if sigma is None:
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        sigma = span / 100.0
    if grid is None:
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, 1001)
    z = (grid[None, None, :] - theta[:, :, None]) / sigma
    kernel = np.exp(-0.5 * z**2) / (sigma * np.sqrt(2 * np.pi))
    density = np.einsum("pj,pjg->g", tau, kernel) / theta.shape[0]
    return grid, density


def _check_grid_sigma(grid, sigma):
    """Validate the SLQ grid and kernel width before any work; ``None`` means automatic."""
    if sigma is not None:
        sigma = check_finite_positive(sigma, "SLQ kernel width sigma")
    if grid is not None:
        grid = np.asarray(grid, np.float64)
        require(
            grid.ndim == 1 and grid.size >= 2 and bool(np.all(np.isfinite(grid))),
            f"SLQ grid must be a 1-D array of >= 2 finite points, got shape {grid.shape}",
        )
    return grid, sigma


def _se(samples: np.ndarray) -> tuple[float, float]:
    s = np.asarray(samples, np.float64)
    return float(s.mean()), float(s.std(ddof=1) / np.sqrt(s.size))


def _symmetrise(rows) -> np.ndarray:
    h = np.asarray(rows)
    return 0.5 * (h + h.T)


# ------------------------------------------------------------------ generic public layer


def hessian_of(f: ScalarFn, flat: Array, *, chunk: int = 32) -> np.ndarray:
    """Dense Hessian of ``f`` at ``flat`` from ``n`` HVPs, ``chunk`` at a time; symmetrised."""
    flat = _check_flat(flat)
    chunk = check_positive_int(chunk, "chunk")
    return _symmetrise(jax.jit(lambda v: _hessian_rows(f, v, chunk))(flat))


def trace_of(f: ScalarFn, flat: Array, *, chunk: int = 32) -> float:
    r"""Exact :math:`\operatorname{tr} H = \sum_i e_i^\top H e_i` from chunked HVPs; O(chunk n) memory."""
    flat = _check_flat(flat)
    chunk = check_positive_int(chunk, "chunk")
    diag = jax.jit(lambda v: _diagonal(f, v, chunk))(flat)
    return float(np.sum(np.asarray(diag, np.float64)))


def hutchinson_of(f: ScalarFn, flat: Array, *, key, n_samples: int = 100, chunk: int = 16) -> tuple[float, float]:
    r"""Hutchinson estimate of :math:`\operatorname{tr} H` with Rademacher probes: ``(mean, std / sqrt(m))``.

    Probes are drawn ``chunk`` at a time, so the numbers are fixed by ``(key, chunk)``.
    """
    flat = _check_flat(flat)
    n_samples = check_positive_int(n_samples, "number of Hutchinson samples")
    require(n_samples >= 2, f"Hutchinson needs n_samples >= 2 for a standard error, got {n_samples}")
    chunk = check_positive_int(chunk, "chunk")
    samples = jax.jit(lambda v, k: _hutchinson_samples(f, v, k, n_samples, chunk))(flat, _key(key))
    return _se(samples)


def lanczos(
    hvp: Callable[[Array], Array], n: int, k: int, key, *, iters: int | None = None, dtype=None
) -> tuple[np.ndarray, np.ndarray]:
    """Lanczos tridiagonalisation of the symmetric operator ``hvp`` on ``R^n``.

    Returns the diagonal ``alphas`` (m,) and off-diagonal ``betas`` (m-1,) of ``T``
    with ``m = iters``, default ``min(n, max(2k + 10, 30))``. Full
    reorthogonalisation keeps ``Q`` orthonormal (memory ``(m + 1) n``, fine for
    ``n`` up to ~1e5). ``dtype``: the vectors' dtype, default JAX's default float.
    """
    n = check_positive_int(n, "dimension n")
    m = _lanczos_iters(n, k, iters)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    alphas, betas = jax.jit(lambda kk: _lanczos_core(hvp, n, m, kk, dtype))(_key(key))
    return np.asarray(alphas), np.asarray(betas)


def top_eigs_of(f: ScalarFn, flat: Array, *, k: int = 5, key, iters: int | None = None) -> np.ndarray:
    """The ``k`` largest (algebraic) Hessian eigenvalues by Lanczos, largest first."""
    flat = _check_flat(flat)
    alphas, betas = lanczos(hvp_fn(f, flat), flat.size, k, key, iters=iters, dtype=flat.dtype)
    return _top_k(alphas, betas, k)


def slq_of(
    f: ScalarFn, flat: Array, *, key, n_probes: int = 8, iters: int = 50, grid=None, sigma=None
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral density of the Hessian by stochastic Lanczos quadrature: ``(grid, density)``.

    ``iters`` is capped at ``n``. Default ``sigma``: 1 % of the Ritz-value range;
    default grid: 1001 points spanning the Ritz values +- 5 sigma.
    """
    flat = _check_flat(flat)
    n_probes = check_positive_int(n_probes, "number of SLQ probes")
    grid, sigma = _check_grid_sigma(grid, sigma)
    m = _lanczos_iters(flat.size, 1, iters)
    keys = jax.random.split(_key(key), n_probes)
    alphas, betas = jax.jit(
        lambda v, ks: jax.lax.map(lambda kk: _lanczos_core(hvp_fn(f, v), v.size, m, kk, v.dtype), ks)
    )(flat, keys)
    return _slq_from_nodes(np.asarray(alphas), np.asarray(betas), grid, sigma)


def saddle_free_step(
    hvp: Callable[[Array], Array],
    g: Array,
    *,
    damping,
    rank: int | None = None,
    exact: bool = False,
    chunk: int = 32,
) -> Array:
    r"""The damped saddle-free Newton step :math:`s = (|H| + \lambda I)^{-1} g`; traceable (jit, vmap, cond).

    With :math:`H = \sum_i \mu_i u_i u_i^\top`, :math:`|H| = \sum_i |\mu_i| u_i u_i^\top`, so
    :math:`|H| + \lambda I \succ 0` and :math:`g^\top s > 0`: the step descends even where
    :math:`H` is indefinite (Dauphin et al. 2014), where :math:`(H + \lambda I)^{-1} g` does not.

    * ``exact=True``: :math:`H` from ``n`` HVPs (``chunk`` at a time), symmetrised,
      ``eigh``, :math:`s = \sum_i u_i \, u_i^\top g / (|\mu_i| + \lambda)`. Memory :math:`n^2`.
    * otherwise (low rank): ``m = min(rank, n)`` Lanczos steps with full
      reorthogonalisation, :math:`Q H Q^\top = T = W \Theta W^\top`, give Ritz pairs
      :math:`(\theta_i, v_i)`, :math:`V = Q^\top W` (orthonormal columns), and

      .. math:: s = \sum_{i=1}^m v_i \frac{v_i^\top g}{|\theta_i| + \lambda} + \frac{g - V V^\top g}{\lambda},

      the complement of the Ritz space taken as zero curvature (the bulk of a
      network's Hessian). The recursion starts from :math:`Hg`, not from ``g`` or
      a random vector: :math:`s - g/\lambda = \big(f(H) - f(0)\big) g`,
      :math:`f(t) = 1/(|t| + \lambda)`, lies in :math:`\mathcal K(H, Hg) \subset
      \operatorname{range} H`, so every step is spent where the step differs from
      :math:`g/\lambda`, and the formula is exact as soon as :math:`Hg` meets at most
      ``m`` distinct eigenvalues (``m`` outliers over a zero bulk: ``m`` steps, where a
      start from ``g`` needs ``m + 1``); ``rank >= n`` gives the exact step. No key is
      needed. On a breakdown (:math:`\mathcal K(H, Hg)` invariant, so the Ritz pairs are
      exact and :math:`g - VV^\top g \in \ker H`) the later, restarted Lanczos vectors
      are dropped; :math:`Hg = 0` gives :math:`s = g/\lambda`. Cost ``m + 1`` HVPs,
      memory :math:`(m + 1) n`.

    Args:
      hvp: ``v -> H v`` for a symmetric ``H`` on :math:`\mathbb R^n` (e.g. :func:`hvp_fn`).
      g: the gradient, shape ``(n,)``, real.
      damping: :math:`\lambda > 0` (a float or a traced scalar).
      rank: Lanczos steps on the low-rank path, capped at ``n``; ignored when ``exact``.
      exact: dense eigendecomposition instead of Lanczos (a Python bool).
      chunk: HVPs evaluated together on the exact path.

    Returns:
      The step ``s`` (subtract it from the parameters), shape and dtype of ``g``.
    """
    require(g.ndim == 1 and g.shape[0] >= 1, f"g must be a non-empty 1-D array, got shape {g.shape}")
    require(jnp.issubdtype(g.dtype, jnp.floating), f"g must be real floats, got {g.dtype}")
    if isinstance(damping, (int, float, np.integer, np.floating)) and not isinstance(damping, bool):
        check_finite_positive(damping, "damping")
    n, dtype = g.shape[0], g.dtype
    lam = jnp.asarray(damping, dtype)
    if exact:
        h = _hvp_rows(hvp, n, dtype, check_positive_int(chunk, "chunk"))
        evals, evecs = jnp.linalg.eigh(0.5 * (h + h.T))
        return evecs @ ((evecs.T @ g) / (jnp.abs(evals) + lam))
    if rank is None:
        raise InputError("rank is required on the low-rank (Lanczos) path; pass rank=... or exact=True")
    m = min(check_positive_int(rank, "rank"), n)
    hg = hvp(g)
    hg_norm = jnp.linalg.norm(hg)
    Q, alphas, betas = _lanczos_basis(hvp, hg / jnp.where(hg_norm > 0, hg_norm, 1), m)
    # keep the Krylov space of Hg only: vectors after the first breakdown (a zero beta) are dropped
    keep = jnp.cumprod(jnp.concatenate([jnp.ones(1, dtype), (betas[: m - 1] != 0).astype(dtype)]))
    off = betas[: m - 1] * keep[1:]
    T = jnp.diag(alphas * keep) + jnp.diag(off, 1) + jnp.diag(off, -1)
    theta, W = jnp.linalg.eigh(T)
    V = (Q[:m] * keep[:, None]).T @ W  # Ritz vectors (orthonormal columns; zero for dropped ones)
    c = V.T @ g
    return V @ (c / (jnp.abs(theta) + lam)) + (g - V @ c) / lam


# ------------------------------------------------------------------ model layer


def loss_fn(model, params, x, y) -> tuple[ScalarFn, Array]:
    """``(f, flat)``: ``f(v)`` is the mean :func:`qunlearn.train.bce` of ``model.apply(unravel(v), x)``
    against ``y``, and ``flat`` the flattened ``params`` (so ``f(flat)`` is the loss at ``params``)."""
    _check_xy(x, y)
    require(not getattr(model, "stochastic", False),
            "this model's outputs are random (a noisy QNN); the Hessian needs a deterministic loss: drop its noise")
    flat, unravel = ravel_pytree(params)
    require(flat.size >= 1, "the model has no parameters; nothing to differentiate")

    def f(v):
        return bce(model.apply(unravel(v), x), y)

    return f, flat


@partial(jax.jit, static_argnames=("model", "chunk"))
def _model_hessian(model, params, x, y, chunk):
    f, flat = loss_fn(model, params, x, y)
    return _hessian_rows(f, flat, chunk)


@partial(jax.jit, static_argnames=("model", "chunk"))
def _model_diagonal(model, params, x, y, chunk):
    f, flat = loss_fn(model, params, x, y)
    return _diagonal(f, flat, chunk)


@partial(jax.jit, static_argnames=("model", "n_samples", "chunk"))
def _model_hutchinson(model, params, x, y, key, n_samples, chunk):
    f, flat = loss_fn(model, params, x, y)
    return _hutchinson_samples(f, flat, key, n_samples, chunk)


@partial(jax.jit, static_argnames=("model", "iters"))
def _model_lanczos(model, params, x, y, keys, iters):
    f, flat = loss_fn(model, params, x, y)
    hvp = hvp_fn(f, flat)
    return jax.lax.map(lambda k: _lanczos_core(hvp, flat.size, iters, k, flat.dtype), keys)


@partial(jax.jit, static_argnames=("model",))
def _model_loss(model, params, x, y):
    f, flat = loss_fn(model, params, x, y)
    return f(flat)


def _n(params) -> int:
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def _prepare(model, params, x, y) -> int:
    _check_xy(x, y)
    n = _n(params)
    require(n >= 1, "the model has no parameters; nothing to differentiate")
    return n


def exact_hessian(model, params, x, y, *, chunk: int = 32) -> np.ndarray:
    """Dense ``(n, n)`` Hessian of the mean loss over the flat parameters, symmetrised.

    Built from ``n`` HVPs, ``chunk`` at a time; the result takes ``n^2`` floats.
    """
    _prepare(model, params, x, y)
    chunk = check_positive_int(chunk, "chunk")
    return _symmetrise(_model_hessian(model, params, x, y, chunk))


def exact_trace(model, params, x, y, *, chunk: int = 32) -> float:
    r"""Exact :math:`\operatorname{tr} H` as :math:`\sum_i e_i^\top H e_i`: ``n`` HVPs, no ``n x n`` matrix."""
    _prepare(model, params, x, y)
    chunk = check_positive_int(chunk, "chunk")
    return float(np.sum(np.asarray(_model_diagonal(model, params, x, y, chunk), np.float64)))


def spectrum(model, params, x, y, *, chunk: int = 32) -> np.ndarray:
    """All Hessian eigenvalues, ascending (``np.linalg.eigvalsh`` of :func:`exact_hessian`, in float64)."""
    return np.linalg.eigvalsh(exact_hessian(model, params, x, y, chunk=chunk).astype(np.float64))


def hutchinson_trace(model, params, x, y, *, n_samples: int = 100, key, chunk: int = 16) -> tuple[float, float]:
    """Hutchinson trace estimate with Rademacher probes: ``(estimate, standard error)``."""
    _prepare(model, params, x, y)
    n_samples = check_positive_int(n_samples, "number of Hutchinson samples")
    require(n_samples >= 2, f"Hutchinson needs n_samples >= 2 for a standard error, got {n_samples}")
    chunk = check_positive_int(chunk, "chunk")
    return _se(_model_hutchinson(model, params, x, y, _key(key), n_samples, min(chunk, n_samples)))


def top_eigenvalues(model, params, x, y, *, k: int = 5, key, iters: int | None = None) -> np.ndarray:
    """The ``k`` largest (algebraic) Hessian eigenvalues, largest first, as Lanczos Ritz values."""
    n = _prepare(model, params, x, y)
    m = _lanczos_iters(n, k, iters)
    alphas, betas = _model_lanczos(model, params, x, y, _key(key)[None], m)
    return _top_k(np.asarray(alphas[0]), np.asarray(betas[0]), k)


def slq_density(
    model, params, x, y, *, key, n_probes: int = 8, iters: int = 50, grid=None, sigma=None
) -> tuple[np.ndarray, np.ndarray]:
    """Hessian spectral density by stochastic Lanczos quadrature: ``(grid, density)``; see :func:`slq_of`."""
    n = _prepare(model, params, x, y)
    n_probes = check_positive_int(n_probes, "number of SLQ probes")
    grid, sigma = _check_grid_sigma(grid, sigma)
    m = _lanczos_iters(n, 1, iters)
    alphas, betas = _model_lanczos(model, params, x, y, jax.random.split(_key(key), n_probes), m)
    return _slq_from_nodes(np.asarray(alphas), np.asarray(betas), grid, sigma)


def hessian_report(
    model,
    params,
    x,
    y,
    *,
    key,
    exact_max: int = 2000,
    top_k: int = 5,
    trace_exact_max: int | None = None,
    n_samples: int = 100,
    iters: int | None = None,
    chunk: int = 32,
) -> dict[str, Any]:
    """Trace and top eigenvalues of the Hessian, exactly when small, by HVP estimators when large.

    * ``n <= exact_max``: the dense Hessian (``n^2`` floats); trace = its diagonal sum
      (the same ``e_i^T H e_i`` as :func:`exact_trace`), top eigenvalues from ``eigvalsh``.
    * otherwise: top eigenvalues by Lanczos; the trace exactly by :func:`exact_trace`
      (``n`` HVPs, O(chunk n) memory) when ``n <= trace_exact_max`` (default
      ``exact_max``), else Hutchinson with ``n_samples`` probes.

    Returns ``{'n_params', 'loss', 'trace', 'trace_method' ('exact' | 'hutchinson'),
    'trace_se' (0.0 when exact), 'top_eigenvalues' (list, largest first),
    'eig_method' ('eigvalsh' | 'lanczos'), 'method' ('exact' | 'hvp')}``.
    """
    n = _prepare(model, params, x, y)
    exact_max = _check_size(exact_max, "exact_max")
    top_k = check_positive_int(top_k, "top_k")
    trace_exact_max = exact_max if trace_exact_max is None else _check_size(trace_exact_max, "trace_exact_max")
    key = _key(key)
    out: dict[str, Any] = {"n_params": n, "loss": float(_model_loss(model, params, x, y))}
    if n <= exact_max:
        H = exact_hessian(model, params, x, y, chunk=chunk)
        eigs = np.linalg.eigvalsh(H.astype(np.float64))
        out.update(
            trace=float(np.sum(np.diag(H).astype(np.float64))),
            trace_method="exact",
            trace_se=0.0,
            top_eigenvalues=[float(e) for e in eigs[::-1][: min(top_k, n)]],
            eig_method="eigvalsh",
            method="exact",
        )
        return out
    k_eig, k_tr = jax.random.split(key)
    top = top_eigenvalues(model, params, x, y, k=top_k, key=k_eig, iters=iters)
    if n <= trace_exact_max:
        trace, se, how = exact_trace(model, params, x, y, chunk=chunk), 0.0, "exact"
    else:
        trace, se = hutchinson_trace(model, params, x, y, n_samples=n_samples, key=k_tr, chunk=min(chunk, 16))
        how = "hutchinson"
    out.update(
        trace=float(trace),
        trace_method=how,
        trace_se=float(se),
        top_eigenvalues=[float(e) for e in top],
        eig_method="lanczos",
        method="hvp",
    )
    return out
