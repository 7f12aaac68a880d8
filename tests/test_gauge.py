"""The gauge study of the XXZ states and the published numbers beside ours, end to end on a tiny study."""

import pandas as pd
import pytest

from qunlearn import reference, report, study
from qunlearn.experiments import gauge
from qunlearn.experiments import reproduce as rp

TINY_XXZ = """
preset = "quick"
[xxz]
parts = ["poison", "gauge"]
[xxz.poison]
alphas = [0.0, 0.3]
runs = 1
data_options = {n_spins = 4, n_per_class = 6}
[xxz.poison.models.qnn]
depth = 1
[xxz.poison.models.qnn.train]
epochs = 2
[xxz.poison.models.mlp]
hidden = [4]
[xxz.poison.models.mlp.train]
epochs = 2
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("cfg") / "xxz.toml"
    cfg.write_text(TINY_XXZ)
    s = study.resolve(None, ("xxz",), cfg)
    out = tmp_path_factory.mktemp("run") / "run"
    top, parts = rp.plan(s, out)
    rp.check_inputs(parts)
    results = rp.run(s, top, parts)
    return s, out, dict(zip((p.name for p in parts), results))


def test_gauge_part_retrains_only_the_phase_sensitive_models_in_the_other_gauge(tiny_run):
    s, out, results = tiny_run
    assert s.sections["xxz"]["poison"].data_options["phase"] == "random"  # the presets' gauge
    g = results["gauge"]
    assert set(g.results["model"]) == {"mlp"} and g.cfg.data_options["phase"] == "fixed"
    assert (out / "xxz" / "gauge" / "gauge.png").exists()
    table = gauge.compare(results["poison"].results, g.results, "random")
    assert set(table.columns) >= {"random", "fixed"} and len(table) == 2 * 2 * 2  # attacks x alphas x metrics
    lines = gauge.sensitivity(table, "random")
    assert any("label-flip alpha 0.3" in line and "random gauge" in line and "fixed gauge" in line for line in lines)


def test_report_sets_the_published_numbers_beside_ours_and_states_the_gauge_sensitivity(tiny_run):
    _, out, results = tiny_run
    md, page, found = report.write(out)
    text = md.read_text()
    assert "Ours beside the published numbers" in text and reference.SOURCE in text
    assert "gauge of the states" in text and "fixed gauge" in text
    both = reference.beside(results["poison"].results)
    # every matched point: our mean and the published one, straight from the two tables
    ours = results["poison"].results
    for r in both.itertuples():
        mine = ours[(ours["model"] == r.model) & (ours["attack"] == r.attack) & (ours["metric"] == r.metric)
                    & ((ours["alpha"] - r.alpha).abs() < 1e-9)]["value"].mean()
        assert r.ours == pytest.approx(mine)
    pub = reference.figure2("xxz")
    hit = pub[(pub["model"] == "qnn") & (pub["attack"] == "label-flip") & (pub["metric"] == "val_acc")
              & (pub["alpha"] == 0.3)]
    row = both[(both["model"] == "qnn") & (both["attack"] == "label-flip") & (both["metric"] == "val_acc")
               & (both["alpha"] == 0.3)]
    assert float(row["published"].iloc[0]) == float(hit["mean"].iloc[0]) and int(row["published_runs"].iloc[0]) == 5


def test_published_reference_ships_with_the_package():
    t = reference.figure2()
    assert set(t["dataset"]) == {"mnist", "xxz"} and len(t) == 160 and (t["runs"] == 5).all()
    assert list(t.columns) == ["dataset", "model", "attack", "alpha", "metric", "mean", "std", "runs"]
    mlp = t[(t["dataset"] == "xxz") & (t["model"] == "mlp") & (t["attack"] == "label-flip")
            & (t["metric"] == "train_acc")]
    assert mlp["mean"].min() >= 0.93  # the published XXZ MLP memorises flipped labels


def test_figure2_draws_published_markers_only_where_the_run_matches(tmp_path, monkeypatch):
    import matplotlib.axes

    from qunlearn import plots

    drawn = []
    real = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar",
                        lambda self, x, y, *a, **k: drawn.append((list(x), list(y))) or real(self, x, y, *a, **k))
    res = pd.DataFrame({"dataset": "xxz", "model": "qnn", "attack": "label-flip", "alpha": [0.0, 0.3],
                        "run": 0, "epoch": 1, "metric": "val_acc", "value": [0.9, 0.8]})
    plots.figure2(res, tmp_path / "f", published=reference.figure2())  # both datasets given: only XXZ is drawn
    pub = reference.figure2("xxz").set_index(["model", "attack", "metric", "alpha"])["mean"]
    assert len(drawn) == 2  # train and val markers of the one panel
    for xs, ys in drawn:
        assert xs == [0.0, 0.3]
        assert ys in ([pub[("qnn", "label-flip", m, a)] for a in xs] for m in ("train_acc", "val_acc"))
    drawn.clear()
    plots.figure2(res.assign(model="cnn"), tmp_path / "g", published=reference.figure2())
    assert drawn == []  # no published model of that name
