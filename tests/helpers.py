"""Helpers shared by the CLI tests."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from qunlearn import cli


def run_cli(args):
    """Run the CLI in-process; return the exit status."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(args))
    return exc.value.code


def snapshot(path: Path) -> dict:
    """sha256 of every file below ``path``: equal snapshots mean nothing was touched."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def qnn_toy(n_qubits=4, n=32, seed=0):
    """Class k: amplitude concentrated on basis states whose qubit 0 (the MSB) equals k.

    Readout is on the last qubit, so the circuit has to move information from
    qubit 0 to qubit n-1 (through the RZZ ring) to classify.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = 0.3 * rng.normal(size=(n, 2**n_qubits))
    msb = (np.arange(2**n_qubits) >> (n_qubits - 1)) & 1
    x[msb[None, :] == y[:, None]] += 1.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int32)
