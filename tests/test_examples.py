"""The notebooks in examples/ (jupytext percent scripts) run at tiny sizes and draw their figures."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# (script, the figures it must leave behind); read_back reads what figure2 wrote, so they share a directory
CASES = [("figure2.py", ["figure2.png"]), ("read_back.py", ["memorisation-gap.png"]),
         ("own_data.py", ["own-data-figure2.png"]), ("own_circuit.py", ["own-circuit-figure2.png",
                                                                       "own-circuit-figure3.png"])]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("examples")


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(name for name, _ in CASES)


@pytest.mark.parametrize("script,figures", CASES, ids=[c[0] for c in CASES])
def test_example_runs_and_draws_its_figures(script, figures, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("QUNLEARN_EXAMPLES_TINY", "1")
    text = (EXAMPLES / script).read_text()
    assert text.startswith("# %% [markdown]")  # a jupytext percent notebook
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    for f in figures:
        assert (workdir / f).stat().st_size > 1000, f
