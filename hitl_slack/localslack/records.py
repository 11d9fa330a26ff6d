"""What the local Slack records and answers with: calls, channel messages, ephemerals.

Plain data, shared by its sides (:mod:`~hitl_slack.localslack.http`,
:mod:`~hitl_slack.localslack.webapi`) and read by the playground and the tests.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHANNEL_RE", "JSON", "USER_RE", "Call", "Ephemeral", "PostedMessage", "err"]

JSON = dict[str, Any]
CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]+$")
USER_RE = re.compile(r"^[UW][A-Z0-9]+$")


@dataclass
class Call:
    """One Web API request received. ``status`` is None while its answer is held back."""

    method: str
    params: JSON
    headers: dict[str, str]
    at: float
    status: int | None = 200
    response: Any = None
    path: str = ""
    peer: str = ""  # the client's address:port: one per TCP connection
    listed: bool = field(default=False, repr=False, compare=False)  # in the calls list yet


@dataclass
class PostedMessage:
    """Current state of a channel message (after ``chat.update`` / ``replace_original``)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[JSON] | None
    updates: int = 0
    thread_ts: str | None = None
    attachments: list[JSON] | None = None
    metadata: JSON | None = None
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    app_id: str = "A111"
    team_id: str = "T111"
    base_url: str = field(default="", repr=False)

    def as_payload(self, *, metadata: bool = False) -> JSON:
        """The message object as Slack returns it in API answers and interaction payloads.

        ``metadata``: include the message metadata (``conversations.history`` with
        ``include_all_metadata``).
        """
        out: JSON = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": self.text or "",
            "ts": self.ts,
        }
        for key in ("blocks", "attachments", "thread_ts"):
            if getattr(self, key) is not None:
                out[key] = copy.deepcopy(getattr(self, key))
        if metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out

    @property
    def live(self) -> bool:
        """True while the message still has a button someone could click."""
        return any(
            e.get("type") == "button"
            for b in self.blocks or []
            for e in [b.get("accessory"), *b.get("elements", [])]
            if isinstance(e, dict)
        )


@dataclass
class Ephemeral:
    """An ephemeral message, from ``chat.postEphemeral`` or an ephemeral ``response_url`` post."""

    channel: str
    user: str
    text: str | None
    blocks: list[JSON] | None
    message_ts: str
    via: str = "chat.postEphemeral"


def err(error: str) -> JSON:
    """Slack's answer for a refused call."""
    return {"ok": False, "error": error}
