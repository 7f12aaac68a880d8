"""Misuse of the installed ``qunlearn`` command: a table of bad or hostile inputs.

Every entry runs the installed entry point as a real subprocess (``COLUMNS=120``,
its own ``QUNLEARN_CACHE_DIR`` and working directory under tmp, stdin closed,
20 s limit) and must be refused the way the CLI promises:

* exit status 2;
* stderr is exactly one non-empty line, starting with ``qunlearn: error:`` and
  saying what is wrong (every regular expression of the entry is found in it,
  ignoring case);
* no ``Traceback`` on stdout or stderr;
* finished within 20 s (a timeout is reported as a hang);
* nothing touched: the fixture tree (one finished run, made once per module by a
  real cheap command, a user's own folder, other runs and data files) is
  byte-identical afterwards, the entry's fresh path ``{NEW}`` was not created and
  its working directory is still empty (no default ``runs/...`` folder).

The subprocesses run two at a time in one module-scoped fixture; each entry is
then its own test (its id names it) asserting on the collected result.
Set ``QUNLEARN_MISUSE_REPORT=path.json`` to also dump every result there.

The table holds over 350 entries. A default run (CI) checks a deterministic
selection of more than 160 of them, every category included (every other entry,
and every entry marked ``always``, the ones that found a defect), so that the
suite stays fast on 2 cores; ``QUNLEARN_MISUSE_ALL=1`` checks all of them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

EXE = str(Path(sys.executable).parent / "qunlearn")
TIMEOUT_S = 20.0
WORKERS = 2
PREFIX = "qunlearn: error:"

# ---------------------------------------------------------------- the table

# Placeholders, filled in by the fixture:
#   {RUN}   a finished poison run (made by RUN_CMD); must stay byte-identical
#   {FX}    the fixture tree (user folder, other runs, data files, TOML files); must stay byte-identical
#   {USER}  a user's own non-empty folder inside {FX}
#   {PIPES} a folder of named pipes (outside {FX}: never read by the snapshot)
#   {NEW}   a fresh path of this entry only; must not be created
#   {LONG}  a 300-character file name

RUN_CMD = ("poison --preset quick --model mlp --attack label-flip --alphas 0,0.3 --runs 1 --epochs 1")

P = RUN_CMD  # the run's own command: a bad value into --out {RUN} that slips through would resume/overwrite it
U = "unlearn --preset quick --model mlp --methods retrain --runs 1 --epochs 1 --train-epochs 1"
S = "sweep scrub --preset quick --model mlp --grid 0,0.5 --runs 1 --epochs 1 --train-epochs 1"
L = "landscape --preset quick --model mlp --alphas 0.3 --seeds 0 --epochs 1"
E = "embed"
R = "reproduce mnist --preset quick --no-report"

POSITIVE = r"positive|>= ?1|at least 1|greater than 0|> ?0"
NONNEG = r"non-?negative|>= ?0|negative"
TOO_BIG = (r"too (large|big|many|long|deep)|more than|at most|exceed|out of range|limit|maximum|must be (<|below|less)"
           r"|does not fit")
TOO_MANY = r"too many|more than"
SYSTEM = r"system folder|cannot|not writable|read-only|permission|not allowed"
NOT_REGULAR = r"regular file|not a file|\ba pipe\b|fifo"
OTHER_RUN = r"holds a 'poison' run"
ALPHA_RANGE = r"\[0, ?1\)"
EMPTY = r"empty|blank"
REPEAT = r"twice|repeat|duplicate|more than once"
FINITE = r"finite|float32|complex64|overflow"
SIDE = r"does not exist|no such|not found|missing"


@dataclass(frozen=True)
class Bad:
    id: str
    args: tuple[str, ...]  # with placeholders
    expect: tuple[str, ...]  # regular expressions, all found in the error line (case-insensitive)


ENTRIES: list[Bad] = []


def _cmd(base: str, extra: str = "", out: str | None = None) -> tuple[str, ...]:
    """``base`` with the options of ``extra`` replacing its own (a flag given in ``extra`` drops it from ``base``),
    then ``--out out`` unless ``extra`` names --out."""
    toks = shlex.split(extra)
    given = {t.split("=", 1)[0] for t in toks if t.startswith("--")} - {"--weight"}
    b = shlex.split(base)
    res, i = [], 0
    while i < len(b):
        t = b[i]
        if t.startswith("--") and t in given:
            i += 2 if i + 1 < len(b) and not b[i + 1].startswith("--") else 1
            continue
        res.append(t)
        i += 1
    res += toks
    if out is not None and "--out" not in given:
        res += ["--out", out]
    return tuple(res)


ALWAYS = {  # entries that found a defect: checked on every run
    "sweep-grid-1e300", "report-garbage-results", "poison-out-empty-string", "reproduce-config-parts-repeated",
    "reproduce-config-sweep-grid-1e300", "embed-perplexity-huge", "poison-config-directory", "poison-config-fifo",
    "config-show-fifo", "data-xxz-phase-seed-huge", "poison-model-empty", "landscape-seeds-empty-item",
    "landscape-seeds-empty", "poison-config-data-unknown", "poison-config-data-huge", "landscape-n-hessian-too-many",
    "poison-config-preset-unknown",
    # noise models (new): every one checked
    "poison-config-noise-p1-negative", "poison-config-noise-p2-big", "poison-config-noise-gamma-big",
    "poison-config-noise-gamma-nan", "poison-config-noise-shots-zero", "poison-config-noise-shots-float",
    "poison-config-noise-trajectories-zero", "poison-config-noise-trajectories-text", "poison-config-noise-on-mlp",
    "poison-config-noise-unknown-field", "poison-config-noise-not-table", "poison-config-noise-memory",
    "reproduce-parts-unknown", "reproduce-parts-empty", "reproduce-parts-gauge-mnist",
}


def bad(id: str, base: str, extra: str, *expect: str, out: str | None = "{NEW}") -> None:
    assert expect, id
    ENTRIES.append(Bad(id, _cmd(base, extra, out), expect))


# --- poison: names -------------------------------------------------------------------------------------------
bad("poison-dataset-unknown", P, "--dataset cifar", "unknown dataset", "cifar", out="{RUN}")
bad("poison-dataset-uppercase", P, "--dataset MNIST", "unknown dataset", "MNIST", out="{RUN}")
bad("poison-dataset-empty", P, "--dataset ''", "dataset", out="{RUN}")
bad("poison-model-unknown", P, "--model cnn", "unknown model", "cnn", out="{RUN}")
bad("poison-model-empty", P, "--model ''", "model", EMPTY + "|no model", out="{RUN}")
bad("poison-model-repeated", P, "--model mlp,mlp", "mlp", REPEAT, out="{RUN}")
bad("poison-model-empty-item", P, "--model mlp,,qnn", "model", EMPTY, out="{RUN}")
bad("poison-model-trailing-comma", P, "--model mlp,", "model", EMPTY, out="{RUN}")
bad("poison-attack-unknown", P, "--attack backdoor", "unknown attack", "backdoor", out="{RUN}")
bad("poison-attack-repeated", P, "--attack label-flip,label-flip", "label-flip", REPEAT, out="{RUN}")
bad("poison-attack-empty-item", P, "--attack label-flip,,feature-randomization", "attack", EMPTY, out="{RUN}")
bad("poison-attack-empty", P, "--attack ''", "attack", EMPTY + "|no attack", out="{RUN}")
bad("poison-preset-unknown", P, "--preset fast", "unknown preset", "fast", out="{RUN}")
bad("poison-precision-complex256", P, "--precision complex256", "precision", "complex256", out="{RUN}")
bad("poison-precision-float32", P, "--precision float32", "precision", "float32", out="{RUN}")
# --- poison: noise ratios ------------------------------------------------------------------------------------
bad("poison-alphas-one", P, "--alphas 0,1", "alpha", ALPHA_RANGE, out="{RUN}")
bad("poison-alphas-above-one", P, "--alphas 0,1.5", "alpha", ALPHA_RANGE, out="{RUN}")
bad("poison-alphas-negative", P, "--alphas=-0.1,0.3", "alpha", ALPHA_RANGE, out="{RUN}")
bad("poison-alphas-nan", P, "--alphas 0,nan", "alpha", "nan", out="{RUN}")
bad("poison-alphas-inf", P, "--alphas 0,inf", "alpha", "inf", out="{RUN}")
bad("poison-alphas-text", P, "--alphas 0,abc", "alpha", "abc", out="{RUN}")
bad("poison-alphas-empty", P, "--alphas ''", "alpha", EMPTY, out="{RUN}")
bad("poison-alphas-only-comma", P, "--alphas ,", "alpha", EMPTY, out="{RUN}")
bad("poison-alphas-empty-item", P, "--alphas 0,,0.3", "alpha", EMPTY, out="{RUN}")
bad("poison-alphas-repeated", P, "--alphas 0,0.3,0.3", "alpha", REPEAT, out="{RUN}")
bad("poison-alphas-repeated-by-rounding", P, "--alphas 0.3,0.30", "alpha", REPEAT, out="{RUN}")
bad("poison-alphas-range-reversed", P, "--alphas 0.9:0:0.1", "alpha", r"stop < start|empty|revers", out="{RUN}")
bad("poison-alphas-range-zero-step", P, "--alphas 0:0.9:0", "alpha", "step", out="{RUN}")
bad("poison-alphas-range-negative-step", P, "--alphas 0:0.9:-0.1", "alpha", "step", out="{RUN}")
bad("poison-alphas-range-nan-stop", P, "--alphas 0:nan:0.1", "alpha", "finite|nan", out="{RUN}")
bad("poison-alphas-range-two-parts", P, "--alphas 0:0.9", "alpha", "start:stop:step", out="{RUN}")
bad("poison-alphas-range-four-parts", P, "--alphas 0:0.9:0.1:1", "alpha", "start:stop:step", out="{RUN}")
bad("poison-alphas-range-past-one", P, "--alphas 0:1:0.25", "alpha", ALPHA_RANGE, out="{RUN}")
bad("poison-alphas-range-absurd", P, "--alphas 0:0.9:1e-7", "alpha", TOO_MANY, out="{RUN}")
bad("poison-alphas-range-absurd-new", P, "--alphas 0:0.9:1e-9", "alpha", TOO_MANY)
# --- poison: integers ----------------------------------------------------------------------------------------
bad("poison-runs-zero", P, "--runs 0", "runs", POSITIVE, out="{RUN}")
bad("poison-runs-negative", P, "--runs -3", "runs", POSITIVE, out="{RUN}")
bad("poison-runs-billion", P, "--runs 1000000000", "runs", TOO_BIG, out="{RUN}")
bad("poison-runs-billion-new", P, "--runs 1000000000", "runs", TOO_BIG)
bad("poison-runs-text", P, "--runs abc", "--runs", "integer", out="{RUN}")
bad("poison-runs-fraction", P, "--runs 1.5", "--runs", "integer", out="{RUN}")
bad("poison-runs-no-value", P, "--runs", "--runs", "requires an argument", out=None)
bad("poison-epochs-zero", P, "--epochs 0", "epochs", POSITIVE, out="{RUN}")
bad("poison-epochs-negative", P, "--epochs -5", "epochs", POSITIVE, out="{RUN}")
bad("poison-epochs-ten-billion", P, "--epochs 10000000000", "epochs", TOO_BIG)
bad("poison-batch-size-zero", P, "--batch-size 0", "batch", POSITIVE, out="{RUN}")
bad("poison-batch-size-negative", P, "--batch-size -1", "batch", POSITIVE, out="{RUN}")
bad("poison-seed-huge", P, "--seed 99999999999999999999", "seed", TOO_BIG, out="{RUN}")
bad("poison-seed-huge-new", P, "--seed 99999999999999999999", "seed", TOO_BIG)
bad("poison-seed-negative", P, "--seed -1", "seed", NONNEG, out="{RUN}")
bad("poison-seed-float", P, "--seed 1e3", "--seed", "integer", out="{RUN}")
# --- poison: learning rates ----------------------------------------------------------------------------------
bad("poison-lr-1e308", P, "--lr 1e308", "learning rate|--lr", FINITE, out="{RUN}")
bad("poison-lr-1e308-new", P, "--lr 1e308", "learning rate|--lr", FINITE)
bad("poison-lr-nan", P, "--lr nan", "learning rate|--lr", "nan|finite", out="{RUN}")
bad("poison-lr-inf", P, "--lr inf", "learning rate|--lr", "inf|finite", out="{RUN}")
bad("poison-lr-negative", P, "--lr -1", "learning rate|--lr", "positive", out="{RUN}")
bad("poison-lr-zero", P, "--lr 0", "learning rate|--lr", "positive", out="{RUN}")
bad("poison-lr-text", P, "--lr fast", "--lr", "float|number", out="{RUN}")
# --- poison: data paths --------------------------------------------------------------------------------------
bad("poison-mnist-path-missing", P, "--mnist-path {FX}/does-not-exist.npz", SIDE, "does-not-exist")
bad("poison-mnist-path-text-file", P, "--mnist-path {FX}/notes.txt", "MNIST", r"notes\.txt")
bad("poison-mnist-path-zero-bytes", P, "--mnist-path {FX}/empty.npz", "MNIST", r"empty\.npz")
bad("poison-mnist-path-fifo", P, "--mnist-path {PIPES}/pipe.npz", "MNIST|mnist.path", r"pipe\.npz")
bad("poison-mnist-path-corrupt-npz", P, "--mnist-path {FX}/corrupt.npz", "MNIST", r"corrupt\.npz")
bad("poison-mnist-path-npz-no-keys", P, "--mnist-path {FX}/nokeys.npz", "MNIST", "x_train")
bad("poison-mnist-path-npz-bad-shape", P, "--mnist-path {FX}/badshape.npz", "MNIST", "shape|28")
bad("poison-mnist-path-npz-bad-labels", P, "--mnist-path {FX}/badlabels.npz", "MNIST", "label")
bad("poison-mnist-path-garbage-dir", P, "--mnist-path {FX}/garbage", "MNIST", "not found|IDX")
bad("poison-mnist-path-garbage-idx", P, "--mnist-path {FX}/badidx", "MNIST", "magic|corrupt|truncated")
bad("poison-mnist-path-for-xxz", P, "--dataset xxz --mnist-path {FX}/notes.txt", "--mnist-path", "mnist")
bad("poison-xxz-phase-for-mnist", P, "--xxz-phase fixed", "--xxz-phase", "xxz", out="{RUN}")
bad("poison-xxz-phase-unknown", P, "--dataset xxz --xxz-phase bogus", "phase", "bogus")
# --- poison: executors ---------------------------------------------------------------------------------------
bad("poison-executor-unknown", P, "--executor spark", "unknown executor", "spark", out="{RUN}")
bad("poison-workers-zero", P, "--executor dask --workers 0", "--workers", POSITIVE, out="{RUN}")
bad("poison-workers-negative", P, "--executor dask --workers -2", "--workers", POSITIVE, out="{RUN}")
bad("poison-workers-text", P, "--executor dask --workers many", "--workers", "integer", out="{RUN}")
bad("poison-workers-without-dask", P, "--workers 2", "--workers", "dask", out="{RUN}")
bad("poison-scheduler-without-dask", P, "--scheduler tcp://127.0.0.1:8786", "--scheduler", "dask", out="{RUN}")
bad("poison-dask-both", P, "--executor dask --workers 2 --scheduler tcp://127.0.0.1:8786", "--workers",
    "--scheduler", r"both|either|one of", out="{RUN}")
bad("poison-dask-neither", P, "--executor dask", "--scheduler", "--workers", out="{RUN}")
bad("poison-scheduler-no-scheme", P, "--executor dask --scheduler localhost:8786", "scheduler", "address")
bad("poison-scheduler-no-host", P, "--executor dask --scheduler tcp://", "scheduler", r"address|host")
bad("poison-scheduler-bad-port", P, "--executor dask --scheduler tcp://127.0.0.1:notaport", "scheduler",
    r"address|port")
bad("poison-scheduler-empty", P, "--executor dask --scheduler ''", "scheduler", r"address|empty")
# --- poison: output paths ------------------------------------------------------------------------------------
bad("poison-out-is-file", P, "", "is a file|not a directory", r"notes\.txt", out="{FX}/notes.txt")
bad("poison-out-under-file", P, "", "is a file|not a directory", r"notes\.txt", out="{FX}/notes.txt/run")
bad("poison-out-name-too-long", P, "", r"too long|name", out="{NEW}/{LONG}")
bad("poison-out-proc", P, "", "/proc", SYSTEM,
    out="/proc/qunlearn-misuse-out")
bad("poison-out-proc-self", P, "", "/proc", SYSTEM,
    out="/proc/self/qunlearn-misuse-out")
bad("poison-out-proc-file", P, "", "/proc", r"system folder|is a file|not a directory", out="/proc/self/status")
bad("poison-out-sys", P, "", "/sys", SYSTEM,
    out="/sys/qunlearn-misuse-out")
bad("poison-out-sys-kernel", P, "", "/sys", SYSTEM,
    out="/sys/kernel/qunlearn-misuse-out")
bad("poison-out-inside-cells", P, "", "inside", out="{RUN}/cells/run")
bad("poison-out-is-cells", P, "", r"inside|not a qunlearn run", out="{RUN}/cells")
bad("poison-out-user-folder", P, "", r"not empty|did not write|not a qunlearn run", out="{USER}")
bad("poison-out-user-folder-fresh", P, "--fresh", r"not empty|did not write|not a qunlearn run", out="{USER}")
bad("poison-out-inside-user-run", P, "--fresh", r"did not write|not empty", out="{FX}/userrun")
bad("poison-out-run-other-config", P, "--runs 2", "different config", out="{RUN}")
bad("poison-out-old-format", P, "", r"incompatible|format", out="{FX}/oldrun")
bad("poison-out-corrupt-run", P, "", r"corrupt|unreadable", out="{FX}/corruptrun")
bad("poison-out-corrupt-run-fresh", P, "--fresh", r"corrupt|unreadable", out="{FX}/corruptrun")
bad("poison-out-empty-string", P, "", "--out|output", EMPTY, out="")
bad("poison-out-no-value", P, "--out", "--out", "requires an argument", out=None)
# --- poison: TOML config files -------------------------------------------------------------------------------
PC = "poison --preset quick"
bad("poison-config-missing", PC, "--config {FX}/toml/missing.toml", "config file", SIDE, out="{RUN}")
bad("poison-config-malformed", PC, "--config {FX}/toml/malformed.toml", "config file", "TOML", out="{RUN}")
bad("poison-config-binary", PC, "--config {FX}/toml/binary.toml", "config file", r"TOML|UTF|decode", out="{RUN}")
bad("poison-config-directory", PC, "--config {FX}/garbage", "config", "garbage", r"director|not a (regular )?file",
    out="{RUN}")
bad("poison-config-fifo", PC, "--config {PIPES}/pipe.toml", "config", r"pipe\.toml", NOT_REGULAR, out="{RUN}")
bad("poison-config-unknown-key", PC, "--config {FX}/toml/unknown-key.toml", "unknown config key", "bogus_key",
    out="{RUN}")
bad("poison-config-unknown-dataset", PC, "--config {FX}/toml/unknown-dataset.toml", "cifar", "unknown",
    out="{RUN}")
bad("poison-config-complex256", PC, "--config {FX}/toml/complex256.toml", "precision", "complex256", out="{RUN}")
bad("poison-config-runs-float", PC, "--config {FX}/toml/runs-float.toml", "runs", "integer|" + TOO_BIG, out="{RUN}")
bad("poison-config-runs-billion", PC, "--config {FX}/toml/runs-billion.toml", "runs", TOO_BIG, out="{RUN}")
bad("poison-config-runs-text", PC, "--config {FX}/toml/runs-text.toml", "runs", "integer|number", out="{RUN}")
bad("poison-config-depth-million", PC, "--config {FX}/toml/depth-million.toml", "depth", TOO_BIG, out="{RUN}")
bad("poison-config-depth-zero", PC, "--config {FX}/toml/depth-zero.toml", "depth", POSITIVE, out="{RUN}")
bad("poison-config-noise-p1-negative", PC, "--config {FX}/toml/noise-p1-negative.toml", "p1", r"\[0, 1\]", "-0.1",
    out="{RUN}")
bad("poison-config-noise-p2-big", PC, "--config {FX}/toml/noise-p2-big.toml", "p2", r"\[0, 1\]", out="{RUN}")
bad("poison-config-noise-gamma-big", PC, "--config {FX}/toml/noise-gamma-big.toml", "gamma", r"\[0, 1\]", out="{RUN}")
bad("poison-config-noise-gamma-nan", PC, "--config {FX}/toml/noise-gamma-nan.toml", "gamma", "nan", out="{RUN}")
bad("poison-config-noise-shots-zero", PC, "--config {FX}/toml/noise-shots-zero.toml", "shots", POSITIVE, out="{RUN}")
bad("poison-config-noise-shots-float", PC, "--config {FX}/toml/noise-shots-float.toml", "shots", "integer", out="{RUN}")
bad("poison-config-noise-trajectories-zero", PC, "--config {FX}/toml/noise-trajectories-zero.toml", "trajectories",
    POSITIVE, out="{RUN}")
bad("poison-config-noise-trajectories-text", PC, "--config {FX}/toml/noise-trajectories-text.toml", "trajectories",
    "integer", out="{RUN}")
bad("poison-config-noise-on-mlp", PC, "--config {FX}/toml/noise-on-mlp.toml", "noise", "QNN", "mlp", out="{RUN}")
bad("poison-config-noise-unknown-field", PC, "--config {FX}/toml/noise-unknown-field.toml", "noise", "p3", out="{RUN}")
bad("poison-config-noise-not-table", PC, "--config {FX}/toml/noise-not-table.toml", "noise", "table", out="{RUN}")
bad("poison-config-noise-memory", PC, "--config {FX}/toml/noise-memory.toml", "trajectories", r"memory|GiB|" + TOO_BIG)
bad("poison-config-model-no-kind", PC, "--config {FX}/toml/no-kind.toml", "kind", "mynet", out="{RUN}")
bad("poison-config-model-unknown-kind", PC, "--config {FX}/toml/unknown-kind.toml", "kind", "transformer",
    out="{RUN}")
bad("poison-config-hidden-text", PC, "--config {FX}/toml/hidden-text.toml", "hidden", out="{RUN}")
bad("poison-config-hidden-zero", PC, "--config {FX}/toml/hidden-zero.toml", "hidden|width", POSITIVE, out="{RUN}")
bad("poison-config-hidden-huge", PC, "--config {FX}/toml/hidden-huge.toml", "hidden|width", r"memory|" + TOO_BIG)
bad("poison-config-models-empty", PC, "--config {FX}/toml/models-empty.toml", r"no model|empty", out="{RUN}")
bad("poison-config-models-string", PC, "--config {FX}/toml/models-string.toml", "models", "table", out="{RUN}")
bad("poison-config-train-int", PC, "--config {FX}/toml/train-int.toml", "train", "table", out="{RUN}")
bad("poison-config-batch-half", PC, "--config {FX}/toml/batch-half.toml", "batch.size", "half", out="{RUN}")
bad("poison-config-lr-1e300", PC, "--config {FX}/toml/lr-1e300.toml", "learning rate", FINITE, out="{RUN}")
bad("poison-config-epochs-zero", PC, "--config {FX}/toml/epochs-zero.toml", "epochs", POSITIVE, out="{RUN}")
bad("poison-config-preset-int", PC.replace(" --preset quick", ""), "--config {FX}/toml/preset-int.toml", "preset",
    "string", out="{RUN}")
bad("poison-config-preset-unknown", PC.replace(" --preset quick", ""), "--config {FX}/toml/preset-unknown.toml",
    "unknown preset", "fast", out="{RUN}")
bad("poison-config-alphas-string", PC, "--config {FX}/toml/alphas-string.toml", "alphas", "list", out="{RUN}")
bad("poison-config-alphas-empty", PC, "--config {FX}/toml/alphas-empty.toml", "alpha", EMPTY, out="{RUN}")
bad("poison-config-seed-negative", PC, "--config {FX}/toml/seed-negative.toml", "seed", NONNEG, out="{RUN}")
bad("poison-config-data-huge", PC, "--config {FX}/toml/data-huge.toml", r"n_per_class", r"validation|" + TOO_BIG,
    out="{RUN}")
bad("poison-config-data-unknown", PC, "--config {FX}/toml/data-unknown.toml", "unknown option", "bogus",
    out="{RUN}")
# --- unknown flags and arguments -----------------------------------------------------------------------------
bad("poison-unknown-flag", P, "--bogus 1", "no such option", "--bogus", out="{RUN}")
bad("poison-flag-of-other-command", P, "--methods retrain", "no such option", "--methods", out="{RUN}")
bad("poison-extra-argument", P, "extra", "unexpected extra argument", "extra", out="{RUN}")
bad("top-unknown-command", "train", "", "no such command", "train", out=None)
bad("top-unknown-flag", "--version", "", "no such option", "--version", out=None)
bad("data-unknown-subcommand", "data cifar", "", "no such command", "cifar", out=None)
bad("config-unknown-subcommand", "config edit", "", "no such command", "edit", out=None)

# --- unlearn -------------------------------------------------------------------------------------------------
bad("unlearn-method-unknown", U, "--methods retrain,forget", "unknown unlearning method|unknown method", "forget")
bad("unlearn-methods-empty-item", U, "--methods retrain,,finetune", "method", EMPTY)
bad("unlearn-methods-repeated", U, "--methods retrain,retrain", "retrain", REPEAT)
bad("unlearn-methods-empty", U, "--methods ''", "method", EMPTY + "|no unlearning method")
bad("unlearn-methods-only-comma", U, "--methods ,", "method", EMPTY + "|no unlearning method")
bad("unlearn-weight-repeated", U, "--methods scrub --weight scrub.fo_w=0.1 --weight scrub.fo_w=0.2", "fo_w",
    REPEAT)
bad("unlearn-weight-of-method-without-it", U, "--methods finetune --weight finetune.fo_w=0.1", "finetune", "fo_w")
bad("unlearn-weight-of-method-not-run", U, "--methods retrain --weight scrub.fo_w=0.3", "scrub",
    r"not run|not (among|in|one of) the|--methods|not selected|not chosen")
bad("unlearn-weight-no-dot", U, "--methods scrub --weight nodot=1", "METHOD.WEIGHT=VALUE")
bad("unlearn-weight-no-name", U, "--methods scrub --weight =1", "METHOD.WEIGHT=VALUE")
bad("unlearn-weight-no-value", U, "--methods scrub --weight scrub.fo_w=", "weight", r"number|empty")
bad("unlearn-weight-1e300", U, "--methods scrub --weight scrub.fo_w=1e300", "fo_w", FINITE)
bad("unlearn-weight-nan", U, "--methods scrub --weight scrub.fo_w=nan", "weight", "finite|nan")
bad("unlearn-weight-negative", U, "--methods scrub --weight scrub.fo_w=-1", "weight", NONNEG)
bad("unlearn-weight-text", U, "--methods scrub --weight scrub.fo_w=abc", "weight", "abc")
bad("unlearn-weight-unknown-name", U, "--methods scrub --weight scrub.bogus_w=0.1", "bogus_w")
bad("unlearn-weight-unknown-method", U, "--methods scrub --weight bogus.fo_w=0.1", "bogus")
bad("unlearn-alpha-zero", U, "--alpha 0", "alpha", r"> ?0|poison")
bad("unlearn-alpha-one", U, "--alpha 1", "alpha", ALPHA_RANGE)
bad("unlearn-alpha-nan", U, "--alpha nan", "alpha", "nan")
bad("unlearn-alpha-text", U, "--alpha abc", "alpha", "abc")
bad("unlearn-alpha-list", U, "--alpha 0.1,0.2", "alpha", "0.1,0.2")
bad("unlearn-attack-unknown", U, "--attack backdoor", "unknown attack", "backdoor")
bad("unlearn-attack-list", U, "--attack label-flip,feature-randomization", "attack", r"unknown|one|single")
bad("unlearn-model-unknown", U, "--model cnn", "unknown model", "cnn")
bad("unlearn-runs-zero", U, "--runs 0", "runs", POSITIVE)
bad("unlearn-epochs-zero", U, "--epochs 0", "epochs", POSITIVE)
bad("unlearn-train-epochs-zero", U, "--train-epochs 0", "epochs", POSITIVE)
bad("unlearn-batch-size-zero", U, "--batch-size 0", "batch", POSITIVE)
bad("unlearn-lr-1e308", U, "--lr 1e308", "learning rate|--lr", FINITE)
bad("unlearn-lr-negative", U, "--lr -1", "learning rate|--lr", "positive")
bad("unlearn-seed-negative", U, "--seed -1", "seed", NONNEG)
bad("unlearn-seed-huge", U, "--seed 99999999999999999999", "seed", TOO_BIG)
bad("unlearn-precision-complex256", U, "--precision complex256", "precision", "complex256")
bad("unlearn-mnist-path-for-xxz", U, "--dataset xxz --mnist-path {FX}/notes.txt", "--mnist-path", "mnist")
bad("unlearn-workers-zero", U, "--executor dask --workers 0", "--workers", POSITIVE)
bad("unlearn-out-is-run-of-other-experiment", U, "", OTHER_RUN, out="{RUN}")
bad("unlearn-config-weight-1e300", U, "--config {FX}/toml/unlearn-weight-1e300.toml --methods scrub", "fo_w",
    FINITE)
bad("unlearn-config-methods-repeated", U.replace(" --methods retrain", ""),
    "--config {FX}/toml/unlearn-methods-repeated.toml", "retrain", REPEAT)
bad("unlearn-config-lr-text", U, "--config {FX}/toml/unlearn-lr-text.toml", "lr|learning rate", "fast")

# --- sweep ---------------------------------------------------------------------------------------------------
bad("sweep-method-unknown", S.replace("sweep scrub", "sweep retrain"), "", "retrain", "sweep")
bad("sweep-method-missing", "sweep", "", "missing argument", out=None)
bad("sweep-grid-absurd", S, "--grid 0:0.9:1e-9", TOO_MANY, out="{RUN}")
bad("sweep-grid-absurd-new", S, "--grid 0:0.9:1e-7", TOO_MANY)
bad("sweep-grid-empty", S, "--grid ''", "grid", EMPTY)
bad("sweep-grid-empty-item", S, "--grid 0,,0.3", "grid|weight", EMPTY)
bad("sweep-grid-repeated", S, "--grid 0,0.3,0.3", "grid|weight", REPEAT)
bad("sweep-grid-reversed", S, "--grid 0.9:0:0.1", "weight|grid", r"stop < start|empty|revers")
bad("sweep-grid-zero-step", S, "--grid 0:0.9:0", "weight|grid", "step")
bad("sweep-grid-negative", S, "--grid=-1,0.5", "weight", NONNEG)
bad("sweep-grid-nan", S, "--grid nan", "weight", "finite|nan")
bad("sweep-grid-inf", S, "--grid 0,inf", "weight", "finite|inf")
bad("sweep-grid-1e300", S, "--grid 0,1e300", "weight", FINITE)
bad("sweep-grid-text", S, "--grid 0,abc", "weight", "abc")
bad("sweep-alpha-zero", S, "--alpha 0", "alpha", r"> ?0|poison")
bad("sweep-alpha-above-one", S, "--alpha 1.5", "alpha", ALPHA_RANGE)
bad("sweep-attack-unknown", S, "--attack backdoor", "unknown attack", "backdoor")
bad("sweep-model-unknown", S, "--model cnn", "unknown model", "cnn")
bad("sweep-runs-zero", S, "--runs 0", "runs", POSITIVE)
bad("sweep-epochs-zero", S, "--epochs 0", "epochs", POSITIVE)
bad("sweep-seed-negative", S, "--seed -1", "seed", NONNEG)
bad("sweep-dataset-unknown", S, "--dataset cifar", "unknown dataset", "cifar")
bad("sweep-workers-negative", S, "--executor dask --workers -2", "--workers", POSITIVE)
bad("sweep-out-is-file", S, "", "is a file|not a directory", out="{FX}/notes.txt")
bad("sweep-out-proc", S, "", "/proc", SYSTEM,
    out="/proc/qunlearn-misuse-out")
bad("sweep-out-inside-cells", S, "", "inside", out="{RUN}/cells/sweep")
bad("sweep-ga-grid-zero-step", S.replace("sweep scrub", "sweep gradient_ascent"), "--grid 0:1:0", "step")

# --- landscape -----------------------------------------------------------------------------------------------
bad("landscape-seeds-ten-thousand", L, "--seeds " + ",".join(map(str, range(10000))), "seed", TOO_BIG,
    out="{RUN}")
bad("landscape-seeds-empty-item", L, "--seeds 0,,1", "seed", EMPTY)
bad("landscape-seeds-repeated", L, "--seeds 0,0", "seed", REPEAT)
bad("landscape-seeds-negative", L, "--seeds=-1", "seed", NONNEG)
bad("landscape-seeds-text", L, "--seeds a,b", "seed", "integer")
bad("landscape-seeds-empty", L, "--seeds ''", "seed", EMPTY + "|no seed")
bad("landscape-seeds-huge", L, "--seeds 99999999999999999999", "seed", TOO_BIG)
bad("landscape-n-hessian-too-many", L, "--n-hessian 100000", r"n.hessian|hessian", TOO_BIG + "|only|more than",
    out="{RUN}")
bad("landscape-n-hessian-too-many-new", L, "--n-hessian 100000", r"n.hessian|hessian", TOO_BIG + "|only|more than")
bad("landscape-n-hessian-zero", L, "--n-hessian 0", "hessian", POSITIVE)
bad("landscape-n-hessian-negative", L, "--n-hessian -1", "hessian", POSITIVE)
bad("landscape-alphas-with-zero", L, "--alphas 0,0.3", "alpha", r"clean|> ?0")
bad("landscape-alphas-one", L, "--alphas 1", "alpha", ALPHA_RANGE)
bad("landscape-alphas-repeated", L, "--alphas 0.2,0.2", "alpha", REPEAT)
bad("landscape-alphas-absurd", L, "--alphas 0.1:0.9:1e-7", "alpha", TOO_MANY, out="{RUN}")
bad("landscape-model-unknown", L, "--model cnn", "unknown model", "cnn")
bad("landscape-epochs-zero", L, "--epochs 0", "epochs", POSITIVE)
bad("landscape-precision-complex256", L, "--precision complex256", "precision", "complex256")
bad("landscape-workers-zero", L, "--executor dask --workers 0", "--workers", POSITIVE)
bad("landscape-out-is-run-of-other-experiment", L, "", OTHER_RUN, out="{RUN}")
bad("landscape-config-test-size", L, "--config {FX}/toml/landscape-test-size.toml", "test_size")
bad("landscape-config-top-k", L, "--config {FX}/toml/landscape-top-k.toml", "top k|top_k", POSITIVE)

# --- embed ---------------------------------------------------------------------------------------------------
bad("embed-attack-unknown", E, "--attack backdoor", "unknown attack", "backdoor")
bad("embed-attack-empty", E, "--attack ''", "attack", EMPTY + "|no attack")
bad("embed-attack-repeated", E, "--attack label-flip,label-flip", "label-flip", REPEAT)
bad("embed-alpha-one", E, "--alpha 1", "alpha", ALPHA_RANGE)
bad("embed-alpha-nan", E, "--alpha nan", "alpha", "nan")
bad("embed-alpha-negative", E, "--alpha=-0.1", "alpha", ALPHA_RANGE)
bad("embed-perplexity-zero", E, "--perplexity 0", "perplexity", "positive")
bad("embed-perplexity-nan", E, "--perplexity nan", "perplexity", "finite|nan")
bad("embed-perplexity-huge", E, "--perplexity 100000", "perplexity", TOO_BIG + "|less than|samples")
bad("embed-seed-negative", E, "--seed -1", "seed", NONNEG)
bad("embed-seed-huge", E, "--seed 99999999999999999999", "seed", TOO_BIG)
bad("embed-dataset-unknown", E, "--dataset cifar", "unknown dataset", "cifar")
bad("embed-mnist-path-missing", E, "--mnist-path {FX}/does-not-exist.npz", SIDE, "does-not-exist")
bad("embed-mnist-path-fifo", E, "--mnist-path {PIPES}/pipe.npz", "MNIST|mnist.path", r"pipe\.npz")
bad("embed-xxz-phase-for-mnist", E, "--xxz-phase fixed", "--xxz-phase", "xxz")
bad("embed-xxz-phase-unknown", E, "--dataset xxz --xxz-phase bogus", "phase", "bogus")
bad("embed-out-user-folder", E, "", r"not empty|did not write|not a qunlearn run", out="{USER}")
bad("embed-out-is-run-of-other-experiment", E, "", OTHER_RUN, out="{RUN}")
bad("embed-preset-not-an-option", E, "--preset quick", "no such option", "--preset")

# --- quickstart ----------------------------------------------------------------------------------------------
Q = "quickstart"
bad("quickstart-out-is-file", Q, "", "is a file|not a directory", out="{FX}/notes.txt")
bad("quickstart-out-under-file", Q, "", "is a file|not a directory", out="{FX}/notes.txt/quick")
bad("quickstart-out-name-too-long", Q, "", r"too long|name", out="{NEW}/{LONG}")
bad("quickstart-out-proc", Q, "", "/proc", SYSTEM,
    out="/proc/qunlearn-misuse-out")
bad("quickstart-out-sys", Q, "", "/sys", SYSTEM,
    out="/sys/qunlearn-misuse-out")
bad("quickstart-out-inside-cells", Q, "", "inside", out="{RUN}/cells/quick")
bad("quickstart-out-user-folder", Q, "", r"not empty|did not write|not a qunlearn run", out="{USER}")
bad("quickstart-out-user-folder-fresh", Q, "--fresh", r"not empty|did not write|not a qunlearn run", out="{USER}")
bad("quickstart-out-run-other-config", Q, "", "different config", out="{RUN}")
bad("quickstart-preset-not-an-option", Q, "--preset paper", "no such option", "--preset", out="{RUN}")
bad("quickstart-extra-argument", Q, "now", "unexpected extra argument", "now", out="{RUN}")

# --- reproduce -----------------------------------------------------------------------------------------------
bad("reproduce-target-unknown", R.replace("mnist", "cifar"), "", "unknown target", "cifar")
bad("reproduce-target-missing", "reproduce", "", "missing argument", out=None)
bad("reproduce-preset-unknown", R, "--preset fast", "unknown preset", "fast")
bad("reproduce-parts-unknown", R, "--parts poison,bogus", "unknown part", "bogus")
bad("reproduce-parts-empty", R, "--parts ''", "part", EMPTY + "|no part")
bad("reproduce-parts-gauge-mnist", R, "--parts gauge", "gauge", "XXZ|xxz")
bad("reproduce-preset-other-dataset", R, "--preset paper-xxz", "mnist", r"no|section")
bad("reproduce-mnist-path-for-xxz", R.replace("mnist", "xxz"), "--mnist-path {FX}/notes.txt", "--mnist-path")
bad("reproduce-xxz-phase-for-mnist", R, "--xxz-phase fixed", "--xxz-phase")
bad("reproduce-xxz-phase-unknown", R.replace("mnist", "xxz"), "--xxz-phase bogus", "phase", "bogus")
bad("reproduce-mnist-path-garbage", R, "--mnist-path {FX}/garbage", "MNIST", "not found|IDX")
bad("reproduce-config-missing", R, "--config {FX}/toml/missing.toml", "config file", SIDE)
bad("reproduce-config-malformed", R, "--config {FX}/toml/malformed.toml", "TOML")
bad("reproduce-config-part-unknown", R.replace(" --preset quick", ""), "--config {FX}/toml/parts-unknown.toml",
    "unknown part", "bogus")
bad("reproduce-config-parts-empty", R.replace(" --preset quick", ""), "--config {FX}/toml/parts-empty.toml",
    "parts", EMPTY)
bad("reproduce-config-parts-repeated", R.replace(" --preset quick", ""), "--config {FX}/toml/parts-repeated.toml",
    "embed", REPEAT)
bad("reproduce-config-gauge-for-mnist", R.replace(" --preset quick", ""),
    "--config {FX}/toml/parts-gauge-mnist.toml", "gauge")
bad("reproduce-config-sweep-unknown", R.replace(" --preset quick", ""), "--config {FX}/toml/sweeps-unknown.toml",
    "retrain", "sweep")
bad("reproduce-config-sweep-grid-repeated", R.replace(" --preset quick", ""),
    "--config {FX}/toml/sweeps-grid-repeated.toml", "grid|weight", REPEAT)
bad("reproduce-config-sweep-grid-1e300", R, "--config {FX}/toml/sweeps-grid-1e300.toml", "grid|weight", FINITE)
bad("reproduce-config-embed-perplexity", R, "--config {FX}/toml/embed-perplexity.toml", "perplexity", "positive")
bad("reproduce-config-embed-unknown-key", R, "--config {FX}/toml/embed-unknown-key.toml", "unknown config key",
    "bogus")
bad("reproduce-config-unlearn-runs-billion", R.replace(" --preset quick", ""),
    "--config {FX}/toml/unlearn-runs-billion.toml", "runs", TOO_BIG)
bad("reproduce-all-config-unknown-dataset", R.replace("mnist", "all"), "--config {FX}/toml/unknown-dataset.toml",
    "cifar", "unknown")
bad("reproduce-executor-unknown", R, "--executor spark", "unknown executor", "spark")
bad("reproduce-workers-zero", R, "--executor dask --workers 0", "--workers", POSITIVE)
bad("reproduce-scheduler-without-dask", R, "--scheduler tcp://127.0.0.1:8786", "--scheduler", "dask")
bad("reproduce-scheduler-malformed", R, "--executor dask --scheduler 127.0.0.1", "scheduler", "address")
bad("reproduce-out-is-run-of-other-experiment", R, "", OTHER_RUN, out="{RUN}")
bad("reproduce-out-user-folder-fresh", R, "--fresh", r"not empty|did not write|not a qunlearn run", out="{USER}")
bad("reproduce-out-is-file", R, "", "is a file|not a directory", out="{FX}/notes.txt")
bad("reproduce-out-sys", R, "", "/sys", SYSTEM,
    out="/sys/qunlearn-misuse-out")
bad("reproduce-out-inside-cells", R, "", "inside", out="{RUN}/cells/study")

# --- report --------------------------------------------------------------------------------------------------
bad("report-missing-dir", "report {NEW}", "", r"does not exist|no qunlearn run|not found", out=None)
bad("report-user-folder", "report {USER}", "", r"no qunlearn run|not a qunlearn run", out=None)
bad("report-empty-folder", "report {FX}/emptydir", "", r"no qunlearn run|not a qunlearn run", out=None)
bad("report-file", "report {FX}/notes.txt", "", r"no qunlearn run|not a directory|not a qunlearn run", out=None)
bad("report-old-format", "report {FX}/oldrun", "", r"incompatible|format", out=None)
bad("report-corrupt-config", "report {FX}/corruptrun", "", "corrupt", out=None)
bad("report-config-not-a-record", "report {FX}/listrun", "", r"corrupt|not a qunlearn run|incompatible", out=None)
bad("report-no-results", "report {FX}/norun", "", "no finished results", out=None)
bad("report-garbage-results", "report {FX}/halfrun", "", r"results|corrupt", out=None)
bad("report-proc", "report /proc", "", r"no qunlearn run|not a qunlearn run", out=None)
bad("report-fifo", "report {PIPES}/pipe.npz", "", r"no qunlearn run|not a directory|not a qunlearn run", out=None)
bad("report-missing-argument", "report", "", "missing argument", out=None)
bad("report-extra-argument", "report {RUN} {RUN}", "", "unexpected extra argument", out=None)
bad("report-unknown-flag", "report {RUN} --fresh", "", "no such option", "--fresh", out=None)

# --- config show ---------------------------------------------------------------------------------------------
CS = "config show"
bad("config-show-preset-unknown", CS + " fast", "", "unknown preset", "fast", out=None)
bad("config-show-file-missing", CS + " {FX}/toml/missing.toml", "", "config file", SIDE, out=None)
bad("config-show-malformed", CS + " {FX}/toml/malformed.toml", "", "TOML", out=None)
bad("config-show-binary", CS + " {FX}/toml/binary.toml", "", r"TOML|UTF|decode", out=None)
bad("config-show-unknown-key", CS + " {FX}/toml/unknown-key.toml", "", "unknown config key", "bogus_key", out=None)
bad("config-show-complex256", CS + " {FX}/toml/complex256.toml", "", "precision", "complex256", out=None)
bad("config-show-unknown-kind", CS + " {FX}/toml/unknown-kind.toml", "", "kind", "transformer", out=None)
bad("config-show-fifo", CS + " {PIPES}/pipe.toml", "", "config", r"pipe\.toml", NOT_REGULAR, out=None)
bad("config-show-directory", CS + " {USER}", "", r"unknown preset|config|directory", out=None)
bad("config-show-preset-with-bad-config", CS + " quick --config {FX}/toml/malformed.toml", "", "TOML", out=None)
bad("config-show-unknown-dataset-section", CS + " paper-mnist --config {FX}/toml/unknown-dataset.toml", "",
    "cifar", out=None)
bad("config-show-two-files", CS + " {FX}/toml/valid.toml --config {FX}/toml/valid.toml", "", "one config file",
    out=None)
bad("config-show-missing-argument", CS, "", "missing argument", out=None)
bad("config-show-unknown-flag", CS + " quick --bogus", "", "no such option", "--bogus", out=None)

# --- data xxz ------------------------------------------------------------------------------------------------
DX = "data xxz"
bad("data-xxz-n-spins-30", DX, "--n-spins 30", r"n.spins", TOO_BIG + "|<= ?16", out=None)
bad("data-xxz-n-spins-odd", DX, "--n-spins 13", r"n.spins", "odd|even", out=None)
bad("data-xxz-n-spins-zero", DX, "--n-spins 0", r"n.spins", "at least 2", out=None)
bad("data-xxz-n-spins-negative", DX, "--n-spins -4", r"n.spins", "at least 2", out=None)
bad("data-xxz-n-spins-text", DX, "--n-spins twelve", "--n-spins", "integer", out=None)
bad("data-xxz-n-per-class-huge", DX, "--n-per-class 100000000", r"n.per.class", TOO_BIG, out=None)
bad("data-xxz-n-per-class-one", DX, "--n-per-class 1", r"n.per.class", ">= ?2|at least 2", out=None)
bad("data-xxz-n-per-class-zero", DX, "--n-per-class 0", r"n.per.class", ">= ?2|at least 2", out=None)
bad("data-xxz-delta-min-ferromagnet", DX, "--delta-min -1", r"delta.min", out=None)
bad("data-xxz-delta-min-nan", DX, "--delta-min nan", r"delta.min", "finite|nan", out=None)
bad("data-xxz-delta-max-low", DX, "--delta-max 1.1", r"delta.max", out=None)
bad("data-xxz-delta-max-inf", DX, "--delta-max inf", r"delta.max", "finite|inf", out=None)
bad("data-xxz-window-zero", DX, "--window 0", "window", out=None)
bad("data-xxz-window-one", DX, "--window 1", "window", out=None)
bad("data-xxz-window-nan", DX, "--window nan", "window", out=None)
bad("data-xxz-phase-unknown", DX, "--xxz-phase bogus", "phase", "bogus", out=None)
bad("data-xxz-phase-seed-negative", DX, "--phase-seed -1", "phase.seed", NONNEG, out=None)
bad("data-xxz-phase-seed-huge", DX, "--phase-seed 99999999999999999999", "seed", TOO_BIG, out=None)
bad("data-xxz-mnist-path", DX, "--mnist-path {FX}/notes.txt", "no such option", "--mnist-path", out=None)
bad("data-xxz-extra-argument", DX, "12", "unexpected extra argument", out=None)

# --- data mnist ----------------------------------------------------------------------------------------------
DM = "data mnist"
bad("data-mnist-n-per-class-zero", DM, "--n-per-class 0", r"n.per.class", POSITIVE, out=None)
bad("data-mnist-n-per-class-negative", DM, "--n-per-class -1", r"n.per.class", POSITIVE, out=None)
bad("data-mnist-n-per-class-500", DM, "--n-per-class 500", r"n.per.class", "validation", out=None)
bad("data-mnist-n-per-class-huge", DM, "--n-per-class 100000000", r"n.per.class", out=None)
bad("data-mnist-path-missing", DM, "--mnist-path {FX}/does-not-exist.npz", SIDE, "does-not-exist", out=None)
bad("data-mnist-path-text-file", DM, "--mnist-path {FX}/notes.txt", "MNIST", r"notes\.txt", out=None)
bad("data-mnist-path-zero-bytes", DM, "--mnist-path {FX}/empty.npz", "MNIST", r"empty\.npz", out=None)
bad("data-mnist-path-fifo", DM, "--mnist-path {PIPES}/pipe.npz", "MNIST|mnist.path", r"pipe\.npz", out=None)
bad("data-mnist-path-corrupt-npz", DM, "--mnist-path {FX}/corrupt.npz", "MNIST", r"corrupt\.npz", out=None)
bad("data-mnist-path-npz-no-keys", DM, "--mnist-path {FX}/nokeys.npz", "MNIST", "x_train", out=None)
bad("data-mnist-path-npz-bad-shape", DM, "--mnist-path {FX}/badshape.npz", "MNIST", "shape|28", out=None)
bad("data-mnist-path-garbage-dir", DM, "--mnist-path {FX}/garbage", "MNIST", "not found|IDX", out=None)
bad("data-mnist-path-garbage-idx", DM, "--mnist-path {FX}/badidx", "MNIST", "magic|corrupt|truncated", out=None)
bad("data-mnist-path-user-folder", DM, "--mnist-path {USER}", "MNIST", "not found|IDX", out=None)
bad("data-mnist-xxz-phase", DM, "--xxz-phase fixed", "no such option", "--xxz-phase", out=None)


# ---------------------------------------------------------------- fixtures


def _write_fixtures(fx: Path, pipes: Path) -> None:
    rng = np.random.default_rng(12)
    (fx / "notes.txt").write_text("my notes: nothing to do with qunlearn\n")
    (fx / "empty.npz").write_bytes(b"")
    (fx / "corrupt.npz").write_bytes(b"PK\x03\x04" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    np.savez(fx / "nokeys.npz", a=np.zeros(3))
    np.savez(fx / "badshape.npz", x_train=np.zeros((20, 3, 3), np.uint8), y_train=np.arange(20) % 10,
             x_test=np.zeros((20, 3, 3), np.uint8), y_test=np.arange(20) % 10)
    np.savez(fx / "badlabels.npz", x_train=np.zeros((20, 28, 28), np.uint8), y_train=np.full(20, 42),
             x_test=np.zeros((20, 28, 28), np.uint8), y_test=np.full(20, 42))
    (fx / "garbage").mkdir()
    (fx / "garbage" / "junk.bin").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (fx / "garbage" / "readme.txt").write_text("not MNIST\n")
    (fx / "badidx").mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (fx / "badidx" / name).write_bytes(rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())
    user = fx / "user"
    (user / "data").mkdir(parents=True)
    (user / "thesis.txt").write_text("chapter 1\n")
    (user / "data" / "measurements.csv").write_text("x,y\n1,2\n")
    # a qunlearn-looking run holding one of the user's files
    (fx / "userrun").mkdir()
    (fx / "userrun" / "config.json").write_text(json.dumps({"format_version": 2, "experiment": "poison",
                                                            "config": {}}))
    (fx / "userrun" / "my-notes.txt").write_text("keep me\n")
    (fx / "oldrun").mkdir()
    (fx / "oldrun" / "config.json").write_text(json.dumps({"format_version": 1, "experiment": "poison",
                                                           "config": {"dataset": "mnist"}}))
    (fx / "oldrun" / "results.csv").write_text("dataset,model,attack,alpha,run,epoch,metric,value\n"
                                              "mnist,mlp,label-flip,0.0,0,1,val_acc,0.9\n")
    (fx / "corruptrun").mkdir()
    (fx / "corruptrun" / "config.json").write_text("{not json")
    (fx / "corruptrun" / "results.csv").write_text("a,b\n1,2\n")
    (fx / "listrun").mkdir()
    (fx / "listrun" / "config.json").write_text("[1, 2, 3]")
    (fx / "norun").mkdir()
    (fx / "norun" / "config.json").write_text(json.dumps({"format_version": 2, "experiment": "poison",
                                                          "config": {"dataset": "mnist"}}))
    (fx / "halfrun").mkdir()
    (fx / "halfrun" / "config.json").write_text(json.dumps({"format_version": 2, "experiment": "poison",
                                                            "config": {}}))
    (fx / "halfrun" / "results.csv").write_text("garbage\n\x01\x02,3\n")
    (fx / "emptydir").mkdir()
    toml = fx / "toml"
    toml.mkdir()
    files = {
        "malformed": "[mnist.poison\nruns = 2\n",
        "unknown-key": "[mnist.poison]\nbogus_key = 1\n",
        "unknown-dataset": "[cifar.poison]\nruns = 2\n",
        "complex256": '[mnist.poison]\nprecision = "complex256"\n',
        "runs-float": "[mnist.poison]\nruns = 1e9\n",
        "runs-billion": "[mnist.poison]\nruns = 1000000000\n",
        "runs-text": '[mnist.poison]\nruns = "two"\n',
        "noise-p1-negative": "[mnist.poison.models.qnn]\nnoise = {p1 = -0.1}\n",
        "noise-p2-big": "[mnist.poison.models.qnn]\nnoise = {p2 = 1.5}\n",
        "noise-gamma-big": "[mnist.poison.models.qnn]\nnoise = {gamma = 2.0}\n",
        "noise-gamma-nan": "[mnist.poison.models.qnn]\nnoise = {gamma = nan}\n",
        "noise-shots-zero": "[mnist.poison.models.qnn]\nnoise = {shots = 0}\n",
        "noise-shots-float": "[mnist.poison.models.qnn]\nnoise = {shots = 2.5}\n",
        "noise-trajectories-zero": "[mnist.poison.models.qnn]\nnoise = {p1 = 0.01, trajectories = 0}\n",
        "noise-trajectories-text": '[mnist.poison.models.qnn]\nnoise = {p1 = 0.01, trajectories = "many"}\n',
        "noise-on-mlp": "[mnist.poison.models.mlp]\nnoise = {p1 = 0.01}\n",
        "noise-unknown-field": "[mnist.poison.models.qnn]\nnoise = {p3 = 0.01}\n",
        "noise-not-table": "[mnist.poison.models.qnn]\nnoise = 0.01\n",
        "noise-memory": "[mnist.poison.models.qnn]\nnoise = {p1 = 0.01, trajectories = 100000}\n",
        "depth-million": "[mnist.poison.models.qnn]\ndepth = 1000000\n",
        "depth-zero": "[mnist.poison.models.qnn]\ndepth = 0\n",
        "no-kind": "[mnist.poison.models.mynet]\ndepth = 3\n",
        "unknown-kind": '[mnist.poison.models.mynet]\nkind = "transformer"\n',
        "hidden-text": '[mnist.poison.models.mlp]\nhidden = "abc"\n',
        "hidden-zero": "[mnist.poison.models.mlp]\nhidden = [0]\n",
        "hidden-huge": "[mnist.poison.models.mlp]\nhidden = [100000000]\n",
        "models-empty": "[mnist.poison]\nmodels = {}\n",
        "models-string": '[mnist.poison]\nmodels = "qnn"\n',
        "train-int": "[mnist.poison.models.mlp]\ntrain = 5\n",
        "batch-half": '[mnist.poison.models.mlp.train]\nbatch_size = "half"\n',
        "lr-1e300": "[mnist.poison.models.mlp.train]\nlr = 1e300\n",
        "epochs-zero": "[mnist.poison.models.mlp.train]\nepochs = 0\n",
        "preset-int": "preset = 3\n",
        "preset-unknown": 'preset = "fast"\n',
        "alphas-string": '[mnist.poison]\nalphas = "0:0.9:0.1"\n',
        "alphas-empty": "[mnist.poison]\nalphas = []\n",
        "seed-negative": "[mnist.poison]\nseed = -1\n",
        "data-huge": "[mnist.poison.data_options]\nn_per_class = 100000000\n",
        "data-unknown": "[mnist.poison.data_options]\nbogus = 1\n",
        "unlearn-weight-1e300": "[mnist.unlearn.weights.scrub]\nfo_w = 1e300\n",
        "unlearn-methods-repeated": '[mnist.unlearn]\nmethods = ["retrain", "retrain"]\n',
        "unlearn-lr-text": '[mnist.unlearn.models.mlp.unlearn]\nlr = "fast"\n',
        "parts-unknown": 'preset = "quick"\n[mnist]\nparts = ["poison", "bogus"]\n',
        "parts-empty": 'preset = "quick"\n[mnist]\nparts = []\n',
        "parts-repeated": 'preset = "quick"\n[mnist]\nparts = ["embed", "embed"]\n',
        "parts-gauge-mnist": 'preset = "quick"\n[mnist]\nparts = ["gauge"]\n',
        "sweeps-unknown": 'preset = "quick"\n[mnist.sweeps]\nmethods = ["retrain"]\n',
        "sweeps-grid-repeated": 'preset = "quick"\n[mnist.sweeps]\ngrid = [0.0, 0.5, 0.5]\n',
        "sweeps-grid-1e300": "[mnist.sweeps]\ngrid = [0.0, 1e300]\n",
        "embed-perplexity": "[mnist.embed]\nperplexity = -1.0\n",
        "embed-unknown-key": "[mnist.embed]\nbogus = 1\n",
        "unlearn-runs-billion": 'preset = "quick"\n[mnist.unlearn]\nruns = 1000000000\n',
        "landscape-test-size": "[mnist.landscape]\ntest_size = 1.5\n",
        "landscape-top-k": "[mnist.landscape]\ntop_k = 0\n",
        "valid": 'preset = "quick"\n',
    }
    for name, text in files.items():
        (toml / f"{name}.toml").write_text(text)
    (toml / "binary.toml").write_bytes(b"\xff\xfe\x00[mnist]\x80\x81 garbage\n")
    pipes.mkdir()
    for name in ("pipe.npz", "pipe.toml"):
        os.mkfifo(pipes / name)


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root``: sha256 of files, a marker for folders and links (never reads a pipe)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "link:" + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            elif stat.S_ISREG(st.st_mode):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = f"special:{stat.S_IFMT(st.st_mode)}"
    return out


def _diff(before: dict, after: dict) -> list[str]:
    out = [f"removed {k}" for k in sorted(set(before) - set(after))]
    out += [f"created {k}" for k in sorted(set(after) - set(before))]
    out += [f"changed {k}" for k in sorted(set(before) & set(after)) if before[k] != after[k]]
    return out


@dataclass
class Result:
    command: str
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    touched: list[str]
    alongside: list[str]


def _run(args: list[str], cwd: Path, cache: Path, timeout: float = TIMEOUT_S) -> tuple[int | None, str, str, float,
                                                                                     bool]:
    env = {**os.environ, "COLUMNS": "120", "QUNLEARN_CACHE_DIR": str(cache)}
    env.pop("PYTEST_CURRENT_TEST", None)
    t0 = time.monotonic()
    proc = subprocess.Popen([EXE, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: a dask cluster's workers too
        out, err = proc.communicate()
        timed_out = True
    seconds = time.monotonic() - t0
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything the command left running
    except ProcessLookupError:
        pass
    return (None if timed_out else proc.returncode), out, err, seconds, timed_out


def _selected() -> list[Bad]:
    """The entries this run checks: all with ``QUNLEARN_MISUSE_ALL=1``, else every other one and the ALWAYS ones."""
    if os.environ.get("QUNLEARN_MISUSE_ALL") == "1":
        return list(ENTRIES)
    if os.environ.get("QUNLEARN_MISUSE_ONLY"):  # a comma list of ids, to recheck a few
        only = set(os.environ["QUNLEARN_MISUSE_ONLY"].split(","))
        return [e for e in ENTRIES if e.id in only]
    return [e for i, e in enumerate(ENTRIES) if i % 2 == 0 or e.id in ALWAYS]


CHECKED = _selected()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    tmp = tmp_path_factory.mktemp("misuse")
    fx, pipes, backup = tmp / "fx", tmp / "pipes", tmp / "fx-backup"
    fx.mkdir()
    _write_fixtures(fx, pipes)
    run = fx / "run"
    # a real run (the one a bad value must never touch), not a refusal: it may take longer than a refusal may
    rc, out, err, _, timed_out = _run([*shlex.split(RUN_CMD), "--out", str(run)], tmp, tmp / "cache-run", timeout=300)
    assert rc == 0 and not timed_out, f"the fixture run failed ({rc}):\n{out}\n{err}"
    shutil.copytree(fx, backup, symlinks=True)
    pristine = _snapshot(fx)
    lock = threading.Lock()
    running: set[str] = set()
    places = {"RUN": str(run), "FX": str(fx), "USER": str(fx / "user"), "PIPES": str(pipes), "LONG": "x" * 300}

    def one(entry: Bad) -> Result:
        new, cwd, cache = tmp / "new" / entry.id, tmp / "cwd" / entry.id, tmp / "cache" / entry.id
        cwd.mkdir(parents=True)
        args = [a.format(**places, NEW=str(new)) for a in entry.args]
        with lock:
            running.add(entry.id)
        try:
            rc, out, err, seconds, timed_out = _run(args, cwd, cache)
        finally:
            with lock:
                running.discard(entry.id)
                alongside = sorted(running)
                touched = _diff(pristine, _snapshot(fx))
                if touched:  # put the fixtures back so that the next entries start from them
                    shutil.rmtree(fx)
                    shutil.copytree(backup, fx, symlinks=True)
        if new.exists() or new.is_symlink():
            touched.append(f"created the fresh path {new}")
        left = sorted(p.name for p in cwd.iterdir())
        if left:
            touched.append(f"created {', '.join(left)} in the working directory")
        command = shlex.join(["qunlearn", *args])
        return Result(command, rc, out, err, seconds, timed_out, touched, alongside)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        collected = dict(zip((e.id for e in CHECKED), pool.map(one, CHECKED)))
    wall = time.monotonic() - t0
    if os.environ.get("QUNLEARN_MISUSE_REPORT"):
        report = {"wall_s": wall, "entries": {}}
        for e in CHECKED:
            r = collected[e.id]
            report["entries"][e.id] = {**r.__dict__, "failures": _failures(e, r)}
        Path(os.environ["QUNLEARN_MISUSE_REPORT"]).write_text(json.dumps(report, indent=1))
    return collected


def _failures(entry: Bad, r: Result) -> list[str]:
    """What is wrong with the way ``entry`` was handled, one ``kind: detail`` per problem."""
    out = []
    if r.timed_out:
        out.append(f"timeout: still running after {TIMEOUT_S:.0f} s (a hang); killed")
    elif r.seconds > TIMEOUT_S:
        out.append(f"timeout: took {r.seconds:.1f} s")
    if not r.timed_out and r.rc != 2:
        out.append(f"exit status: {r.rc}, expected 2")
    if "Traceback" in r.stdout or "Traceback" in r.stderr:
        out.append("traceback: a Python traceback was printed")
    lines = r.stderr.rstrip("\n").split("\n") if r.stderr.strip() else []
    if len(lines) != 1 or not lines[0].strip():
        out.append(f"stderr lines: {len(lines)} lines, expected exactly one")
    first = lines[0] if lines else ""
    if not first.startswith(PREFIX):
        out.append(f"prefix: stderr does not start with {PREFIX!r}")
    missing = [rx for rx in entry.expect if not re.search(rx, first, re.IGNORECASE)]
    if first.startswith(PREFIX) and missing:
        out.append(f"message: the error line lacks {missing}")
    if r.touched:
        more = f" (ran alongside {', '.join(r.alongside)})" if r.alongside else ""
        out.append(f"touched: {'; '.join(r.touched[:6])}{' ...' if len(r.touched) > 6 else ''}{more}")
    return out


def test_table_is_large_and_ids_unique():
    assert len(ENTRIES) >= 300 and (len(CHECKED) >= 160 or os.environ.get("QUNLEARN_MISUSE_ONLY"))
    assert len({e.id for e in ENTRIES}) == len(ENTRIES)
    assert ALWAYS <= {e.id for e in ENTRIES}


@pytest.mark.parametrize("entry", CHECKED, ids=[e.id for e in CHECKED])
def test_bad_input_is_refused(results, entry):
    r = results[entry.id]
    failures = _failures(entry, r)
    if failures:
        tail = r.stderr.strip().splitlines()
        shown = tail[:3] + (["..."] + tail[-3:] if len(tail) > 6 else tail[3:6])
        pytest.fail(f"{r.command}\n  " + "\n  ".join(failures) + f"\n  ({r.seconds:.1f} s, exit {r.rc})"
                    + "\n  stderr:\n    " + "\n    ".join(shown), pytrace=False)
