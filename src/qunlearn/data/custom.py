"""Users' own data: NumPy arrays (:func:`from_arrays`) and ``.npz`` files (:func:`load_npz`).

>>> import numpy as np
>>> from qunlearn.data import from_arrays
>>> x = np.array([[3.0, 4.0, 0.0], [1.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
>>> ds = from_arrays(x, [0, 1, 1], x[:2], [0, 1], name="toy")
>>> ds.x_train.shape, ds.n_qubits, ds.x_train.dtype
((3, 4), 2, dtype('float32'))

Two encodings:

* ``"amplitude"`` (default): ``x`` holds real features, shape (N, d); an
  image stack (N, h, w, ...) is flattened row-major to (N, h*w*...). Rows are
  zero-padded to the next power of two (at least 2, i.e. one qubit) and
  L2-normalised, as the MNIST images are (:mod:`qunlearn.data.encoding`).
  Result: float32.
* ``"encoded"``: ``x`` already holds states, shape (N, 2**n), real or complex,
  every row of unit norm within :data:`NORM_TOL` (rows are then renormalised
  exactly). Result: float32 if real, complex64 if complex.

Labels must be 0 or 1 (ints, bools or floats equal to 0 or 1), 1-D, and the
training split must hold both classes. Every refusal is one
:class:`~qunlearn.errors.InputError` line saying which array is wrong and what
to do. Nothing here imports JAX.

An ``.npz`` file for :func:`load_npz` (and for ``qunlearn.data.load("file.npz")``)
holds the arrays ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optionally
a 0-d string array ``encoding``; write one with
``np.savez("mine.npz", x_train=..., y_train=..., x_val=..., y_val=...)``.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from qunlearn.data import Dataset
from qunlearn.data.encoding import amplitude_encode
from qunlearn.errors import InputError

__all__ = ["ENCODINGS", "MAX_QUBITS", "NORM_TOL", "NPZ_KEYS", "content_hash", "from_arrays", "load_npz"]

#: The encodings :func:`from_arrays` understands.
ENCODINGS = ("amplitude", "encoded")
#: Largest qubit count accepted: a state vector of 2**20 complex64 amplitudes is 8 MiB per sample.
MAX_QUBITS = 20
#: How far from 1 the norm of an ``"encoded"`` row may be.
NORM_TOL = 1e-4
#: The arrays an ``.npz`` dataset file must hold.
NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SPLITS = ("train", "val")


# ---------------------------------------------------------------- checks


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InputError(
            f"dataset name must be 1-100 letters, digits, '.', '-' or '_', got {name!r}; e.g. name='my-data'"
        )
    return name


def _check_encoding(encoding: Any) -> str:
    key = encoding.strip().lower() if isinstance(encoding, str) else encoding
    if key not in ENCODINGS:
        raise InputError(
            f"unknown encoding {encoding!r}; use 'amplitude' (real features, padded and normalised) "
            "or 'encoded' (rows already unit-norm states of 2**n amplitudes)"
        )
    return key


def _check_x(x: Any, split: str, encoding: str) -> np.ndarray:
    what = f"x_{split}"
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{what} is not an array ({type(exc).__name__}: {exc}); "
                         "pass a NumPy array of shape (N, d)") from None
    if arr.dtype.kind not in "biufc":
        raise InputError(f"{what} must be numeric, got dtype {arr.dtype}; "
                         f"convert it with np.asarray({what}, dtype=float)")
    if encoding == "amplitude" and arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))  # an image stack (N, h, w, ...): row-major
    if arr.ndim != 2:
        extra = "" if encoding == "amplitude" else " (one state per row)"
        raise InputError(
            f"{what} must be a 2-D array (samples, features){extra}, got shape {arr.shape}; "
            "reshape it, e.g. x.reshape(-1, 1) for one feature per sample"
        )
    if arr.shape[0] == 0:
        raise InputError(f"{what} has no samples (shape {arr.shape}); every split needs at least one sample")
    if arr.shape[1] == 0:
        raise InputError(f"{what} has zero features (shape {arr.shape}); pass at least one feature per sample")
    if encoding == "amplitude" and arr.dtype.kind == "c":
        raise InputError(
            f"{what} is complex, but encoding='amplitude' takes real features; complex rows are states "
            "already: pass encoding='encoded'"
        )
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = np.nonzero(~np.all(np.isfinite(arr), axis=1))[0]
        raise InputError(
            f"{what} contains NaN or infinite values ({bad.size} row(s), first: row {int(bad[0])}); "
            "clean or drop those samples"
        )
    return arr


def _check_y(y: Any, split: str, n: int) -> np.ndarray:
    what = f"y_{split}"
    try:
        arr = np.asarray(y)
    except Exception as exc:
        raise InputError(f"{what} is not an array ({type(exc).__name__}: {exc}); "
                         "pass a 1-D array of 0/1 labels") from None
    if arr.ndim != 1:
        raise InputError(f"{what} must be a 1-D array of labels, got shape {arr.shape}; flatten it, e.g. y.ravel()")
    if len(arr) != n:
        raise InputError(f"x_{split} has {n} samples but {what} has {len(arr)} labels; pass one label per sample")
    fix = "map your two classes to 0 and 1, e.g. y = (y == positive_class).astype(int)"
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{what} must hold the numbers 0 and 1, got dtype {arr.dtype}; {fix}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contains NaN or infinite labels; {fix}")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        values = np.unique(arr[bad])
        shown = ", ".join(f"{v:g}" if arr.dtype.kind == "f" else str(v) for v in values[:5].tolist())
        more = ", ..." if values.size > 5 else ""
        raise InputError(f"{what} must hold only the labels 0 and 1, found {shown}{more}; {fix}")
    return arr.astype(np.int32)


def _n_qubits(d: int, encoding: str) -> int:
    if encoding == "amplitude":
        n = max(1, math.ceil(math.log2(d)))
    else:
        if d & (d - 1):
            raise InputError(
                f"x_train has {d} amplitudes per row, not a power of two; an n-qubit state has 2**n amplitudes: "
                "pad the rows with zeros, or pass raw features with encoding='amplitude'"
            )
        n = d.bit_length() - 1
        if n < 1:
            raise InputError(
                "x_train has 1 amplitude per row, a 0-qubit state; "
                "an encoded state needs at least 2 amplitudes (1 qubit)"
            )
    if n > MAX_QUBITS:
        raise InputError(
            f"x_train has {d} features per row, which needs {n} qubits; qunlearn accepts 1..{MAX_QUBITS} qubits "
            f"(each sample is simulated as a state vector of 2**n amplitudes, which must fit in memory); "
            "reduce the features (downsample, or PCA)"
        )
    return n


def _amplitude(x: np.ndarray, split: str, n_qubits: int) -> np.ndarray:
    work = np.asarray(x, dtype=np.float64)
    scale = np.max(np.abs(work), axis=1)  # divide by the largest entry first: no overflow in the norm
    zero = np.nonzero(scale == 0.0)[0]
    if zero.size:
        raise InputError(
            f"x_{split} row {int(zero[0])} is all zero ({zero.size} such row(s)) and cannot be normalised "
            "to a quantum state; drop those samples"
        )
    return amplitude_encode(work / scale[:, None], n_qubits)


def _encoded(x: np.ndarray, split: str) -> np.ndarray:
    work = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    norms = np.linalg.norm(work, axis=1)
    off = np.nonzero(~(np.abs(norms - 1.0) <= NORM_TOL))[0]
    if off.size:
        k = int(off[0])
        raise InputError(
            f"x_{split} row {k} has norm {norms[k]:.6g}, not 1 (tolerance {NORM_TOL:g}; {off.size} such row(s)); "
            "with encoding='encoded' every row must be a unit-norm state: normalise the rows "
            "(x / np.linalg.norm(x, axis=1, keepdims=True)) or pass raw features with encoding='amplitude'"
        )
    return (work / norms[:, None]).astype(np.complex64 if x.dtype.kind == "c" else np.float32)


def content_hash(*arrays: np.ndarray) -> str:
    """First 16 hex digits of the sha256 of the arrays' dtypes, shapes and bytes (C order)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- from_arrays


def from_arrays(x_train, y_train, x_val, y_val, name: str = "custom", encoding: str = "amplitude") -> Dataset:
    """A :class:`~qunlearn.data.Dataset` from your own arrays.

    Args:
      x_train, x_val: inputs, one sample per row. ``encoding="amplitude"``:
        real features (N, d), or (N, h, w, ...) flattened row-major; rows are
        zero-padded to the next power of two (>= 2) and L2-normalised.
        ``encoding="encoded"``: states (N, 2**n), real or complex, each row of
        unit norm within :data:`NORM_TOL`.
      y_train, y_val: 1-D labels, 0 or 1; the training split needs both.
      name: the dataset's name (letters, digits, '.', '-', '_').
      encoding: "amplitude" or "encoded".

    Returns a Dataset with float32 (real) or complex64 (complex) inputs and
    int32 labels; ``info`` records source "arrays", the encoding, the sizes
    and ``content_hash`` (sha256 of the final arrays, 16 hex digits).
    Anything wrong is refused with one :class:`~qunlearn.errors.InputError` line.
    """
    name = _check_name(name)
    encoding = _check_encoding(encoding)
    xs, ys = {}, {}
    for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
        xs[split] = _check_x(x, split, encoding)
        ys[split] = _check_y(y, split, len(xs[split]))
    d = xs["train"].shape[1]
    if xs["val"].shape[1] != d:
        raise InputError(
            f"x_train has {d} features per row but x_val has {xs['val'].shape[1]}; both splits need the same features"
        )
    counts = {split: [int(c) for c in np.bincount(ys[split], minlength=2)] for split in _SPLITS}
    if 0 in counts["train"]:
        only = 0 if counts["train"][0] else 1
        raise InputError(
            f"y_train holds only class {only} ({counts['train'][only]} samples); the training set needs "
            "both classes 0 and 1"
        )
    n_qubits = _n_qubits(d, encoding)
    if encoding == "amplitude":
        out = {split: _amplitude(xs[split], split, n_qubits) for split in _SPLITS}
        preprocessing = f"flatten rows, zero-pad {d} -> {2 ** n_qubits}, L2-normalise; float32"
    else:
        out = {split: _encoded(xs[split], split) for split in _SPLITS}
        preprocessing = f"rows taken as states (norm within {NORM_TOL:g} of 1, renormalised); {out['train'].dtype}"
    for arr in (*out.values(), *ys.values()):
        arr.setflags(write=False)
    digest = content_hash(out["train"], ys["train"], out["val"], ys["val"])
    info = {
        "source": "arrays",
        "encoding": encoding,
        "preprocessing": preprocessing,
        "n_train": int(len(ys["train"])),
        "n_val": int(len(ys["val"])),
        "train_per_class": counts["train"],
        "val_per_class": counts["val"],
        "n_features_in": int(d),
        "n_features": int(2**n_qubits),
        "n_qubits": int(n_qubits),
        "content_hash": digest,
    }
    return Dataset(name, out["train"], ys["train"], out["val"], ys["val"], info)


# ---------------------------------------------------------------- npz files


def _default_name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:100].strip("._") or "custom"
    return stem


def _file_encoding(value: np.ndarray, path: Path) -> str:
    if value.ndim != 0 or value.dtype.kind not in "US":
        raise InputError(
            f"dataset file {path}: 'encoding' must be a 0-d string array such as np.array('amplitude'), "
            f"got dtype {value.dtype}, shape {value.shape}"
        )
    text = value.item()
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _check_declared_sizes(path: Path, fix: str) -> None:
    """Refuse, from the .npy headers alone (nothing else is read), arrays that would not fit in memory."""
    from ..memory import host_memory

    total, sizes = 0, []
    try:
        with zipfile.ZipFile(path) as z:
            for key in (*NPZ_KEYS, "encoding"):
                if f"{key}.npy" not in z.namelist():
                    continue
                with z.open(f"{key}.npy") as fh:
                    try:
                        version = np.lib.format.read_magic(fh)
                    except ValueError:
                        raise InputError(f"dataset file {path}: member {key!r} is not a NumPy array (.npy), so the "
                                         f"file is a zip archive but not an .npz; {fix}") from None
                    read = {(1, 0): np.lib.format.read_array_header_1_0,
                            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read is None:  # an .npy version of no public header reader: np.load will say
                        continue
                    shape, _, dtype = read(fh)
                n = int(np.prod(shape, dtype=object)) * dtype.itemsize
                total += n
                sizes.append((key, shape, n))
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        why = str(exc).replace("\n", " ")[:160]
        raise InputError(f"cannot read dataset file {path} as .npz ({type(exc).__name__}: {why}); "
                         f"it is corrupt; {fix}") from None
    available = host_memory()
    if available and total > available // 2:
        key, shape, n = max(sizes, key=lambda t: t[2])
        raise InputError(f"dataset file {path} declares arrays of {total / 2**30:.1f} GiB ({key} alone: shape "
                         f"{tuple(shape)}, {n / 2**30:.1f} GiB), more than half of this machine's memory "
                         f"({available / 2**30:.1f} GiB); check the file, or use a smaller dataset")


def load_npz(path, name: str | None = None, encoding: str | None = None) -> Dataset:
    """A :class:`~qunlearn.data.Dataset` from a NumPy ``.npz`` file, through :func:`from_arrays`.

    The file holds ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optionally
    a 0-d string ``encoding``; ``encoding`` (the argument) must agree with it
    if both are given, and is "amplitude" if neither is. ``name`` defaults to
    the file's stem. Pickled (object) arrays are never read. ``info`` adds
    source "npz" and the file's path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"the dataset file must be a path, got {path!r}")
    path = Path(os.path.expanduser(os.fspath(path)))
    fix = "save one with np.savez(path, x_train=..., y_train=..., x_val=..., y_val=...)"
    if not path.exists():
        raise InputError(f"dataset file {path} does not exist; check the path, or {fix}")
    if path.is_dir():
        raise InputError(f"dataset file {path} is a directory, not an .npz file; pass the path of the .npz file")
    if not path.is_file():
        raise InputError(f"dataset file {path} is not a regular file (a pipe or a device?); pass an .npz file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise InputError(f"cannot read dataset file {path}: {exc.strerror or exc}; check its permissions") from None
    if head.startswith(b"\x93NUMPY"):
        raise InputError(f"dataset file {path} holds a single array (np.save), not an .npz archive; {fix}")
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):  # an .npz is a zip archive (empty: end record only)
        raise InputError(f"dataset file {path} is not an .npz archive (it does not start like a zip file); {fix}")
    _check_declared_sizes(path, fix)
    arrays: dict[str, np.ndarray] = {}
    key = None
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                have = ", ".join(npz.files) or "none"
                raise InputError(f"dataset file {path} lacks the array(s) {', '.join(missing)} (it has: {have}); {fix}")
            for key in (*NPZ_KEYS, "encoding"):
                if key in npz.files:
                    value = npz[key]
                    if not isinstance(value, np.ndarray):  # a zip member that is not an .npy: NumPy hands raw bytes
                        raise InputError(f"dataset file {path}: member {key!r} is not a NumPy array (.npy), so the "
                                         f"file is a zip archive but not an .npz; {fix}")
                    arrays[key] = value
    except InputError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise InputError(
                f"dataset file {path}: array {key!r} is an object (pickled) array, which qunlearn does not load; "
                "save plain numeric arrays, e.g. np.asarray(x, dtype=float)"
            ) from None
        raise InputError(f"cannot read dataset file {path} as .npz (ValueError: {exc}); it is corrupt; {fix}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, pickle.UnpicklingError, RuntimeError) as exc:
        why = str(exc).replace("\n", " ")[:160]
        raise InputError(f"cannot read dataset file {path} as .npz ({type(exc).__name__}: {why}); "
                         f"it is corrupt; {fix}") from None

    in_file = _file_encoding(arrays["encoding"], path) if "encoding" in arrays else None
    if encoding is not None and in_file is not None and _check_encoding(encoding) != _check_encoding(in_file):
        raise InputError(
            f"dataset file {path} says encoding {in_file!r} but encoding={encoding!r} was passed; "
            "drop the option or fix the file"
        )
    chosen = encoding if encoding is not None else in_file if in_file is not None else "amplitude"
    try:
        ds = from_arrays(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"],
                         name=_default_name(path) if name is None else name, encoding=chosen)
    except InputError as exc:
        raise InputError(f"dataset file {path}: {exc}") from None
    info = {**ds.info, "source": "npz", "path": str(path)}
    return Dataset(ds.name, ds.x_train, ds.y_train, ds.x_val, ds.y_val, info)
