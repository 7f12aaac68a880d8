"""The public Python API (``import qunlearn as ql``): the calls the README shows, lazily imported, validated like
the CLI, and the same run directory as the CLI's."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import qunlearn as ql
from helpers import run_cli, snapshot

TINY = dict(preset="quick", dataset="mnist", models=["mlp"], alphas=[0, 0.3], runs=1, epochs=2)


@pytest.fixture(scope="module")
def nb(tmp_path_factory):
    """The README's call, once: ``ql.run("poison", ...)`` into a fresh directory."""
    out = tmp_path_factory.mktemp("api") / "nb"
    return ql.run("poison", out=str(out), **TINY), out


def test_import_is_lazy_and_cheap():
    code = ("import sys, time; t = time.perf_counter(); import qunlearn as ql; dt = time.perf_counter() - t; "
            "print(dt, [m for m in ('jax', 'matplotlib', 'pandas') if m in sys.modules])")
    seconds, heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.split(" ", 1)
    assert heavy.strip() == "[]" and float(seconds) < 1.0


def test_reading_a_config_imports_no_jax():
    code = ("import sys, qunlearn.study as st; s = st.resolve('quick', ('mnist', 'xxz')); "
            "print(sorted(m for m in ('jax', 'matplotlib') if m in sys.modules), s.sections['xxz']['parts'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("[] ") and "gauge" in out


def test_the_registries_list_their_names():
    assert ql.experiments() == ("poison", "gauge", "unlearn", "sweeps", "landscape", "embed", "noise", "capacity",
                                "audit")
    assert ql.datasets()[:2] == ("mnist", "xxz")
    assert {"qnn", "mlp"} <= set(ql.models())


def test_run_returns_the_tidy_tables(nb):
    run, out = nb
    assert isinstance(run, ql.Run) and run.finished
    res = run.results
    assert isinstance(res, pd.DataFrame) and set(res["model"]) == {"mlp"}
    assert sorted(res["alpha"].unique()) == [0.0, 0.3] and set(res["run"]) == {0}
    assert set(res["epoch"]) == {2}  # the final epoch of the 2 the call asked for
    assert set(run.history["epoch"]) == {0, 2}
    pd.testing.assert_frame_equal(res, pd.read_csv(out / "results.csv"))


def test_run_writes_what_the_cli_writes(nb, tmp_path):
    """The CLI is a layer over the API: the same flags give the same results.csv, byte for byte."""
    _, out = nb
    cli_out = tmp_path / "cli"
    assert run_cli(["poison", "--preset", "quick", "--model", "mlp", "--alphas", "0,0.3", "--runs", "1",
                    "--epochs", "2", "--out", str(cli_out)]) in (0, None)
    assert (cli_out / "results.csv").read_bytes() == (out / "results.csv").read_bytes()
    assert json.loads((cli_out / "config.json").read_text())["config"] == \
        json.loads((out / "config.json").read_text())["config"]


def test_figure_is_built_in_memory_and_changes_nothing(nb):
    import matplotlib
    from matplotlib.figure import Figure

    run, out = nb
    before, backend, rc = snapshot(out), matplotlib.get_backend(), dict(matplotlib.rcParams)
    fig = run.figure("figure2")
    assert isinstance(fig, Figure) and fig.axes
    assert snapshot(out) == before and matplotlib.get_backend() == backend and dict(matplotlib.rcParams) == rc
    with pytest.raises(ql.InputError, match="no figure 'figure9'.*figure2"):
        run.figure("figure9")


def test_load_reads_the_run_back_with_its_claims(nb):
    run, out = nb
    again = ql.load(out)
    assert isinstance(again, ql.Run) and again.parts[0][:2] == ("mnist", "poison")
    pd.testing.assert_frame_equal(again.results, run.results)
    claims = {c.id: c for c in again.claims}
    assert list(claims) == ["mnist/1", "mnist/2", "mnist/3", "mnist/4", "mnist/5"]
    # two alphas and no QNN: nothing can be tested, and each says why
    assert all(c.held is None and c.statement and c.evidence for c in claims.values())
    fig = again.figure("figure2")  # read back from the tables on disk
    assert fig.axes


def test_load_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(ql.InputError, match="holds no qunlearn run"):
        ql.load(tmp_path)


@pytest.mark.parametrize("fields,path,needle", [
    (dict(methods=["retrain", "finetune", "foo"]), "mnist.unlearn.methods[2]", "unknown unlearning method 'foo'"),
    (dict(alpha=1.5), "mnist.unlearn.alpha", "[0, 1)"),
    (dict(runs=0), "mnist.unlearn.runs", "runs"),
    (dict(bogus=1), "mnist.unlearn.bogus", "unknown config key"),
    (dict(models=["qnn", "cnn"]), "models[1]", "unknown model 'cnn'"),
    (dict(precision="float16"), "mnist.unlearn.precision", "unknown precision 'float16'"),
    (dict(models=["qnn"], lr=float("nan")), "mnist.unlearn.models.qnn.unlearn.lr", "learning rate"),
])
def test_a_bad_keyword_is_refused_with_its_field_path_before_anything_is_written(fields, path, needle, tmp_path):
    out = tmp_path / "u"
    with pytest.raises(ql.InputError) as e:
        ql.run("unlearn", preset="quick", out=out, **fields)
    assert e.value.path == path and needle in str(e.value) and "\n" not in str(e.value)
    assert "unknown config key" in needle or str(e.value).startswith(f"{path}: ")  # the line starts with its field
    assert not out.exists()


def test_an_empty_output_path_is_refused_not_taken_as_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ql.InputError, match="output path is empty") as e:
        ql.run("poison", out="", **TINY)
    assert e.value.path == "out" and not any(tmp_path.iterdir())


def test_unknown_experiment_and_preset_are_refused(tmp_path):
    with pytest.raises(ql.InputError, match="unknown experiment 'poisson'; use one of poison"):
        ql.run("poisson", out=tmp_path / "x")
    with pytest.raises(ql.InputError, match="unknown preset 'fast'"):
        ql.run("poison", preset="fast", out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_config_dict_toml_file_and_keywords_are_one_path(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[mnist.unlearn]\nmethods = ["finetune", "retrain"]\nalpha = 0.2\n')
    from_file = ql.resolve("unlearn", preset="quick", config=f)["unlearn"]
    from_dict = ql.resolve("unlearn", preset="quick", config={"mnist": {"unlearn": {"methods": ["finetune", "retrain"],
                                                                                   "alpha": 0.2}}})["unlearn"]
    from_kw = ql.resolve("unlearn", preset="quick", methods=["finetune", "retrain"], alpha=0.2)["unlearn"]
    assert from_file == from_dict == from_kw and from_kw.methods == ("finetune", "retrain")


def test_epochs_mean_the_unlearning_epochs_for_unlearn():
    cfg = ql.resolve("unlearn", preset="quick", epochs=3, train_epochs=4, lr=0.5, model="mlp")["unlearn"]
    (mc,) = cfg.models.values()
    assert list(cfg.models) == ["mlp"] and (mc.unlearn.epochs, mc.unlearn.lr, mc.train.epochs) == (3, 0.5, 4)


def test_aliases_and_their_clash():
    cfg = ql.resolve("poison", preset="quick", attack="label-flip", model="mlp")["poison"]
    assert cfg.attacks == ("label-flip",) and list(cfg.models) == ["mlp"]
    with pytest.raises(ql.InputError, match="not both"):
        ql.resolve("poison", preset="quick", attack="label-flip", attacks=["label-flip"])


class _Logistic:
    """A user's own model: any object with init(key) and apply(params, x)."""

    name = "logistic"

    def init(self, key):
        import jax

        return 0.1 * jax.random.normal(key, (16,))

    def apply(self, params, x):
        import jax
        import jax.numpy as jnp

        return jax.nn.sigmoid(5 * jnp.real(x) @ params)


def _circuit(c, params):
    for layer in range(params.shape[0]):
        for q in range(4):
            c.ry(q, theta=params[layer, q])
        for q in range(3):
            c.cnot(q, q + 1)


@pytest.fixture(scope="module")
def toy16():
    r = np.random.default_rng(0)
    x = r.normal(size=(60, 16))
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    return ql.from_arrays(x[:40], y[:40], x[40:], y[40:], name="toy16")


def test_own_data_and_own_models_run_through_the_sweep_and_the_unlearning(toy16, tmp_path):
    from qunlearn.models import from_circuit

    circuit = from_circuit(_circuit, (2, 4), 4, name="ry-cnot")
    run = ql.run("poison", preset="quick", dataset=toy16, out=tmp_path / "p", quiet=True, attacks=["label-flip"],
                 models={"logistic": _Logistic(), "circuit": circuit, "mlp": "mlp"}, alphas=[0, 0.3], runs=1,
                 epochs=2)
    assert set(run.results["model"]) == {"logistic", "circuit", "mlp"} and run.results["dataset"].eq("toy16").all()
    record = json.loads((tmp_path / "p" / "config.json").read_text())["config"]
    assert record["models"]["logistic"]["kind"] == "user" and record["dataset"] == "toy16"
    u = ql.run("unlearn", preset="quick", dataset=toy16, out=tmp_path / "u", quiet=True, methods=["finetune"],
               models={"circuit": circuit}, runs=1, epochs=1, train_epochs=2)
    assert set(u.results["method"]) == {"finetune"} and set(u.results["model"]) == {"circuit"}
    assert "toy16" not in ql.datasets()  # registered for the runs only


def test_an_own_circuit_in_the_noise_part_is_refused_in_one_line(toy16, tmp_path):
    from qunlearn.models import from_circuit

    with pytest.raises(ql.InputError, match="noise part builds device noise into qunlearn's own QNN"):
        ql.run("noise", preset="quick", dataset=toy16, out=tmp_path / "n",
               models={"c": from_circuit(_circuit, (1, 4), 4)})
    assert not (tmp_path / "n").exists()


def test_an_npz_file_is_a_dataset_from_the_cli(tmp_path):
    r = np.random.default_rng(1)
    x = r.normal(size=(40, 5))
    y = (x[:, 0] > 0).astype(int)
    f = tmp_path / "mine.npz"
    np.savez(f, x_train=x[:30], y_train=y[:30], x_val=x[30:], y_val=y[30:])
    out = tmp_path / "run"
    assert run_cli(["poison", "--dataset", str(f), "--preset", "quick", "--model", "mlp", "--alphas", "0",
                    "--runs", "1", "--epochs", "1", "--attack", "label-flip", "--out", str(out)]) in (0, None)
    res = pd.read_csv(out / "results.csv")
    assert set(res["dataset"]) == {str(f)} and set(res["model"]) == {"mlp"}


def test_a_refused_command_line_imports_no_jax(tmp_path):
    """Bad input is refused before the numerics load: the one line comes at once."""
    code = ("import sys\nfrom qunlearn import cli\ntry:\n    cli.main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print(e.code, 'jax' in sys.modules)")
    for args in (["poison", "--runs", "0"], ["unlearn", "--methods", "foo"], ["reproduce", "mnist", "--parts", "x"]):
        out = subprocess.run([sys.executable, "-c", code, *args, "--out", str(tmp_path / "x")], capture_output=True,
                             text=True).stdout.split()
        assert out == ["2", "False"], (args, out)
