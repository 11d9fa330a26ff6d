"""The decision core's pure rules: what stops an act before anyone is asked (no Redis, no
Slack), so a form can run them before its ack."""

from __future__ import annotations

from typing import Any, Literal

from hitl_slack.decisions.outcomes import AlreadyDecided, Invalid, NeedsReason, Refused, Why
from hitl_slack.jsonvalues import canonical_json, digest
from hitl_slack.kinds.question import answer_problems
from hitl_slack.models import (
    MAX_PAYLOAD_BYTES,
    ApprovalRequest,
    QuestionRequest,
    RequestState,
    Vote,
)
from hitl_slack.policy import Policy

__all__ = [
    "MAX_REASON_CHARS",
    "cast_vote",
    "clean_reason",
    "not_of_kind",
    "payload_problem",
    "policy_of",
    "screen_answer",
    "screen_edit",
    "screen_rejection",
    "standing",
]

#: Longest reason kept (:attr:`Decision.reason`'s limit); a longer one is cut.
MAX_REASON_CHARS = 3000


def clean_reason(text: str | None) -> str | None:
    """A rejection's reason as kept: trimmed, cut to :data:`MAX_REASON_CHARS`; blank is none."""
    return (text or "").strip()[:MAX_REASON_CHARS] or None


def standing(state: RequestState) -> AlreadyDecided | Refused | None:
    """What stops any act before its actor is looked at: a decision, or no policy yet."""
    if state.decision is not None:
        return AlreadyDecided(state.decision)
    if state.policy is None:  # not routed and posted yet: nothing says who may decide
        return Refused(Why.NOT_POSTED)
    return None


def policy_of(state: RequestState) -> Policy:
    assert state.policy is not None, "standing() refuses a request with no policy"
    return state.policy


def screen_rejection(
    state: RequestState, reason: str | None
) -> AlreadyDecided | Refused | NeedsReason | None:
    """The checks of a rejection that need no directory (a form runs them before its ack)."""
    stop = standing(state)
    if stop is not None:
        return stop
    if policy_of(state).reject_reason_required and clean_reason(reason) is None:
        return NeedsReason()
    return None


def payload_problem(payload: dict[str, Any]) -> Invalid | None:
    """Why edited arguments cannot be stored (not plain JSON, or too big); None if they can."""
    try:
        size = len(canonical_json(payload).encode())
    except (TypeError, ValueError, RecursionError):
        return Invalid((("payload", "The arguments are not plain JSON."),))
    if size > MAX_PAYLOAD_BYTES:
        return Invalid((("payload", f"The arguments would exceed {MAX_PAYLOAD_BYTES} bytes."),))
    return None


def screen_edit(
    state: RequestState, payload: dict[str, Any]
) -> AlreadyDecided | Refused | Invalid | None:
    """The checks of an edited approval that need no directory (run before a form's ack)."""
    stop = standing(state) or not_of_kind(state, "approval")
    if stop is None and not getattr(state.request, "editable", True):
        return Invalid((("payload", "This request cannot be edited: approve or reject it."),))
    return stop or payload_problem(payload)


def not_of_kind(state: RequestState, kind: str) -> Invalid | None:
    """A forged or stale click of another kind's button (an Approve on a question)."""
    if state.request.kind == kind:
        return None
    what = "a question: answer it" if state.request.kind == "question" else "not a question"
    return Invalid((("kind", f"This request is {what} with its own buttons."),))


def screen_answer(state: RequestState, answer: Any) -> AlreadyDecided | Refused | Invalid | None:
    """The checks of an answer that need no directory (a form runs them before its ack):
    errors by form field name, or under ``"answer"``."""
    stop = standing(state)
    if stop is not None:
        return stop
    if isinstance(state.request, ApprovalRequest) and state.request.respond:
        # A response in the action's place: free text, as a question's.
        problems = answer_problems(QuestionRequest(summary="-"), answer)
        return Invalid(tuple(("answer", v) for v in problems.values())) if problems else None
    wrong = not_of_kind(state, "question")
    if wrong is not None:
        return wrong
    assert isinstance(state.request, QuestionRequest)
    problems = answer_problems(state.request, answer)
    if problems:
        return Invalid(tuple((k or "answer", v) for k, v in problems.items()))
    return payload_problem({"answer": answer})


def cast_vote(
    state: RequestState,
    actor: str,
    what: Literal["approve", "reject"],
    *,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Vote:
    """A vote by ``actor`` for the arguments as they stand (or as edited, with ``payload``)."""
    args = state.arguments if payload is None else payload
    return Vote(who=actor, what=what, args_digest=digest(args), reason=reason)
