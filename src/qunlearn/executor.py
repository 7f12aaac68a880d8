"""Executors: where the cells of an experiment run.

An experiment turns its config into a list of independent *cells* (one model,
attack and alpha; one unlearning method; one row of a weight sweep; one
landscape seed). The experiment decides which cells are still to do and writes
each finished one to the run directory; the executor only computes them:

* :class:`LocalExecutor` (default): in this process, one cell after another;
  the runs of a cell are one vmapped program.
* :class:`DaskExecutor`: on a ``dask.distributed`` cluster, an existing one
  (``scheduler="tcp://HOST:PORT"``) or a local one started on loopback
  (``workers=N``). Cells are submitted as tasks and come back as they finish;
  the run directory is written by this process only, so workers need no shared
  file system. A worker that dies mid-cell loses that cell only: the scheduler
  resubmits it to another worker (up to ``retries`` times).

Whichever executor computes a cell, its numbers are the same: every cell
derives its random keys from the seed and its own identity only.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from .errors import InputError

EXECUTORS = ("local", "dask")

Task = tuple[str, Callable, tuple]  # (cell id, function, arguments)

_STOP = threading.Event()


def request_stop() -> None:
    """Ask every executor to stop before its next cell (the CLI's SIGTERM handler calls this).

    The handler also raises KeyboardInterrupt at once; this flag is the backstop for the
    case where that exception lands somewhere that cannot pass it on (a finaliser, a
    callback), so a stop request is never lost: the next cell boundary raises it again.
    """
    _STOP.set()


def clear_stop() -> None:
    """Forget an earlier stop request (a new command starts)."""
    _STOP.clear()


def _check_stop() -> None:
    if _STOP.is_set():
        raise KeyboardInterrupt


_INTERRUPTED: list = []  # the cell a stop interrupted (its label once run_cells has named it)


def note_interrupted(label: str) -> None:
    """Name the cell the stop interrupted (a readable label in place of its id), for :func:`last_interrupted`."""
    _INTERRUPTED[:] = [label]


def last_interrupted() -> str | None:
    """The cell the last stop interrupted, if one was in flight (and forget it)."""
    out = _INTERRUPTED[-1] if _INTERRUPTED else None
    _INTERRUPTED.clear()
    return out


_RUNNING: set = set()  # cells whose worker thread is computing


def cell_in_flight() -> bool:
    """Whether a cell's worker thread is still computing (a stop left it behind)."""
    return bool(_RUNNING)


class CellInterrupted(KeyboardInterrupt):
    """A stop (Ctrl-C, SIGTERM) while a cell was being computed: that cell is lost, finished ones are kept."""

    def __init__(self, cell_id: str):
        super().__init__(cell_id)
        self.cell_id = cell_id


def _timed(fn: Callable, *args) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - t0


class _Executor:
    """What every executor shares: use as a context manager, closed on exit."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalExecutor(_Executor):
    """Compute cells in this process, in order."""

    name = "local"

    def share(self, obj):
        """A handle to ``obj`` for use as a task argument (the object itself, here)."""
        return obj

    def everywhere(self, fn: Callable) -> None:
        """Call ``fn()`` where cells run (this process, here)."""
        fn()

    def map(self, tasks: Iterable[Task]) -> Iterator[tuple[str, Any, float]]:
        """Yield ``(cell id, result, seconds)`` for every task, as each finishes.

        Each cell is computed in a worker thread while this one waits for it, so that Ctrl-C or SIGTERM
        stops the command at once (:class:`CellInterrupted`, naming the cell in flight, which is lost)
        instead of after the cell's compiled program returns, which may take minutes."""
        for cid, fn, args in tasks:
            _check_stop()
            box: dict[str, Any] = {}
            finished = threading.Event()  # waited on, not Thread.join: a join that Ctrl-C interrupts can leave
            # the thread marked as stopped while it still runs (CPython before 3.13)

            def work(fn=fn, args=args, box=box, finished=finished, cid=cid):
                _RUNNING.add(cid)
                try:
                    box["out"] = _timed(fn, *args)
                except BaseException as e:  # noqa: BLE001 - handed to the waiting thread as is
                    box["err"] = e
                finally:
                    _RUNNING.discard(cid)
                    finished.set()

            threading.Thread(target=work, name=f"qunlearn-cell-{cid}", daemon=True).start()
            try:
                while not finished.wait(0.05):
                    _check_stop()
            except KeyboardInterrupt:
                note_interrupted(cid)
                raise CellInterrupted(cid) from None
            if "err" in box:
                raise box["err"]
            result, seconds = box["out"]
            yield cid, result, seconds

    def describe(self) -> str:
        return "local (this process)"


CONNECT_TIMEOUT_S = 20.0  # Dask's handshake with a scheduler must finish within this ($QUNLEARN_CONNECT_TIMEOUT)


def connect_timeout() -> float:
    """Seconds a scheduler has to complete Dask's handshake: $QUNLEARN_CONNECT_TIMEOUT (0.1 to 30), else 20."""
    raw = os.environ.get("QUNLEARN_CONNECT_TIMEOUT")
    try:
        value = float(raw) if raw else CONNECT_TIMEOUT_S
    except ValueError:
        raise InputError(f"QUNLEARN_CONNECT_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not 0.1 <= value <= 30:
        raise InputError(f"QUNLEARN_CONNECT_TIMEOUT must be between 0.1 and 30 seconds, got {raw!r}")
    return value


def _handshake(address: str, timeout: float) -> None:
    """Connect to ``address`` and complete Dask's handshake within ``timeout`` seconds, or refuse in one line."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    from distributed.comm import connect

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"the dask scheduler address {address!r} has no valid port (1 to 65535); use "
                         "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786") from None
    if parts.scheme in ("tcp", "tls") and parts.hostname and port:
        try:  # a closed port is refused at once, not after Dask's retries
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as e:
            raise InputError(f"cannot reach the dask scheduler {address!r} ({e.strerror or e}); check the address "
                             "and port") from None

    async def go():
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout + 1)
        await comm.close()

    try:
        asyncio.run(go())
    except (TimeoutError, asyncio.TimeoutError):
        raise InputError(f"the dask scheduler {address!r} did not complete Dask's handshake within {timeout:g} s: "
                         "is a Dask scheduler listening there? check the address and port") from None
    except Exception as e:  # noqa: BLE001 - refused, unreachable, closed mid-handshake, a malformed address
        why = str(e).replace("\n", " ")[:160] or type(e).__name__
        raise InputError(f"cannot reach the dask scheduler {address!r} ({why}); check the address and port") from None


class DaskExecutor(_Executor):
    """Compute cells as tasks on a dask.distributed cluster."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, retries: int = 3,
                 threads_per_worker: int = 1):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                "the dask executor needs dask.distributed; install it with pip install \"qunlearn[dask]\""
            ) from None
        check_args("dask", scheduler, workers)
        self.retries = retries
        self._cluster = None
        if scheduler is not None:
            timeout = connect_timeout()
            _handshake(scheduler, timeout)  # a port that accepts but is no Dask scheduler is refused, not waited on
            try:
                self.client = Client(scheduler, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as e:
                raise InputError(f"cannot reach the dask scheduler {scheduler!r} ({e}); check the address") from None
        else:
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=40,
            )
            self.client = Client(self._cluster)

    def share(self, obj):
        """Send ``obj`` to every worker once; tasks receive it by reference."""
        return self.client.scatter(obj, broadcast=True, hash=False)

    def everywhere(self, fn: Callable) -> None:
        """Call ``fn()`` on every worker connected now (e.g. to switch on the compilation cache)."""
        self.client.run(fn)

    def map(self, tasks: Iterable[Task]) -> Iterator[tuple[str, Any, float]]:
        from distributed import as_completed

        ids = {}
        futures = []
        for cid, fn, args in tasks:
            fut = self.client.submit(_timed, fn, *args, key=f"qunlearn-{cid}-{time.time_ns()}", pure=False,
                                     retries=self.retries)
            ids[fut.key] = cid
            futures.append(fut)
        try:
            for fut in as_completed(futures):
                _check_stop()
                result, seconds = fut.result()
                yield ids[fut.key], result, seconds
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()

    def describe(self) -> str:
        n = len(self.client.scheduler_info().get("workers", {}))
        where = "local cluster on loopback" if self._cluster is not None else self.client.scheduler.address
        return f"dask ({where}, {n} workers)"

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def check_args(kind: str, scheduler: str | None = None, workers: int | None = None) -> None:
    """Refuse a bad executor choice (:class:`InputError`) before any work or cluster start."""
    if kind not in EXECUTORS:
        raise InputError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")
    if kind == "local":
        if scheduler is not None or workers is not None:
            raise InputError("--scheduler and --workers apply to --executor dask only")
        return
    if scheduler is not None and workers is not None:
        raise InputError("give --scheduler (an existing cluster) or --workers (a local one), not both")
    if scheduler is None and workers is None:
        raise InputError("--executor dask needs either --scheduler tcp://HOST:PORT or --workers N")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"--workers must be a positive integer, got {workers!r}")
    if workers is not None and workers > 256:
        raise InputError(f"--workers {workers} is more local worker processes than qunlearn starts (256 at most); "
                         "use --scheduler for a real cluster")
    if scheduler is not None and "://" not in scheduler:
        raise InputError(f"--scheduler {scheduler!r} must be an address such as tcp://10.0.0.5:8786")


def make_executor(kind: str = "local", scheduler: str | None = None, workers: int | None = None):
    """The executor named by ``kind`` (``local`` or ``dask``)."""
    check_args(kind, scheduler, workers)
    if kind == "local":
        return LocalExecutor()
    return DaskExecutor(scheduler=scheduler, workers=workers)
