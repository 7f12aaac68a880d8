"""The quick preset is a miniature of the paper's study: the same protocol and rules, with only the expensive
things shrunk (the QNNs' schedules, runs, seeds, grids, the landscape MLP's exact trace, Newton's exact Hessian,
the noise part's data). Anything else that differs from the paper preset is a different experiment."""

from __future__ import annotations

import fnmatch
import tomllib

import numpy as np
import pandas as pd
import pytest

from helpers import qnn_toy

from qunlearn.config import ModelConfig, PoisonConfig
from qunlearn.data import Dataset
from qunlearn.experiments import poisoning
from qunlearn.models.specs import MLPSpec, QNNSpec
from qunlearn.study import preset_file
from qunlearn.train import TrainConfig
from qunlearn.vocab import DEFAULT_WEIGHTS


def _tree(name):
    with open(preset_file(name), "rb") as fh:
        return tomllib.load(fh)


def _leaves(tree, path=()):
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            yield from _leaves(v, path + (k,))
        else:
            yield path + (k,), v


def _get(tree, path):
    for k in path:
        if not isinstance(tree, dict) or k not in tree:
            return None
        tree = tree[k]
    return tree


#: What quick may shrink (dotted paths; * matches a name). A QNN's schedule is matched separately below.
SHRUNK = ["*.runs", "*.landscape.seeds", "*.sweeps.grid", "*.landscape.exact_max", "*.unlearn.weights.newton.*",
          "*.noise.*.data_options.*", "*.noise.*.models.*.noise.train_trajectories"]


def _model_of(path):
    """The model entry a path lies in (``...models.NAME``) and the rest, or None."""
    if "models" not in path:
        return None, None
    i = path.index("models")
    return path[: i + 2], path[i + 2:]


def test_quick_differs_from_the_paper_only_in_what_it_states():
    paper, quick = _tree("paper"), _tree("quick")
    differs = [(p, v) for p, v in _leaves(quick) if _get(paper, p) != v]
    assert differs, "the quick preset shrinks something"
    for path, value in differs:
        dotted = ".".join(path)
        if any(fnmatch.fnmatchcase(dotted, pat) for pat in SHRUNK):
            continue
        model, rest = _model_of(path)
        assert model is not None and _get(quick, model)["kind"] == "qnn" and rest[0] in ("train", "unlearn"), (
            f"quick.{dotted} = {value!r} differs from the paper's {_get(paper, path)!r}, and it is not a QNN's "
            "schedule or one of the stated reductions")


def test_quick_trains_and_unlearns_every_mlp_at_the_papers_settings():
    paper, quick = _tree("paper"), _tree("quick")
    mlps = {path[:-1] for path, v in _leaves(quick) if path[-1] == "kind" and v == "mlp"}
    assert len(mlps) >= 10
    for model in mlps:
        for schedule in ("train", "unlearn"):
            q, p = _get(quick, model + (schedule,)), _get(paper, model + (schedule,))
            assert q == p, (".".join(model + (schedule,)), q, p)


def test_newton_takes_the_lanczos_path_in_quick_and_the_exact_path_in_the_paper():
    quick, paper = _tree("quick"), _tree("paper")
    for d, depth in (("mnist", 6), ("xxz", 4)):
        n_qubits = 10 if d == "mnist" else 12
        n_params = depth * n_qubits * 4
        w = {**DEFAULT_WEIGHTS["newton"], **_get(quick, (d, "unlearn", "weights", "newton"))}
        assert n_params > w["exact_max"] and 1 <= w["rank"] < n_params / 4, (d, w)
        assert not _get(paper, (d, "unlearn", "weights"))  # the paper keeps the defaults: the exact Hessian
        assert n_params <= DEFAULT_WEIGHTS["newton"]["exact_max"]


def test_a_qnn_cell_does_not_depend_on_the_mlps_beside_it():
    """Why the preset's MLP change leaves every QNN number of the quick study as it was: a cell's keys and data
    come from the seed, the dataset, its own model and its (attack, alpha), never from the other models."""
    x, y = qnn_toy(4, 24, 0)
    xv, yv = qnn_toy(4, 12, 1)
    ds = Dataset("mnist", x, y, xv, yv, {"source": "synthetic test data"})
    qnn = ModelConfig(QNNSpec(1), TrainConfig(2, 8, 0.1, 1))
    cell = poisoning.Cell("qnn", "label-flip", 0.25)
    tables = []
    for mlp_train in (TrainConfig(40, 128, 0.005, 5), TrainConfig(100, 256, 0.005, 10)):
        cfg = PoisonConfig(dataset="mnist", models={"qnn": qnn, "mlp": ModelConfig(MLPSpec((4,)), mlp_train)},
                           alphas=(0.0, 0.25), runs=2)
        tables.append(poisoning.run_cell(cfg, ds, cell))
    pd.testing.assert_frame_equal(*tables)
    assert np.isfinite(tables[0]["value"]).all()


@pytest.mark.parametrize("dataset", ["mnist", "xxz"])
def test_quick_keeps_the_paper_protocol_fields(dataset):
    """Data, attacks, alphas, the unlearning alpha and methods, and the models' architectures are the paper's."""
    paper, quick = _tree("paper")[dataset], _tree("quick")[dataset]
    assert quick["poison"]["alphas"] == paper["poison"]["alphas"]
    assert quick["poison"]["attacks"] == paper["poison"]["attacks"]
    assert (quick["unlearn"]["alpha"], quick["unlearn"]["attack"]) == (paper["unlearn"]["alpha"],
                                                                        paper["unlearn"]["attack"])
    for section in ("poison", "unlearn", "landscape"):
        for name, m in quick.get(section, {}).get("models", {}).items():
            arch = {k: v for k, v in m.items() if k not in ("train", "unlearn")}
            assert arch == {k: v for k, v in paper[section]["models"][name].items() if k not in ("train", "unlearn")}
