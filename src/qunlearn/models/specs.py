"""Model specs: what a config says about a model, and the one place that turns it into a model.

A spec is a small frozen dataclass holding only its own family's fields
(``QNNSpec(depth, ansatz)``, ``MLPSpec(hidden)``) with
``build(dataset, precision) -> model``. Experiments hold
``dict[name, ModelConfig(spec, train)]`` and never ask which family a model
belongs to; everything family-specific (how to build it, how to describe it,
how much memory its training needs) is a method here. A new family is one spec
class registered in :data:`SPECS` and one model class in :mod:`qunlearn.models`;
a new QNN ansatz is one entry of :data:`ANSATZES` and one model class.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
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
        2^n amplitudes x depth layers at 2e-8 s each, calibrated on the paper-size MNIST and XXZ cells,
        times the noise model's trajectories (those of the metrics with ``evaluation``, else the steps')."""
        copies = self.noise.runs if evaluation and self.noise is not None else self._copies
        return 2e-8 * 2**ds.n_qubits * self.depth * (2 if precision == "complex128" else 1) * copies

    overhead_seconds: ClassVar[float] = 5.0  # compile and set-up of one cell

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

    overhead_seconds: ClassVar[float] = 2.0

    def check_memory(self, ds, batch: int, runs: int, precision: str, what: str) -> None:
        return None


SPECS: dict[str, type] = {"qnn": QNNSpec, "mlp": MLPSpec}
MODEL_KINDS = tuple(SPECS)


def spec_fields(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(SPECS[kind]))


def spec_from_dict(d: dict[str, Any]):
    """The spec a config entry describes: ``kind`` plus that family's fields, nothing else."""
    kind = d.get("kind")
    if kind not in SPECS:
        raise InputError(f"unknown model kind {kind!r}; use one of {', '.join(MODEL_KINDS)}")
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
    """The spec as a config entry; no ``noise`` key for a noiseless QNN (so its entry is as it always was)."""
    d = {"kind": spec.kind, **{f.name: getattr(spec, f.name) for f in fields(spec)}}
    if d.get("noise", 0) is None:
        del d["noise"]
    elif "noise" in d:
        d["noise"] = d["noise"].to_dict()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
