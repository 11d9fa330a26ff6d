"""Finding a request's messages in Slack by the metadata every approval message carries.

A post whose answer was lost (Slack slow, a dropped connection, the bot killed mid-post) may
have landed anyway. Each approval message carries Slack message metadata ``hitl_request`` with
the request id and the status it shows, so :func:`find` can read the channels' recent history
(``conversations.history``; scopes ``channels:history`` / ``groups:history``) for copies.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from hitl_slack.errors import SlackError
from hitl_slack.logs import get_logger
from hitl_slack.slack.gateway import SlackGateway, Tagged

__all__ = ["EVENT_TYPE", "find", "metadata"]

log = get_logger(__name__)

#: Slack message metadata ``event_type`` of approval messages.
EVENT_TYPE: Final = "hitl_request"
#: Slack's clock and the bot's may differ: history is read from this long before an attempt.
_SKEW = timedelta(seconds=60)


def metadata(request_id: str, status: str = "pending") -> dict[str, Any]:
    """The metadata of a request's message showing ``status``."""
    return {"event_type": EVENT_TYPE, "event_payload": {"request_id": request_id, "status": status}}


async def find(
    slack: SlackGateway, request_id: str, channels: list[str], since: datetime
) -> list[Tagged]:
    """This request's messages in ``channels`` posted since ``since``, oldest first.

    A failed lookup (no history scope, rate limited...) is logged and finds nothing.
    """
    found: list[Tagged] = []
    oldest = (since - _SKEW).timestamp()
    for channel in channels:
        try:
            tagged = await slack.find_tagged(channel, EVENT_TYPE, oldest)
        except SlackError as exc:
            log.warning("copy_lookup_failed", channel=channel, error=exc.error)
            continue
        found += [t for t in tagged if t.payload.get("request_id") == request_id]
    return sorted(found, key=lambda t: float(t.ts))
