"""Amplitude encoding helpers: pad, normalise, complex -> real.

An input vector :math:`x \\in \\mathbb{R}^d` becomes the amplitude vector of an
:math:`n`-qubit state by zero-padding to :math:`2^n` entries and dividing by its
Euclidean norm,

.. math::  |\\psi(x)\\rangle = \\frac{1}{\\lVert x \\rVert_2}
           \\sum_{k < d} x_k \\, |k\\rangle ,

so the padded entries are exactly zero and :math:`\\langle\\psi|\\psi\\rangle = 1`.
The classical baseline sees the same vector (real and imaginary parts
concatenated when the data are complex).
"""

from __future__ import annotations

import math

import numpy as np

from qunlearn.errors import InputError

__all__ = ["amplitude_encode", "as_real", "normalize_rows"]


def _as_2d(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D array (samples, features), got shape {arr.shape}; "
            "reshape it, e.g. x.reshape(len(x), -1)"
        )
    if arr.dtype.kind not in "biufc":
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}; convert it with np.asarray(x, float)")
    return arr


def normalize_rows(x) -> np.ndarray:
    """Divide every row by its L2 norm; real input -> float32, complex -> complex64.

    All-zero rows (no valid state) and non-finite entries are refused.
    """
    arr = _as_2d(x)
    if arr.dtype.kind == "c":
        work = arr.astype(np.complex128)
        out_dtype = np.complex64
    else:
        work = arr.astype(np.float64)
        out_dtype = np.float32
    if not np.all(np.isfinite(work)):
        bad = int(np.nonzero(~np.all(np.isfinite(work), axis=1))[0][0])
        raise InputError(f"row {bad} contains NaN or infinite values; clean the input before encoding")
    norms = np.linalg.norm(work, axis=1)
    zero = np.nonzero(norms == 0.0)[0]
    if zero.size:
        raise InputError(
            f"{zero.size} row(s) are all zero (first: row {int(zero[0])}) and cannot be "
            "normalised to a quantum state; drop those samples"
        )
    return (work / norms[:, None]).astype(out_dtype)


def amplitude_encode(x, n_qubits: int | None = None) -> np.ndarray:
    """Zero-pad rows of ``x`` (N, d) to ``2**n_qubits`` entries and L2-normalise them.

    ``n_qubits=None`` picks the smallest ``n`` with ``2**n >= d``. Returns float32
    of shape (N, 2**n); the padded entries are exactly zero.
    """
    arr = _as_2d(x)
    if arr.dtype.kind == "c":
        raise InputError("amplitude_encode expects real features, got complex; complex data are already amplitudes")
    n, d = arr.shape
    if d < 1:
        raise InputError("x has zero features; pass at least one feature per sample")
    if n_qubits is None:
        n_qubits = max(0, math.ceil(math.log2(d)))
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 0:
        raise InputError(f"n_qubits must be a non-negative integer, got {n_qubits!r}")
    dim = 2 ** int(n_qubits)
    if d > dim:
        raise InputError(
            f"{d} features do not fit into {n_qubits} qubits ({dim} amplitudes); "
            f"use n_qubits >= {math.ceil(math.log2(d))} or leave it as None"
        )
    padded = np.zeros((n, dim), dtype=np.float64)
    padded[:, :d] = arr
    return normalize_rows(padded)


def as_real(x) -> np.ndarray:
    """Complex (N, d) -> real float32 (N, 2d) = [Re x, Im x]; real input passes as float32."""
    arr = _as_2d(x)
    if arr.dtype.kind != "c":
        return np.asarray(arr, dtype=np.float32)
    return np.concatenate([arr.real, arr.imag], axis=1).astype(np.float32)
