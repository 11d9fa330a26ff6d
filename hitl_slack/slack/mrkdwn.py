"""Text for Slack: mrkdwn escaping, visible truncation, and the small pieces messages share.

Pure. Everything from an agent or a reviewer is untrusted: :func:`escape` (``& < >``) before it
goes into ``mrkdwn`` text, so ``<!channel>`` or ``<http://evil|click>`` shows as text; the few
control sequences built here (dates, user mentions) are our own.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, PlainTextObject

from hitl_slack.authz import is_user_id, is_usergroup_id
from hitl_slack.models import Risk

__all__ = [
    "MARKER",
    "channel",
    "clip",
    "code",
    "compact",
    "context",
    "date",
    "escape",
    "inline",
    "json_type",
    "md",
    "mention",
    "plain",
    "plural",
    "quote",
    "risk",
    "truncate",
    "user",
]

#: What shows that text was cut.
MARKER = "… [truncated]"
# Matched whole (fullmatch): "$" alone would let a trailing newline into a mention.
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,30}")
_RISK_EMOJI = {Risk.LOW: "🟢", Risk.MEDIUM: "🟡", Risk.HIGH: "🟠", Risk.CRITICAL: "🔴"}


def escape(text: str) -> str:
    """Escape Slack's mrkdwn control characters (``&`` first, then ``<`` and ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, marker: str = MARKER) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``marker`` when cut.

    Args:
        text: the text to shorten.
        limit: the most characters the result may have, marker included.
        marker: what shows that text was cut.

    Returns:
        ``text`` itself if short enough, else its start followed by ``marker``.
    """
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker[:limit]
    return text[: limit - len(marker)] + marker


def clip(text: str, limit: int) -> str:
    """Escape and truncate to ``limit`` characters without cutting an ``&amp;`` in two."""
    out = escape(text)
    if len(out) <= limit:
        return out
    room, size, pieces = limit - len(MARKER), 0, []
    for char in text:
        piece = escape(char)
        size += len(piece)
        if size > room:
            break
        pieces.append(piece)
    return "".join(pieces) + MARKER if room >= 0 else MARKER[: max(limit, 0)]


def code(text: str) -> str:
    """Neutralise backtick fences so untrusted text can't close a code block."""
    return text.replace("```", "\u02bc" * 3)


def inline(text: str, limit: int) -> str:
    """Escaped, truncated text for inline code: backticks become a look-alike."""
    return "`" + clip(text, limit).replace("`", "\u02cb") + "`"


def plural(count: int, noun: str) -> str:
    """``3 fields``, ``1 field``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def md(text: str) -> MarkdownTextObject:
    """A mrkdwn text object (``text`` must already be escaped)."""
    return MarkdownTextObject(text=text)


def plain(text: str) -> PlainTextObject:
    """A plain_text object (Slack does not parse it)."""
    return PlainTextObject(text=text, emoji=True)


def context(text: str) -> ContextBlock:
    """A context block with one mrkdwn element."""
    return ContextBlock(elements=[md(text)])


def compact(value: Any) -> str:
    """Compact JSON, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_type(value: Any) -> str:
    """The JSON type name of a value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def date(when: datetime, now: datetime | None = None) -> str:
    """Slack's date token (our own control sequence), with time left if ``now`` is given."""
    fallback = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    token = f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
    if now is None:
        return token
    left = int((when - now).total_seconds())
    if left <= 0:
        return f"{token} (passed)"
    for unit, size, cap in (("s", 1, 90), ("min", 60, 5400), ("h", 3600, 129_600)):
        if left < cap:
            return f"{token} (in {round(left / size)} {unit})"
    return f"{token} (in {round(left / 86_400)} d)"


def user(user_id: str) -> str:
    """A mention for a Slack user id; anything else as escaped text."""
    return f"<@{user_id}>" if is_user_id(user_id) else clip(user_id, 100)


def mention(approver: str) -> str:
    """A mention for an approver: a user (``<@U…>``), a user group (``<!subteam^S…>``), or
    anything else as escaped text."""
    if is_usergroup_id(approver):
        return f"<!subteam^{approver}>"
    return user(approver)


def channel(channel_id: str) -> str:
    """A link to a channel by id (``<#C…>``); anything else as escaped text."""
    return f"<#{channel_id}>" if _CHANNEL_ID.fullmatch(channel_id) else clip(channel_id, 100)


def quote(text: str) -> str:
    """Quote every line (``> ``)."""
    return "\n".join("> " + line for line in text.split("\n"))


def risk(risk: Risk) -> str:
    """The risk level with its colour."""
    return f"{_RISK_EMOJI[risk]} {risk.value}"
