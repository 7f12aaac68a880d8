"""A module imported on first use: ``pd = lazy("pandas")`` costs nothing until ``pd.DataFrame`` is read.

The experiments' declarations (:mod:`qunlearn.parts`) and the report helpers they share are read whenever
the command line starts or a config is resolved; their tables and claims need pandas and NumPy only when
they run. So the CLI can list and check every experiment's command without importing either.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


class _Lazy:
    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def lazy(name: str) -> ModuleType:
    """A stand-in for ``import_module(name)`` that imports it when one of its attributes is first read."""
    return _Lazy(name)  # type: ignore[return-value]
