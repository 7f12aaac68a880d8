"""Model specs: what a config says about a model, and the one place that turns it into a model.

A spec is a small frozen dataclass holding only its own family's fields
(``QNNSpec(depth, ansatz)``, ``MLPSpec(hidden)``) with
``build(dataset, precision) -> model``. Experiments hold
``dict[name, ModelConfig(spec, train)]`` and never ask which family a model
belongs to; everything family-specific (how to build it, how to describe it,
how much memory its training needs) is a method here. A new family is one spec
class registered with :func:`register_model` (into :data:`SPECS`) and one model
class in :mod:`qunlearn.models`; a new QNN ansatz is one entry of :data:`ANSATZES`
and one model class.

A user's own model object (anything with ``init(key)`` and ``apply(params, x)``)
or TensorCircuit-NG circuit needs no spec class: wrap it in
:class:`qunlearn.models.UserModelSpec` (kind ``"user"``) or
:func:`qunlearn.models.from_circuit` and pass it from Python. Such a spec is
recorded in a run's config (``spec_to_dict``) but cannot be rebuilt from one
(``spec_from_dict`` refuses it), so kind ``"user"`` is not in :data:`SPECS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar

from ..errors import InputError, check_positive_int


def _enter(precision: str) -> None:
    """Put the process in ``precision`` before a model's inputs are made: JAX's x64 mode is process-wide,
    and arrays made under the other mode would be cast before the model could say which it needs."""
    from .. import backend

    backend.set_precision(precision)


def _ansatzes():
    from .qnn import QNN, LandscapeQNN

    return {"paper": QNN, "landscape": LandscapeQNN}


ANSATZ_NAMES = ("paper", "landscape")  # keys of the ansatz table (model classes imported lazily)


@dataclass(frozen=True)
class QNNSpec:
    """A QNN on the dataset's qubits: ``ansatz`` ``paper`` (RX RY RX + RZZ ring) or ``landscape``
    (RX, RY + CNOT ring), ``depth`` layers, optional device ``noise`` (:class:`qunlearn.noise.NoiseModel`,
    or its fields as a dict: a TOML ``noise`` table)."""

    depth: int = 6
    ansatz: str = "paper"
    noise: Any = None
    kind: ClassVar[str] = "qnn"
    family: ClassVar[str] = "QNN"
    # its output <psi|W^dag Z W|psi> does not change when the input state is multiplied by exp(i phi)
    phase_invariant: ClassVar[bool] = True
    supports_noise: ClassVar[bool] = True  # it has a circuit the noise study can make noisy (field ``noise``)

    def __post_init__(self):
        object.__setattr__(self, "depth", check_positive_int(self.depth, "QNN depth", 1000))
        if self.ansatz not in ANSATZ_NAMES:
            raise InputError(f"unknown QNN ansatz {self.ansatz!r}; use one of {', '.join(ANSATZ_NAMES)}")
        if self.noise is not None:
            from ..noise import NoiseModel

            noise = NoiseModel.from_dict(self.noise)
            object.__setattr__(self, "noise", None if noise.exact else noise)

    @property
    def stochastic(self) -> bool:
        """Whether the model's outputs are random (noise channels or finite shots)."""
        return self.noise is not None and self.noise.stochastic

    @property
    def _copies(self) -> int:
        """State-vector simulations per sample in a training step (the noise model's training trajectories)."""
        return 1 if self.noise is None else self.noise.train_runs

    def build(self, ds, precision: str = "complex64"):
        _enter(precision)
        return _ansatzes()[self.ansatz](n_qubits=ds.n_qubits, depth=self.depth, precision=precision,
                                        noise=self.noise)

    def describe(self) -> str:
        return (f"QNN depth {self.depth}" + ("" if self.ansatz == "paper" else f" ({self.ansatz} ansatz)")
                + ("" if self.noise is None else f", noise: {self.noise.describe()}"))

    def training_bytes(self, ds, batch: int, runs: int, precision: str) -> int | None:
        """Memory of ``runs`` vmapped training runs on minibatches of ``batch`` states (times the trajectories)."""
        from ..memory import qnn_bytes

        return qnn_bytes(ds.n_qubits, batch * self._copies, runs, self.depth, 16 if precision == "complex128" else 8)

    def pass_seconds(self, ds, precision: str, evaluation: bool = False) -> float:
        """Rough seconds of one forward pass of one sample on 2 CPU cores (for time estimates only):
        2^n amplitudes x depth layers at 1.7e-8 s each (a layer of the ansatz's ``layer_cost``, 1 for the
        paper's), calibrated on the quick preset's parts and the paper preset's (benchmarks/README.md), times
        the noise model's trajectories (those of the metrics with ``evaluation``, else the steps')."""
        copies = self.noise.runs if evaluation and self.noise is not None else self._copies
        layer = getattr(_ansatzes()[self.ansatz], "layer_cost", 1.0)
        return 1.7e-8 * 2**ds.n_qubits * self.depth * layer * (2 if precision == "complex128" else 1) * copies

    overhead_seconds: ClassVar[float] = 7.0  # compiling one program (measured: 6 to 10 s on 2 cores)

    def n_params(self, ds) -> int:
        return self.depth * ds.n_qubits * _ansatzes()[self.ansatz].angles_per_qubit

    def check_memory(self, ds, batch: int, runs: int, precision: str, what: str) -> None:
        from ..memory import check_qnn_fits

        from ..memory import check_qnn_eval_fits

        itemsize = 16 if precision == "complex128" else 8
        field = "train_trajectories" if self.noise is not None and self.noise.train_trajectories else "trajectories"
        check_qnn_fits(ds.n_qubits, batch, runs, self.depth, itemsize, what=what, trajectories=self._copies,
                       field=field)
        if self.noise is not None and self.noise.runs > 1:  # the metrics: a forward pass over every sample
            check_qnn_eval_fits(ds.n_qubits, max(len(ds.y_train), len(ds.y_val)), runs, self.noise.runs, itemsize,
                                what=what)


@dataclass(frozen=True)
class MLPSpec:
    """A Dense-ReLU network with hidden widths ``hidden`` and a sigmoid output."""

    hidden: tuple[int, ...] = (64, 16)
    kind: ClassVar[str] = "mlp"
    family: ClassVar[str] = "MLP"
    phase_invariant: ClassVar[bool] = False  # it reads real and imaginary parts: a global phase is a feature
    stochastic: ClassVar[bool] = False
    supports_noise: ClassVar[bool] = False

    def __post_init__(self):
        if isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__iter__"):
            raise InputError(f"MLP hidden must be a list of widths such as [64, 16], got {self.hidden!r}")
        if len(tuple(self.hidden)) > 100:
            raise InputError(f"an MLP of {len(tuple(self.hidden))} hidden layers is more than the 100 qunlearn accepts")
        object.__setattr__(self, "hidden", tuple(check_positive_int(h, "MLP hidden width", 100_000)
                                                 for h in self.hidden))

    def build(self, ds, precision: str = "complex64"):
        from .mlp import MLP

        _enter(precision)
        return MLP.for_inputs(ds.x_train, hidden=self.hidden, precision=precision)

    def describe(self) -> str:
        return f"MLP {self.hidden}"

    def training_bytes(self, ds, batch: int, runs: int, precision: str) -> int | None:
        return None  # small next to any device: never the limit

    def n_params(self, ds) -> int:
        sizes = (int(ds.n_features) * (2 if ds.is_complex else 1), *self.hidden, 1)
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))

    def pass_seconds(self, ds, precision: str, evaluation: bool = False) -> float:
        """Rough seconds of one forward pass of one sample (time estimates only): 1.5e-11 s per weight."""
        return 1.5e-11 * self.n_params(ds) * (2 if precision == "complex128" else 1)

    def step_run_seconds(self, ds, precision: str) -> float:
        """Rough seconds of one optimiser step of one run beyond its arithmetic (time estimates only): every
        weight read and updated, 1.2e-9 s each (the XXZ MLPs, 400 epochs of three minibatches: 8192
        inputs make the first layer's weights outgrow the caches)."""
        return 1.2e-9 * self.n_params(ds) * (2 if precision == "complex128" else 1)

    overhead_seconds: ClassVar[float] = 3.0  # compiling one program (measured: about 3 s on 2 cores)

    def check_memory(self, ds, batch: int, runs: int, precision: str, what: str) -> None:
        return None


SPECS: dict[str, type] = {}
"""Model kind -> spec class: the kinds a config entry (a TOML ``[models.NAME]`` table) may name.
Filled by :func:`register_model`; read it through :func:`model_kinds` for the list of kinds."""

USER_KIND = "user"  # UserModelSpec (qunlearn.models.custom): Python-only, never in SPECS


def user_only_from_python(d: dict[str, Any] | None = None) -> str:
    """The refusal of a ``"user"`` entry in a config: ``d`` is its record (``name``, ``object``)."""
    d = d or {}
    what = " ".join(x for x in (repr(d["name"]) if d.get("name") else "",
                                f"({d['object']})" if d.get("object") else "") if x)
    return (f"the user model {what + ' ' if what else ''}(kind \"user\") can only be given from Python: pass "
            "ModelConfig(UserModelSpec(obj), train) or ModelConfig(from_circuit(...), train) in the config object; "
            "a config file or a stored run record cannot rebuild the object (to name your own model kind in a "
            "config file, write a spec class and register it with qunlearn.models.register_model)")


# what every spec must offer (see the module docstring and the uses of ``mc.spec`` in the experiments)
SPEC_INTERFACE = ("kind", "family", "phase_invariant", "stochastic", "overhead_seconds", "build", "describe",
                  "n_params", "pass_seconds", "check_memory", "training_bytes")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def register_model(kind: str, spec_cls: type, *, replace: bool = False) -> type:
    """Make ``kind`` a model kind configs may name, built by ``spec_cls``; returns ``spec_cls``.

    ``spec_cls`` is a frozen dataclass whose fields are the entry's fields, whose class attribute
    ``kind`` equals ``kind``, which offers :data:`SPEC_INTERFACE` and which can be made with no
    arguments (the template of a new config entry; :func:`spec_from_dict` of :func:`spec_to_dict`
    gives it back). A kind already registered is refused unless ``replace``; ``"user"`` is reserved
    for :class:`qunlearn.models.UserModelSpec`. Add ``supports_noise`` (True only if the spec has
    a ``noise`` field the noise study may set). Everything is checked before :data:`SPECS` changes.
    """
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InputError(f"a model kind must be a name such as \"qnn\" or \"my-net\" (a letter, then letters, "
                         f"digits, '_', '-' or '.'), got {kind!r}")
    if kind == USER_KIND:
        raise InputError(f"model kind {USER_KIND!r} is reserved for qunlearn.models.UserModelSpec (a user's own "
                         "model object); register your spec class under another kind")
    if kind in SPECS and not replace and SPECS[kind] is not spec_cls:
        raise InputError(f"model kind {kind!r} is already registered (to {SPECS[kind].__name__}); pass "
                         "replace=True to replace it, or choose another kind")
    if not isinstance(spec_cls, type) or not is_dataclass(spec_cls):
        raise InputError(f"register_model({kind!r}, ...) needs a dataclass spec class (its fields are the config "
                         f"entry's fields), got {spec_cls!r}")
    missing = [a for a in SPEC_INTERFACE if not hasattr(spec_cls, a)]
    if missing:
        raise InputError(f"spec class {spec_cls.__name__} lacks {', '.join(missing)} of the spec interface "
                         f"({', '.join(SPEC_INTERFACE)}); see QNNSpec or MLPSpec in qunlearn.models.specs")
    if spec_cls.kind != kind:
        raise InputError(f"spec class {spec_cls.__name__} has kind {spec_cls.kind!r}, not {kind!r}; set its class "
                         f"attribute kind = {kind!r} (spec_to_dict writes it, spec_from_dict reads it back)")
    SPECS[kind] = spec_cls
    return spec_cls


def model_kinds() -> tuple[str, ...]:
    """The model kinds a config entry may name now: the built-ins and every kind registered since."""
    return tuple(SPECS)


register_model("qnn", QNNSpec)
register_model("mlp", MLPSpec)
MODEL_KINDS = model_kinds()  # the built-in kinds only (fixed at import); use model_kinds() for registered ones too


def spec_fields(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(SPECS[kind]))


def spec_from_dict(d: dict[str, Any]):
    """The spec a config entry describes: ``kind`` plus that family's fields, nothing else.
    Kind ``"user"`` (a user's own model object, recorded by :func:`spec_to_dict`) is refused:
    the object cannot be rebuilt from its record."""
    kind = d.get("kind")
    if kind == USER_KIND:
        raise InputError(user_only_from_python(d))
    if kind not in SPECS:
        raise InputError(f"unknown model kind {kind!r}; use one of {', '.join(model_kinds())}")
    allowed = spec_fields(kind)
    if "noise" in d and "noise" not in allowed:
        raise InputError(f"noise applies to QNN models only: an {SPECS[kind].family} ({kind}) has no circuit to be "
                         "noisy; remove its noise table")
    extra = sorted(set(d) - set(allowed) - {"kind"})
    if extra:
        raise InputError(f"a {kind} model has no field {extra[0]!r} (its fields: {', '.join(allowed)})")
    try:
        return SPECS[kind](**{k: v for k, v in d.items() if k != "kind"})
    except TypeError as e:
        raise InputError(f"bad {kind} model entry: {e}") from None


def spec_to_dict(spec) -> dict[str, Any]:
    """The spec as a config entry; no ``noise`` key for a noiseless QNN (so its entry is as it always was).
    A spec with its own ``to_dict()`` (a user model: kind, name and the object's qualified name) gives that."""
    if callable(getattr(spec, "to_dict", None)):
        return spec.to_dict()
    d = {"kind": spec.kind, **{f.name: getattr(spec, f.name) for f in fields(spec)}}
    if d.get("noise", 0) is None:
        del d["noise"]
    elif "noise" in d:
        d["noise"] = d["noise"].to_dict()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
