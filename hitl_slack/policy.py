"""The policy a request is decided by, snapshotted when it is routed.

Pure: no Redis, no Slack. The bot resolves the routes file into a :class:`Policy` once, when it
posts the request, and stores it on the request (hash field ``policy``) in the same atomic step
that records the message. From then on every click, timer and listing reads the snapshot, never
the live routes file: a change of the file applies to requests posted after it.

A policy is data with a schema version ``v``. Later settings (a quorum, reminders, escalation,
auto-approval, redaction) are further fields with defaults that mean "as before", so a snapshot
written by this version still reads the same after an upgrade, and one written by a newer
version is read by this one without the fields it does not know (:func:`hitl_slack.models.lenient`).

Requests posted before snapshots existed carry the policy in their message record
(``approvers``, ``reject_reason_required``, ``route``); :func:`legacy` reads it from there.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitl_slack.jsonvalues import digest

__all__ = ["Policy", "deadline", "legacy"]


class Policy(BaseModel):
    """How one request is decided.

    Attributes:
        route: the route's name, or ``None`` when no rule matched (the defaults).
        channel: the channel the route posts in.
        approvers: user and user group ids who may decide; empty means anyone who sees the
            message (the channel decides who may click).
        reject_reason_required: whether a rejection must give a reason.
        timeout_cap: the longest wait the route allows, in seconds; ``None`` for no cap.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    route: str | None = None
    channel: str
    approvers: tuple[str, ...] = ()
    reject_reason_required: bool = False
    timeout_cap: Annotated[float | None, Field(gt=0)] = None

    def digest(self) -> str:
        """sha256 of the canonical JSON: what each decision's audit entry names it by."""
        return digest(self.model_dump(mode="json"))


def deadline(created: datetime, timeout: float, policy: Policy | None) -> datetime:
    """The deadline in force: the request's own, or earlier if the policy caps the wait.

    Args:
        created: when the request was created, by Redis' clock (the one that judges deadlines).
        timeout: the seconds the agent asked to wait.
        policy: the request's policy; ``None`` (not routed yet) caps nothing.
    """
    cap = policy.timeout_cap if policy is not None else None
    return created + timedelta(seconds=timeout if cap is None else min(timeout, cap))


def legacy(message_json: str, channel: str) -> Policy | None:
    """The policy a version without snapshots kept in the message record, if it kept one.

    Args:
        message_json: the stored ``message`` field (JSON of the old message record).
        channel: the channel it was posted in.

    Returns:
        The policy it was posted under, or ``None`` if the record is not one of those. Its
        ``timeout_cap`` is ``None``: the old bot had already applied it to the deadline.
    """
    try:
        data: Any = json.loads(message_json)
    except ValueError:
        return None
    if not isinstance(data, dict) or "approvers" not in data:
        return None
    try:
        return Policy(
            route=data.get("route"),
            channel=channel,
            approvers=tuple(data.get("approvers") or ()),
            reject_reason_required=bool(data.get("reject_reason_required", False)),
        )
    except (ValidationError, TypeError):
        return None
