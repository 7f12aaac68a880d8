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


def _published(ax, pub: pd.DataFrame | None, model: str, attack: str, alphas: np.ndarray) -> None:
    """The published means (open markers) and std (error bars) of one panel, at the alphas of our run."""
    if pub is None or not len(alphas):
        return
    sub = pub[(pub["model"] == model) & (pub["attack"] == attack)]
    sub = sub[np.isclose(sub["alpha"].to_numpy()[:, None], alphas[None, :]).any(axis=1)]
    for metric, style in METRIC_STYLE.items():
        m = sub[sub["metric"] == metric].sort_values("alpha")
        if len(m):
            ax.errorbar(m["alpha"], m["mean"], yerr=m["std"], ls="none", marker=style["marker"], ms=6, mfc="white",
                        mec=style["color"], ecolor=style["color"], elinewidth=0.8, capsize=2, alpha=0.9,
                        label=f"published {style['label'].split(' ')[0]}")


def figure2(results: pd.DataFrame, stem: Path, title: str | None = None,
            published: pd.DataFrame | None = None) -> list[Path]:
    """Accuracy against noise ratio: a panel per (model, attack), mean and one-std band over runs.

    ``published`` (``qunlearn.reference.figure2()``) adds the paper's numbers as
    open markers with their std, in the panels whose dataset, model and attack
    match and at the alphas the run has.
    """
    if published is not None and "dataset" in results:
        published = published[published["dataset"].isin(results["dataset"].unique())]
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
            _published(ax, published, model, attack, alphas)
            if attack == "label-flip" and len(alphas):
                grid = np.linspace(alphas.min(), alphas.max(), 50)  # only where there is data
                ax.plot(grid, 1 - grid, ls=":", color="0.45", lw=1, label=r"$1-\alpha$")
            if len(alphas):
                pad = 0.03 * max(alphas.max() - alphas.min(), 0.1)
                ax.set_xlim(alphas.min() - pad, alphas.max() + pad)
            ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
            ax.set_ylim(-0.02, 1.04)
            ax.set_title(f"{MODEL_LABELS.get(model, model)}, {ATTACK_LABELS.get(attack, attack)}")
            if i == len(models) - 1:
                ax.set_xlabel(r"noise ratio $\alpha$")
            if j == 0:
                ax.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat[1:]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
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


def landscape_figure(result: pd.DataFrame, stem: Path, title: str | None = None) -> list[Path]:
    """Noisy / clean Hessian trace and top eigenvalue: grouped bars per alpha, QNN vs MLP, log scale.

    Bars are the mean over non-collapsed seeds, error bars one standard
    deviation, dots the individual seeds; the dashed line marks ratio 1.
    """
    panels = [("trace_ratio", "Hessian trace, noisy / clean"), ("top_eig_ratio", "top Hessian eigenvalue, noisy / clean")]
    panels = [p for p in panels if (result["metric"] == p[0]).any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    colors = {"qnn": "#00798c", "mlp": "#d1495b"}
    noisy = result[result["alpha"] > 0]
    alphas = np.sort(noisy["alpha"].unique())
    models = list(noisy["model"].unique())
    width = 0.8 / max(len(models), 1)
    for ax, (metric, label) in zip(axes[0], panels):
        sub = noisy[noisy["metric"] == metric]
        for i, model in enumerate(models):
            xs = np.arange(len(alphas)) + (i - (len(models) - 1) / 2) * width
            vals = [sub[(sub["model"] == model) & (sub["alpha"] == a)]["value"].dropna().to_numpy() for a in alphas]
            means = np.array([v.mean() if len(v) else np.nan for v in vals])
            stds = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
            lower = np.minimum(stds, means * 0.999)  # keep the lower whisker positive on a log axis
            ax.bar(xs, means, width * 0.9, color=colors.get(model, "C0"), alpha=0.85,
                   label=MODEL_LABELS.get(model, model), yerr=[lower, stds], capsize=3)
            for x, v in zip(xs, vals):
                ax.scatter(np.full(len(v), x), v, s=10, color="black", zorder=3, alpha=0.6)
        ax.axhline(1.0, color="0.3", ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_xticks(range(len(alphas)), [f"{a:.1f}" for a in alphas])
        ax.set_xlabel(r"label-noise ratio $\alpha$")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", which="both", alpha=0.25)
        ax.grid(False, axis="x")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, stem)


EMBED_LABEL_COLORS = ("#0072B2", "#E69F00")  # blue, orange (colour-blind safe)


def embedding_figure(
    table: pd.DataFrame,
    stem: Path,
    title: str | None = None,
    color_by_delta: bool = False,
    label_names: tuple[str, str] | None = None,
) -> list[Path]:
    """t-SNE panels side by side ("clean" first), from :func:`qunlearn.experiments.embedding.embed`'s table.

    Top row: points coloured by the label as trained on; poisoned points are
    larger, black-edged and drawn on top. With ``color_by_delta`` a second row
    shows the same embeddings coloured by the (original) XXZ Delta. Axes carry
    no ticks: t-SNE coordinates have no meaning beyond neighbourhoods.
    """
    panels = list(dict.fromkeys(table["panel"]))
    if "clean" in panels:
        panels.remove("clean")
        panels.insert(0, "clean")
    if color_by_delta and not table["delta"].notna().any():
        raise ValueError("color_by_delta needs a table with Delta values; its delta column is empty")
    names = tuple(label_names) if label_names else ("label 0", "label 1")
    nrows = 2 if color_by_delta else 1
    fig, axes = plt.subplots(
        nrows, len(panels), figsize=(3.7 * len(panels) + (0.8 if color_by_delta else 0), 3.6 * nrows + 0.5),
        squeeze=False, layout="constrained",
    )
    normal = dict(s=16, alpha=0.75, linewidths=0)
    marked = dict(s=46, alpha=0.95, edgecolors="black", linewidths=1.1, zorder=3)
    delta_scatter = None
    dmin, dmax = (table["delta"].min(), table["delta"].max()) if color_by_delta else (None, None)
    for j, panel in enumerate(panels):
        sub = table[table["panel"] == panel]
        pois = sub["poisoned"].astype(bool).to_numpy()
        ax = axes[0, j]
        for label, color in enumerate(EMBED_LABEL_COLORS):
            is_label = (sub["label"] == label).to_numpy()
            ax.scatter(sub["x"][is_label & ~pois], sub["y"][is_label & ~pois], color=color, **normal)
            ax.scatter(sub["x"][is_label & pois], sub["y"][is_label & pois], color=color, **marked)
        if panel == "clean":
            ax.set_title(f"clean\n{len(sub)} points, none poisoned", fontsize=9.5)
        else:
            alpha = sub["alpha"].iloc[0] if "alpha" in sub.columns and len(sub) else None
            head = ATTACK_LABELS.get(panel, panel)
            if alpha is not None and np.isfinite(alpha):
                head += rf" ($\alpha$ = {alpha:g})"
            ax.set_title(f"{head}\n{int(pois.sum())} of {len(sub)} points poisoned", fontsize=9.5)
        if color_by_delta:
            ax = axes[1, j]
            ax.scatter(sub["x"][pois], sub["y"][pois], s=marked["s"], facecolors="none", edgecolors="black",
                       linewidths=1.1, zorder=3)
            delta_scatter = ax.scatter(sub["x"], sub["y"], c=sub["delta"], cmap="viridis", vmin=dmin, vmax=dmax,
                                       s=16, linewidths=0, zorder=2)
            ax.set_title(rf"{'clean' if panel == 'clean' else ATTACK_LABELS.get(panel, panel)}: coloured by $\Delta$",
                         fontsize=9.5)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("0.75")
    if delta_scatter is not None:
        fig.colorbar(delta_scatter, ax=list(axes[1, :]), label=r"anisotropy $\Delta$ (original state)",
                     shrink=0.9, pad=0.01)
    handles = [
        plt.Line2D([], [], ls="", marker="o", ms=6, color=EMBED_LABEL_COLORS[0], label=names[0]),
        plt.Line2D([], [], ls="", marker="o", ms=6, color=EMBED_LABEL_COLORS[1], label=names[1]),
        plt.Line2D([], [], ls="", marker="o", ms=8, mfc="0.85", mec="black", mew=1.1,
                   label="poisoned (black edge; " + ("top row: " if color_by_delta else "") + "fill = label trained on)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    if title:
        fig.suptitle(title)
    return save(fig, stem)


def _alpha_panel(ax, title: str, ylabel: str | None) -> None:
    """An accuracy-against-alpha panel: chance line, accuracy range, labels."""
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_ylim(-0.02, 1.04)
    ax.set_title(title)
    ax.set_xlabel(r"noise ratio $\alpha$")
    if ylabel:
        ax.set_ylabel(ylabel)


def _close(fig, axes, stem: Path, title: str | None, legend_size: int) -> list[Path]:
    """Legend in the last panel, the title, and the saved files."""
    axes[0, -1].legend(loc="lower left", fontsize=legend_size)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, stem)


def width_figure(results: pd.DataFrame, stem: Path, title: str | None = None,
                 labels: dict[str, str] | None = None) -> list[Path]:
    """Clean validation accuracy against alpha for every model of the sweep, per attack.

    ``labels`` maps a model's name to its legend entry (its spec's description);
    the model named ``qnn`` is drawn in the QNN colour for reference.
    """
    labels = labels or {}
    attacks = list(results["attack"].unique())
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.6 * len(attacks), 3.4), squeeze=False, sharey=True)
    models = list(results["model"].unique())
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, max(1, sum(m != "qnn" for m in models))))
    for j, attack in enumerate(attacks):
        ax = axes[0, j]
        ci = 0
        for model in models:
            sub = results[(results["model"] == model) & (results["attack"] == attack) & (results["metric"] == "val_acc")]
            s = sub.groupby("alpha")["value"].agg(["mean", "std"]).fillna(0.0)
            if model == "qnn":
                style = dict(label=labels.get(model, "QNN"), color="#d1495b", marker="o")
            else:
                style = dict(label=labels.get(model, model), color=colors[ci], marker="s")
                ci += 1
            _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(), style)
        _alpha_panel(ax, f"validation accuracy, {ATTACK_LABELS.get(attack, attack)}", "accuracy (clean)" if j == 0 else None)
    return _close(fig, axes, stem, title, 8)


def gauge_figure(table: pd.DataFrame, stem: Path, ref_phase: str, qnn: pd.DataFrame | None = None,
                 title: str | None = None) -> list[Path]:
    """The MLP's accuracy against alpha in both gauges of the XXZ states (QNN for reference), per attack.

    ``table`` is :func:`qunlearn.experiments.gauge.compare` (one column per gauge);
    ``qnn`` the reference sweep's QNN rows of ``results.csv``.
    """
    other = [c for c in ("random", "fixed") if c in table.columns and c != ref_phase]
    attacks = list(table["attack"].unique())
    model = "mlp" if "mlp" in set(table["model"]) else table["model"].iloc[0]
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.8 * len(attacks), 3.6), squeeze=False, sharey=True)
    for j, attack in enumerate(attacks):
        ax = axes[0, j]
        sub = table[(table["model"] == model) & (table["attack"] == attack)]
        for metric, style in METRIC_STYLE.items():
            m = sub[sub["metric"] == metric].sort_values("alpha")
            for phase, ls in [(ref_phase, "-")] + [(o, "--") for o in other]:
                ax.plot(m["alpha"], m[phase], ls=ls, color=style["color"], marker=style["marker"], ms=4,
                        mfc="white" if ls == "--" else style["color"],
                        label=f"MLP {style['label'].split(' ')[0]}, {phase} gauge")
        if qnn is not None:
            q = qnn[(qnn["attack"] == attack) & (qnn["metric"] == "val_acc")].groupby("alpha")["value"].mean()
            ax.plot(q.index, q.to_numpy(), color="0.35", lw=1.2, ls=":", label="QNN validation (either gauge)")
        _alpha_panel(ax, f"{model}: {ATTACK_LABELS.get(attack, attack)}", "accuracy" if j == 0 else None)
    return _close(fig, axes, stem, title, 7)


def noise_figure(results: pd.DataFrame, stem: Path, labels: dict[str, str] | None = None,
                 title: str | None = None) -> list[Path]:
    """The alpha sweep under device noise: validation accuracy (clean) and training accuracy on the poisoned
    labels against alpha, per attack; one curve per QNN (noiseless and each noise level, darker = noisier),
    the MLP dashed for reference. Mean and one-std band over runs; the legend below the panels."""
    labels = labels or {}
    attacks = list(results["attack"].unique())
    models = list(results["model"].unique())
    qnns = [m for m in models if m.startswith("qnn")]
    others = [m for m in models if m not in qnns]
    shades = plt.cm.magma(np.linspace(0.15, 0.75, max(1, len(qnns))))[::-1]
    panels = [("val_acc", "validation (clean labels)"), ("train_acc", "training (poisoned labels)")]
    fig, axes = plt.subplots(len(attacks), 2, figsize=(9.6, 3.4 * len(attacks) + 0.6), squeeze=False, sharex=True,
                             sharey=True)
    alphas = np.sort(results["alpha"].unique())
    for i, attack in enumerate(attacks):
        for j, (metric, what) in enumerate(panels):
            ax = axes[i, j]
            for k, model in enumerate(qnns + others):
                sub = results[(results["model"] == model) & (results["attack"] == attack) & (results["metric"] == metric)]
                if not len(sub):
                    continue
                s = sub.groupby("alpha")["value"].agg(["mean", "std"]).fillna(0.0)
                if model in qnns:
                    style = dict(label=labels.get(model, model), color=shades[k], marker="o")
                else:
                    style = dict(label=labels.get(model, model), color="#00798c", marker="s", ls="--")
                _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(), style)
            if metric == "train_acc" and attack == "label-flip":
                a = np.linspace(alphas.min(), alphas.max(), 50)
                ax.plot(a, np.maximum(a, 1 - a), color="0.5", lw=0.8, ls=":", label=r"max($\alpha$, 1 $-$ $\alpha$)")
            _alpha_panel(ax, f"{what}, {ATTACK_LABELS.get(attack, attack)}", "accuracy" if j == 0 else None)
    handles, names = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(handles) + 1) // 2), 1, 1))
    return save(fig, stem)
