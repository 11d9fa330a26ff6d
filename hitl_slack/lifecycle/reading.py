"""Reading a request: its hash, whatever version wrote it, as a :class:`RequestState`."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from hitl_slack import kinds
from hitl_slack.errors import InvalidRequest, RequestNotFound
from hitl_slack.lifecycle.commands import Command, Gen, moment
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.models import (
    Decision,
    MessageRef,
    RequestState,
    Status,
    Vote,
    lenient,
    validation_message,
)
from hitl_slack.policy import Policy, legacy

__all__ = ["decision_from_message", "get", "parse_state"]


def parse_state(request_id: str, fields: dict[str, str]) -> RequestState:
    """Build a :class:`RequestState` from a request hash, whatever version wrote it.

    Raises:
        InvalidRequest: the stored entry is not a valid request (names the field).
    """
    if fields.get("unconfirmed") == "1":
        # A decision no replica confirmed yet (HITL_REDIS_MIN_REPLICAS) is not acted on.
        fields = {k: v for k, v in fields.items() if k != "decision"} | {"status": "pending"}
    try:
        message = lenient(MessageRef, fields["message"]) if fields.get("message") else None
        return RequestState(
            request=kinds.parse_request(fields["request"], f"stored request {request_id}"),
            status=Status(fields["status"]),
            decision=lenient(Decision, fields["decision"]) if fields.get("decision") else None,
            message=message,
            deadline=moment(fields.get("deadline")),
            created=moment(fields.get("created")),
            policy=_policy(fields, message),
            **_votes_and_copies(fields),
        )
    except ValidationError as exc:
        raise validation_message(exc, f"stored request {request_id}") from None
    except (KeyError, ValueError) as exc:
        raise InvalidRequest(f"invalid stored request {request_id}: {exc!r}") from None


def _votes_and_copies(fields: dict[str, str]) -> dict[str, Any]:
    """What the steps of a request decided by several people and the clock wrote: its votes,
    the arguments as edited while votes are needed, the levels reached and its copies."""
    found: dict[str, Any] = {}
    if fields.get("votes"):
        found["votes"] = tuple(lenient(Vote, json.dumps(v)) for v in json.loads(fields["votes"]))
    if fields.get("proposed"):
        found["proposed"] = json.loads(fields["proposed"])
    for name in ("level", "reminded"):
        if fields.get(name):
            found[name] = int(fields[name])
    if fields.get("copies"):
        copies = json.loads(fields["copies"])
        found["copies"] = tuple(lenient(MessageRef, json.dumps(c)) for c in copies)
    return found


def _policy(fields: dict[str, str], message: MessageRef | None) -> Policy | None:
    """The stored snapshot; for a request posted before snapshots, the one in its message."""
    if fields.get("policy"):
        return lenient(Policy, fields["policy"])
    if message is not None and fields.get("message"):
        return legacy(fields["message"], message.channel)
    return None


def get(cfg: StoreConfig, request_id: str) -> Gen[RequestState]:
    """Read a request's state.

    Raises:
        RequestNotFound: no such request (or its retention ended).
    """
    fields = yield Command(("HGETALL", cfg.keys.request(request_id)))
    if not fields:
        raise RequestNotFound(request_id)
    return parse_state(request_id, fields)


def decision_from_message(data: str) -> Decision:
    """Parse a decision published on a request's channel."""
    return lenient(Decision, data)
