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


def step(spec, runs):
    """The fixed seconds of one step as the model says: shared, per run, and the MLP's weights per run."""
    return progress.STEP_SECONDS + runs * (progress.STEP_RUN_SECONDS + 1.2e-9 * spec.n_params(DS))


def test_a_training_step_costs_a_fixed_time_beyond_its_arithmetic():
    # the same samples and passes cut into 4x the steps: the estimate grows by exactly the steps' fixed cost
    spec = MLPSpec((8,))
    big = progress.train_seconds(model(spec, epochs=10, batch_size=256, eval_every=10), DS, 2, "complex64")
    small = progress.train_seconds(model(spec, epochs=10, batch_size=64, eval_every=10), DS, 2, "complex64")
    steps_big, steps_small = 10 * 2, 10 * 8  # ceil(500 / 256), ceil(500 / 64) per epoch
    assert small - big == pytest.approx((steps_small - steps_big) * step(spec, 2))
    # full batch is one step per epoch
    full = progress.train_seconds(model(spec, epochs=10, batch_size="full", eval_every=10), DS, 2, "complex64")
    assert big - full == pytest.approx((steps_big - 10) * step(spec, 2))


def test_the_shared_step_cost_is_paid_once_for_vmapped_runs_and_the_rest_per_run():
    mc = model(MLPSpec((8,)), epochs=10, batch_size=256, eval_every=10)
    one, three = (progress.train_seconds(mc, DS, r, "complex64") for r in (1, 3))
    shared = 10 * 2 * progress.STEP_SECONDS
    assert three - shared == pytest.approx(3 * (one - shared))


def test_an_mlp_step_costs_more_the_more_weights_it_updates_and_a_qnn_step_does_not():
    narrow, wide = MLPSpec((8,)), MLPSpec((64,))
    assert wide.step_run_seconds(DS, "complex64") / narrow.step_run_seconds(DS, "complex64") == pytest.approx(
        wide.n_params(DS) / narrow.n_params(DS))
    assert wide.step_run_seconds(DS, "complex128") == pytest.approx(2 * wide.step_run_seconds(DS, "complex64"))
    assert progress.step_seconds(QNNSpec(depth=3), DS, "complex64", 4) == pytest.approx(
        progress.STEP_SECONDS + 4 * progress.STEP_RUN_SECONDS)


def test_a_method_with_a_forget_term_passes_over_the_forget_set_every_step():
    mlp = model(MLPSpec((8,)), epochs=5, batch_size=64, eval_every=5)
    n_forget = 500 - int(500 * 0.7)
    steps = 5 * 6  # ceil(350 / 64) minibatches of the retain set per epoch
    per_pass = MLPSpec((8,)).pass_seconds(DS, "complex64")
    finetune = progress.unlearn_seconds(mlp, DS, 2, "complex64", 0.3, method="finetune")
    for name in ("scrub", "gradient_ascent", "neggrad_plus"):
        got = progress.unlearn_seconds(mlp, DS, 2, "complex64", 0.3, method=name)
        assert got - finetune == pytest.approx(2 * steps * n_forget * 3 * per_pass)
    # random labels: minibatches over all 500 samples instead of the 350 retained
    union = progress.unlearn_seconds(mlp, DS, 2, "complex64", 0.3, method="random_labels")
    assert union == pytest.approx(progress.schedule_seconds(mlp, mlp.unlearn, DS, 2, "complex64", 500))


def test_a_registered_method_declares_its_step_data_and_a_bad_kind_is_refused():
    from qunlearn import unlearn, vocab

    with pytest.raises(ValueError, match="step_data must be one of retain, forget, union"):
        unlearn.method("estimate_probe_bad", step_data="everything")
    assert "estimate_probe_bad" not in unlearn.METHODS
    try:
        unlearn.method("estimate_probe", step_data="forget")(lambda model, teacher, w: None)
        assert vocab.STEP_DATA["estimate_probe"] == "forget"
    finally:  # the registry is process-wide: leave it as it was
        unlearn.METHODS.pop("estimate_probe", None)
        vocab.DEFAULT_WEIGHTS.pop("estimate_probe", None)
        vocab.STEP_DATA.pop("estimate_probe", None)


def test_the_estimates_union_is_the_union_each_methods_plan_trains_on():
    # vocab.STEP_DATA (JAX-free, for estimates) and Plan.union (what training runs) state one fact twice
    from qunlearn import unlearn, vocab

    for name in unlearn.METHODS:  # building a plan only defines its closures: no model needed
        assert unlearn.plan(name, None, None).union == (vocab.STEP_DATA.get(name) == "union"), name


def test_a_weight_sweep_counts_its_two_evaluations_not_the_unlearning_schedules():
    from qunlearn.parts.sweeps import EXPERIMENT as sweeps

    mlp = model(MLPSpec((8,)), epochs=5, batch_size=64, eval_every=1)
    cfg = SimpleNamespace(method="gradient_ascent", grid=(0.0, 0.5), unlearn=SimpleNamespace(
        runs=2, precision="complex64", alpha=0.3, models={"mlp": mlp}))
    part = SimpleNamespace(cfg=cfg, options={"models_from": "elsewhere"})
    two_evals = mlp.unlearn.replace(eval_every=5)
    assert sweeps.estimate_seconds(part, DS) == pytest.approx(progress.unlearn_seconds(
        mlp, DS, 2, "complex64", 0.3, settings=2, method="gradient_ascent", sched=two_evals))
    assert sweeps.estimate_seconds(part, DS) < progress.unlearn_seconds(
        mlp, DS, 2, "complex64", 0.3, settings=2, method="gradient_ascent")


def test_every_unlearning_method_is_a_compiled_program_of_its_own():
    mlp = model(MLPSpec((8,)), epochs=5, batch_size=64, eval_every=5)

    def cfg(methods):
        return SimpleNamespace(methods=methods, alpha=0.3, runs=2, precision="complex64", weights={},
                               models={"mlp": mlp})

    two = unlearn_work(cfg(("retrain", "finetune")), DS)
    three = unlearn_work(cfg(("retrain", "finetune", "scrub")), DS)
    per_method = progress.unlearn_seconds(mlp, DS, 2, "complex64", 0.3, method="scrub")
    assert three - two == pytest.approx(per_method + MLPSpec.overhead_seconds)


def test_the_landscape_ansatz_costs_its_layer_cost_in_paper_layers():
    paper, landscape = QNNSpec(depth=5), QNNSpec(depth=5, ansatz="landscape")
    from qunlearn.models.qnn import LandscapeQNN, QNN

    assert getattr(QNN, "layer_cost", 1.0) == 1.0
    assert landscape.pass_seconds(DS, "complex64") == pytest.approx(
        LandscapeQNN.layer_cost * paper.pass_seconds(DS, "complex64"))
    assert paper.pass_seconds(DS, "complex128") == pytest.approx(2 * paper.pass_seconds(DS, "complex64"))
