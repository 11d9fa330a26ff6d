"""What the approval tools return: one model (the tools' output schema) and its text.

Pure: no Redis, no MCP SDK. Every outcome, failures included, is an :class:`ApprovalResult`
whose ``approved`` is true for an approval only; expiry, cancellation and every error say in
words that they are not one (fail closed: a model that reads only the text must not act).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from hitl_slack.models import Decision, Status

__all__ = ["ApprovalResult", "Outcome", "decided", "failed", "pending", "render"]

Outcome = Literal["approved", "rejected", "expired", "cancelled", "pending", "error"]

_NOT_APPROVED = "This is not an approval: do not perform the action."


class ApprovalResult(BaseModel):
    """Where an approval request stands, as the model is told."""

    status: Outcome = Field(
        description="approved | rejected | expired | cancelled | pending | error"
    )
    approved: bool = Field(description="true only when a human approved: act only then")
    request_id: str | None = Field(description="the request's id (for await_decision)")
    arguments: dict[str, Any] | None = Field(
        default=None, description="the final arguments: the human's edit if edited; act with these"
    )
    edited: bool = Field(default=False, description="whether a human changed the arguments")
    reason: str | None = Field(default=None, description="the reviewer's or canceller's reason")
    decided_by: list[str] = Field(default_factory=list, description="Slack user ids")
    deadline: datetime | None = Field(default=None, description="when a pending request expires")
    message: str = Field(description="what happened and what to do next")


_STATUS: dict[Status, Outcome] = {
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
}
_WORDS: dict[Status, str] = {
    Status.REJECTED: "A human rejected the request",
    Status.EXPIRED: "No one decided before the deadline: the request expired",
    Status.CANCELLED: "The request was cancelled",
}


def decided(decision: Decision) -> ApprovalResult:
    """The result of a decision that stands."""
    if decision.approved:
        how = (
            "as the reviewer edited them (use these, not the ones you proposed)"
            if decision.edited
            else "as proposed"
        )
        message = f"A human approved. Perform the action with exactly these arguments, {how}."
    else:
        because = f": {decision.reason}" if decision.reason else ""
        message = f"{_WORDS[decision.status]}{because}. {_NOT_APPROVED}"
    return ApprovalResult(
        status=_STATUS[decision.status],
        approved=decision.approved,
        request_id=decision.request_id,
        arguments=decision.payload,
        edited=decision.edited,
        reason=decision.reason,
        decided_by=list(decision.decided_by),
        message=message,
    )


def pending(request_id: str, deadline: datetime | None) -> ApprovalResult:
    """No decision within this call's hold: the model is told how to keep waiting."""
    until = f" (it stays open until {deadline.isoformat(timespec='seconds')})" if deadline else ""
    return ApprovalResult(
        status="pending",
        approved=False,
        request_id=request_id,
        deadline=deadline,
        message=(
            f"No decision yet{until}. Do not act yet. Call await_decision with request_id "
            f"{request_id!r} to keep waiting for the human."
        ),
    )


def failed(problem: str, request_id: str | None = None) -> ApprovalResult:
    """Something went wrong: says what, and that it is not an approval."""
    return ApprovalResult(
        status="error",
        approved=False,
        request_id=request_id,
        message=f"{problem.rstrip('.')}. {_NOT_APPROVED}",
    )


def render(result: ApprovalResult) -> str:
    """The result as text, for clients that show the model text only."""
    head = result.status.upper()
    if result.request_id:
        head += f" ({result.request_id})"
    if result.decided_by:
        head += " by " + ", ".join(result.decided_by)
    lines = [head, result.message]
    if result.approved and result.arguments is not None:
        lines.append("Arguments: " + json.dumps(result.arguments, ensure_ascii=False))
    return "\n".join(lines)
