"""What a request's policy adds to its message: votes so far, an edit, escalation, who asked,
and the "are you sure?" of a risky approval.

Pure, like :mod:`hitl_slack.slack.layout`: text and ``slack_sdk.models`` objects, untrusted text
escaped. Every piece reads the policy STORED with the request (:attr:`RequestState.policy`); a
request with none (posted by an older version, or not recorded yet) gets none of them, and its
message reads as before. Each line is short and capped, so the layout's budget (which never
cuts the tail they are part of) always holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from slack_sdk.models.blocks import ConfirmObject

from hitl_slack.models import RequestBase, RequestState
from hitl_slack.policy import Policy, at_or_above
from hitl_slack.slack.mrkdwn import (
    channel,
    clip,
    compact,
    inline,
    mention,
    plain,
    plural,
    risk,
    truncate,
    user,
)

__all__ = [
    "ARGS_BLOCK_PREFIX",
    "args_block_id",
    "confirm_dialog",
    "dialog_text",
    "edited_line",
    "escalated_line",
    "names",
    "progress_line",
    "requested_by",
]

#: The actions block's id is this and the digest of the arguments it shows: a click carries it
#: back (:func:`hitl_slack.slack.payloads.click` reads it as ``Click.seen``).
ARGS_BLOCK_PREFIX: Final = "hitl.args:"
#: Most people named in one list of a line; the rest are counted.
MAX_NAMED: Final = 8
_DIALOG_TEXT_MAX = 300  # Slack's limit for a confirm dialog's text
_DIALOG_ARGS = 4  # arguments a confirm dialog names, at most
_DIALOG_VALUE = 40  # characters of one argument's value in a confirm dialog


def args_block_id(state: RequestState) -> str:
    """The actions block's id: :data:`ARGS_BLOCK_PREFIX` and the digest of the arguments."""
    return ARGS_BLOCK_PREFIX + state.args_digest


def names(people: Iterable[str]) -> str:
    """Mentions (users, user groups), comma-separated: at most :data:`MAX_NAMED`, then the
    rest counted."""
    listed = list(people)
    shown = ", ".join(mention(p) for p in listed[:MAX_NAMED])
    return shown + (f" and {len(listed) - MAX_NAMED} more" if len(listed) > MAX_NAMED else "")


def _waiting_for(state: RequestState, policy: Policy, left: int) -> str:
    voted = {v.who for v in state.counted()}
    barred = set() if policy.self_approval else {policy.requested_by}
    rest = [a for a in policy.approvers_at(state.level) if a not in voted and a not in barred]
    text = f"waiting for {left} more"
    return text + (f" from {names(rest)}" if rest else "")


def progress_line(state: RequestState) -> str | None:
    """The votes so far of a request decided by several ("*1 of 2 approvals:* ✅ <@U…> ·
    waiting for 1 more from …"); None when one click decides it."""
    policy = state.policy
    if policy is None or not policy.counts_votes:
        return None
    approvals = state.approvals()
    noun = "approval" if policy.quorum == 1 else "approvals"
    parts = ["✅ " + names(v.who for v in approvals)] if approvals else []
    left = policy.quorum - len(approvals)
    if left > 0:
        parts.append(_waiting_for(state, policy, left))
    rejections = state.rejections()
    if rejections and not policy.veto:
        word = "rejection" if len(rejections) == 1 else "rejections"
        parts.append(f"❌ {len(rejections)} {word}: " + names(v.who for v in rejections))
    return f"*{len(approvals)} of {policy.quorum} {noun}:* " + " · ".join(parts)


def edited_line(state: RequestState) -> str | None:
    """Who edited the arguments being voted on, and what that did to earlier votes; None when
    they are the request's own."""
    if state.proposed is None:
        return None
    approvals = state.approvals()  # the editor's approval is the first for the edited ones
    by = f" by {user(approvals[0].who)}" if approvals else ""
    return f"✏️ Edited{by}: votes for the earlier arguments no longer count"


def escalated_line(state: RequestState) -> str | None:
    """Where the request was escalated to and who may now decide; None before any level."""
    policy = state.policy
    if policy is None or state.level <= 0:
        return None
    levels = policy.escalate[: state.level]
    channels = list(dict.fromkeys(lv.channel for lv in levels if lv.channel))
    more = list(dict.fromkeys(a for lv in levels for a in lv.approvers))
    text = "⬆️ Escalated"
    if channels:
        text += " to " + ", ".join(channel(c) for c in channels[:MAX_NAMED])
    if more:
        text += (" · " if channels else ": ") + f"{names(more)} can now decide"
    return text


def requested_by(state: RequestState) -> str | None:
    """The "Requested by" fact: the Slack user the bot resolved, else the request's own text
    (an email Slack did not know); None when the agent named nobody."""
    policy = state.policy
    if policy is not None and policy.requested_by:
        return "*Requested by*\n" + user(policy.requested_by)
    asked = state.request.requested_by
    return "*Requested by*\n" + user(asked) if asked else None


def _short_args(arguments: dict[str, Any]) -> list[str]:
    """``*key*: value`` for the first few top-level arguments with a short scalar value."""
    out = []
    for key, value in arguments.items():
        if isinstance(value, dict | list):
            continue
        text = value if isinstance(value, str) else compact(value)
        if "\n" in text:
            continue
        out.append(f"*{clip(key, 30)}*: {clip(text, _DIALOG_VALUE)}")
        if len(out) == _DIALOG_ARGS:
            break
    return out


def dialog_text(request: RequestBase, arguments: dict[str, Any]) -> str:
    """What an approval's "are you sure?" says: the action, its risk and its key arguments,
    always within Slack's 300 characters (arguments not named are counted)."""
    text = f"Approve {inline(request.action, 80)} ({risk(request.risk)} risk)?"
    shown = 0
    for line in _short_args(arguments):
        after = _more(len(arguments) - shown - 1)
        if len(text) + 1 + len(line) + len(after) > _DIALOG_TEXT_MAX:
            break
        text, shown = f"{text}\n{line}", shown + 1
    return text + _more(len(arguments) - shown)


def _more(count: int) -> str:
    return f"\n… and {plural(count, 'more argument')}" if count else ""


def confirm_dialog(state: RequestState) -> ConfirmObject | None:
    """Slack's "are you sure?" for the Approve button, when the policy asks for one at this
    request's risk and no typed confirmation replaces it (see
    :mod:`hitl_slack.slack.confirming`)."""
    policy, request = state.policy, state.request
    if policy is None or not at_or_above(request.risk, policy.confirm):
        return None
    if at_or_above(request.risk, policy.typed_confirm):
        return None  # the typed confirmation's modal is the confirmation
    return ConfirmObject(
        title=plain(truncate(f"Approve {request.action}", 99, "…") + "?"),
        text=dialog_text(request, state.arguments),
        confirm=plain("Approve"),
        deny=plain("Cancel"),
    )
