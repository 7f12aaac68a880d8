"""Datasets of the study: MNIST 1 vs 9 (amplitude encoded) and XXZ ground states.

>>> from qunlearn.data import load
>>> ds = load("mnist", n_per_class=250)          # doctest: +SKIP
>>> ds.x_train.shape, ds.n_qubits                 # doctest: +SKIP
((500, 1024), 10)

Every dataset is a frozen :class:`Dataset` of NumPy arrays (read-only) with
binary int32 labels and a JSON-serialisable ``info`` dict saying where the
data came from and how they were preprocessed.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable

import numpy as np

from qunlearn.errors import InputError

__all__ = ["DATASETS", "Dataset", "default_options", "load"]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A binary classification dataset, split into training and validation.

    Attributes:
      name: dataset name ("mnist", "xxz").
      x_train, x_val: inputs, shape (N, 2**n_qubits); float32 (MNIST) or
        complex64 (XXZ). Rows are unit-norm amplitude vectors.
      y_train, y_val: int32 labels in {0, 1}.
      info: JSON-serialisable provenance (source, preprocessing, sizes, ...).

    The arrays are made read-only: copy before modifying (poisoning is pure).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "val"):
            x = np.asarray(getattr(self, f"x_{split}"))
            y = np.asarray(getattr(self, f"y_{split}"), dtype=np.int32)
            if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
                raise ValueError(f"Dataset {self.name!r}: x_{split} {x.shape} and y_{split} {y.shape} do not match")
            if y.size and not np.isin(y, (0, 1)).all():
                raise ValueError(f"Dataset {self.name!r}: y_{split} must contain only 0 and 1")
            x = x.copy() if x.flags.writeable else x
            y = y.copy() if y.flags.writeable else y
            x.setflags(write=False)
            y.setflags(write=False)
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        if self.x_train.shape[1] != self.x_val.shape[1]:
            raise ValueError(f"Dataset {self.name!r}: train and val feature counts differ")
        d = self.x_train.shape[1]
        if d < 1 or d & (d - 1):
            raise ValueError(f"Dataset {self.name!r}: feature count {d} is not a power of two")

    @property
    def n_features(self) -> int:
        """Length of an input vector (2**n_qubits)."""
        return int(self.x_train.shape[1])

    @property
    def is_complex(self) -> bool:
        """Whether the inputs are complex amplitudes (the MLP then needs ``as_real``)."""
        return bool(np.iscomplexobj(self.x_train))

    @property
    def n_qubits(self) -> int:
        """Number of qubits of the amplitude-encoded state (exact log2 of n_features)."""
        return int(math.log2(self.n_features))

    def summary(self) -> dict:
        """Short JSON-friendly description: sizes overall and per class."""
        return {
            "name": self.name,
            "n_train": int(len(self.y_train)),
            "n_val": int(len(self.y_val)),
            "train_per_class": [int(c) for c in np.bincount(self.y_train, minlength=2)],
            "val_per_class": [int(c) for c in np.bincount(self.y_val, minlength=2)],
            "n_features": self.n_features,
            "n_qubits": self.n_qubits,
            "dtype": str(self.x_train.dtype),
            "source": self.info.get("source"),
        }


# Imported after Dataset is defined: the loader modules import it from here.
from qunlearn.data import mnist as _mnist  # noqa: E402
from qunlearn.data import xxz as _xxz  # noqa: E402

#: Dataset name -> loader function (keyword options only).
DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist": _mnist.load_mnist,
    "xxz": _xxz.load_xxz,
}


def _loader(name: Any) -> Callable[..., Dataset]:
    key = str(name).strip().lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
    return DATASETS[key]


def default_options(name: str) -> dict:
    """The options ``load(name, ...)`` accepts, with their defaults."""
    sig = inspect.signature(_loader(name))
    return {k: p.default for k, p in sig.parameters.items()}


def load(name: str, **options) -> Dataset:
    """Load dataset ``name`` ("mnist" or "xxz") with keyword ``options``.

    Unknown names and unknown options are refused with :class:`InputError`;
    see :func:`default_options` for what each dataset accepts.
    """
    loader = _loader(name)
    allowed = default_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid options: {', '.join(allowed)}"
        )
    return loader(**options)
