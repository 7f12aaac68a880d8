"""Published numbers shipped with qunlearn, to set beside ours (never to tune towards).

``figure2_published.csv``: the noise-ratio sweep of Chen and Zhang,
"Superior resilience to poisoning and amenability to unlearning in quantum
machine learning", arXiv:2508.02422 (Figure 2), from the figure data the
authors released with their code (``fig2c_mnist_phase.npy`` and
``fig2d_xxz_phase.npy``), reduced to the mean and population standard
deviation over their 5 runs per point. Columns: ``dataset, model, attack,
alpha, metric`` (``train_acc`` on the poisoned labels, ``val_acc`` on clean
validation data), ``mean, std, runs``.

Known differences of setting (the report names them where ours and theirs differ):
their MNIST validation set is the first 1000 test images of digits 1 and 9 of
the full MNIST test split (the bundled subset validates on 500 held-out
digits); their XXZ ground states carry a different global phase each (our
``phase="random"`` gauge).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

SOURCE = ("Chen & Zhang, arXiv:2508.02422, Figure 2: the authors' released figure data "
          "(fig2c_mnist_phase.npy, fig2d_xxz_phase.npy), mean and std over their 5 runs")
REASONS = {
    "mnist": "their validation set is the first 1000 MNIST test images of 1s and 9s; the bundled subset validates "
             "on 500 held-out digits (pass --mnist-path to use the full files)",
    "xxz": "their states carry a random global phase each, which an MLP can see (compare the gauge study); "
           "the QNN cannot",
}


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    with resources.files(__package__).joinpath("figure2_published.csv").open() as f:
        return pd.read_csv(f)


def figure2(dataset: str | None = None) -> pd.DataFrame:
    """The published Figure 2 means and std (a copy), optionally for one dataset."""
    t = _table()
    return (t if dataset is None else t[t["dataset"] == dataset]).reset_index(drop=True).copy()


def beside(results: pd.DataFrame) -> pd.DataFrame:
    """Our final-epoch mean and std next to the published ones, where (dataset, model, attack, alpha, metric) match.

    ``results`` is an alpha sweep's tidy results table. Columns: dataset, model,
    attack, alpha, metric, ours, ours_std, runs, published, published_std,
    published_runs, diff (ours - published).
    """
    keys = ["dataset", "model", "attack", "alpha", "metric"]
    ours = (results[results["metric"].isin(["train_acc", "val_acc"])].groupby(keys)["value"]
            .agg(ours="mean", ours_std="std", runs="count").reset_index())
    ours["alpha"] = ours["alpha"].round(6)
    pub = _table().rename(columns={"mean": "published", "std": "published_std", "runs": "published_runs"})
    pub = pub.assign(alpha=pub["alpha"].round(6))
    both = ours.merge(pub, on=keys, how="inner")
    both["diff"] = both["ours"] - both["published"]
    return both
