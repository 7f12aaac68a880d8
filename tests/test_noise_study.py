"""The study under noise: configs, the noise part of reproduce end to end on a tiny config, the finite-shot
metrics and the claims about noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qunlearn import config, report, study
from qunlearn.cli import app
from qunlearn.errors import InputError
from qunlearn.experiments.unlearning import shot_outputs
from qunlearn.noise import NoiseModel

TINY = """
preset = "quick"
[xxz]
parts = ["noise"]
[xxz.noise.poison]
runs = 1
alphas = [0.0, 0.3, 0.7]
data_options = {n_spins = 4, n_per_class = 12}
[xxz.noise.poison.models."qnn-p0.05"]
kind = "qnn"
depth = 2
noise = {p1 = 0.005, p2 = 0.05, gamma = 0.005, trajectories = 8, train_trajectories = 1}
[xxz.noise.poison.models."qnn-p0.05".train]
epochs = 2
eval_every = 2
[xxz.noise.poison.models.mlp]
hidden = [4]
[xxz.noise.poison.models.mlp.train]
epochs = 2
eval_every = 2
[xxz.noise.unlearn]
runs = 1
methods = ["finetune"]
shots = [100, 1000]
data_options = {n_spins = 4, n_per_class = 12}
[xxz.noise.unlearn.models."qnn-p0.05"]
kind = "qnn"
depth = 2
noise = {p1 = 0.005, p2 = 0.05, gamma = 0.005, trajectories = 8, train_trajectories = 1}
[xxz.noise.unlearn.models."qnn-p0.05".train]
epochs = 2
[xxz.noise.unlearn.models."qnn-p0.05".unlearn]
epochs = 2
eval_every = 2
[xxz.noise.unlearn.models.mlp]
hidden = [4]
[xxz.noise.unlearn.models.mlp.train]
epochs = 2
[xxz.noise.unlearn.models.mlp.unlearn]
epochs = 2
eval_every = 2
"""


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory):
    from typer.testing import CliRunner

    tmp = tmp_path_factory.mktemp("noise")
    (tmp / "tiny.toml").write_text(TINY)
    out = tmp / "run"
    result = CliRunner().invoke(app, ["reproduce", "xxz", "--config", str(tmp / "tiny.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output[-3000:]
    return out, result.output


def test_noise_part_writes_its_figure_tables_and_report(noise_run):
    out, stdout = noise_run
    part = out / "xxz" / "noise"
    assert (part / "noise.png").exists() and (part / "noise.pdf").exists()
    res = pd.read_csv(part / "results.csv")
    assert set(res["model"]) == {"qnn-p0.05", "mlp"} and set(res["alpha"]) == {0.0, 0.3, 0.7}
    se = res[res["metric"] == "val_z_se"]
    assert set(se["model"]) == {"qnn-p0.05"} and (se["value"] > 0).all() and (se["value"] < 1).all()
    unl = pd.read_csv(out / "xxz" / "noise-unlearn" / "results.csv")
    shots = unl[unl["metric"].str.contains("_shots")]
    assert set(shots["model"]) == {"qnn-p0.05"}  # an MLP's output is not a measurement
    assert set(unl[unl["metric"] == "val_z_se"]["model"]) == {"qnn-p0.05"}
    assert {f"{m}_shots{n}" for m in ("mia_auc", "forget_poison_acc", "val_acc") for n in (100, 1000)} \
        <= set(shots["metric"])
    md = (out / "report.md").read_text()
    assert "the study under device noise" in md and "xxz/noise/noise.png" in md
    assert "poison memory, 1000 shots" in md and "se of <Z>" in md
    for n in (6, 7):
        assert f"claim {n} (xxz): " in stdout and f"**Claim {n} (XXZ): " in md
    assert "qnn-p0.05 (QNN depth 2, noise: p1 0.005, p2 0.05, gamma 0.005, 8 trajectories (1 in training steps)" in md


def test_claims_about_noise_are_left_out_of_runs_without_the_noise_part():
    run = report.RunTables(path=None, config={}, versions={}, parts={("mnist", "poison"): {"results": None}})
    assert [c.number for c in report.claims(run)] == [1, 2, 3, 4, 5]


def _sweep(rows):
    return pd.DataFrame([dict(model=m, attack="label-flip", alpha=a, run=0, epoch=1, metric=k, value=v)
                         for m, a, k, v in rows])


@pytest.mark.parametrize("val_at_07,held", [(0.1, True), (0.8, False)])
def test_claim6_rule(val_at_07, held):
    from qunlearn.parts.noise import _claim6

    rows = []
    for a, tr, va in ((0.0, 1.0, 0.97), (0.3, 0.7, 0.9), (0.7, 0.7, val_at_07)):
        rows += [("qnn-p0.01", a, "train_acc", tr), ("qnn-p0.01", a, "val_acc", va)]
    part = {"config": {"models": {"qnn-p0.01": {"kind": "qnn", "noise": {"p2": 0.01}}, "mlp": {"kind": "mlp"}}}}
    claim = _claim6("mnist", _sweep(rows), part)
    assert claim.status == (report.HELD if held else report.NOT_HELD)
    assert "qnn-p0.01: deviation 0.000" in claim.evidence


def test_finite_shot_outputs_are_binomial_estimates_of_the_output():
    rng = np.random.default_rng(0)
    p = np.full(4000, 1 / (1 + np.exp(-5 * 0.2)))  # <Z> = 0.2
    one = shot_outputs(p, 5.0, 1, rng)
    np.testing.assert_allclose(np.unique(one), 1 / (1 + np.exp(-5 * np.array([-1.0, 1.0]))))
    many = shot_outputs(p, 5.0, 10**6, rng)
    np.testing.assert_allclose(np.log(many / (1 - many)) / 5, 0.2, atol=0.005)


def test_noise_config_is_checked():
    sec = config.preset_configs("quick", "mnist")
    noise = sec["noise"]
    assert any(mc.spec.noise is not None for mc in noise.poison.models.values())
    assert noise.unlearn.shots == (100, 1000, 10000)
    with pytest.raises(InputError, match="no noisy model"):
        config.NoiseConfig(sec["poison"], sec["unlearn"])
    with pytest.raises(InputError, match="shots must be a positive integer"):
        sec["unlearn"].replace(shots=(0,))
    with pytest.raises(InputError, match="shots: repeats a value"):
        sec["unlearn"].replace(shots=(100, 100))
    assert "shots" not in sec["unlearn"].to_dict()  # a record without shots is as it always was


def test_noise_is_opt_in_and_parts_flag_selects_it(tmp_path):
    quick = study.resolve("quick", ("mnist", "xxz"))
    assert all("noise" not in s["parts"] for s in quick.sections.values())
    chosen = study.resolve("quick", ("mnist",), overrides={"mnist": {"parts": ["noise"]}})
    assert chosen.sections["mnist"]["parts"] == ["noise"]
    levels = [m.spec.noise for m in chosen.sections["mnist"]["noise"].poison.models.values()
              if getattr(m.spec, "noise", None) is not None]
    assert levels == [NoiseModel(p1=0.001, p2=0.01, gamma=0.001, trajectories=64, train_trajectories=2),
                      NoiseModel(p1=0.003, p2=0.03, gamma=0.003, trajectories=128, train_trajectories=2)]


def test_runs_without_the_noise_part_record_no_noise_section(tmp_path):
    """A run's stored config holds the noise section only when it runs the part, so a run started before the
    part existed resumes instead of being refused as changed; config show prints the section to edit."""
    from qunlearn.experiments import reproduce

    s = study.resolve("quick", ("mnist",))
    assert "noise" in s.to_dict()["mnist"]
    top, _ = reproduce.plan(s, tmp_path / "run")
    assert "noise" not in top.config["mnist"]
    with_noise = study.resolve("quick", ("mnist",), overrides={"mnist": {"parts": ["poison", "noise"]}})
    top, parts = reproduce.plan(with_noise, tmp_path / "run2")
    assert "noise" in top.config["mnist"] and [p.name for p in parts] == ["poison", "noise", "noise-unlearn"]


@pytest.mark.parametrize("shots,match", [
    (["100"], "shots must be a positive integer"),  # a string is not a count, in a list as in a noise table
    ({"a": 1}, "shots: must be a list"),
    ((100, 100), "shots: repeats a value.*list each once"),
])
def test_bad_shot_lists_are_refused(shots, match):
    with pytest.raises(InputError, match=match):
        config.preset_configs("quick", "xxz")["unlearn"].replace(shots=shots)


def test_noise_part_needs_finite_shot_counts():
    noise = config.preset_configs("quick", "xxz")["noise"]
    with pytest.raises(InputError, match="noise part.*shots"):
        config.NoiseConfig(noise.poison, noise.unlearn.replace(shots=()))


def test_shots_can_be_set_on_a_plain_unlearning_config(tmp_path):
    """``shots`` is a field of every unlearning config, so [xxz.unlearn] takes it as [xxz.noise.unlearn] does."""
    cfg = tmp_path / "u.toml"
    cfg.write_text("[xxz.unlearn]\nshots = [100, 1000]\n")
    sec = study.resolve_part("unlearn", "quick", "xxz", {}, config=cfg)
    assert sec["unlearn"].shots == (100, 1000)


def test_a_single_experiment_is_not_refused_for_another_part(tmp_path):
    """`qunlearn poison --dataset xxz` with a models table of one noisy QNN: the reproduce-only gauge part
    (which needs an MLP) is not what this command runs, so it is not checked."""
    cfg = tmp_path / "p.toml"
    cfg.write_text('[xxz.poison.models.qnn]\ndepth = 2\nnoise = {p1 = 0.01, trajectories = 4}\n')
    sec = study.resolve_part("poison", "quick", "xxz", {}, config=cfg)
    assert list(sec["poison"].models) == ["qnn"] and sec["poison"].models["qnn"].spec.stochastic


def test_parts_must_be_a_list(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('preset = "quick"\n[xxz]\nparts = "noise"\n')
    with pytest.raises(InputError, match="parts must be a list"):
        study.resolve(None, ("xxz",), cfg)
