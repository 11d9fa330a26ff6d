"""The "what just happened" panel: the Redis keys one request touches and its audit events.

What ``hitl-slack audit show`` prints, and a look at each key of :mod:`hitl_slack.keys` that
holds something of the request, read with a plain (sync) client in a worker thread.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import redis

from hitl_slack.audit import trail
from hitl_slack.audit.chain import UnreadableEntry
from hitl_slack.keys import Keys

__all__ = ["explain"]


def _ttl(r: redis.Redis, key: str) -> int | None:
    ttl = int(r.ttl(key))  # -1: none, -2: gone
    return ttl if ttl >= 0 else None


def _request_keys(r: redis.Redis, keys: Keys, request_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    key = keys.request(request_id)
    fields = cast(dict[str, str], r.hgetall(key))
    if fields:
        status = fields.get("status", "?")
        out.append(
            {
                "key": key,
                "type": "hash",
                "ttl": _ttl(r, key),
                "about": f"the request; status {status}; fields: {', '.join(sorted(fields))}",
            }
        )
        request = json.loads(fields.get("request") or "{}")
        idem = request.get("idempotency_key") if isinstance(request, dict) else None
        if idem:
            ikey = keys.idempotency(str(idem))
            out.append(
                {
                    "key": ikey,
                    "type": "string",
                    "ttl": _ttl(r, ikey),
                    "about": "idempotency key -> this request",
                }
            )
    else:
        out.append({"key": key, "type": "none", "ttl": None, "about": "gone (retention ended)"})
    for zkey, member, what in (
        (keys.timers, f"expire:{request_id}", "its expiry timer (fires at the deadline)"),
        (keys.pending, request_id, "in the pending listing (/hitl pending, App Home)"),
    ):
        score = r.zscore(zkey, member)
        due = None if score is None else datetime.fromtimestamp(score / 1000, UTC)
        about = f"{what}: due {due:%Y-%m-%d %H:%M:%S} UTC" if due else f"not here: {what}"
        out.append(
            {"key": f"{zkey} [{member}]", "type": "zset member", "ttl": None, "about": about}
        )
    out.append(
        {
            "key": keys.decided_channel(request_id),
            "type": "pub/sub",
            "ttl": None,
            "about": "the decision is published here the moment it is written (no polling)",
        }
    )
    for skey, what in ((keys.queue, "new requests"), (keys.outcomes, "decisions to show")):
        out.append(
            {
                "key": skey,
                "type": "stream",
                "ttl": None,
                "about": f"{what}: {r.xlen(skey)} entries unhandled (handled ones are deleted)",
            }
        )
    return out


def _audit(r: redis.Redis, keys: Keys, request_id: str) -> list[dict[str, Any]]:
    events = []
    for entry in trail.read_entries(r, keys):
        try:
            event = entry.event()
        except UnreadableEntry:
            continue  # audit verify reports those
        if event.request_id != request_id:
            continue
        events.append(
            {
                "entry": entry.id,
                "ts": event.ts.isoformat(),
                "event": event.event,
                "actor": event.actor,
                "reason": event.reason,
                "digest": event.args_digest,
                "policy": event.policy_digest,
            }
        )
    return events


def explain(url: str, keys: Keys, request_id: str) -> dict[str, Any]:
    """The keys and audit events of ``request_id`` (blocking: run it in a thread)."""
    r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)
    try:
        return {
            "request_id": request_id,
            "keys": _request_keys(r, keys, request_id),
            "audit": _audit(r, keys, request_id),
            "audit_command": f"HITL_KEY_PREFIX={keys.prefix} hitl-slack audit show {request_id}",
        }
    finally:
        r.close()
