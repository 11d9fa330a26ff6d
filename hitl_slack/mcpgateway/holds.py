"""Holding a gated tool call until Slack decides it; what the model is told when it is not made.

No MCP here: :class:`Holds` turns a call and the gate that holds it into an :data:`Outcome`
(:class:`Forward` the possibly edited arguments, :class:`Refuse` with the reason, or
:class:`Pending` when the hold ran out first), through the agent client.

**One request per distinct call.** A call's request carries the idempotency key
``mcp-gateway:<session>:<sha256 of tool and canonical arguments>:<generation>``, so a retry of
the same call (same tool, same arguments) finds the same Slack request instead of posting
another. The session is the gateway instance: an id drawn at start. Over stdio a gateway
process serves exactly one client connection for its whole life (the SDK gives stdio
connections no session id), so the instance is the client's session; a new client connection
starts a new gateway, and a new session. The generation counts the requests already used up
for that call in this session:

* **approved**: the approval is used by the one call it forwards; the same call made again
  asks again (one approval, one execution, also for two identical calls made at once);
* **rejected**: sticky for the session: the same call gets the same rejection, no new message;
* **expired / cancelled**: the same call made again asks again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from hitl_slack.agent.async_client import AsyncHITLClient, AsyncTicket
from hitl_slack.errors import (
    AlreadyDecided,
    InvalidRequest,
    RequestNotFound,
    StoreUnavailable,
    WaitTimeout,
)
from hitl_slack.jsonvalues import canonical_json
from hitl_slack.logs import get_logger
from hitl_slack.mcpgateway.rules import Gate, GatesConfig
from hitl_slack.models import Decision, Status

__all__ = ["Forward", "Holds", "Identity", "Outcome", "Pending", "Refuse", "duration_text"]

log = get_logger(__name__)

#: Longest a cancellation of a Slack request may take when the call is abandoned.
CANCEL_GRACE = 5.0


@dataclass(frozen=True)
class Identity:
    """Who asks, as every request says it: from the gateway's settings, never from the model."""

    agent: str
    server: str
    tags: tuple[str, ...] = ()
    route: str | None = None
    #: Whom the calls are made for (a Slack user id or email): ``self_approval`` applies.
    requested_by: str | None = None


@dataclass(frozen=True)
class Forward:
    """Approved: make the call with ``arguments`` (edited if ``decision.edited``)."""

    arguments: dict[str, Any]
    decision: Decision


@dataclass(frozen=True)
class Refuse:
    """Not approved, or not asked: the call is not made; ``text`` tells the model why."""

    text: str
    decision: Decision | None = None


@dataclass(frozen=True)
class Pending:
    """Still undecided when the hold ran out: the call is not made (yet)."""

    request_id: str

    @property
    def text(self) -> str:
        """What the model is told."""
        return (
            f"Approval pending: this call is waiting for a human decision in Slack (request "
            f"{self.request_id}). It has not been made yet. Retry the same call, with the same "
            "arguments, to keep waiting for the decision: it will not ask again."
        )


Outcome = Forward | Refuse | Pending


def duration_text(seconds: float) -> str:
    """``600`` -> ``10m``; ``90`` -> ``90s``; ``7200`` -> ``2h``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def refusal_text(decision: Decision, timeout: float) -> str:
    """What the model is told of a decision that is not an approval."""
    if decision.status is Status.REJECTED:
        who = ", ".join(decision.decided_by) or "a reviewer"
        reason = f": {decision.reason}" if decision.reason else " (no reason given)"
        return (
            f"Not approved: {who} rejected this call in Slack{reason}. The call was not made. "
            "Retrying it unchanged gets the same answer; change the call or ask the user."
        )
    if decision.status is Status.EXPIRED:
        return (
            f"Not approved: no one decided in Slack within {duration_text(timeout)}, so the "
            "request expired. The call was not made; retrying it asks again."
        )
    reason = f" ({decision.reason})" if decision.reason else ""
    return f"Not approved: the approval request was cancelled{reason}. The call was not made."


@dataclass
class Holds:
    """The gated calls of one gateway session and their Slack requests."""

    hitl: AsyncHITLClient
    gates: GatesConfig
    identity: Identity
    hold: float
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    #: Why held calls are being abandoned, once the session is ending (else: the client
    #: cancelled the call).
    closing: str | None = None
    _generations: dict[str, int] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)
    _open: set[str] = field(default_factory=set)

    def call_key(self, tool: str, arguments: Mapping[str, Any]) -> str:
        """The session-scoped key of a call: the same tool and arguments give the same key."""
        text = canonical_json([tool, arguments])
        return f"mcp-gateway:{self.session}:{hashlib.sha256(text.encode()).hexdigest()}"

    async def decide(self, tool: str, arguments: dict[str, Any], gate: Gate) -> Outcome:
        """Ask for (or re-attach to) the call's approval and wait up to the hold.

        If the caller is cancelled meanwhile (the MCP client cancelled the call), the Slack
        request is cancelled too and the cancellation goes on: nothing is forwarded.
        """
        base = self.call_key(tool, arguments)
        while True:
            generation = self._generations.get(base, 0)
            try:
                ticket = await self._submit(tool, arguments, gate, f"{base}:{generation}")
                log.info("call_held", tool=tool, gate=gate.name, request_id=ticket.request_id)
            except InvalidRequest as exc:
                return Refuse(f"Not made: the call could not be sent for approval: {exc}")
            except StoreUnavailable as exc:
                log.warning("approval_store_unavailable", tool=tool, error=str(exc))
                return Refuse(
                    "Not made: the approval service is unreachable, so the call could not be "
                    "sent for approval. Try again later."
                )
            outcome = await self._settle(ticket, base, generation, self.gates.timeout(gate))
            if outcome is not None:
                return outcome

    async def _submit(
        self, tool: str, arguments: dict[str, Any], gate: Gate, key: str
    ) -> AsyncTicket:
        tags = tuple(dict.fromkeys(self.identity.tags + gate.tags))
        return await self.hitl.submit(
            self.gates.summary(gate, tool, arguments),
            tool,
            arguments,
            details=(
                f"Tool call to the MCP server {self.identity.server}, held by hitl-slack "
                f'mcp-gateway (rule "{gate.name}"). Approve to make it with these arguments.'
            ),
            agent=self.identity.agent,
            risk=self.gates.risk(gate),
            tags=tags[:20],
            route=gate.route or self.identity.route,
            timeout=self.gates.timeout(gate),
            idempotency_key=key,
            requested_by=self.identity.requested_by,
        )

    async def _settle(
        self, ticket: AsyncTicket, base: str, generation: int, timeout: float
    ) -> Outcome | None:
        """The outcome of one request; None: it was used by another call, ask again."""
        request_id = ticket.request_id
        try:
            decision = await ticket.wait(timeout=self.hold)
        except WaitTimeout:
            self._open.add(request_id)
            return Pending(request_id)
        except StoreUnavailable:
            return Refuse(
                "Not made yet: the approval service became unreachable while the call was held. "
                "Retry the same call later: it finds its request again."
            )
        except RequestNotFound:
            self._next(base, generation)
            return Refuse("Not made: the approval request was lost; retrying the call asks again.")
        except anyio.get_cancelled_exc_class():
            await self._abandon(request_id, base, generation)
            raise
        self._open.discard(request_id)
        log.info("call_decided", request_id=request_id, status=decision.status.value)
        if decision.status is Status.APPROVED:
            if request_id in self._used:
                self._next(base, generation)
                return None
            self._used.add(request_id)
            self._next(base, generation)
            return Forward(dict(decision.payload), decision)
        if decision.status is not Status.REJECTED:
            self._next(base, generation)
        return Refuse(refusal_text(decision, timeout), decision)

    def _next(self, base: str, generation: int) -> None:
        self._generations[base] = max(self._generations.get(base, 0), generation + 1)

    async def _abandon(self, request_id: str, base: str, generation: int) -> None:
        """The call was cancelled while held: cancel its Slack request; never forward it."""
        self._used.add(request_id)
        self._open.discard(request_id)
        self._next(base, generation)
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            await self._cancel(request_id, self.closing or "the MCP client cancelled the call")

    async def _cancel(self, request_id: str, reason: str) -> None:
        try:
            await self.hitl.cancel(request_id, reason=reason)
            log.info("held_call_cancelled", request_id=request_id, reason=reason)
        except AlreadyDecided:
            pass  # decided meanwhile: it is never forwarded all the same
        except (StoreUnavailable, RequestNotFound) as exc:
            log.warning("cancel_failed", request_id=request_id, error=str(exc))

    async def close(self, reason: str) -> None:
        """Cancel the requests still pending that no call waits for (the session ends)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
            for request_id in sorted(self._open):
                await self._cancel(request_id, reason)
        self._open.clear()
