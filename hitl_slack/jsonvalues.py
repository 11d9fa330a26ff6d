"""Plain JSON values: the checks every payload passes, their canonical form and digests, and
lenient reading of what another version stored.

Pure, no Redis, no Slack; shared by the request models, policies and the audit trail.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hitl_slack.errors import InvalidRequest

__all__ = [
    "MAX_PAYLOAD_DEPTH",
    "canonical_json",
    "check_json",
    "digest",
    "lenient",
    "unicode_text",
    "validation_message",
]

#: Deepest nesting of objects and arrays in a payload (the payload object itself is level 1).
MAX_PAYLOAD_DEPTH = 64
#: Integers in a payload must fit in 64 bits (JSON readers elsewhere lose anything larger).
_INT_LIMIT = 2**63


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``, as hex: the audit digest of arguments."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def unicode_text(value: str) -> str:
    """``value`` if it encodes as UTF-8 (no lone surrogates), else ``ValueError``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "contains characters that are not valid Unicode (lone surrogates)"
        ) from None
    return value


def _where(path: str) -> str:
    return f"at {path[:80]}" if path else "at the top level"


def _check_scalar(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        try:
            unicode_text(value)
        except ValueError as exc:
            raise ValueError(f"{exc} {_where(path)}") from None
    elif isinstance(value, int):
        if not -_INT_LIMIT <= value < _INT_LIMIT:
            raise ValueError(f"has an integer that does not fit in 64 bits {_where(path)}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"must be JSON-serialisable: {value} {_where(path)} (JSON has no NaN or infinity)"
            )
    else:
        raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
            f"must be JSON-serialisable: a {type(value).__name__} {_where(path)} is not "
            "(use str, int, float, bool, None, lists and dicts with str keys)"
        )


def check_json(value: Any, max_depth: int = MAX_PAYLOAD_DEPTH) -> None:
    """Check that ``value`` is plain JSON no deeper than ``max_depth``, without recursion.

    Raises:
        ValueError: what is wrong and where (a path of keys and indexes).
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise ValueError(f"is nested deeper than {max_depth} levels {_where(path)}")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise ValueError(  # noqa: TRY004 (a pydantic validator's error)
                            f"has a key of type {type(key).__name__} {_where(path)}; "
                            "keys must be strings"
                        )
                    _check_scalar(key, path)
                    stack.append((child, depth + 1, f"{path}.{key}" if path else key))
            else:
                stack.extend((c, depth + 1, f"{path}[{i}]") for i, c in enumerate(item))
        else:
            _check_scalar(item, path)


M = TypeVar("M", bound=BaseModel)


def lenient(model: type[M], text: str) -> M:
    """Parse JSON written by any version: fields this version does not know are dropped.

    Agents' input is strict (an unknown argument is an error); what is read back from Redis
    may come from a newer writer and must not stop this one.
    """
    data = json.loads(text)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k in model.model_fields}
    return model.model_validate(data)


def validation_message(exc: ValidationError, what: str) -> InvalidRequest:
    """Turn a pydantic error into an :class:`InvalidRequest` naming each field and problem."""
    errors: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or what
        msg = err["msg"].removeprefix("Value error, ")
        errors.append((loc, msg))
    text = "; ".join(f"{loc}: {msg}" for loc, msg in errors)
    return InvalidRequest(f"invalid {what}: {text}", errors)
