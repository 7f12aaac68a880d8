"""Tests of qunlearn.models against independent dense NumPy computations.

The reference circuits below are built gate by gate from full 2^n x 2^n
matrices (np.kron of 2x2 gates); nothing but the model classes is imported from
qunlearn.models.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorcircuit as tc

from qunlearn import backend
from qunlearn.errors import InputError
from qunlearn.models import MLP, QNN, CircuitQNN, LandscapeQNN, n_params

# ---------------------------------------------------------------- dense reference

I2 = np.eye(2, dtype=np.complex128)
X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)
P0 = np.diag([1.0, 0.0]).astype(np.complex128)
P1 = np.diag([0.0, 1.0]).astype(np.complex128)


def on_qubit(g: np.ndarray, i: int, n: int) -> np.ndarray:
    """Full operator of the 2x2 gate ``g`` on qubit ``i`` (qubit 0 = most significant bit)."""
    return np.kron(np.kron(np.eye(2**i), g), np.eye(2 ** (n - 1 - i)))


def rx(t):
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * X


def ry(t):
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * Y


def rzz(t, i, j, n):
    zz = on_qubit(Z, i, n) @ on_qubit(Z, j, n)  # (Z_i Z_j)^2 = 1, so exp is cos/sin
    return np.cos(t / 2) * np.eye(2**n) - 1j * np.sin(t / 2) * zz


def cnot(c, t, n):
    return on_qubit(P0, c, n) + on_qubit(P1, c, n) @ on_qubit(X, t, n)


def qnn_unitary(theta: np.ndarray, n: int) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    u = np.eye(2**n, dtype=np.complex128)
    for layer in theta:
        for i in range(n):
            u = on_qubit(rx(layer[i, 0]), i, n) @ u
            u = on_qubit(ry(layer[i, 1]), i, n) @ u
            u = on_qubit(rx(layer[i, 2]), i, n) @ u
        for i in range(n):
            u = rzz(layer[i, 3], i, (i + 1) % n, n) @ u
    return u


def landscape_unitary(theta: np.ndarray, n: int) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    u = np.eye(2**n, dtype=np.complex128)
    for layer in theta:
        for i in range(n):
            u = on_qubit(rx(layer[i, 0]), i, n) @ u
        for i in range(n):
            u = on_qubit(ry(layer[i, 1]), i, n) @ u
        for i in range(n):
            u = cnot(i, (i + 1) % n, n) @ u
    return u


def expect_z_last(u: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """<x| U^dag Z_{n-1} U |x> for every row of ``x``."""
    psi = np.asarray(x, dtype=np.complex128) @ u.T  # rows: U |x>
    zl = on_qubit(Z, n - 1, n)
    return np.real(np.einsum("bi,ij,bj->b", psi.conj(), zl, psi))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def states(rng, batch, n, complex_=False):
    x = rng.normal(size=(batch, 2**n))
    if complex_:
        x = x + 1j * rng.normal(size=(batch, 2**n))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def restore_precision():
    """Models put the process in their own precision; put it back to the default afterwards."""
    try:
        yield
    finally:
        backend.set_precision("complex64")


def _apply(model, params, x):
    """``model.apply`` compiled as one program (much cheaper than op-by-op dispatch)."""
    return jax.jit(model.apply)(params, x)


def _x_in(x, precision="complex64"):
    """Inputs in ``precision`` (x64 may be off: keep dtypes explicit)."""
    ctype, rtype = backend.dtypes(precision)
    return jnp.asarray(x, dtype=ctype if np.iscomplexobj(x) else rtype)


# ---------------------------------------------------------------- QNN circuits


def _check_against_dense(model, ref, seed):
    rng = np.random.default_rng(seed)
    n = model.n_qubits
    theta = rng.normal(size=model.param_shape)
    u = ref(theta, n)
    # real and complex normalised batches, one call each
    for complex_ in (False, True):
        x = states(rng, 5, n, complex_)
        want = sigmoid(5.0 * expect_z_last(u, x, n))
        got = np.asarray(_apply(model, jnp.asarray(theta, jnp.float32), _x_in(x)))
        assert got.shape == (5,)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        assert np.ptp(want) > 0.05  # not vacuous: outputs spread across (0, 1)


@pytest.mark.parametrize("n,depth", [(3, 1), (3, 3), (4, 2)])
def test_qnn_matches_dense_simulation(n, depth):
    _check_against_dense(QNN(n, depth), qnn_unitary, 100 * n + depth)


@pytest.mark.parametrize("n,depth", [(3, 2), (4, 1), (4, 3)])
def test_landscape_qnn_matches_dense_simulation(n, depth):
    _check_against_dense(LandscapeQNN(n, depth), landscape_unitary, 7 + 100 * n + depth)


@pytest.mark.parametrize("n", [6, 7])
def test_several_fused_blocks_match_dense_simulation(n, restore_precision):
    """6 qubits: two 3-qubit blocks; 7: (4, 3). Both ansätze, complex128."""
    from qunlearn.models.qnn import blocks

    assert [len(b) for b in blocks(n)] == {6: [3, 3], 7: [4, 3]}[n]
    backend.set_precision("complex128")
    rng = np.random.default_rng(n)
    for cls, ref in [(QNN, qnn_unitary), (LandscapeQNN, landscape_unitary)]:
        model = cls(n, 2, readout_scale=1.0, precision="complex128")
        theta = rng.normal(size=model.param_shape)
        x = states(rng, 3, n, True)
        got = np.asarray(_apply(model, jnp.asarray(theta, jnp.float64), _x_in(x, "complex128")))
        np.testing.assert_allclose(got, sigmoid(expect_z_last(ref(theta, n), x, n)), atol=1e-12, rtol=0)


def test_blocks_cover_the_register_in_order():
    from qunlearn.models.qnn import BLOCK_QUBITS, blocks

    for n in range(2, 25):
        b = blocks(n)
        assert [q for g in b for q in g] == list(range(n))
        assert max(map(len, b)) <= BLOCK_QUBITS and max(map(len, b)) - min(map(len, b)) <= 1
    assert [len(g) for g in blocks(10)] == [5, 5] and [len(g) for g in blocks(12)] == [4, 4, 4]


@pytest.mark.parametrize("n,depth", [(5, 1), (6, 3)])
def test_light_cone_equals_the_whole_last_layer(n, depth, restore_precision):
    """The paper QNN applies only the readout qubit's rotation in its last layer; the
    output equals the whole layer's (RZZ ring and every rotation) to float tolerance."""
    model = QNN(n, depth, readout_scale=1.0, precision="complex128")
    backend.set_precision("complex128")
    rng = np.random.default_rng(3 + n + depth)
    params = jnp.asarray(rng.normal(size=model.param_shape), jnp.float64)
    x = _x_in(states(rng, 4, n, True), "complex128")
    full = jax.jit(lambda p, x: jax.vmap(lambda psi: CircuitQNN.last_layer_expectation(model, psi, p[-1]))(
        jax.vmap(lambda psi: jax.lax.scan(lambda s, t: (model.layer(s, t), None), psi, p[:-1])[0])(x)))(params, x)
    light = jnp.log(_apply(model, params, x) / (1 - _apply(model, params, x)))
    np.testing.assert_allclose(np.asarray(light), np.asarray(full), atol=1e-11, rtol=0)
    assert np.ptp(np.asarray(full)) > 0.01
    g_full = jax.jit(jax.grad(lambda p: jnp.sum(
        jax.vmap(lambda psi: CircuitQNN.last_layer_expectation(model, psi, p[-1]))(
        jax.vmap(lambda psi: jax.lax.scan(lambda s, t: (model.layer(s, t), None), psi, p[:-1])[0])(x)))))(params)
    g_light = jax.jit(jax.grad(lambda p: jnp.sum(jnp.log(model.apply(p, x) / (1 - model.apply(p, x))))))(params)
    np.testing.assert_allclose(np.asarray(g_light), np.asarray(g_full), atol=1e-10, rtol=0)
    # the last layer's RZZ angles and the other qubits' last rotations have no effect on the output
    assert float(jnp.max(jnp.abs(g_full[-1, :-1]))) < 1e-10 and float(jnp.max(jnp.abs(g_full[-1, :, 3]))) < 1e-10


def test_landscape_cnot_order_matters():
    """The reference CNOT ring order is really what is tested: a reversed ring differs."""
    n = 3
    rng = np.random.default_rng(3)
    theta = rng.normal(size=(1, n, 2))
    x = states(rng, 4, n)
    u = landscape_unitary(theta, n)
    u_rev = np.eye(2**n, dtype=np.complex128)
    for i in range(n):
        u_rev = on_qubit(ry(theta[0, i, 1]), i, n) @ on_qubit(rx(theta[0, i, 0]), i, n) @ u_rev
    for i in reversed(range(n)):
        u_rev = cnot(i, (i + 1) % n, n) @ u_rev
    got = np.asarray(_apply(LandscapeQNN(n, 1), jnp.asarray(theta, jnp.float32), _x_in(x)))
    want = sigmoid(5 * expect_z_last(u, x, n))
    wrong = sigmoid(5 * expect_z_last(u_rev, x, n))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.max(np.abs(got - wrong)) > 1e-2


@pytest.mark.parametrize("cls,ref", [(QNN, qnn_unitary), (LandscapeQNN, landscape_unitary)])
def test_expectation_via_unit_readout_scale(cls, ref):
    """With readout_scale=1 the logit of the output is <Z_{n-1}> itself."""
    n, depth = 4, 2
    rng = np.random.default_rng(11)
    model = cls(n, depth, readout_scale=1.0)
    theta = rng.normal(size=model.param_shape)
    x = states(rng, 6, n, complex_=True)
    p = np.asarray(_apply(model, jnp.asarray(theta, jnp.float32), _x_in(x)), dtype=np.float64)
    ez = np.log(p / (1 - p))
    np.testing.assert_allclose(ez, expect_z_last(ref(theta, n), x, n), atol=2e-5)
    assert np.all(np.abs(ez) <= 1 + 1e-5)


@pytest.mark.parametrize("cls", [QNN, LandscapeQNN])
def test_zero_parameters_read_out_the_input(cls):
    """Zero angles: the QNN is the identity, so p = sigmoid(5 <x|Z_{n-1}|x>) with Z_{n-1} = +1 on
    even and -1 on odd amplitude indices; the LandscapeQNN reduces to its CNOT rings."""
    n = 4
    rng = np.random.default_rng(5)
    model = cls(n, 2)
    x = states(rng, 6, n, complex_=True)
    # basis states too: |0...0> -> +1, |0...01> -> -1
    basis = np.zeros((2, 2**n), dtype=np.complex128)
    basis[0, 0] = 1
    basis[1, 1] = 1
    x = np.concatenate([x, basis])
    zsign = np.where(np.arange(2**n) % 2 == 0, 1.0, -1.0)
    want = sigmoid(5.0 * (np.abs(x) ** 2 @ zsign))
    if cls is QNN:
        got = np.asarray(_apply(model, jnp.zeros(model.param_shape, jnp.float32), _x_in(x)))
        np.testing.assert_allclose(got, want, atol=1e-6)
        np.testing.assert_allclose(got[-2:], sigmoid(np.array([5.0, -5.0])), atol=1e-6)
    else:
        got = np.asarray(_apply(model, jnp.zeros(model.param_shape, jnp.float32), _x_in(x)))
        u = np.eye(2**n, dtype=np.complex128)
        for _ in range(2):
            for i in range(n):
                u = cnot(i, (i + 1) % n, n) @ u
        np.testing.assert_allclose(got, sigmoid(5 * expect_z_last(u, x, n)), atol=1e-6)
        assert abs(got[-2] - sigmoid(5.0)) < 1e-6  # the CNOT ring fixes |0...0>


def test_qnn_complex128_agrees_to_machine_precision(restore_precision):
    n, depth = 4, 3
    rng = np.random.default_rng(21)
    for cls, ref in [(QNN, qnn_unitary), (LandscapeQNN, landscape_unitary)]:
        model = cls(n, depth, readout_scale=1.0, precision="complex128")
        assert model.init(jax.random.PRNGKey(0)).dtype == jnp.float64  # puts the process in complex128
        assert backend.real_dtype() == jnp.float64
        theta = rng.normal(size=model.param_shape)
        for complex_ in (False, True):
            x = states(rng, 4, n, complex_)
            p = _apply(model, jnp.asarray(theta, jnp.float64), _x_in(x, "complex128"))
            assert p.dtype == jnp.float64
            p = np.asarray(p)
            want = ref(theta, n)
            np.testing.assert_allclose(p, sigmoid(expect_z_last(want, x, n)), atol=1e-12, rtol=0)
            np.testing.assert_allclose(np.log(p / (1 - p)), expect_z_last(want, x, n), atol=1e-11)


def test_restore_precision_fixture_restores_default():
    assert backend.precision() == "complex64"
    assert backend.real_dtype() == jnp.float32
    assert QNN(3, 1).init(jax.random.PRNGKey(0)).dtype == jnp.float32


def test_qnn_gradient_matches_finite_difference_of_dense_reference():
    n, depth = 3, 2
    rng = np.random.default_rng(4)
    model = QNN(n, depth)
    theta = rng.normal(size=model.param_shape)
    x = states(rng, 3, n, complex_=True)

    def ref_loss(th):
        return float(np.mean(sigmoid(5 * expect_z_last(qnn_unitary(th, n), x, n))))

    g = np.asarray(jax.jit(jax.grad(lambda t: jnp.mean(model.apply(t, _x_in(x)))))(jnp.asarray(theta, jnp.float32)))
    h = 1e-6
    # the last layer's RZZ ring is diagonal and commutes with the Z readout, so neither it
    # nor the last layer's rotations on the other qubits can change <Z_{n-1}>: zero slope
    np.testing.assert_allclose(g[-1, :, 3], 0, atol=1e-6)
    np.testing.assert_allclose(g[-1, : n - 1, :], 0, atol=1e-6)
    for idx in [(0, 0, 0), (0, 1, 1), (1, 2, 2), (1, 2, 0), (0, 1, 3), (0, 2, 3)]:
        e = np.zeros_like(theta)
        e[idx] = h
        fd = (ref_loss(theta + e) - ref_loss(theta - e)) / (2 * h)
        assert abs(g[idx] - fd) < 1e-5, (idx, g[idx], fd)  # complex64 model vs float64 reference
        assert abs(fd) > 1e-4  # a real slope, not a flat direction


# ---------------------------------------------------------------- init


@pytest.mark.parametrize("cls,last", [(QNN, 4), (LandscapeQNN, 2)])
def test_init_shape_scale_and_determinism(cls, last):
    model = cls(4, 1000)
    p = model.init(jax.random.PRNGKey(0))
    assert p.shape == (1000, 4, last) == model.param_shape
    assert p.dtype == jnp.float32
    assert n_params(p) == 4000 * last
    np.testing.assert_array_equal(np.asarray(p), np.asarray(model.init(jax.random.PRNGKey(0))))
    assert not np.array_equal(np.asarray(p), np.asarray(model.init(jax.random.PRNGKey(1))))
    big = np.asarray(p, dtype=np.float64)
    se = 0.01 / np.sqrt(big.size)  # standard error of the mean
    assert abs(big.std() - 0.01) < 0.05 * 0.01
    assert abs(big.mean()) < 5 * se
    assert cls(3, 2).init(jax.random.PRNGKey(0)).shape == (2, 3, last)
    scaled = np.asarray(cls(4, 1000, init_std=0.5).init(jax.random.PRNGKey(0)), dtype=np.float64)
    np.testing.assert_allclose(scaled, 50 * big, rtol=1e-5)  # init_std is a pure scale


# ---------------------------------------------------------------- invalid input


def _refused(match, fn, *args, **kwargs) -> str:
    """``fn(*args, **kwargs)`` raises an InputError matching ``match`` whose message is one line."""
    with pytest.raises(InputError, match=match) as exc:
        fn(*args, **kwargs)
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("cls", [QNN, LandscapeQNN])
def test_invalid_qubits_depth_and_inputs(cls):
    # every refusal is an InputError with a one-line message
    for bad in (0, 1, -3, 2.5, "4"):
        _refused("n_qubits", cls, bad, 1)
    assert "GiB" in _refused("n_qubits", cls, 100, 1)
    _refused("memory|GiB", cls, 30, 1)
    for bad in (0, -1, 1.5):
        _refused("depth", cls, 3, bad)
    model = cls(3, 1)
    params = model.init(jax.random.PRNGKey(0))
    for shape in [(2, 7), (2, 9), (2, 16), (8,), (1, 2, 8)]:
        _refused("8", model.apply, params, jnp.ones(shape, jnp.float32))


# ---------------------------------------------------------------- precision is part of the model


def test_bad_precision_is_refused_in_one_line():
    for bad in ("complex32", "float64", "", None, "COMPLEX64"):
        for make in (lambda b: QNN(3, 1, precision=b), lambda b: LandscapeQNN(3, 1, precision=b),
                     lambda b: MLP(4, (3,), precision=b),
                     lambda b: MLP.for_inputs(np.zeros((2, 4)), hidden=(3,), precision=b)):
            msg = _refused("precision", make, bad)
            assert "complex64" in msg and "complex128" in msg


def test_backend_dtypes_is_pure():
    backend.set_precision("complex64")
    assert backend.dtypes("complex128") == (jnp.complex128, jnp.float64)
    assert backend.dtypes("complex64") == (jnp.complex64, jnp.float32)
    assert backend.precision() == "complex64"  # asking changed nothing
    _refused("precision", backend.dtypes, "complex256")


@pytest.mark.parametrize("cls", [QNN, LandscapeQNN])
@pytest.mark.parametrize("first", ["complex64", "complex128"])
def test_qnn_precision_is_a_field_and_sets_dtypes_in_either_order(cls, first, restore_precision):
    """Two QNNs differing only in precision are different cache keys and each computes in its
    own precision, whichever runs first and whatever precision the process was left in."""
    lo, hi = cls(3, 2), cls(3, 2, precision="complex128")
    assert lo.precision == "complex64"  # the default
    assert lo != hi and hash(lo) != hash(hi) and len({lo, hi, cls(3, 2)}) == 2
    assert lo == cls(3, 2, precision="complex64") and hash(lo) == hash(cls(3, 2, precision="complex64"))
    want = {"complex64": (jnp.float32, jnp.complex64), "complex128": (jnp.float64, jnp.complex128)}
    rng = np.random.default_rng(8)
    theta = rng.normal(size=lo.param_shape)
    x = states(rng, 4, 3, complex_=True)
    ref = sigmoid(5.0 * expect_z_last((qnn_unitary if cls is QNN else landscape_unitary)(theta, 3), x, 3))
    order = [lo, hi] if first == "complex64" else [hi, lo]
    for model in order + order:  # twice round: each model after the other one ran
        other = "complex128" if model.precision == "complex64" else "complex64"
        backend.set_precision(other)  # the process is left in the other precision
        rtype, ctype = want[model.precision]
        assert model.init(jax.random.PRNGKey(0)).dtype == rtype
        assert backend.precision() == model.precision  # init put the process in the model's precision
        assert (model.real_dtype, model.complex_dtype) == (rtype, ctype)
        p = _apply(model, jnp.asarray(theta, rtype), _x_in(x, model.precision))
        assert p.dtype == rtype
        th, xi = jnp.asarray(theta, rtype), _x_in(x, model.precision)
        backend.set_precision(other)
        assert model.apply(th, xi).dtype == rtype  # apply alone (not jitted) puts the process back
        assert backend.precision() == model.precision
        tol = 1e-12 if model.precision == "complex128" else 1e-5
        np.testing.assert_allclose(np.asarray(p), ref, atol=tol, rtol=0)


@pytest.mark.parametrize("first", ["complex64", "complex128"])
def test_mlp_precision_is_a_field_and_sets_dtypes_in_either_order(first, restore_precision):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(5, 4))
    lo = MLP.for_inputs(x, hidden=(3,))
    hi = MLP.for_inputs(x, hidden=(3,), precision="complex128")
    assert hi == MLP(4, (3,), precision="complex128") and lo == MLP(4, (3,))
    assert lo != hi and hash(lo) != hash(hi) and len({lo, hi, MLP(4, [3])}) == 2
    order = [lo, hi] if first == "complex64" else [hi, lo]
    for model in order + order:
        rtype = jnp.float64 if model.precision == "complex128" else jnp.float32
        backend.set_precision("complex128" if model.precision == "complex64" else "complex64")
        params = model.init(jax.random.PRNGKey(1))
        assert backend.precision() == model.precision
        assert all(p["w"].dtype == rtype and p["b"].dtype == rtype for p in params)
        params = [{"w": p["w"], "b": p["b"] + 0.1} for p in params]
        out = _apply(model, params, _x_in(x, model.precision))
        assert out.dtype == rtype
        tol = 1e-12 if model.precision == "complex128" else 1e-6
        np.testing.assert_allclose(np.asarray(out), mlp_reference(params, x), atol=tol, rtol=0)


# ---------------------------------------------------------------- a new ansatz is one small subclass


class RYOnly(CircuitQNN):
    """RY on every qubit, then CNOT(0, 1): the whole of a new ansatz."""

    angles_per_qubit = 1

    def layer(self, psi, t):
        c = tc.Circuit(self.n_qubits, inputs=psi)
        for i in range(self.n_qubits):
            c.ry(i, theta=t[i, 0])
        c.cnot(0, 1)
        return c.state()


def test_new_ansatz_is_one_small_subclass():
    n, depth = 3, 2
    model = RYOnly(n, depth)
    assert model.param_shape == (depth, n, 1) and model.name == "qnn" and model.precision == "complex64"
    assert model.init(jax.random.PRNGKey(0)).shape == (depth, n, 1)
    rng = np.random.default_rng(12)
    theta = rng.normal(size=model.param_shape)
    u = np.eye(2**n, dtype=np.complex128)
    for layer in theta:
        for i in range(n):
            u = on_qubit(ry(layer[i, 0]), i, n) @ u
        u = cnot(0, 1, n) @ u
    x = states(rng, 5, n, complex_=True)
    got = np.asarray(_apply(model, jnp.asarray(theta, jnp.float32), _x_in(x)))
    np.testing.assert_allclose(got, sigmoid(5.0 * expect_z_last(u, x, n)), atol=1e-5)
    _refused("n_qubits", RYOnly, 1, 1)
    with pytest.raises(TypeError, match="angles_per_qubit"):
        CircuitQNN(3, 1)  # the base declares no ansatz


# ---------------------------------------------------------------- MLP


def mlp_reference(params, x):
    h = np.asarray(x, dtype=np.float64)
    for layer in params[:-1]:
        h = np.maximum(h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64), 0)
    z = h @ np.asarray(params[-1]["w"], np.float64) + np.asarray(params[-1]["b"], np.float64)
    return sigmoid(z[:, 0])


def test_mlp_for_inputs_and_param_shapes():
    rng = np.random.default_rng(0)
    xr = rng.normal(size=(5, 6)).astype(np.float32)
    xc = (rng.normal(size=(5, 6)) + 1j * rng.normal(size=(5, 6))).astype(np.complex64)
    assert MLP.for_inputs(xr, hidden=(4, 3)).in_features == 6
    assert MLP.for_inputs(xc, hidden=(4, 3)).in_features == 12
    model = MLP.for_inputs(xr, hidden=(4, 3))
    params = model.init(jax.random.PRNGKey(0))
    shapes = [(layer["w"].shape, layer["b"].shape) for layer in params]
    assert shapes == [((6, 4), (4,)), ((4, 3), (3,)), ((3, 1), (1,))]
    assert n_params(params) == 6 * 4 + 4 + 4 * 3 + 3 + 3 + 1
    assert all(p["w"].dtype == jnp.float32 for p in params)
    assert MLP(in_features=2, hidden=(5,)).sizes == (2, 5, 1)


def test_mlp_outputs_match_numpy_forward():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    model = MLP.for_inputs(x, hidden=(4, 3))
    params = model.init(jax.random.PRNGKey(2))
    # non-zero biases so they are exercised too
    params = [{"w": p["w"], "b": p["b"] + 0.1 * (i + 1)} for i, p in enumerate(params)]
    out = np.asarray(_apply(model, params, jnp.asarray(x)))
    assert out.shape == (5,)
    assert np.all((out > 0) & (out < 1))
    np.testing.assert_allclose(out, mlp_reference(params, x), atol=1e-6)


def test_mlp_complex_input_is_real_imag_concatenation():
    rng = np.random.default_rng(2)
    xc = (rng.normal(size=(5, 3)) + 1j * rng.normal(size=(5, 3))).astype(np.complex64)
    model = MLP.for_inputs(xc, hidden=(4, 3))
    params = model.init(jax.random.PRNGKey(3))
    xr = np.concatenate([xc.real, xc.imag], axis=1)
    a = np.asarray(_apply(model, params, jnp.asarray(xc)))
    b = np.asarray(_apply(model, params, jnp.asarray(xr)))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, mlp_reference(params, xr), atol=1e-6)
    # a complex input of the wrong width is refused
    with pytest.raises(InputError):
        model.apply(params, jnp.asarray(xr.astype(np.complex64)))


def test_mlp_gradient_matches_finite_difference(restore_precision):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 6))
    model = MLP.for_inputs(x, hidden=(4, 3), precision="complex128")
    params = model.init(jax.random.PRNGKey(4))
    params = [{"w": p["w"], "b": p["b"] + 0.05} for p in params]
    assert params[0]["w"].dtype == jnp.float64
    xj = jnp.asarray(x, jnp.float64)
    grads = jax.jit(jax.grad(lambda p: jnp.mean(model.apply(p, xj))))(params)

    def f(p):
        return float(np.mean(mlp_reference(p, x)))

    h = 1e-6
    checked = 0
    for layer, name, idx in [(0, "w", (0, 0)), (0, "w", (4, 2)), (0, "b", (2,)), (1, "w", (3, 2)),
                             (1, "b", (0,)), (2, "w", (1, 0)), (2, "b", (0,))]:
        base = np.asarray(params[layer][name])
        plus = [dict(p) for p in params]
        minus = [dict(p) for p in params]
        plus[layer][name] = base.copy()
        minus[layer][name] = base.copy()
        plus[layer][name][idx] += h
        minus[layer][name][idx] -= h
        fd = (f(plus) - f(minus)) / (2 * h)
        g = float(np.asarray(grads[layer][name])[idx])
        assert abs(g - fd) < 1e-8, (layer, name, idx, g, fd)
        checked += abs(fd) > 1e-6
    assert checked >= 3  # not all trivially zero (dead ReLUs)


def test_mlp_glorot_init():
    model = MLP(in_features=40, hidden=(30, 10))
    params = model.init(jax.random.PRNGKey(0))
    for (fan_in, fan_out), layer in zip([(40, 30), (30, 10), (10, 1)], params):
        w = np.asarray(layer["w"])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.all(np.abs(w) <= limit)
        np.testing.assert_array_equal(np.asarray(layer["b"]), 0)
        if w.size >= 300:
            assert np.abs(w).max() > 0.9 * limit  # uniform over the full range
            assert abs(w.std() - limit / np.sqrt(3)) < 0.1 * limit
    again = model.init(jax.random.PRNGKey(0))
    other = model.init(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(params[0]["w"]), np.asarray(again[0]["w"]))
    assert not np.array_equal(np.asarray(params[0]["w"]), np.asarray(other[0]["w"]))


def test_mlp_invalid():
    for hidden in [(0,), (4, 0), (-2,)]:
        with pytest.raises(InputError, match="hidden"):
            MLP(in_features=4, hidden=hidden)
    with pytest.raises(InputError, match="hidden"):
        MLP.for_inputs(np.zeros((3, 4)), hidden=(0,))
    for bad in (0, -1, 2.5):
        with pytest.raises(InputError, match="in_features"):
            MLP(in_features=bad, hidden=(4,))
    model = MLP(in_features=6, hidden=(4, 3))
    params = model.init(jax.random.PRNGKey(0))
    for shape in [(2, 5), (6,), (2, 2, 6)]:
        with pytest.raises(InputError, match="for_inputs"):
            model.apply(params, jnp.ones(shape, jnp.float32))


# ---------------------------------------------------------------- hashing


def test_models_hashable_and_equal_by_value():
    assert QNN(4, 2) == QNN(4, 2) and hash(QNN(4, 2)) == hash(QNN(4, 2))
    assert QNN(4, 2) != QNN(4, 3) and QNN(4, 2) != QNN(4, 2, readout_scale=1.0)
    assert LandscapeQNN(4, 2) == LandscapeQNN(4, 2)
    assert hash(LandscapeQNN(4, 2)) == hash(LandscapeQNN(4, 2))
    assert MLP(8, (4, 2)) == MLP(8, [4, 2]) and hash(MLP(8, (4, 2))) == hash(MLP(8, [4, 2]))
    assert MLP(8, (4, 2)) != MLP(8, (4, 3))
    cache = {QNN(4, 2): "q", LandscapeQNN(4, 2): "l", MLP(8, [4, 2]): "m"}
    assert cache[QNN(4, 2)] == "q" and cache[LandscapeQNN(4, 2)] == "l" and cache[MLP(8, (4, 2))] == "m"
    assert len({QNN(4, 2), QNN(4, 2), MLP(8, (4, 2)), MLP(8, [4, 2])}) == 2
    with pytest.raises(Exception):
        QNN(4, 2).depth = 3
    assert QNN(4, 2).name == "qnn" and MLP().name == "mlp"
    assert QNN(4, 2) != LandscapeQNN(4, 2, name="qnn")  # same field values, different ansatz


@pytest.mark.parametrize("cls", [QNN, LandscapeQNN])
def test_qnn_is_blind_to_a_global_phase_of_its_input(cls):
    """<psi| W^dag Z W |psi> does not change under psi -> exp(i phi) psi: predictions and gradients agree."""
    model = cls(4, 2, precision="complex128")
    params = model.init(jax.random.PRNGKey(3)) + 0.7 * jax.random.normal(jax.random.PRNGKey(4), model.param_shape,
                                                                        dtype=jnp.float64)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 16)) + 1j * rng.normal(size=(6, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, size=(6, 1)))  # a different phase for every state
    y = jnp.asarray([0, 1, 0, 1, 1, 0])

    def loss(p, xs):
        from qunlearn.losses import bce

        return bce(model.apply(p, xs), y)

    p0, p1 = model.apply(params, jnp.asarray(x)), model.apply(params, jnp.asarray(x * phases))
    np.testing.assert_allclose(np.asarray(p1), np.asarray(p0), rtol=0, atol=1e-12)
    g0, g1 = jax.grad(loss)(params, jnp.asarray(x)), jax.grad(loss)(params, jnp.asarray(x * phases))
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=0, atol=1e-12)
    assert np.max(np.abs(np.asarray(g0))) > 1e-3  # the gradient is not trivially zero


def test_mlp_sees_a_global_phase():
    """The reason the gauge matters: an MLP on real and imaginary parts is not phase-blind."""
    model = MLP(32, (8,), precision="complex128")
    params = model.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(4, 16)) + 1j * rng.normal(size=(4, 16)))
    p0, p1 = model.apply(params, jnp.asarray(x)), model.apply(params, jnp.asarray(x * np.exp(1j * 1.3)))
    assert np.max(np.abs(np.asarray(p1) - np.asarray(p0))) > 1e-3
