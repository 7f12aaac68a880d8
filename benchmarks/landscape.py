"""Time Hessian trace / top-eigenvalue estimation, and optionally the full landscape experiment.

    PYTHONPATH=src python benchmarks/landscape.py              # MLP (64, 16) on MNIST: estimators
    PYTHONPATH=src python benchmarks/landscape.py --full       # + the paper-preset landscape experiment

Part 1 trains an MLP (64, 16) on MNIST 1 vs 9 (10 epochs; 66k parameters) and
times, on 100 held-out points: the exact trace (n Hessian-vector products, no
matrix, no eigendecomposition), Hutchinson (100 probes, with its standard
error) and the Lanczos top-5 eigenvalues. The dense Hessian alone would need
n^2 * 4 bytes (printed), which is why the paper's eigendecomposition route is
not a baseline here. Part 2 (--full) runs `qunlearn landscape --preset paper`
into a temporary directory and reports its wall time.

Prints a markdown table and writes benchmarks/results/landscape.md and .json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import jax
from _report import emit, timed
import jax.numpy as jnp

from qunlearn import landscape
from qunlearn.data import load
from qunlearn.models import MLP
from qunlearn.train import TrainConfig, train



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also time the paper-preset landscape experiment")
    ap.add_argument("--probes", type=int, default=100)
    args = ap.parse_args()
    ds = load("mnist")
    model = MLP.for_inputs(ds.x_train, hidden=(64, 16))
    params, _ = train(model, jax.random.key(0), ds.x_train, ds.y_train, TrainConfig(10, 32, 0.01, 10))
    x, y = jnp.asarray(ds.x_val[:100]), jnp.asarray(ds.y_val[:100])
    n = sum(p.size for p in jax.tree_util.tree_leaves(params))
    rows = []
    tr, t = timed(lambda: landscape.exact_trace(model, params, x, y, chunk=64))
    rows.append(("exact trace (n HVPs)", f"{t:.1f}", f"{tr:.6g}"))
    (est, se), t = timed(lambda: landscape.hutchinson_trace(model, params, x, y, n_samples=args.probes,
                                                            key=jax.random.key(1)))
    rows.append((f"Hutchinson trace ({args.probes} probes)", f"{t:.1f}", f"{est:.6g} ± {se:.2g}"))
    top, t = timed(lambda: landscape.top_eigenvalues(model, params, x, y, k=5, key=jax.random.key(2)))
    rows.append(("Lanczos top-5 eigenvalues", f"{t:.1f}", ", ".join(f"{v:.4g}" for v in top)))
    rows.append(("dense Hessian (not built)", "-", f"would need {n * n * 4 / 2**30:.1f} GiB for n = {n}"))
    if args.full:
        import subprocess

        with tempfile.TemporaryDirectory() as tmp:
            _, t = timed(lambda: subprocess.run([sys.executable, "-m", "qunlearn.cli", "landscape", "--preset", "paper",
                                                 "--out", str(Path(tmp) / "ls")], check=True, capture_output=True))
        rows.append(("paper-preset landscape experiment (5 seeds, QNN + MLP, 3 alphas)", f"{t:.1f}", "-"))
    dev = jax.devices()[0]
    info = (f"device: {dev.platform}, cores: {os.cpu_count()}, jax {jax.__version__}; MLP (64, 16) on MNIST, "
            f"n = {n} parameters, 100 points")
    emit("landscape", info, [("what", "l"), ("seconds", "r"), ("value", "l")], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
