"""The capacity study's config (:class:`CapacityConfig`), its families' sizes and its preset values.

Reading a config imports no JAX: the families and how their sizes are written live here; the models and
the numerics are in :mod:`qunlearn.experiments.capacity_models`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, model_validator

from ..config import Alphas, DataOptions, Dataset
from ..errors import InputError
from ..schedule import TrainConfig
from ..schema import Choices, Count, Grid, Positive, Precision, Schema, Seed

QNN_FAMILIES = ("qnn", "qnn-landscape")
MLP_FAMILIES = ("mlp", "mlp-decay", "mlp-early-stop", "mlp-bounded")
FAMILIES = ("qnn", "qnn-landscape", "mlp", "linear", "pca-mlp", "mlp-decay", "mlp-early-stop", "mlp-bounded")
ANSATZ = {"qnn": "paper", "qnn-landscape": "landscape"}

_WIDTHS = re.compile(r"^[1-9][0-9]*(-[1-9][0-9]*)*$")
_PCA = re.compile(r"^k([1-9][0-9]*):(0|[1-9][0-9]*(-[1-9][0-9]*)*)$")
MAX_DEPTH = 1000
MAX_WIDTH = 100_000


@dataclass(frozen=True)
class Size:
    """A parsed size: ``depth`` (QNNs), ``hidden`` widths (MLPs; empty: no hidden layer), ``k`` (pca-mlp)."""

    family: str
    text: str
    depth: int = 0
    hidden: tuple[int, ...] = ()
    k: int = 0


def parse_size(family: str, text) -> Size:
    """The size ``text`` of ``family`` (see the module docstring), refused in one line if it is not one."""
    if family not in FAMILIES:
        raise InputError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    if not isinstance(text, str):
        raise InputError(f"a size is written as text (\"6\", \"64-16\", \"k16:8\"), got {text!r}")
    if family in QNN_FAMILIES:
        if not text.isdigit() or not 1 <= int(text) <= MAX_DEPTH:
            raise InputError(f"size {text!r} of {family}: a depth, an integer in 1..{MAX_DEPTH} such as \"6\"")
        return Size(family, text, depth=int(text))
    if family == "linear":
        if text != "0":
            raise InputError(f"size {text!r} of linear: logistic regression has one size, \"0\" (no hidden layer)")
        return Size(family, text)
    if family == "pca-mlp":
        m = _PCA.match(text)
        if not m:
            raise InputError(f"size {text!r} of pca-mlp: k and widths such as \"k16:8\" or \"k16:8-4\" "
                             "(\"k16:0\": no hidden layer)")
        hidden = () if m.group(2) == "0" else tuple(int(w) for w in m.group(2).split("-"))
        return _widths_ok(Size(family, text, hidden=hidden, k=int(m.group(1))))
    if not _WIDTHS.match(text):
        raise InputError(f"size {text!r} of {family}: hidden widths such as \"64-16\" or \"1\"")
    return _widths_ok(Size(family, text, hidden=tuple(int(w) for w in text.split("-"))))


def _widths_ok(size: Size) -> Size:
    if any(w > MAX_WIDTH for w in size.hidden) or size.k > MAX_WIDTH:
        raise InputError(f"size {size.text!r} of {size.family}: widths and k are at most {MAX_WIDTH:,}")
    return size


# ------------------------------------------------------------------ the config


def _families() -> tuple[str, ...]:
    return FAMILIES


Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


class FamilyConfig(Schema):
    """One family's sizes and training schedule; ``weight_decay`` (mlp-decay only: decoupled, ``optax.adamw``),
    ``holdout`` (mlp-early-stop only: the fraction of the poisoned training set held out to stop on) and
    ``bound`` (mlp-bounded only: logit = bound * tanh(f))."""

    sizes: Grid(str, 100)
    train: TrainConfig
    weight_decay: Positive | None = None
    holdout: Fraction | None = None
    bound: Positive | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_dict().items() if v is not None}  # TOML has no null


OWN_OPTION = {"mlp-decay": "weight_decay", "mlp-early-stop": "holdout", "mlp-bounded": "bound"}


class CapacityConfig(Schema):
    """The capacity study: every (family, size) of ``families`` (a cell each), trained at every alpha of label
    flipping and once on random labels, ``runs`` runs each. ``fisher_samples`` training inputs (at most) give
    the local effective dimension, with ``gamma``; ``threshold`` is the clean validation accuracy below which
    a noise ratio counts as critical."""

    dataset: Dataset = "mnist"
    data_options: DataOptions = Field(default_factory=dict)
    families: Choices(_families, "family") = FAMILIES
    settings: dict[str, FamilyConfig] = Field(default_factory=dict)
    alphas: Alphas = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    runs: Count(1000) = 2
    seed: Seed = 0
    precision: Precision = "complex64"
    fisher_samples: Annotated[Count(100_000), Field(ge=20)] = 100
    gamma: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0
    threshold: Fraction = 0.75

    @model_validator(mode="after")
    def _sizes(self):
        for name in self.settings:
            if name not in FAMILIES:
                raise InputError(f"unknown family {name!r}; use one of {', '.join(FAMILIES)}",
                                 path=f"settings.{name}")
        for name in self.families:
            if name not in self.settings:
                raise InputError(f"family {name!r} has no settings (sizes and a [train] table)",
                                 path=f"settings.{name}")
        for name, fc in self.settings.items():
            for i, text in enumerate(fc.sizes):
                try:
                    parse_size(name, text)
                except InputError as e:
                    raise InputError(f"settings.{name}.sizes[{i}]: {e}", path=f"settings.{name}.sizes[{i}]") from None
            for option in ("weight_decay", "holdout", "bound"):
                own = OWN_OPTION.get(name) == option
                if own and getattr(fc, option) is None:
                    raise InputError(f"settings.{name}.{option}: family {name} needs it", path=f"settings.{name}")
                if not own and getattr(fc, option) is not None:
                    owner = next(f for f, o in OWN_OPTION.items() if o == option)
                    raise InputError(f"settings.{name}.{option}: only {owner} takes it",
                                     path=f"settings.{name}.{option}")
        return self

    def sizes(self) -> list[Size]:
        """Every (family, size) to run, in order: the cells."""
        return [parse_size(f, s) for f in self.families for s in self.settings[f].sizes]


# ------------------------------------------------------------------ preset values

def _train(epochs: int, batch: int, lr: float, every: int) -> dict:
    return {"epochs": epochs, "batch_size": batch, "lr": lr, "eval_every": every}


def preset_values(preset: str, dataset: str, data_options: dict) -> dict:
    """The capacity study's section of a preset (its own: the preset TOML files need no table for it).

    ``paper``: the alpha sweep's data (MNIST 250 images per class, XXZ 12 spins) and training schedules
    (docs/PROTOCOL.md, "Training settings": the QNN's for the QNNs, the MLP's for the classical families),
    5 runs, alphas 0 to 0.9.
    ``quick``: MNIST with 100 training and 100 validation images per class, XXZ with 10 spins (1,024
    amplitudes, so a QNN layer costs what it costs on MNIST), 2 runs, alphas 0 to 0.5, shorter schedules."""
    xxz = dataset == "xxz"
    options = dict(data_options)
    if preset == "paper":
        depths = ["1", "2", "4", "6", "8", "12", "16"]
        landscape = ["2", "5", "8"]  # the CNOT ring costs about 2.5 paper layers per layer
        widths = ["1", "2", "4", "16", "64-16", "256-64"]
        pcas = ["k4:2", "k4:8", "k8:8", "k16:8", "k16:32", "k32:32", "k64:64-16"]
        controls = ["4", "64-16", "256-64"]
        q = _train(200, 32, 0.03, 10) if xxz else _train(100, 256, 0.005, 10)  # the alpha sweep's schedules
        m = _train(400, 32, 0.01, 20) if xxz else _train(100, 256, 0.005, 10)
        runs, alphas, fisher = 5, [round(0.1 * i, 1) for i in range(10)], 200
    else:
        depths = ["1", "2", "4", "8", "16"]
        landscape = ["1", "3"]
        widths = ["1", "4", "16", "64-16", "256-64"]
        pcas = ["k4:4", "k8:8", "k16:16", "k64:16"]
        controls = ["4", "64-16"]
        q = _train(15 if xxz else 10, 32, 0.03 if xxz else 0.02, 5)
        m = _train(60, 32, 0.005, 10)
        runs, alphas, fisher = 2, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], 100
        options |= {"n_spins": 10} if xxz else {"n_per_class": 100, "n_val_per_class": 100}
    settings = {
        "qnn": {"sizes": depths, "train": q},
        "qnn-landscape": {"sizes": landscape, "train": q},
        "mlp": {"sizes": widths, "train": m},
        "linear": {"sizes": ["0"], "train": m},
        "pca-mlp": {"sizes": pcas, "train": m},
        "mlp-decay": {"sizes": controls, "train": m, "weight_decay": 0.1},
        "mlp-early-stop": {"sizes": controls, "train": {**m, "eval_every": 2 if preset != "paper" else 5},
                           "holdout": 0.2},
        "mlp-bounded": {"sizes": controls, "train": m, "bound": 5.0},
    }
    return {"dataset": dataset, "data_options": options, "families": list(FAMILIES), "settings": settings,
            "alphas": alphas, "runs": runs, "seed": 0, "precision": "complex64", "fisher_samples": fisher,
            "gamma": 1.0, "threshold": 0.75}
