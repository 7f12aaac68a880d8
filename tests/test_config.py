"""Model specs and the one config tree: presets, TOML files and CLI flags through one override path."""

import tomllib

import pytest

from qunlearn import cli, study
from qunlearn.config import ModelConfig, PoisonConfig, SweepConfig, UnlearnConfig, preset_configs
from qunlearn.errors import InputError
from qunlearn.models.specs import SPECS, MLPSpec, QNNSpec, spec_from_dict, spec_to_dict
from qunlearn.parts.audit import AuditConfig
from qunlearn.train import TrainConfig


def test_specs_carry_only_their_own_fields():
    assert spec_to_dict(QNNSpec(4)) == {"kind": "qnn", "depth": 4, "ansatz": "paper"}
    assert spec_to_dict(MLPSpec((8, 2))) == {"kind": "mlp", "hidden": [8, 2]}
    with pytest.raises(InputError, match="no field 'hidden'"):
        spec_from_dict({"kind": "qnn", "depth": 2, "hidden": [3]})
    with pytest.raises(InputError, match="no field 'depth'"):
        spec_from_dict({"kind": "mlp", "depth": 2})
    with pytest.raises(InputError, match="unknown model kind 'cnn'"):
        spec_from_dict({"kind": "cnn"})
    with pytest.raises(InputError, match="unknown QNN ansatz"):
        QNNSpec(2, "brickwork")
    for kind, cls in SPECS.items():  # every spec round-trips through its dict
        assert spec_from_dict(spec_to_dict(cls())) == cls()


def test_config_show_prints_only_fields_that_mean_something(capsys):
    with pytest.raises(SystemExit):
        cli.main(["config", "show", "quick"])
    tree = tomllib.loads(capsys.readouterr().out)
    for d, sec in tree.items():
        for part in ("poison", "unlearn", "landscape"):
            for name, m in sec[part]["models"].items():
                fields = set(m) - {"train", "unlearn"}
                assert fields == ({"kind", "depth", "ansatz"} if m["kind"] == "qnn"
                                  else {"kind", "hidden"}), (d, part, name)
    # the extra MLP widths are ordinary preset entries; the landscape study holds models like every experiment
    assert list(tree["xxz"]["poison"]["models"]) == ["qnn", "mlp", "mlp-32-8", "mlp-16-4", "mlp-8-2", "mlp-8-4"]
    assert tree["mnist"]["landscape"]["models"]["qnn"]["ansatz"] == "landscape"
    assert tree["mnist"]["unlearn"]["models"]["mlp"]["unlearn"]["batch_size"] == "full"


def test_a_models_table_replaces_the_presets_table(tmp_path):
    f = tmp_path / "qnn-only.toml"
    f.write_text('preset = "quick"\n[xxz.poison.models.qnn]\ndepth = 2\n'
                 '[xxz.poison.models.wide]\nkind = "mlp"\nhidden = [128]\n')
    poison = study.resolve(None, ("xxz",), f).sections["xxz"]["poison"]
    assert list(poison.models) == ["qnn", "wide"]  # the preset's MLPs are gone
    assert poison.models["qnn"].spec == QNNSpec(2) and poison.models["qnn"].train.epochs == 25  # rest from the preset
    assert poison.models["wide"].spec == MLPSpec((128,))
    assert poison.models["wide"].train == preset_configs("quick", "xxz")["poison"].models["mlp"].train
    f.write_text('preset = "quick"\n[xxz.poison.models.new]\nhidden = [4]\n')
    with pytest.raises(InputError, match="new model needs a kind"):
        study.resolve(None, ("xxz",), f)


def test_flags_and_toml_resolve_to_the_same_config(tmp_path):
    """CLI flags go through the same override path as a TOML file."""
    f = tmp_path / "same.toml"
    f.write_text('[mnist.poison]\nruns = 3\nalphas = [0.0, 0.5]\nprecision = "complex128"\n'
                 '[mnist.poison.models.qnn.train]\nepochs = 7\n[mnist.poison.models.mlp.train]\nepochs = 7\n')
    from_file = study.resolve("quick", ("mnist",), f).sections["mnist"]["poison"]
    from qunlearn import api

    from_flags = api.resolve("poison", preset="quick", dataset="mnist", runs=3, alphas=[0.0, 0.5],
                             precision="complex128", models=["qnn", "mlp"], epochs=7)["poison"]
    assert from_flags == from_file and from_flags.to_dict() == from_file.to_dict()


@pytest.mark.parametrize("bad,needle", [
    ({"precision": "complex256"}, "unknown precision"),
    ({"runs": 0}, "runs"),
    ({"seed": -1}, "seed"),
    ({"models": {}}, "no model"),
    ({"attacks": ("label-flip", "label-flip")}, "twice"),
])
def test_every_config_validates_itself_when_built(bad, needle):
    base = preset_configs("quick", "mnist")["poison"]
    with pytest.raises(InputError, match=needle):
        base.replace(**bad)


def test_full_batch_is_none_and_round_trips():
    t = TrainConfig(5, None, 0.1, 1)
    assert t.to_dict()["batch_size"] == "full" and TrainConfig.from_dict(t.to_dict()) == t
    assert t.batch(37) == 37 and TrainConfig(5, 8, 0.1, 1).batch(37) == 8 and TrainConfig(5, 80, 0.1, 1).batch(37) == 37


def test_configs_round_trip_through_their_dicts():
    cfgs = preset_configs("paper", "xxz")
    for name in ("poison", "unlearn", "landscape", "embed"):
        cfg = cfgs[name]
        assert type(cfg).from_dict(cfg.to_dict()) == cfg
    s = SweepConfig(cfgs["unlearn"], "gradient_ascent", (0.0, 0.5))
    assert SweepConfig.from_dict(s.to_dict()) == s and s.unlearn.methods == ("gradient_ascent",)


def test_an_unlearning_model_needs_its_unlearning_schedule():
    mc = ModelConfig(MLPSpec((4,)), TrainConfig(2, 8, 0.1, 1))
    with pytest.raises(InputError, match="no unlearning schedule"):
        UnlearnConfig(models={"mlp": mc})
    with pytest.raises(InputError, match="'mlp' has no unlearning schedule"):  # the audit unlearns too
        AuditConfig(models={"mlp": mc})
    assert PoisonConfig(models={"mlp": mc}).models["mlp"] == mc
