r"""Ground states of the periodic XXZ chain, labelled by phase.

.. math::  H(\Delta) = \sum_{i=0}^{L-1} \left( X_i X_{i+1} + Y_i Y_{i+1}
           + \Delta\, Z_i Z_{i+1} \right), \qquad i + 1 \equiv (i + 1) \bmod L .

Class 0 is the gapless XY phase (:math:`-1 < \Delta < 1`), class 1 the Neel
antiferromagnet (:math:`\Delta > 1`). A window around the transition at
:math:`\Delta = 1` is skipped. Within each class the grid points alternate
between training (odd positions) and validation (even positions); with 83
points per class that is the paper's 82 training and 84 validation states.

Basis convention: spin ``i`` is bit ``L - 1 - i`` of the amplitude index
(spin 0 is the most significant bit) and :math:`Z|0\rangle = +|0\rangle`.
In this basis :math:`X_i X_j + Y_i Y_j` swaps an antiparallel pair with
amplitude 2 and :math:`Z_i Z_j` is diagonal, :math:`\pm 1`.

Ground states come from exact diagonalisation (Lanczos, ``scipy.sparse.linalg.
eigsh``), are real up to a global sign, which is fixed deterministically, and
are stored as complex64. The grid is computed once and cached on disk in that
*fixed* gauge.

The gauge. An eigenvector is defined only up to a global phase
:math:`e^{i\varphi}`, and an eigensolver picks one arbitrarily; the authors'
published states have phases that differ from state to state. A QNN cannot
see a global phase (:math:`\langle\psi|O|\psi\rangle` is invariant), but an
MLP fed real and imaginary parts sees it as a feature. ``phase="random"``
multiplies every state of the grid by its own :math:`e^{i\varphi_k}`,
:math:`\varphi_k` uniform in :math:`[0, 2\pi)` drawn from ``phase_seed`` in
grid order (training and validation states alike, each its own), on load;
``phase="fixed"`` keeps the deterministic real gauge.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from qunlearn.data import Dataset
from qunlearn.errors import InputError

__all__ = [
    "cache_dir",
    "ground_state",
    "load_xxz",
    "make_grid",
    "describe",
    "summary_table",
    "xxz_hamiltonian",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PHASES = ("random", "fixed")
SOURCE = "exact diagonalisation (scipy eigsh)"
MAX_SPINS = 16
MAX_PER_CLASS = 10_000
_EIGSH_TOL = 1e-12
_V0_SEED = 0
_NORM_TOL = 1e-4


# ---------------------------------------------------------------- physics


@functools.lru_cache(maxsize=4)
def _xxz_parts(n_spins: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """(XX+YY part as CSR, ZZ diagonal) for the periodic chain; the Delta-free pieces of H."""
    dim = 1 << n_spins
    idx = np.arange(dim, dtype=np.int64)
    rows, cols = [], []
    zz = np.zeros(dim, dtype=np.float64)
    for i in range(n_spins):
        j = (i + 1) % n_spins
        mi, mj = 1 << (n_spins - 1 - i), 1 << (n_spins - 1 - j)
        anti = ((idx & mi) > 0) != ((idx & mj) > 0)
        rows.append(idx[anti])
        cols.append(idx[anti] ^ (mi | mj))
        zz += np.where(anti, -1.0, 1.0)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    hop = sp.coo_matrix((np.full(r.size, 2.0), (r, c)), shape=(dim, dim)).tocsr()  # duplicates summed (L = 2)
    hop.sum_duplicates()
    zz.setflags(write=False)
    return hop, zz


def xxz_hamiltonian(n_spins: int, delta: float) -> sp.csr_matrix:
    r"""Sparse :math:`H = \sum_i (X_iX_{i+1} + Y_iY_{i+1} + \Delta Z_iZ_{i+1})`, periodic, real CSR.

    For ``n_spins = 2`` the sum runs over i = 0, 1 and so counts the one bond twice.
    """
    n_spins = _check_spins(n_spins)
    hop, zz = _xxz_parts(n_spins)
    return (hop + sp.diags(float(delta) * zz, format="csr")).tocsr()


def _v0(dim: int) -> np.ndarray:
    """Deterministic Lanczos start: normalised ones plus a fixed-seed perturbation."""
    v = np.ones(dim) + np.random.default_rng(_V0_SEED).standard_normal(dim)
    return v / np.linalg.norm(v)


def _fix_sign(psi: np.ndarray) -> np.ndarray:
    """Global sign: the first amplitude with at least half the largest magnitude is made positive.

    (Symmetry makes several amplitudes equal in magnitude; taking the first
    of them, not the numerically largest, keeps the choice reproducible.)
    """
    mag = np.abs(psi)
    k = int(np.flatnonzero(mag >= 0.5 * mag.max())[0])
    return psi * np.sign(psi[k])


def ground_state(n_spins: int, delta: float) -> tuple[np.ndarray, float, float]:
    """Ground state (float64, unit norm, sign fixed), ground energy and gap to the next level."""
    h = xxz_hamiltonian(n_spins, delta)
    vals, vecs = spla.eigsh(h, k=2, which="SA", v0=_v0(h.shape[0]), tol=_EIGSH_TOL)
    order = np.argsort(vals)
    vals, vecs = vals[order], vecs[:, order]
    psi = vecs[:, 0] / np.linalg.norm(vecs[:, 0])
    return _fix_sign(psi), float(vals[0]), float(vals[1] - vals[0])


# ---------------------------------------------------------------- options


def _check_spins(n_spins) -> int:
    if isinstance(n_spins, bool) or not isinstance(n_spins, (int, np.integer)):
        raise InputError(f"n_spins must be an even integer in 2..{MAX_SPINS}, got {n_spins!r}")
    n = int(n_spins)
    if n > MAX_SPINS:
        gib = _memory_bytes(n, 2) / 2**30
        raise InputError(
            f"n_spins={n} is too large for exact diagonalisation here (a 2^{n}-dimensional problem, "
            f"about {gib:.1f} GiB per state solve); use n_spins <= {MAX_SPINS}"
        )
    if n < 2:
        raise InputError(f"n_spins must be at least 2, got {n}; the paper uses 12")
    if n % 2:
        raise InputError(
            f"n_spins={n} is odd: the periodic antiferromagnetic chain is then frustrated and its "
            "ground state degenerate, so the data would not be well defined; use an even n_spins such as 12"
        )
    return n


def _memory_bytes(n_spins: int, n_states: int) -> int:
    dim = 2**n_spins
    sparse = dim * (n_spins + 1) * 12  # CSR values + column indices
    lanczos = dim * 8 * 25  # eigsh work vectors (ncv ~ 20)
    return sparse + lanczos + dim * 8 * n_states


def _check_float(value, name: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(f):
        raise InputError(f"{name} must be finite, got {value!r}")
    return f


def _check_params(n_spins, n_per_class, delta_min, delta_max, window) -> dict:
    n_spins = _check_spins(n_spins)
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 2:
        raise InputError(f"n_per_class must be an integer >= 2 (grid points per class), got {n_per_class!r}")
    if n_per_class > MAX_PER_CLASS:
        raise InputError(f"n_per_class={n_per_class} is more than {MAX_PER_CLASS} grid points per class; each is an "
                         "exact diagonalisation, and the paper uses 83")
    need = 2 * int(n_per_class) * 2**n_spins * 8  # the grid's states, complex64
    from ..memory import host_memory

    if need > host_memory() // 2:
        raise InputError(f"{2 * n_per_class} states of {n_spins} spins need {need / 2**30:.1f} GiB, more than half "
                         f"of the {host_memory() / 2**30:.1f} GiB available; use fewer grid points")
    window = _check_float(window, "window")
    delta_min = _check_float(delta_min, "delta_min")
    delta_max = _check_float(delta_max, "delta_max")
    if not 0.0 < window < 1.0:
        raise InputError(f"window must lie in (0, 1) (half-width skipped around Delta = 1), got {window}; e.g. 0.2")
    if not -1.0 < delta_min < 1.0 - window:
        raise InputError(
            f"delta_min must satisfy -1 < delta_min < 1 - window = {1 - window:g}, got {delta_min}; "
            "Delta <= -1 is the ferromagnet, not the XY phase; e.g. -0.95"
        )
    if not delta_max > 1.0 + window:
        raise InputError(f"delta_max must exceed 1 + window = {1 + window:g}, got {delta_max}; e.g. 3.0")
    return {
        "n_spins": n_spins,
        "n_per_class": int(n_per_class),
        "delta_min": delta_min,
        "delta_max": delta_max,
        "window": window,
    }


def make_grid(n_per_class: int, delta_min: float, delta_max: float, window: float) -> tuple[np.ndarray, np.ndarray]:
    """(deltas, labels) of the whole grid, sorted by Delta: class 0 then class 1."""
    d0 = np.linspace(delta_min, 1.0 - window, n_per_class)
    d1 = np.linspace(1.0 + window, delta_max, n_per_class)
    labels = np.repeat(np.array([0, 1], dtype=np.int32), n_per_class)
    return np.concatenate([d0, d1]), labels


def _split_mask(n_per_class: int) -> np.ndarray:
    """True for training points: odd positions within each class."""
    pos = np.tile(np.arange(n_per_class), 2)
    return pos % 2 == 1


# ---------------------------------------------------------------- cache


def cache_dir() -> Path:
    """``$QUNLEARN_CACHE_DIR`` if set, else the platform's user cache dir for qunlearn."""
    from ..backend import cache_root

    return cache_root()


def _cache_key(params: dict) -> tuple[str, str]:
    """(canonical JSON of everything that determines the data, its short sha256)."""
    payload = dict(params, format_version=FORMAT_VERSION, eigsh_tol=_EIGSH_TOL, v0_seed=_V0_SEED)
    text = json.dumps(payload, sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_path(params: dict) -> Path:
    _, digest = _cache_key(params)
    return cache_dir() / f"xxz-L{params['n_spins']}-v{FORMAT_VERSION}-{digest}.npz"


def _compute(params: dict) -> dict:
    deltas, labels = make_grid(params["n_per_class"], params["delta_min"], params["delta_max"], params["window"])
    dim = 2 ** params["n_spins"]
    states = np.empty((len(deltas), dim), dtype=np.complex64)
    energies = np.empty(len(deltas))
    gaps = np.empty(len(deltas))
    for k, delta in enumerate(deltas):
        psi, energies[k], gaps[k] = ground_state(params["n_spins"], delta)
        states[k] = psi
    tiny = gaps < 1e-6
    if tiny.any():
        log.warning(
            "XXZ: near-degenerate ground state (gap < 1e-6) at Delta = %s; those states are not unique",
            ", ".join(f"{d:.4g}" for d in deltas[tiny]),
        )
    log.info("XXZ: %d ground states of %d spins computed", len(deltas), params["n_spins"])
    return {"states": states, "deltas": deltas, "labels": labels, "energies": energies, "gaps": gaps}


_EIGEN_TOL = 1e-4  # |H psi - E psi| of a cached state, relative to max(1, |E|) (states are stored as complex64)


def _verify(data: dict, params: dict, stored_params: str) -> None:
    """Raise ValueError unless the cached arrays are the grid for ``params``."""
    text, _ = _cache_key(params)
    if stored_params != text:
        raise ValueError("generation parameters differ")
    n = 2 * params["n_per_class"]
    dim = 2 ** params["n_spins"]
    deltas, labels = make_grid(params["n_per_class"], params["delta_min"], params["delta_max"], params["window"])
    if data["states"].shape != (n, dim) or data["states"].dtype != np.complex64:
        raise ValueError(f"states have shape {data['states'].shape}, dtype {data['states'].dtype}")
    for key in ("deltas", "energies", "gaps"):
        if data[key].shape != (n,) or not np.all(np.isfinite(data[key])):
            raise ValueError(f"{key} malformed")
    if not np.allclose(data["deltas"], deltas, rtol=0, atol=1e-12) or not np.array_equal(data["labels"], labels):
        raise ValueError("grid differs")
    if not np.all(np.isfinite(data["states"].view(np.float32))):
        raise ValueError("states not finite")
    norms = np.linalg.norm(data["states"].astype(np.complex128), axis=1)
    if not np.all(np.abs(norms - 1.0) < _NORM_TOL):
        raise ValueError("states not normalised")
    if np.any(data["gaps"] < -1e-8):
        raise ValueError("negative gaps")
    for k, delta in enumerate(deltas):  # each state an eigenvector of its own H, at its stored energy
        psi = data["states"][k].astype(np.complex128)
        h_psi = xxz_hamiltonian(params["n_spins"], delta) @ psi
        scale = max(1.0, abs(float(data["energies"][k])))
        if np.linalg.norm(h_psi - data["energies"][k] * psi) > _EIGEN_TOL * scale:
            raise ValueError(f"state {k} (Delta = {delta:.4g}) is not the ground state of its Hamiltonian")


def _read_cache(path: Path, params: dict) -> dict | None:
    """The cached grid, ``None`` if there is none; a corrupt file is refused, never silently replaced."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: np.asarray(npz[k]) for k in ("states", "deltas", "labels", "energies", "gaps")}
            stored = str(npz["params"])
        _verify(data, params, stored)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:120]
        raise InputError(
            f"the XXZ cache file {path} is corrupt ({why}); recompute it with "
            f"'qunlearn data xxz --n-spins {params['n_spins']} --rebuild' (same grid options) or delete it"
        ) from None
    return data


def _write_cache(path: Path, params: dict, data: dict) -> bool:
    text, _ = _cache_key(params)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, params=np.array(text), **data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("could not write XXZ cache %s (%s); continuing without it", path, exc)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False


# ---------------------------------------------------------------- loader


def _check_phase(phase, phase_seed) -> tuple[str, int]:
    if phase not in PHASES:
        raise InputError(f"unknown XXZ phase {phase!r}; use one of {', '.join(PHASES)} "
                         "(the global phase of each state)")
    if isinstance(phase_seed, bool) or not isinstance(phase_seed, (int, np.integer)) or phase_seed < 0:
        raise InputError(f"phase_seed must be a non-negative integer, got {phase_seed!r}")
    if phase_seed >= 2**63:
        raise InputError(f"phase_seed = {phase_seed} does not fit in 63 bits; use a seed below {2**63}")
    return phase, int(phase_seed)


def global_phases(n_states: int, phase_seed: int) -> np.ndarray:
    """The random gauge: one angle in [0, 2 pi) per grid state, in grid order, from ``phase_seed``."""
    return np.random.default_rng(phase_seed).uniform(0.0, 2.0 * np.pi, n_states)


def load_xxz(
    n_spins: int = 12,
    n_per_class: int = 83,
    delta_min: float = -0.95,
    delta_max: float = 3.0,
    window: float = 0.2,
    phase: str = "fixed",
    phase_seed: int = 0,
    cache: bool = True,
    rebuild: bool = False,
) -> Dataset:
    """XXZ ground states, XY phase (label 0) vs Neel phase (label 1).

    Args:
      n_spins: chain length L (even, 2..16); inputs have 2**L complex amplitudes.
      n_per_class: grid points per class; class 0 is linspace(delta_min, 1 - window),
        class 1 linspace(1 + window, delta_max).
      delta_min, delta_max: grid ends, -1 < delta_min < 1 - window < 1 + window < delta_max.
      window: half-width of the skipped interval around the transition Delta = 1.
      phase: the gauge, ``"fixed"`` (real, sign fixed) or ``"random"`` (each state times its own
        random global phase, as an eigensolver leaves it and as the published states are).
      phase_seed: seed of the random gauge (ignored for ``"fixed"``).
      cache: read/write the computed grid in :func:`cache_dir`. A cached file that
        is unreadable or inconsistent is refused (:class:`InputError`), not replaced.
      rebuild: recompute the grid even if cached, and overwrite the cache file.

    Training takes the odd grid positions of each class, validation the even ones.
    """
    if not isinstance(cache, (bool, np.bool_)):
        raise InputError(f"cache must be True or False, got {cache!r}")
    params = _check_params(n_spins, n_per_class, delta_min, delta_max, window)
    phase, phase_seed = _check_phase(phase, phase_seed)

    path = _cache_path(params) if cache else None
    data = _read_cache(path, params) if path is not None and not rebuild else None
    if data is None:
        data = _compute(params)
        if path is not None and not _write_cache(path, params, data):
            path = None

    train = _split_mask(params["n_per_class"])
    val = ~train
    deltas, energies, gaps = data["deltas"], data["energies"], data["gaps"]
    states = np.asarray(data["states"], dtype=np.complex64)
    if phase == "random":
        states = (states.astype(np.complex128) * np.exp(1j * global_phases(len(states), phase_seed))[:, None]
                  ).astype(np.complex64)
    gauge = ("fixed (real, global sign fixed)" if phase == "fixed"
             else f"random global phase per state (seed {phase_seed})")
    labels = np.asarray(data["labels"], dtype=np.int32)
    info = {
        "source": SOURCE,
        "hamiltonian": "sum_i X_i X_{i+1} + Y_i Y_{i+1} + Delta Z_i Z_{i+1}, periodic",
        "basis": "spin 0 = most significant bit of the amplitude index; Z|0> = +|0>",
        "preprocessing": f"ground state, unit norm; gauge {gauge}; complex64",
        "phase": phase,
        "phase_seed": phase_seed,
        "gauge": gauge,
        "encoding": "amplitude (state vector as is)",
        "n_spins": params["n_spins"],
        "n_qubits": params["n_spins"],
        "n_per_class": params["n_per_class"],
        "delta_min": params["delta_min"],
        "delta_max": params["delta_max"],
        "window": params["window"],
        "split": "odd grid positions per class train, even ones validation",
        "n_train": int(train.sum()),
        "n_val": int(val.sum()),
        "delta_train": [float(d) for d in deltas[train]],
        "delta_val": [float(d) for d in deltas[val]],
        "energies_train": [float(e) for e in energies[train]],
        "energies_val": [float(e) for e in energies[val]],
        "gaps_train": [float(g) for g in gaps[train]],
        "gaps_val": [float(g) for g in gaps[val]],
        "gap_min": float(gaps.min()),
        "delta_at_gap_min": float(deltas[int(np.argmin(gaps))]),
        "cache_path": str(path) if path is not None else None,
        "format_version": FORMAT_VERSION,
    }
    return Dataset("xxz", states[train], labels[train], states[val], labels[val], info)


def describe(ds: Dataset, states: bool = False) -> tuple[list[str], list]:
    """What ``qunlearn data xxz`` prints: lines about the grid and ``(title, table)`` pairs of display tables
    (the states per split and label; with ``states``, every state)."""
    import pandas as pd

    info, s = ds.info, ds.summary()
    lines = [f"XXZ chain, {info['n_spins']} spins, periodic; {info['hamiltonian']}",
             f"grid: class 0 (XY) Delta in [{info['delta_min']}, {1 - info['window']:.3f}], class 1 (Neel) Delta in "
             f"[{1 + info['window']:.3f}, {info['delta_max']}], {info['n_per_class']} points each",
             f"train: {s['n_train']} states {s['train_per_class']}; "
             f"validation: {s['n_val']} states {s['val_per_class']}",
             f"gauge: {info['gauge']}",
             f"smallest gap {info['gap_min']:.4f} at Delta = {info['delta_at_gap_min']:.3f}"]
    df = pd.DataFrame(summary_table(ds))
    span = lambda v, d: f"{v.min():.{d}f} .. {v.max():.{d}f}"  # noqa: E731
    grouped = pd.DataFrame([(split, str(label), str(len(g)), span(g["delta"], 3), span(g["energy"], 4),
                             f"{g['gap'].min():.4f}") for (split, label), g in df.groupby(["split", "label"])],
                           columns=["split", "label", "states", "Delta range", "E0 range", "min gap"])
    tables = [("ground states", grouped)]
    if states:
        df = df.sort_values("delta")
        tables.append(("all states", pd.DataFrame({
            "split": df["split"], "Delta": df["delta"].map("{:.4f}".format), "label": df["label"].astype(str),
            "E0": df["energy"].map("{:.6f}".format), "gap": df["gap"].map("{:.4f}".format)})))
    return lines, tables


def summary_table(ds: Dataset) -> list[dict]:
    """One row per state: split, delta, label, energy, gap (training rows first)."""
    rows = []
    for split, y in (("train", ds.y_train), ("val", ds.y_val)):
        for delta, label, energy, gap in zip(
            ds.info[f"delta_{split}"], y, ds.info[f"energies_{split}"], ds.info[f"gaps_{split}"]
        ):
            rows.append({"split": split, "delta": delta, "label": int(label), "energy": energy, "gap": gap})
    return rows
