"""Frozen, validated configs of every experiment, and the named presets.

Everything the paper fixes is a default here, never a hard-coded limit. Each
config validates itself on construction (before anything is written), turns
into a plain dict (``to_dict``, stored with every run and printed by ``qunlearn
config show``) and back (``from_dict``), so a run directory always says exactly
what produced it. Models are ``dict[name, ModelConfig]`` in every experiment;
a :class:`ModelConfig` pairs a model spec (:mod:`qunlearn.models.specs`) with
its training schedule and, for unlearning, its unlearning schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import (
    InputError,
    check_alpha,
    check_choices,
    check_finite_positive,
    check_nonnegative,
    check_positive_int,
    check_precision,
    check_seed,
)
from .models.specs import MODEL_KINDS, spec_from_dict, spec_to_dict
from .schedule import TrainConfig
from .vocab import ATTACKS

DATASET_NAMES = ("mnist", "xxz")
PRESETS = ("paper", "quick")
ALPHA_GRID = tuple(round(0.1 * i, 10) for i in range(10))
MAX_RUNS = 1000  # runs per cell
MAX_GRID = 1000  # values in a grid (noise ratios, weights, seeds)
MAX_PERPLEXITY = 1000

__all__ = ["DATASET_NAMES", "MODEL_KINDS", "PRESETS", "ModelConfig", "PoisonConfig", "UnlearnConfig",
           "SweepConfig", "LandscapeConfig", "EmbedConfig", "NoiseConfig", "preset_configs"]


@dataclass(frozen=True)
class ModelConfig:
    """A model spec, its training schedule and (for unlearning) its unlearning schedule."""

    spec: Any
    train: TrainConfig
    unlearn: TrainConfig | None = None

    def describe(self) -> str:
        return self.spec.describe()

    def to_dict(self) -> dict[str, Any]:
        d = {**spec_to_dict(self.spec), "train": self.train.to_dict()}
        if self.unlearn is not None:
            d["unlearn"] = self.unlearn.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if not isinstance(d, dict):
            raise InputError(f"a model entry must be a table, got {d!r}")
        d = dict(d)
        if "train" not in d:
            raise InputError("a model entry needs a [train] table (epochs, batch_size, lr, eval_every)")
        train = _train(d.pop("train"), "train")
        unlearn = _train(d.pop("unlearn"), "unlearn") if "unlearn" in d else None
        return cls(spec_from_dict(d), train, unlearn)


def _train(d: Any, where: str) -> TrainConfig:
    if not isinstance(d, dict):
        raise InputError(f"{where} must be a table of epochs, batch_size, lr, eval_every; got {d!r}")
    try:
        return TrainConfig.from_dict(d)
    except TypeError as e:
        raise InputError(f"{where}: {e}") from None


def _models(models: Any, *, unlearn: bool = False) -> dict[str, ModelConfig]:
    if not isinstance(models, dict) or not models:
        raise InputError("no model selected; name at least one model (e.g. --model qnn,mlp)")
    out = {}
    for name, mc in models.items():
        try:
            mc = mc if isinstance(mc, ModelConfig) else ModelConfig.from_dict(mc)
        except InputError as e:
            raise InputError(f"model {name!r}: {e}") from None
        if unlearn and mc.unlearn is None:
            raise InputError(f"model {name!r} has no unlearning schedule; give it an [unlearn] table")
        out[str(name)] = mc
    return out


def _models_dict(models: dict[str, ModelConfig]) -> dict[str, Any]:
    return {k: v.to_dict() for k, v in models.items()}


def _largest(precision: str) -> float:
    """The largest finite real number of a precision's real dtype (float32 for complex64)."""
    import numpy as np

    return float(np.finfo(np.float64 if precision == "complex128" else np.float32).max)


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


def _check_options(options: Any) -> dict:
    if not isinstance(options, dict):
        raise InputError(f"data_options must be a table such as {{n_per_class = 100}}, got {options!r}")
    return dict(options)


def _check_attacks(attacks: Any) -> tuple[str, ...]:
    attacks = check_choices(attacks, ATTACKS, "attack", field="attacks")
    if not attacks:
        raise InputError("no attack selected; pass --attack label-flip and/or feature-randomization")
    return attacks


def _check_alphas(alphas: Any, example: str) -> tuple[float, ...]:
    if isinstance(alphas, (str, bytes)) or not hasattr(alphas, "__iter__"):
        raise InputError(f"alphas must be a list of noise ratios, got {alphas!r}")
    if len(alphas) > MAX_GRID:
        raise InputError(f"the alpha grid has {len(alphas)} values, more than the {MAX_GRID} qunlearn accepts; "
                         "use a coarser grid such as 0:0.9:0.1")
    out = tuple(check_alpha(a) for a in alphas)
    if not out:
        raise InputError(f"the alpha grid is empty; pass e.g. {example}")
    if len(set(out)) != len(out):
        raise InputError(f"the alpha grid has repeated values: {list(out)}")
    return out


class _Config:
    """``to_dict`` / ``from_dict`` / ``replace`` shared by the experiment configs."""

    _tuples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k == "models":
                v = _models_dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = {kk: dict(vv) if isinstance(vv, dict) else vv for kk, vv in v.items()}
            d[k] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if not isinstance(d, dict):
            raise InputError(f"expected a table, got {d!r}")
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown config key {unknown[0]!r}; known keys there: "
                             f"{', '.join(sorted(cls.__dataclass_fields__))}")
        return cls(**d)

    def replace(self, **changes):
        """A copy with fields replaced (validated again)."""
        return replace(self, **changes)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _check_shared(self, unlearn: bool = False) -> None:
        """Validate (and normalise) the fields the experiment configs share, those this config has."""
        has = self.__dataclass_fields__
        self._set("dataset", _check_dataset(self.dataset))
        self._set("data_options", _check_options(self.data_options))
        if "models" in has:
            self._set("models", _models(self.models, unlearn=unlearn))
        if "runs" in has:
            self._set("runs", check_positive_int(self.runs, "runs", MAX_RUNS))
        if "seed" in has:
            self._set("seed", check_seed(self.seed))
        if "precision" in has:
            self._set("precision", check_precision(self.precision))
            big = _largest(self.precision)
            for name, mc in getattr(self, "models", {}).items():
                for what, t in (("learning rate", mc.train), ("unlearning learning rate", mc.unlearn)):
                    if t is not None and t.lr > big:
                        raise InputError(f"model {name!r}: {what} {t.lr!r} is not finite in {self.precision} "
                                         f"(largest {big:.3g}); use a value such as 0.01")
            for method, w in getattr(self, "weights", {}).items():
                for k, v in w.items():
                    if isinstance(v, (int, float)) and abs(v) > big:
                        raise InputError(f"weight {k} of {method!r} = {v!r} is not finite in {self.precision} "
                                         f"(largest {big:.3g})")


@dataclass(frozen=True)
class PoisonConfig(_Config):
    """The noise-ratio sweep: every (model, attack, alpha) cell, ``runs`` runs each."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # name -> ModelConfig
    attacks: tuple[str, ...] = ATTACKS
    alphas: tuple[float, ...] = ALPHA_GRID
    runs: int = 5
    seed: int = 0
    precision: str = "complex64"

    def __post_init__(self):
        self._check_shared()
        self._set("attacks", _check_attacks(self.attacks))
        self._set("alphas", _check_alphas(self.alphas, "--alphas 0:0.9:0.1 or --alphas 0,0.3"))


@dataclass(frozen=True)
class UnlearnConfig(_Config):
    """Poison at one alpha, train the model to unlearn, run every method for every run."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # name -> ModelConfig with an unlearning schedule
    attack: str = "label-flip"
    alpha: float = 0.3
    methods: tuple[str, ...] = ("retrain", "finetune", "scrub", "gradient_ascent")
    weights: dict = field(default_factory=dict)  # method -> {weight: value}
    runs: int = 5
    seed: int = 0
    precision: str = "complex64"
    shots: tuple[int, ...] = ()  # also report MIA and poison memory from finite-shot QNN outputs (N shots each)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not d["shots"]:
            del d["shots"]  # no finite-shot metrics: the record is as it always was
        return d

    def __post_init__(self):
        from .vocab import method_names, resolve_weights

        METHODS = method_names()

        self._check_shared(unlearn=True)
        self._set("attack", _check_attacks((self.attack,))[0])
        self._set("alpha", check_alpha(self.alpha))
        if self.alpha <= 0:
            raise InputError("unlearning needs poisoned samples to forget: alpha must be > 0, e.g. --alpha 0.3")
        methods = check_choices(self.methods, tuple(METHODS), "unlearning method", field="methods")
        if not methods:
            raise InputError(f"no unlearning method selected; use some of {', '.join(METHODS)}")
        self._set("methods", methods)
        if not isinstance(self.weights, dict):
            raise InputError(f"weights must be a table of method -> {{weight = value}}, got {self.weights!r}")
        for m, w in self.weights.items():
            resolve_weights(m, w)  # refuses unknown methods, unknown weights and bad values
            if m not in methods:
                raise InputError(f"a weight is given for {m!r}, which this run does not run (methods: "
                                 f"{', '.join(methods)}); drop the weight or add the method")
        self._set("weights", {m: dict(w) for m, w in self.weights.items()})
        if isinstance(self.shots, (str, bytes, dict)) or not hasattr(self.shots, "__iter__"):
            raise InputError(f"shots must be a list of shot counts such as [100, 1000, 10000], got {self.shots!r}")
        if len(self.shots) > MAX_GRID:
            raise InputError(f"{len(self.shots)} shot counts are more than the {MAX_GRID} qunlearn accepts")
        from .noise import MAX_SHOTS, check_count

        shots = tuple(check_count(n, "shots", MAX_SHOTS) for n in self.shots)
        if len(set(shots)) != len(shots):
            raise InputError(f"shots repeat: {list(self.shots)}; list each shot count once")
        self._set("shots", shots)


SWEEPS = {"scrub": ("kl_w", "fo_w"), "gradient_ascent": ("fo_w",)}  # method -> the weights it sweeps
WEIGHT_GRID = ALPHA_GRID


@dataclass(frozen=True)
class SweepConfig:
    """A weight sweep of one method over ``grid`` (x ``grid`` for SCRUB), from the models to unlearn
    of ``unlearn`` (the same models, trained once, as the unlearning experiment's)."""

    unlearn: UnlearnConfig
    method: str = "scrub"
    grid: tuple[float, ...] = WEIGHT_GRID

    def __post_init__(self):
        if self.method not in SWEEPS:
            raise InputError(f"no weight sweep for {self.method!r}; use one of {', '.join(SWEEPS)}")
        if len(self.grid) > MAX_GRID:
            raise InputError(f"the weight grid has {len(self.grid)} values, more than the {MAX_GRID} qunlearn accepts")
        grid = tuple(check_nonnegative(v, "weight grid value") for v in self.grid)
        big = _largest(self.unlearn.precision)
        if any(v > big for v in grid):
            raise InputError(f"a weight grid value is not finite in {self.unlearn.precision} (largest {big:.3g}); "
                             "use weights such as 0,0.5,1")
        if len(set(grid)) != len(grid):
            raise InputError(f"the weight grid has repeated values: {list(grid)}")
        if not grid:
            raise InputError("the weight grid is empty; give weight values such as 0,0.3,0.6,0.9")
        object.__setattr__(self, "grid", grid)
        if self.unlearn.methods != (self.method,):
            weights = {m: w for m, w in self.unlearn.weights.items() if m == self.method}
            object.__setattr__(self, "unlearn", replace(self.unlearn, methods=(self.method,), weights=weights))

    @property
    def dataset(self) -> str:
        return self.unlearn.dataset

    def __getattr__(self, name):  # data_options, models, runs, precision: those of its unlearning config
        if name in ("data_options", "models", "runs", "precision"):
            return getattr(self.unlearn, name)
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {**self.unlearn.to_dict(), "sweep": {"method": self.method, "grid": list(self.grid)}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepConfig":
        d = dict(d)
        sweep = d.pop("sweep")
        return cls(UnlearnConfig.from_dict(d), sweep["method"], tuple(sweep["grid"]))


@dataclass(frozen=True)
class LandscapeConfig(_Config):
    """The loss-landscape study: clean and noisy models per seed, Hessian trace on held-out points."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # name -> ModelConfig
    alphas: tuple[float, ...] = (0.2, 0.3, 0.4)
    seeds: tuple[int, ...] = (0, 42, 123, 1024, 2048)
    test_size: float = 0.3
    n_hessian: int = 100
    exact_max: int = 20000  # exact trace (n Hessian-vector products) up to this many parameters, Hutchinson beyond
    eig_exact_max: int = 2000  # full spectrum by eigendecomposition up to this many parameters, Lanczos beyond
    top_k: int = 5
    precision: str = "complex64"

    def __post_init__(self):
        self._check_shared()
        for name, mc in self.models.items():
            if getattr(mc.spec, "stochastic", False):
                raise InputError(f"model {name!r}: the landscape study differentiates a fixed loss twice, and this "
                                 f"QNN's outputs are random ({mc.spec.noise.describe()}); remove its noise table "
                                 "(readout error alone is allowed)")
        alphas = _check_alphas(self.alphas, "--alphas 0.2,0.3,0.4")
        if any(a == 0 for a in alphas):
            raise InputError("alpha 0 is the clean reference, always trained; list only noisy alphas (> 0)")
        self._set("alphas", alphas)
        if isinstance(self.seeds, (str, bytes)) or not hasattr(self.seeds, "__iter__") or not self.seeds:
            raise InputError("no seed given; pass e.g. --seeds 0,42,123")
        if len(self.seeds) > MAX_GRID:
            raise InputError(f"{len(self.seeds)} seeds are more than the {MAX_GRID} qunlearn accepts")
        seeds = tuple(check_seed(s, "seeds") for s in self.seeds)
        if len(set(seeds)) != len(seeds):
            raise InputError(f"seeds repeat: {list(seeds)}")
        self._set("seeds", seeds)
        try:
            ok = 0 < float(self.test_size) < 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(f"test_size must lie in (0, 1), got {self.test_size!r}")
        self._set("test_size", float(self.test_size))
        for k in ("n_hessian", "exact_max", "eig_exact_max", "top_k"):
            self._set(k, check_positive_int(getattr(self, k), k.replace("_", " "), 10**9))

    def check_data(self, ds) -> None:
        """Refuse, before any work, a Hessian over more held-out points than the split leaves."""
        import math

        held_out = math.ceil(len(ds.y_train) * self.test_size)
        if self.n_hessian > held_out:
            raise InputError(f"n_hessian = {self.n_hessian} is more than the {held_out} held-out points of the "
                             f"{len(ds.y_train)}-sample training set (test_size {self.test_size}); use --n-hessian "
                             f"{min(100, held_out)} or fewer")


@dataclass(frozen=True)
class EmbedConfig(_Config):
    """t-SNE panels of the training set: clean and poisoned by each attack at ``alpha``."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    attacks: tuple[str, ...] = ATTACKS
    alpha: float = 0.3
    seed: int = 0
    perplexity: float = 30.0

    def __post_init__(self):
        self._check_shared()
        self._set("attacks", _check_attacks(self.attacks))
        self._set("alpha", check_alpha(self.alpha))
        self._set("perplexity", check_finite_positive(self.perplexity, "perplexity"))
        # t-SNE caps it at (n - 1) / 3 for the data at hand; beyond this it is a typo
        if self.perplexity > MAX_PERPLEXITY:
            raise InputError(f"perplexity {self.perplexity:g} is more than the {MAX_PERPLEXITY} qunlearn accepts "
                             "(a neighbourhood size; typical values are 5 to 50)")


@dataclass(frozen=True)
class NoiseConfig:
    """The study under device noise: an alpha sweep (``poison``) and an unlearning comparison (``unlearn``) whose
    models include QNNs with a ``noise`` table (:mod:`qunlearn.noise`); the unlearning's ``shots`` add
    finite-shot membership inference and poison memory."""

    poison: PoisonConfig
    unlearn: UnlearnConfig

    def __post_init__(self):
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

    @property
    def dataset(self) -> str:
        return self.poison.dataset

    def to_dict(self) -> dict[str, Any]:
        return {"poison": self.poison.to_dict(), "unlearn": self.unlearn.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NoiseConfig":
        if not isinstance(d, dict):
            raise InputError(f"noise must be a table with poison and unlearn tables, got {d!r}")
        unknown = sorted(set(d) - {"poison", "unlearn"})
        if unknown:
            raise InputError(f"unknown config key {unknown[0]!r}; known keys there: poison, unlearn")
        parts = {}
        for k, c in (("poison", PoisonConfig), ("unlearn", UnlearnConfig)):
            try:
                parts[k] = c.from_dict(d.get(k, {}))
            except InputError as e:
                raise InputError(f"{k}: {e}") from None
        return cls(**parts)


GAUGES = {"random": "fixed", "fixed": "random"}  # an XXZ gauge -> the other one


@dataclass(frozen=True)
class GaugeConfig:
    """The reference alpha sweep (XXZ); the gauge study reruns its phase-sensitive models in the other gauge."""

    reference: PoisonConfig

    def __post_init__(self):
        if self.reference.dataset != "xxz":
            raise InputError("the gauge study is about the global phase of XXZ states, "
                             f"not {self.reference.dataset!r}; "
                             "remove 'gauge' from the parts of this dataset")
        if self.phase not in GAUGES:
            raise InputError(f"unknown XXZ phase {self.phase!r}; use one of {', '.join(GAUGES)} "
                             "(the global phase of each state)")
        if not any(not mc.spec.phase_invariant for mc in self.reference.models.values()):
            raise InputError("the gauge study needs a model that can see a global phase (an MLP) in the alpha sweep")

    @property
    def dataset(self) -> str:
        return self.reference.dataset

    def __getattr__(self, name):  # data_options, models, runs, precision: those of the sweep it runs
        if name in ("data_options", "models", "runs", "precision"):
            return getattr(self.other(), name)
        raise AttributeError(name)

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
