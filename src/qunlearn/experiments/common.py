"""Pieces every experiment shares: keys per cell, the poisoned training set, run directories,
tidy tables, the cell loop, the memory check and the result object.

Every experiment module exposes the same surface::

    NAME                                  # the experiment's name in its run directory
    cells(cfg) -> list                    # its cells, for progress
    run(cfg, workdir, *, fresh=False, executor=None, on_cell=None) -> Result

and the CLI, ``reproduce`` and Python users all make that same call.
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, Iterable

import jax
import numpy as np
import pandas as pd

from ..data import Dataset
from ..poison import poison
from ..runs import ALPHA_DECIMALS, CellError, RunDir, number_tag


def cell_key(seed: int, *parts: Any) -> jax.Array:
    """A PRNG key that depends only on ``seed`` and the cell's identity ``parts``.

    Parts are folded in through a stable hash of their string form, so a cell's
    numbers do not depend on which other cells ran, in what order, or whether
    the run was resumed.
    """
    key = jax.random.key(seed)
    for part in parts:
        key = jax.random.fold_in(key, zlib.crc32(str(part).encode()) & 0x7FFFFFFF)
    return key


def alpha_tag(alpha: float) -> str:
    return number_tag(alpha, ALPHA_DECIMALS)


def poisoned_training_set(seed: int, ds: Dataset, attack: str, alpha: float, run: int):
    """The training set of run ``run`` poisoned by ``attack`` at ``alpha``: ``(x, y, indices)``.

    The one definition of the poisoning every experiment uses (the alpha sweep,
    unlearning, the weight sweeps, the embeddings), so run ``r`` of every
    experiment with the same seed sees the same poisoned samples.
    """
    key = cell_key(seed, ds.name, "poison", attack, alpha_tag(alpha), run)
    return poison(attack, ds.x_train, ds.y_train, alpha, key)


def open_run(workdir, experiment: str, record: dict, fresh: bool = False) -> RunDir:
    """``workdir`` as the run directory of ``experiment`` with config ``record`` (checked, nothing written)."""
    if isinstance(workdir, RunDir):
        if workdir.experiment != experiment or workdir.config != record:
            raise ValueError(f"run directory {workdir.path} was opened for another experiment or config")
        return workdir
    return RunDir(workdir, experiment, record, fresh=fresh)


def history_table(history: dict[str, np.ndarray], epochs: Iterable[int], runs: Iterable[int], **labels) -> pd.DataFrame:
    """Long table from ``history[metric]`` of shape (runs, evals).

    Columns: the ``labels`` (constant per table), ``run``, ``epoch``, ``metric``, ``value``.
    """
    epochs = np.asarray(list(epochs))
    runs = np.asarray(list(runs))
    frames = []
    for metric, values in history.items():
        values = np.asarray(values, dtype=float)
        frames.append(
            pd.DataFrame(
                {
                    "run": np.repeat(runs, len(epochs)),
                    "epoch": np.tile(epochs, len(runs)),
                    "metric": metric,
                    "value": values.reshape(-1),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    for i, (k, v) in enumerate(labels.items()):
        table.insert(i, k, v)
    return table


def summarize(table: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over runs of ``metrics``, one row per group."""
    sub = table[table["metric"].isin(metrics)]
    agg = sub.groupby(by + ["metric"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return agg


def run_cells(run_dir, executor, cells: list, fn: Callable, shared: tuple, on_cell: Callable | None = None,
              cell_id: Callable = lambda c: c.id, done: Callable | None = None, load: Callable | None = None,
              save: Callable | None = None) -> dict[str, Any]:
    """Results of every cell: loaded if finished, else computed by ``executor`` and saved atomically.

    ``fn(*shared, cell)`` computes one cell; ``shared`` is sent to the executor's
    workers once. ``on_cell(cell, status, seconds)`` reports each cell
    (``"skipped"``: already in ``run_dir``; ``"done"``: just computed, with its
    wall time). A cell's result is a table kept as ``cells/<id>.csv`` unless
    ``done(id)``, ``load(id)`` and ``save(id, result)`` say how else it is stored.
    """
    from ..executor import CellInterrupted, LocalExecutor

    executor = executor or LocalExecutor()
    done, load, save = done or run_dir.has_cell, load or run_dir.read_cell, save or run_dir.write_cell
    results, todo = {}, []
    seen = len(getattr(run_dir, "unverified", ()))
    for cell in cells:
        cid = cell_id(cell)
        if done(cid):
            try:
                results[cid] = load(cid)
            except CellError as e:  # never trusted, never averaged in: named, and computed again
                notice(f"{run_dir.path}: {e}; computing it again")
                todo.append(cell)
                continue
            if on_cell:
                on_cell(cell, "skipped", 0.0)
        else:
            todo.append(cell)
    unverified = list(getattr(run_dir, "unverified", ()))[seen:]
    if unverified:
        n = len(unverified)
        notice(f"{run_dir.path}: {n} cell{'s' if n != 1 else ''} written before cells carried checksums "
               f"({', '.join(p.name for p in unverified[:3])}{' ...' if n > 3 else ''}) read as tables and kept; "
               "--fresh computes them again")
    if todo:
        handles = tuple(executor.share(s) for s in shared)
        by_id = {cell_id(c): c for c in todo}
        try:
            for cid, result, seconds in executor.map([(cell_id(c), fn, handles + (c,)) for c in todo]):
                save(cid, result)
                results[cid] = result
                if on_cell:
                    on_cell(by_id[cid], "done", seconds)
        except CellInterrupted as e:  # say which cell the stop costs
            from ..progress import cell_label

            from .. import executor as ex

            e.label = cell_label(by_id[e.cell_id]) if e.cell_id in by_id else e.cell_id
            ex.note_interrupted(e.label)
            raise
    return results


def notice(text: str) -> None:
    """One line on stderr about the state of a run directory (a cell computed again, cells kept unverified)."""
    from ..console import err

    err.print(f"qunlearn: {text}", highlight=False, markup=False, soft_wrap=True)


def check_memory(models: dict, ds: Dataset, runs: int, precision: str = "complex64") -> None:
    """Refuse, before any work, a model whose vmapped training would not fit in the device's memory."""
    n_train = len(ds.y_train)
    for name, mc in models.items():
        mc.spec.check_memory(ds, mc.train.batch(n_train), runs, precision, what=f"model {name!r}")


DIVERGED = "diverged"  # metric: 1 from the first evaluation with a non-finite loss on, else 0
_NOT_KEYS = ("run", "epoch", "step", "metric", "value")


def divergence(*losses: np.ndarray) -> np.ndarray:
    """Per run and evaluation (arrays of shape (runs, evals)): 1.0 once any loss has been non-finite, else 0.0."""
    bad = np.zeros(np.shape(losses[0]), bool)
    for loss in losses:
        bad |= ~np.isfinite(np.asarray(loss, dtype=float))
    return np.maximum.accumulate(bad, axis=-1).astype(float)


def diverged_runs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (the table's label columns) with ``diverged`` (runs whose loss became non-finite)
    and ``runs`` (all runs of the cell)."""
    keys = [c for c in table.columns if c not in _NOT_KEYS]
    runs = table.groupby(keys, dropna=False)["run"].nunique().rename("runs")
    flag = table[table["metric"] == DIVERGED]
    bad = flag[flag["value"] > 0].groupby(keys, dropna=False)["run"].nunique().rename(DIVERGED)
    out = pd.concat([runs, bad], axis=1).fillna({DIVERGED: 0}).reset_index()
    out[DIVERGED] = out[DIVERGED].astype(int)
    return out[out[DIVERGED] > 0].reset_index(drop=True)


def drop_diverged(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the runs that never diverged (diverged runs are reported, never averaged)."""
    flag = table[(table["metric"] == DIVERGED) & (table["value"] > 0)]
    if flag.empty:
        return table[table["metric"] != DIVERGED]
    keys = [c for c in table.columns if c not in _NOT_KEYS] + ["run"]
    bad = flag[keys].drop_duplicates().assign(_bad=True)
    merged = table.merge(bad, on=keys, how="left")
    keep = merged["_bad"].isna().to_numpy() & (table["metric"] != DIVERGED).to_numpy()
    return table[keep]


class Result:
    """What an experiment's ``run`` returns: its tables, and what it can write and say about them.

    ``build_figures(title)`` returns the experiment's figures, built in memory
    (``{file stem: matplotlib Figure}``, nothing written); ``figures(title)``
    saves them into the run directory (``stem.png`` and ``stem.pdf``) and
    returns their paths; ``summary()`` returns ``(title, table)`` pairs of display
    tables (strings, mean ± std over runs); ``notes()`` a few lines worth printing.
    """

    def __init__(self, cfg, run_dir: RunDir):
        self.cfg, self.run_dir = cfg, run_dir

    @property
    def path(self):
        return self.run_dir.path

    def build_figures(self, title: str | None = None, **options) -> dict:
        """The figures, built in memory: ``{file stem: matplotlib.figure.Figure}``; nothing is written."""
        return {}

    def figures(self, title: str | None = None, **options) -> list:
        """Save :meth:`build_figures` into the run directory (``stem.png``, ``stem.pdf``); return the paths."""
        from .. import plots

        return plots.save_figures(self.build_figures(title, **options), self.path)

    def summary(self) -> list[tuple[str, pd.DataFrame]]:
        return []

    def notes(self) -> list[str]:
        return []

    def diverged(self) -> pd.DataFrame:
        """Cells with runs whose loss became non-finite (see :func:`diverged_runs`); empty if none."""
        results = getattr(self, "results", None)
        if results is None or "run" not in results or DIVERGED not in set(results["metric"]):
            return pd.DataFrame()
        return diverged_runs(results)

    def divergence(self) -> tuple[list[str], bool]:
        """A line per cell with diverged runs, and whether every run of some cell diverged."""
        lines, lost = [], False
        for d in self.diverged().to_dict("records"):
            cell = " ".join(str(v) for k, v in d.items() if k not in ("dataset", "runs", DIVERGED))
            lines.append(f"{cell}: {d[DIVERGED]} of {d['runs']} runs diverged (non-finite loss); "
                         "excluded from every mean")
            lost |= d[DIVERGED] == d["runs"]
        return lines, lost


def pm(mean: float, std: float) -> str:
    """``mean ± std`` to three decimals; the mean alone without a spread; ``-`` for no value."""
    if mean is None or np.isnan(mean):
        return "-"
    if std is None or np.isnan(std):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def wide_summary(table: pd.DataFrame, by: list[str], columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Display table: one row per ``by`` group, one ``mean ± std`` column per (metric, label), and ``runs``
    (the runs averaged; diverged runs are dropped first, see :func:`drop_diverged`)."""
    groups = [tuple(g) for g in table[by].drop_duplicates().itertuples(index=False)]
    s = summarize(drop_diverged(table), by, [m for m, _ in columns])
    wide = s.pivot_table(index=by, columns="metric", values=["mean", "std", "count"], sort=False, dropna=False)
    rows = []
    for key in groups:  # every group, also one whose runs all diverged (0 runs, no value)
        row = wide.loc[key if len(key) > 1 else key[0]] if (key if len(key) > 1 else key[0]) in wide.index else None
        get = lambda stat, m: np.nan if row is None else row.get((stat, m), np.nan)  # noqa: E731
        cells = [pm(get("mean", m), get("std", m)) for m, _ in columns]
        counts = [get("count", m) for m, _ in columns]
        runs = 0 if np.all(np.isnan(counts)) else int(np.nanmax(counts))
        rows.append(list(key) + [str(runs)] + cells)
    return pd.DataFrame(rows, columns=by + ["runs"] + [label for _, label in columns])


class StoredRun:
    """A finished run directory read back (``path`` only): what a result read from disk needs of a RunDir."""

    def __init__(self, path):
        from pathlib import Path

        self.path = Path(path)


def stored_config(cls, record: dict):
    """The config of a stored run record, or None where it cannot be rebuilt (a user's own model: its object is
    not in the record), so that reading a run back never fails on it."""
    from ..errors import InputError

    try:
        return cls.from_dict(record)
    except (InputError, KeyError, TypeError, ValueError):
        return None


def read_tables(directory, *names: str) -> list | None:
    """The tables ``names`` of a run directory (pandas), or None if one of them is not there yet."""
    from pathlib import Path

    paths = [Path(directory) / n for n in names]
    if not all(p.exists() for p in paths):
        return None
    return [pd.read_csv(p) for p in paths]
