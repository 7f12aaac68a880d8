r"""Users' own models and circuits, through one adapter.

:class:`UserModelSpec` (kind ``"user"``, family ``"custom"``) wraps any object
with two pure functions over a parameter pytree::

    params = obj.init(key)      # fresh parameters (traceable: it runs under jit and vmap)
    p1 = obj.apply(params, x)   # p(y = 1 | x), real, shape (B,), values in [0, 1]

``apply(params, x, key)`` is accepted too (see :class:`UserModel` for when the
key is passed). ``apply`` must return *probabilities*, not logits: the adapter
neither clips nor squashes them (the loss clips to :math:`[10^{-7}, 1 - 10^{-7}]`,
so a logit outside [0, 1] would train with zero gradient). ``x`` is a batch of
amplitude-encoded inputs exactly as the dataset holds them (float for MNIST,
complex for XXZ). A plain Python object, a dataclass or a flax-like module whose
``init`` takes only a key (``init=lambda k: module.init(k, x0)``) all fit.

The spec's ``build(ds, precision)`` returns a :class:`UserModel`, which has the
model interface of :mod:`qunlearn.models.base`, and refuses, before any training,
an ``apply`` whose output for a batch of 3 inputs does not have shape ``(3,)``
and a real dtype (checked with ``jax.eval_shape``: no computation).

Optional methods the wrapped object may define (all have conservative defaults):

* ``check_dataset(ds)``: raise :class:`~qunlearn.errors.InputError` for a dataset it cannot take;
* ``pass_seconds(ds, precision)``: seconds of one forward pass of one sample (time estimates);
* ``to_record()``: a JSON-able dict stored with the run's config (under ``"record"``).

:func:`from_circuit` turns a TensorCircuit-NG circuit function into such an
object (a :class:`CircuitModel`) and wraps it, so a circuit is one more user
model, with no code of its own in the training or the experiments.

A user model is recorded in a run's config (``spec_to_dict``: kind, name, the
object's qualified name) but cannot be rebuilt from it: ``spec_from_dict`` refuses
kind ``"user"``, and configs holding one are made in Python, not from a file.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .. import backend
from ..errors import InputError
from .specs import USER_KIND, _enter

PROBE_BATCH = 3  # batch of the build-time shape check (not 1 or 2: unlikely to equal any other dimension)


def _qualname(obj: Any) -> str:
    """``module.QualName`` of a function or class, else of the object's class."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"


def _object_name(obj: Any) -> str:
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) and name else type(obj).__name__


def _passes_key(apply: Callable) -> bool:
    """Whether ``apply`` takes a third positional argument (the PRNG key): a named one, not ``*args``."""
    try:
        sig = inspect.signature(apply)
    except (TypeError, ValueError):
        return False
    positional = [p for p in sig.parameters.values()
                  if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


def _check_object(obj: Any) -> None:
    missing = [m for m in ("init", "apply") if not callable(getattr(obj, m, None))]
    if missing:
        raise InputError(f"a user model needs methods init(key) and apply(params, x); {_qualname(obj)} has no "
                         f"{' and no '.join(missing)}")


@dataclass(frozen=True, eq=False)
class UserModel:
    """The model interface around a user's object: ``init`` and ``apply`` call the object's, in ``precision``.

    Equal and hashed by the *identity* of the wrapped object (and ``name``, ``precision``): compiled
    programs are cached per model, and two distinct objects may compute different things however
    alike they look. ``stochastic`` is False: the metrics treat the output as exact. The training
    key is passed to ``obj.apply`` only when it takes a third named positional argument
    (``apply(params, x, key)``); ``apply(params, x)`` and ``apply(params, *args)`` get two.
    """

    obj: Any
    name: str
    precision: str = "complex64"
    passes_key: bool = field(default=False, repr=False)

    stochastic: ClassVar[bool] = False

    def __post_init__(self):
        _check_object(self.obj)
        backend.check_precision(self.precision)

    @classmethod
    def wrap(cls, obj: Any, name: str | None = None, precision: str = "complex64") -> "UserModel":
        _check_object(obj)
        return cls(obj, name or _object_name(obj), precision, _passes_key(obj.apply))

    def __eq__(self, other):
        return (type(other) is type(self) and other.obj is self.obj and other.name == self.name
                and other.precision == self.precision)

    def __hash__(self):
        return hash((type(self), id(self.obj), self.name, self.precision))

    def init(self, key: jax.Array):
        backend.set_precision(self.precision)
        return self.obj.init(key)

    def apply(self, params, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """``p(y=1|x)`` for a batch ``x``: the object's ``apply``, its output shape checked (when traced)."""
        backend.set_precision(self.precision)
        x = jnp.asarray(x)
        if self.passes_key:
            p = self.obj.apply(params, x, key)
        else:
            p = self.obj.apply(params, x)
        p = jnp.asarray(p)
        if p.shape != (x.shape[0],):
            raise InputError(f"user model {self.name!r}: apply(params, x) must return p(y=1|x) of shape (batch,) = "
                             f"({x.shape[0]},) for x of shape {tuple(x.shape)}, got shape {tuple(p.shape)}"
                             + ("; take column 0 (p[:, 0])" if p.shape == (x.shape[0], 1) else ""))
        if not jnp.issubdtype(p.dtype, jnp.floating):
            raise InputError(f"user model {self.name!r}: apply must return real probabilities in [0, 1], got dtype "
                             f"{p.dtype}" + ("; take jnp.real(...) or |.|^2 of the amplitudes"
                                             if jnp.issubdtype(p.dtype, jnp.complexfloating) else ""))
        return p


@dataclass(frozen=True, eq=False)
class UserModelSpec:
    """A user's own model object (``init(key)``, ``apply(params, x)`` returning p(y=1|x)) as a model spec.

    ``name`` defaults to the object's ``name`` attribute, else its class name. Equal and hashed by
    the identity of ``model`` (see :class:`UserModel`). No built-in noise (``supports_noise`` False),
    no memory check, time estimates from a rough constant per parameter unless the object has
    ``pass_seconds(ds, precision)``. See the module docstring for the object's optional methods.
    """

    model: Any
    name: str | None = None

    kind: ClassVar[str] = USER_KIND
    family: ClassVar[str] = "custom"
    phase_invariant: ClassVar[bool] = False  # nothing known of it: a global phase may change its output
    stochastic: ClassVar[bool] = False
    supports_noise: ClassVar[bool] = False  # no circuit qunlearn could make noisy
    overhead_seconds: ClassVar[float] = 5.0  # compile and set-up of one cell
    seconds_per_param: ClassVar[float] = 1e-10  # rough time of one forward pass of one sample, per parameter

    def __post_init__(self):
        _check_object(self.model)
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise InputError(f"a user model's name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "name", self.name or _object_name(self.model))

    def __eq__(self, other):
        return type(other) is type(self) and other.model is self.model and other.name == self.name

    def __hash__(self):
        return hash((type(self), id(self.model), self.name))

    def build(self, ds, precision: str = "complex64") -> UserModel:
        """The model on dataset ``ds``, its output shape checked on a batch of 3 inputs (no computation)."""
        check = getattr(self.model, "check_dataset", None)
        if callable(check):
            check(ds)
        _enter(precision)
        model = UserModel.wrap(self.model, self.name, precision)
        x = jax.ShapeDtypeStruct((PROBE_BATCH, int(ds.n_features)), jnp.asarray(ds.x_train[:1]).dtype)
        try:
            jax.eval_shape(lambda k, x: model.apply(model.init(k), x, k), jax.random.PRNGKey(0), x)
        except InputError:
            raise
        except Exception as e:  # the user's code failed on the dataset's inputs: say where, in one line
            raise InputError(f"user model {self.name!r} failed on a batch of dataset {ds.name!r} (x of shape "
                             f"{x.shape}, {x.dtype}): {type(e).__name__}: {e}") from e
        return model

    def describe(self) -> str:
        return f"{self.name} (user model)"

    def n_params(self, ds) -> int:
        shapes = jax.eval_shape(self.model.init, jax.random.PRNGKey(0))
        return int(sum(np.prod(leaf.shape, dtype=int) for leaf in jax.tree_util.tree_leaves(shapes)))

    def pass_seconds(self, ds, precision: str, evaluation: bool = False) -> float:
        """Rough seconds of one forward pass of one sample (time estimates only): the object's
        ``pass_seconds(ds, precision)`` if it has one, else :attr:`seconds_per_param` per parameter."""
        own = getattr(self.model, "pass_seconds", None)
        if callable(own):
            return float(own(ds, precision))
        return self.seconds_per_param * self.n_params(ds) * (2 if precision == "complex128" else 1)

    def training_bytes(self, ds, batch: int, runs: int, precision: str) -> int | None:
        return None  # unknown

    def check_memory(self, ds, batch: int, runs: int, precision: str, what: str) -> None:
        return None  # unknown: not checked

    def to_dict(self) -> dict[str, Any]:
        """The run record: kind, name, the object's qualified name (and its ``to_record()``, if any)."""
        d = {"kind": self.kind, "name": self.name, "object": _qualname(self.model)}
        record = getattr(self.model, "to_record", None)
        if callable(record):
            d["record"] = record()
        return d


# ---------------------------------------------------------------- TensorCircuit-NG circuits


@dataclass(frozen=True)
class CircuitModel:
    r"""A user's circuit as a user model object: ``fn(c, params)`` applies gates to ``c``, a
    ``tc.Circuit`` of ``n_qubits`` qubits started in the amplitude-encoded input state.

    Output, as :class:`qunlearn.models.QNN`: :math:`p(y=1|x) = \sigma(s \langle O \rangle)`, with
    :math:`s` = ``readout_scale`` and :math:`O = Z` on qubit ``readout`` (default the last,
    :math:`L-1`; qubit 0 is the most significant bit of the amplitude index) or, for a callable
    ``readout``, the real part of ``readout(c)`` (an expectation in [-1, 1]). Parameters: one array
    of shape ``param_shape``, :math:`\mathcal N(0, \text{init\_scale}^2)`. The batch is
    ``jax.vmap``-ed over single-state circuits; dtypes are those of the process precision, which
    :class:`UserModel` sets to the model's before calling ``init`` or ``apply``.
    """

    fn: Callable
    param_shape: tuple[int, ...]
    n_qubits: int
    name: str = "circuit"
    init_scale: float = 0.01
    readout: int | Callable | None = None
    readout_scale: float = 5.0

    def __post_init__(self):
        from .qnn import MAX_QUBITS

        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"from_circuit: name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise InputError(f"from_circuit needs a function fn(c, params) that applies gates, got {self.fn!r}")
        n = self.n_qubits
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_QUBITS:
            raise InputError(f"from_circuit: n_qubits must be an integer in [1, {MAX_QUBITS}], got {n!r}")
        object.__setattr__(self, "n_qubits", int(n))
        shape = (self.param_shape,) if isinstance(self.param_shape, (int, np.integer)) else self.param_shape
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise InputError(f"from_circuit: param_shape must be a tuple of sizes such as (3, 4), "
                             f"got {self.param_shape!r}") from None
        if any(s < 0 for s in shape):
            raise InputError(f"from_circuit: param_shape must hold non-negative sizes, got {self.param_shape!r}")
        object.__setattr__(self, "param_shape", shape)
        scale = float(self.init_scale)
        if not np.isfinite(scale) or scale < 0:
            raise InputError(f"from_circuit: init_scale must be a finite number >= 0, got {self.init_scale!r}")
        object.__setattr__(self, "init_scale", scale)
        if not np.isfinite(float(self.readout_scale)):
            raise InputError(f"from_circuit: readout_scale must be finite, got {self.readout_scale!r}")
        object.__setattr__(self, "readout_scale", float(self.readout_scale))
        r = self.readout
        if r is None:
            object.__setattr__(self, "readout", self.n_qubits - 1)
        elif not callable(r) and (isinstance(r, bool) or not isinstance(r, (int, np.integer))
                                  or not 0 <= r < self.n_qubits):
            raise InputError(f"from_circuit: readout must be a qubit in [0, {self.n_qubits - 1}] (Z measured there) "
                             f"or a function readout(c) -> <O>, got {r!r}")
        elif not callable(r):
            object.__setattr__(self, "readout", int(r))

    def check_dataset(self, ds) -> None:
        if ds.n_qubits != self.n_qubits:
            raise InputError(f"circuit model {self.name!r} is on {self.n_qubits} qubits but dataset {ds.name!r} has "
                             f"{ds.n_qubits} ({ds.n_features} amplitudes); make the circuit for {ds.n_qubits} qubits")

    def init(self, key: jax.Array) -> jax.Array:
        return self.init_scale * jax.random.normal(key, self.param_shape, dtype=backend.real_dtype())

    def expectation(self, params: jax.Array, x: jax.Array) -> jax.Array:
        """``<O>`` of every state of the batch ``x`` after the circuit."""
        import tensorcircuit as tc

        from .qnn import _expect_z

        n, (ctype, rtype) = self.n_qubits, backend.dtypes(backend.precision())
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[1] != 2**n:
            raise InputError(f"circuit model {self.name!r} on {n} qubits expects inputs of shape (batch, {2**n}), "
                             f"got {tuple(x.shape)}; amplitude-encode the data to 2**n_qubits features")

        def single(psi):
            c = tc.Circuit(n, inputs=psi)
            out = self.fn(c, params)
            c = out if isinstance(out, tc.Circuit) else c
            if callable(self.readout):
                return jnp.real(self.readout(c)).astype(rtype)
            return _expect_z(c.state(), n, self.readout, rtype)

        return jax.vmap(single)(x.astype(ctype))

    def apply(self, params: jax.Array, x: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(self.readout_scale * self.expectation(params, x))

    def pass_seconds(self, ds, precision: str) -> float:
        """Rough seconds per sample and forward pass (time estimates only): the QNN's 2e-8 s per 2^n
        amplitudes and layer, counting every ``n_qubits`` parameters as a layer (a gate per parameter,
        unfused: about 4 times the QNN's time per angle)."""
        gates = max(1, int(np.prod(self.param_shape, dtype=int)))
        return 2e-8 * 2**self.n_qubits * gates / self.n_qubits * (2 if precision == "complex128" else 1)

    def to_record(self) -> dict[str, Any]:
        return {"circuit": _qualname(self.fn), "param_shape": list(self.param_shape), "n_qubits": self.n_qubits,
                "init_scale": self.init_scale, "readout_scale": self.readout_scale,
                "readout": _qualname(self.readout) if callable(self.readout) else self.readout}


def from_circuit(fn: Callable, param_shape, n_qubits: int, *, name: str = "circuit", init_scale: float = 0.01,
                 readout: int | Callable | None = None, readout_scale: float = 5.0) -> UserModelSpec:
    """A model spec from a TensorCircuit-NG circuit: ``fn(c, params)`` applies gates to ``c``, a
    ``tc.Circuit`` on ``n_qubits`` qubits holding the amplitude-encoded input (it may return ``c``).

    ``params`` has shape ``param_shape``, initialised :math:`\\mathcal N(0, \\text{init\\_scale}^2)`
    (0.01 as the QNN's). Readout as the QNN's by default: ``sigmoid(readout_scale * <Z_{n-1}>)``;
    ``readout`` may name another qubit, or be a function ``readout(c) -> <O>``. The result is a
    :class:`UserModelSpec` of a :class:`CircuitModel`: jit-able, differentiable, vmapped over
    the batch; its ``build`` refuses a dataset on another number of qubits.
    """
    return UserModelSpec(CircuitModel(fn, param_shape, n_qubits, name=name, init_scale=init_scale, readout=readout,
                                      readout_scale=readout_scale), name=name)
