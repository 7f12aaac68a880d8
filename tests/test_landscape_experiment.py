"""The landscape experiment: collapse detection, ratios and exclusions, a tiny end-to-end run."""

import numpy as np
import pandas as pd
import pytest

from qunlearn.config import LandscapeConfig, ModelConfig
from qunlearn.data import Dataset
from qunlearn.errors import InputError
from qunlearn.experiments import landscape as exp
from qunlearn.models.specs import MLPSpec, QNNSpec
from qunlearn.runs import RunDir
from qunlearn.train import TrainConfig


def test_collapse_detection():
    assert exp.is_collapsed(np.full(100, 0.3))  # always class 0
    assert exp.is_collapsed(np.r_[np.full(99, 0.9), 0.1])  # 99 % one class
    assert not exp.is_collapsed(np.r_[np.full(90, 0.9), np.full(10, 0.1)])
    assert not exp.is_collapsed(np.linspace(0, 1, 50))


def _table(rows):
    return pd.DataFrame(rows, columns=["dataset", "model", "alpha", "seed", "metric", "value"])


def test_ratios_exclude_collapsed_runs():
    rows = []
    for seed, clean_trace, noisy_trace, noisy_collapsed in [(0, 2.0, 20.0, 0), (1, 4.0, 400.0, 1)]:
        rows += [("d", "mlp", 0.0, seed, "trace", clean_trace), ("d", "mlp", 0.0, seed, "collapsed", 0.0),
                 ("d", "mlp", 0.3, seed, "trace", noisy_trace), ("d", "mlp", 0.3, seed, "collapsed", noisy_collapsed)]
    out = exp.add_ratios(_table(rows))
    r = out[out["metric"] == "trace_ratio"].set_index(["alpha", "seed"])["value"]
    assert r[(0.3, 0)] == pytest.approx(20.0 / 3.0)  # mean clean trace = 3
    assert np.isnan(r[(0.3, 1)])  # collapsed: excluded, not silently kept
    assert r[(0.0, 0)] == pytest.approx(2.0 / 3.0)
    ex = exp.excluded(out)
    assert ex.to_dict("records") == [{"model": "mlp", "alpha": 0.3, "seed": 1}]


def _tiny_dataset():
    rng = np.random.default_rng(0)
    n = 60
    y = np.repeat([0, 1], n // 2).astype(np.int32)
    x = rng.normal(size=(n, 16)) + 3.0 * np.where(y[:, None] == 1, np.eye(16)[0], np.eye(16)[15])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return Dataset(name="toy", x_train=x, y_train=y, x_val=x[:10], y_val=y[:10], info={})


def test_tiny_run_end_to_end(tmp_path, monkeypatch):
    ds = _tiny_dataset()
    monkeypatch.setattr(exp.data_mod, "load", lambda name, **o: ds)
    train = TrainConfig(3, 16, 0.05, 3)
    cfg = LandscapeConfig(alphas=(0.3,), seeds=(0, 1),
                          models={"qnn": ModelConfig(QNNSpec(1, "landscape"), train),
                                  "mlp": ModelConfig(MLPSpec((3,)), train)},
                          n_hessian=12, top_k=2)
    result = exp.run(cfg, RunDir(tmp_path / "ls", exp.NAME, cfg.to_dict())).results
    assert set(result["model"]) == {"qnn", "mlp"}
    for metric in ("trace", "trace_ratio", "collapsed", "top_eig_1", "top_eig_2", "val_acc"):
        assert (result["metric"] == metric).any(), metric
    traces = result[result["metric"] == "trace"]
    assert len(traces) == 2 * 2 * 2  # models x seeds x (clean, 0.3)
    assert np.isfinite(traces["value"]).all()
    # the largest eigenvalue is at least the second one
    w = result.pivot_table(index=["model", "alpha", "seed"], columns="metric", values="value")
    assert (w["top_eig_1"] >= w["top_eig_2"] - 1e-6).all()
    assert (tmp_path / "ls" / "results.csv").exists()


def test_config_refuses_bad_input():
    train = TrainConfig(3, 16, 0.05, 3)
    ok = LandscapeConfig(models={"qnn": ModelConfig(QNNSpec(1, "landscape"), train),
                                 "mlp": ModelConfig(MLPSpec((3,)), train)})  # valid: each case below breaks one field
    with pytest.raises(InputError):
        ok.replace(alphas=(0.0, 0.3))
    with pytest.raises(InputError):
        ok.replace(seeds=(1, 1))
    with pytest.raises(InputError):
        ok.replace(models={"cnn": {"kind": "cnn", "train": train.to_dict()}})
    with pytest.raises(InputError):
        ok.replace(models={})
    with pytest.raises(InputError):
        ok.replace(test_size=1.5)
