"""The config schema's base: pydantic v2 models, and one translation of pydantic's errors into one line.

Every config (:mod:`qunlearn.schedule`, :mod:`qunlearn.config`) is a frozen :class:`Schema`: its fields are
typed and constrained in their annotations (the reusable types below), the checks that need the registries
or several fields are validators, and whatever pydantic refuses becomes one :class:`InputError` whose
``.path`` names the field (``models.qnn.train.lr``, ``methods[2]``) and whose message starts with it.
"""

from __future__ import annotations

import numbers
from types import UnionType
from typing import Annotated, Any, Callable, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import MAX_SEED, PRECISIONS, InputError, check_alpha, check_choices

__all__ = ["Schema", "Count", "Grid", "Choices", "Positive", "NonNegative", "Alpha", "Seed", "Precision", "one_line",
           "path_of"]


def _integer(value: Any) -> Any:
    """An integer, strictly: ``2`` or ``np.int64(2)``, never ``"2"``, ``2.0`` or ``True`` (pydantic's lax
    mode would convert them)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"must be an integer, got {value!r}")
    return int(value)


def _real(value: Any) -> Any:
    """A real number, strictly: ``0.1``, ``1`` or ``np.float32(0.1)``, never ``"0.1"`` or ``True``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"must be a number, got {value!r}")
    return float(value)


def _alpha(value: Any) -> float:
    return check_alpha(_real(value))


def _seed(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"must be a non-negative integer, got {value!r}")
    if value > MAX_SEED:
        raise InputError(f"{value} does not fit in 32 bits; use a seed in 0..{MAX_SEED}")
    return int(value)


def _precision(value: Any) -> Any:
    if value not in PRECISIONS:
        raise InputError(f"unknown precision {value!r}; use one of {', '.join(PRECISIONS)}")
    return value


def Count(most: int) -> Any:  # noqa: N802 (a type)
    """An integer in 1..``most``."""
    return Annotated[int, BeforeValidator(_integer), Field(ge=1, le=most)]


Positive = Annotated[float, BeforeValidator(_real), Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, BeforeValidator(_real), Field(ge=0, allow_inf_nan=False)]
Alpha = Annotated[float, BeforeValidator(_alpha)]
Seed = Annotated[int, BeforeValidator(_seed), Field(ge=0)]
Precision = Annotated[str, BeforeValidator(_precision)]


class Schema(BaseModel):
    """A frozen, validated config: built from keywords (or positionally, in field order), refused with one
    :class:`InputError`; ``replace`` validates again, ``to_dict`` / ``from_dict`` round-trip."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, validate_default=True)

    def __init__(self, *args: Any, **kwargs: Any):
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise InputError(f"{type(self).__name__} takes at most {len(names)} values ({', '.join(names)}), "
                             f"got {len(args)}")
        for name, value in zip(names, args):
            if name in kwargs:
                raise InputError(f"{type(self).__name__} got {name} twice")
            kwargs[name] = value
        try:
            super().__init__(**kwargs)
        except ValidationError as e:
            raise one_line(e, type(self)) from None

    def fields(self) -> dict[str, Any]:
        """The field values by name, in declaration order (not converted)."""
        return {k: getattr(self, k) for k in type(self).model_fields}

    def replace(self, **changes: Any):
        """A copy with fields replaced, validated again."""
        return type(self)(**{**self.fields(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists, dicts, numbers, strings) in field order, as stored with a run."""
        return {k: _plain(v) for k, v in self.fields().items()}

    @classmethod
    def from_dict(cls, d: Any):
        if not isinstance(d, dict):
            raise InputError(f"expected a table, got {d!r}")
        return cls(**d)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def path_of(loc: tuple) -> str | None:
    """``("models", "qnn", "train", "lr")`` -> ``models.qnn.train.lr``; ``("methods", 2)`` -> ``methods[2]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "union[")):  # pydantic's names of validator steps
            out += f".{part}" if out else str(part)
    return out or None


def _text(err: dict[str, Any], cls: type) -> str:
    """Pydantic's error ``err`` as our words: what is wrong, then the fix where one is plain."""
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return f"unknown config key {err['loc'][-1]!r}"
    if kind == "missing":
        return "is required"
    if kind == "greater_than_equal":
        if ctx["ge"] == 1 and isinstance(given, numbers.Integral):
            return f"must be a positive integer (>= 1), got {given!r}"
        return f"must be >= {ctx['ge']}, got {given!r}"
    if kind == "greater_than":
        return f"must be a positive finite number (> {ctx['gt']}), got {given!r}"
    if kind == "less_than_equal":
        return f"{given!r} is more than the {ctx['le']:,} qunlearn accepts; use a smaller value"
    if kind == "less_than":
        return f"must be below {ctx['lt']}, got {given!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {given!r}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {given!r}"
    if kind == "finite_number":
        return f"must be a finite number, got {given!r}"
    if kind == "too_short":
        return "is empty; give at least one value"
    if kind == "too_long":
        return f"has {ctx['actual_length']} values, more than the {ctx['max_length']:,} qunlearn accepts"
    if kind in ("tuple_type", "list_type", "iterable_type"):
        return f"must be a list, got {given!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a table, got {given!r}"
    if kind in ("string_type",):
        return f"must be a string, got {given!r}"
    return str(err["msg"])


def one_line(exc: ValidationError, cls: type) -> InputError:
    """The first of pydantic's errors as one :class:`InputError`: ``path: what is wrong``, ``.path`` = path."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, InputError):  # one of our checks, inside a validator: its words, at its place
        title = getattr(_field_at(cls, loc), "title", None)
        if title and str(inner).startswith("must "):  # a bare "must be ..." reads better with the field's words
            inner = InputError(f"{title} {inner}", path=inner.path)
        return inner.within(path_of(loc)) if path_of(loc) else inner
    path = path_of(loc)
    text = _text(err, cls)
    title = getattr(_field_at(cls, loc), "title", None)  # a field's words for itself: "learning rate" for lr
    if title and err["type"] != "extra_forbidden":
        text = f"{title} {text}"
    if err["type"] == "extra_forbidden":
        model = _model_at(cls, loc[:-1])
        known = f"; known keys there: {', '.join(sorted(model.model_fields))}" if model is not None else ""
        where = path_of(loc[:-1])  # the message starts with the table that holds the unknown key
        return InputError(f"{where + ': ' if where else ''}{text}{known}", path=path)
    return InputError(f"{path}: {text}" if path else text, path=path)


def _field_at(cls: type, loc: tuple) -> Any:
    """The pydantic FieldInfo of the field at ``loc`` (through nested schemas, dicts and tuples), or None."""
    ann, field = cls, None
    for part in loc:
        ann = _unwrap(ann, isinstance(part, str))
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(part, str):
            field = ann.model_fields.get(part)
            ann = getattr(field, "annotation", None)
        elif get_origin(ann) in (dict, tuple):
            field, ann = None, get_args(ann)[-1 if get_origin(ann) is dict else 0]
        else:
            return None
    return field


def _unwrap(ann: Any, named: bool) -> Any:
    """``X | None`` -> X; ``Annotated[X, ...]`` -> X."""
    while True:
        if get_origin(ann) is Annotated:
            ann = get_args(ann)[0]
        elif get_origin(ann) in (Union, UnionType):
            ann = next(a for a in get_args(ann) if a is not type(None))
        else:
            return ann


def _model_at(cls: type, loc: tuple) -> type | None:
    """The schema class that holds the field at ``loc`` (for the list of keys it knows), where it is one."""
    model = _unwrap(cls, True) if not loc else _unwrap(getattr(_field_at(cls, loc), "annotation", None), True)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _listish(value: Any) -> Any:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise InputError(f"must be a list, got {value!r}")
    return tuple(value)


def _unique(value: tuple) -> tuple:
    if len(set(value)) != len(value):
        raise InputError(f"repeats a value: {list(value)}; list each once")
    return value


def Grid(item: Any, most: int, least: int = 1) -> Any:  # noqa: N802 (a type)
    """A tuple of ``least``..``most`` distinct ``item`` values (a list in TOML and Python)."""
    return Annotated[tuple[item, ...], BeforeValidator(_listish), Field(min_length=least, max_length=most),
                     AfterValidator(_unique)]


def Choices(allowed: Callable[[], tuple[str, ...]], what: str) -> Any:  # noqa: N802 (a type)
    """A non-empty tuple of distinct names from ``allowed()`` (read when a value is checked: registries grow)."""

    def check(value: Any) -> tuple[str, ...]:
        names = allowed()
        out = check_choices(value, names, what, field="")
        if not out:
            raise InputError(f"no {what} selected; use some of {', '.join(names)}")
        return out

    return Annotated[tuple[str, ...], BeforeValidator(check)]
