"""Block Kit for a request's message: pending (with the kind's buttons) and decided.

Pure: builds ``slack_sdk.models`` objects; it never talks to Slack or Redis. Each kind draws its
own message (:mod:`hitl_slack.slack.kinds`; the approval's is :mod:`hitl_slack.slack.approval`)
in the layout every kind shares (:mod:`hitl_slack.slack.layout`, which keeps a message under
Slack's limits); this module is the entry point that picks the kind. Modals and lists are in
:mod:`hitl_slack.slack.views`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hitl_slack.models import OUTCOME_WORDS, RequestState
from hitl_slack.slack import kinds
from hitl_slack.slack.approval import (
    ACTION_APPROVE,
    ACTION_EDIT,
    ACTION_REJECT,
    ACTION_RESPOND,
    MISSING,
    payload_changes,
)
from hitl_slack.slack.layout import MESSAGE_BUDGET, Message

__all__ = [
    "ACTION_APPROVE",
    "ACTION_EDIT",
    "ACTION_REJECT",
    "ACTION_RESPOND",
    "MESSAGE_BUDGET",
    "MISSING",
    "OUTCOME_WORDS",
    "Message",
    "approval_message",
    "decided_message",
    "payload_changes",
]


def approval_message(
    state: RequestState, *, note: str | None = None, now: datetime | None = None
) -> Message:
    """The message asking for a decision, drawn by the request's kind (an approval's has
    Approve / Reject / Edit buttons).

    Args:
        state: the pending request.
        note: a warning shown above the buttons (escaped), e.g. a reminder.
        now: the current time, for the time left before the deadline.

    Returns:
        The message; its buttons carry the request id as ``value``.

    Raises:
        InvalidRequest: the request's kind has no Slack face in this version.
    """
    face = kinds.of(state.request)
    return face.message(state, note=note, now=now or datetime.now(UTC))


def decided_message(
    state: RequestState, *, note: str | None = None, now: datetime | None = None
) -> Message:
    """The message once a request is decided: no buttons, the outcome, who, why, what changed.

    Args:
        state: the decided request (``state.decision`` set).
        note: a warning shown under the request (escaped).
        now: accepted like :func:`approval_message`'s; a decided message shows no time left.

    Returns:
        The message showing the final payload (the edited one after an edit).

    Raises:
        ValueError: if the request has no decision yet.
        InvalidRequest: the request's kind has no Slack face in this version.
    """
    if state.decision is None:
        raise ValueError(f"request {state.request.id} is not decided")
    return kinds.of(state.request).decided_message(state, note=note)
