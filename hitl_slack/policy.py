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
from hitl_slack.requests import Risk

__all__ = [
    "OFF",
    "Level",
    "Notify",
    "Offset",
    "OnTimeout",
    "Policy",
    "at_or_above",
    "deadline",
    "legacy",
]

OnTimeout = Literal["expire", "reject", "approve"]
Notify = Literal["channel", "dm"]
#: How a risk threshold is switched off in the routes file (``typed_confirm = "off"``).
OFF = "off"
_RISK_ORDER = (Risk.LOW, Risk.MEDIUM, Risk.HIGH, Risk.CRITICAL)


def at_or_above(risk: Risk, threshold: Risk | None) -> bool:
    """Whether ``risk`` reaches ``threshold`` (None: the threshold is off)."""
    return threshold is not None and _RISK_ORDER.index(risk) >= _RISK_ORDER.index(threshold)


class _Part(BaseModel):
    # Read back leniently: a newer writer's extra keys are dropped, not refused.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Offset(_Part):
    """When a reminder fires: ``after`` seconds from posting, or a ``share`` of the time from
    posting to the deadline (0.8 for ``"80%"``)."""

    after: Annotated[float | None, Field(gt=0)] = None
    share: Annotated[float | None, Field(gt=0, lt=1)] = None

    def due(self, posted_ms: int, deadline_ms: int) -> int | None:
        """When it fires (epoch ms), or None when that is not before the deadline."""
        if self.after is not None:
            due = posted_ms + round(self.after * 1000)
        else:
            due = posted_ms + round((self.share or 0) * (deadline_ms - posted_ms))
        return due if due < deadline_ms else None

    def label(self) -> str:
        """As written in the routes file: ``"10m"``-like seconds, or ``"80%"``."""
        if self.share is not None:
            return f"{self.share * 100:g}%"
        return f"{self.after:g}s"


class Level(_Part):
    """One escalation level: ``after`` seconds since posting with no decision, who joins the
    approvers, and the channel the request is also posted in (None: the same message)."""

    after: Annotated[float, Field(gt=0)]
    channel: str | None = None
    approvers: tuple[str, ...] = ()


class Policy(BaseModel):
    """How one request is decided.

    Attributes:
        route: the route's name, or ``None`` when no rule matched (the defaults).
        channel: the channel the route posts in.
        approvers: user and user group ids who may decide; empty means anyone who sees the
            message (the channel decides who may click).
        reject_reason_required: whether a rejection must give a reason.
        timeout_cap: the longest wait the route allows, in seconds; ``None`` for no cap.
        requested_by: the Slack user the agent acts for, as the bot resolved it when posting.
        quorum: distinct approvers whose approval of the same arguments approves.
        veto: whether one approver's rejection rejects at once (else rejections are votes).
        self_approval: whether ``requested_by`` may approve.
        reminders: when to remind the approvers who have not voted.
        escalate: the escalation levels, in order.
        on_timeout: what the deadline decides.
        notify: where the request appears: the channel, and/or each approver's DM.
        confirm: the lowest risk whose Approve asks "are you sure?" (None: never).
        typed_confirm: the lowest risk whose approval needs a typed value (None: never).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    route: str | None = None
    channel: str
    approvers: tuple[str, ...] = ()
    reject_reason_required: bool = False
    timeout_cap: Annotated[float | None, Field(gt=0)] = None
    requested_by: str | None = None
    quorum: Annotated[int, Field(ge=1)] = 1
    veto: bool = True
    self_approval: bool = False
    reminders: tuple[Offset, ...] = ()
    escalate: tuple[Level, ...] = ()
    on_timeout: OnTimeout = "expire"
    notify: tuple[Notify, ...] = ("channel",)
    confirm: Risk | None = Risk.HIGH
    typed_confirm: Risk | None = None

    @property
    def counts_votes(self) -> bool:
        """Whether a click is a vote (a quorum, or rejections without veto), not a decision."""
        return self.quorum > 1 or not self.veto

    def approvers_at(self, level: int) -> tuple[str, ...]:
        """Who may decide once ``level`` escalation levels were reached (earlier ones keep
        their right); empty means anyone who sees the message."""
        if not self.approvers:
            return ()
        more = (a for step in self.escalate[:level] for a in step.approvers)
        return tuple(dict.fromkeys((*self.approvers, *more)))

    def may_approve(self, actor: str) -> bool:
        """False for the person the agent acts for, unless ``self_approval`` allows it."""
        return self.self_approval or self.requested_by is None or actor != self.requested_by

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
