"""Experiments: each turns a config into tidy tables in a run directory (the runners of the registered
experiments, :mod:`qunlearn.registry`).

The module is also callable: ``qunlearn.experiments()`` returns the names of the registered experiments
(the same as :func:`qunlearn.api.experiments`), so that ``import qunlearn as ql; ql.experiments()`` works
although ``qunlearn.experiments`` is this package.
"""

import sys as _sys
import types as _types


class _Callable(_types.ModuleType):
    def __call__(self) -> tuple[str, ...]:
        from ..api import experiments

        return experiments()


_sys.modules[__name__].__class__ = _Callable
