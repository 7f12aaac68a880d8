"""Noisy QNNs: trajectories against TensorCircuit-NG's exact density-matrix simulation, shots against the
binomial law, gradients, the noiseless limit, specs, configs and refusals."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorcircuit as tc

from qunlearn import backend
from qunlearn.errors import InputError
from qunlearn.models import MLP
from qunlearn.models.qnn import QNN, LandscapeQNN
from qunlearn.models.specs import QNNSpec, spec_from_dict, spec_to_dict
from qunlearn.noise import NoiseModel, shot_expectation, standard_error

SCALE = 5.0  # the QNNs' readout scale: p = sigmoid(SCALE * <Z>)
SMALL = 0.01  # readout scale of the one-trajectory models: <Z> of a weighted (damping) trajectory can exceed 1


def _states(n, b, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, 2**n)) + 1j * rng.normal(size=(b, 2**n))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _z(p):
    """<Z> back from the output p = sigmoid(SCALE <Z>)."""
    return jnp.log(p) - jnp.log1p(-p) if isinstance(p, jax.Array) else np.log(p) - np.log1p(-p)


def _dm_expectation(cls, params, psi, noise: NoiseModel, n: int):
    """<Z_{n-1}> of the noisy circuit by exact density-matrix simulation, gate by gate with tc.DMCircuit and the
    channels of tc.channels (differentiable in ``params``)."""
    c = tc.DMCircuit(n, inputs=psi)
    for j in range(params.shape[0]):
        for i in range(n):
            a = params[j, i]
            c.rx(i, theta=a[0])
            c.ry(i, theta=a[1])
            if cls is QNN:
                c.rx(i, theta=a[2])
            if noise.p1:
                c.apply_general_kraus(tc.channels.generaldepolarizingchannel(noise.p1 / 3, 1), i)
            if noise.gamma:
                c.apply_general_kraus(tc.channels.amplitudedampingchannel(noise.gamma, 1), i)
        for i in range(n):
            if cls is QNN:
                c.rzz(i, (i + 1) % n, theta=params[j, i, 3])
            else:
                c.cnot(i, (i + 1) % n)
        if noise.p2:
            for i in range(n):
                c.apply_general_kraus(tc.channels.generaldepolarizingchannel(noise.p2 / 15, 2), i, (i + 1) % n)
    return jnp.real(c.expectation_ps(z=[n - 1]))


def _one_trajectory_model(cls, n, depth, noise):
    return cls(n_qubits=n, depth=depth, precision="complex128", readout_scale=SMALL,
               noise=NoiseModel(**{**noise.to_dict(), "trajectories": 1}))


CHANNELS = {
    "depolarizing-1q": NoiseModel(p1=0.1),
    "depolarizing-2q": NoiseModel(p2=0.2),
    "amplitude-damping": NoiseModel(gamma=0.3),
    "all": NoiseModel(p1=0.05, p2=0.1, gamma=0.1),
}


@pytest.mark.parametrize("cls", [QNN, LandscapeQNN], ids=["paper", "landscape"])
@pytest.mark.parametrize("name", list(CHANNELS))
def test_trajectory_mean_matches_the_density_matrix(cls, name):
    """Per channel and ansatz (3 and 4 qubits): the mean <Z> of 3000 trajectories lies within 4 standard errors
    of TensorCircuit-NG's exact density-matrix value, for every input state."""
    noise = CHANNELS[name]
    n, depth, k = (4, 3, 3000) if cls is QNN else (3, 3, 3000)
    model = _one_trajectory_model(cls, n, depth, noise)
    rng = np.random.default_rng(7)
    params = jnp.asarray(rng.normal(0, 1.0, model.param_shape))
    x = _states(n, 3, 1)
    one = jax.jit(jax.vmap(lambda key: _z(model.apply(params, jnp.asarray(x), key)) / SMALL))
    z = np.asarray(one(jax.random.split(jax.random.key(3), k)))  # (k, 3): one trajectory per row
    clean = cls(n_qubits=n, depth=depth, precision="complex128")
    noiseless = np.asarray(_z(clean.apply(params, jnp.asarray(x)))) / SCALE
    effect = []
    for b in range(x.shape[0]):
        exact = float(_dm_expectation(cls, params, jnp.asarray(x[b]), noise, n))
        se = standard_error(z[:, b])
        assert abs(z[:, b].mean() - exact) <= 4 * se + 1e-9, (b, z[:, b].mean(), exact, se)
        effect.append(abs(noiseless[b] - exact) / se)
    assert max(effect) > 4  # the test can tell this noise from no noise


def test_trajectory_gradient_matches_the_density_matrix_gradient():
    """The trajectory estimate is differentiable and unbiased: the mean of per-trajectory gradients agrees with
    the gradient of the exact density-matrix value (every channel on; damping draws use fixed proposals)."""
    n, depth, noise = 3, 2, NoiseModel(p1=0.05, p2=0.1, gamma=0.2)
    model = _one_trajectory_model(QNN, n, depth, noise)
    params = jnp.asarray(np.random.default_rng(0).normal(0, 1.0, model.param_shape))
    x = jnp.asarray(_states(n, 1, 2))
    grad_one = jax.jit(jax.vmap(jax.grad(lambda p, key: _z(model.apply(p, x, key))[0] / SMALL), in_axes=(None, 0)))
    g = np.asarray(grad_one(params, jax.random.split(jax.random.key(0), 4000))).reshape(4000, -1)
    exact = np.asarray(jax.grad(lambda p: _dm_expectation(QNN, p, x[0], noise, n))(params)).reshape(-1)
    se = g.std(axis=0, ddof=1) / np.sqrt(g.shape[0])
    assert np.all(np.abs(g.mean(axis=0) - exact) <= 4.5 * se + 1e-9)
    assert np.abs(exact).max() > 0.05  # a gradient worth comparing


def test_shots_have_the_binomial_mean_and_variance():
    """With N shots (no channel) the output <Z> is 2k/N - 1 with k ~ Binomial(N, (1 + <Z>)/2): its mean is the
    exact <Z> and its variance (1 - <Z>^2) / N; the gradient is that of the exact value (straight through)."""
    n, depth, shots = 4, 2, 100
    model = QNN(n_qubits=n, depth=depth, precision="complex128", noise=NoiseModel(shots=shots))
    clean = QNN(n_qubits=n, depth=depth, precision="complex128")
    params = jnp.asarray(np.random.default_rng(1).normal(0, 0.7, model.param_shape))
    x = jnp.asarray(_states(n, 3, 4))
    exact = np.asarray(_z(clean.apply(params, x))) / SCALE
    draws = np.asarray(jax.jit(jax.vmap(lambda key: _z(model.apply(params, x, key)) / SCALE))(
        jax.random.split(jax.random.key(5), 5000)))
    k = (draws + 1) * shots / 2
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)  # whole numbers of +1 outcomes
    for b in range(x.shape[0]):
        var = (1 - exact[b] ** 2) / shots
        assert abs(draws[:, b].mean() - exact[b]) <= 4 * np.sqrt(var / draws.shape[0])
        assert draws[:, b].var(ddof=1) == pytest.approx(var, rel=0.1)
    # straight-through gradient: d sigmoid(s z_hat) = sigmoid'(s z_hat) s dz_exact
    key = jax.random.key(9)
    g_shots = jax.grad(lambda p: model.apply(p, x[:1], key)[0])(params)
    g_clean = jax.grad(lambda p: clean.apply(p, x[:1])[0])(params)
    z_hat = float(_z(model.apply(params, x[:1], key))[0]) / SCALE
    dsig = lambda z: jax.nn.sigmoid(SCALE * z) * (1 - jax.nn.sigmoid(SCALE * z))  # noqa: E731
    np.testing.assert_allclose(g_shots, g_clean * dsig(z_hat) / dsig(exact[0]), rtol=1e-8, atol=1e-12)


def test_shot_expectation_in_numpy_is_binomial():
    rng = np.random.default_rng(0)
    z = np.full(20000, 0.4)
    est = shot_expectation(z, 1000, rng)
    assert est.mean() == pytest.approx(0.4, abs=4 * np.sqrt(0.84 / 1000 / 20000))
    assert est.var() == pytest.approx(0.84 / 1000, rel=0.05)


def test_readout_error_scales_the_expectation_exactly():
    """Readout error alone is deterministic: <Z> -> (1 - 2r) <Z>, no key needed."""
    n = 4
    clean = QNN(n_qubits=n, depth=2, precision="complex128")
    noisy = QNN(n_qubits=n, depth=2, precision="complex128", noise=NoiseModel(readout=0.1))
    assert not noisy.stochastic
    params = clean.init(jax.random.key(0)) * 50
    x = jnp.asarray(_states(n, 4, 0))
    np.testing.assert_allclose(_z(noisy.apply(params, x)), 0.8 * _z(clean.apply(params, x)), rtol=1e-10)


def test_a_noiseless_noise_model_is_the_noiseless_model():
    """No channel, exact readout: the model is today's, to the bit (whatever the trajectories), and needs no key."""
    n = 5
    clean = QNN(n_qubits=n, depth=3)
    for noise in (NoiseModel(), NoiseModel(trajectories=64)):
        model = QNN(n_qubits=n, depth=3, noise=noise)
        assert model == clean and model.noise is None and not model.stochastic
    params = clean.init(jax.random.key(1))
    x = jnp.asarray(_states(n, 3, 3), jnp.complex64)
    np.testing.assert_array_equal(QNN(n_qubits=n, depth=3, noise=NoiseModel()).apply(params, x, jax.random.key(2)),
                                  clean.apply(params, x))
    assert QNNSpec(6, noise={}).noise is None and "noise" not in spec_to_dict(QNNSpec(6, noise={}))


def test_noisy_outputs_are_random_but_reproducible():
    model = QNN(n_qubits=4, depth=2, noise=NoiseModel(p1=0.2, trajectories=2))
    params = model.init(jax.random.key(0)) * 30
    x = jnp.asarray(_states(4, 8, 0), jnp.complex64)
    a, b = model.apply(params, x, jax.random.key(1)), model.apply(params, x, jax.random.key(2))
    np.testing.assert_array_equal(a, model.apply(params, x, jax.random.key(1)))
    assert not np.array_equal(a, b)
    with pytest.raises(InputError, match="needs a PRNG key"):
        model.apply(params, x)


def test_mlp_takes_and_ignores_a_key():
    backend.set_precision("complex64")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 6)), jnp.float32)
    mlp = MLP.for_inputs(x, hidden=(4,))
    params = mlp.init(jax.random.key(0))
    np.testing.assert_array_equal(mlp.apply(params, x, jax.random.key(3)), mlp.apply(params, x))
    assert not mlp.stochastic


@pytest.mark.parametrize("kwargs,match", [
    ({"p1": -0.1}, r"p1 must be a probability in \[0, 1\]"),
    ({"p2": 1.5}, r"p2 must be a probability in \[0, 1\]"),
    ({"gamma": float("nan")}, r"gamma must be a probability"),
    ({"gamma": "0.1"}, r"gamma must be a probability"),
    ({"readout": 0.7}, r"readout must be a probability in \[0, 0.5\]"),
    ({"shots": 0}, r"shots must be a positive integer"),
    ({"shots": 2.5}, r"shots must be a positive integer"),
    ({"shots": True}, r"shots must be a positive integer"),
    ({"trajectories": 0}, r"trajectories must be a positive integer"),
    ({"trajectories": 10**6}, r"trajectories must be a positive integer \(at most 100,000\)"),
])
def test_bad_noise_is_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        NoiseModel(**kwargs)


def test_noise_in_specs_and_configs():
    spec = spec_from_dict({"kind": "qnn", "depth": 3, "noise": {"p1": 0.01, "trajectories": 8, "shots": 1000}})
    assert spec.noise == NoiseModel(p1=0.01, trajectories=8, shots=1000) and spec.stochastic
    assert spec_from_dict(spec_to_dict(spec)) == spec
    assert "p1 0.01" in spec.describe() and "8 trajectories" in spec.describe() and "1000 shots" in spec.describe()
    with pytest.raises(InputError, match="noise applies to QNN models only"):
        spec_from_dict({"kind": "mlp", "hidden": [4], "noise": {"p1": 0.01}})
    with pytest.raises(InputError, match="noise has no field 'p3'"):
        spec_from_dict({"kind": "qnn", "noise": {"p3": 0.01}})


def test_study_holds_noiseless_and_noisy_qnns_side_by_side(tmp_path):
    from qunlearn import study as st

    cfg = tmp_path / "s.toml"
    cfg.write_text('preset = "quick"\n[mnist.poison.models.qnn]\n[mnist.poison.models."qnn-p0.01"]\nkind = "qnn"\n'
                   'noise = {p1 = 0.01, p2 = 0.05, trajectories = 4}\n')
    s = st.resolve(None, ("mnist",), cfg)
    models = s.sections["mnist"]["poison"].models
    assert set(models) == {"qnn", "qnn-p0.01"} and models["qnn"].spec.noise is None
    assert models["qnn-p0.01"].spec.noise == NoiseModel(p1=0.01, p2=0.05, trajectories=4)
    again = tmp_path / "again.toml"
    again.write_text(st.to_toml(s.to_dict()))  # what config show prints reads back the same
    assert st.resolve(None, ("mnist",), again).to_dict() == s.to_dict()


def test_memory_check_counts_trajectories():
    class DS:
        n_qubits = 10

    one, many = QNNSpec(6), QNNSpec(6, noise={"p1": 0.01, "trajectories": 16})
    assert many.training_bytes(DS, 128, 2, "complex64") == 16 * one.training_bytes(DS, 128, 2, "complex64")
    assert many.pass_seconds(DS, "complex64") == 16 * one.pass_seconds(DS, "complex64")
    shots_only = QNNSpec(6, noise={"shots": 100, "trajectories": 16})  # no channel: one simulation per sample
    assert shots_only.training_bytes(DS, 128, 2, "complex64") == one.training_bytes(DS, 128, 2, "complex64")


def test_noisy_training_runs_and_is_reproducible():
    """A noisy QNN trains through the one training program (trajectories and shots inside the scan)."""
    from qunlearn.train import TrainConfig, train

    n = 4
    x = jnp.asarray(_states(n, 24, 0), jnp.complex64)
    y = jnp.asarray((np.arange(24) % 2).astype(np.int32))
    model = QNN(n_qubits=n, depth=2, noise=NoiseModel(p1=0.02, p2=0.05, gamma=0.02, shots=200, trajectories=4))
    cfg = TrainConfig(epochs=3, batch_size=8, lr=0.05, eval_every=3)
    p1, h1 = train(model, jax.random.key(0), x, y, cfg)
    p2, h2 = train(model, jax.random.key(0), x, y, cfg)
    np.testing.assert_array_equal(p1, p2)
    assert np.all(np.isfinite(h1["train_loss"])) and h1["train_loss"].shape == (2,)
    p3, _ = train(model, jax.random.key(1), x, y, cfg)
    assert not np.array_equal(p1, p3)


def test_reported_standard_error_matches_the_spread_of_outputs():
    """``expectation`` returns each output's standard error (trajectories and shots together): it matches the
    spread of the outputs over independent keys."""
    n = 4
    model = QNN(n_qubits=n, depth=2, precision="complex128",
                noise=NoiseModel(p1=0.1, p2=0.1, trajectories=16, shots=400))
    params = jnp.asarray(np.random.default_rng(2).normal(0, 1.0, model.param_shape))
    x = jnp.asarray(_states(n, 3, 5))
    z, se = jax.jit(jax.vmap(lambda key: model.expectation(params, x, key)))(jax.random.split(jax.random.key(0), 3000))
    np.testing.assert_allclose(np.asarray(se).mean(axis=0), np.asarray(z).std(axis=0), rtol=0.1)
    assert model.for_training() is model
    fewer = QNN(n_qubits=n, depth=2, noise=NoiseModel(p1=0.1, trajectories=16, train_trajectories=2))
    assert fewer.for_training().noise.trajectories == 2 and fewer.for_training().noise.train_trajectories is None
