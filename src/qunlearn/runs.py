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

import functools
import io
import json
import os
import platform
import re
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from . import locks
from ._lazy import lazy
from .errors import InputError

pd = lazy("pandas")

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
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not e.filename:  # a failed write names no file: name the one it was for
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
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


def dataset_dir(dataset: str) -> str:
    """The directory of a dataset's parts in a study run: its name, or for a ``.npz`` path the file's stem."""
    if str(dataset).lower().endswith(".npz"):
        return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(dataset).stem) or "data"
    return str(dataset)


def check_output_dir(path: Path) -> Path:
    """Refuse an output path that is a file or lies under a file or an unwritable directory."""
    path = Path(path).expanduser()
    long = [part for part in path.parts if len(os.fsencode(part)) > 255]
    if long or len(os.fsencode(str(path.absolute()))) > 4000:
        raise InputError(f"output path {str(path)[:60]!r}... is too long (a name of more than 255 bytes, or a path of "
                         "more than 4000); choose a shorter --out")
    system = path.absolute().parts[1:2]
    if system and system[0] in ("proc", "sys", "dev"):
        raise InputError(f"output path {str(path)!r} lies in the system folder /{system[0]}; choose another --out")
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


# What qunlearn writes into a run directory; nothing else there is ever deleted or overwritten.
OWN_TABLES = ("config.json", "results.csv", "history.csv", "timing.csv", "embedding.csv", "report.md", "report.html")
OWN_FIGURE_SUFFIXES = (".png", ".pdf")
OWN_CELL_SUFFIXES = (".csv", ".npz")


# ------------------------------------------------------------------ the identity of a cell

MAX_NAME = 100  # characters of a name that becomes part of a cell file's name (file names hold 255 bytes)
ALPHA_DECIMALS = 6  # noise ratios key cells (and seed the poisoning) to this many decimals
WEIGHT_DECIMALS = 4  # loss weights key a weight sweep's cells to this many decimals


def _slug(part: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]+", "-", str(part))


def number_tag(value: float, decimals: int) -> str:
    """A number as it keys a cell: ``decimals`` decimals."""
    return f"{value:.{decimals}f}"


def check_names(names, what: str = "model") -> None:
    """Refuse names that would share a cell file (``a/b`` and ``a-b``) or make one too long, in one line."""
    seen: dict[str, str] = {}
    for name in names:
        if len(name) > MAX_NAME:
            raise InputError(f"{what} name {name[:20]!r}... is {len(name)} characters; use at most {MAX_NAME}")
        slug = _slug(name)
        if slug in seen and seen[slug] != name:
            raise InputError(f"{what}s {seen[slug]!r} and {name!r} would share one cell file ({slug!r}: names keep "
                             "letters, digits, '.' and '-' only); rename one")
        seen[slug] = name


def check_distinct_at(values, decimals: int, what: str) -> None:
    """Refuse values that are equal at the ``decimals`` to which they key cells, naming both."""
    seen: dict[str, Any] = {}
    for v in values:
        tag = number_tag(v, decimals)
        if tag in seen and seen[tag] != v:
            raise InputError(f"{seen[tag]!r} and {v!r} are the same {what} at the precision that keys cells "
                             f"({10.0 ** -decimals:g}); list each once")
        seen[tag] = v


def data_hash(ds) -> str:
    """The content hash of a dataset's arrays (training and validation inputs and labels)."""
    from .data.custom import content_hash

    return content_hash(ds.x_train, ds.y_train, ds.x_val, ds.y_val)


def _is_tmp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")  # an atomic write that was interrupted


def read_record(path: Path) -> dict | None:
    """The run record in ``path/config.json`` if ``path`` is recognisably a qunlearn run directory, else None."""
    try:
        record = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and "experiment" in record and "format_version" in record:
        return record
    return None


REPORT_MARKS = {"report.md": b"# qunlearn report", "report.html": b"<title>qunlearn report</title>"}


def own_report(path: Path) -> bool:
    """False for a report.md / report.html that qunlearn did not write (it starts with its mark); True else."""
    mark = REPORT_MARKS.get(path.name)
    if mark is None or not path.is_file() or path.is_symlink():
        return mark is None
    try:
        with open(path, "rb") as fh:
            return mark in fh.read(512)
    except OSError:
        return False


def _content(directory: Path) -> list[Path]:
    """What a directory holds besides a run lock."""
    return [c for c in directory.iterdir() if c.name != locks.LOCK_NAME]


def foreign_files(path: Path) -> list[Path]:
    """Files and folders below the run directory ``path`` that qunlearn did not write (see :data:`OWN_TABLES`)."""
    out = []
    for p in sorted(Path(path).iterdir()):
        if p.is_dir() and not p.is_symlink():
            if not _content(p):
                continue  # an empty folder holds nothing to lose
            if p.name == "cells":
                out += [c for c in sorted(p.iterdir())
                        if not (c.is_file() and (c.suffix in OWN_CELL_SUFFIXES or _is_tmp(c.name)))]
            elif read_record(p) is not None:  # a part of a study (or a run inside a dataset folder)
                out += foreign_files(p)
            elif all(read_record(c) is not None or not _content(c) for c in p.iterdir() if c.is_dir()) and not any(
                    c.is_file() or c.is_symlink() for c in _content(p)):  # a dataset folder of a study
                out += [f for c in sorted(p.iterdir()) for f in foreign_files(c)]
            else:
                out.append(p)
        elif not (p.is_file() and (p.name in OWN_TABLES or p.name == locks.LOCK_NAME
                                   or p.suffix in OWN_FIGURE_SUFFIXES or _is_tmp(p.name))) or not own_report(p):
            out.append(p)
    return out


def clear_own(path: Path) -> None:
    """Delete what qunlearn wrote in the run directory ``path`` (parts of a study included); nothing else.

    Files it did not write (see :func:`foreign_files`) are left where they are,
    and so are the folders that hold them.
    """
    path = Path(path)
    foreign = set(foreign_files(path))
    for p in sorted(path.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if any(f == p or f in p.parents for f in foreign) or any(p == f or p in f.parents for f in foreign):
            continue
        if p.name == locks.LOCK_NAME:
            continue  # a lock, held by this command (or by nobody): never removed under a holder
        if p.is_file() or p.is_symlink():
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()


def _has_work(path: Path) -> bool:
    """Whether a run directory holds any finished result (a cell, a table or a part with one)."""
    if any((path / t).exists() for t in ("results.csv", "history.csv", "embedding.csv")):
        return True
    cells = path / "cells"
    if cells.is_dir() and any(c.suffix in OWN_CELL_SUFFIXES for c in cells.iterdir()):
        return True
    return any(_has_work(c) for c in path.glob("*/*") if c.is_dir() and read_record(c) is not None)


def _names(paths: list[Path], root: Path, most: int = 3) -> str:
    shown = ", ".join(str(p.relative_to(root)) for p in paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


# ------------------------------------------------------------------ sealed cells

SEAL = b"# qunlearn-cell"  # first line of a sealed cell table: "# qunlearn-cell sha256=<hex> config=<hex>"
_SEAL_KEY = "__qunlearn_cell__"  # the member of a sealed .npz that holds its seal


class CellError(Exception):
    """A cell file that fails verification: it is named and computed again, never trusted."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"cell {path.parent.name}/{path.name} {reason}")
        self.path, self.reason = path, reason


def identity(record: Any) -> str:
    """A short, stable hash of a JSON-able record (a config, the inputs of a cell)."""
    import hashlib

    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _check_seal(path: Path, seal: str, digest: str, ident: str) -> None:
    """Refuse a cell whose seal (``... sha256=<hex> config=<hex>``) does not match its content or its config."""
    fields = dict(f.split("=", 1) for f in seal.split() if "=" in f)
    if fields.get("sha256") != digest:
        raise CellError(path, "fails its checksum (cut short or changed since it was written)")
    if fields.get("config") != ident:
        raise CellError(path, "was computed for other settings than this run's")


def seal_csv(table: pd.DataFrame, ident: str) -> bytes:
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    body = buf.getvalue().encode()
    return SEAL + f" sha256={_sha(body)} config={ident}\n".encode() + body


def read_sealed_csv(path: Path, ident: str) -> tuple[pd.DataFrame, bool]:
    """``(table, sealed)``: a sealed table verified against its checksum and ``ident``, or an older unsealed
    one checked as far as it can be (a table with rows, its values numbers). Raises :class:`CellError`."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CellError(path, f"cannot be read ({e.strerror})") from None
    sealed = data.startswith(SEAL)
    if sealed:
        head, _, body = data.partition(b"\n")
        _check_seal(path, head.decode(errors="replace"), _sha(body), ident)
    else:
        body = data
    try:
        table = pd.read_csv(io.BytesIO(body))
    except Exception:  # noqa: BLE001 - pandas raises many kinds for a garbled file
        raise CellError(path, "is not a readable table") from None
    if not sealed:
        value = table.get("value")
        if not len(table) or value is None or not pd.api.types.is_numeric_dtype(value):
            raise CellError(path, "is not a table of results (written before cells carried checksums)")
    return table, sealed


def seal_npz(arrays: dict, ident: str) -> bytes:
    import numpy as np

    digest = _arrays_sha(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_SEAL_KEY: np.array(f"sha256={digest} config={ident}")})
    return buf.getvalue()


def _arrays_sha(arrays: dict) -> str:
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[k]))
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read_sealed_npz(path: Path, ident: str) -> tuple[dict, bool]:
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CellError(path, f"is not a readable array file ({type(e).__name__})") from None
    seal = arrays.pop(_SEAL_KEY, None)
    if seal is None:
        return arrays, False
    _check_seal(path, str(seal), _arrays_sha(arrays), ident)
    return arrays, True


class RunDir:
    """A run directory for one experiment and one resolved config.

    Opening one checks, without writing anything, that ``path`` is a new or
    empty directory or a qunlearn run of the same experiment and config (one
    with no finished work yet may take a new config; ``fresh`` discards one's
    results). A folder holding anything qunlearn did not write is refused, with
    or without ``fresh``, and so is a path inside another run (except a study's
    own parts: ``inside`` names the study's run directory).
    """

    def __init__(self, path: str | os.PathLike, experiment: str, config: dict[str, Any], *, fresh: bool = False,
                 inside: "RunDir | None" = None):
        if not str(path).strip():
            raise InputError("the output path is empty; pass --out DIR")
        self.path = check_output_dir(Path(path))
        self.experiment = experiment
        self.config = config
        self.fresh = fresh
        self.unverified: list[Path] = []  # cells read that were written before cells carried checksums
        self._check_nesting(inside)
        stored = None
        if self.path.is_dir():
            locks.check_free(self.path)  # another command's run is refused before any work
        if self.path.is_dir() and _content(self.path):
            stored = read_record(self.path)
            if stored is None:
                if (self.path / "config.json").exists():
                    raise InputError(f"{self.path / 'config.json'} is unreadable or corrupt, so {self.path} is not "
                                     "recognisably a qunlearn run; move it aside or choose another --out")
                raise InputError(f"{self.path} is not empty and not a qunlearn run (it holds "
                                 f"{_names(sorted(self.path.iterdir()), self.path)}); qunlearn writes only into new, "
                                 "empty or its own run directories: choose another --out")
            foreign = foreign_files(self.path)
            if foreign:
                raise InputError(f"{self.path} holds files qunlearn did not write ({_names(foreign, self.path)}); "
                                 "it deletes or overwrites only its own: move them away or choose another --out")
        if stored is not None and not fresh:
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
            if diffs and _has_work(self.path):
                raise InputError(
                    f"{self.path} holds a run with a different config ({'; '.join(diffs)}); "
                    "use another --out, the same settings, or --fresh to discard it"
                )
            # a run that stopped before finishing anything holds nothing to lose: the new config takes it over

    def _check_nesting(self, inside: "RunDir | None") -> None:
        top = None if inside is None else inside.path.resolve()
        for parent in self.path.resolve().parents:
            if parent == top:
                return
            if read_record(parent) is not None:
                raise InputError(f"{self.path} lies inside the qunlearn run {parent}; a run directory is never made "
                                 "inside another run: choose another --out")

    @property
    def cells_dir(self) -> Path:
        return self.path / "cells"

    def start(self, data=None) -> "RunDir":
        """Create the directory (clearing it first with ``fresh``, once) and store the config.

        ``data`` (the :class:`~qunlearn.data.Dataset` the cells are computed from) is recorded by its content
        hash; a directory whose finished work was computed from other data (a user's file edited between a
        stop and a resume) is refused before anything is written. ``fresh`` is consumed by the first
        ``start``: a second call (an experiment started by a caller that already prepared the directory)
        keeps what is there.
        """
        digest = None if data is None else data_hash(data)
        if digest is not None and not self.fresh:
            self._check_data(digest, data)
        locks.take(self.path)  # one writer per run directory (creates it)
        if self.fresh and self.path.exists():
            clear_own(self.path)
        self.fresh = False
        self.clean_stale()
        record = {
            "format_version": FORMAT_VERSION,
            "experiment": self.experiment,
            "config": self.config,
            "versions": package_versions(),
        }
        if digest is not None:
            record["data_hash"] = digest
        atomic_write_text(self.path / "config.json", json.dumps(record, indent=2, sort_keys=True))
        self.cells_dir.mkdir(exist_ok=True)
        if not os.access(self.cells_dir, os.W_OK | os.X_OK):  # found now, not after a cell has been computed
            import errno

            raise PermissionError(errno.EACCES, "Permission denied (cells cannot be saved)", str(self.cells_dir))
        return self

    def _check_data(self, digest: str, data) -> None:
        stored = read_record(self.path) if self.path.is_dir() else None
        old = (stored or {}).get("data_hash")
        if old is not None and old != digest and _has_work(self.path):
            source = (getattr(data, "info", None) or {}).get("path") or getattr(data, "name", "the dataset")
            raise InputError(f"{self.path} holds results computed from other data ({source} has changed since: "
                             f"content hash {old}, now {digest}); restore the data, use another --out, or --fresh "
                             "to start over from the new data")

    @staticmethod
    def cell_id(*parts: Any) -> str:
        """The file stem of a cell: its parts, each kept as letters, digits, '.' and '-', joined by '__'.
        Names that would meet here are refused when a config is built (:func:`check_names`)."""
        return "__".join(_slug(p) for p in parts)

    @functools.cached_property
    def config_id(self) -> str:
        """The identity of the config its cells are computed for (a hash of the stored config, once)."""
        return identity(self.config)

    def has_cell(self, cell_id: str) -> bool:
        return (self.cells_dir / f"{cell_id}.csv").exists()

    def write_cell(self, cell_id: str, table: pd.DataFrame) -> None:
        """Write a cell's table, sealed: a first line with the checksum of the rest and the config's identity."""
        atomic_write_bytes(self.cells_dir / f"{cell_id}.csv", seal_csv(table, self.config_id))

    def read_cell(self, cell_id: str) -> pd.DataFrame:
        """A cell's table, verified (:class:`CellError` when it fails); one written before cells carried
        checksums is checked as a table and noted in :attr:`unverified`."""
        path = self.cells_dir / f"{cell_id}.csv"
        table, sealed = read_sealed_csv(path, self.config_id)
        if not sealed:
            self.unverified.append(path)
        return table

    def write_arrays(self, path: Path, arrays: dict, ident: str | None = None) -> None:
        """Write a cell's arrays (``.npz``), sealed like a table (``ident``: the identity of its inputs)."""
        atomic_write_bytes(path, seal_npz(arrays, ident or self.config_id))

    def read_arrays(self, path: Path, ident: str | None = None) -> dict:
        arrays, sealed = read_sealed_npz(path, ident or self.config_id)
        if not sealed:
            self.unverified.append(path)
        return arrays

    def clean_stale(self) -> None:
        """Remove the temporary files of writes a kill interrupted (only this command writes here now)."""
        for folder in (self.path, self.cells_dir):
            if folder.is_dir():
                for p in folder.iterdir():
                    if p.is_file() and _is_tmp(p.name):
                        p.unlink(missing_ok=True)

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        path = self.path / name
        atomic_write_csv(path, table)
        return path
