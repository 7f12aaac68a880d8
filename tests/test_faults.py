"""Faults and the identity of a run's pieces: distinct cells never share a file, ...

Each test here names a defect that today's code had; see the issue on runs that survive faults.
"""

import pytest

from qunlearn.config import LandscapeConfig, PoisonConfig, SweepConfig, UnlearnConfig, preset_configs
from qunlearn.errors import InputError

QUICK = preset_configs("quick", "mnist")


def _models(*names):
    mlp = QUICK["poison"].models["mlp"]
    return {n: mlp for n in names}


# ------------------------------------------------------------------ 1. a cell's identity is exact


@pytest.mark.parametrize("a,b", [("a/b", "a-b"), ("ä", "ö"), ("x y", "x-y"), ("m_1", "m-1")])
def test_model_names_that_would_share_a_cell_file_are_refused_naming_both(a, b):
    with pytest.raises(InputError) as e:
        QUICK["poison"].replace(models=_models(a, b))
    msg = str(e.value)
    assert repr(a) in msg and repr(b) in msg and "cell file" in msg and "\n" not in msg
    assert e.value.path == "models"


def test_model_names_that_stay_apart_are_kept():
    cfg = QUICK["poison"].replace(models=_models("qnn-2", "qnn.2", "QNN2"))
    assert list(cfg.models) == ["qnn-2", "qnn.2", "QNN2"]


def test_an_overlong_model_name_is_refused_before_any_work():
    with pytest.raises(InputError, match=r"model name .* is 300 characters.*at most 100") as e:
        QUICK["poison"].replace(models=_models("m" * 300))
    assert e.value.path == "models"


@pytest.mark.parametrize("make", [
    lambda a: QUICK["poison"].replace(alphas=a),
    lambda a: QUICK["landscape"].replace(alphas=a),
])
def test_alphas_equal_at_the_cell_precision_are_refused_naming_both(make):
    with pytest.raises(InputError) as e:
        make((0.1, 0.3, 0.1000001))
    msg = str(e.value)
    assert "0.1" in msg and "0.1000001" in msg and "1e-06" in msg, msg
    assert e.value.path.endswith("alphas")


def test_alphas_apart_at_the_cell_precision_are_kept():
    assert QUICK["poison"].replace(alphas=(0.1, 0.100001)).alphas == (0.1, 0.100001)


def test_sweep_weights_equal_at_the_cell_precision_are_refused():
    sweep = SweepConfig(unlearn=QUICK["unlearn"], method="scrub")
    with pytest.raises(InputError, match=r"0\.1 and 0\.10001 .*0\.0001") as e:
        sweep.replace(grid=(0.1, 0.5, 0.10001))
    assert e.value.path == "grid"


def test_the_configs_keep_their_types():
    assert isinstance(QUICK["poison"], PoisonConfig) and isinstance(QUICK["unlearn"], UnlearnConfig)
    assert isinstance(QUICK["landscape"], LandscapeConfig)
