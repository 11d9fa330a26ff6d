"""Is a Slack request body well formed enough to hand to Bolt? Pure checks, no I/O.

Bolt parses a body (JSON, or a form whose ``payload`` field is JSON) before any listener
runs, and a body it cannot parse becomes an HTTP 500 with nothing said. These checks run
first, on the same rules Bolt uses (``application/json`` or a body starting with ``{`` is
JSON; otherwise a form), and name what is wrong, so the front can answer 400 (HTTP) or
acknowledge and dead-letter the envelope (Socket Mode).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["MAX_DEPTH", "body_problem", "payload_problem", "signature_ok"]

#: Deepest nesting of a JSON body accepted. Slack's own payloads nest about ten levels.
MAX_DEPTH = 64

# Fields Bolt reads without checking their type: an object (or for the ids, a string).
_OBJECTS = ("team", "enterprise", "container", "view", "event", "message")
_OBJECT_OR_ID = ("user", "channel")


def body_problem(raw: bytes, content_type: str | None) -> str | None:
    """What is wrong with an HTTP request body, or None if Bolt can parse it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"body is not UTF-8 (invalid byte at offset {exc.start})"
    if (content_type or "").split(";")[0].strip() == "application/json" \
            or text.startswith("{"):
        return _json_problem(text, "body")
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in fields:
        return _json_problem(fields["payload"], "payload")
    return None


def payload_problem(payload: Any) -> str | None:
    """What is wrong with an already parsed payload (a Socket Mode envelope's), or None."""
    if not isinstance(payload, dict):
        return f"payload is a JSON {type(payload).__name__}, not an object"
    if _depth_exceeds(payload, MAX_DEPTH):
        return f"payload is nested deeper than {MAX_DEPTH} levels"
    return _shape_problem(payload)


def signature_ok(raw: bytes, timestamp: str | None, signature: str | None, secret: str,
                 now: float) -> bool:
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


def _json_problem(text: str, where: str) -> str | None:
    try:
        value = json.loads(text)
    except RecursionError:
        return f"{where} is nested deeper than {MAX_DEPTH} levels"
    except ValueError as exc:
        return f"{where} is not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"{where} is a JSON {type(value).__name__}, not an object"
    # Counting brackets is C-speed; only a body with many of them is walked.
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth_exceeds(value, MAX_DEPTH):
        return f"{where} is nested deeper than {MAX_DEPTH} levels"
    return _shape_problem(value)


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
    if actions is not None and not (isinstance(actions, list)
                                    and all(isinstance(a, dict) for a in actions)):
        return "actions is not a list of objects"
    return None
