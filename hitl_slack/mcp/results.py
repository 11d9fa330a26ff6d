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

Outcome = Literal[
    "approved", "rejected", "answered", "declined", "expired", "cancelled", "pending", "error"
]

_NOT_APPROVED = "This is not an approval: do not perform the action."


class ApprovalResult(BaseModel):
    """Where an approval request stands, as the model is told."""

    status: Outcome = Field(
        description="approved | rejected | expired | cancelled | pending | error; a "
        "question's answered | declined"
    )
    approved: bool = Field(description="true only when a human approved: act only then")
    request_id: str | None = Field(description="the request's id (for await_decision)")
    arguments: dict[str, Any] | None = Field(
        default=None, description="the final arguments: the human's edit if edited; act with these"
    )
    edited: bool = Field(default=False, description="whether a human changed the arguments")
    answer: Any = Field(
        default=None,
        description="a question's answer (text, the chosen option(s), or the form's fields); "
        "or an approval's response in the action's place",
    )
    reason: str | None = Field(default=None, description="the reviewer's or canceller's reason")
    decided_by: list[str] = Field(default_factory=list, description="Slack user ids")
    deadline: datetime | None = Field(default=None, description="when a pending request expires")
    message: str = Field(description="what happened and what to do next")


_STATUS: dict[Status, Outcome] = {
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
    Status.ANSWERED: "answered",
}
_WORDS: dict[Status, str] = {
    Status.ANSWERED: "A human responded in the action's place",
    Status.REJECTED: "A human rejected the request",
    Status.EXPIRED: "No one decided before the deadline: the request expired",
    Status.CANCELLED: "The request was cancelled",
}


def decided(decision: Decision, *, question: bool = False) -> ApprovalResult:
    """The result of a decision that stands (``question``: of a question, ``ask_human``'s)."""
    if question:
        return _answered(decision)
    answer = decision.payload.get("answer") if decision.status is Status.ANSWERED else None
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
        arguments=None if answer is not None else decision.payload,
        edited=decision.edited,
        answer=answer,
        reason=decision.reason,
        decided_by=list(decision.decided_by),
        message=message + (f" Their response: {answer}" if answer is not None else ""),
    )


def _answered(decision: Decision) -> ApprovalResult:
    """A question's outcome: the answer, or why there is none."""
    because = f": {decision.reason}" if decision.reason else ""
    if decision.status is Status.ANSWERED:
        status: Outcome = "answered"
        message = "A human answered. Use this answer."
    elif decision.status is Status.REJECTED:
        status, message = "declined", f"A human declined to answer{because}. There is no answer."
    elif decision.status in (Status.EXPIRED, Status.CANCELLED):
        status = _STATUS[decision.status]
        message = f"{_WORDS[decision.status]}{because}. There is no answer."
    else:  # a question is never approved: whatever this is, it is not an answer
        problem = f"request {decision.request_id} was {decision.status.value}, not answered"
        return failed(problem, decision.request_id)
    return ApprovalResult(
        status=status,
        approved=False,
        request_id=decision.request_id,
        answer=decision.payload.get("answer") if decision.status is Status.ANSWERED else None,
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
    if result.answer is not None:
        lines.append("Answer: " + json.dumps(result.answer, ensure_ascii=False))
    return "\n".join(lines)
