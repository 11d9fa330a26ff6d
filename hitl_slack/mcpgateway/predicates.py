"""Argument predicates of a gate rule: ``when = { amount = { gt = 1000 } }``.

Pure: no MCP, no Redis. A rule's ``when`` table maps an argument to a :class:`Condition`, a
table of operators that must all hold:

==========  ==============================================================================
operator    holds when the argument is present and
==========  ==============================================================================
``eq``      equals the operand (JSON equality: ``1 == 1.0``, but ``true`` is not ``1``)
``ne``      is of the operand's JSON type and differs from it
``gt``      is a number greater than a number operand, or a string after a string operand
``ge``      as ``gt``, or equal
``lt``      as ``gt``, smaller or before
``le``      as ``lt``, or equal
``in``      equals one of the operand's values (a non-empty list)
``glob``    is a string matching the glob, or one of a list of globs (``fnmatch``, case
            sensitive: ``*`` also matches ``/``)
``exists``  ``exists = true``: the argument is present (``null`` counts); ``false``: absent
==========  ==============================================================================

A missing argument never satisfies anything but ``exists = false``, and a value of another JSON
type than the operand satisfies nothing (``gt = 1000`` does not hold for ``"5000"``, a string):
no match, so that rule does not apply. An argument is named by its key, or a dotted path into
nested objects and arrays (``"to.iban"``, ``"items.0.price"``); a dot always separates levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

__all__ = ["ABSENT", "OPERATORS", "Condition", "json_equal", "lookup"]

#: The operators a condition may use.
OPERATORS: Final = ("eq", "ne", "gt", "ge", "lt", "le", "in", "glob", "exists")


class _Absent:
    """The value of an argument the call does not have."""

    def __repr__(self) -> str:
        return "ABSENT"


#: What :func:`lookup` returns for a missing argument.
ABSENT: Final = _Absent()


def lookup(arguments: Mapping[str, Any], path: str) -> Any:
    """The argument at ``path`` (``"amount"``, ``"to.iban"``, ``"items.0"``), or :data:`ABSENT`."""
    value: Any = arguments
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return ABSENT
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: numbers by value (``1 == 1.0``), never across JSON types."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _json_operand(value: Any) -> Any:
    """A TOML value usable as an operand: plain JSON (no dates or times)."""
    kind = _kind(value)
    if kind == "array":
        return [_json_operand(v) for v in value]
    if kind == "object":
        return {str(k): _json_operand(v) for k, v in value.items()}
    if kind in ("null", "boolean", "number", "string"):
        if kind == "number" and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    raise ValueError(
        f"must be a JSON value (a string, number, boolean, array or table), not {kind}"
    )


def _ordered_operand(value: Any) -> Any:
    if _kind(value) not in ("number", "string"):
        raise ValueError(f"must be a number or a string, not {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _options(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of values")
    return tuple(_json_operand(v) for v in value)


def _globs(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError("must be a glob or a non-empty list of globs")
    return tuple(items)


JsonOperand = Annotated[Any, BeforeValidator(_json_operand)]
Ordered = int | float | str
OrderedOperand = Annotated[Ordered | None, BeforeValidator(_ordered_operand)]


class Condition(BaseModel):
    """The operators one argument must satisfy, all of them (see the module's table)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    eq: JsonOperand = None
    ne: JsonOperand = None
    gt: OrderedOperand = None
    ge: OrderedOperand = None
    lt: OrderedOperand = None
    le: OrderedOperand = None
    in_: Annotated[tuple[Any, ...] | None, BeforeValidator(_options), Field(alias="in")] = None
    glob: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...] | None, BeforeValidator(_globs)
    ] = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_table(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
                "must be a table of operators, e.g. { gt = 1000 }"
            )
        return raw

    @model_validator(mode="after")
    def _some_operator(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError(f"needs at least one operator ({', '.join(OPERATORS)})")
        return self

    def holds(self, value: Any) -> bool:
        """Whether ``value`` (:data:`ABSENT` for a missing argument) satisfies every operator."""
        if value is ABSENT:
            return self.exists is False
        if self.exists is False:
            return False
        checks = (
            self.eq is None or json_equal(value, self.eq),
            self.ne is None or (_kind(value) == _kind(self.ne) and not json_equal(value, self.ne)),
            self.gt is None or _ordered(value, self.gt, lambda a, b: a > b),
            self.ge is None or _ordered(value, self.ge, lambda a, b: a >= b),
            self.lt is None or _ordered(value, self.lt, lambda a, b: a < b),
            self.le is None or _ordered(value, self.le, lambda a, b: a <= b),
            self.in_ is None or any(json_equal(value, option) for option in self.in_),
            self.glob is None
            or (isinstance(value, str) and any(fnmatchcase(value, g) for g in self.glob)),
        )
        return all(checks)


def _ordered(value: Any, operand: Ordered, compare: Any) -> bool:
    """``compare(value, operand)`` if both are numbers or both strings; False otherwise."""
    kind = _kind(value)
    if kind != _kind(operand) or kind not in ("number", "string"):
        return False
    if kind == "number" and not math.isfinite(value):
        return False
    return bool(compare(value, operand))
