"""Models: frozen dataclasses with ``init(key) -> params`` and ``apply(params, x) -> p(y=1)``."""

from .base import Model, n_params
from .mlp import MLP
from .qnn import QNN, LandscapeQNN

__all__ = ["Model", "n_params", "MLP", "QNN", "LandscapeQNN"]
