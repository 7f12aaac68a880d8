"""The CLI end to end at tiny sizes: outputs, resume, and refusal of bad input."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from helpers import run_cli, snapshot

TINY = ["poison", "--dataset", "mnist", "--model", "qnn,mlp", "--attack", "label-flip",
        "--alphas", "0,0.4", "--runs", "2", "--preset", "quick", "--epochs", "2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert run_cli(TINY + ["--out", str(out)]) == 0
    return out


def test_sweep_writes_tidy_tables_and_figure(tiny_run):
    res = pd.read_csv(tiny_run / "results.csv")
    for col in ("dataset", "model", "attack", "alpha", "run", "metric", "value"):
        assert col in res.columns
    assert set(res["model"]) == {"qnn", "mlp"}
    assert sorted(res["alpha"].unique()) == [0.0, 0.4]
    assert {"train_acc", "val_acc"} <= set(res["metric"])
    # final epoch only: one value per (model, attack, alpha, run, metric)
    assert not res.duplicated(["model", "attack", "alpha", "run", "metric"]).any()
    assert set(res["epoch"]) == {2}
    acc = res[res["metric"].isin(["train_acc", "val_acc"])]["value"]
    assert acc.between(0, 1).all()
    hist = pd.read_csv(tiny_run / "history.csv")
    assert sorted(hist["epoch"].unique()) == [0, 2]
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["config"]["runs"] == 2 and cfg["config"]["alphas"] == [0.0, 0.4]
    assert "jax" in cfg["versions"] and "tensorcircuit-ng" in cfg["versions"]
    for suffix in (".png", ".pdf"):
        assert (tiny_run / f"figure2{suffix}").stat().st_size > 1000
    assert len(list((tiny_run / "cells").glob("*.csv"))) == 4


def test_label_flip_poisons_training_labels(tiny_run):
    """At alpha 0.4 with 2 epochs the models cannot fit the flipped labels and the clean ones at once."""
    res = pd.read_csv(tiny_run / "results.csv")
    fit = res[(res["metric"] == "poison_fit") & (res["alpha"] == 0.0)]["value"]
    assert fit.isna().all()  # no poisoned samples at alpha 0
    fit = res[(res["metric"] == "poison_fit") & (res["alpha"] == 0.4)]["value"]
    assert fit.notna().all()


def test_rerun_resumes_without_recomputing(tiny_run, capsys):
    before = snapshot(tiny_run / "cells")
    results_before = pd.read_csv(tiny_run / "results.csv")
    assert run_cli(TINY + ["--out", str(tiny_run)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("cached") == 4
    from qunlearn.experiments import poisoning
    from qunlearn.progress import cell_label

    for m in ("qnn", "mlp"):  # one progress line per cell, labelled by cell_label
        for a in (0.0, 0.4):
            assert cell_label(poisoning.Cell(m, "label-flip", a)) in captured.err, captured.err
    assert snapshot(tiny_run / "cells") == before
    pd.testing.assert_frame_equal(pd.read_csv(tiny_run / "results.csv"), results_before)


def test_interrupted_run_resumes_to_identical_results(tiny_run, tmp_path):
    """Delete one finished cell (as if the run stopped before it) and rerun: same table."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    victim = sorted((copy / "cells").glob("qnn*0.400000.csv"))[0]
    victim.unlink()
    (copy / "results.csv").unlink()
    assert run_cli(TINY + ["--out", str(copy)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(copy / "results.csv"), pd.read_csv(tiny_run / "results.csv"))


def test_changed_config_is_refused_and_nothing_touched(tiny_run, capsys):
    before = snapshot(tiny_run)
    args = [a if a != "0,0.4" else "0,0.3" for a in TINY] + ["--out", str(tiny_run)]
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert "different config" in err and "alphas" in err and "--fresh" in err
    assert len(err.splitlines()) == 1
    assert snapshot(tiny_run) == before


BAD = [
    (["--alphas", "1.0"], "[0, 1)"),
    (["--alphas", "-0.1"], "[0, 1)"),
    (["--alphas", "0,abc"], "alpha"),
    (["--alphas", "nan"], "[0, 1)"),
    (["--alphas", ""], "empty"),
    (["--alphas", "0.5:0.1:0.1"], "empty"),
    (["--alphas", "0:0.9:0"], "step"),
    (["--dataset", "cifar"], "unknown dataset"),
    (["--model", "cnn"], "unknown model"),
    (["--attack", "backdoor"], "unknown attack"),
    (["--preset", "huge"], "unknown preset"),
    (["--epochs", "0"], "epochs"),
    (["--epochs", "-3"], "epochs"),
    (["--batch-size", "0"], "batch size"),
    (["--runs", "0"], "runs"),
    (["--lr", "inf"], "learning rate"),
    (["--lr", "nan"], "learning rate"),
    (["--lr", "-0.1"], "learning rate"),
    (["--precision", "float16"], "precision"),
    (["--runs", "two"], "--runs"),
    (["--no-such-flag"], "no-such-flag"),
    (["--xxz-phase", "random"], "--xxz-phase applies"),
    (["--dataset", "xxz", "--xxz-phase", "complex"], "unknown XXZ phase"),
]


@pytest.mark.parametrize("extra,needle", BAD, ids=[" ".join(b[0]) or "empty" for b in BAD])
def test_bad_input_is_refused_with_one_line(extra, needle, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("existing result")
    before = snapshot(out)
    args = ["poison", "--out", str(out), "--preset", "quick"] + extra
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("qunlearn: error:")
    assert needle in err
    assert "Traceback" not in err
    assert snapshot(out) == before


def test_output_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert run_cli(["poison", "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert f.read_text() == "x"


def test_missing_mnist_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["poison", "--out", str(out), "--mnist-path", str(tmp_path / "nope.npz")]) == 2
    err = capsys.readouterr().err
    assert "nope.npz" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_corrupt_mnist_file(tmp_path, capsys):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"this is not a zip archive")
    out = tmp_path / "run"
    assert run_cli(["poison", "--out", str(out), "--mnist-path", str(bad)]) == 2
    assert "mnist.npz" in capsys.readouterr().err
    assert not out.exists()


def test_data_xxz_summary(capsys):
    assert run_cli(["data", "xxz", "--n-spins", "6", "--n-per-class", "4"]) == 0
    text = capsys.readouterr().out
    assert "6 spins" in text and "smallest gap" in text


def test_data_xxz_refuses_odd_or_huge_chains(capsys):
    assert run_cli(["data", "xxz", "--n-spins", "30"]) == 2
    assert "qunlearn: error:" in capsys.readouterr().err


def test_console_script_exit_status():
    """The installed ``qunlearn`` entry point (a real process) exits 2 on bad input:
    exactly one line on stderr, ``qunlearn: error: ...``, no traceback."""
    from pathlib import Path
    import shutil

    script = Path(sys.executable).parent / "qunlearn"
    if not script.is_file():
        found = shutil.which("qunlearn")
        script = Path(found) if found else None
    if script is None:
        pytest.fail("the 'qunlearn' console script is not installed next to "
                    f"{sys.executable} nor on PATH; run `pip install -e .`")
    proc = subprocess.run([str(script), "poison", "--alphas", "1.2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("qunlearn: error:") and "Traceback" not in proc.stderr


def test_single_run_summary(tmp_path, capsys):
    """With one run the standard deviation is undefined; the summary still prints."""
    out = tmp_path / "one"
    args = ["poison", "--model", "mlp", "--attack", "label-flip", "--alphas", "0.2", "--runs", "1",
            "--preset", "quick", "--epochs", "1", "--out", str(out)]
    assert run_cli(args) == 0
    assert "0.20" in capsys.readouterr().out


@pytest.mark.parametrize("command, section, field, in_file, flag, from_flag", [
    (["unlearn"], "unlearn", "methods", ("finetune", "retrain"), ["--methods", "scrub"], ("scrub",)),
    (["sweep", "gradient_ascent"], "sweeps", "grid", (0.0, 0.2), ["--grid", "0.1,0.3"], (0.1, 0.3)),
])
def test_config_file_field_is_kept_unless_its_flag_is_given(command, section, field, in_file, flag, from_flag,
                                                            tmp_path, monkeypatch):
    """A config file's ``unlearn.methods`` or ``sweeps.grid`` is the run's; only a flag that is given overrides it."""
    seen = {}

    def capture(name, cfg, *args, **kw):
        seen[field] = tuple(getattr(cfg, field))
        return False, []

    from qunlearn import api, console

    monkeypatch.setattr(console, "run_single", capture)
    monkeypatch.setattr(api, "_loaded", lambda out, lost, results: api.Run(out))
    toml = tmp_path / "c.toml"
    value = ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in in_file)
    toml.write_text(f'preset = "quick"\n[mnist.{section}]\n{field} = [{value}]\n')
    args = [*command, "--config", str(toml), "--out", str(tmp_path / "out")]
    assert run_cli(args) in (0, None)
    assert seen[field] == in_file
    assert run_cli([*args, *flag]) in (0, None)
    assert seen[field] == from_flag
