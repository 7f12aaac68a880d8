"""The capacity study's figures, built in memory from its tidy results (no pyplot state; the package style)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..plots import _band, _legend_below, _new_figure, styled

FAMILY_STYLE = {
    "qnn": dict(color="#d1495b", marker="o"),
    "qnn-landscape": dict(color="#edae49", marker="D"),
    "mlp": dict(color="#00798c", marker="s"),
    "linear": dict(color="#30638e", marker="*"),
    "pca-mlp": dict(color="#66a182", marker="^"),
    "mlp-decay": dict(color="#8d6a9f", marker="v"),
    "mlp-early-stop": dict(color="#7f7f7f", marker="P"),
    "mlp-bounded": dict(color="#3d405b", marker="X"),
}
PANELS = (("poison_fit", "memorisation: accuracy on the flipped labels"),
          ("val_acc", "clean validation accuracy"))


def _x_of(res: pd.DataFrame, alpha: float, xmetric: str) -> pd.Series:
    """The x of every (family, size): its parameter count, or its mean effective dimension at ``alpha``."""
    if xmetric == "n_params":
        first = res.drop_duplicates(["family", "size"]).set_index(["family", "size"])["n_params"]
        return first.astype(float)
    sub = res[(res["metric"] == xmetric) & np.isclose(res["alpha"].astype(float).fillna(-1), alpha)]
    return sub.groupby(["family", "size"])["value"].mean()


@styled
def make_capacity_figure(res: pd.DataFrame, alpha: float, xmetric: str, title: str,
                         points: list[tuple[str, float]] | None):
    """Memorisation and clean validation accuracy at ``alpha`` against ``xmetric`` (``n_params`` or
    ``effective_dimension``), log x, one line per family with a ±std band over runs; ``points`` (label, x)
    are marked as vertical lines."""
    fig, axes = _new_figure(1, 2, (10.5, 4.0))
    xs = _x_of(res, alpha, xmetric)
    at = res[res["alpha"].notna() & np.isclose(res["alpha"].astype(float).fillna(-1), alpha)]
    for ax, (metric, label) in zip(axes[0], PANELS):
        sub = at[at["metric"] == metric]
        stats = sub.groupby(["family", "size"], sort=False)["value"].agg(["mean", "std"]).fillna({"std": 0.0})
        for family in dict.fromkeys(stats.index.get_level_values(0)):
            s = stats.loc[family]
            x = np.array([xs.get((family, size), np.nan) for size in s.index], float)
            keep = np.isfinite(x) & (x > 0)
            if not keep.any():
                continue
            order = np.argsort(x[keep])
            style = {"label": family, **FAMILY_STYLE.get(family, {"color": "#444444", "marker": "o"})}
            _band(ax, x[keep][order], s["mean"].to_numpy()[keep][order], s["std"].to_numpy()[keep][order], style)
        for i, (name, value) in enumerate(points or []):
            ax.axvline(value, color="#555555", ls=":" if i == 0 else "--", lw=1, label=name)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("trained parameters" if xmetric == "n_params" else "local effective dimension")
        ax.set_title(label, fontsize=10)
    axes[0][0].set_ylabel(f"accuracy at alpha = {alpha:g}")
    fig.suptitle(title)
    _legend_below(fig, axes)
    return fig
