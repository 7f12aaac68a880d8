"""Figures, drawn from tidy result tables only (plots never train).

Every figure has an in-memory builder, ``make_<name>(...) -> matplotlib.figure.Figure``,
that writes nothing, and a function ``<name>(..., stem)`` that builds it and saves
``stem.png`` and ``stem.pdf``. Neither touches matplotlib's global state: the
backend and ``matplotlib.rcParams`` are left alone (the package's :data:`STYLE`
is applied with :func:`matplotlib.rc_context` while building and saving only),
and figures are not registered with pyplot, so a notebook's inline figures and
settings are unaffected. A built figure is not in pyplot's figure list: show it
in a notebook as a cell's value (or with ``IPython.display.display``), not with
``plt.show()``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import matplotlib.lines
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

MODEL_LABELS = {"qnn": "QNN", "mlp": "MLP"}
ATTACK_LABELS = {"label-flip": "label flipping", "feature-randomization": "feature randomisation"}
METRIC_STYLE = {
    "train_acc": dict(label="train (poisoned labels)", color="#d1495b", marker="o"),
    "val_acc": dict(label="validation (clean)", color="#00798c", marker="s"),
}

STYLE = {  # the package's look, applied (rc_context) only while a figure is built and saved
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


def styled(fn):
    """Run ``fn`` under :data:`STYLE` (``matplotlib.rc_context``), leaving ``matplotlib.rcParams`` as it was."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


@styled
def save(fig: Figure, stem: Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; return the paths."""
    import io

    from .runs import atomic_write_bytes

    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:  # drawn in memory, then written atomically: a full disk never leaves half a figure
        buf = io.BytesIO()
        fig.savefig(buf, format=p.suffix[1:], bbox_inches="tight")
        atomic_write_bytes(p, buf.getvalue())
    return paths


def save_figures(figures: dict[str, Figure], directory: Path) -> list[Path]:
    """Save each figure of ``{stem: figure}`` as ``directory/stem.png`` and ``.pdf``; return the paths, in order."""
    return [p for stem, fig in figures.items() for p in save(fig, Path(directory) / stem)]


def _new_figure(nrows: int, ncols: int, figsize: tuple[float, float], layout: str | None = "constrained", **kwargs):
    """A figure (not registered with pyplot) and its 2-d array of axes."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def _legend_entries(axes) -> tuple[list, list[str]]:
    """The handles and labels of every panel, each label once, in the order first met."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    return handles, labels


def _panels_width(axes) -> float:
    """Width in display units of the union of the panels (after a draw)."""
    boxes = [ax.get_window_extent() for ax in np.ravel(axes)]
    return max(b.x1 for b in boxes) - min(b.x0 for b in boxes)


def _legend_below(fig: Figure, axes, handles=None, labels=None, grow: bool = True, **kwargs):
    """One figure legend below the panels (constrained layout keeps it off them), in as many columns as fit
    within the panels' width. ``grow``: make the figure taller by the legend's height, so the panels keep
    their size. Returns the legend (None without entries)."""
    if handles is None:
        handles, labels = _legend_entries(axes)
    if not labels:
        return None
    ncol = len(labels)
    while True:
        legend = fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kwargs)
        fig.draw_without_rendering()  # lays the figure out: the legend's and the panels' sizes
        width, room = legend.get_window_extent().width, _panels_width(axes)
        if width <= room or ncol == 1:
            break
        legend.remove()
        ncol = max(1, min(ncol - 1, int(ncol * room / width)))
    if grow:
        fig.set_figheight(fig.get_figheight() + legend.get_window_extent().height / fig.dpi)
    return legend


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
    """:func:`make_figure2`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_figure2(results, title=title, published=published), stem)


@styled
def make_figure2(results: pd.DataFrame, title: str | None = None, published: pd.DataFrame | None = None) -> Figure:
    """Accuracy against noise ratio: a panel per (model, attack), mean and one-std band over runs.

    ``published`` (``qunlearn.reference.figure2()``) adds the paper's numbers as
    open markers with their std, in the panels whose dataset, model and attack
    match and at the alphas the run has. One legend below the panels.
    """
    if published is not None and "dataset" in results:
        published = published[published["dataset"].isin(results["dataset"].unique())]
    models = [m for m in results["model"].unique()]
    attacks = [a for a in results["attack"].unique()]
    # a single column gets a wider figure, so the legend fits below it in a few columns
    fig, axes = _new_figure(len(models), len(attacks), (max(4.2 * len(attacks), 6.4), 3.2 * len(models) + 0.3),
                            sharex=True, sharey=True)
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
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


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
    """:func:`make_figure3`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_figure3(history, title=title), stem)


@styled
def make_figure3(history: pd.DataFrame, title: str | None = None) -> Figure:
    """Unlearning curves: per model, validation accuracy and poison memory against step, one curve per method."""
    models = list(history["model"].unique())
    fig, axes = _new_figure(len(models), len(UNLEARN_PANELS), (4.6 * len(UNLEARN_PANELS), 3.2 * len(models)),
                            sharex="row")
    for i, model in enumerate(models):
        sub = history[history["model"] == model]
        for j, (metric, label) in enumerate(UNLEARN_PANELS):
            ax = axes[i, j]
            for method in sub["method"].unique():
                rows = sub[(sub["method"] == method) & (sub["metric"] == metric)]
                s = rows.groupby("step")["value"].agg(["mean", "std"]).fillna(0.0)
                color = METHOD_COLORS.get(method, None)
                style = dict(label=method, color=color or "C0", marker=None)
                _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(), style)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{MODEL_LABELS.get(model, model)}: {label.splitlines()[0]}")
            ax.set_ylabel(label)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            if i == len(models) - 1:
                ax.set_xlabel("unlearning epoch")
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


def sweep_figure(table: pd.DataFrame, method: str, stem: Path, title: str | None = None) -> list[Path]:
    """:func:`make_sweep_figure`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_sweep_figure(table, method, title=title), stem)


@styled
def make_sweep_figure(table: pd.DataFrame, method: str, title: str | None = None) -> Figure:
    """Final validation accuracy over a weight grid: heatmap over (kl_w, fo_w) for SCRUB, lines over fo_w otherwise."""
    models = list(table["model"].unique())
    fig, axes = _new_figure(1, len(models), (4.6 * len(models), 3.8), layout=None)
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
    return fig


def landscape_figure(result: pd.DataFrame, stem: Path, title: str | None = None) -> list[Path]:
    """:func:`make_landscape_figure`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_landscape_figure(result, title=title), stem)


@styled
def make_landscape_figure(result: pd.DataFrame, title: str | None = None) -> Figure:
    """Noisy / clean Hessian trace and top eigenvalue: grouped bars per alpha, QNN vs MLP, log scale.

    Bars are the mean over non-collapsed seeds, error bars one standard
    deviation, dots the individual seeds; the dashed line marks ratio 1. The
    legend (the models) below the panels.
    """
    panels = [("trace_ratio", "Hessian trace, noisy / clean"),
              ("top_eig_ratio", "top Hessian eigenvalue, noisy / clean")]
    panels = [p for p in panels if (result["metric"] == p[0]).any()]
    fig, axes = _new_figure(1, len(panels), (5.2 * len(panels), 3.8))
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
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes)
    return fig


EMBED_LABEL_COLORS = ("#0072B2", "#E69F00")  # blue, orange (colour-blind safe)


def embedding_figure(
    table: pd.DataFrame,
    stem: Path,
    title: str | None = None,
    color_by_delta: bool = False,
    label_names: tuple[str, str] | None = None,
) -> list[Path]:
    """:func:`make_embedding_figure`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_embedding_figure(table, title=title, color_by_delta=color_by_delta, label_names=label_names), stem)


@styled
def make_embedding_figure(
    table: pd.DataFrame,
    title: str | None = None,
    color_by_delta: bool = False,
    label_names: tuple[str, str] | None = None,
) -> Figure:
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
    fig, axes = _new_figure(nrows, len(panels), (3.7 * len(panels) + (0.8 if color_by_delta else 0), 3.6 * nrows + 0.5))
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
    Line2D = matplotlib.lines.Line2D
    handles = [
        Line2D([], [], ls="", marker="o", ms=6, color=EMBED_LABEL_COLORS[0], label=names[0]),
        Line2D([], [], ls="", marker="o", ms=6, color=EMBED_LABEL_COLORS[1], label=names[1]),
        Line2D([], [], ls="", marker="o", ms=8, mfc="0.85", mec="black", mew=1.1,
               label="poisoned (black edge; " + ("top row: " if color_by_delta else "") + "fill = label trained on)"),
    ]
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes, handles, [h.get_label() for h in handles], grow=False)  # the figure has room for it
    return fig


def _alpha_panel(ax, title: str, ylabel: str | None) -> None:
    """An accuracy-against-alpha panel: chance line, accuracy range, labels."""
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_ylim(-0.02, 1.04)
    ax.set_title(title)
    ax.set_xlabel(r"noise ratio $\alpha$")
    if ylabel:
        ax.set_ylabel(ylabel)


def _finish(fig: Figure, axes, title: str | None, legend_size: int) -> Figure:
    """The title, and the legend below the panels."""
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes, fontsize=legend_size)
    return fig


def width_figure(results: pd.DataFrame, stem: Path, title: str | None = None,
                 labels: dict[str, str] | None = None) -> list[Path]:
    """:func:`make_width_figure`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_width_figure(results, title=title, labels=labels), stem)


@styled
def make_width_figure(results: pd.DataFrame, title: str | None = None, labels: dict[str, str] | None = None) -> Figure:
    """Clean validation accuracy against alpha for every model of the sweep, per attack.

    ``labels`` maps a model's name to its legend entry (its spec's description);
    the model named ``qnn`` is drawn in the QNN colour for reference.
    """
    labels = labels or {}
    attacks = list(results["attack"].unique())
    fig, axes = _new_figure(1, len(attacks), (4.6 * len(attacks), 3.4), sharey=True)
    models = list(results["model"].unique())
    colors = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.85, max(1, sum(m != "qnn" for m in models))))
    for j, attack in enumerate(attacks):
        ax = axes[0, j]
        ci = 0
        for model in models:
            sub = results[(results["model"] == model) & (results["attack"] == attack)
                          & (results["metric"] == "val_acc")]
            s = sub.groupby("alpha")["value"].agg(["mean", "std"]).fillna(0.0)
            if model == "qnn":
                style = dict(label=labels.get(model, "QNN"), color="#d1495b", marker="o")
            else:
                style = dict(label=labels.get(model, model), color=colors[ci], marker="s")
                ci += 1
            _band(ax, s.index.to_numpy(), s["mean"].to_numpy(), s["std"].to_numpy(), style)
        _alpha_panel(ax, f"validation accuracy, {ATTACK_LABELS.get(attack, attack)}",
                     "accuracy (clean)" if j == 0 else None)
    return _finish(fig, axes, title, 8)


def gauge_figure(table: pd.DataFrame, stem: Path, ref_phase: str, qnn: pd.DataFrame | None = None,
                 title: str | None = None) -> list[Path]:
    """:func:`make_gauge_figure`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_gauge_figure(table, ref_phase, qnn, title=title), stem)


@styled
def make_gauge_figure(table: pd.DataFrame, ref_phase: str, qnn: pd.DataFrame | None = None,
                      title: str | None = None) -> Figure:
    """The MLP's accuracy against alpha in both gauges of the XXZ states (QNN for reference), per attack.

    ``table`` is :func:`qunlearn.experiments.gauge.compare` (one column per gauge);
    ``qnn`` the reference sweep's QNN rows of ``results.csv``.
    """
    other = [c for c in ("random", "fixed") if c in table.columns and c != ref_phase]
    attacks = list(table["attack"].unique())
    model = "mlp" if "mlp" in set(table["model"]) else table["model"].iloc[0]
    fig, axes = _new_figure(1, len(attacks), (4.8 * len(attacks), 3.6), sharey=True)
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
    return _finish(fig, axes, title, 7)


def noise_figure(results: pd.DataFrame, stem: Path, labels: dict[str, str] | None = None,
                 title: str | None = None) -> list[Path]:
    """:func:`make_noise_figure`, saved as ``stem.png`` and ``stem.pdf``; returns the paths."""
    return save(make_noise_figure(results, labels, title=title), stem)


@styled
def make_noise_figure(results: pd.DataFrame, labels: dict[str, str] | None = None,
                      title: str | None = None) -> Figure:
    """The alpha sweep under device noise: validation accuracy (clean) and training accuracy on the poisoned
    labels against alpha, per attack; one curve per QNN (noiseless and each noise level, darker = noisier),
    the MLP dashed for reference. Mean and one-std band over runs; the legend below the panels."""
    labels = labels or {}
    attacks = list(results["attack"].unique())
    models = list(results["model"].unique())
    qnns = [m for m in models if m.startswith("qnn")]
    others = [m for m in models if m not in qnns]
    shades = matplotlib.colormaps["magma"](np.linspace(0.15, 0.75, max(1, len(qnns))))[::-1]
    panels = [("val_acc", "validation (clean labels)"), ("train_acc", "training (poisoned labels)")]
    fig, axes = _new_figure(len(attacks), 2, (9.6, 3.4 * len(attacks) + 0.3), sharex=True, sharey=True)
    alphas = np.sort(results["alpha"].unique())
    for i, attack in enumerate(attacks):
        for j, (metric, what) in enumerate(panels):
            ax = axes[i, j]
            for k, model in enumerate(qnns + others):
                sub = results[(results["model"] == model) & (results["attack"] == attack)
                              & (results["metric"] == metric)]
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
    if title:
        fig.suptitle(title)
    _legend_below(fig, axes, fontsize=8)
    return fig
