"""The names a config refers to, without JAX: the poisoning attacks and the unlearning methods with
the loss weights each accepts (the methods themselves are :mod:`qunlearn.unlearn`)."""

from __future__ import annotations

from .errors import InputError, check_nonnegative

ATTACKS: tuple[str, ...] = ("label-flip", "feature-randomization")

PAPER_METHODS = ("retrain", "finetune", "scrub", "gradient_ascent")

# Weights each method accepts, with their defaults (docs/PROTOCOL.md settings where the paper fixes them).
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "retrain": {},
    "finetune": {},
    "scrub": {"ce_w": 1.0, "kl_w": 0.0, "fo_w": 0.2},
    "gradient_ascent": {"ce_w": 1.0, "fo_w": 0.2},
    "neggrad_plus": {"fo_w": 0.1},
    "random_labels": {},
    "scrub_full": {"ce_w": 0.99, "kl_w": 0.001, "fo_w": 1.0, "max_epochs": 5},
    "newton": {"damping": 0.1, "max_norm": 1.0, "exact_max": 512, "rank": 32},
}

# What a method's step passes over beyond a retain minibatch, for the plan's time estimate (the methods not
# named: a retain minibatch alone): "forget", the whole forget set every step (a forget term in the loss);
# "union", minibatches over retain and forget instead of retain. :func:`qunlearn.unlearn.method` adds to it.
STEP_DATA: dict[str, str] = {"scrub": "forget", "gradient_ascent": "forget", "neggrad_plus": "forget",
                             "random_labels": "union"}
STEP_DATA_KINDS = ("retain", "forget", "union")

# Weights that must be strictly positive: a zero would divide by a zero eigenvalue or stop the method.
_POSITIVE = {("newton", "damping"), ("newton", "max_norm"), ("newton", "rank"), ("scrub_full", "max_epochs")}


def method_names() -> tuple[str, ...]:
    """Every unlearning method, in registration order (:func:`qunlearn.unlearn.method` adds one)."""
    return tuple(DEFAULT_WEIGHTS)


def resolve_weights(name: str, weights: dict[str, float] | None = None) -> dict[str, float]:
    """The method's default weights overridden by ``weights``; unknown names or bad values refused."""
    if name not in DEFAULT_WEIGHTS:
        raise InputError(f"unknown unlearning method {name!r}; use one of {', '.join(DEFAULT_WEIGHTS)}")
    out = dict(DEFAULT_WEIGHTS[name])
    for k, v in (weights or {}).items():
        if k not in out:
            allowed = ", ".join(out) or "none"
            raise InputError(f"method {name!r} takes no weight {k!r} (it takes: {allowed})")
        out[k] = check_nonnegative(v, f"weight {k} of {name!r}")
        if (name, k) in _POSITIVE and out[k] <= 0:
            raise InputError(f"weight {k} of {name!r} must be > 0 (it divides or bounds the step), got {v!r}")
    return out
