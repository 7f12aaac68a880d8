"""Where the time of the equal-work command goes: fixed costs against the training arithmetic.

    python benchmarks/fixed_costs.py                          # complex64, the equal-work configuration
    python benchmarks/fixed_costs.py --precision complex128
    python benchmarks/fixed_costs.py --src OTHER/src          # another checkout of qunlearn

Does, phase by phase and in one fresh process with an empty compilation cache, the work of
``benchmarks/equal_work.py``'s command (``qunlearn poison`` on the authors' example: a QNN label-flip
sweep on MNIST, 10 alphas x 1 run, depth 4, 10 epochs, batch 256) with the package's own functions,
timing each phase: the interpreter's start, the imports, the data, the poisoned training sets, tracing,
XLA compilation, the compiled programs' execution (the *arithmetic*: every optimiser step and
evaluation), the tables and the figures. Everything but the arithmetic is a fixed cost: it does not grow
with epochs or samples. The phases do not include the command's own bookkeeping (run directory, locks,
progress lines, the results summary), so their sum is a little under equal_work.py's wall time.

Writes ``benchmarks/results/fixed_costs.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit

from equal_work import CONFIG  # the equal-work configuration, one definition

CHILD = r"""
import json, os, sys, tempfile, time
T = {}
t = time.perf_counter()
def mark(name):
    global t
    now = time.perf_counter(); T[name] = T.get(name, 0.0) + now - t; t = now
os.environ["QUNLEARN_COMPILE_CACHE"] = "off"
import numpy as np; mark("import numpy")
import jax, jax.numpy as jnp; mark("import jax")
import tensorcircuit; mark("import tensorcircuit")
import qunlearn.cli, qunlearn.api, qunlearn.experiments.poisoning as P, pandas
from qunlearn import data as D
mark("import qunlearn (CLI, API, the sweep)")
from qunlearn import backend, plots, reference
import matplotlib.backends.backend_pdf
mark("import matplotlib (figures)")
precision, toml = sys.argv[1], sys.argv[2]
cfg = qunlearn.api.resolve("poison", config=toml, dataset="mnist", models=["qnn"], precision=precision)["poison"]
backend.set_precision(precision); mark("JAX set-up")
mc, alphas = cfg.models["qnn"], cfg.alphas
ds = D.load("mnist"); mark("data (MNIST subset)")
model = mc.spec.build(ds, precision); program = P.supervised_program(model, mc.train); mark("model")
tables, compiled = [], None
for alpha in alphas:
    x, y, mask = P.poisoned_runs(cfg, ds, "label-flip", alpha)
    keys = jnp.stack([P.cell_key(cfg.seed, "mnist", "train", "qnn", "label-flip", P.alpha_tag(alpha), 0)])
    args = (keys, jnp.asarray(x), jnp.asarray(y), jnp.asarray(np.broadcast_to(ds.y_train, y.shape)),
            jnp.asarray(mask), jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
    jax.block_until_ready(args); mark("poisoned training sets")
    if compiled is None:
        lowered = program.lower(*args); mark("tracing")
        compiled = lowered.compile(); mark("XLA compilation")
    _, hist = compiled(*args); hist = jax.device_get(hist); mark("arithmetic (compiled training)")
    tables.append(P.history_table(hist, P.eval_epochs(mc.train), range(1), dataset="mnist", model="qnn",
                                  attack="label-flip", alpha=alpha)); mark("tables")
history = pandas.concat(tables, ignore_index=True)
res = P.final_table(history)
out = tempfile.mkdtemp()
history.to_csv(os.path.join(out, "history.csv"), index=False); res.to_csv(os.path.join(out, "results.csv"), index=False)
mark("tables")
fig = plots.make_figure2(res, title="equal work", published=reference.figure2("mnist")); mark("figures: drawing")
plots.save(fig, os.path.join(out, "figure2")); mark("figures: PNG and PDF")
print(json.dumps(T))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", default="complex64", choices=["complex64", "complex128"])
    ap.add_argument("--src", default=None, help="put this source directory first on PYTHONPATH")
    ap.add_argument("--name", default="fixed_costs", help="results/NAME.md")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src + os.pathsep + env.get("PYTHONPATH", "")

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qunlearn-fixed-costs-") as tmp:
        toml = Path(tmp) / "equal_work.toml"
        toml.write_text(CONFIG)
        proc = subprocess.run([sys.executable, "-c", CHILD, args.precision, str(toml)], env=env,
                              capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"fixed_costs: the run failed:\n{proc.stderr[-3000:]}")
    phases = {"interpreter start and exit": start, **json.loads(proc.stdout.strip().splitlines()[-1])}
    arithmetic = phases["arithmetic (compiled training)"]
    measured = sum(phases.values())
    rows = [(name, "arithmetic" if name == "arithmetic (compiled training)" else "fixed", f"{s:.2f}",
             f"{100 * s / measured:.0f} %") for name, s in phases.items()]
    rows.append(("**fixed costs, all phases but the arithmetic**", "fixed", f"**{measured - arithmetic:.2f}**",
                 f"{100 * (measured - arithmetic) / measured:.0f} %"))
    rows.append(("sum of the phases", "-", f"{measured:.2f}", "100 %"))
    rows.append(("the child process's wall time (+ interpreter start)", "-", f"{wall + start:.2f}", "-"))
    import jax

    info = (f"Fixed costs of the equal-work command (QNN label-flip sweep, 10 alphas x 1 run, depth 4, "
            f"10 epochs, batch 256, {args.precision}), phase by phase in one fresh process, compilation cache off; "
            f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, jax {jax.__version__}"
            f"{', the checkout given by --src' if args.src else ''}.")
    emit(args.name, info, [("phase", "l"), ("kind", "l"), ("seconds", "r"), ("share", "r")], rows)


if __name__ == "__main__":
    main()
