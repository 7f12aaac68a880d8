"""Run directories: resolved config, per-cell results written atomically, resume.

Layout of a run directory::

    DIR/config.json        resolved config + seed + package versions
    DIR/cells/<id>.csv     one file per finished cell, written atomically
    DIR/results.csv        the tidy table of all finished cells
    DIR/...                figures and other artefacts

A cell file appears only once its cell has finished (write to a temporary file
in the same directory, then ``os.replace``), so a run stopped at any moment
loses at most the cell in progress, and a rerun skips every finished cell.
Reusing a directory whose config differs is refused, naming the differences.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError

FORMAT_VERSION = 2  # 2: model entries are specs (kind + that family's fields); full batch is "full"
_UMASK = os.umask(0)
os.umask(_UMASK)
_VERSIONED = ("qunlearn", "jax", "jaxlib", "optax", "tensorcircuit-ng", "numpy", "scipy", "scikit-learn", "pandas")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_csv(path: Path, df: pd.DataFrame) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    atomic_write_text(path, buf.getvalue())


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in old:
                out.append(f"{key} (new)")
            elif k not in new:
                out.append(f"{key} (removed)")
            else:
                out.extend(_diff(old[k], new[k], key))
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def check_output_dir(path: Path) -> Path:
    """Refuse an output path that is a file or lies under a file or an unwritable directory."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"output path {str(path)!r} is a file, not a directory; choose another --out")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"cannot create {str(path)!r}: {str(probe)!r} is a file; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"output directory {str(probe)!r} is not writable; choose another --out")
    return path


class RunDir:
    """A run directory for one experiment and one resolved config."""

    def __init__(self, path: str | os.PathLike, experiment: str, config: dict[str, Any], *, fresh: bool = False):
        self.path = check_output_dir(Path(path))
        self.experiment = experiment
        self.config = config
        self.fresh = fresh
        cfg_file = self.path / "config.json"
        if cfg_file.exists() and not fresh:
            try:
                stored = json.loads(cfg_file.read_text())
            except (OSError, ValueError):
                raise InputError(
                    f"{cfg_file} is unreadable or corrupt; rerun with --fresh to start this directory over"
                ) from None
            if stored.get("format_version") != FORMAT_VERSION:
                raise InputError(
                    f"{self.path} was written by an incompatible qunlearn run format "
                    f"({stored.get('format_version')!r}, this version writes {FORMAT_VERSION}); "
                    "use a new --out or --fresh"
                )
            if stored.get("experiment") != experiment:
                raise InputError(
                    f"{self.path} holds a {stored.get('experiment')!r} run, not {experiment!r}; use another --out"
                )
            diffs = _diff(stored.get("config"), config)
            if diffs:
                raise InputError(
                    f"{self.path} holds a run with a different config ({'; '.join(diffs)}); "
                    "use another --out, the same settings, or --fresh to discard it"
                )

    @property
    def cells_dir(self) -> Path:
        return self.path / "cells"

    def start(self) -> "RunDir":
        """Create the directory (clearing it first with ``fresh``, once) and store the config.

        ``fresh`` is consumed by the first ``start``: a second call (an experiment
        started by a caller that already prepared the directory) keeps what is there.
        """
        if self.fresh and self.path.exists():
            shutil.rmtree(self.cells_dir, ignore_errors=True)
            for f in self.path.iterdir():
                if f.is_file():
                    f.unlink()
        self.fresh = False
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "format_version": FORMAT_VERSION,
            "experiment": self.experiment,
            "config": self.config,
            "versions": package_versions(),
        }
        atomic_write_text(self.path / "config.json", json.dumps(record, indent=2, sort_keys=True))
        return self

    @staticmethod
    def cell_id(*parts: Any) -> str:
        return "__".join(re.sub(r"[^A-Za-z0-9.\-]+", "-", str(p)) for p in parts)

    def has_cell(self, cell_id: str) -> bool:
        return (self.cells_dir / f"{cell_id}.csv").exists()

    def write_cell(self, cell_id: str, table: pd.DataFrame) -> None:
        atomic_write_csv(self.cells_dir / f"{cell_id}.csv", table)

    def read_cell(self, cell_id: str) -> pd.DataFrame:
        return pd.read_csv(self.cells_dir / f"{cell_id}.csv")

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        path = self.path / name
        atomic_write_csv(path, table)
        return path
