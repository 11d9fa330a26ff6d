"""What a tool call may choose, and which requests a caller may see: pure rules, no I/O.

A language model writes every tool argument, so the server decides the rest:

* ``agent``, ``tags`` and ``route`` are the server's configuration, never an argument;
* ``risk`` may be raised by a call, never lowered below the configured minimum;
* ``timeout_s`` is capped by the configured maximum (the bot's routes cap it further);
* a caller reaches only the requests its own **scope** created: in stdio mode the server's
  identity (its ``agent``), in HTTP mode that identity and the MCP session.

The scope is not kept beside the request: it is *derived* and written into the request itself,
as the first part of its idempotency key (``mcp.<digest>:<key>``). So the owner is recorded in
the same atomic step that creates the request, lives exactly as long as it does (the key has the
request's TTL) and needs no second key to keep in step; a model's own idempotency key is scoped
too, so it can never re-attach to a request that someone else (another agent, session or
deployment) created with the same key.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Final

from hitl_slack.models import RequestBase, Risk

__all__ = [
    "MAX_KEY_CHARS",
    "RISK_ORDER",
    "Identity",
    "Scope",
    "effective_risk",
]

#: Risks from least to most harmful.
RISK_ORDER: Final = (Risk.LOW, Risk.MEDIUM, Risk.HIGH, Risk.CRITICAL)
#: Longest idempotency key a tool call may give (the scope takes the rest of the 200).
MAX_KEY_CHARS: Final = 160
_DIGEST_CHARS = 24


def effective_risk(asked: Risk | str | None, floor: Risk) -> Risk:
    """The risk a request is filed under: what the call asked (``medium`` when it asked
    nothing), raised to ``floor`` if it asked for less."""
    wanted = Risk(asked) if asked is not None else Risk.MEDIUM
    return max(wanted, floor, key=RISK_ORDER.index)


@dataclass(frozen=True, slots=True)
class Identity:
    """What the server's configuration fixes for every request it files."""

    agent: str
    tags: tuple[str, ...] = ()
    route: str | None = None
    min_risk: Risk = Risk.LOW
    #: Whom the requests are made for (a Slack user id or email): the route's
    #: ``self_approval`` applies to them.
    requested_by: str | None = None

    def fields(
        self, *, risk: Risk | str | None, timeout: float, idempotency_key: str
    ) -> dict[str, Any]:
        """The request's keyword arguments that are not the model's to choose."""
        return {
            "agent": self.agent,
            "tags": self.tags,
            "route": self.route,
            "risk": effective_risk(risk, self.min_risk),
            "timeout": timeout,
            "idempotency_key": idempotency_key,
        } | ({"requested_by": self.requested_by} if self.requested_by else {})


@dataclass(frozen=True, slots=True)
class Scope:
    """The requests one caller may reach: those whose idempotency key starts with its tag.

    Args:
        identity: the server's ``agent`` (who asks).
        session: the MCP session id in HTTP mode; None in stdio mode (one client).
    """

    identity: str
    session: str | None = None

    @property
    def tag(self) -> str:
        """``mcp.`` and a digest of identity and session: stable across restarts of a stdio
        server, different for every HTTP session; the session id itself is never stored."""
        text = f"hitl-mcp\0{self.identity}\0{self.session or ''}"
        return "mcp." + hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]

    def key(self, idempotency_key: str | None) -> str:
        """The stored idempotency key: the caller's own, or a fresh one, under this scope."""
        return f"{self.tag}:{idempotency_key or 'auto-' + uuid.uuid4().hex}"

    def owns(self, request: RequestBase) -> bool:
        """Whether this scope created ``request``."""
        key = request.idempotency_key
        return key is not None and key.startswith(self.tag + ":")
