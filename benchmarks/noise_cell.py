"""Cost of one cell of the study under noise at paper size, measured on a few epochs and extrapolated.

    python benchmarks/noise_cell.py                       # paper preset, MNIST and XXZ, 2 epochs measured
    python benchmarks/noise_cell.py --datasets xxz --epochs 3 --runs 5

A paper-size noisy cell trains 5 runs for 100 (MNIST) or 200 (XXZ) epochs with
the noise model's training trajectories per sample and evaluates the metrics
with its (more) trajectories: hours on 2 cores, too long to run whole here. This
script runs the alpha sweep's compiled training program of one noisy QNN cell
(``qnn-p0.01``, alpha 0.3, the preset's data, batch and trajectories) for
``--epochs`` epochs, separately measures compilation, the epochs and one
evaluation of the metrics, and extrapolates the cell to the preset's schedule:
``epochs x (s per epoch) + evaluations x (s per evaluation)``. The noiseless QNN's
cell is measured the same way beside it. Every number is labelled measured or
extrapolated.

Writes ``benchmarks/results/noise-cell-<preset>.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from _report import emit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["paper", "quick"], default="paper")
    ap.add_argument("--datasets", default="mnist,xxz")
    ap.add_argument("--epochs", type=int, default=2, help="epochs measured")
    ap.add_argument("--runs", type=int, default=None, help="runs of the cell (default: the preset's)")
    args = ap.parse_args()
    os.environ.setdefault("QUNLEARN_COMPILE_CACHE", "off")

    import jax
    import jax.numpy as jnp
    import numpy as np

    from qunlearn import data
    from qunlearn.config import preset_configs
    from qunlearn.experiments.common import cell_key
    from qunlearn.experiments.poisoning import poisoned_runs
    from qunlearn.train import eval_epochs, supervised_metrics, supervised_program

    rows = []
    for dataset in args.datasets.split(","):
        cfg = preset_configs(args.preset, dataset)["noise"].poison
        runs = args.runs or cfg.runs
        cfg = cfg.replace(runs=runs)
        ds = data.load(dataset, **cfg.data_options)
        for name in ("qnn", "qnn-p0.01"):
            mc = cfg.models[name]
            model = mc.spec.build(ds, cfg.precision)
            x, y, mask = poisoned_runs(cfg, ds, "label-flip", 0.3)
            y_true = np.broadcast_to(ds.y_train, y.shape)
            keys = jnp.stack([cell_key(0, dataset, name, r) for r in range(runs)])
            short = mc.train.replace(epochs=args.epochs, eval_every=args.epochs)
            program = supervised_program(model, short)
            inputs = (keys, jnp.asarray(x), jnp.asarray(y), jnp.asarray(y_true), jnp.asarray(mask),
                      jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
            t0 = time.perf_counter()
            compiled = program.lower(*inputs).compile()
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*inputs))
            run_s = time.perf_counter() - t0

            def evaluate(params, key):
                d = {"x": inputs[1][0], "y": inputs[2][0], "y_true": inputs[3][0], "poisoned": inputs[4][0],
                     "x_val": inputs[5], "y_val": inputs[6]}
                return supervised_metrics(model, params, d, key)

            params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), runs))
            ev = jax.jit(jax.vmap(evaluate, in_axes=(0, 0)))
            jax.block_until_ready(ev(params, keys))
            t0 = time.perf_counter()
            jax.block_until_ready(ev(params, keys))
            eval_s = time.perf_counter() - t0
            per_epoch = max(run_s - 2 * eval_s, 0.0) / args.epochs  # the short program evaluated twice
            n_evals = len(eval_epochs(mc.train))
            cell = mc.train.epochs * per_epoch + n_evals * eval_s
            noise = mc.spec.noise
            rows.append((dataset, name, "-" if noise is None else f"{noise.trajectories} / {noise.train_runs}",
                         runs, f"{len(ds.y_train)} / {len(ds.y_val)}", mc.train.epochs, f"{compile_s:.1f}",
                         f"{per_epoch:.2f}", f"{eval_s:.2f}", f"{cell:.0f}", f"{cell / 60:.1f}"))
            print(rows[-1], flush=True)
    dev = jax.devices()[0]
    info = (f"One alpha-sweep cell of the study under noise ({args.preset} preset, label flip, alpha 0.3): compile, "
            f"s per epoch and s per evaluation measured on {args.epochs} epochs; the cell extrapolated to the "
            f"preset's epochs and evaluations. Device: {dev.platform} {dev.device_kind}; {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, jax {jax.__version__}")
    emit(f"noise-cell-{args.preset}", info,
         [("dataset", "l"), ("model", "l"), ("trajectories (metrics / steps)", "r"), ("runs", "r"),
          ("train / val samples", "r"), ("epochs", "r"), ("compile s (measured)", "r"), ("s per epoch (measured)", "r"),
          ("s per evaluation (measured)", "r"), ("cell s (extrapolated)", "r"), ("cell min (extrapolated)", "r")],
         rows)


if __name__ == "__main__":
    main()
