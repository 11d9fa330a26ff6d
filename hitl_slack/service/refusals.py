"""What Slack's refusal of a request's post means: another channel, a later try, or never.

Pure: tables of Slack's ``chat.postMessage`` error codes and what the relay does on each.
"""

from __future__ import annotations

from hitl_slack.errors import SlackError
from hitl_slack.service.consumer import GiveUp, Retry

__all__ = ["FALLBACK_ERRORS", "REFUSED_CONTENT", "failed", "fallback_note"]

#: Errors after which a message goes to the default channel instead.
FALLBACK_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "messages_tab_disabled"}
)
#: Errors by which Slack refuses the message itself: posting it again can only fail again, so
#: the request is cancelled at once with the reason (other errors are retried: a channel can be
#: fixed, a policy changed, meanwhile).
REFUSED_CONTENT = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "invalid_arguments",
        "invalid_charset",
    }
)


def fallback_note(channel: str, error: str) -> str:
    """The note on a message posted in the default channel because ``channel`` refused it."""
    return (
        f"Could not post in {channel} ({error}); posted in the default channel instead. "
        "Invite the bot there or fix the route."
    )


def failed(exc: SlackError) -> Retry | GiveUp:
    """What a refused post means for its queue entry: try again later, or never."""
    what = f"chat.postMessage: {exc.error}"
    return GiveUp(what) if exc.error in REFUSED_CONTENT else Retry(what)
