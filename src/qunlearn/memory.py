"""Memory estimates: refuse a run that cannot fit before allocating, size vmapped batches.

A state-vector QNN on ``n`` qubits holds ``2**n`` complex amplitudes per input.
A vmapped training program keeps, per run and per input of a minibatch, the
state after every layer for the backward pass plus a few working copies, so

.. math:: \\text{bytes} \\approx R \\cdot B \\cdot 2^n \\cdot s \\cdot (d + 8),

with ``R`` runs, batch ``B``, ``s`` bytes per amplitude (8 for complex64) and
depth ``d``. The estimate is deliberately generous; measured peaks on the paper
sizes stay below it.
"""

from __future__ import annotations

import os

from .errors import InputError, count

GIB = 2**30
HEADROOM = 0.8  # share of the available memory a run may plan to use


def device_memory() -> tuple[int, str]:
    """(bytes available to computations, a description) on the device JAX uses first."""
    import jax

    dev = jax.devices()[0]
    if dev.platform != "cpu":
        try:
            stats = dev.memory_stats() or {}
            limit = int(stats.get("bytes_limit", 0)) - int(stats.get("bytes_in_use", 0))
            if limit > 0:
                return limit, f"{dev.device_kind} ({dev.platform})"
        except Exception:  # pragma: no cover - depends on the accelerator runtime
            pass
    return host_memory(), "host memory"


def host_memory() -> int:
    """Available host memory in bytes (MemAvailable on Linux, physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 8 * GIB


def qnn_bytes(n_qubits: int, batch: int, runs: int, depth: int, itemsize: int = 8) -> int:
    """Estimated peak bytes of a vmapped value-and-gradient step (see the module docstring)."""
    return int(runs) * int(batch) * (2 ** int(n_qubits)) * int(itemsize) * (int(depth) + 8)


def check_qnn_fits(n_qubits: int, batch: int, runs: int, depth: int, itemsize: int = 8,
                   what: str = "the QNN", available: int | None = None, trajectories: int = 1,
                   field: str = "trajectories") -> None:
    """Refuse (:class:`InputError`) a QNN program whose estimated memory exceeds what is available
    (``trajectories``: state vectors per sample, for a noisy QNN, set by its noise table's ``field``)."""
    need = qnn_bytes(n_qubits, batch * trajectories, runs, depth, itemsize)
    _refuse_beyond(need, available, lambda have: (
        f"{what} on {n_qubits} qubits ({count(runs, 'run')} x batch {batch}"
        + ("" if trajectories == 1 else f" x {trajectories} noise trajectories ({field})")
        + f", depth {depth}) needs about {need / GIB:.1f} GiB, more than {have}; use fewer runs, a smaller batch size"
        + (f", a smaller {field}" if trajectories > 1 else "") + " or fewer qubits"))


def _refuse_beyond(need: int, available: int | None, message) -> None:
    """Raise :class:`InputError` with ``message(have)`` (``have``: "the X GiB of ... available") when ``need``
    bytes exceed the headroom of ``available`` (default: this device's memory)."""
    where = "given"
    if available is None:
        available, where = device_memory()
    if need > HEADROOM * available:
        raise InputError(message(f"the {available / GIB:.1f} GiB of {where} available"))


def chunk_size(per_item_bytes: int, n_items: int, share: float = 0.5) -> int:
    """How many items of ``per_item_bytes`` to vmap together: as many as fit in ``share`` of the device memory."""
    available, _ = device_memory()
    fit = int(share * available // max(per_item_bytes, 1))
    return max(1, min(n_items, fit))


def check_qnn_eval_fits(n_qubits: int, n_samples: int, runs: int, trajectories: int, itemsize: int = 8,
                        what: str = "the QNN", available: int | None = None) -> None:
    """Refuse a noisy QNN whose metrics (a forward pass of ``n_samples`` states x ``trajectories``, ``runs`` at
    once) would not fit in memory."""
    need = qnn_bytes(n_qubits, n_samples * trajectories, runs, 0, itemsize)
    _refuse_beyond(need, available, lambda have: (
        f"{what}: its metrics evaluate {n_samples} states x {trajectories} noise trajectories on {n_qubits} "
        f"qubits ({count(runs, 'run')} at once), about {need / GIB:.1f} GiB, more than {have}; use fewer "
        "trajectories in its noise table (train_trajectories sets the training steps' own) or fewer runs"))
