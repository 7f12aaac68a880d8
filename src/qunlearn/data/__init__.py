"""Datasets of the study: MNIST 1 vs 9 (amplitude encoded) and XXZ ground states; and your own.

>>> from qunlearn.data import load
>>> ds = load("mnist", n_per_class=250)          # doctest: +SKIP
>>> ds.x_train.shape, ds.n_qubits                 # doctest: +SKIP
((500, 1024), 10)

Every dataset is a frozen :class:`Dataset` of NumPy arrays (read-only) with
binary int32 labels and a JSON-serialisable ``info`` dict saying where the
data came from and how they were preprocessed.

The registry. :func:`load` looks a name up among the registered datasets
(:func:`names`; "mnist" and "xxz" are built in) or, for a path ending in
``.npz``, reads that file (:func:`load_npz`). Register your own with
:func:`register_dataset`, either a loader taking keyword options or a ready
:class:`Dataset`, e.g. one made by :func:`from_arrays`::

    ds = from_arrays(x_train, y_train, x_val, y_val, name="mine")
    register_dataset("mine", ds)
    load("mine") is ds

Names are looked up case-insensitively.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
from typing import Any, Callable

import numpy as np

from qunlearn.errors import InputError

__all__ = [
    "DATASETS",
    "Dataset",
    "default_options",
    "from_arrays",
    "is_npz_path",
    "is_registered",
    "load",
    "load_npz",
    "names",
    "register_dataset",
    "unregister_dataset",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A binary classification dataset, split into training and validation.

    Attributes:
      name: dataset name ("mnist", "xxz", or the name given to :func:`from_arrays`).
      x_train, x_val: inputs, shape (N, 2**n_qubits); float32 (MNIST, real data) or
        complex64 (XXZ, complex states). Rows are unit-norm amplitude vectors.
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
from qunlearn.data.custom import from_arrays, load_npz  # noqa: E402

#: Dataset name -> loader function (keyword options only), in registration order.
#: Filled by :func:`register_dataset`; a registered :class:`Dataset` appears as a loader without options.
DATASETS: dict[str, Callable[..., Dataset]] = {}

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_NPZ_OPTIONS = {"encoding": None}


class _Fixed:
    """The loader of a registered :class:`Dataset`: no options, returns that very dataset."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __call__(self) -> Dataset:
        return self.dataset

    def __repr__(self) -> str:
        return f"<dataset {self.dataset.name!r}>"


def _check_new_name(name: Any) -> str:
    if isinstance(name, str) and name.strip().lower().endswith(".npz"):
        raise InputError(f"a dataset name cannot end in .npz, got {name!r}: such names are file paths, "
                         "which load() reads directly; pick a name without the extension")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputError(f"a dataset name must be a non-empty string of letters, digits, '-' and '_', got {name!r}; "
                         "e.g. 'my-data'")
    return name


def _options_of(loader: Callable) -> dict | None:
    """The keyword options of ``loader`` with their defaults; None if it takes any (``**kwargs``)."""
    try:
        sig = inspect.signature(loader)
    except (TypeError, ValueError):
        return None
    out = {}
    for k, p in sig.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is p.VAR_POSITIONAL:
            continue
        out[k] = p.default
    return out


def register_dataset(name: str, loader: Callable[..., Dataset] | Dataset, *, replace: bool = False) -> None:
    """Make ``load(name, **options)`` call ``loader(**options)``, or return ``loader`` if it is a :class:`Dataset`.

    ``name``: letters, digits, '-' and '_' (so never a file name ending in
    ``.npz``); compared case-insensitively with the registered names. An
    existing name is refused unless ``replace=True``, which keeps its place in
    :func:`names`. A loader's parameters are its options; each needs a default
    (``load(name)`` passes none) and it must return a :class:`Dataset`.
    """
    name = _check_new_name(name)
    if isinstance(loader, Dataset):
        fn: Callable[..., Dataset] = _Fixed(loader)
    elif callable(loader):
        fn = loader
        try:
            params = inspect.signature(loader).parameters.values()
        except (TypeError, ValueError):
            params = ()
        required = [p.name for p in params
                    if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if required:
            raise InputError(f"the loader of dataset {name!r} has option(s) without a default: {', '.join(required)}; "
                             "give every option a default so that load(name) works")
    else:
        raise InputError(f"dataset {name!r}: loader must be a function returning a qunlearn.data.Dataset, or a "
                         f"Dataset, got {type(loader).__name__}")
    if not isinstance(replace, bool):
        raise InputError(f"replace must be True or False, got {replace!r}")
    old = _find(name)
    if old is not None and not replace:
        raise InputError(f"dataset {old!r} is already registered; pass replace=True to replace it or pick another name")
    if old is None:
        DATASETS[name] = fn
    else:  # same place in the order, the new spelling
        items = [(name, fn) if k == old else (k, v) for k, v in DATASETS.items()]
        DATASETS.clear()
        DATASETS.update(items)


def unregister_dataset(name: str) -> None:
    """Remove a registered dataset (refused with :class:`InputError` if ``name`` is not registered)."""
    key = _find(name)
    if key is None:
        raise InputError(f"dataset {name!r} is not registered; registered: {', '.join(DATASETS) or 'none'}")
    del DATASETS[key]


def names() -> tuple[str, ...]:
    """The registered dataset names, in registration order."""
    return tuple(DATASETS)


def _find(name: Any) -> str | None:
    """The registered key ``name`` denotes (exact, else stripped and case-insensitive), or None."""
    if not isinstance(name, str):
        return None
    if name in DATASETS:
        return name
    key = name.strip().lower()
    return next((k for k in DATASETS if k.lower() == key), None)


def is_registered(name: Any) -> bool:
    """Whether ``name`` is a registered dataset name (case-insensitive); False for file paths."""
    return _find(name) is not None


def is_npz_path(name: Any) -> bool:
    """Whether ``name`` is a path (str or os.PathLike) ending in ``.npz`` (any case), which :func:`load` reads."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    return isinstance(name, str) and name.lower().endswith(".npz")


def _loader(name: Any) -> Callable[..., Dataset]:
    key = _find(name)
    if key is None:
        raise InputError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}, "
                         "or the path of an .npz file (x_train, y_train, x_val, y_val)")
    return DATASETS[key]


def default_options(name: str) -> dict:
    """The options ``load(name, ...)`` accepts, with their defaults (``{"encoding": None}`` for an .npz path)."""
    if is_npz_path(name):
        return dict(_NPZ_OPTIONS)
    options = _options_of(_loader(name))
    return {} if options is None else options


def load(name: str, **options) -> Dataset:
    """Load dataset ``name`` (a registered name, e.g. "mnist" or "xxz", or a path ending in ``.npz``).

    Unknown names and unknown options are refused with :class:`InputError`;
    see :func:`default_options` for what each dataset accepts. A path is read
    by :func:`load_npz` (option: ``encoding``).
    """
    if is_npz_path(name):
        unknown = sorted(set(options) - set(_NPZ_OPTIONS))
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)} for the dataset file {name}; "
                             f"valid options: {', '.join(_NPZ_OPTIONS)}")
        return load_npz(name, **options)
    loader = _loader(name)
    allowed = _options_of(loader)
    unknown = [] if allowed is None else sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) or "none"
        raise InputError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid options: {valid}")
    ds = loader(**options)
    if not isinstance(ds, Dataset):
        raise InputError(f"the loader of dataset {name!r} returned {type(ds).__name__}, not a qunlearn.data.Dataset; "
                         "fix the loader passed to register_dataset")
    return ds


register_dataset("mnist", _mnist.load_mnist)
register_dataset("xxz", _xxz.load_xxz)
