"""Contract tests over the registry of experiments, and a toy experiment that shows a new one is a new file
plus one registry line.

Every registered experiment, at tiny size: writes its tables, figures and report section, refuses a
directory that holds another experiment's run, and resumes after an interruption at a cell boundary
without recomputing a finished cell, with byte-identical tables.
"""

import importlib

import pytest

import qunlearn as ql
from helpers import run_cli, snapshot
from qunlearn import progress, registry
from qunlearn.executor import clear_stop, request_stop

_Q = {"depth": 1, "train": {"epochs": 1, "eval_every": 1}}
_M = {"hidden": [4], "train": {"epochs": 1, "eval_every": 1}}
_U = {"epochs": 1, "eval_every": 1}
_NOISY = {"kind": "qnn", "depth": 1, "noise": {"p2": 0.01, "trajectories": 4, "train_trajectories": 1},
          "train": {"epochs": 1, "eval_every": 1}}
_DATA = {"n_per_class": 12}

TINY = {
    "mnist": {
        "poison": {"alphas": [0.0, 0.3], "attacks": ["label-flip"], "runs": 1, "data_options": _DATA,
                   "models": {"qnn": _Q, "mlp": _M}},
        "unlearn": {"methods": ["retrain", "finetune"], "runs": 1, "data_options": _DATA,
                    "models": {"qnn": {**_Q, "unlearn": _U}, "mlp": {**_M, "unlearn": _U}}},
        "sweeps": {"methods": ["gradient_ascent"], "grid": [0.0, 0.5]},
        "landscape": {"alphas": [0.3], "seeds": [0], "n_hessian": 8, "data_options": _DATA,
                      "models": {"qnn": _Q, "mlp": {"hidden": [2], "train": {"epochs": 1, "eval_every": 1}}}},
        "embed": {"perplexity": 3.0},
        "noise": {"poison": {"alphas": [0.0, 0.3], "runs": 1, "data_options": _DATA,
                             "models": {"qnn-p0.01": _NOISY, "mlp": _M}},
                  "unlearn": {"methods": ["retrain", "finetune"], "runs": 1, "shots": [100], "data_options": _DATA,
                              "models": {"qnn-p0.01": {**_NOISY, "unlearn": _U}, "mlp": {**_M, "unlearn": _U}}}},
        "capacity": {"alphas": [0.0, 0.3], "runs": 1, "data_options": _DATA, "fisher_samples": 20,
                     "families": ["qnn", "mlp"], "settings": {"qnn": {"sizes": ["1"], "train": _Q["train"]},
                                                              "mlp": {"sizes": ["2", "4"], "train": _M["train"]}}},
    },
    "xxz": {
        "poison": {"alphas": [0.0, 0.3], "attacks": ["label-flip"], "runs": 1,
                   "data_options": {"n_spins": 4, "n_per_class": 12}, "models": {"qnn": _Q, "mlp": _M}},
        "audit": {"methods": ["retrain", "finetune"], "n_models": 4, "chunk": 2, "n_boot": 10,
                  "data_options": {"n_spins": 4, "n_per_class": 12},
                  "models": {"qnn": {**_Q, "unlearn": _U}, "mlp": {**_M, "unlearn": _U}}},
    },
}
# the dataset each experiment runs on here (the gauge study is about XXZ states; the audit's QNN is smaller there)
WHERE = {"gauge": "xxz", "audit": "xxz"}
NEEDS = {"gauge": ["poison"]}  # parts it reads from (the gauge study compares with the alpha sweep)
BUILTIN = tuple(registry.BUILTIN)
# The kill-and-resume test of test_reproduce.py stops a real process by SIGTERM inside these experiments and
# compares every table byte for byte; this file interrupts the others at a cell boundary.
KILLED_ELSEWHERE = ("poison", "unlearn")
ONE_CELL = ("embed",)  # its one cell is its table, written atomically: stopped before it or after, nothing between
RESUMED_HERE = tuple(n for n in BUILTIN if n not in KILLED_ELSEWHERE + ONE_CELL)


def _parts(name):
    return NEEDS.get(name, []) + [name]


def _run(name, out, **kw):
    d = WHERE.get(name, "mnist")
    return ql.run("all", preset="quick", dataset=d, out=out, parts=_parts(name), config={d: TINY[d]}, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Every built-in experiment, run once uninterrupted: one study per dataset, each with its experiments."""
    root = tmp_path_factory.mktemp("contract")
    runs = {}
    for d in ("mnist", "xxz"):
        names = [n for n in BUILTIN if WHERE.get(n, "mnist") == d]
        parts = list(dict.fromkeys(p for n in names for p in _parts(n)))
        run = ql.run("all", preset="quick", dataset=d, out=root / d, parts=parts, config={d: TINY[d]}, quiet=True)
        runs.update({n: run for n in names})
    return runs


def _steps(run, name):
    return [p for p in run.parts if p[2] is not None and p[2].name == name]


def test_every_experiment_declares_what_the_study_needs():
    numbers = []
    for name, exp in registry.experiments().items():
        assert exp.name == name and exp.title and exp.runner and exp.kind
        runner = importlib.import_module(exp.runner)
        assert runner.NAME == exp.kind and callable(runner.cells) and callable(runner.run)
        assert callable(runner.read_result)
        numbers += [rule.number for rule in exp.claims]
    assert len(numbers) == len(set(numbers))  # a claim id names one claim


@pytest.mark.parametrize("name", BUILTIN)
def test_experiment_writes_its_tables_figures_and_report_section(reference, name):
    run = reference[name]
    steps = _steps(run, name)
    assert steps, f"{name} made no run directory"
    md = (run.path / "report.md").read_text()
    for d, step, owner, directory in steps:
        assert (directory / "results.csv").exists() or (directory / "embedding.csv").exists()
        stems = run.figure_names(f"{d}/{step}")
        assert stems, f"{d}/{step} draws no figure"
        for stem in stems:
            assert (directory / f"{stem}.png").stat().st_size > 1000 and (directory / f"{stem}.pdf").exists()
            assert run.figure(stem, part=f"{d}/{step}").axes
        assert f"{d.upper()}: " in md and any(f"{step}/{s}.png" in md for s in stems), f"{step} has no section"
    for rule in owner.claims:
        assert any(c.id == f"{WHERE.get(name, 'mnist')}/{rule.number}" for c in run.claims)


@pytest.mark.parametrize("name", BUILTIN)
def test_experiment_refuses_a_directory_holding_another_run(reference, name, tmp_path):
    _, _, _, directory = _steps(reference[name], name)[0]
    other = "embed" if name != "embed" else "poison"
    before = snapshot(directory)
    with pytest.raises(ql.InputError, match="holds|inside the qunlearn run"):
        ql.run(other, preset="quick", out=directory, quiet=True)
    assert snapshot(directory) == before
    study = reference[name].path  # and the study directory itself, which holds a run of another kind
    with pytest.raises(ql.InputError, match="another experiment|was made by|holds"):
        ql.run(name if name != "gauge" else "poison", preset="quick", out=study, quiet=True)


def test_every_experiment_is_interrupted_and_resumed_by_some_test():
    import test_reproduce

    killed = {registry.owner(part).name for part, _, _ in test_reproduce.KILL_POINTS}
    assert killed == set(KILLED_ELSEWHERE) and killed | set(RESUMED_HERE) | set(ONE_CELL) == set(BUILTIN)
    for name in ONE_CELL:
        exp = registry.experiments()[name]
        step = exp.single(ql.resolve(name, preset="quick")[name])
        assert len(step.module.cells(step.cfg)) == 1


@pytest.mark.parametrize("name", RESUMED_HERE)
def test_experiment_resumes_after_an_interruption_at_a_cell_boundary(reference, name, tmp_path, monkeypatch):
    seen = []
    original = progress.Reporter.on_cell

    def on_cell(self, part, cell, status, seconds):
        original(self, part, cell, status, seconds)
        seen.append((part.owner.name, status))
        if stop_after is not None and sum(s == "done" for n, s in seen if n == name) == stop_after:
            request_stop()  # the next cell boundary stops the run, as SIGTERM does

    monkeypatch.setattr(progress.Reporter, "on_cell", on_cell)
    out = tmp_path / "run"
    stop_after = 1
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(name, out, report=False)
    finally:
        clear_stop()
    done_before = sum(s == "done" for n, s in seen if n == name)
    seen.clear()
    stop_after = None
    resumed = _run(name, out, report=False)
    skipped = sum(s == "skipped" for n, s in seen if n == name)
    assert skipped == done_before >= 1  # what finished before the stop was read back, not recomputed
    ref = reference[name]
    for (_, step, _, directory), (_, _, _, ref_dir) in zip(_steps(resumed, name), _steps(ref, name)):
        for table in ("results.csv", "history.csv", "embedding.csv"):
            if (ref_dir / table).exists():
                assert (directory / table).read_bytes() == (ref_dir / table).read_bytes(), f"{step}/{table}"


# ------------------------------------------------------------------ a new experiment: one file, one line


@pytest.fixture
def toy():
    import toy_experiment

    ql.register(toy_experiment.EXPERIMENT)  # the one line
    yield toy_experiment
    registry.unregister("toy")


def test_a_new_experiment_runs_from_python_and_is_read_back(toy, tmp_path):
    assert "toy" in ql.experiments()
    run = ql.run("toy", preset="quick", out=tmp_path / "t", quiet=True, n=4)
    assert list(run.results["draw"]) == [0, 1, 2, 3]
    assert run.figure("toy").axes and (tmp_path / "t" / "toy.png").exists()
    again = ql.load(tmp_path / "t")
    assert [c.id for c in again.claims if c.number == 90] == ["mnist/90"]
    with pytest.raises(ql.InputError, match="mnist.toy: n must be an integer") as e:
        ql.run("toy", preset="quick", out=tmp_path / "bad", n=0)
    assert e.value.path == "mnist.toy.n" and not (tmp_path / "bad").exists()


def test_a_new_experiment_joins_the_study_config_report_and_cli(toy, tmp_path, capsys):
    assert run_cli(["config", "show", "quick"]) in (0, None)
    shown = capsys.readouterr().out
    assert "[mnist.toy]" in shown and "n = 3" in shown
    out = tmp_path / "study"
    assert run_cli(["reproduce", "mnist", "--preset", "quick", "--parts", "toy", "--out", str(out)]) in (0, None)
    printed = capsys.readouterr().out
    assert "claim 90 (mnist): held" in printed
    md = (out / "report.md").read_text()
    assert "## MNIST: toy draws" in md and "mnist/toy: 3 bootstrap draws" in md and "toy/toy.png" in md


def test_a_new_experiment_resumes_without_recomputing(toy, tmp_path, monkeypatch):
    calls = []
    real = toy.run_cell
    monkeypatch.setattr(toy, "run_cell", lambda cfg, ds, cell: calls.append(cell.draw) or real(cfg, ds, cell))
    out = tmp_path / "t"
    ql.run("toy", preset="quick", out=out, quiet=True, n=3)
    full = (out / "results.csv").read_bytes()
    (out / "cells" / "draw-2.csv").unlink()  # as a stop after the second cell leaves it
    (out / "results.csv").unlink()
    calls.clear()
    ql.run("toy", preset="quick", out=out, quiet=True, n=3)
    assert calls == [2] and (out / "results.csv").read_bytes() == full


# ------------------------------------------------------------------ the pipeline names no experiment

PIPELINE = ("cli.py", "experiments/reproduce.py", "report.py", "progress.py", "study.py", "api.py")
# the same words used for something else than an experiment: a model entry's tables
NOT_EXPERIMENTS = {"report.py": {"unlearn"}, "study.py": {"noise"}}


def _named_experiments(path):
    """Built-in experiments a module names: string literals equal to one (or a default ``runs/NAME``), and
    functions (commands) named after one."""
    import ast
    import re

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r"(?:runs/)?([a-z]+)", node.value)
            if m and m.group(1) in BUILTIN + ("sweep",):
                found.add(node.value)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in BUILTIN + ("sweep",):
            found.add(f"def {node.name}")
    return found


@pytest.mark.parametrize("module", PIPELINE)
def test_the_pipeline_code_names_no_particular_experiment(module):
    from pathlib import Path

    named = _named_experiments(Path(ql.__file__).parent / module) - NOT_EXPERIMENTS.get(module, set())
    assert not named, f"{module} names experiments: {sorted(named)}"


def test_a_new_experiment_declares_its_own_command(toy, tmp_path, capsys):
    from qunlearn import cli

    out = tmp_path / "cmd"
    assert run_cli(["toy", "--preset", "quick", "--n", "2", "--out", str(out)]) in (0, None)
    assert list(ql.load(out).results["draw"]) == [0, 1]
    with pytest.raises(SystemExit) as e:
        cli.main(["toy", "--preset", "quick", "--n", "0", "--out", str(tmp_path / "bad")])
    assert e.value.code == 2 and not (tmp_path / "bad").exists()
    assert "n must be an integer" in capsys.readouterr().err


def test_an_unregistered_experiment_takes_its_command_along(tmp_path, capsys):
    import toy_experiment

    ql.register(toy_experiment.EXPERIMENT)
    assert run_cli(["toy", "--help"]) in (0, None)
    registry.unregister("toy")
    assert run_cli(["toy", "--help"]) == 2
    assert "No such command 'toy'" in capsys.readouterr().err
