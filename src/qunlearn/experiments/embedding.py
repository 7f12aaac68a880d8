"""t-SNE of the training set: clean, and under each poisoning attack, side by side.

Each *panel* is one version of the training set: ``"clean"`` and one per
attack, poisoned exactly as run 0 of the noise-ratio sweep poisons it (key
:func:`qunlearn.experiments.common.poisoned_training_set`, run 0). Every panel gets its own t-SNE, since
its inputs differ (feature randomisation replaces rows; label flipping leaves
the inputs alone, so its embedding is the clean one, recoloured).

Complex inputs (XXZ) are embedded through
:func:`qunlearn.data.encoding.as_real` (real and imaginary parts side by side),
the vector the classical baseline sees.

Table (tidy, one row per point and panel; ``embedding.csv``):

* ``panel``: ``"clean"`` or the attack name (``"label-flip"``, ...);
* ``index``: row of the training set;
* ``x``, ``y``: t-SNE coordinates (meaningless beyond their neighbourhoods);
* ``label``: the label as trained on (the flipped one for label flipping);
* ``true_label``: the clean label;
* ``poisoned``: whether the attack touched this row;
* ``delta``: the XXZ anisotropy Delta of the row's *original* state (from
  ``ds.info["delta_train"]``), NaN when the data set has none;
* ``alpha``: the noise ratio of the panel (0 for ``"clean"``).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from .. import data as data_mod
from .. import plots
from ..data import Dataset
from ..data.encoding import as_real
from ..errors import InputError, check_alpha, check_choices, check_finite_positive, check_seed
from ..poison import ATTACKS, flip_mask
from .common import Result, notice, open_run, poisoned_training_set

__all__ = ["COLUMNS", "CLEAN", "NAME", "embed", "run", "cells", "label_names"]

NAME = "embed"

CLEAN = "clean"
COLUMNS = ["panel", "index", "x", "y", "label", "true_label", "poisoned", "delta", "alpha"]
MIN_POINTS = 4  # t-SNE needs a few points: perplexity is capped at (n - 1) / 3


def _check_attacks(attacks: Any) -> tuple[str, ...]:
    return check_choices(attacks, ATTACKS, "poisoning attack")


def _check_max_points(max_points: Any) -> int | None:
    if max_points is None:
        return None
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < MIN_POINTS:
        raise InputError(f"max_points must be None or an integer >= {MIN_POINTS}, got {max_points!r}")
    return int(max_points)


def _allocate(counts: np.ndarray, m: int) -> np.ndarray:
    """Split ``m`` places in proportion to ``counts``: floors, then the largest remainders (ties: first)."""
    exact = m * counts / counts.sum()
    quota = np.floor(exact).astype(int)
    order = np.lexsort((np.arange(len(counts)), -(exact - quota)))
    quota[order[: m - int(quota.sum())]] += 1
    return quota


def _stratified_subsample(labels: np.ndarray, strata: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Sorted indices of ``m`` rows, stratified by ``labels`` and, within a label, by ``strata``.

    Places go to each label in proportion to its size (so the class balance is
    kept as closely as rounding allows), then within a label in proportion to
    the sub-strata sizes; rows within a sub-stratum are a random choice seeded
    by ``seed``. Deterministic.
    """
    n = len(labels)
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, 0x7E5E])
    label_values, label_counts = np.unique(labels, return_counts=True)
    chosen = []
    for lv, lq in zip(label_values, _allocate(label_counts, m)):
        in_label = labels == lv
        sub_values, sub_counts = np.unique(strata[in_label], return_counts=True)
        for sv, q in zip(sub_values, _allocate(sub_counts, int(lq))):
            chosen.append(rng.permutation(np.flatnonzero(in_label & (strata == sv)))[:q])
    return np.sort(np.concatenate(chosen))


def _tsne(features: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """2-D t-SNE coordinates of ``features`` (rows), single-threaded.

    One thread: the Barnes-Hut gradient's OpenMP threads contend with JAX's
    and with other processes on a few shared cores, turning a 0.1 s embedding
    of a few hundred points into tens of seconds; the coordinates are the same
    for any thread count.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(features)
    tsne = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", random_state=seed)
    with threadpool_limits(limits=1):
        return tsne.fit_transform(np.asarray(features, dtype=np.float64))


def _deltas(ds: Dataset) -> np.ndarray:
    raw = ds.info.get("delta_train") if isinstance(ds.info, dict) else None
    n = len(ds.y_train)
    if raw is None:
        return np.full(n, np.nan)
    deltas = np.asarray(raw, dtype=float)
    if deltas.shape != (n,):
        raise InputError(
            f"dataset {ds.name!r}: info['delta_train'] has {deltas.size} values for {n} training rows; "
            "give one Delta per training row"
        )
    return deltas


def embed(
    ds: Dataset,
    attacks: Iterable[str] = ("label-flip", "feature-randomization"),
    alpha: float = 0.3,
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    max_points: int | None = None,
) -> pd.DataFrame:
    """t-SNE of ``ds``'s training set, clean and poisoned by each of ``attacks`` at ``alpha``.

    Args:
      ds: the data set; only the training split is embedded.
      attacks: attack names from :data:`qunlearn.poison.ATTACKS`; one panel each,
        after the ``"clean"`` panel.
      alpha: noise ratio in [0, 1).
      seed: seeds the poisoning keys (as run 0 of the noise-ratio sweep), the
        subsample and t-SNE's ``random_state``.
      perplexity: t-SNE perplexity (> 0), capped at ``(n - 1) / 3``.
      max_points: if set and smaller than the training set, embed this many
        rows, the same rows in every panel, chosen deterministically and
        stratified by true label and by which attacks poisoned the row (so the
        class balance and the poisoned fractions are kept).

    Returns:
      the tidy table described in the module docstring (columns :data:`COLUMNS`).
    """
    if not isinstance(ds, Dataset):
        raise InputError(f"ds must be a qunlearn.data.Dataset, got {type(ds).__name__}; "
                         "load one with qunlearn.data.load")
    attacks = _check_attacks(attacks)
    alpha = check_alpha(alpha)
    seed = check_seed(seed)
    perplexity = check_finite_positive(perplexity, "perplexity")
    max_points = _check_max_points(max_points)
    n = len(ds.y_train)
    if n < MIN_POINTS:
        raise InputError(f"dataset {ds.name!r} has {n} training rows; t-SNE needs at least {MIN_POINTS}")
    deltas = _deltas(ds)
    y_true = np.asarray(ds.y_train, dtype=np.int32)

    # (panel, alpha, inputs, labels as trained on, poisoned mask), poisoning the full training set.
    panels = [(CLEAN, 0.0, ds.x_train, y_true, np.zeros(n, dtype=bool))]
    for attack in attacks:
        x_p, y_p, idx = poisoned_training_set(seed, ds, attack, alpha, 0)
        panels.append((attack, alpha, x_p, y_p, flip_mask(n, idx)))

    rows = np.arange(n)
    if max_points is not None and max_points < n:
        pattern = np.zeros(n, dtype=np.int64)  # which attacks poisoned the row, as bits
        for _, _, _, _, mask in panels[1:]:
            pattern = 2 * pattern + mask
        rows = _stratified_subsample(y_true, pattern, max_points, seed)

    frames = []
    for name, panel_alpha, x, y, mask in panels:
        coords = _tsne(as_real(np.asarray(x)[rows]), perplexity, seed)
        frames.append(
            pd.DataFrame(
                {
                    "panel": name,
                    "index": rows.astype(np.int64),
                    "x": coords[:, 0].astype(np.float64),
                    "y": coords[:, 1].astype(np.float64),
                    "label": np.asarray(y)[rows].astype(np.int64),
                    "true_label": y_true[rows].astype(np.int64),
                    "poisoned": mask[rows],
                    "delta": deltas[rows],
                    "alpha": float(panel_alpha),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def label_names(ds: Dataset) -> tuple[str, str] | None:
    """Legend names of labels 0 and 1 for a known data set, else None ("label 0", "label 1")."""
    digits = ds.info.get("digits") if isinstance(ds.info, dict) else None
    if digits is not None and len(digits) == 2:
        return (f"digit {digits[0]} (label 0)", f"digit {digits[1]} (label 1)")
    if ds.name == "xxz":
        return ("XY phase (label 0)", "Néel phase (label 1)")
    return None


class EmbedResult(Result):
    def __init__(self, cfg, run_dir, table):
        super().__init__(cfg, run_dir)
        self.table = table

    def build_figures(self, title: str | None = None, names: tuple[str, str] | None = None) -> dict:
        """``{"embedding": figure}`` built in memory from the stored table; nothing written.

        The table does not hold the data set's label names: without ``names`` they are those
        :func:`label_names` gives the data set the config loads (its digits, from the config's data
        options or the loader's defaults), found without loading it. The default title is :func:`run`'s.
        """
        from types import SimpleNamespace

        cfg, table = self.cfg, self.table
        if names is None:
            options = {**data_mod.default_options(cfg.dataset), **cfg.data_options}
            digits = options.get("digits")
            info = {"digits": list(digits)} if digits is not None else {}
            names = label_names(SimpleNamespace(name=cfg.dataset, info=info))
        title = title or f"t-SNE of the {cfg.dataset} training set (n = {table['index'].nunique()}, seed {cfg.seed})"
        return {"embedding": plots.make_embedding_figure(table, title=title,
                                                         color_by_delta=bool(table["delta"].notna().any()),
                                                         label_names=names)}

    def figures(self, title: str | None = None) -> list:
        return [self.path / "embedding.png", self.path / "embedding.pdf"]  # drawn by run: the data set names them

    def summary(self) -> list:
        counts = self.table.groupby("panel", sort=False)["poisoned"].agg(["size", "sum"]).reset_index()
        counts.columns = ["panel", "points", "poisoned"]
        return [("t-SNE panels", counts.astype(str))]

    def notes(self) -> list[str]:
        return [f"table:    {self.path / 'embedding.csv'}"]


def run(cfg, workdir, *, fresh: bool = False, executor=None, on_cell=None,
        max_points: int | None = None) -> EmbedResult:
    """Embed the configured data set's training set into ``workdir``; return the table.

    Writes ``embedding.csv`` and ``embedding.png`` / ``embedding.pdf``. The data
    are loaded and every input is checked (and the embedding computed) before
    the directory is created, so bad input leaves nothing behind. A finished
    embedding is not computed again. (``executor`` is accepted for a uniform
    interface; t-SNE runs here.)
    """
    import time

    run_dir = open_run(workdir, NAME, cfg.to_dict(), fresh)
    csv, png = run_dir.path / "embedding.csv", run_dir.path / "embedding.png"
    if not fresh and csv.exists() and png.exists():
        from ..report import read_table

        try:
            table = read_table(csv)
            whole = len(table) > 0
        except InputError:  # garbled, or not the table qunlearn writes
            whole = False
        if whole:
            if on_cell:
                on_cell("t-SNE", "skipped", 0.0)
            return EmbedResult(cfg, run_dir, table)
        notice(f"{run_dir.path}: embedding.csv is not a readable table; computing it again")
    t0 = time.perf_counter()
    ds = data_mod.load(cfg.dataset, **cfg.data_options)
    table = embed(ds, cfg.attacks, cfg.alpha, seed=cfg.seed, perplexity=cfg.perplexity, max_points=max_points)
    run_dir.start(ds)
    run_dir.write_table("embedding.csv", table)
    has_delta = bool(table["delta"].notna().any())
    plots.embedding_figure(
        table,
        run_dir.path / "embedding",
        title=f"t-SNE of the {ds.name} training set (n = {table['index'].nunique()}, seed {cfg.seed})",
        color_by_delta=has_delta,
        label_names=label_names(ds),
    )
    if on_cell:
        on_cell("t-SNE", "done", time.perf_counter() - t0)
    return EmbedResult(cfg, run_dir, table)


def cells(cfg) -> list[str]:
    return ["t-SNE"]


def read_result(directory, record: dict) -> EmbedResult | None:
    """The result of a finished embedding, read from its directory (None while it is unfinished)."""
    from ..config import EmbedConfig
    from .common import StoredRun, read_tables, stored_config

    tables, cfg = read_tables(directory, "embedding.csv"), stored_config(EmbedConfig, record.get("config", {}))
    return None if tables is None or cfg is None else EmbedResult(cfg, StoredRun(directory), tables[0])
