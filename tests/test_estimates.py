"""The plan's time estimate (qunlearn.progress): what it counts. Its accuracy against measured runs lives in
benchmarks/README.md and the README, never in a timed test."""

from types import SimpleNamespace

import numpy as np
import pytest

from qunlearn import progress
from qunlearn.models.specs import MLPSpec, QNNSpec
from qunlearn.parts.unlearn import unlearn_work
from qunlearn.schedule import TrainConfig

DS = SimpleNamespace(n_qubits=10, n_features=1024, is_complex=False, y_train=np.zeros(500), y_val=np.zeros(500))


def model(spec, **train):
    return SimpleNamespace(spec=spec, train=TrainConfig(**train), unlearn=TrainConfig(**train))


def test_a_training_step_costs_a_fixed_time_beyond_its_arithmetic():
    # the same samples and passes cut into 4x the steps: the estimate grows by exactly the steps' fixed cost
    big = progress.train_seconds(model(MLPSpec((8,)), epochs=10, batch_size=256, eval_every=10), DS, 2, "complex64")
    small = progress.train_seconds(model(MLPSpec((8,)), epochs=10, batch_size=64, eval_every=10), DS, 2, "complex64")
    steps_big, steps_small = 10 * 2, 10 * 8  # ceil(500 / 256), ceil(500 / 64) per epoch
    assert small - big == pytest.approx((steps_small - steps_big) * progress.STEP_SECONDS)
    # full batch is one step per epoch
    full = progress.train_seconds(model(MLPSpec((8,)), epochs=10, batch_size="full", eval_every=10), DS, 2,
                                  "complex64")
    assert big - full == pytest.approx((steps_big - 10) * progress.STEP_SECONDS)


def test_the_step_cost_is_shared_by_vmapped_runs_and_the_arithmetic_is_not():
    mc = model(MLPSpec((8,)), epochs=10, batch_size=256, eval_every=10)
    one, three = (progress.train_seconds(mc, DS, r, "complex64") for r in (1, 3))
    fixed = 10 * 2 * progress.STEP_SECONDS
    assert three - fixed == pytest.approx(3 * (one - fixed))


def test_every_unlearning_method_is_a_compiled_program_of_its_own():
    mlp = model(MLPSpec((8,)), epochs=5, batch_size=64, eval_every=5)

    def cfg(methods):
        return SimpleNamespace(methods=methods, alpha=0.3, runs=2, precision="complex64", weights={},
                               models={"mlp": mlp})

    two = unlearn_work(cfg(("retrain", "finetune")), DS)
    three = unlearn_work(cfg(("retrain", "finetune", "scrub")), DS)
    per_method = progress.unlearn_seconds(mlp, DS, 2, "complex64", 0.3)
    assert three - two == pytest.approx(per_method + MLPSpec.overhead_seconds)


def test_the_landscape_ansatz_costs_its_layer_cost_in_paper_layers():
    paper, landscape = QNNSpec(depth=5), QNNSpec(depth=5, ansatz="landscape")
    from qunlearn.models.qnn import LandscapeQNN, QNN

    assert getattr(QNN, "layer_cost", 1.0) == 1.0
    assert landscape.pass_seconds(DS, "complex64") == pytest.approx(
        LandscapeQNN.layer_cost * paper.pass_seconds(DS, "complex64"))
    assert paper.pass_seconds(DS, "complex128") == pytest.approx(2 * paper.pass_seconds(DS, "complex64"))
