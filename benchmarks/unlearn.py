"""Wall time of paper-preset unlearning and of the SCRUB weight sweep.

    PYTHONPATH=src python benchmarks/unlearn.py                      # paper preset, MNIST
    PYTHONPATH=src python benchmarks/unlearn.py --preset quick       # a few minutes
    PYTHONPATH=src python benchmarks/unlearn.py --sweep-rows 2       # time 2 of the 10 kl_w rows, extrapolate

Parts, each timed end to end (data, training the model to unlearn, compile, run):

* ``unlearn-<model>``: the 4 paper methods (retrain, finetune, scrub,
  gradient_ascent), ``--runs`` runs, the preset's unlearning epochs (50 for paper);
* ``sweep-<model>``: SCRUB over (kl_w, fo_w) in {0.0, ..., 0.9}^2. Each kl_w row
  (10 fo_w values x runs) is one compiled, vmapped program; with
  ``--sweep-rows K < 10`` only K rows run and the full sweep's time is
  extrapolated from the per-row time (marked as an estimate).

Prints a markdown table and writes it to benchmarks/results/unlearn.md, raw
numbers to benchmarks/results/unlearn.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import jax
from _report import emit, timed

from qunlearn.config import SweepConfig, preset_configs
from qunlearn.experiments import sweeps, unlearning
from qunlearn.unlearn import PAPER_METHODS

GRID = tuple(round(0.1 * i, 1) for i in range(10))



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper", choices=("paper", "quick"))
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "xxz"))
    ap.add_argument("--models", default="qnn,mlp")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--sweep-rows", type=int, default=10, help="kl_w rows of the SCRUB grid to run (1-10)")
    ap.add_argument("--skip-sweep", action="store_true")
    args = ap.parse_args()
    base = preset_configs(args.preset, args.dataset)["unlearn"].replace(methods=PAPER_METHODS)
    if args.runs:
        base = base.replace(runs=args.runs)
    rows = []
    device = jax.devices()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            cfg = base.replace(models={name: base.models[name]})
            result, secs = timed(lambda: unlearning.run(cfg, Path(tmp) / f"unlearn-{name}"))
            results = result.results
            per = results[results["metric"] == "time_s"].groupby("method")["value"].first()
            comp = results[results["metric"] == "compile_s"].groupby("method")["value"].first()
            detail = ", ".join(f"{m} {per[m]:.1f}s (+{comp[m]:.1f}s compile)" for m in per.index)
            rows.append((f"unlearn-{name}", "4 paper methods", f"{secs:.1f}", "measured", detail))
            print(rows[-1], file=sys.stderr, flush=True)
            if args.skip_sweep:
                continue
            k = max(1, min(args.sweep_rows, len(GRID)))
            # the models to unlearn come from the unlearning run above, so the sweep time is the sweep's own
            scfg = SweepConfig(cfg, "scrub", GRID[:k])
            (_, t_rows) = timed(lambda: sweeps.run(scfg, Path(tmp) / f"sweep-{name}",
                                                   models_from=Path(tmp) / f"unlearn-{name}"))
            per_row = t_rows / k
            total = per_row * len(GRID)
            kind = "measured" if k == len(GRID) else f"estimate from {k} row(s)"
            rows.append((f"sweep-{name}",
                         f"SCRUB 10x10 grid x {cfg.runs} runs x {cfg.models[name].unlearn.epochs} epochs",
                         f"{total:.1f}", kind, f"{per_row:.1f}s per kl_w row of 10 settings"))
            print(rows[-1], file=sys.stderr, flush=True)
    info = (f"device: {device.platform} ({device.device_kind}), cores: {os.cpu_count()}, jax {jax.__version__}, "
            f"python {platform.python_version()}, preset {args.preset}, dataset {args.dataset}, runs {base.runs}")
    emit("unlearn", info, [("part", "l"), ("what", "l"), ("wall time (s)", "r"), ("how", "l"), ("detail", "l")], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
