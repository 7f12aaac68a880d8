"""Frozen configuration dataclasses and the named presets.

Everything the paper fixes is a default here, never a hard-coded limit. A config
serialises to a plain dict (``to_dict``) stored with every run, and is rebuilt
from one (``from_dict``), so a run directory always says exactly what produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .errors import InputError, check_alpha, check_positive_int
from .poison import ATTACKS
from .train import TrainConfig

DATASET_NAMES = ("mnist", "xxz")
MODEL_KINDS = ("qnn", "mlp")
PRESETS = ("paper", "quick")


@dataclass(frozen=True)
class ModelConfig:
    """A model and its training schedule. ``depth`` is used by QNNs, ``hidden`` by MLPs."""

    kind: str
    train: TrainConfig
    depth: int = 6
    hidden: tuple[int, ...] = (64, 16)

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise InputError(f"unknown model {self.kind!r}; use one of {', '.join(MODEL_KINDS)}")
        object.__setattr__(self, "depth", check_positive_int(self.depth, "QNN depth"))
        object.__setattr__(self, "hidden", tuple(check_positive_int(h, "MLP hidden width") for h in self.hidden))

    def describe(self) -> str:
        if self.kind == "qnn":
            return f"QNN depth {self.depth}"
        return f"MLP {tuple(self.hidden)}"


def _check_common(cfg, attacks) -> None:
    """Validation shared by the experiment configs: dataset, models, attacks, runs, seed."""
    if cfg.dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {cfg.dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    if not cfg.models:
        raise InputError("no model selected; pass --model qnn, mlp or qnn,mlp")
    if not attacks:
        raise InputError("no attack selected; pass --attack label-flip and/or feature-randomization")
    for a in attacks:
        if a not in ATTACKS:
            raise InputError(f"unknown attack {a!r}; use one of {', '.join(ATTACKS)}")
    object.__setattr__(cfg, "runs", check_positive_int(cfg.runs, "runs"))
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {cfg.seed!r}")


@dataclass(frozen=True)
class PoisonConfig:
    """The noise-ratio sweep: every (model, attack, alpha) cell, ``runs`` runs each."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # name -> ModelConfig
    attacks: tuple[str, ...] = ATTACKS
    alphas: tuple[float, ...] = tuple(round(0.1 * i, 10) for i in range(10))
    runs: int = 5
    seed: int = 0
    precision: str = "complex64"

    def __post_init__(self):
        _check_common(self, self.attacks)
        alphas = tuple(check_alpha(a) for a in self.alphas)
        if not alphas:
            raise InputError("the alpha grid is empty; pass e.g. --alphas 0:0.9:0.1 or --alphas 0,0.3")
        if len(set(alphas)) != len(alphas):
            raise InputError(f"the alpha grid has repeated values: {list(alphas)}")
        object.__setattr__(self, "alphas", alphas)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = {k: asdict(v) for k, v in self.models.items()}
        for m in d["models"].values():
            m["hidden"] = list(m["hidden"])
        d["attacks"], d["alphas"] = list(self.attacks), list(self.alphas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PoisonConfig":
        d = dict(d)
        d["models"] = {
            k: ModelConfig(kind=v["kind"], train=TrainConfig(**v["train"]), depth=v["depth"], hidden=tuple(v["hidden"]))
            for k, v in d.get("models", {}).items()
        }
        d["attacks"], d["alphas"] = tuple(d["attacks"]), tuple(d["alphas"])
        return cls(**d)


# Paper settings (PAPER.md, "Training settings"); eval_every only sets how often
# the learning curves are sampled, not the training itself.
_PAPER_MODELS = {
    "mnist": {
        "qnn": ModelConfig("qnn", TrainConfig(epochs=100, batch_size=256, lr=0.005, eval_every=10), depth=6),
        "mlp": ModelConfig("mlp", TrainConfig(epochs=100, batch_size=256, lr=0.005, eval_every=10), hidden=(64, 16)),
    },
    "xxz": {
        "qnn": ModelConfig("qnn", TrainConfig(epochs=200, batch_size=32, lr=0.03, eval_every=10), depth=4),
        "mlp": ModelConfig("mlp", TrainConfig(epochs=400, batch_size=32, lr=0.01, eval_every=20), hidden=(64, 16)),
    },
}
# Quick: same models, shorter schedules (the MNIST QNN: 20 epochs at twice the paper's
# learning rate), 2 runs; `qunlearn reproduce all --preset quick` in minutes on 2 cores.
_QUICK_MODELS = {
    "mnist": {
        "qnn": ModelConfig("qnn", TrainConfig(epochs=20, batch_size=128, lr=0.02, eval_every=5), depth=6),
        "mlp": ModelConfig("mlp", TrainConfig(epochs=40, batch_size=128, lr=0.005, eval_every=5), hidden=(64, 16)),
    },
    "xxz": {
        "qnn": ModelConfig("qnn", TrainConfig(epochs=25, batch_size=32, lr=0.03, eval_every=5), depth=4),
        "mlp": ModelConfig("mlp", TrainConfig(epochs=80, batch_size=32, lr=0.01, eval_every=10), hidden=(64, 16)),
    },
}


def poison_preset(preset: str, dataset: str) -> PoisonConfig:
    """The alpha-sweep config of a named preset for one dataset."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    if dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    if preset == "paper":
        return PoisonConfig(dataset=dataset, models=dict(_PAPER_MODELS[dataset]), runs=5)
    return PoisonConfig(dataset=dataset, models=dict(_QUICK_MODELS[dataset]), runs=2)


def with_overrides(cfg: PoisonConfig, **changes) -> PoisonConfig:
    """``cfg`` with top-level fields replaced (validated again)."""
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None})


def with_train_overrides(cfg: PoisonConfig, **changes) -> PoisonConfig:
    """``cfg`` with training-schedule fields (epochs, batch_size, lr, ...) replaced for every model."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return cfg
    models = {k: replace(m, train=replace(m.train, **changes)) for k, m in cfg.models.items()}
    return replace(cfg, models=models)


# ------------------------------------------------------------------ unlearning

FULL_BATCH = 1_000_000  # a batch size above the set size means full batch


@dataclass(frozen=True)
class UnlearnModelConfig:
    """The model to unlearn (trained with ``train``) and its unlearning schedule ``unlearn``."""

    kind: str
    train: TrainConfig
    unlearn: TrainConfig
    depth: int = 6
    hidden: tuple[int, ...] = (64, 16)

    def __post_init__(self):
        ModelConfig(self.kind, self.train, self.depth, self.hidden)  # same validation
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def model(self) -> ModelConfig:
        return ModelConfig(self.kind, self.train, self.depth, self.hidden)


@dataclass(frozen=True)
class UnlearnConfig:
    """Poison at one alpha, train the model to unlearn, run every method for every run."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # name -> UnlearnModelConfig
    attack: str = "label-flip"
    alpha: float = 0.3
    methods: tuple[str, ...] = ("retrain", "finetune", "scrub", "gradient_ascent")
    weights: dict = field(default_factory=dict)  # method -> {weight: value}
    runs: int = 5
    seed: int = 0
    precision: str = "complex64"

    def __post_init__(self):
        from .unlearn import METHODS, resolve_weights

        _check_common(self, (self.attack,))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        if not self.methods:
            raise InputError(f"no unlearning method selected; use some of {', '.join(METHODS)}")
        for m in self.methods:
            if m not in METHODS:
                raise InputError(f"unknown unlearning method {m!r}; use one of {', '.join(METHODS)}")
        if self.alpha <= 0:
            raise InputError("unlearning needs poisoned samples to forget: alpha must be > 0, e.g. --alpha 0.3")
        for m, w in self.weights.items():
            resolve_weights(m, w)
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "methods", tuple(self.methods))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for m in d["models"].values():
            m["hidden"] = list(m["hidden"])
        d["methods"] = list(self.methods)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UnlearnConfig":
        d = dict(d)
        d["models"] = {
            k: UnlearnModelConfig(kind=v["kind"], train=TrainConfig(**v["train"]), unlearn=TrainConfig(**v["unlearn"]),
                                  depth=v["depth"], hidden=tuple(v["hidden"]))
            for k, v in d["models"].items()
        }
        d["methods"] = tuple(d["methods"])
        return cls(**d)


_PAPER_UNLEARN = {
    "mnist": {
        "qnn": UnlearnModelConfig("qnn", TrainConfig(100, 256, 0.005, 10), TrainConfig(50, 256, 0.005, 1), depth=6),
        "mlp": UnlearnModelConfig("mlp", TrainConfig(100, 128, 0.01, 10), TrainConfig(50, FULL_BATCH, 0.001, 1),
                                  hidden=(16, 4)),
    },
    "xxz": {
        "qnn": UnlearnModelConfig("qnn", TrainConfig(200, 32, 0.03, 10), TrainConfig(50, FULL_BATCH, 0.005, 1), depth=4),
        "mlp": UnlearnModelConfig("mlp", TrainConfig(400, 32, 0.01, 20), TrainConfig(50, FULL_BATCH, 0.01, 1),
                                  hidden=(64, 16)),
    },
}
_QUICK_UNLEARN = {
    "mnist": {
        "qnn": UnlearnModelConfig("qnn", TrainConfig(20, 128, 0.02, 10), TrainConfig(10, 256, 0.005, 1), depth=6),
        "mlp": UnlearnModelConfig("mlp", TrainConfig(40, 128, 0.01, 10), TrainConfig(20, FULL_BATCH, 0.001, 1),
                                  hidden=(16, 4)),
    },
    "xxz": {
        "qnn": UnlearnModelConfig("qnn", TrainConfig(40, 32, 0.03, 10), TrainConfig(20, FULL_BATCH, 0.005, 1), depth=4),
        "mlp": UnlearnModelConfig("mlp", TrainConfig(80, 32, 0.01, 20), TrainConfig(20, FULL_BATCH, 0.01, 1),
                                  hidden=(64, 16)),
    },
}


def unlearn_preset(preset: str, dataset: str) -> UnlearnConfig:
    """The unlearning config of a named preset for one dataset (PAPER.md table for ``paper``)."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    if dataset not in DATASET_NAMES:
        raise InputError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)}")
    table = _PAPER_UNLEARN if preset == "paper" else _QUICK_UNLEARN
    return UnlearnConfig(dataset=dataset, models=dict(table[dataset]), runs=5 if preset == "paper" else 2)


def with_unlearn_overrides(cfg: UnlearnConfig, **changes) -> UnlearnConfig:
    """``cfg`` with unlearning-schedule fields (epochs, batch_size, lr) replaced for every model."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return cfg
    models = {k: replace(m, unlearn=replace(m.unlearn, **changes)) for k, m in cfg.models.items()}
    return replace(cfg, models=models)


# ------------------------------------------------------------------ loss landscape


@dataclass(frozen=True)
class LandscapeConfig:
    """The loss-landscape study: clean and noisy models per seed, Hessian trace on held-out points."""

    dataset: str = "mnist"
    data_options: dict = field(default_factory=dict)
    models: tuple[str, ...] = ("qnn", "mlp")
    alphas: tuple[float, ...] = (0.2, 0.3, 0.4)
    seeds: tuple[int, ...] = (0, 42, 123, 1024, 2048)
    qnn_depth: int = 5
    mlp_hidden: tuple[int, ...] = (8, 2)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(50, 32, 0.01, 50))
    test_size: float = 0.3
    n_hessian: int = 100
    exact_max: int = 20000  # exact trace (n Hessian-vector products) up to this many parameters, Hutchinson beyond
    eig_exact_max: int = 2000  # full spectrum by eigendecomposition up to this many parameters, Lanczos beyond
    top_k: int = 5
    precision: str = "complex64"

    def __post_init__(self):
        if self.dataset not in DATASET_NAMES:
            raise InputError(f"unknown dataset {self.dataset!r}; use one of {', '.join(DATASET_NAMES)}")
        if not self.models:
            raise InputError("no model selected; pass --model qnn, mlp or qnn,mlp")
        for m in self.models:
            if m not in MODEL_KINDS:
                raise InputError(f"unknown model {m!r}; use one of {', '.join(MODEL_KINDS)}")
        alphas = tuple(check_alpha(a) for a in self.alphas)
        if not alphas:
            raise InputError("the alpha grid is empty; pass e.g. --alphas 0.2,0.3,0.4")
        if any(a == 0 for a in alphas):
            raise InputError("alpha 0 is the clean reference, always trained; list only noisy alphas (> 0)")
        object.__setattr__(self, "alphas", alphas)
        if not self.seeds:
            raise InputError("no seed given; pass e.g. --seeds 0,42,123")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise InputError(f"seeds must be non-negative integers, got {s!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError(f"seeds repeat: {list(self.seeds)}")
        object.__setattr__(self, "qnn_depth", check_positive_int(self.qnn_depth, "QNN depth"))
        object.__setattr__(self, "mlp_hidden", tuple(check_positive_int(h, "MLP hidden width") for h in self.mlp_hidden))
        if not 0 < float(self.test_size) < 1:
            raise InputError(f"test_size must lie in (0, 1), got {self.test_size!r}")
        object.__setattr__(self, "n_hessian", check_positive_int(self.n_hessian, "number of Hessian points"))
        object.__setattr__(self, "top_k", check_positive_int(self.top_k, "top_k"))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("models", "alphas", "seeds", "mlp_hidden"):
            d[k] = list(d[k])
        return d


def landscape_preset(preset: str, dataset: str = "mnist") -> LandscapeConfig:
    """PAPER.md's landscape settings (``paper``) or a two-seed, short version (``quick``)."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    if preset == "paper":
        return LandscapeConfig(dataset=dataset)
    # quick: two seeds, 15 epochs, and Hutchinson (100 probes) for traces beyond 2000 parameters (the MLP)
    return LandscapeConfig(dataset=dataset, seeds=(0, 42), train=TrainConfig(15, 32, 0.01, 15), exact_max=2000)
