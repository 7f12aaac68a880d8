"""The audit's figures, built in memory from its tidy tables (:mod:`qunlearn.plots` style; no pyplot state)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..plots import METHOD_COLORS, MODEL_LABELS, _legend_below, _new_figure, styled

SPLITS = ("forget", "retain", "val")


def _color(method: str) -> str:
    return {"none": "#b2182b"}.get(method, METHOD_COLORS.get(method, "C0"))


def _ecdf(ax, values, **style):
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if v.size:
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", **style)


@styled
def klom_figure(examples: pd.DataFrame, title: str | None = None) -> Figure:
    """Per split (rows) and model (columns): the ECDF of per-example KLOM of every method, the floor dashed."""
    models = list(examples["model"].unique())
    fig, axes = _new_figure(len(SPLITS), len(models), (4.4 * len(models), 2.8 * len(SPLITS)), sharey=True)
    for j, model in enumerate(models):
        sub = examples[examples["model"] == model]
        for i, split in enumerate(SPLITS):
            ax = axes[i, j]
            here = sub[sub["split"] == split]
            for method in here[here["metric"] == "klom"]["method"].unique():
                _ecdf(ax, here[(here["metric"] == "klom") & (here["method"] == method)]["value"], label=method,
                      color=_color(method), lw=1.6)
            _ecdf(ax, here[here["metric"] == "klom_floor"]["value"], label="floor (oracles vs oracles)",
                  color="black", ls="--", lw=1.2)
            ax.set_xscale("symlog", linthresh=0.01)
            ax.set_title(f"{MODEL_LABELS.get(model, model)}: {split} set")
            ax.set_xlabel("per-example KLOM (nats)")
            if j == 0:
                ax.set_ylabel("fraction of examples")
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


@styled
def roc_figure(roc: pd.DataFrame, title: str | None = None) -> Figure:
    """Per model: the U-LiRA ROC curve of every method on log-log axes, chance as the diagonal."""
    models = list(roc["model"].unique())
    fig, axes = _new_figure(1, len(models), (4.4 * len(models), 3.8))
    floor = 1e-4
    for j, model in enumerate(models):
        ax = axes[0, j]
        sub = roc[roc["model"] == model]
        for method in sub["method"].unique():
            r = sub[sub["method"] == method]
            ax.plot(np.maximum(r["fpr"], floor), np.maximum(r["tpr"], floor), label=method, color=_color(method),
                    lw=1.6)
        ax.plot([floor, 1], [floor, 1], color="grey", ls=":", lw=1, label="chance")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor, 1)
        ax.set_ylim(floor, 1.05)
        ax.set_title(f"{MODEL_LABELS.get(model, model)}: U-LiRA, forget set")
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


@styled
def vulnerability_figure(examples: pd.DataFrame, title: str | None = None) -> Figure:
    """Per model: each forget example's LiRA AUC before unlearning (membership, shadow models) against its U-LiRA
    AUC after each method (unlearned vs retrained)."""
    models = list(examples["model"].unique())
    fig, axes = _new_figure(1, len(models), (4.4 * len(models), 3.8))
    for j, model in enumerate(models):
        ax = axes[0, j]
        sub = examples[(examples["model"] == model) & (examples["split"] == "forget")]
        before = sub[sub["metric"] == "lira_auc_before"].set_index("example")["value"]
        after = sub[sub["metric"] == "ulira_auc"]
        for method in after["method"].unique():
            a = after[after["method"] == method].set_index("example")["value"]
            x = before.reindex(a.index)
            ax.scatter(x, a, s=8, alpha=0.6, color=_color(method), label=method, lw=0)
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.axhline(0.5, color="grey", lw=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{MODEL_LABELS.get(model, model)}: forget examples")
        ax.set_xlabel("LiRA AUC before unlearning (membership)")
        ax.set_ylabel("U-LiRA AUC after (unlearned vs retrained)")
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


def figures(results: pd.DataFrame, examples: pd.DataFrame, roc: pd.DataFrame, title: str | None = None) -> dict:
    """``{"klom": ..., "ulira_roc": ..., "vulnerability": ...}``, built in memory; nothing written."""
    if examples.empty:
        return {}
    return {"klom": klom_figure(examples, title), "ulira_roc": roc_figure(roc, title),
            "vulnerability": vulnerability_figure(examples, title)}
