"""Progress in a notebook: ``ql.run`` executed by a real Jupyter kernel (nbclient + ipykernel) shows its
cells as they finish, with counts, and no warning."""

import json

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

CODE = """import qunlearn as ql
run = ql.run("poison", preset="quick", dataset="mnist", out="nb", models=["mlp"], alphas=[0, 0.3], runs=1,
             epochs=1, config={"mnist": {"poison": {"data_options": {"n_per_class": 12}}}})
print(len(run.results) > 0)"""


def _texts(outputs) -> list[str]:
    texts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            texts.append(o["text"])
        elif o.get("output_type") in ("display_data", "execute_result"):
            texts.append(o.get("data", {}).get("text/plain", ""))
        elif o.get("output_type") == "error":
            texts.append("\n".join(o.get("traceback", [])))
    return texts


def test_a_run_in_a_notebook_shows_its_progress_without_warnings(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CODE)]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = _texts(nb.cells[0].outputs)
    whole = "\n".join(texts)
    assert "Warning" not in whole and "ipywidgets" not in whole, json.dumps(texts)[:2000]
    cells = [t for t in texts if "alpha=" in t]
    assert len(cells) == 4, json.dumps(texts)[:2000]  # one line per cell, as each finishes
    for i, line in enumerate(cells, 1):
        assert f"{i}/4" in line, line  # how far the run is
    assert "True" in texts[-1] and (tmp_path / "nb" / "results.csv").exists()
