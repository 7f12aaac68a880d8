"""Figures, drawn from tidy result tables only (plots never train)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
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


METHOD_COLORS = {
    "retrain": "#333333",
    "finetune": "#1b9e77",
    "scrub": "#d95f02",
    "gradient_ascent": "#7570b3",
    "neggrad_plus": "#e7298a",
    "random_labels": "#66a61e",
    "scrub_full": "#e6ab02",
    "newton": "#a6761d",
}
UNLEARN_PANELS = (
    ("val_acc", "validation accuracy"),
    ("forget_poison_acc", "poison memory\n(forget set, poisoned labels)"),
)


def figure3(history: pd.DataFrame, stem: Path, title: str | None = None) -> list[Path]:
    """Unlearning curves: per model, validation accuracy and poison memory against step, one curve per method."""
    models = list(history["model"].unique())
    fig, axes = plt.subplots(len(models), len(UNLEARN_PANELS), figsize=(4.6 * len(UNLEARN_PANELS), 3.2 * len(models)),
                             squeeze=False, sharex="row")
    for i, model in enumerate(models):
        sub = history[history["model"] == model]
        for j, (metric, label) in enumerate(UNLEARN_PANELS):
            ax = axes[i, j]
            for method in sub["method"].unique():
                s = sub[(sub["method"] == method) & (sub["metric"] == metric)].groupby("step")["value"].agg(["mean", "std"])
                s = s.fillna(0.0)
                color = METHOD_COLORS.get(method, None)
                style = dict(label=method, color=color or "C0", marker=None)
                _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(), style)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{MODEL_LABELS.get(model, model)}: {label.splitlines()[0]}")
            ax.set_ylabel(label)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            if i == len(models) - 1:
                ax.set_xlabel("unlearning epoch")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), bbox_to_anchor=(0.5, -0.03))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save(fig, stem)


def sweep_figure(table: pd.DataFrame, method: str, stem: Path, title: str | None = None) -> list[Path]:
    """Final validation accuracy over a weight grid: heatmap over (kl_w, fo_w) for SCRUB, lines over fo_w otherwise."""
    models = list(table["model"].unique())
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 3.8), squeeze=False)
    val = table[table["metric"] == "val_acc"]
    for j, model in enumerate(models):
        ax = axes[0, j]
        sub = val[val["model"] == model]
        if "kl_w" in sub.columns and sub["kl_w"].nunique() > 1:
            grid = sub.groupby(["kl_w", "fo_w"])["value"].mean().unstack("fo_w")
            im = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(range(grid.shape[1]), [f"{v:.1f}" for v in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [f"{v:.1f}" for v in grid.index])
            ax.set_xlabel("forget weight fo_w")
            ax.set_ylabel("KL weight kl_w")
            ax.grid(False)
            for (r, c), v in np.ndenumerate(grid.to_numpy()):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v < 0.6 else "black")
            fig.colorbar(im, ax=ax, label="final validation accuracy")
        else:
            s = sub.groupby("fo_w")["value"].agg(["mean", "std"]).fillna(0.0)
            _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(),
                  dict(label="final validation accuracy", color=METHOD_COLORS.get(method, "C0"), marker="o"))
            ax.set_xlabel("forget weight fo_w")
            ax.set_ylabel("final validation accuracy")
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{MODEL_LABELS.get(model, model)}, {method}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, stem)
