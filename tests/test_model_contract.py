"""The model contract, checked the same way for every kind of model qunlearn trains.

Each model is built by its spec at 4 qubits on a tiny random amplitude-encoded
dataset: the QNN (``paper`` and ``landscape`` ansatz), the MLP, a user's own
model object (a hand-written logistic model) and a TensorCircuit-NG circuit
through :func:`qunlearn.models.from_circuit`. Also: the model registry, and the
refusals of the user-model adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from qunlearn import backend
from qunlearn.config import ModelConfig, PoisonConfig
from qunlearn.data import Dataset
from qunlearn.errors import InputError
from qunlearn.models import UserModelSpec, from_circuit, model_kinds, register_model
from qunlearn.models.specs import MODEL_KINDS, SPECS, MLPSpec, QNNSpec, spec_from_dict, spec_to_dict
from qunlearn.train import TrainConfig, supervised_program

N_QUBITS = 4


def _tiny_dataset(n_train: int = 16, n_val: int = 8, seed: int = 0) -> Dataset:
    """Random complex unit-norm states of 4 qubits, labelled by a fixed linear rule (so a model can learn it)."""
    rng = np.random.default_rng(seed)
    d = 2**N_QUBITS
    x = rng.normal(size=(n_train + n_val, d)) + 0.3j * rng.normal(size=(n_train + n_val, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (np.real(x) @ rng.normal(size=d) > 0).astype(np.int32)
    return Dataset(name="tiny", x_train=x[:n_train], y_train=y[:n_train], x_val=x[n_train:], y_val=y[n_train:],
                   info={"source": "tests/test_model_contract.py"})


DS = _tiny_dataset()


class Logistic:
    """A user's own model, plain Python: init returns a weight vector, apply returns sigmoid(Re(x) @ w)."""

    name = "logistic"

    def __init__(self, d: int = 2**N_QUBITS):
        self.d = d

    def init(self, key):
        return 0.5 * jax.random.normal(key, (self.d,))

    def apply(self, params, x):
        return jax.nn.sigmoid(jnp.real(x) @ params)


def ry_cnot(c, params):
    """A user's circuit: per layer RY on every qubit, then a CNOT chain."""
    for layer in params:
        for i in range(N_QUBITS):
            c.ry(i, theta=layer[i])
        for i in range(N_QUBITS - 1):
            c.cnot(i, i + 1)


SPECS_UNDER_TEST = {
    "qnn-paper": QNNSpec(depth=2, ansatz="paper"),
    "qnn-landscape": QNNSpec(depth=2, ansatz="landscape"),
    "mlp": MLPSpec(hidden=(5,)),
    "user": UserModelSpec(Logistic()),
    "circuit": from_circuit(ry_cnot, (2, N_QUBITS), N_QUBITS, name="ry-cnot"),
}
ALL = pytest.mark.parametrize("spec", list(SPECS_UNDER_TEST.values()), ids=list(SPECS_UNDER_TEST))


@pytest.fixture(autouse=True)
def restore_precision():
    """Building a model puts the process in its precision; put it back to the default afterwards."""
    try:
        yield
    finally:
        backend.set_precision("complex64")


def _x(split: str, precision: str = "complex64"):
    return jnp.asarray(getattr(DS, f"x_{split}"), dtype=backend.dtypes(precision)[0])


def _flat(params) -> np.ndarray:
    return np.asarray(ravel_pytree(params)[0])


# ---------------------------------------------------------------- the contract


@ALL
def test_init_is_a_function_of_the_key(spec):
    model = spec.build(DS)
    a, b, c = (model.init(jax.random.PRNGKey(k)) for k in (1, 1, 2))
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(c)
    np.testing.assert_array_equal(_flat(a), _flat(b))
    assert not np.array_equal(_flat(a), _flat(c))
    assert _flat(a).size == spec.n_params(DS)


@ALL
def test_apply_gives_repeatable_probabilities_of_shape_batch(spec):
    model = spec.build(DS)
    assert model.stochastic is False and model.precision == "complex64"
    params = model.init(jax.random.PRNGKey(0))
    apply = jax.jit(model.apply)
    x, key = _x("val"), jax.random.PRNGKey(5)
    p = np.asarray(apply(params, x, key))
    assert p.shape == (len(DS.y_val),)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(p, np.asarray(apply(params, x, key)))
    # no key, not compiled: the same numbers (to rounding: XLA fuses the jitted program differently)
    np.testing.assert_allclose(p, np.asarray(model.apply(params, x)), rtol=0, atol=1e-6)
    assert spec.build(DS) == model and hash(spec.build(DS)) == hash(model)  # one compiled program per model


@ALL
def test_gradient_matches_central_finite_differences_in_complex128(spec):
    model = spec.build(DS, "complex128")
    assert model.precision == "complex128" and backend.precision() == "complex128"
    params = model.init(jax.random.PRNGKey(3))
    flat, unravel = ravel_pytree(params)
    assert flat.dtype == jnp.float64
    flat = flat + 0.4 * jax.random.normal(jax.random.PRNGKey(4), flat.shape, dtype=jnp.float64)  # off the init
    x = _x("train", "complex128")
    loss = jax.jit(lambda f: jnp.mean(model.apply(unravel(f), x)))
    g = np.asarray(jax.jit(jax.grad(lambda f: jnp.mean(model.apply(unravel(f), x))))(flat))
    assert np.max(np.abs(g)) > 1e-4  # not vacuous
    rng = np.random.default_rng(0)
    idx = np.unique(np.concatenate([np.argsort(-np.abs(g))[:2], rng.choice(flat.size, 3, replace=False)]))
    h = 1e-5
    fd = np.array([(float(loss(flat.at[i].add(h))) - float(loss(flat.at[i].add(-h)))) / (2 * h) for i in idx])
    np.testing.assert_allclose(g[idx], fd, rtol=1e-5, atol=1e-10)


@ALL
def test_spec_is_recorded_as_json(spec):
    d = spec_to_dict(spec)
    assert d["kind"] == spec.kind
    json.dumps(d)
    assert isinstance(spec.describe(), str) and spec.describe()
    assert spec.supports_noise is (spec.kind == "qnn")
    assert spec.pass_seconds(DS, "complex64") > 0 and spec.overhead_seconds > 0
    assert spec.training_bytes(DS, 8, 2, "complex64") is None or spec.kind == "qnn"
    spec.check_memory(DS, 8, 2, "complex64", what="test")
    if spec.kind in SPECS:  # built-in kinds come back from their record; a user model cannot
        assert spec_from_dict(d) == spec


# ---------------------------------------------------------------- user models and circuits


@pytest.mark.parametrize("name", ["user", "circuit"])
def test_user_model_trains_end_to_end(name):
    spec = SPECS_UNDER_TEST[name]
    model = spec.build(DS)
    cfg = TrainConfig(epochs=30, batch_size=8, lr=0.05, eval_every=10)
    runs = 2
    keys = jnp.stack([jax.random.PRNGKey(r) for r in range(runs)])
    x, y = (jnp.asarray(np.broadcast_to(a, (runs, *a.shape))) for a in (DS.x_train, DS.y_train))
    params, hist = supervised_program(model, cfg)(keys, x, y, y, jnp.zeros(y.shape, jnp.float32),
                                                  jnp.asarray(DS.x_val), jnp.asarray(DS.y_val))
    assert supervised_program(model, cfg) is supervised_program(spec.build(DS), cfg)  # cached per model
    loss = np.asarray(hist["train_loss"])
    assert loss.shape == (runs, 4) and np.all(np.isfinite(loss))
    assert np.all(loss[:, -1] < loss[:, 0] - 0.01), loss
    assert _flat(params).size == runs * spec.n_params(DS)


def test_user_model_configs_are_recorded_but_not_rebuilt():
    cfg = PoisonConfig(models={"mine": ModelConfig(SPECS_UNDER_TEST["user"], TrainConfig(epochs=2)),
                               "circ": ModelConfig(SPECS_UNDER_TEST["circuit"], TrainConfig(epochs=2))},
                       alphas=(0.0,), runs=1)
    record = json.loads(json.dumps(cfg.to_dict()))
    assert record["models"]["mine"]["kind"] == "user" and record["models"]["mine"]["name"] == "logistic"
    assert record["models"]["mine"]["object"].endswith("test_model_contract.Logistic")
    assert record["models"]["circ"]["record"]["circuit"].endswith("test_model_contract.ry_cnot")
    for entry in (record["models"]["mine"], {"kind": "user"}):
        with pytest.raises(InputError, match="can only be given from Python"):
            spec_from_dict({k: v for k, v in entry.items() if k != "train"})
    with pytest.raises(InputError, match="can only be given from Python"):
        PoisonConfig.from_dict(record)


def test_user_spec_equality_is_the_wrapped_objects_identity():
    a, b = Logistic(), Logistic()
    assert UserModelSpec(a) == UserModelSpec(a) and hash(UserModelSpec(a)) == hash(UserModelSpec(a))
    assert UserModelSpec(a) != UserModelSpec(b)
    assert UserModelSpec(a).build(DS) != UserModelSpec(b).build(DS)
    assert UserModelSpec(a).build(DS) != UserModelSpec(a).build(DS, "complex128")
    assert UserModelSpec(a, name="other").describe() == "other (user model)"


def test_apply_with_a_key_argument_gets_the_key():
    seen = []

    class Keyed(Logistic):
        def apply(self, params, x, key):
            seen.append(key)
            return super().apply(params, x)

    model = UserModelSpec(Keyed()).build(DS)
    k = jax.random.PRNGKey(7)
    model.apply(model.init(k), _x("val"), k)
    assert seen[-1] is k


class _Bad(Logistic):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def apply(self, params, x):
        p = super().apply(params, x)
        return {"column": p[:, None], "scalar": jnp.mean(p), "complex": p.astype(jnp.complex64)}[self.out]


@pytest.mark.parametrize("out,match", [("column", r"shape \(batch,\).*p\[:, 0\]"), ("scalar", r"shape \(batch,\)"),
                                       ("complex", "real probabilities")])
def test_wrong_output_is_refused_at_build(out, match):
    with pytest.raises(InputError, match=match) as e:
        UserModelSpec(_Bad(out)).build(DS)
    assert "\n" not in str(e.value) and "'logistic'" in str(e.value)


def test_object_without_init_and_apply_is_refused():
    with pytest.raises(InputError, match="init.*apply"):
        UserModelSpec(object())


def test_user_model_failing_on_the_data_is_refused_in_one_line():
    with pytest.raises(InputError, match="failed on a batch of dataset 'tiny'"):
        UserModelSpec(Logistic(d=7)).build(DS)  # 7 weights for 16 features


def test_circuit_on_other_qubit_count_is_refused():
    spec = from_circuit(lambda c, p: None, (3,), 3)
    with pytest.raises(InputError, match="is on 3 qubits but dataset 'tiny' has 4") as e:
        spec.build(DS)
    assert "\n" not in str(e.value)


def _ry_only(c, params):
    for i in range(N_QUBITS):
        c.ry(i, theta=params[i])


def test_circuit_readout_follows_the_qnn_convention():
    """Zero angles: sigmoid(5 <Z_last>) of the input state itself, as the paper QNN's zero-parameter output
    (its RZZ ring is diagonal: no change to any <Z>)."""
    x, probs = _x("val"), np.abs(np.asarray(DS.x_val)) ** 2
    z_last = np.sum(probs * (1 - 2 * (np.arange(16) & 1)), axis=1)  # qubit 3 is the least significant bit
    qnn = QNNSpec(depth=1, ansatz="paper").build(DS)
    for model, params in [(from_circuit(_ry_only, (4,), 4).build(DS), jnp.zeros((4,))),
                          (qnn, jnp.zeros(qnn.param_shape))]:
        np.testing.assert_allclose(np.asarray(model.apply(params, x)), 1 / (1 + np.exp(-5 * z_last)), atol=1e-6)
    first = from_circuit(_ry_only, (4,), 4, readout=0, readout_scale=1.0).build(DS)
    z_first = np.sum(probs * (1 - 2 * (np.arange(16) >> 3 & 1)), axis=1)
    np.testing.assert_allclose(np.asarray(first.apply(jnp.zeros((4,)), x)), 1 / (1 + np.exp(-z_first)), atol=1e-6)
    # a readout function: <X_0> through TensorCircuit-NG's own expectation
    import tensorcircuit as tc

    xo = from_circuit(_ry_only, (4,), 4, readout=lambda c: c.expectation_ps(x=[0]), readout_scale=1.0).build(DS)
    want = [float(np.real(tc.Circuit(4, inputs=np.asarray(s, np.complex64)).expectation_ps(x=[0]))) for s in x]
    np.testing.assert_allclose(np.asarray(xo.apply(jnp.zeros((4,)), x)), 1 / (1 + np.exp(-np.array(want))), atol=1e-6)
    with pytest.raises(InputError, match="readout"):
        from_circuit(_ry_only, (4,), 4, readout=4)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class TinyMLPSpec(MLPSpec):
    kind: ClassVar[str] = "tiny-mlp"


def test_registry_adds_refuses_duplicates_and_replaces():
    assert MODEL_KINDS == ("qnn", "mlp") and model_kinds()[:2] == ("qnn", "mlp")
    with pytest.raises(InputError, match="already registered"):
        register_model("qnn", TinyMLPSpec)
    with pytest.raises(InputError, match="reserved"):
        register_model("user", TinyMLPSpec)
    with pytest.raises(InputError, match="has kind 'tiny-mlp'"):
        register_model("other", TinyMLPSpec)
    with pytest.raises(InputError, match="dataclass"):
        register_model("other", int)
    try:
        assert register_model("tiny-mlp", TinyMLPSpec) is TinyMLPSpec
        assert "tiny-mlp" in model_kinds() and "tiny-mlp" not in MODEL_KINDS
        spec = spec_from_dict({"kind": "tiny-mlp", "hidden": [3]})
        assert spec == TinyMLPSpec((3,)) and spec_to_dict(spec) == {"kind": "tiny-mlp", "hidden": [3]}
        with pytest.raises(InputError, match="already registered"):
            register_model("tiny-mlp", dataclass(frozen=True)(type("Again", (TinyMLPSpec,), {})))
        again = dataclass(frozen=True)(type("Again", (TinyMLPSpec,), {}))
        assert register_model("tiny-mlp", again, replace=True) is again and SPECS["tiny-mlp"] is again
    finally:
        SPECS.pop("tiny-mlp", None)
    assert model_kinds() == MODEL_KINDS
    with pytest.raises(InputError, match="unknown model kind 'tiny-mlp'; use one of qnn, mlp"):
        spec_from_dict({"kind": "tiny-mlp"})
