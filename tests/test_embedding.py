"""t-SNE embeddings of clean and poisoned training sets (qunlearn.experiments.embedding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qunlearn import plots
from qunlearn.config import EmbedConfig
from qunlearn.data import Dataset
from qunlearn.errors import InputError
from qunlearn.experiments import embedding
from qunlearn.experiments.common import alpha_tag, cell_key
from qunlearn.poison import poison
from qunlearn.runs import RunDir

ATTACKS = ("label-flip", "feature-randomization")
ALPHA = 0.3


def toy_dataset(n=60, d=16, *, complex_=False, name="toy", seed=0) -> Dataset:
    """Two well separated unit-norm clusters, ``n`` training rows (half per class)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array([0, 1], dtype=np.int32), n // 2)
    x = 0.3 * rng.normal(size=(n, d))
    if complex_:
        x = x + 0.3j * rng.normal(size=(n, d))
    x[y == 0, 0] += 3.0
    x[y == 1, 1] += 3.0
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    info = {"source": "synthetic"}
    if complex_:
        # An XXZ-like grid: class 0 below Delta = 1, class 1 above.
        info["delta_train"] = [float(v) for v in np.concatenate([np.linspace(-0.9, 0.8, n // 2),
                                                                 np.linspace(1.2, 3.0, n // 2)])]
    dtype = np.complex64 if complex_ else np.float32
    return Dataset(name=name, x_train=x.astype(dtype), y_train=y, x_val=x[:8].astype(dtype), y_val=y[:8], info=info)


@pytest.fixture(scope="module")
def real_ds():
    return toy_dataset()


@pytest.fixture(scope="module")
def real_table(real_ds):
    return embedding.embed(real_ds, ATTACKS, ALPHA, seed=0)


@pytest.fixture(scope="module")
def complex_ds():
    return toy_dataset(complex_=True, name="toyc")


@pytest.fixture(scope="module")
def complex_table(complex_ds):
    return embedding.embed(complex_ds, ATTACKS, ALPHA, seed=0)


def panel(table, name):
    return table[table["panel"] == name].reset_index(drop=True)


def sweep_poison(ds, attack, seed=0):
    """What run 0 of the noise-ratio sweep trains on."""
    key = cell_key(seed, ds.name, "poison", attack, alpha_tag(ALPHA), 0)
    return poison(attack, ds.x_train, ds.y_train, ALPHA, key)


# ------------------------------------------------------------------ table


def test_table_columns_and_panels(real_table, real_ds):
    assert list(real_table.columns) == ["panel", "index", "x", "y", "label", "true_label", "poisoned", "delta", "alpha"]
    assert list(dict.fromkeys(real_table["panel"])) == ["clean", *ATTACKS]
    n = len(real_ds.y_train)
    for name in ("clean", *ATTACKS):
        sub = panel(real_table, name)
        assert len(sub) == n
        np.testing.assert_array_equal(sub["index"], np.arange(n))
        np.testing.assert_array_equal(sub["true_label"], real_ds.y_train)
        assert np.isfinite(sub[["x", "y"]].to_numpy()).all()
        assert sub[["x", "y"]].to_numpy().std(axis=0).min() > 0  # a real 2-D spread
    assert real_table["poisoned"].dtype == bool
    assert real_table["delta"].isna().all()  # no delta_train in info
    assert set(panel(real_table, "clean")["alpha"]) == {0.0}
    assert set(panel(real_table, "label-flip")["alpha"]) == {ALPHA}


def test_clean_panel_is_unpoisoned(real_table, real_ds):
    clean = panel(real_table, "clean")
    assert not clean["poisoned"].any()
    np.testing.assert_array_equal(clean["label"], real_ds.y_train)


def test_label_flip_panel_matches_the_sweeps_poisoning(real_table, real_ds):
    _, y_p, idx = sweep_poison(real_ds, "label-flip")
    assert idx.size == 18  # 60 * 0.3, even
    lf = panel(real_table, "label-flip")
    np.testing.assert_array_equal(np.flatnonzero(lf["poisoned"]), idx)
    np.testing.assert_array_equal(lf["label"], y_p)
    np.testing.assert_array_equal(lf["label"][idx], 1 - real_ds.y_train[idx])
    untouched = ~lf["poisoned"].to_numpy()
    np.testing.assert_array_equal(lf["label"][untouched], real_ds.y_train[untouched])


def test_label_flip_moves_no_point_and_feature_randomisation_does(real_table):
    # Label flipping keeps the inputs, so its t-SNE is the clean one (same seed).
    clean, lf, fr = (panel(real_table, p) for p in ("clean", *ATTACKS))
    np.testing.assert_allclose(lf[["x", "y"]], clean[["x", "y"]])
    assert not np.allclose(fr[["x", "y"]], clean[["x", "y"]])


def test_feature_randomisation_panel_has_the_replaced_rows(real_table, real_ds):
    x_p, _, idx = sweep_poison(real_ds, "feature-randomization")
    assert idx.size == 18
    fr = panel(real_table, "feature-randomization")
    np.testing.assert_array_equal(np.flatnonzero(fr["poisoned"]), idx)
    np.testing.assert_array_equal(fr["label"], real_ds.y_train)  # labels are kept
    assert not np.allclose(x_p[idx], real_ds.x_train[idx])


def test_same_seed_same_coordinates_other_seed_other_poisoning(real_ds, real_table):
    again = embedding.embed(real_ds, ATTACKS, ALPHA, seed=0)
    pd.testing.assert_frame_equal(again, real_table)
    other = embedding.embed(real_ds, ["label-flip"], ALPHA, seed=1)
    assert list(dict.fromkeys(other["panel"])) == ["clean", "label-flip"]
    assert not np.array_equal(panel(other, "label-flip")["poisoned"], panel(real_table, "label-flip")["poisoned"])


def test_complex_data_and_delta(complex_table, complex_ds):
    assert np.isfinite(complex_table[["x", "y"]].to_numpy()).all()
    deltas = np.asarray(complex_ds.info["delta_train"])
    for name in ("clean", *ATTACKS):
        sub = panel(complex_table, name)
        np.testing.assert_allclose(sub["delta"], deltas[sub["index"]])
    _, _, idx = sweep_poison(complex_ds, "feature-randomization")
    np.testing.assert_array_equal(np.flatnonzero(panel(complex_table, "feature-randomization")["poisoned"]), idx)
    # The two phases stay apart in the clean embedding: nearest neighbours share the label.
    clean = panel(complex_table, "clean")
    xy = clean[["x", "y"]].to_numpy()
    d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nearest = d2.argmin(axis=1)
    assert (clean["label"].to_numpy()[nearest] == clean["label"].to_numpy()).mean() > 0.9


def test_max_points_is_a_stratified_deterministic_subsample(real_ds):
    t1 = embedding.embed(real_ds, ATTACKS, ALPHA, seed=0, max_points=30)
    t2 = embedding.embed(real_ds, ATTACKS, ALPHA, seed=0, max_points=30)
    pd.testing.assert_frame_equal(t1, t2)
    idx = [panel(t1, p)["index"].to_numpy() for p in ("clean", *ATTACKS)]
    assert len(idx[0]) == 30 and len(set(idx[0])) == 30
    for other in idx[1:]:
        np.testing.assert_array_equal(other, idx[0])  # the same rows in every panel
    clean = panel(t1, "clean")
    assert np.bincount(clean["true_label"], minlength=2).tolist() == [15, 15]
    for attack in ATTACKS:  # 18 of 60 poisoned -> about 9 of 30
        assert abs(panel(t1, attack)["poisoned"].sum() - 9) <= 2
    full = embedding.embed(real_ds, ["label-flip"], ALPHA, seed=0, max_points=1000)
    assert len(panel(full, "clean")) == 60


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=1.0), "alpha"),
        (dict(alpha=-0.1), "alpha"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(alpha="lots"), "alpha"),
        (dict(attacks=["label-flip", "backdoor"]), "unknown poisoning attack 'backdoor'"),
        (dict(attacks=["clean"]), "unknown poisoning attack 'clean'"),
        (dict(attacks=["label-flip", "label-flip"]), "twice"),
        (dict(perplexity=0), "perplexity"),
        (dict(perplexity=-5.0), "perplexity"),
        (dict(perplexity=float("inf")), "perplexity"),
        (dict(perplexity=float("nan")), "perplexity"),
        (dict(seed=-1), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(max_points=2), "max_points"),
        (dict(max_points=True), "max_points"),
    ],
)
def test_bad_input_is_refused(real_ds, kwargs, match):
    args = dict(attacks=ATTACKS, alpha=ALPHA)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        embedding.embed(real_ds, args.pop("attacks"), args.pop("alpha"), **args)


def test_mismatched_delta_info_is_refused():
    ds = toy_dataset()
    ds = Dataset(name="bad", x_train=ds.x_train, y_train=ds.y_train, x_val=ds.x_val, y_val=ds.y_val,
                 info={"delta_train": [0.0, 1.0]})
    with pytest.raises(InputError, match="delta_train"):
        embedding.embed(ds, ATTACKS, ALPHA)


# ------------------------------------------------------------------ run + figure


def test_run_writes_table_and_figure(tmp_path):
    opts = dict(n_spins=4, n_per_class=24)  # 24 training states of 16 complex amplitudes
    cfg = EmbedConfig(dataset="xxz", data_options=opts, attacks=ATTACKS, alpha=ALPHA, seed=0, perplexity=5.0)
    rd = RunDir(tmp_path / "emb", embedding.NAME, cfg.to_dict())
    table = embedding.run(cfg, rd).table
    for name in ("embedding.csv", "embedding.png", "embedding.pdf", "config.json"):
        assert (rd.path / name).is_file() and (rd.path / name).stat().st_size > 0
    stored = pd.read_csv(rd.path / "embedding.csv")
    assert list(stored.columns) == list(table.columns)
    assert len(stored) == 3 * 24
    assert stored["delta"].notna().all()
    np.testing.assert_allclose(stored[["x", "y"]], table[["x", "y"]], rtol=1e-12)


XXZ_OPTS = dict(n_spins=4, n_per_class=24)


@pytest.mark.parametrize(
    "args, match",
    [
        (("xxz", ATTACKS, 1.5), "alpha"),
        (("xxz", ["poison-all"], ALPHA), "unknown (poisoning )?attack 'poison-all'"),
        (("cifar", ATTACKS, ALPHA), "unknown dataset"),
    ],
)
def test_run_refuses_bad_input_without_creating_the_directory(tmp_path, args, match):
    out = tmp_path / "emb"
    dataset, attacks, alpha = args
    opts = XXZ_OPTS if dataset == "xxz" else {}
    with pytest.raises(InputError, match=match):
        embedding.run(EmbedConfig(dataset=dataset, data_options=opts, attacks=attacks, alpha=alpha), out)
    with pytest.raises(InputError, match="perplexity"):
        embedding.run(EmbedConfig(dataset="xxz", data_options=XXZ_OPTS, attacks=ATTACKS, alpha=ALPHA,
                                  perplexity=0), out)
    # input only run itself can check (the subsample size) is refused before the directory exists too
    good = EmbedConfig(dataset="xxz", data_options=XXZ_OPTS, attacks=ATTACKS, alpha=ALPHA)
    with pytest.raises(InputError, match="max_points"):
        embedding.run(good, RunDir(out, embedding.NAME, good.to_dict()), max_points=2)
    assert not out.exists()


def test_figure_without_delta_row(real_table, tmp_path):
    paths = plots.embedding_figure(real_table, tmp_path / "fig", title="toy", label_names=("digit 1", "digit 9"))
    assert [p.name for p in paths] == ["fig.png", "fig.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(ValueError, match="Delta"):
        plots.embedding_figure(real_table, tmp_path / "nodelta", color_by_delta=True)
    assert not (tmp_path / "nodelta.png").exists()
