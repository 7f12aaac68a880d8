"""Run directories never delete or overwrite what qunlearn did not write."""

import json

import pytest

from helpers import run_cli, snapshot

from qunlearn.errors import InputError
from qunlearn.runs import RunDir, clear_own, foreign_files

CFG = {"a": 1}


def _run(path, **kw):
    return RunDir(path, "poison", CFG, **kw)


def _finished(path):
    rd = _run(path).start()
    rd.write_cell("c1", __import__("pandas").DataFrame({"x": [1]}))
    (path / "results.csv").write_text("x\n1\n")
    (path / "figure2.png").write_bytes(b"png")
    return rd


def test_fresh_on_a_users_folder_is_refused_and_deletes_nothing(tmp_path, capsys):
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "chapter.tex").write_text("precious")
    (user / "data.csv").write_text("1,2")
    before = snapshot(user)
    args = ["poison", "--preset", "quick", "--model", "mlp", "--alphas", "0", "--runs", "1", "--epochs", "1",
            "--out", str(user), "--fresh"]
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert "not a qunlearn run" in err and "chapter.tex" in err and len(err.splitlines()) == 1
    assert snapshot(user) == before
    assert run_cli(args[:-1]) == 2  # without --fresh too: qunlearn writes only into new, empty or its own folders
    assert snapshot(user) == before


def test_fresh_keeps_and_names_foreign_files_in_a_run(tmp_path):
    run = tmp_path / "run"
    _finished(run)
    (run / "notes.txt").write_text("mine")
    (run / "cells" / "keep.json").write_text("{}")
    with pytest.raises(InputError, match="did not write.*(cells/keep.json|notes.txt)"):
        _run(run, fresh=True)
    assert (run / "notes.txt").read_text() == "mine" and (run / "results.csv").exists()
    assert sorted(p.name for p in foreign_files(run)) == ["keep.json", "notes.txt"]
    clear_own(run)  # even called directly, only qunlearn's files go
    # and the lock of the run this test opened (held by this process until it exits: no ql.run scope here)
    assert sorted(p.name for p in run.rglob("*") if p.is_file()) == [".qunlearn.lock", "keep.json", "notes.txt"]


def test_fresh_clears_only_its_own_files(tmp_path):
    run = tmp_path / "run"
    _finished(run)
    rd = _run(run, fresh=True).start()
    assert sorted(p.name for p in run.rglob("*")) == [".qunlearn.lock", "cells", "config.json"]
    assert json.loads((run / "config.json").read_text())["config"] == CFG and rd.fresh is False


def test_a_run_is_never_made_inside_another_run(tmp_path, capsys):
    run = tmp_path / "run"
    _finished(run)
    for inner in (run / "cells" / "new", run / "sub", run / "a" / "b"):
        with pytest.raises(InputError, match="inside the qunlearn run"):
            _run(inner)
    assert run_cli(["embed", "--out", str(run / "cells" / "x")]) == 2
    assert "inside the qunlearn run" in capsys.readouterr().err


def test_a_run_that_finished_nothing_takes_a_corrected_config(tmp_path):
    """A crash before the first cell leaves config.json and nothing else: the corrected command is not refused."""
    run = tmp_path / "run"
    _run(run).start()
    RunDir(run, "poison", {"a": 2}).start()
    assert json.loads((run / "config.json").read_text())["config"] == {"a": 2}
    (run / "results.csv").write_text("x\n")
    with pytest.raises(InputError, match="different config"):
        RunDir(run, "poison", {"a": 3})


def test_a_corrupt_config_is_not_treated_as_a_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not recognisably a qunlearn run"):
        _run(run, fresh=True)
    assert (run / "config.json").read_text() == "{not json"


def test_diverged_runs_are_reported_never_averaged(tmp_path, capsys):
    """A learning rate finite in float32 but far too large: every loss becomes non-finite."""
    import pandas as pd

    from qunlearn import report

    out = tmp_path / "div"
    args = ["poison", "--preset", "quick", "--model", "mlp", "--attack", "label-flip", "--alphas", "0.3",
            "--runs", "2", "--epochs", "2", "--lr", "1e30", "--out", str(out)]
    assert run_cli(args) == 3  # every run of a cell diverged
    captured = capsys.readouterr()
    assert "2 of 2 runs diverged (non-finite loss); excluded from every mean" in captured.err
    res = pd.read_csv(out / "results.csv")
    flags = res[res["metric"] == "diverged"]
    assert len(flags) == 2 and (flags["value"] == 1).all()
    assert "│    0 │" in captured.out  # the summary counts 0 runs for that cell and prints no mean
    md, _, found = report.write(out)
    assert "2 of 2 runs" in md.read_text()
    assert all(c.status == "not tested" for c in found)  # nothing left to judge a claim on
