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


def _md_cells(row: str) -> list[str]:
    import re

    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])]


def test_markdown_and_html_tables_hold_any_cell_text():
    """A cell holding '|' (an absolute value, |<Z>|) or '<' stays one cell in Markdown and in HTML."""
    df = pd.DataFrame({"metric": ["|<Z>| error", "acc"], "0.3": ["0.500 ± 0.010", "1.000"], "runs": [5, 5]})
    md = report._md_table(df).splitlines()
    assert len(md) == 4 and all(len(_md_cells(r)) == 3 for r in md), md
    assert _md_cells(md[2])[0] == r"\|<Z>\| error" and set(md[1].replace("|", "").replace(":", "")) == {"-"}
    html = report._html_table(df)
    assert "<td>|&lt;Z&gt;| error</td>" in html and html.count("<tr") == 3 and "<th>runs</th>" in html
