"""Cost of the per-example audit (``qunlearn audit``) as N grows: time per model index and memory.

    python benchmarks/audit.py                                   # estimates only: quick and paper, N = 32..256
    python benchmarks/audit.py --measure 32 --datasets xxz       # and the quick audit at N = 32, measured

For every dataset, preset and N, the estimated peak memory (``qunlearn.experiments.audit.audit_bytes``, the
number the audit refuses by) and the rough time estimate the command prints. ``--measure N,...`` runs the
quick audit of a dataset (both models, the paper's four methods and none) at each N in a fresh process and
fresh directory, and records its wall time, the wall time per model index (its original, oracle, shadow and
every method's model) and the process's peak resident memory. Every number is labelled measured or
estimated.

Writes ``benchmarks/results/audit.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from _report import emit

RUN = ("import sys, qunlearn as ql; ql.run('audit', preset='quick', dataset=sys.argv[1], out=sys.argv[2], "
       "quiet=True, n_models=int(sys.argv[3]), chunk=min(32, int(sys.argv[3])))")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="mnist,xxz")
    ap.add_argument("--n", default="32,64,128,256", help="N of the estimates")
    ap.add_argument("--measure", default="", help="N to measure with the quick preset (comma list)")
    args = ap.parse_args()
    os.environ.setdefault("QUNLEARN_COMPILE_CACHE", "off")

    import qunlearn as ql
    from qunlearn import data
    from qunlearn.experiments.audit import audit_bytes, estimate_seconds
    from qunlearn.memory import GIB

    rows = []
    for dataset in args.datasets.split(","):
        for preset in ("quick", "paper"):
            for n in (int(v) for v in args.n.split(",")):
                cfg = ql.resolve("audit", preset=preset, dataset=dataset, n_models=n)["audit"]
                ds = data.load(dataset, **cfg.data_options)
                est = estimate_seconds(cfg, ds)
                rows.append((dataset, preset, n, "estimated", f"{est:.0f}", f"{est / n:.2f}",
                             f"{audit_bytes(cfg, ds) / GIB:.2f}"))
        for n in (int(v) for v in args.measure.split(",") if v):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", RUN, dataset, f"{tmp}/run", str(n)], check=True)
                wall = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the largest child so far
            rows.append((dataset, "quick", n, "measured", f"{wall:.0f}", f"{wall / n:.2f}", f"{peak / GIB:.2f} (RSS)"))
    emit("audit", f"per-example audit cost, {os.cpu_count()} CPU cores; time per model index = wall / N "
         "(an index: its original, oracle, shadow and every method's model)",
         [("dataset", "l"), ("preset", "l"), ("N", "r"), ("kind", "l"), ("wall s", "r"), ("s per model index", "r"),
          ("memory GiB", "r")], rows)


if __name__ == "__main__":
    main()
