"""The one exception type for bad user input.

Every check of a user-supplied value raises :class:`InputError` with a single
line that says what is wrong and how to fix it. The CLI turns it into that line
on stderr and exit status 2, before any work starts and before any file is
touched.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


FAULT_EXIT = 4  # exit status of a fault of the environment (disk full, read-only folder, out of memory)


def fault_line(e: BaseException) -> str:
    """A fault of the environment (an ``OSError`` or ``MemoryError``) as one line: what happened, which file,
    and what to do. Finished cells are written atomically, so the same command resumes once the cause is gone."""
    import errno

    again = "then rerun the same command: finished cells are kept"
    if isinstance(e, MemoryError):
        return f"out of memory{f' ({e})' if str(e) else ''}; use smaller sizes (fewer runs or samples), {again}"
    what = getattr(e, "strerror", None) or str(e) or type(e).__name__
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    fix = {errno.ENOSPC: "free space on that disk or choose another --out",
           errno.EDQUOT: "free space within your disk quota or choose another --out",
           errno.EACCES: "make it writable or choose another --out",
           errno.EPERM: "make it writable or choose another --out",
           errno.EROFS: "that file system is read-only: choose another --out",
           errno.ENAMETOOLONG: "use a shorter name or --out",
           errno.EMFILE: "raise the limit of open files (ulimit -n)"}.get(getattr(e, "errno", None),
                                                                          "fix the cause")
    return f"{what}{where}; {fix}, {again}".replace("\n", " ")


class InputError(ValueError):
    """A user-supplied value is invalid. The message is one line: problem, then fix.

    ``path`` names the config field at fault where one is known (``mnist.unlearn.methods[2]``), else None.
    """

    def __init__(self, message: str, path: str | None = None):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
        self.path = path

    def within(self, where: str) -> "InputError":
        """The same error, inside the config table ``where``: ``where`` goes before the path, and before the
        message's own leading place (``methods[2]: unknown ...`` -> ``mnist.unlearn.methods[2]: unknown ...``)."""
        inner, message = self.path, str(self)
        path = _join(where, inner)
        head, sep, rest = message.partition(": ")
        if inner and sep and inner.startswith(head) and inner[len(head):len(head) + 1] in ("", ".", "["):
            return InputError(f"{_join(where, head)}: {rest}", path=path)
        return InputError(f"{where}: {message}", path=path)


def _join(where: str, inner: str | None) -> str:
    return where if not inner else (f"{where}{inner}" if inner.startswith("[") else f"{where}.{inner}")


def require(condition: bool, message: str) -> None:
    """Raise :class:`InputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InputError(message)


def check_alpha(alpha: Any, name: str = "noise ratio alpha") -> float:
    """Return ``alpha`` as a float, refusing anything outside [0, 1) or non-finite."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 1), got {alpha!r}") from None
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise InputError(f"{name} must lie in [0, 1), got {alpha!r}; use a value such as 0.3")
    return value


def check_positive_int(value: Any, name: str, most: int | None = None) -> int:
    """Return ``value`` as an int >= 1 (and <= ``most``, if given), refusing anything else."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    try:
        ivalue = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive integer, got {value!r}") from None
    if ivalue != value and not (isinstance(value, str) and str(ivalue) == value.strip()):
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    if ivalue < 1:
        raise InputError(f"{name} must be a positive integer (>= 1), got {value!r}")
    if most is not None and ivalue > most:
        raise InputError(f"{name} = {ivalue} is more than the {most:,} qunlearn accepts; use a smaller value")
    return ivalue


def check_finite_positive(value: Any, name: str) -> float:
    """Return ``value`` as a finite float > 0 (a learning rate, say)."""
    try:
        fvalue = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive finite number, got {value!r}") from None
    if not math.isfinite(fvalue) or fvalue <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return fvalue


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a finite float >= 0 (a loss weight, say)."""
    try:
        fvalue = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(fvalue) or fvalue < 0:
        raise InputError(f"{name} must be finite and >= 0, got {value!r}")
    return fvalue


def check_choices(items: Any, allowed: tuple[str, ...], what: str, field: str | None = None) -> tuple[str, ...]:
    """Return ``items`` as a tuple of names from ``allowed``, each at most once; errors name the config ``field``
    (and the item's index) as their path."""
    if isinstance(items, str):
        items = (items,)
    try:
        items = tuple(items)
    except TypeError:
        raise InputError(f"expected a list of {what} names ({', '.join(allowed)}), got {items!r}", path=field) from None
    for i, item in enumerate(items):
        tag = None if field is None else f"{field}[{i}]"  # field "" (inside a validator): the index alone
        if item not in allowed:
            raise InputError(f"{tag + ': ' if tag else ''}unknown {what} {item!r}; use one of {', '.join(allowed)}",
                             path=tag)
    for i, item in enumerate(items):
        if items.count(item) > 1:
            raise InputError(f"the {what} list names {item!r} twice; list each once",
                             path=None if field is None else f"{field}[{i}]")
    return items


PRECISIONS = ("complex64", "complex128")


def check_precision(precision: Any) -> str:
    """``precision`` if it is one of :data:`PRECISIONS` (circuit precision), else :class:`InputError`."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return precision


MAX_SEED = 2**32 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """A non-negative integer seed below 2**32 (what a PRNG key holds without 64-bit mode)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"{name} must be a non-negative integer, got {seed!r}")
    if seed > MAX_SEED:
        raise InputError(f"{name} = {seed} does not fit in 32 bits; use a seed in 0..{MAX_SEED}")
    return int(seed)


def count(n: int, noun: str) -> str:
    """``"1 run"``, ``"2 runs"``: a number with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
