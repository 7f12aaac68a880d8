"""Figures, drawn from tidy result tables only (plots never train)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MODEL_LABELS = {"qnn": "QNN", "mlp": "MLP"}
ATTACK_LABELS = {"label-flip": "label flipping", "feature-randomization": "feature randomisation"}
METRIC_STYLE = {
    "train_acc": dict(label="train (poisoned labels)", color="#d1495b", marker="o"),
    "val_acc": dict(label="validation (clean)", color="#00798c", marker="s"),
}

plt.rcParams.update(
    {
        "figure.dpi": 110,
        "savefig.dpi": 200,
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.frameon": False,
    }
)


def save(fig, stem: Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; return the paths."""
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


def _band(ax, x, mean, std, style):
    ax.plot(x, mean, lw=1.8, ms=4, **style)
    ax.fill_between(x, mean - std, mean + std, color=style["color"], alpha=0.18, lw=0)


def figure2(results: pd.DataFrame, stem: Path, title: str | None = None) -> list[Path]:
    """Accuracy against noise ratio: a panel per (model, attack), mean and one-std band over runs."""
    models = [m for m in results["model"].unique()]
    attacks = [a for a in results["attack"].unique()]
    fig, axes = plt.subplots(
        len(models), len(attacks), figsize=(4.2 * len(attacks), 3.2 * len(models)), squeeze=False, sharex=True, sharey=True
    )
    for i, model in enumerate(models):
        for j, attack in enumerate(attacks):
            ax = axes[i, j]
            sub = results[(results["model"] == model) & (results["attack"] == attack)]
            for metric, style in METRIC_STYLE.items():
                s = sub[sub["metric"] == metric].groupby("alpha")["value"].agg(["mean", "std"]).fillna(0.0)
                if len(s):
                    _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(), style)
            alphas = np.sort(sub["alpha"].unique())
            if attack == "label-flip" and len(alphas):
                grid = np.linspace(0, max(alphas.max(), 0.5), 50)
                ax.plot(grid, 1 - grid, ls=":", color="0.45", lw=1, label=r"$1-\alpha$")
            ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
            ax.set_ylim(-0.02, 1.04)
            ax.set_title(f"{MODEL_LABELS.get(model, model)}, {ATTACK_LABELS.get(attack, attack)}")
            if i == len(models) - 1:
                ax.set_xlabel(r"noise ratio $\alpha$")
            if j == 0:
                ax.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat[1:]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, stem)
