"""Parsing of the CLI's list and grid arguments into validated values (errors are one-line InputErrors)."""

from __future__ import annotations

import math

from .errors import InputError, check_alpha, check_choices, check_nonnegative

MAX_VALUES = 1000  # values in one grid or list (the configs hold the same bound)


def parse_grid(text: str, what: str, flag: str, check) -> tuple[float, ...]:
    """``start:stop:step`` (stop included) or a comma list; every value passed through ``check``."""
    text = (text or "").strip()
    if not text:
        raise InputError(f"the {what} grid is empty; pass e.g. {flag} 0:0.9:0.1 or {flag} 0,0.3,0.5")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"{what} range {text!r} must be start:stop:step, e.g. 0:0.9:0.1")
        try:
            start, stop, step = (float(p) for p in parts)
        except ValueError:
            raise InputError(f"{what} range {text!r} must hold three numbers, e.g. 0:0.9:0.1") from None
        if not all(math.isfinite(v) for v in (start, stop, step)):
            raise InputError(f"{what} range {text!r} needs finite start, stop and step, e.g. 0:0.9:0.1")
        if step <= 0:
            raise InputError(f"{what} range {text!r} needs a positive step, e.g. 0:0.9:0.1")
        if stop < start:
            raise InputError(f"{what} range {text!r} is empty (stop < start); e.g. 0:0.9:0.1")
        span = (stop - start) / step
        if span + 1 > MAX_VALUES:
            raise InputError(f"{what} range {text!r} has about {span + 1:.3g} values, more than the {MAX_VALUES} "
                             f"qunlearn accepts; use a larger step, e.g. {flag} 0:0.9:0.1")
        count = int(math.floor(span + 1e-9)) + 1
        values = [round(start + i * step, 10) for i in range(count)]
    else:
        values = []
        if text.count(",") + 1 > MAX_VALUES:
            raise InputError(f"the {what} list has {text.count(',') + 1} values, more than the {MAX_VALUES} "
                             "qunlearn accepts")
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise InputError(f"{what} list {text!r} has an empty entry; e.g. {flag} 0,0.3,0.5")
            values.append(check(part))
    out = tuple(check(v) for v in values)
    if len(set(out)) != len(out):
        raise InputError(f"the {what} grid {text!r} repeats a value; list each once")
    return out


def parse_alphas(text: str) -> tuple[float, ...]:
    """Noise ratios: ``start:stop:step`` (stop included) or a comma list such as ``0,0.3,0.5``."""
    return parse_grid(text, "alpha", "--alphas", check_alpha)


def check_weight(v) -> float:
    return check_nonnegative(v, "loss weight")


def parse_weights(items: list[str]) -> dict[str, dict[str, float]]:
    """``--weight scrub.fo_w=0.5`` (repeatable) -> {"scrub": {"fo_w": 0.5}}."""
    out: dict[str, dict[str, float]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise InputError(f"--weight {item!r} must look like METHOD.WEIGHT=VALUE, e.g. --weight scrub.fo_w=0.5")
        method, name = method.strip(), name.strip()
        if name in out.get(method, {}):
            raise InputError(f"--weight {method}.{name} is given twice; give each weight once")
        out.setdefault(method, {})[name] = check_weight(value)
    return out


def parse_list(text: str, allowed: tuple[str, ...], what: str, flag: str) -> tuple[str, ...]:
    """A comma list of names from ``allowed``; empty items and repeated names are refused."""
    items = tuple(s.strip() for s in (text or "").split(","))
    if not any(items):
        raise InputError(f"no {what} given; pass {flag} {','.join(allowed)}")
    if not all(items):
        raise InputError(f"the {what} list {text!r} has an empty item; e.g. {flag} {','.join(allowed[:2])}")
    return check_choices(items, allowed, what)




def parse_methods(text: str | None, methods: tuple[str, ...], paper: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--methods``: ``all``, ``paper`` or a comma list of method names (None: the preset's)."""
    if text is None:
        return None
    return {"all": tuple(methods), "paper": tuple(paper)}.get(text) or parse_list(
        text, tuple(methods), "unlearning method", "--methods")


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """A comma list of non-negative integer seeds (empty items refused)."""
    items = [p.strip() for p in (text or "").split(",")]
    if not any(items):
        raise InputError(f"no seed given; pass e.g. {flag} 0,42,123")
    if not all(items):
        raise InputError(f"the seed list {text!r} has an empty item; e.g. {flag} 0,42,123")
    if len(items) > MAX_VALUES:
        raise InputError(f"{len(items)} seeds are more than the {MAX_VALUES} qunlearn accepts")
    try:
        return tuple(int(p) for p in items)
    except ValueError:
        raise InputError(f"seeds must be comma-separated non-negative integers, got {text!r}") from None
