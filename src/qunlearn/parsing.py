"""Parsing of the CLI's list and grid arguments into validated values (errors are one-line InputErrors)."""

from __future__ import annotations

import math

from .errors import InputError, check_alpha, check_choices, check_nonnegative

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
        if not all(math.isfinite(v) for v in (start, stop, step)) or step <= 0:
            raise InputError(f"{what} range {text!r} needs a positive finite step, e.g. 0:0.9:0.1")
        if stop < start:
            raise InputError(f"{what} range {text!r} is empty (stop < start); e.g. 0:0.9:0.1")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        values = [round(start + i * step, 10) for i in range(count)]
    else:
        values = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise InputError(f"{what} list {text!r} has an empty entry; e.g. {flag} 0,0.3,0.5")
            values.append(check(part))
    return tuple(check(v) for v in values)


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
        out.setdefault(method.strip(), {})[name.strip()] = check_weight(value)
    return out


def parse_list(text: str, allowed: tuple[str, ...], what: str, flag: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in (text or "").split(",") if s.strip())
    if not items:
        raise InputError(f"no {what} given; pass {flag} {','.join(allowed)}")
    return check_choices(items, allowed, what)


