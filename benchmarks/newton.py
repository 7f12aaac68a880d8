"""Newton unlearning on the QNN: the exact Hessian against the Lanczos path, beside the other QNN methods.

    PYTHONPATH=src python benchmarks/newton.py                    # quick preset, MNIST and XXZ
    PYTHONPATH=src python benchmarks/newton.py --ranks 8,16,32 --datasets mnist

For each dataset: the quick preset's QNN model to unlearn (label flip at alpha 0.3, its runs) is trained once,
then every method below runs the preset's unlearning schedule from it through the experiment's own
``run_method`` (compile and run timed apart, in one process, back to back): finetune, scrub and
gradient_ascent for scale, Newton on the exact path (one Hessian-vector product per parameter, the paper
preset's) and on the Lanczos path at each ``--ranks``. The ratio column is the method's run time over the
median run time of the three first-order methods; the final validation accuracy and poison memory show
what the cheaper step gives up. Every number is measured.

Writes ``benchmarks/results/newton.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile

from _report import emit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="mnist,xxz")
    ap.add_argument("--ranks", default="8,16,32")
    args = ap.parse_args()
    os.environ.setdefault("QUNLEARN_COMPILE_CACHE", "off")

    import jax

    from qunlearn import data
    from qunlearn.config import preset_configs
    from qunlearn.experiments import unlearning
    from qunlearn.runs import RunDir

    rows = []
    for dataset in args.datasets.split(","):
        base = preset_configs("quick", dataset)["unlearn"]
        cfg = base.replace(models={"qnn": base.models["qnn"]}, weights={})
        ds = data.load(dataset, **cfg.data_options)
        split = unlearning.unlearning_data(cfg, ds)
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = RunDir(tmp + "/run", "unlearn", cfg.to_dict()).start(ds)
            trained = unlearning.trained_models(cfg, ds, split, run_dir)["qnn"]
        model = cfg.models["qnn"].spec.build(ds, cfg.precision)
        variants = [("finetune", "finetune", {}), ("scrub", "scrub", {}), ("gradient_ascent", "gradient_ascent", {})]
        variants.append(("newton, exact Hessian", "newton", {"exact_max": 100000}))
        variants += [(f"newton, Lanczos rank {r}", "newton", {"exact_max": 0, "rank": r})
                     for r in map(int, args.ranks.split(","))]
        measured = []
        for label, method, weights in variants:
            c = cfg.replace(weights={method: weights} if weights else {})
            table, _, seconds, compile_s = unlearning.run_method(c, ds, "qnn", model, trained, split, method)
            last = table[table["step"] == table["step"].max()]
            val = last[last["metric"] == "val_acc"]["value"].mean()
            mem = last[last["metric"] == "forget_poison_acc"]["value"].mean()
            measured.append((label, seconds, compile_s, val, mem))
        base_s = statistics.median(s for label, s, *_ in measured[:3])
        for label, seconds, compile_s, val, mem in measured:
            rows.append((dataset, label, f"{seconds:.1f}", f"{compile_s:.1f}", f"{seconds / base_s:.2f}",
                         f"{val:.3f}", f"{mem:.3f}"))
    info = (f"Newton unlearning on the quick preset's QNN ({platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, jax {jax.__version__}); run and compile seconds measured; ratio = run time / "
            "median run time of finetune, scrub and gradient_ascent")
    emit("newton", info, [("dataset", "l"), ("method", "l"), ("run s", "r"), ("compile s", "r"),
                          ("ratio to first-order median", "r"), ("val acc", "r"), ("poison memory", "r")], rows)


if __name__ == "__main__":
    main()
