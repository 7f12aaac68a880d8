"""One writer per run directory: an exclusive OS lock on ``DIR/.qunlearn.lock``.

A command takes the lock of every run directory it writes (a study's top directory and each of its parts)
before it writes there, and a second command on the same directory is refused at once, naming the holder's
PID and command line (or, with ``wait``, waits for it). The lock is the operating system's (``flock`` on
POSIX, ``msvcrt.locking`` on Windows), so it dies with its process: a ``kill -9`` never leaves a stale lock,
only the small file, which the next holder rewrites. A holder that lets go removes the file.

Locks are re-entrant within a process, and taken inside a :func:`scope` (what ``ql.run`` and ``qunlearn
report`` open) they are released when it ends; one taken outside any scope (an experiment's ``run`` called
directly) is held until the process exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from .errors import InputError

LOCK_NAME = ".qunlearn.lock"
WAIT_NOTE_S = 10.0  # with wait: how often to say that the lock is still held

_HELD: dict[Path, "_Lock"] = {}  # this process's locks, by resolved directory
_SCOPES: list[dict] = []  # open scopes: {"wait": bool, "taken": [paths]}


class _Lock:
    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / LOCK_NAME
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        while True:
            self.check_regular()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                if not _lock_fd(fd):
                    os.close(fd)
                    return False
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                break
            _unlock_fd(fd)  # the holder removed the file as it let go: lock the one at the path now
            os.close(fd)
        self.fd = fd
        info = json.dumps({"pid": os.getpid(), "command": _command_line(), "since": time.strftime("%H:%M:%S")})
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, info.encode())
        return True

    def check_regular(self) -> None:
        """Refuse a lock path that is a link or not a regular file: it is never opened for writing."""
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            raise InputError(f"{self.path} is not qunlearn's lock file (a link or not a regular file); remove it, "
                             "or choose another --out", path="out")

    def is_free(self) -> bool:
        """Whether nobody holds the lock now: a probe that writes nothing (the file is opened read-only)."""
        self.check_regular()
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            free = _lock_fd(fd)
            if free:
                _unlock_fd(fd)
        finally:
            os.close(fd)
        return free

    def release(self) -> None:
        if self.fd is not None:
            if os.name != "nt":  # removed while still held; a waiter that locked the removed file retries
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            _unlock_fd(self.fd)
            os.close(self.fd)
            self.fd = None


if os.name == "nt":  # pragma: no cover - Windows
    import msvcrt

    def _lock_fd(fd: int) -> bool:
        os.lseek(fd, 1 << 20, os.SEEK_SET)  # a byte past the holder's note, so the note stays readable
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_fd(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_fd(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_ino, here.st_dev) == (there.st_ino, there.st_dev)


def _command_line() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "cli.py"):
        argv[0] = "qunlearn"
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


def holder(directory: str | os.PathLike) -> dict | None:
    """What the lock file of ``directory`` says about its last holder (``pid``, ``command``, ``since``)."""
    try:
        info = json.loads((Path(directory) / LOCK_NAME).read_text() or "null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _holder_text(directory: Path) -> str:
    who = holder(directory)
    return f"PID {who.get('pid')}: {who.get('command')}, since {who.get('since')}" if who else "another process"


def _busy(directory: Path) -> InputError:
    return InputError(f"{directory} is in use by another qunlearn command ({_holder_text(directory)}); wait for it "
                      "to finish, or rerun with --wait (wait=True in Python) to wait for it", path="out")


def take(directory: str | os.PathLike, wait: bool | None = None) -> None:
    """Hold the lock of the run directory ``directory`` (created if missing) for this process.

    Refuses (:class:`InputError`) when another process holds it, unless ``wait`` (default: the open scope's)."""
    path = Path(directory)
    key = path.resolve()
    if key in _HELD:
        return
    if wait is None:
        wait = bool(_SCOPES and _SCOPES[-1]["wait"])
    lock = _Lock(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        free = lock.try_acquire()
    except InputError:
        raise
    except OSError as e:  # a read-only folder: a fault of the environment, said in one line by the caller
        raise OSError(e.errno, e.strerror, str(path / LOCK_NAME)) from None
    note = time.monotonic()
    while not free:
        if not wait:
            raise _busy(path)
        if time.monotonic() - note >= WAIT_NOTE_S:
            from .console import err

            err.print(f"waiting for {path}, in use by {_holder_text(path)}", highlight=False, markup=False)
            note = time.monotonic()
        time.sleep(0.2)
        free = lock.try_acquire()
    _HELD[key] = lock
    if _SCOPES:
        _SCOPES[-1]["taken"].append(key)


def check_free(directory: str | os.PathLike) -> None:
    """Refuse now, before any work, a run directory another process holds (unless the open scope waits)."""
    path = Path(directory)
    if not (path / LOCK_NAME).exists() or held(path) or (_SCOPES and _SCOPES[-1]["wait"]):
        return
    try:
        free = _Lock(path).is_free()
    except OSError:
        return  # unreadable, or gone meanwhile: taking the lock will say what is wrong
    if not free:
        raise _busy(path)


def held(directory: str | os.PathLike) -> bool:
    """Whether this process holds the lock of ``directory``."""
    return Path(directory).resolve() in _HELD


@contextlib.contextmanager
def scope(wait: bool = False) -> Iterator[None]:
    """Release the locks taken inside when it ends (``wait``: a lock held by another process is waited for)."""
    frame = {"wait": wait, "taken": []}
    _SCOPES.append(frame)
    try:
        yield
    finally:
        _SCOPES.remove(frame)
        for key in reversed(frame["taken"]):
            lock = _HELD.pop(key, None)
            if lock is not None:
                lock.release()
