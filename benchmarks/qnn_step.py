"""Benchmark: one jitted value-and-gradient step of the paper-size QNN, qunlearn vs
the straightforward TensorCircuit-NG formulation, plus a full MNIST training cell.

Run from the repository root:

    PYTHONPATH=src python benchmarks/qnn_step.py                 # paper size (~15 min on 2 CPU cores)
    PYTHONPATH=src python benchmarks/qnn_step.py --depth 2 --skip-cell   # quick check

Measured, for both formulations, on the same parameters and the same data:

* compile: wall time of ``jax.jit(jax.value_and_grad(loss)).lower(...).compile()``
  after ``jax.clear_caches()``;
* step: median over ``--repeats`` calls of the compiled step (each followed by
  ``jax.block_until_ready``), after one warm-up call.

Before timing the baseline's steps the script checks that both give the same loss
(to 1e-5) and gradient (to 1e-4), at the timed parameters and at N(0, 1) angles,
so the two numbers time the same computation.

Unless ``--skip-cell``, it then runs a full paper-preset MNIST QNN training cell
(100 epochs, batch 256, lr 0.005, 5 runs vmapped) through
``qunlearn.train.supervised_program`` twice (first call: compile + run; second:
run only) and sets it against an *estimate* for the baseline (its compile time
plus steps x runs x its step time; the baseline cell is not run).

Prints a markdown table and writes it to ``benchmarks/results/qnn_step.md``; raw
numbers go to ``benchmarks/results/qnn_step.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_COMPILE_RATIO = 30.0
TARGET_STEP_RATIO = 3.0


def log(msg: str) -> None:
    print(f"[qnn_step {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextmanager
def heartbeat(what: str, every: float = 30.0):
    """Print elapsed time to stderr every ``every`` seconds while the block runs."""
    stop = threading.Event()
    t0 = time.perf_counter()

    def beat():
        while not stop.wait(every):
            log(f"  ... still {what} ({time.perf_counter() - t0:.0f} s so far)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--qubits", type=int, default=10, help="number of qubits (default 10)")
    p.add_argument("--depth", type=int, default=6, help="circuit depth (default 6)")
    p.add_argument("--batch", type=int, default=256, help="batch size of the timed step (default 256)")
    p.add_argument("--repeats", type=int, default=20, help="timed steady-state calls per formulation (default 20)")
    p.add_argument("--precision", choices=("complex64", "complex128"), default="complex64",
                   help="circuit precision (default complex64)")
    p.add_argument(
        "--data",
        choices=("mnist", "random"),
        default="mnist",
        help="step inputs: the first --batch MNIST training images (default; falls back to random "
        "when the shape does not fit 10 qubits / 500 images) or random normalised real vectors",
    )
    p.add_argument("--skip-cell", action="store_true", help="skip the full MNIST training cell")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    # Precision first: it sets TensorCircuit-NG's backend/dtype and JAX's x64 mode (the models below carry it too).
    from qunlearn import backend

    backend.set_precision(args.precision)

    import jax
    import jax.numpy as jnp
    import numpy as np
    import tensorcircuit as tc

    from qunlearn.models import QNN
    from qunlearn.losses import bce
    from qunlearn.train import TrainConfig, supervised_program

    n, depth, batch = args.qubits, args.depth, args.batch
    rdtype, cdtype = backend.real_dtype(), backend.complex_dtype()
    dev = jax.devices()[0]
    device = {
        "device": str(dev),
        "platform": dev.platform,
        "device_kind": getattr(dev, "device_kind", None),
        "jax": jax.__version__,
        "jaxlib": getattr(__import__("jaxlib"), "__version__", None),
        "tensorcircuit": tc.__version__,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    log(f"device {device}")

    # ---------------------------------------------------------------- data
    data_source = args.data
    mnist = None
    if data_source == "mnist" or not args.skip_cell:
        from qunlearn.data import load

        mnist = load("mnist")
    if data_source == "mnist" and (n != mnist.n_qubits or batch > len(mnist.y_train)):
        log(f"MNIST ({mnist.n_qubits} qubits, {len(mnist.y_train)} images) does not fit {n} qubits / batch {batch}; "
            "using random data")
        data_source = "random"
    if data_source == "mnist":
        x_np = np.asarray(mnist.x_train[:batch], np.float32)
        y_np = np.asarray(mnist.y_train[:batch], np.int32)
    else:
        rng = np.random.default_rng(0)
        x_np = rng.normal(size=(batch, 2**n)).astype(np.float32)
        x_np /= np.linalg.norm(x_np, axis=1, keepdims=True)
        y_np = rng.integers(0, 2, size=batch).astype(np.int32)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)

    model = QNN(n, depth, precision=args.precision)
    params = model.init(jax.random.key(1))

    # ---------------------------------------------------------------- ours
    def loss_ours(params, x, y):
        return bce(model.apply(params, x), y)

    # ------------------------------------------------- BASELINE (straightforward TC-NG)
    # The formulation TensorCircuit-NG's documentation shows: one circuit per sample
    # built gate by gate with Python loops (layers unrolled), expectation_ps for the
    # readout, jax.vmap over the batch. Same parameter layout as qunlearn's QNN:
    # t[j, i, :3] = RX, RY, RX angles on qubit i in layer j; t[j, i, 3] = RZZ angle on
    # the ring pair (i, i+1 mod n).
    def baseline_single(params, x_i):
        c = tc.Circuit(n, inputs=x_i.astype(cdtype))
        for j in range(depth):
            for i in range(n):
                c.rx(i, theta=params[j, i, 0])
                c.ry(i, theta=params[j, i, 1])
                c.rx(i, theta=params[j, i, 2])
            for i in range(n):
                c.rzz(i, (i + 1) % n, theta=params[j, i, 3])
        return jax.nn.sigmoid(5.0 * jnp.real(c.expectation_ps(z=[n - 1])))

    def loss_baseline(params, x, y):
        p = jax.vmap(baseline_single, in_axes=(None, 0))(params, x)
        return bce(p, y)

    # ---------------------------------------------------------------- timing
    def compile_step(loss, label):
        jax.clear_caches()
        log(f"compiling {label} value-and-grad step (qubits={n}, depth={depth}, batch={batch}) ...")
        step = jax.jit(jax.value_and_grad(loss))
        with heartbeat(f"compiling {label}"):
            t0 = time.perf_counter()
            compiled = step.lower(params, x, y).compile()
            t_compile = time.perf_counter() - t0
        log(f"{label}: compile {t_compile:.2f} s")
        return compiled, t_compile

    def time_steps(compiled, label):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(params, x, y))
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        log(f"{label}: step median {med * 1e3:.2f} ms over {len(times)} calls")
        return times

    ours_c, ours_compile = compile_step(loss_ours, "ours")
    ours_val = jax.block_until_ready(ours_c(params, x, y))  # warm-up
    ours_times = time_steps(ours_c, "ours")

    base_c, base_compile = compile_step(loss_baseline, "baseline")
    base_val = jax.block_until_ready(base_c(params, x, y))  # warm-up

    # Agreement on the timed parameters (the model's init, N(0, 0.01^2): close to the
    # identity circuit) and on O(1) angles, where every gate convention matters.
    wide = jax.random.normal(jax.random.key(2), params.shape, dtype=rdtype)
    wide_ours = ours_c(wide, x, y)
    wide_base = base_c(wide, x, y)
    loss_diff = max(float(abs(a[0] - b[0])) for a, b in ((ours_val, base_val), (wide_ours, wide_base)))
    grad_diff = max(float(jnp.max(jnp.abs(a[1] - b[1]))) for a, b in ((ours_val, base_val), (wide_ours, wide_base)))
    log(
        f"agreement (init params and N(0,1) params): max |loss diff| = {loss_diff:.2e} (tol 1e-5), "
        f"max |grad diff| = {grad_diff:.2e} (tol 1e-4); losses at N(0,1) params: "
        f"{float(wide_ours[0]):.6f} vs {float(wide_base[0]):.6f}"
    )
    if not (loss_diff <= 1e-5 and grad_diff <= 1e-4):
        raise SystemExit(
            f"ours and the baseline disagree (loss diff {loss_diff:.3e}, grad diff {grad_diff:.3e}): "
            "they do not compute the same thing, refusing to compare their timings"
        )
    base_times = time_steps(base_c, "baseline")

    ours_step, base_step = statistics.median(ours_times), statistics.median(base_times)
    compile_ratio, step_ratio = base_compile / ours_compile, base_step / ours_step

    # ---------------------------------------------------------------- training cell
    cell = None
    if not args.skip_cell:
        cfg = TrainConfig(epochs=100, batch_size=256, lr=0.005, eval_every=10)
        cell_model = QNN(10, 6, precision=args.precision)
        runs = 5
        n_train = len(mnist.y_train)
        steps_per_run = cfg.epochs * math.ceil(n_train / min(cfg.batch_size, n_train))
        keys = jax.random.split(jax.random.key(0), runs)
        xs = jnp.stack([jnp.asarray(mnist.x_train)] * runs)
        ys = jnp.stack([jnp.asarray(mnist.y_train)] * runs)
        poisoned = jnp.zeros(ys.shape, jnp.float32)
        x_val, y_val = jnp.asarray(mnist.x_val), jnp.asarray(mnist.y_val)
        program = supervised_program(cell_model, cfg)
        cell_args = (keys, xs, ys, ys, poisoned, x_val, y_val)

        log(f"training cell: MNIST QNN(10, 6), {cfg.epochs} epochs, {runs} runs, {steps_per_run} steps/run; "
            "first call (compile + run) ...")
        with heartbeat("running the training cell (first call)"):
            t0 = time.perf_counter()
            _, hist = jax.block_until_ready(program(*cell_args))
            cell_first = time.perf_counter() - t0
        log(f"training cell: first call {cell_first:.1f} s; second call (run only) ...")
        with heartbeat("running the training cell (second call)"):
            t0 = time.perf_counter()
            _, hist2 = jax.block_until_ready(program(*cell_args))
            cell_second = time.perf_counter() - t0
        log(f"training cell: second call {cell_second:.1f} s")
        val_acc = np.asarray(hist["val_acc"])[:, -1]
        same = bool(np.array_equal(val_acc, np.asarray(hist2["val_acc"])[:, -1]))

        cell_qubits_match = (n, depth, batch) == (10, 6, 256)
        est_steps = steps_per_run * runs * base_step
        cell = {
            "model": "QNN(10, 6)",
            "config": cfg.to_dict(),
            "runs": runs,
            "n_train": n_train,
            "steps_per_run": steps_per_run,
            "first_call_s": cell_first,
            "second_call_s": cell_second,
            "final_val_acc_per_run": val_acc.tolist(),
            "final_val_acc_mean": float(val_acc.mean()),
            "second_call_same_result": same,
            "baseline_estimate": {
                "note": "ESTIMATE, not run: baseline compile + steps_per_run * runs * baseline step time "
                "(serial runs; metric evaluations not counted)",
                "step_size_matches_cell": cell_qubits_match,
                "first_call_s": base_compile + est_steps,
                "second_call_s": est_steps,
            },
        }
        if not cell_qubits_match:
            log("note: the baseline cell estimate uses the step measured at the requested size, not at the cell's "
                "10 qubits / depth 6 / batch 256")

    # ---------------------------------------------------------------- report
    def ok(ratio, target):
        return "meets" if ratio >= target else "MISSES"

    size = f"{n} qubits, depth {depth}, batch {batch}, {args.precision}, data: {data_source}"
    lines = [
        "# QNN value-and-gradient step: qunlearn vs straightforward TensorCircuit-NG",
        "",
        f"Step: {size}. Device: {device['platform']} ({device['device']}), {device['cpu_count']} CPUs, "
        f"jax {device['jax']}, tensorcircuit-ng {device['tensorcircuit']}.",
        "",
        "| measure | ours | baseline | ratio (baseline / ours) |",
        "|---|---:|---:|---:|",
        f"| compile (s) | {ours_compile:.2f} | {base_compile:.2f} | {compile_ratio:.1f}x "
        f"({ok(compile_ratio, TARGET_COMPILE_RATIO)} target {TARGET_COMPILE_RATIO:.0f}x) |",
        f"| step (ms, median of {args.repeats}) | {ours_step * 1e3:.2f} | {base_step * 1e3:.2f} | {step_ratio:.1f}x "
        f"({ok(step_ratio, TARGET_STEP_RATIO)} target {TARGET_STEP_RATIO:.0f}x) |",
    ]
    if cell is not None:
        be = cell["baseline_estimate"]
        lines += [
            f"| MNIST cell, first call: compile + run (s) | {cell['first_call_s']:.1f} "
            f"| ~{be['first_call_s']:.0f} (estimate) | ~{be['first_call_s'] / cell['first_call_s']:.1f}x |",
            f"| MNIST cell, second call: run only (s) | {cell['second_call_s']:.1f} "
            f"| ~{be['second_call_s']:.0f} (estimate) | ~{be['second_call_s'] / cell['second_call_s']:.1f}x |",
            f"| MNIST cell, final val_acc (mean of {cell['runs']}) | {cell['final_val_acc_mean']:.4f} | not run | |",
        ]
    lines += [
        "",
        f"Agreement (timed params and N(0,1) params): max |loss diff| = {loss_diff:.1e}, "
        f"max |grad diff| = {grad_diff:.1e}.",
        "Baseline: tc.Circuit(n, inputs=x_i) per sample, Python-unrolled rx/ry/rx per qubit and an rzz ring per layer, "
        "expectation_ps(z=[n-1]) readout, jax.vmap over the batch, jax.jit(jax.value_and_grad(bce)).",
    ]
    if cell is not None:
        lines.append(
            f"MNIST cell: QNN(10, 6), 100 epochs, batch 256, lr 0.005, {cell['runs']} runs vmapped, "
            f"{cell['steps_per_run']} steps/run. Baseline cell numbers are an estimate "
            f"(compile + {cell['steps_per_run']} steps x {cell['runs']} runs x baseline step time, "
            "metrics evaluation not counted), not a run."
        )
    table = "\n".join(lines) + "\n"
    print(table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "qnn_step.md").write_text(table)
    raw = {
        "args": vars(args),
        "data": data_source,
        "device": device,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "ours": {"compile_s": ours_compile, "step_s": ours_times, "step_median_s": ours_step},
        "baseline": {"compile_s": base_compile, "step_s": base_times, "step_median_s": base_step},
        "ratios": {"compile": compile_ratio, "step": step_ratio},
        "targets": {"compile": TARGET_COMPILE_RATIO, "step": TARGET_STEP_RATIO},
        "agreement": {"loss_abs_diff": loss_diff, "grad_max_abs_diff": grad_diff},
        "cell": cell,
    }
    (RESULTS / "qnn_step.json").write_text(json.dumps(raw, indent=2) + "\n")
    log(f"wrote {RESULTS / 'qnn_step.md'} and {RESULTS / 'qnn_step.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
