"""qunlearn: poisoning resilience and machine unlearning of quantum vs classical networks.

Chen and Zhang, "Superior resilience to poisoning and amenability to unlearning in quantum machine
learning" (arXiv:2508.02422), reproduced and extended. The Python API::

    import qunlearn as ql
    run = ql.run("poison", preset="quick", dataset="mnist", out="runs/nb",
                 models=["mlp"], alphas=[0, 0.3], runs=1, epochs=2)
    run.results                    # the tidy results table (pandas)
    fig = run.figure("figure2")    # a matplotlib Figure: nothing written
    ql.load("runs/nb").claims      # each claim: .id, .statement, .held, .evidence
    ql.experiments(), ql.datasets(), ql.models()

Importing the package is cheap: JAX, matplotlib and pandas load on first use of what needs them.
"""

from __future__ import annotations

from importlib import import_module

from .errors import InputError

__version__ = "0.1.0"

_LAZY = {
    "run": "api", "load": "api", "resolve": "api", "Run": "api", "datasets": "api", "register": "api",
    "Experiment": "registry", "Step": "registry", "ClaimRule": "registry",
    "Dataset": "data", "from_arrays": "data", "load_npz": "data",
    "from_circuit": "models", "UserModelSpec": "models",
}

__all__ = ["InputError", "__version__", "experiments", "models", *_LAZY]


_CALLABLE = ("experiments", "models")  # subpackages whose modules are callable: ql.experiments() lists the names


def __getattr__(name: str):
    if name in _CALLABLE:
        return import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_CALLABLE))
