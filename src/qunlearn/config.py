"""Frozen, validated configs of every experiment, and the named presets.

Everything the paper fixes is a default here, never a hard-coded limit. Each config is a pydantic schema
(:class:`qunlearn.schema.Schema`): its fields are typed and constrained where they are declared, it is
validated on construction (before anything is written) and every refusal is one line naming the field. It
turns into a plain dict (``to_dict``, stored with every run and printed by ``qunlearn config show``) and
back (``from_dict``), so a run directory always says exactly what produced it. Models are
``dict[name, ModelConfig]`` in every experiment; a :class:`ModelConfig` pairs a model spec
(:mod:`qunlearn.models.specs`) with its training schedule and, for unlearning, its unlearning schedule.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from .errors import InputError
from .models.specs import MODEL_KINDS, spec_from_dict, spec_to_dict
from .runs import ALPHA_DECIMALS, WEIGHT_DECIMALS, check_distinct_at, check_names
from .schedule import TrainConfig
from .schema import Alpha, Choices, Count, Grid, NonNegative, Precision, Schema, Seed
from .vocab import ATTACKS

DATASET_NAMES = ("mnist", "xxz")
PRESETS = ("paper", "quick")
ALPHA_GRID = tuple(round(0.1 * i, 10) for i in range(10))
MAX_RUNS = 1000  # runs per cell
MAX_GRID = 1000  # values in a grid (noise ratios, weights, seeds)
MAX_PERPLEXITY = 1000

__all__ = ["DATASET_NAMES", "MODEL_KINDS", "PRESETS", "ModelConfig", "PoisonConfig", "UnlearnConfig",
           "SweepConfig", "LandscapeConfig", "EmbedConfig", "NoiseConfig", "preset_configs"]


class ModelConfig(Schema):
    """A model spec, its training schedule and (for unlearning) its unlearning schedule. As a table: the spec's
    fields (``kind``, ``depth``, ...) beside ``train`` and ``unlearn``."""

    spec: Any
    train: TrainConfig
    unlearn: TrainConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _split(cls, d: Any) -> Any:
        if not isinstance(d, dict) or "spec" in d:
            return d
        if "train" not in d:
            raise InputError("a model entry needs a [train] table (epochs, batch_size, lr, eval_every)")
        rest = {k: v for k, v in d.items() if k not in ("train", "unlearn")}
        return {"spec": spec_from_dict(rest), **{k: d[k] for k in ("train", "unlearn") if k in d}}

    def describe(self) -> str:
        return self.spec.describe()

    def to_dict(self) -> dict[str, Any]:
        d = {**spec_to_dict(self.spec), "train": self.train.to_dict()}
        if self.unlearn is not None:
            d["unlearn"] = self.unlearn.to_dict()
        return d


def _some_models(models: Any) -> Any:
    if not isinstance(models, dict) or not models:
        raise InputError("no model selected; name at least one model (e.g. --model qnn,mlp)")
    models = {str(k): v for k, v in models.items()}
    check_names(models)  # each model's cells have files of their own
    return models


def _distinct_at(decimals: int, what: str):
    """A grid's check that no two values key the same cell (equal at ``decimals`` decimals)."""
    def check(values: tuple) -> tuple:
        check_distinct_at(values, decimals, what)
        return values

    return AfterValidator(check)


def _largest(precision: str) -> float:
    """The largest finite real number of a precision's real dtype (float32 for complex64)."""
    import numpy as np

    return float(np.finfo(np.float64 if precision == "complex128" else np.float32).max)


def _real_dtype(precision: str):
    import numpy as np

    return np.float64 if precision == "complex128" else np.float32


def _rounds_to_zero(value: float, precision: str) -> bool:
    return value != 0 and _real_dtype(precision)(value) == 0


def _smallest(precision: str) -> float:
    import numpy as np

    return float(np.finfo(_real_dtype(precision)).smallest_subnormal)


def _tiny(precision: str) -> float:
    import numpy as np

    return float(np.finfo(_real_dtype(precision)).tiny)


def _subnormal(value: float, precision: str) -> bool:
    """Whether ``value`` is a subnormal number of the precision: XLA on CPU flushes those (and products with them)
    to 0, so a learning rate there would silently train nothing."""
    return 0 < abs(value) < _tiny(precision)


def is_dataset(dataset: Any) -> bool:
    """A built-in dataset name, a registered one (``qunlearn.data.register_dataset``) or a path to a .npz file."""
    if dataset in DATASET_NAMES:
        return True
    if not isinstance(dataset, str) or not dataset:
        return False
    from . import data

    return dataset in data.names() or data.is_npz_path(dataset)  # exactly as registered (MNIST is not mnist)


def _check_dataset(dataset: Any) -> str:
    if not is_dataset(dataset):
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}, a dataset registered "
                         "with qunlearn.data.register_dataset, or a path to a .npz file", path="dataset")
    return dataset


def _unnamed(check):
    """``check`` inside a field validator: the field's own path is added by the schema, not by the check."""
    def run(value: Any) -> Any:
        try:
            return check(value)
        except InputError as e:
            raise InputError(str(e)) from None
    return run


def _attacks() -> tuple[str, ...]:
    return ATTACKS


def _methods() -> tuple[str, ...]:
    from .vocab import method_names

    return method_names()


Dataset = Annotated[str, BeforeValidator(_unnamed(_check_dataset))]
Models = Annotated[dict[str, ModelConfig], BeforeValidator(_some_models)]
def _plain_options(options: Any) -> Any:
    """Data options are plain values (strings, numbers, booleans and lists of them): what a run records."""
    if not isinstance(options, dict):
        raise InputError(f"must be a table such as {{n_per_class = 250}}, got {options!r}")

    def plain(v):
        return isinstance(v, (str, int, float, bool)) or (isinstance(v, (list, tuple)) and all(plain(x) for x in v))

    for k, v in options.items():
        if not plain(v):
            raise InputError(f"{k} = {v!r} is a {type(v).__name__}, not a value qunlearn takes; use a number, "
                             "a string or a list of them", path=str(k))
    return dict(options)


DataOptions = Annotated[dict, BeforeValidator(_plain_options)]
Attacks = Choices(_attacks, "attack")
Alphas = Annotated[Grid(Alpha, MAX_GRID), _distinct_at(ALPHA_DECIMALS, "noise ratio")]


class _Experiment(Schema):
    """The checks every experiment config shares: its numbers must be finite in its precision."""

    @model_validator(mode="after")
    def _finite_in_precision(self):
        precision = getattr(self, "precision", None)
        if precision is None:
            return self
        big = _largest(precision)
        for name, mc in getattr(self, "models", {}).items():
            for what, t in (("learning rate", mc.train), ("unlearning learning rate", mc.unlearn)):
                if t is not None and t.lr > big:
                    raise InputError(f"model {name!r}: {what} {t.lr!r} is not finite in {precision} "
                                     f"(largest {big:.3g}); use a value such as 0.01")
                if t is not None and _rounds_to_zero(t.lr, precision):
                    raise InputError(f"model {name!r}: {what} {t.lr!r} rounds to 0 in {precision} (its smallest "
                                     f"positive number is {_smallest(precision):.3g}); use a value such as 0.01")
                if t is not None and _subnormal(t.lr, precision):
                    raise InputError(f"model {name!r}: {what} {t.lr!r} is subnormal in {precision} (below "
                                     f"{_tiny(precision):.3g}) and XLA flushes it to 0, so nothing would be learned; "
                                     "use a value such as 0.01")
        for method, w in getattr(self, "weights", {}).items():
            for k, v in w.items():
                if isinstance(v, (int, float)) and abs(v) > big:
                    raise InputError(f"weight {k} of {method!r} = {v!r} is not finite in {precision} "
                                     f"(largest {big:.3g})")
        return self


class PoisonConfig(_Experiment):
    """The noise-ratio sweep: every (model, attack, alpha) cell, ``runs`` runs each."""

    dataset: Dataset = "mnist"
    data_options: DataOptions = Field(default_factory=dict)
    models: Models = Field(default_factory=dict)
    attacks: Attacks = ATTACKS
    alphas: Alphas = ALPHA_GRID
    runs: Count(MAX_RUNS) = 5
    seed: Seed = 0
    precision: Precision = "complex64"


def _forgets(alpha: float) -> float:
    if alpha <= 0:
        raise InputError("unlearning needs poisoned samples to forget: alpha must be > 0, e.g. --alpha 0.3")
    return alpha


def _one_attack(attack: Any) -> str:
    return Attacks.__metadata__[0].func((attack,))[0]


def _shot(n: Any) -> int:
    from .noise import MAX_SHOTS, check_count

    return check_count(n, "shots", MAX_SHOTS)


def _can_unlearn(models: dict) -> dict:
    """``models``, each with an unlearning schedule (the experiments that unlearn refuse a model without one)."""
    for name, mc in models.items():
        if mc.unlearn is None:
            raise InputError(f"model {name!r} has no unlearning schedule; give it an [unlearn] table")
    return models


class UnlearnConfig(_Experiment):
    """Poison at one alpha, train the model to unlearn, run every method for every run."""

    dataset: Dataset = "mnist"
    data_options: DataOptions = Field(default_factory=dict)
    models: Models = Field(default_factory=dict)  # each with an unlearning schedule
    attack: Annotated[str, BeforeValidator(_one_attack)] = "label-flip"
    alpha: Annotated[Alpha, AfterValidator(_forgets)] = 0.3
    methods: Choices(_methods, "unlearning method") = ("retrain", "finetune", "scrub", "gradient_ascent")
    weights: dict[str, dict] = Field(default_factory=dict)  # method -> {weight: value}
    runs: Count(MAX_RUNS) = 5
    seed: Seed = 0
    precision: Precision = "complex64"
    shots: Grid(Annotated[int, BeforeValidator(_shot)], MAX_GRID, least=0) = ()  # finite-shot MIA, poison memory

    @field_validator("models")
    @classmethod
    def _can_unlearn(cls, models: dict) -> dict:
        return _can_unlearn(models)

    @model_validator(mode="after")
    def _weights_of_methods(self):
        from .vocab import resolve_weights

        for m, w in self.weights.items():
            try:
                resolve_weights(m, w)  # refuses unknown methods, unknown weights and bad values
            except InputError as e:
                raise e.within(f"weights.{m}") from None
            if m not in self.methods:
                raise InputError(f"a weight is given for {m!r}, which this run does not run (methods: "
                                 f"{', '.join(self.methods)}); drop the weight or add the method")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not d["shots"]:
            del d["shots"]  # no finite-shot metrics: the record is as it always was
        return d


SWEEPS = {"scrub": ("kl_w", "fo_w"), "gradient_ascent": ("fo_w",)}  # method -> the weights it sweeps
WEIGHT_GRID = ALPHA_GRID


def _swept(method: Any) -> str:
    if method not in SWEEPS:
        raise InputError(f"no weight sweep for {method!r}; use one of {', '.join(SWEEPS)}")
    return method


class SweepConfig(Schema):
    """A weight sweep of one method over ``grid`` (x ``grid`` for SCRUB), from the models to unlearn
    of ``unlearn`` (the same models, trained once, as the unlearning experiment's)."""

    unlearn: UnlearnConfig
    method: Annotated[str, BeforeValidator(_swept)] = "scrub"
    grid: Annotated[Grid(NonNegative, MAX_GRID), _distinct_at(WEIGHT_DECIMALS, "weight")] = WEIGHT_GRID

    @model_validator(mode="after")
    def _one_method(self):
        big = _largest(self.unlearn.precision)
        if any(v > big for v in self.grid):
            raise InputError(f"a weight grid value is not finite in {self.unlearn.precision} (largest {big:.3g}); "
                             "use weights such as 0,0.5,1")
        if self.unlearn.methods != (self.method,):  # the unlearning config of this method alone
            weights = {m: w for m, w in self.unlearn.weights.items() if m == self.method}
            object.__setattr__(self, "unlearn", self.unlearn.replace(methods=(self.method,), weights=weights))
        return self

    dataset = property(lambda self: self.unlearn.dataset)
    data_options = property(lambda self: self.unlearn.data_options)
    models = property(lambda self: self.unlearn.models)
    runs = property(lambda self: self.unlearn.runs)
    precision = property(lambda self: self.unlearn.precision)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unlearn.to_dict(), "sweep": {"method": self.method, "grid": list(self.grid)}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepConfig":
        d = dict(d)
        sweep = d.pop("sweep")
        return cls(UnlearnConfig.from_dict(d), sweep["method"], tuple(sweep["grid"]))


def _noisy_only(alphas: tuple[float, ...]) -> tuple[float, ...]:
    if any(a == 0 for a in alphas):
        raise InputError("alpha 0 is the clean reference, always trained; list only noisy alphas (> 0)")
    return alphas


class LandscapeConfig(_Experiment):
    """The loss-landscape study: clean and noisy models per seed, Hessian trace on held-out points."""

    dataset: Dataset = "mnist"
    data_options: DataOptions = Field(default_factory=dict)
    models: Models = Field(default_factory=dict)
    alphas: Annotated[Alphas, AfterValidator(_noisy_only)] = (0.2, 0.3, 0.4)
    seeds: Grid(Seed, MAX_GRID) = (0, 42, 123, 1024, 2048)
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3
    n_hessian: Count(10**9) = 100
    exact_max: Count(10**9) = 20000  # exact trace (n Hessian-vector products) up to this many parameters
    eig_exact_max: Count(10**9) = 2000  # full spectrum by eigendecomposition up to this many parameters
    top_k: Count(10**9) = 5
    precision: Precision = "complex64"

    @field_validator("models")
    @classmethod
    def _deterministic(cls, models: dict) -> dict:
        for name, mc in models.items():
            if getattr(mc.spec, "stochastic", False):
                raise InputError(f"model {name!r}: the landscape study differentiates a fixed loss twice, and this "
                                 f"QNN's outputs are random ({mc.spec.noise.describe()}); remove its noise table "
                                 "(readout error alone is allowed)")
        return models

    def check_data(self, ds) -> None:
        """Refuse, before any work, a Hessian over more held-out points than the split leaves."""
        import math

        held_out = math.ceil(len(ds.y_train) * self.test_size)
        if self.n_hessian > held_out:
            raise InputError(f"n_hessian = {self.n_hessian} is more than the {held_out} held-out points of the "
                             f"{len(ds.y_train)}-sample training set (test_size {self.test_size}); use --n-hessian "
                             f"{min(100, held_out)} or fewer")


class EmbedConfig(_Experiment):
    """t-SNE panels of the training set: clean and poisoned by each attack at ``alpha``."""

    dataset: Dataset = "mnist"
    data_options: DataOptions = Field(default_factory=dict)
    attacks: Attacks = ATTACKS
    alpha: Alpha = 0.3
    seed: Seed = 0
    # t-SNE caps it at (n - 1) / 3 for the data at hand; beyond MAX_PERPLEXITY it is a typo (typical: 5 to 50)
    perplexity: Annotated[float, Field(gt=0, le=MAX_PERPLEXITY, allow_inf_nan=False)] = 30.0


class NoiseConfig(Schema):
    """The study under device noise: an alpha sweep (``poison``) and an unlearning comparison (``unlearn``) whose
    models include QNNs with a ``noise`` table (:mod:`qunlearn.noise`); the unlearning's ``shots`` add
    finite-shot membership inference and poison memory."""

    poison: PoisonConfig
    unlearn: UnlearnConfig

    @model_validator(mode="after")
    def _noisy(self):
        if self.poison.dataset != self.unlearn.dataset:
            raise InputError(f"noise: the sweep's dataset {self.poison.dataset!r} and the unlearning's "
                             f"{self.unlearn.dataset!r} differ; use one dataset")
        if not any(getattr(mc.spec, "noise", None) is not None
                   for mc in (*self.poison.models.values(), *self.unlearn.models.values())):
            raise InputError("the noise part has no noisy model; give a QNN a noise table such as "
                             "noise = {p2 = 0.01, trajectories = 64}")
        if not self.unlearn.shots:
            raise InputError("the noise part's unlearning reports what a device measures: give its shots, "
                             "such as shots = [100, 1000, 10000]")
        return self

    @property
    def dataset(self) -> str:
        return self.poison.dataset


GAUGES = {"random": "fixed", "fixed": "random"}  # an XXZ gauge -> the other one


class GaugeConfig(Schema):
    """The reference alpha sweep (XXZ); the gauge study reruns its phase-sensitive models in the other gauge."""

    reference: PoisonConfig

    @model_validator(mode="after")
    def _xxz_with_an_mlp(self):
        if self.reference.dataset != "xxz":
            raise InputError("the gauge study is about the global phase of XXZ states, "
                             f"not {self.reference.dataset!r}; remove 'gauge' from the parts of this dataset")
        if self.phase not in GAUGES:
            raise InputError(f"unknown XXZ phase {self.phase!r}; use one of {', '.join(GAUGES)} "
                             "(the global phase of each state)")
        if not any(not mc.spec.phase_invariant for mc in self.reference.models.values()):
            raise InputError("the gauge study needs a model that can see a global phase (an MLP) in the alpha sweep")
        return self

    dataset = property(lambda self: self.reference.dataset)
    data_options = property(lambda self: self.other().data_options)  # those of the sweep it runs
    models = property(lambda self: self.other().models)
    runs = property(lambda self: self.other().runs)
    precision = property(lambda self: self.other().precision)

    @property
    def phase(self) -> str:
        return self.reference.data_options.get("phase", "fixed")

    def other(self) -> PoisonConfig:
        """The sweep this study runs: the phase-sensitive models, every state in the other gauge."""
        ref = self.reference
        return ref.replace(models={n: m for n, m in ref.models.items() if not m.spec.phase_invariant},
                           data_options={**ref.data_options, "phase": GAUGES[self.phase]})

    def to_dict(self) -> dict[str, Any]:
        return {"reference_phase": self.phase, **self.other().to_dict()}


# ------------------------------------------------------------------ presets
# The presets are TOML files shipped in the package (qunlearn/presets/paper.toml, quick.toml): the paper's
# settings (docs/PROTOCOL.md, "Training settings") and the quick sizes; see :mod:`qunlearn.study`.


def preset_configs(preset: str, dataset: str) -> dict[str, Any]:
    """Every experiment's typed config of a named preset for one dataset (read from the preset's TOML file).

    Returns the configs by experiment (``"poison"``, ``"unlearn"``, ``"noise"``, ``"landscape"``,
    ``"embed"``, ...) and ``"sweeps"`` as its table (``{"methods": [...], "grid": [...]}``).
    """
    from .study import Study, preset_for

    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    _check_dataset(dataset)
    tree = preset_for(preset, (dataset,))
    section = Study(tree).sections[dataset]
    return {**{k: v for k, v in section.items() if k not in ("parts", "sweeps")}, "sweeps": tree[dataset]["sweeps"]}
