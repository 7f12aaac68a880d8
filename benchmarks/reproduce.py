"""Wall time of ``qunlearn reproduce``, part by part, split into compilation and the kinds of work.

    python benchmarks/reproduce.py quick                      # reproduce all --preset quick, local executor
    python benchmarks/reproduce.py quick --workers 2          # the same on a 2-worker local Dask cluster
    python benchmarks/reproduce.py paper --sample 2           # paper preset, 2 cells of every kind measured
    python benchmarks/reproduce.py paper --parts mnist/landscape,mnist/embed
    python benchmarks/reproduce.py quick --name noise \
        --parts mnist/noise,mnist/noise-unlearn,xxz/noise,xxz/noise-unlearn   # the study under noise
    python benchmarks/reproduce.py paper --src OTHER/src      # another checkout, measured the same way

Every run starts from an empty directory and an empty compilation cache
(``QUNLEARN_COMPILE_CACHE=off`` unless ``--compile-cache DIR``); the XXZ ground
states, a once-per-machine cost, are computed before the clock starts.

For every part the table gives:

* ``wall s``: the part's wall time (measured, or measured + extrapolated, see below);
* ``compile s``: tracing, lowering and XLA compilation (JAX's own compile events;
  measured);
* ``train s``: cells that train models (the alpha sweep's cells, the models to
  unlearn, the landscape study's training and Hessians);
* ``unlearn s``: cells that run unlearning methods or weight-sweep rows. The
  metrics a program evaluates (every ``eval_every`` epochs) run inside the same
  compiled program as its steps, so they are part of these two columns; the
  before/after rows of the weight sweeps, which differ only in the evaluation
  schedule, show what they cost;
* ``other s``: everything outside cells (data, tables, figures, t-SNE).

``--sample K`` measures only the first ``K`` cells of every group of cells
that run the same compiled program on different data (the alphas of one model
and attack, the kl_w rows of one sweep, the seeds of the landscape study) and
extrapolates the rest of the group from the measured cells less their
compilation (which the other cells of the group do not repeat): a group of
``N`` cells is counted as ``sum(measured) + (N - K) * median(run[1:] or run)``
with ``run`` the measured cells' seconds less the compile seconds JAX reported
during each (local executor only). Skipped cells get a
measured cell's result as a stand-in, so the parts after them run as usual;
such a run's numbers are for timing only. The table marks every extrapolated
part and says how many of its cells were measured.

Writes ``benchmarks/results/reproduce-<preset>[-dask<N>][-<name>].md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _report import emit

COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def group_of(cell_id: str) -> str:
    """Cells of one group run the same program on other data: their ids differ only in numbers."""
    return re.sub(r"\d+(\.\d+)?", "#", cell_id)


def kind_of(cell_id: str) -> str:
    # cell ids spell "_" as "-" (RunDir.cell_id)
    if "__sweep__" in cell_id or re.search(r"__(retrain|finetune|scrub|gradient.ascent|neggrad.plus|random.labels|"
                                           r"scrub.full|newton)$", cell_id):
        return "unlearn"
    return "train"


class Sampling:
    """Wraps an executor: runs the first ``k`` cells of every group, stands in for the rest."""

    def __init__(self, inner, k: int | None, compiled=lambda: 0.0):
        self.inner, self.k, self.compiled = inner, k, compiled  # compiled(): compile seconds so far
        self.cells: list[tuple[str, str, float, bool]] = []  # (part, cell id, seconds, measured)
        self.part = None

    def share(self, obj):
        return self.inner.share(obj)

    def everywhere(self, fn):
        return self.inner.everywhere(fn) if hasattr(self.inner, "everywhere") else fn()

    def describe(self):
        return self.inner.describe()

    def map(self, tasks):
        tasks = list(tasks)
        groups = defaultdict(list)
        for t in tasks:
            groups[group_of(t[0])].append(t)
        run = [t for g in groups.values() for t in (g if self.k is None else g[: self.k])]
        results, seconds = {}, defaultdict(list)
        before = self.compiled()
        for cid, result, sec in self.inner.map(run):
            results[cid] = result
            now = self.compiled()  # (local executor: the compilations of this cell)
            seconds[group_of(cid)].append(max(sec - (now - before), 0.0))
            before = now
            self.cells.append((self.part, cid, sec, True))
            yield cid, result, sec
        for g, members in groups.items():
            measured = seconds[g]  # cell seconds less their compilation
            steady = statistics.median(measured[1:]) if len(measured) > 1 else measured[0]
            stand_in = results[members[len(measured) - 1][0]]
            for cid, _, _ in members[len(measured):]:
                self.cells.append((self.part, cid, steady, False))
                yield cid, stand_in, 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=["quick", "paper"])
    ap.add_argument("--datasets", default="mnist,xxz")
    ap.add_argument("--parts", default=None, help="comma list of dataset/part to run (default: all)")
    ap.add_argument("--workers", type=int, default=None, help="run on a local Dask cluster of N workers")
    ap.add_argument("--sample", type=int, default=None, help="measure K cells of every group, extrapolate the rest")
    ap.add_argument("--src", default=None,
                    help="time the qunlearn under this source directory (e.g. an older checkout)")
    ap.add_argument("--compile-cache", default=None, help="use this compilation cache directory (default: none)")
    ap.add_argument("--name", default=None, help="suffix of the results file")
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one, removed after)")
    args = ap.parse_args()
    if args.src:  # before any qunlearn import
        import sys

        sys.path.insert(0, os.path.abspath(args.src))
    os.environ["QUNLEARN_COMPILE_CACHE"] = args.compile_cache or "off"

    import jax
    from jax import monitoring

    from qunlearn import study as st
    from qunlearn.config import DATASET_NAMES
    from qunlearn.executor import make_executor
    from qunlearn.experiments import reproduce as rp

    datasets = tuple(d for d in args.datasets.split(",") if d in DATASET_NAMES)
    over = None
    if args.parts:  # the study parts of the labels asked for (so that opt-in parts such as noise are planned)
        study_part = lambda name: "sweeps" if name.startswith("sweep-") else name.split("-")[0]  # noqa: E731
        over = {d: {"parts": sorted({study_part(lab.split("/", 1)[1]) for lab in args.parts.split(",")
                                     if lab.startswith(d + "/")})} for d in datasets}
        over = {d: v for d, v in over.items() if v["parts"]}
        datasets = tuple(over)
    study = st.resolve(args.preset, datasets, overrides=over)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="qunlearn-bench-")) / "run"
    top, parts = rp.plan(study, out, fresh=True)
    if args.parts:
        wanted = set(args.parts.split(","))
        parts = [p for p in parts if p.label in wanted]
    rp.check_inputs(parts)
    for d in datasets:  # the XXZ ground states are a once-per-machine cost, not part of a run
        from qunlearn import data

        data.load(d, **study.sections[d]["poison"].data_options)

    state = {"part": None}
    compile_s: dict[str, float] = defaultdict(float)

    def on_duration(event, duration, **kw):
        if event in COMPILE_EVENTS and state["part"] is not None:
            compile_s[state["part"]] += duration

    monitoring.register_event_duration_secs_listener(on_duration)
    if args.compile_cache:
        from qunlearn.backend import use_compile_cache

        use_compile_cache()

    kind = "dask" if args.workers else "local"
    starts: dict[str, float] = {}

    def on_part(p):
        state["part"] = p.label
        sampler.part = p.label
        starts[p.label] = time.perf_counter()
        print(f"{p.label} ...", flush=True)

    t0 = time.perf_counter()
    with make_executor(kind, workers=args.workers) as ex:
        sampler = Sampling(ex, args.sample, lambda: sum(compile_s.values()))
        described = ex.describe()
        rp.run(study, top, parts, executor=sampler, on_part=on_part)
    total = time.perf_counter() - t0
    ends = [starts[p.label] for p in parts[1:]] + [t0 + total]

    rows, sums = [], defaultdict(float)
    for p, end in zip(parts, ends):
        wall = end - starts[p.label]
        mine = [c for c in sampler.cells if c[0] == p.label]
        measured_cells = sum(1 for c in mine if c[3])
        in_cells = sum(c[2] for c in mine if c[3])
        extra = sum(c[2] for c in mine if not c[3])
        by_kind = defaultdict(float)
        for _, cid, sec, _m in mine:
            by_kind[kind_of(cid)] += sec
        comp = compile_s.get(p.label, 0.0)
        est = wall + extra
        how = ("measured" if measured_cells == len(mine)
               else f"{measured_cells} of {len(mine)} cells measured, rest extrapolated")
        row = dict(wall=est, compile=comp, train=by_kind["train"], unlearn=by_kind["unlearn"], other=wall - in_cells)
        for k, v in row.items():
            sums[k] += v
        rows.append((p.label, len(mine), f"{est:.0f}", f"{comp:.0f}", f"{row['train']:.0f}", f"{row['unlearn']:.0f}",
                     f"{row['other']:.0f}", how))
    n_cells = len(sampler.cells)
    all_measured = all(c[3] for c in sampler.cells)
    rows.append(("total", n_cells, f"{sums['wall']:.0f}", f"{sums['compile']:.0f}", f"{sums['train']:.0f}",
                 f"{sums['unlearn']:.0f}", f"{sums['other']:.0f}",
                 "measured" if all_measured else f"measured {total:.0f} s; the rest extrapolated"))
    dev = jax.devices()[0]
    info = (f"qunlearn reproduce ({args.preset} preset), executor: {described}; device: {dev.platform} "
            f"{dev.device_kind}; {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"jax {jax.__version__}; "
            f"code: {'the checkout given by --src' if args.src else 'installed qunlearn'}"
            + (f"; sampled: {args.sample} cells per group" if args.sample else "")
            + ("; compilation cache: " + ("on" if args.compile_cache else "off")))
    name = (f"reproduce-{args.preset}" + (f"-dask{args.workers}" if args.workers else "")
            + (f"-{args.name}" if args.name else ""))
    emit(name, info, [("part", "l"), ("cells", "r"), ("wall s", "r"), ("compile s", "r"), ("train s", "r"),
                      ("unlearn s", "r"), ("other s", "r"), ("how obtained", "l")], rows)
    if not args.out:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
