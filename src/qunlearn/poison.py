"""Training-set poisoning attacks (PROTOCOL.md, section "Poisoning").

Two class-balanced attacks on a binary data set with labels 0 and 1:

* :func:`label_flip` -- ``n`` = N * alpha rounded *down* to an even number;
  ``n/2`` indices are drawn without replacement from each class and their
  labels are swapped 0 <-> 1.
* :func:`feature_randomize` -- the same index choice with ``n`` rounded *up* to
  an even number; each chosen input is replaced by a random vector with entries
  N(0, sigma^2) (real and imaginary parts each N(0, sigma^2) for complex data),
  normalised to unit L2 length. Labels are kept.

All functions are pure: inputs are never modified and NumPy arrays are
returned (``x`` keeps its dtype, labels are ``int32``, indices are a sorted
``int64`` array). All randomness is drawn with :mod:`jax.random` from the key
passed in, so the result depends only on that key (and on the inputs).

Key use: ``key`` is split into an index key and a vector key; the index key is
split once more, one sub-key per class, and each class takes the first ``n/2``
entries of a random permutation of its members. Hence with the same key
:func:`feature_randomize` chooses a superset of the rows that :func:`label_flip`
flips, and the chosen rows of a smaller ``alpha`` are a subset of those of a
larger one.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import InputError, check_alpha, check_finite_positive

__all__ = [
    "ATTACKS",
    "feature_randomize",
    "flip_mask",
    "label_flip",
    "label_flip_random",
    "n_poisoned",
    "poison",
]

from .vocab import ATTACKS  # noqa: E402  (the names a config reads, without JAX)

# N * alpha within this relative distance of an integer counts as that integer,
# so float noise such as 1000 * 0.30000000000000004 = 300.00000000000006 does
# not push the count over an even boundary.
_SNAP_RTOL = 1e-9


# ---------------------------------------------------------------- helpers


def _snap(value: float) -> float:
    """``value`` or, when it lies within float noise of an integer, that integer."""
    nearest = round(value)
    return float(nearest) if abs(value - nearest) <= _SNAP_RTOL * max(1.0, abs(value)) else value


def n_poisoned(n: int, alpha: Any, *, round_up: bool) -> int:
    """Number of poisoned samples out of ``n`` at noise ratio ``alpha``.

    ``n * alpha`` rounded down (``round_up=False``, label flipping) or up
    (``round_up=True``, feature randomisation) to an even number, so that half
    of it can be taken from each class. A product within float noise of an
    integer is treated as that integer (``int(1000 * 0.3)`` style surprises are
    avoided).
    """
    alpha = check_alpha(alpha)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"number of samples must be a non-negative integer, got {n!r}")
    value = _snap(int(n) * alpha)
    if round_up:
        return 2 * math.ceil(value / 2.0)
    return 2 * math.floor(value / 2.0)


def flip_mask(n: int, indices: Any) -> np.ndarray:
    """Boolean array of length ``n``, True exactly at ``indices``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"mask length must be a non-negative integer, got {n!r}")
    idx = np.asarray(indices)
    if idx.size == 0:
        return np.zeros(int(n), dtype=bool)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError(
            f"indices must be a 1-D integer array, got shape {idx.shape} and dtype {idx.dtype}"
        )
    if idx.min() < 0 or idx.max() >= n:
        raise InputError(
            f"indices must lie in [0, {int(n)}), got values from {int(idx.min())} to "
            f"{int(idx.max())}; pass indices into an array of length {int(n)}"
        )
    mask = np.zeros(int(n), dtype=bool)
    mask[idx] = True
    return mask


def _check_key(key: Any) -> jax.Array:
    """Accept a new-style typed key or a legacy uint32 key; refuse anything else."""
    hint = "pass jax.random.key(seed) or jax.random.PRNGKey(seed)"
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise InputError(f"key must be a jax.random key, got {type(key).__name__}; {hint}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise InputError(f"key must be a single key, got a batch of shape {key.shape}; {hint}")
        return key
    if np.dtype(key.dtype) == np.uint32 and len(key.shape) == 1 and key.shape[0] in (2, 4):
        return jnp.asarray(key)
    raise InputError(
        f"key must be a jax.random key, got an array of shape {tuple(key.shape)} "
        f"and dtype {key.dtype}; {hint}"
    )


def _check_labels(y: Any) -> np.ndarray:
    """Return ``y`` as a fresh int32 NumPy array of 0/1 labels."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(f"labels y must be a 1-D array, got shape {arr.shape}; pass one label per sample")
    if arr.dtype == bool:
        return arr.astype(np.int32)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"labels y must be 0 or 1, got dtype {arr.dtype}; pass an integer array of 0s and 1s")
    bad = ~((arr == 0) | (arr == 1))
    if np.any(bad):
        first = arr[bad][0]
        raise InputError(
            f"labels y must be 0 or 1, found {first!r}; binarise the labels before poisoning"
        )
    return arr.astype(np.int32)


def _choose_indices(y: np.ndarray, n: int, key: jax.Array, attack: str) -> np.ndarray:
    """Sorted int64 indices: ``n/2`` drawn without replacement from each class."""
    per_class = n // 2
    idx_key, _ = jax.random.split(key)
    class_keys = jax.random.split(idx_key, 2)
    chosen = []
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        if members.size < per_class:
            raise InputError(
                f"{attack} needs {per_class} samples of class {label} "
                f"(n = {n} poisoned, half per class) but the data has only {members.size}; "
                f"lower alpha or use a data set with more class-{label} samples"
            )
        if per_class == 0:
            continue
        perm = np.asarray(jax.random.permutation(class_keys[label], members.size))
        chosen.append(members[perm[:per_class]])
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# ---------------------------------------------------------------- attacks


def label_flip(y: Any, alpha: Any, key: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced label flipping.

    Returns ``(y_poisoned, flipped_indices)``: an int32 copy of ``y`` with the
    labels at ``flipped_indices`` (sorted int64) swapped 0 <-> 1.
    """
    alpha = check_alpha(alpha)
    key = _check_key(key)
    y_p = _check_labels(y)
    n = n_poisoned(y_p.shape[0], alpha, round_up=False)
    idx = _choose_indices(y_p, n, key, "label flipping")
    y_p[idx] = 1 - y_p[idx]
    return y_p, idx


def label_flip_random(y: Any, alpha: Any, key: Any) -> tuple[np.ndarray, np.ndarray]:
    """Label flipping that is *not* class-balanced (the landscape study's attack).

    ``n`` = N * alpha rounded down; ``n`` indices are drawn uniformly without
    replacement from all samples and their labels swapped 0 <-> 1. Returns
    ``(y_poisoned, flipped_indices)`` like :func:`label_flip`.
    """
    alpha = check_alpha(alpha)
    key = _check_key(key)
    y_p = _check_labels(y)
    n = int(math.floor(_snap(y_p.shape[0] * alpha)))
    idx = np.sort(np.asarray(jax.random.choice(key, y_p.shape[0], (n,), replace=False))).astype(np.int64)
    y_p[idx] = 1 - y_p[idx]
    return y_p, idx


def feature_randomize(
    x: Any, y: Any, alpha: Any, key: Any, *, sigma: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced feature randomisation.

    Returns ``(x_poisoned, replaced_indices)``: a copy of ``x`` (same dtype)
    whose rows at ``replaced_indices`` (sorted int64) are random unit vectors.
    The raw entries are N(0, sigma^2) -- for complex ``x`` real and imaginary
    parts each N(0, sigma^2) -- before normalisation over all non-leading axes.
    """
    alpha = check_alpha(alpha)
    sigma = check_finite_positive(sigma, "sigma")
    key = _check_key(key)
    y_arr = _check_labels(y)
    x_arr = np.asarray(x)
    if x_arr.ndim < 2:
        raise InputError(
            f"inputs x must have one row per sample (at least 2-D), got shape {x_arr.shape}; "
            "reshape to (n_samples, n_features)"
        )
    if x_arr.shape[0] != y_arr.shape[0]:
        raise InputError(
            f"x has {x_arr.shape[0]} rows but y has {y_arr.shape[0]} labels; pass one label per row"
        )
    is_complex = np.issubdtype(x_arr.dtype, np.complexfloating)
    if not (is_complex or np.issubdtype(x_arr.dtype, np.floating)):
        raise InputError(
            f"inputs x must have a float or complex dtype, got {x_arr.dtype}; "
            "convert with x.astype(np.float32)"
        )
    x_p = np.array(x_arr, copy=True)
    n = n_poisoned(x_arr.shape[0], alpha, round_up=True)
    idx = _choose_indices(y_arr, n, key, "feature randomisation")
    if idx.size == 0:
        return x_p, idx

    _, vec_key = jax.random.split(key)
    shape = (idx.size,) + x_arr.shape[1:]
    # Always draw float32 so the values do not depend on jax_enable_x64.
    if is_complex:
        re_key, im_key = jax.random.split(vec_key)
        re = np.asarray(jax.random.normal(re_key, shape, dtype=jnp.float32), dtype=np.float64)
        im = np.asarray(jax.random.normal(im_key, shape, dtype=jnp.float32), dtype=np.float64)
        vecs = sigma * (re + 1j * im)
    else:
        vecs = sigma * np.asarray(jax.random.normal(vec_key, shape, dtype=jnp.float32), dtype=np.float64)
    flat = vecs.reshape(idx.size, -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # probability zero; avoids a division by zero
    x_p[idx] = (flat / norms).reshape(shape).astype(x_arr.dtype)
    return x_p, idx


def poison(kind: str, x: Any, y: Any, alpha: Any, key: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply attack ``kind`` (one of :data:`ATTACKS`).

    Returns ``(x_poisoned, y_poisoned, indices)``; the part an attack does not
    touch is returned as an unchanged NumPy copy (``y`` as int32).
    """
    if kind not in ATTACKS:
        raise InputError(f"unknown poisoning attack {kind!r}; choose one of {', '.join(ATTACKS)}")
    if kind == "label-flip":
        y_p, idx = label_flip(y, alpha, key)
        x_p = np.array(np.asarray(x), copy=True)
        if x_p.ndim < 1 or x_p.shape[0] != y_p.shape[0]:
            raise InputError(
                f"x has shape {x_p.shape} but y has {y_p.shape[0]} labels; pass one label per row"
            )
        return x_p, y_p, idx
    x_p, idx = feature_randomize(x, y, alpha, key)
    return x_p, _check_labels(y), idx
