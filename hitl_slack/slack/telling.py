"""What a person is told when an act does not decide: the words of every outcome.

Pure (the wording), plus :func:`tell_answer` and :func:`about`, shared by the button listeners
(:mod:`hitl_slack.slack.listeners`) and the modal submissions
(:mod:`hitl_slack.slack.submissions`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from hitl_slack.decisions import (
    AlreadyDecided,
    Answer,
    Decided,
    Invalid,
    NeedsReason,
    Refused,
    Voted,
    Why,
)
from hitl_slack.logs import bound
from hitl_slack.models import Decision
from hitl_slack.slack import mrkdwn, payloads
from hitl_slack.slack.guard import Tell
from hitl_slack.slack.payloads import BadPayload

__all__ = ["UNHANDLED", "about", "existing", "said", "tell_answer", "voted"]

UNHANDLED = (
    "This {what} is not handled by this version of the bot, so nothing was decided. "
    "Use the buttons on the request's current message."
)
_REFUSED = {
    Why.NOT_APPROVER: (
        "You are not an approver for this request, so nothing was decided. Ask one of its "
        "approvers."
    ),
    Why.GROUPS_UNAVAILABLE: (
        "Could not check your user groups with Slack just now, so nothing was decided. Try "
        "again in a moment."
    ),
    Why.NOT_POSTED: (
        "This request is not posted yet, so nothing was decided. Try again in a moment."
    ),
    Why.SELF_APPROVAL: (
        "This request was made on your behalf, so you may not approve it (its route says "
        "self_approval = false). You may still reject it; ask another approver to approve."
    ),
    Why.ALREADY_VOTED: (
        "You already voted on these arguments: your vote stands. Another approver's vote is needed."
    ),
    Why.STALE_ARGUMENTS: (
        "The arguments were edited after this message showed them, so your vote was not "
        "recorded. Look at the request's message again and vote on the arguments it shows."
    ),
}


def existing(decision: Decision) -> str:
    """What a person is told about a decision that already stands."""
    who = ", ".join(mrkdwn.user(u) for u in decision.decided_by)
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    by = f" by {who}" if who else ""  # the clock, the agent or the bot: no person to name
    # A final status is its own past-tense verb: "approved", "rejected", "expired"...
    return f"This request was already {decision.status.value}{by} at {when}."


def voted(answer: Voted) -> str:
    """What a voter is told: their vote counted, and what is still needed."""
    if answer.what == "reject":
        return (
            "Your rejection is recorded. The request is rejected once approval can no "
            "longer be reached."
        )
    left = answer.quorum - answer.approvals
    return (
        f"Your approval is recorded: {answer.approvals} of {answer.quorum} approvals. "
        f"Waiting for {mrkdwn.plural(left, 'more approval')}."
    )


def said(answer: Voted | Refused | AlreadyDecided | NeedsReason | Invalid) -> str:
    """What a person is told about an act that did not decide the request."""
    if isinstance(answer, Voted):
        return voted(answer)
    if isinstance(answer, AlreadyDecided):
        return existing(answer.decision)
    if isinstance(answer, Refused):
        return _REFUSED[answer.why]
    if isinstance(answer, NeedsReason):
        return "A reason is required for this request."
    return answer.errors[0][1]


async def tell_answer(tell: Tell, answer: Answer) -> None:
    """Tell the person what an act answered, unless it decided."""
    # A decision is shown by the message's update (the relay's), not told.
    if not isinstance(answer, Decided):
        await tell(said(answer))


def about(body: dict[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """Bind the request a payload names (when it can be read) to the listener's log lines."""
    try:
        is_click = body.get("type") == "block_actions"
        request_id = (payloads.click(body) if is_click else payloads.submission(body)).request_id
    except BadPayload:
        return contextlib.nullcontext()
    return bound(request_id=request_id)
