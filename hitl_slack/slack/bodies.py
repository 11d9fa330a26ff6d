"""Is a Slack request body well formed enough to hand to Bolt? Pure checks, no I/O.

Bolt parses a body (JSON, or a form whose ``payload`` field is JSON) before any listener
runs, and a body it cannot parse becomes an HTTP 500 with nothing said. Here the body is
parsed by Bolt's own request class, once, and what it cannot use (not UTF-8, not JSON,
nested deeper than :data:`MAX_DEPTH`, a field Bolt reads of the wrong type) is named, so
the front can answer 400 (HTTP) or acknowledge and dead-letter the envelope (Socket Mode).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body

__all__ = ["MAX_DEPTH", "body_problem", "bolt_request", "payload_problem", "signature_ok"]

#: Deepest nesting of a JSON body accepted. Slack's own payloads nest about ten levels.
MAX_DEPTH = 64

# Fields Bolt reads without checking their type: an object (or for the ids, a string).
_OBJECTS = ("team", "enterprise", "container", "view", "event", "message")
_OBJECT_OR_ID = ("user", "channel")


def bolt_request(
    raw: bytes,
    *,
    content_type: str | None = None,
    query: str = "",
    headers: Mapping[str, str] | None = None,
) -> AsyncBoltRequest | str:
    """The Bolt request for an HTTP body, or what is wrong with the body.

    Bolt's own parsing is the check (the body is parsed once): what it cannot parse, or
    what parses into something Bolt would trip on, is named here instead.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"body is not UTF-8 (invalid byte at offset {exc.start})"
    normal: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in (headers or {}).items()}
    if content_type:
        normal["content-type"] = content_type
    ctype = str(normal.get("content-type") or "").split(";")[0].strip()
    where = "body" if ctype == "application/json" or text.startswith("{") else "payload"
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=normal)
    except RecursionError:
        return f"{where} is nested deeper than {MAX_DEPTH} levels"
    except ValueError as exc:
        return f"{where} is not valid JSON: {exc}"
    except (TypeError, AttributeError, KeyError) as exc:  # Bolt read a field of a wrong type
        return payload_problem(parse_body(text, ctype), where) or (
            f"{where} has a field of the wrong type ({type(exc).__name__}: {exc})"
        )
    brackets = sum(text.count(b) for b in ("{", "[", "%7B", "%5B", "%7b", "%5b"))
    problem = payload_problem(request.body, where, walk=brackets > MAX_DEPTH)
    return request if problem is None else problem


def body_problem(raw: bytes, content_type: str | None) -> str | None:
    """What is wrong with an HTTP request body, or None if Bolt can use it."""
    found = bolt_request(raw, content_type=content_type)
    return found if isinstance(found, str) else None


def payload_problem(payload: Any, where: str = "payload", *, walk: bool = True) -> str | None:
    """What is wrong with a parsed payload (a Socket Mode envelope's), or None.

    Args:
        walk: check the nesting depth (skipped when the text cannot be that deep).
    """
    if not isinstance(payload, dict):
        return f"{where} is a JSON {type(payload).__name__}, not an object"
    if walk and _depth_exceeds(payload, MAX_DEPTH):
        return f"{where} is nested deeper than {MAX_DEPTH} levels"
    return _shape_problem(payload)


def signature_ok(
    raw: bytes, timestamp: str | None, signature: str | None, secret: str, now: float
) -> bool:
    """Slack's v0 request signature over the raw bytes (Bolt's check, also for non-UTF-8)."""
    if not timestamp or not signature:
        return False
    try:
        if abs(now - int(timestamp)) > 60 * 5:
            return False
    except ValueError:
        return False
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
    return hmac.compare_digest("v0=" + mac.hexdigest(), signature)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _shape_problem(payload: dict[str, Any]) -> str | None:
    for key in _OBJECTS:
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"{key} is not an object"
    for key in _OBJECT_OR_ID:
        if payload.get(key) is not None and not isinstance(payload[key], dict | str):
            return f"{key} is neither an object nor an id"
    actions = payload.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        return "actions is not a list of objects"
    return None
