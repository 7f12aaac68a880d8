"""``qunlearn reproduce``, ``report`` and ``config show``: presets, TOML overrides, a real
signal mid-run and resume, determinism, and a table of bad inputs refused through the CLI."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from helpers import run_cli, snapshot

from qunlearn import study
from qunlearn.errors import InputError

TINY = """
preset = "quick"
[mnist]
parts = ["poison", "unlearn", "sweeps", "landscape", "embed"]
[mnist.poison]
alphas = [0.0, 0.3, 0.6]
runs = 1
data_options = {n_per_class = 30}
[mnist.poison.models.qnn]
depth = 2
[mnist.poison.models.qnn.train]
epochs = 2
[mnist.poison.models.mlp.train]
epochs = 2
[mnist.poison.models.mlp-16-4.train]
epochs = 2
[mnist.unlearn]
runs = 1
methods = ["retrain", "finetune", "scrub", "gradient_ascent"]
data_options = {n_per_class = 30}
[mnist.unlearn.models.qnn]
depth = 2
[mnist.unlearn.models.qnn.train]
epochs = 2
[mnist.unlearn.models.qnn.unlearn]
epochs = 2
[mnist.unlearn.models.mlp.train]
epochs = 2
[mnist.unlearn.models.mlp.unlearn]
epochs = 2
[mnist.sweeps]
grid = [0.0, 0.5]
[mnist.landscape]
alphas = [0.3]
seeds = [0, 1]
n_hessian = 15
data_options = {n_per_class = 30}
[mnist.landscape.models.qnn]
depth = 1
[mnist.landscape.models.qnn.train]
epochs = 2
eval_every = 2
[mnist.landscape.models.mlp]
hidden = [3]
[mnist.landscape.models.mlp.train]
epochs = 2
eval_every = 2
[mnist.embed]
perplexity = 5.0
"""

TABLES = ["poison/results.csv", "poison/history.csv", "unlearn/results.csv", "unlearn/history.csv",
          "sweep-scrub/results.csv", "sweep-gradient_ascent/results.csv", "landscape/results.csv",
          "embed/embedding.csv"]


def cell_stamps(path: Path) -> dict:
    """(inode, mtime) of every finished cell file: an atomic rewrite changes the inode."""
    return {str(p.relative_to(path)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("cells/*")) if p.suffix in (".csv", ".npz")}


def qunlearn_proc(args, **kw):
    env = dict(os.environ, COLUMNS="120")
    return subprocess.Popen([sys.executable, "-m", "qunlearn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(tiny_toml, tmp_path_factory):
    """An uninterrupted run in a real process."""
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = qunlearn_proc(["reproduce", "mnist", "--config", str(tiny_toml), "--out", str(out)])
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    (out.parent / "stderr.log").write_text(stderr)
    return out, stdout


# ------------------------------------------------------------------ presets and config files


def test_presets_hold_the_paper_settings():
    mnist = study.resolve("paper", ("mnist",)).sections["mnist"]
    assert mnist["poison"].models["qnn"].train.epochs == 100 and mnist["poison"].runs == 5
    assert mnist["poison"].models["mlp-16-4"].spec.hidden == (16, 4)  # extra MNIST width (PROTOCOL.md, "Models")
    assert mnist["parts"] == ["poison", "unlearn", "sweeps", "landscape", "embed"]
    assert set(mnist["sweeps"]) == {"scrub", "gradient_ascent"}
    assert all(len(s.grid) == 10 for s in mnist["sweeps"].values()) and mnist["unlearn"].alpha == 0.3
    xxz = study.resolve("paper-xxz", ("xxz",)).sections["xxz"]
    widths = {m.spec.hidden for m in xxz["poison"].models.values() if m.spec.kind == "mlp"}
    assert widths == {(64, 16), (32, 8), (16, 4), (8, 2), (8, 4)}
    assert xxz["poison"].models["mlp"].train.epochs == 400 and "landscape" not in xxz["parts"]
    quick = study.resolve("quick", ("mnist", "xxz"))
    assert quick.datasets == ("mnist", "xxz") and quick.sections["mnist"]["poison"].runs == 2


def test_config_show_prints_toml_that_round_trips(capsys, tmp_path):
    assert run_cli(["config", "show", "quick"]) == 0
    text = capsys.readouterr().out
    parsed = tomllib.loads(text)
    assert parsed == study.resolve("quick", ("mnist", "xxz")).to_dict()
    f = tmp_path / "back.toml"  # the printed config, fed back, resolves to itself
    f.write_text(text)
    assert study.resolve("quick", ("mnist", "xxz"), f).to_dict() == parsed


def test_mnist_path_reaches_every_mnist_part(tmp_path):
    s = study.resolve("quick", ("mnist", "xxz"), mnist_path=tmp_path / "mnist.npz")
    for part in ("poison", "unlearn", "landscape", "embed"):
        assert s.sections["mnist"][part].data_options == {"mnist_path": str(tmp_path / "mnist.npz")}
        assert s.sections["xxz"][part].data_options == {"phase": "random"}  # the presets' gauge, untouched


def test_xxz_phase_reaches_every_xxz_part_and_merges_with_file_options(tmp_path):
    f = tmp_path / "opts.toml"
    f.write_text("[xxz.poison]\ndata_options = {n_spins = 4}\n")
    s = study.resolve("quick", ("mnist", "xxz"), f, xxz_phase="fixed")
    assert s.sections["xxz"]["poison"].data_options == {"phase": "fixed", "n_spins": 4}  # merged, not replaced
    for part in ("unlearn", "landscape"):
        assert s.sections["xxz"][part].data_options == {"phase": "fixed"}
    assert s.sections["mnist"]["poison"].data_options == {}


def test_config_file_overrides_fields_and_adds_models(tmp_path, capsys):
    from qunlearn.config import preset_configs

    f = tmp_path / "c.toml"
    f.write_text('preset = "quick"\n[mnist.poison]\nruns = 3\n[mnist.poison.models.mlp-8-2]\nkind = "mlp"\n'
                 'hidden = [8, 2]\n[mnist.poison.models.qnn.train]\nlr = 0.02\n[mnist.poison.models.mlp]\n')
    assert run_cli(["config", "show", str(f)]) == 0
    d = tomllib.loads(capsys.readouterr().out)
    assert list(d) == ["mnist"]
    poison = d["mnist"]["poison"]
    assert poison["runs"] == 3 and poison["models"]["qnn"]["train"]["lr"] == 0.02
    new = poison["models"]["mlp-8-2"]
    assert new["kind"] == "mlp" and new["hidden"] == [8, 2] and new["train"] == poison["models"]["mlp"]["train"]
    assert poison["models"]["qnn"]["train"]["epochs"] == 20  # untouched fields keep the preset's values
    preset = preset_configs("quick", "mnist")["poison"].to_dict()["models"]
    assert poison["models"]["mlp"] == preset["mlp"]  # listed without fields: the preset's model
    assert new["train"] == preset["mlp"]["train"]
    assert {k: v for k, v in poison["models"]["qnn"].items() if k != "train"} == \
        {k: v for k, v in preset["qnn"].items() if k != "train"}
    assert "hidden" not in poison["models"]["qnn"]  # a QNN entry holds kind and the QNN's fields only
    assert set(poison["models"]["qnn"]) == {"kind", "depth", "ansatz", "train"}


def test_a_models_table_removes_the_models_it_does_not_list(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text('preset = "quick"\n[mnist.poison.models.qnn]\ndepth = 3\n')
    s = study.resolve(None, ("mnist",), f).sections["mnist"]
    assert list(s["poison"].models) == ["qnn"]  # mlp and mlp-16-4 are gone
    assert s["poison"].models["qnn"].spec.depth == 3
    assert list(s["unlearn"].models) == ["qnn", "mlp"]  # other parts keep the preset's table
    assert run_cli(["config", "show", str(f)]) == 0
    assert list(tomllib.loads(capsys.readouterr().out)["mnist"]["poison"]["models"]) == ["qnn"]
    f.write_text('preset = "quick"\n[mnist.poison.models.mlp-4]\nhidden = [4]\n')
    with pytest.raises(InputError, match="needs a kind"):
        study.resolve(None, ("mnist",), f)


# ------------------------------------------------------------------ the run, a real signal, resume


def test_reference_run_writes_every_part_and_the_report(reference):
    out, stdout = reference
    for t in TABLES:
        assert (out / "mnist" / t).exists(), t
    for fig in ("poison/figure2.png", "poison/widths.png", "unlearn/figure3.png", "sweep-scrub/sweep-scrub.png",
                "embed/embedding.png"):
        assert (out / "mnist" / fig).stat().st_size > 1000, fig
    record = json.loads((out / "config.json").read_text())
    assert record["experiment"] == "reproduce" and "jax" in record["versions"]
    assert record["config"]["mnist"]["poison"]["runs"] == 1
    md = (out / "report.md").read_text()
    assert "## Claims" in md and "rule:" in md and "numbers:" in md
    for n in (1, 2, 3, 4):
        assert f"**Claim {n} (MNIST):" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5  # figures embedded
    assert "claim 2 (mnist):" in stdout
    # sweeps reuse the unlearning part's trained models instead of training them again
    a = out / "mnist" / "unlearn" / "cells" / "qnn__trained.npz"
    b = out / "mnist" / "sweep-scrub" / "cells" / "qnn__trained.npz"
    assert a.read_bytes() == b.read_bytes()


def test_the_log_gives_every_parts_wall_time_beside_the_plans_estimate(reference):
    out, _ = reference
    log = (out.parent / "stderr.log").read_text()
    parts = ["mnist/poison", "mnist/unlearn", "mnist/sweep-scrub", "mnist/sweep-gradient_ascent", "mnist/landscape",
             "mnist/embed"]
    for part in parts:
        assert re.search(rf"{part}: \d+ cells?, about \d+(\.\d)? (s|min|h)\b", log), part
        assert re.search(rf"{part}: finished in \d+ (s|min \d\d s)\b \(the plan said about \d+", log), part
    assert re.search(r"reproduce mnist \(quick preset[^)]*\): finished in .+ \(the plan said about", log)
    order = [log.index(f"{p}: finished in") for p in parts]
    assert order == sorted(order)  # each part's line comes when it ends, in the plan's order


# (part, cell files that must exist before the signal): a kill inside an alpha sweep and inside an unlearning
# (tables and saved models); tests/test_registry.py stops every other experiment at a cell boundary
KILL_POINTS = [("poison", "*.csv", 3), ("unlearn", "*.npz", 1)]


@pytest.mark.parametrize("part,pattern,count", KILL_POINTS, ids=[k[0] for k in KILL_POINTS])
def test_signal_mid_run_then_resume_recomputes_nothing(reference, tiny_toml, tmp_path, part, pattern, count):
    ref, _ = reference
    sig = signal.SIGTERM
    out = tmp_path / "run"
    # the parts up to the unlearning: the later parts would only add time (they are stopped in test_registry.py)
    args = ["reproduce", "mnist", "--config", str(tiny_toml), "--out", str(out), "--parts", "poison,unlearn"]
    proc = qunlearn_proc(args)
    cells = out / "mnist" / part / "cells"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if cells.exists() and len(list(cells.glob(pattern))) >= count:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "rerun the same command to resume" in stderr and "Traceback" not in stderr
    assert not (out / "report.md").exists()  # stopped part-way
    finished = cell_stamps(out)
    assert len(finished) >= 3
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind

    proc = qunlearn_proc(args)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    after = cell_stamps(out)
    for name, stamp in finished.items():
        assert after[name] == stamp, f"{name} was recomputed"
    assert stderr.count("cached") >= len([n for n in finished if n.endswith(".csv")])
    ran = [t for t in TABLES if t.split("/")[0] in ("poison", "unlearn")]
    for t in ran:  # the resumed run equals the uninterrupted one, bit for bit: determinism included
        pd.testing.assert_frame_equal(pd.read_csv(out / "mnist" / t), pd.read_csv(ref / "mnist" / t), check_exact=True)
        assert (out / "mnist" / t).read_bytes() == (ref / "mnist" / t).read_bytes(), t  # NaN is written as nothing


def test_rerun_of_a_finished_run_recomputes_nothing(reference, tiny_toml, capsys):
    out, _ = reference
    before = cell_stamps(out)
    tables = {t: (out / "mnist" / t).read_bytes() for t in TABLES}
    assert run_cli(["reproduce", "mnist", "--config", str(tiny_toml), "--out", str(out), "--no-report"]) == 0
    assert "cached" in capsys.readouterr().err
    assert cell_stamps(out) == before
    assert {t: (out / "mnist" / t).read_bytes() for t in TABLES} == tables


def test_report_command_rewrites_the_report(reference, capsys):
    out, _ = reference
    (out / "report.md").unlink()
    assert run_cli(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "claims of the paper" in text and (out / "report.md").exists()


# ------------------------------------------------------------------ bad input


def _toml(tmp_path, text: str) -> str:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    return str(f)


def _corrupt_xxz_cache(tmp_path) -> str:
    assert run_cli(["data", "xxz", "--n-spins", "4", "--n-per-class", "3"]) == 0
    cache = Path(os.environ["QUNLEARN_CACHE_DIR"])
    for f in cache.glob("xxz-L4-*.npz"):
        f.write_bytes(b"garbage")
    return _toml(tmp_path, "[xxz.poison]\ndata_options = {n_spins = 4, n_per_class = 3}\n")


def _corrupt_mnist(tmp_path) -> str:
    (tmp_path / "bad.npz").write_bytes(b"not a zip archive")
    return _toml(tmp_path, f'[mnist.poison]\ndata_options = {{mnist_path = "{tmp_path / "bad.npz"}"}}')


def _old_run(out: Path, version: int = 0) -> None:
    (out / "config.json").write_text(json.dumps({"format_version": version, "experiment": "reproduce", "config": {}}))


R = ["reproduce", "mnist"]
STUDY_BAD = [
    ("unknown target", lambda t: ["reproduce", "cifar"], "unknown target"),
    ("unknown preset", lambda t: R + ["--preset", "huge"], "unknown preset"),
    ("missing config file", lambda t: R + ["--config", str(t / "nope.toml")], "does not exist"),
    ("malformed config file", lambda t: R + ["--config", _toml(t, "[mnist.poison\nruns = 2")], "not valid TOML"),
    ("unknown config key", lambda t: R + ["--config", _toml(t, "[mnist.poison]\nepochs = 3")], "unknown config key"),
    ("alpha out of range", lambda t: R + ["--config", _toml(t, "[mnist.poison]\nalphas = [0.0, 1.2]")], "[0, 1)"),
    ("alpha not a number", lambda t: R + ["--config", _toml(t, '[mnist.poison]\nalphas = ["a"]')], "alpha"),
    ("empty alpha grid", lambda t: R + ["--config", _toml(t, "[mnist.poison]\nalphas = []")], "empty"),
    ("zero epochs", lambda t: R + ["--config", _toml(t, "[mnist.poison.models.qnn.train]\nepochs = 0")], "epochs"),
    ("negative batch", lambda t: R + ["--config", _toml(t, "[mnist.unlearn.models.mlp.train]\nbatch_size = -4")],
     "batch size"),
    ("lr not finite", lambda t: R + ["--config", _toml(t, "[mnist.poison.models.mlp.train]\nlr = nan")],
     "learning rate"),
    ("zero runs", lambda t: R + ["--config", _toml(t, "[mnist.poison]\nruns = 0")], "runs"),
    ("unknown method", lambda t: R + ["--config", _toml(t, '[mnist.unlearn]\nmethods = ["forget-all"]')],
     "unknown unlearning method"),
    ("unknown attack", lambda t: R + ["--config", _toml(t, '[mnist.poison]\nattacks = ["backdoor"]')],
     "unknown attack"),
    ("unknown model kind", lambda t: R + ["--config", _toml(t, '[mnist.poison.models.qnn]\nkind = "cnn"')],
     "unknown model"),
    ("unknown dataset section", lambda t: R + ["--config", _toml(t, "[cifar.poison]\nruns = 2")], "cifar"),
    ("too much memory", lambda t: R + ["--config", _toml(
        t, "[mnist.poison]\nruns = 1000\n[mnist.poison.models.qnn.train]\nbatch_size = 500")], "GiB"),
    ("too many runs", lambda t: R + ["--config", _toml(t, "[mnist.poison]\nruns = 10000000")], "1,000"),
    ("qubits beyond memory", lambda t: ["reproduce", "xxz", "--config",
                                        _toml(t, "[xxz.poison]\ndata_options = {n_spins = 30}")], "GiB"),
    ("missing MNIST file", lambda t: R + ["--config", _toml(
        t, f'[mnist.poison]\ndata_options = {{mnist_path = "{t / "none.npz"}"}}')], "none.npz"),
    ("corrupt MNIST file", lambda t: R + ["--config", _corrupt_mnist(t)], "bad.npz"),
    ("missing --mnist-path", lambda t: R + ["--mnist-path", str(t / "gone.npz")], "gone.npz"),
    ("--mnist-path with xxz", lambda t: ["reproduce", "xxz", "--mnist-path", str(t / "gone.npz")],
     "--mnist-path applies"),
    ("corrupt XXZ cache", lambda t: ["reproduce", "xxz", "--config", _corrupt_xxz_cache(t)], "corrupt"),
    ("unknown XXZ phase", lambda t: ["reproduce", "xxz", "--xxz-phase", "complex"], "unknown XXZ phase"),
    ("unknown XXZ phase in TOML", lambda t: ["reproduce", "xxz", "--config", _toml(
        t, '[xxz.poison]\ndata_options = {n_spins = 4, n_per_class = 3, phase = "complex"}')], "unknown XXZ phase"),
    ("phase seed not an integer", lambda t: ["reproduce", "xxz", "--config", _toml(
        t, '[xxz.poison]\ndata_options = {n_spins = 4, n_per_class = 3, phase_seed = 1.5}')], "phase_seed"),
    ("phase option for MNIST", lambda t: R + ["--config", _toml(
        t, '[mnist.poison]\ndata_options = {phase = "random"}')],
     "phase"),
    ("--xxz-phase with mnist", lambda t: R + ["--xxz-phase", "random"], "--xxz-phase applies"),
    ("gauge part for MNIST", lambda t: R + ["--config", _toml(t, '[mnist]\nparts = ["poison", "gauge"]')],
     "gauge study"),
    ("unknown executor", lambda t: R + ["--executor", "spark"], "unknown executor"),
    ("zero dask workers", lambda t: R + ["--executor", "dask", "--workers", "0"], "--workers"),
    ("workers without dask", lambda t: R + ["--workers", "2"], "--executor dask only"),
    ("bad scheduler address", lambda t: R + ["--executor", "dask", "--scheduler", "localhost"], "tcp://"),
    ("config show unknown preset", lambda t: ["config", "show", "huge"], "unknown preset"),
    ("report of no run", lambda t: ["report", str(t / "empty")], "no qunlearn run"),
    ("report of an old run", lambda t: (_old_run(t / "empty"), ["report", str(t / "empty")])[1], "incompatible"),
]


@pytest.mark.parametrize("name,make,needle", STUDY_BAD, ids=[b[0] for b in STUDY_BAD])
def test_bad_study_input_is_refused_with_one_line(name, make, needle, tmp_path, capsys):
    out = tmp_path / "run"  # not created by a refused command
    (tmp_path / "keep.txt").write_text("existing result")
    (tmp_path / "empty").mkdir()
    args = make(tmp_path)
    capsys.readouterr()
    before = snapshot(tmp_path)
    assert run_cli(args + (["--out", str(out)] if args[0] == "reproduce" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("qunlearn: error:") and "Traceback" not in err
    assert needle in err, err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("version", [0, 1])  # 1: the format before model specs
def test_run_dir_of_an_incompatible_version_is_refused(tmp_path, capsys, version):
    from qunlearn.runs import FORMAT_VERSION

    assert FORMAT_VERSION == 2
    out = tmp_path / "run"
    out.mkdir()
    _old_run(out, version)
    before = snapshot(out)
    assert run_cli(R + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "incompatible" in err and "--fresh" in err and len(err.splitlines()) == 1
    assert snapshot(out) == before


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert run_cli(R + ["--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err and f.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_is_refused(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert run_cli(R + ["--out", str(ro / "run")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------ defects found in review


def test_bad_precision_in_a_config_file_is_refused_before_any_file(tmp_path, capsys):
    """A bad precision in TOML used to be refused only after DIR/config.json was written, so the
    corrected rerun was refused as a run with a different config."""
    out = tmp_path / "run"
    bad = _toml(tmp_path, '[mnist.poison]\nprecision = "complex256"\n')
    assert run_cli(R + ["--config", bad, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "precision" in err and len(err.splitlines()) == 1, err
    assert not out.exists()


SWEEP_ONLY = """
preset = "quick"
[mnist]
parts = ["unlearn", "sweeps"]
[mnist.unlearn]
runs = 1
methods = ["finetune"]
data_options = {n_per_class = 20}
[mnist.unlearn.models.qnn]
depth = 1
[mnist.unlearn.models.qnn.train]
epochs = 1
[mnist.unlearn.models.qnn.unlearn]
epochs = 1
[mnist.unlearn.models.mlp.train]
epochs = 1
[mnist.unlearn.models.mlp.unlearn]
epochs = 1
[mnist.sweeps]
grid = [0.0]
"""


def test_fresh_run_trains_each_model_to_unlearn_once(tmp_path, monkeypatch):
    """The weight sweeps reuse the unlearning part's trained models, also with --fresh into a new directory
    (the sweep part used to clear its cells after the models were linked, and trained them again)."""
    from qunlearn.experiments import unlearning

    calls = []
    real = unlearning._train_cell

    def counted(*args):
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(unlearning, "_train_cell", counted)
    cfg = _toml(tmp_path, SWEEP_ONLY)
    assert run_cli(R + ["--config", cfg, "--out", str(tmp_path / "new"), "--fresh", "--no-report"]) == 0
    assert sorted(calls) == ["mlp", "qnn"], calls
