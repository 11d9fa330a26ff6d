"""The short texts the bot posts besides a request's message: reminders and escalations.

Pure: strings of mrkdwn, no Slack calls. They are posted as thread replies on the request's
message (and, for reminders under ``notify = ["dm"]``, as direct messages), so they mention the
people they are for. Everything from an agent is escaped; the mentions are our own control
sequences, built from ids alone. The outcome's reply is
:func:`hitl_slack.slack.layout.outcome_text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hitl_slack.models import RequestState
from hitl_slack.policy import Level
from hitl_slack.slack.mrkdwn import channel, clip, plural
from hitl_slack.slack.mrkdwn import mention as mrkdwn_mention

__all__ = [
    "escalation_text",
    "mention",
    "mentions",
    "reminder_dm_text",
    "reminder_text",
    "time_left",
]


def mention(who: str) -> str:
    """A mention: ``<@U…>`` for a user, ``<!subteam^S…>`` for a user group, ``<#C…>`` for a
    channel (:func:`hitl_slack.slack.mrkdwn.mention`, :func:`~hitl_slack.slack.mrkdwn.channel`);
    anything else as escaped text."""
    return channel(who) if who[:1] in ("C", "G") else mrkdwn_mention(who)


def mentions(who: Iterable[str]) -> str:
    """Mentions separated by spaces."""
    return " ".join(mention(w) for w in who)


def time_left(seconds: float) -> str:
    """``"45 seconds"``, ``"10 minutes"``, ``"3 hours"``, ``"2 days"`` (rounded)."""
    left = max(0, round(seconds))
    for noun, size, cap in (("second", 1, 90), ("minute", 60, 5400), ("hour", 3600, 129_600)):
        if left < cap:
            return plural(round(left / size), noun)
    return plural(round(left / 86_400), "day")


def reminder_text(state: RequestState, who: Iterable[str], now: datetime) -> str:
    """The reminder in the request's thread: the time left, and who has yet to decide.

    Args:
        who: the approvers (users, user groups) who have not voted.
        now: the current time.
    """
    left = (state.effective_deadline - now).total_seconds()
    named = mentions(who)
    head = f"⏰ {time_left(left)} left to decide"
    return f"{head}: {named}" if named else head


def reminder_dm_text(state: RequestState, now: datetime, link: str | None = None) -> str:
    """The reminder sent to one approver's DM: the time left, what, and a link when known."""
    left = (state.effective_deadline - now).total_seconds()
    what = clip(state.request.summary, 300)
    text = f"⏰ {time_left(left)} left to decide on *{what}*"
    return f"{text}: <{link}|open the request>" if link else text


def escalation_text(level: Level) -> str:
    """The escalation's thread reply: where the request is now shown, and who joined.

    ``"⬆️ Escalated to <#C0OPS>: <@U0CFO> can now decide"``; either part alone when the level
    has no channel or no approvers.
    """
    text = "⬆️ Escalated" + (f" to {mention(level.channel)}" if level.channel else "")
    if level.approvers:
        text += f": {mentions(level.approvers)} can now decide"
    return text
