"""Figures: no global matplotlib side effects, builders that write nothing, and legends off the data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qunlearn import plots, reference

ATTACKS = ("label-flip", "feature-randomization")
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def poison_table(models=("qnn", "mlp"), attacks=ATTACKS, alphas=ALPHAS, runs=2, dataset="xxz") -> pd.DataFrame:
    """Final-epoch rows of the alpha sweep (``PoisonResult.results``), deterministic."""
    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        for attack in attacks:
            for alpha in alphas:
                for run in range(runs):
                    noise = 0.02 * rng.standard_normal(2)
                    rows.append((dataset, model, attack, alpha, run, 5, "train_acc", 1 - alpha + noise[0]))
                    rows.append((dataset, model, attack, alpha, run, 5, "val_acc", 0.95 - 0.5 * alpha + noise[1]))
    return pd.DataFrame(rows, columns=["dataset", "model", "attack", "alpha", "run", "epoch", "metric", "value"])


def unlearn_history(models=("qnn", "mlp"), methods=("retrain", "finetune", "scrub"), steps=4, runs=2) -> pd.DataFrame:
    """Per-epoch rows of the unlearning comparison (``UnlearnResult.history``)."""
    rows = []
    for model in models:
        for k, method in enumerate(methods):
            for run in range(runs):
                for step in range(steps + 1):
                    rows.append((model, method, run, step, "val_acc", 0.6 + 0.05 * step + 0.01 * k))
                    rows.append((model, method, run, step, "forget_poison_acc", 0.9 - 0.1 * step - 0.02 * k))
    return pd.DataFrame(rows, columns=["model", "method", "run", "step", "metric", "value"])


def sweep_table(method="scrub") -> pd.DataFrame:
    rows = []
    for model in ("qnn", "mlp"):
        for kl_w in ((0.5, 1.0) if method == "scrub" else (1.0,)):
            for fo_w in (0.0, 0.5, 1.0):
                for run in range(2):
                    rows.append((model, kl_w, fo_w, run, "val_acc", 0.5 + 0.2 * fo_w + 0.1 * kl_w + 0.01 * run))
    return pd.DataFrame(rows, columns=["model", "kl_w", "fo_w", "run", "metric", "value"])


def landscape_table() -> pd.DataFrame:
    rows = []
    for model in ("qnn", "mlp"):
        for alpha in (0.0, 0.2, 0.4):
            for seed in range(3):
                for metric in ("trace_ratio", "top_eig_ratio"):
                    rows.append(("xxz", model, alpha, seed, metric, 1.0 + alpha * (3 if model == "mlp" else 0.5)
                                 + 0.05 * seed))
    return pd.DataFrame(rows, columns=["dataset", "model", "alpha", "seed", "metric", "value"])


def embedding_table(with_delta=True) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n, frames = 20, []
    for panel, alpha in (("clean", 0.0), ("label-flip", 0.3), ("feature-randomization", 0.3)):
        poisoned = np.zeros(n, bool) if panel == "clean" else np.arange(n) % 3 == 0
        true = np.arange(n) % 2
        label = np.where(poisoned & (panel == "label-flip"), 1 - true, true)
        frames.append(pd.DataFrame({"panel": panel, "index": np.arange(n), "x": rng.normal(size=n),
                                    "y": rng.normal(size=n), "label": label, "true_label": true,
                                    "poisoned": poisoned, "delta": np.linspace(-1, 1, n) if with_delta else np.nan,
                                    "alpha": alpha}))
    return pd.concat(frames, ignore_index=True)


def gauge_table() -> pd.DataFrame:
    res = poison_table(models=("mlp",))
    means = res.groupby(["model", "attack", "alpha", "metric"])["value"].mean()
    return pd.concat([means.rename("random"), (means - 0.05).rename("fixed")], axis=1).reset_index()


def noise_table() -> pd.DataFrame:
    parts = [poison_table(models=("qnn",)), poison_table(models=("qnn-p2",)).assign(value=lambda t: t["value"] - 0.05),
             poison_table(models=("mlp",))]
    return pd.concat(parts, ignore_index=True)


WIDTH_LABELS = {"qnn": "QNN", "mlp": "MLP 16-4", "mlp_32": "MLP 32-8", "mlp_8": "MLP 8-2"}

BUILDERS = {
    "figure2": lambda: plots.make_figure2(poison_table(), title="Figure 2", published=reference.figure2()),
    "figure2-one-attack": lambda: plots.make_figure2(poison_table(attacks=("label-flip",)), title="Figure 2",
                                                     published=reference.figure2()),
    "figure2-one-model": lambda: plots.make_figure2(poison_table(models=("qnn",)), published=reference.figure2()),
    "figure3": lambda: plots.make_figure3(unlearn_history(), title="Figure 3"),
    "widths": lambda: plots.make_width_figure(poison_table(models=tuple(WIDTH_LABELS)), title="widths",
                                              labels=WIDTH_LABELS),
    "gauge": lambda: plots.make_gauge_figure(gauge_table(), "random", poison_table(models=("qnn",)), title="gauge"),
    "noise": lambda: plots.make_noise_figure(noise_table(), {"qnn": "qnn (noiseless)", "qnn-p2": "qnn-p2: p2 0.01"},
                                             title="noise"),
    "landscape": lambda: plots.make_landscape_figure(landscape_table(), title="landscape"),
    "embedding": lambda: plots.make_embedding_figure(embedding_table(), title="t-SNE", color_by_delta=True,
                                                     label_names=("XY phase (label 0)", "Néel phase (label 1)")),
    "sweep-scrub": lambda: plots.make_sweep_figure(sweep_table("scrub"), "scrub", title="sweep"),
    "sweep-finetune": lambda: plots.make_sweep_figure(sweep_table("finetune"), "finetune", title="sweep"),
}


def _drawn(fig: Figure):
    """Draw ``fig`` on an Agg canvas; return its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _data_axes(fig: Figure) -> list:
    """The panels: every axes but colour bars."""
    return [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]


def _union(bboxes):
    return min(b.x0 for b in bboxes), max(b.x1 for b in bboxes)


def _legends(fig: Figure) -> list:
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def _check_legends_off_the_data(fig: Figure, renderer) -> None:
    axes = [ax.get_window_extent(renderer) for ax in fig.axes]  # colour bars included: a legend must not cover them
    x0, x1 = _union([ax.get_window_extent(renderer) for ax in _data_axes(fig)])
    for legend in _legends(fig):
        box = legend.get_window_extent(renderer)
        for ax in axes:
            assert not box.overlaps(ax), f"legend {box} covers the axes {ax}"
        assert box.width <= (x1 - x0) + 1.0, f"legend ({box.width:.0f} px) wider than the panels ({x1 - x0:.0f} px)"


@pytest.mark.parametrize("name", ["figure2", "figure2-one-attack", "figure2-one-model"])
def test_figure2_panels_fill_the_figure_and_the_legend_is_off_the_data(name):
    fig = BUILDERS[name]()
    renderer = _drawn(fig)
    saved = fig.get_tightbbox(renderer)  # inches: what savefig(bbox_inches="tight") keeps
    x0, x1 = _union([ax.get_window_extent(renderer) for ax in _data_axes(fig)])
    assert (x1 - x0) / (saved.width * fig.dpi) >= 0.8, "the panels leave wide empty margins"
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)  # one figure legend
    _check_legends_off_the_data(fig, renderer)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["train (poisoned labels)", "validation (clean)"]
    assert {"published train", "published validation"} <= set(labels)  # the published overlay is kept
    assert r"$1-\alpha$" in labels  # every case has a label-flipping panel


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_builder_returns_a_figure_with_its_legend_off_the_data(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = BUILDERS[name]()
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == []  # built in memory: nothing written
    _check_legends_off_the_data(fig, _drawn(fig))


def test_make_figure2_writes_nothing_and_figure2_writes_png_and_pdf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = plots.make_figure2(poison_table(), title="t", published=reference.figure2())
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert list(tmp_path.iterdir()) == []
    paths = plots.figure2(poison_table(), tmp_path / "fig2", title="t",
                          published=reference.figure2())
    assert paths == [tmp_path / "fig2.png", tmp_path / "fig2.pdf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig2.pdf", "fig2.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"


def test_figures_change_no_global_matplotlib_state(tmp_path):
    script = f"""
import json, sys
import matplotlib
matplotlib.use("svg")                     # a backend plots.py must leave alone (not Agg)
matplotlib.rcParams["font.size"] = 7.0    # and a setting of the user's it must not override
backend = matplotlib.get_backend()
before = dict(matplotlib.rcParams)
sys.path.insert(0, {str(Path(__file__).parent)!r})
import qunlearn.plots as plots
from test_plots import poison_table, unlearn_history
from qunlearn import reference
paths = plots.figure2(poison_table(), {str(tmp_path / "fig2")!r}, title="t", published=reference.figure2())
paths += plots.figure3(unlearn_history(), {str(tmp_path / "fig3")!r}, title="t")
plots.make_embedding_figure(__import__("test_plots").embedding_table(), color_by_delta=True)
after = dict(matplotlib.rcParams)
import matplotlib.pyplot as plt
changed = sorted(k for k in set(before) | set(after) if repr(before.get(k)) != repr(after.get(k)))
print(json.dumps(dict(backend=[backend, matplotlib.get_backend()], changed=changed, fignums=plt.get_fignums(),
                      files=[str(p) for p in paths])))
"""
    env = {**os.environ, "MPLBACKEND": ""}
    env.pop("MPLBACKEND")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["backend"][0] == state["backend"][1] == "svg"
    assert state["changed"] == []
    assert state["fignums"] == []
    assert all(Path(f).stat().st_size > 0 for f in state["files"])


def test_style_is_applied_to_built_and_saved_figures():
    import matplotlib

    fig = plots.make_figure2(poison_table(attacks=("label-flip",)))
    ax = fig.axes[0]
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()  # STYLE, not the defaults
    assert ax.title.get_fontsize() == pytest.approx(plots.STYLE["font.size"] * 1.2)  # axes.titlesize "large"
    assert fig.dpi == plots.STYLE["figure.dpi"]
    assert matplotlib.rcParams["axes.spines.top"] == matplotlib.rcParamsDefault["axes.spines.top"]


def _result(cls, tmp_path, **tables):
    models = {name: SimpleNamespace(describe=lambda name=name: f"{name} model", spec=SimpleNamespace())
              for name in ("qnn", "mlp", "mlp_32")}
    cfg = SimpleNamespace(dataset="xxz", runs=2, models=models, method="scrub", alpha=0.3, attack="label-flip",
                          unlearn=SimpleNamespace(alpha=0.3), data_options={"phase": "fixed"}, seed=0)
    result = cls.__new__(cls)
    result.cfg, result.run_dir = cfg, SimpleNamespace(path=tmp_path)
    for k, v in tables.items():
        setattr(result, k, v)
    return result


@pytest.mark.parametrize("kind", ["poison", "unlearn", "sweep", "landscape", "gauge", "noise", "embed", "base"])
def test_build_figures_writes_nothing_and_figures_saves_each_stem(kind, tmp_path):
    from qunlearn.experiments import common, embedding, gauge, landscape, noise, poisoning, sweeps, unlearning

    res = poison_table(models=("qnn", "mlp", "mlp_32"))
    made = {
        "poison": lambda: _result(poisoning.PoisonResult, tmp_path, history=res, results=res),
        "unlearn": lambda: _result(unlearning.UnlearnResult, tmp_path, history=unlearn_history(), results=None),
        "sweep": lambda: _result(sweeps.SweepResult, tmp_path, results=sweep_table()),
        "landscape": lambda: _result(landscape.LandscapeResult, tmp_path, results=landscape_table()),
        "gauge": lambda: _result(gauge.GaugeResult, tmp_path, history=res, results=res, reference=res,
                                 ref_phase="random"),
        "noise": lambda: _result(noise.NoiseResult, tmp_path, history=noise_table(), results=noise_table()),
        "embed": lambda: _result(embedding.EmbedResult, tmp_path, table=embedding_table()),
        "base": lambda: _result(common.Result, tmp_path),
    }[kind]()
    stems = {"poison": ["figure2", "widths"], "unlearn": ["figure3"], "sweep": ["sweep-scrub"],
             "landscape": ["landscape"], "gauge": ["gauge"], "noise": ["noise"], "embed": ["embedding"],
             "base": []}[kind]
    figs = made.build_figures("a title")
    assert list(figs) == stems and all(isinstance(f, Figure) for f in figs.values())
    assert list(tmp_path.iterdir()) == []
    if kind == "embed":
        return  # drawn by embedding.run (with the data set's label names); figures() only names those files
    paths = made.figures("a title")
    assert paths == [tmp_path / f"{stem}.{ext}" for stem in stems for ext in ("png", "pdf")]
    assert sorted(tmp_path.iterdir()) == sorted(paths)
    if kind == "poison":
        assert list(made.build_figures(published=False)) == stems
