"""Models: frozen dataclasses with ``init(key) -> params`` and ``apply(params, x) -> p(y=1)``.

Built in: :class:`QNN`, :class:`LandscapeQNN`, :class:`MLP` (specs :class:`QNNSpec`, :class:`MLPSpec`).
A new model kind for config files: a spec class and :func:`register_model`. A user's own model
object or TensorCircuit-NG circuit, from Python: :class:`UserModelSpec`, :func:`from_circuit`.

The model classes are imported on first use, so that reading a config (which
needs only :mod:`qunlearn.models.specs`) does not load TensorCircuit-NG.
"""

import sys as _sys
import types as _types
from importlib import import_module

_WHERE = {"Model": "base", "n_params": "base", "MLP": "mlp", "QNN": "qnn", "LandscapeQNN": "qnn", "CircuitQNN": "qnn",
          "QNNSpec": "specs", "MLPSpec": "specs", "register_model": "specs", "model_kinds": "specs",
          "UserModelSpec": "custom", "UserModel": "custom", "CircuitModel": "custom", "from_circuit": "custom"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Callable(_types.ModuleType):
    """``qunlearn.models()`` lists the registered model kinds (so that ``ql.models()`` works although
    ``qunlearn.models`` is this package); :func:`qunlearn.models.specs.model_kinds` is the same list."""

    def __call__(self) -> tuple[str, ...]:
        from .specs import model_kinds

        return model_kinds()


_sys.modules[__name__].__class__ = _Callable
