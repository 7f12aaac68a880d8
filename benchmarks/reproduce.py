"""Wall time of ``qunlearn reproduce``, part by part.

    python benchmarks/reproduce.py quick                      # reproduce all --preset quick, local executor
    python benchmarks/reproduce.py quick --workers 2          # the same on a 2-worker local Dask cluster
    python benchmarks/reproduce.py paper --parts mnist/landscape,mnist/embed

Every run starts from an empty directory (nothing cached except the XXZ
ground states, which are computed once per machine). The table records the
device JAX used, the executor and the time of every part; it is printed and
written to ``benchmarks/results/reproduce-<preset>[-dask<N>].md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from _report import emit

from qunlearn import study as st
from qunlearn.config import DATASET_NAMES
from qunlearn.executor import make_executor
from qunlearn.experiments import reproduce as rp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=["quick", "paper"])
    ap.add_argument("--datasets", default="mnist,xxz")
    ap.add_argument("--parts", default=None, help="comma list of dataset/part to run (default: all)")
    ap.add_argument("--workers", type=int, default=None, help="run on a local Dask cluster of N workers")
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one, removed after)")
    args = ap.parse_args()

    import jax

    datasets = tuple(d for d in args.datasets.split(",") if d in DATASET_NAMES)
    study = st.resolve(args.preset, datasets)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="qunlearn-bench-")) / "run"
    top, parts = rp.plan(study, out, fresh=True)
    if args.parts:
        wanted = set(args.parts.split(","))
        parts = [p for p in parts if p.label in wanted]
    rp.check_inputs(parts)
    for d in datasets:  # the XXZ ground states are a once-per-machine cost, not part of a run
        from qunlearn import data

        data.load(d, **study.sections[d]["poison"].data_options)

    kind = "dask" if args.workers else "local"
    starts: dict[str, float] = {}
    cells: dict[str, int] = {}
    t0 = time.perf_counter()
    with make_executor(kind, workers=args.workers) as ex:
        described = ex.describe()
        rp.run(study, top, parts, executor=ex,
               on_part=lambda p: (starts.__setitem__(p.label, time.perf_counter()), print(f"{p.label} ...", flush=True)),
               on_cell=lambda p, label, status, s: cells.__setitem__(p.label, cells.get(p.label, 0) + 1))
    total = time.perf_counter() - t0
    ends = [starts[p.label] for p in parts[1:]] + [t0 + total]
    rows = [(p.label, cells.get(p.label, 0), f"{end - starts[p.label]:.0f}") for p, end in zip(parts, ends)]
    rows.append(("total", sum(cells.values()), f"{total:.0f}"))
    dev = jax.devices()[0]
    info = (f"qunlearn reproduce ({args.preset} preset), executor: {described}; device: {dev.platform} "
            f"{dev.device_kind}; {os.cpu_count()} CPU cores, Python {platform.python_version()}, jax {jax.__version__}")
    name = f"reproduce-{args.preset}" + (f"-dask{args.workers}" if args.workers else "")
    emit(name, info, [("part", "l"), ("cells", "r"), ("wall s", "r")], rows)
    if not args.out:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
