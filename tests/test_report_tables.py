"""The report's mean tables: every cell is mean ± std over runs, and each row says how many runs."""

import numpy as np
import pandas as pd

from qunlearn import report  # noqa: F401
from qunlearn.parts.poison import poison_table, train_table


def _results():
    rows = []
    rng = np.random.default_rng(0)
    for model in ("mlp", "qnn"):
        for alpha in (0.0, 0.4):
            for run in range(3):
                for metric in ("train_acc", "val_acc"):
                    rows.append({"model": model, "attack": "label-flip", "alpha": alpha, "method": "", "step": 9,
                                 "run": run, "metric": metric, "value": float(rng.uniform(0.5, 1.0))})
    return pd.DataFrame(rows)


def test_train_and_val_tables_give_mean_std_and_runs():
    res = _results()
    for table, metric in ((train_table, "train_acc"), (poison_table, "val_acc")):
        t = table(res)
        assert list(t["runs"]) == [3, 3]
        sub = res[(res["metric"] == metric) & (res["model"] == "qnn") & (res["alpha"] == 0.4)]["value"]
        cell = t[t["model"] == "qnn"]["0.4"].item()
        assert cell == f"{sub.mean():.3f} ± {sub.std():.3f}"  # pandas std: ddof 1, the sample std over runs


def test_runs_column_names_a_range_when_cells_differ():
    res = _results()
    res = res[~((res["model"] == "qnn") & (res["alpha"] == 0.4) & (res["run"] == 2))]
    t = train_table(res)
    assert t[t["model"] == "qnn"]["runs"].item() == "2-3"
