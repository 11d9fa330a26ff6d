"""The agent side: ask a human, get the decision back the moment it is made.

:class:`HITLClient` (blocking) and :class:`AsyncHITLClient` (asyncio) have the same methods;
both build requests with :func:`build_request` and run the lifecycle in :mod:`hitl_slack.ops`.
Only the I/O differs. This module imports no Slack, no Bolt and no settings: an agent needs a
Redis URL and nothing else.

Example::

    from hitl_slack import HITLClient

    hitl = HITLClient.from_env()
    d = hitl.request_approval(summary="Refund $420 to ACME", action="refund_payment",
                              payload={"customer": "ACME", "amount": 420}, risk="high")
    if d.approved:
        refund(**d.payload)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

from pydantic import ValidationError

from hitl_slack.agent_settings import AgentSettings, load
from hitl_slack.errors import WaitTimeout
from hitl_slack.gate import RAISE, Gate, gate_async, gate_sync
from hitl_slack.keys import Keys
from hitl_slack.models import (
    ApprovalRequest,
    Decision,
    RequestState,
    Status,
    validation_message,
)
from hitl_slack.ops import DEFAULT_RETENTION, NotDue, StoreConfig
from hitl_slack.store import AsyncStore, Store, async_redis, sync_redis
from hitl_slack.waiting import DecisionHub, wait_published_sync

__all__ = ["RAISE", "AsyncHITLClient", "AsyncTicket", "HITLClient", "Ticket", "build_request"]

log = logging.getLogger("hitl_slack")
log.addHandler(logging.NullHandler())

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
# Time allowed past a deadline for the expiry step itself (one Redis round trip).
_GRACE = 0.05


def build_request(summary: str, action: str, payload: dict[str, Any] | None = None,
                  **fields: Any) -> ApprovalRequest:
    """Validate an approval request's arguments; nothing is written.

    Raises:
        InvalidRequest: names each field that is wrong and why.
    """
    data = {k: v for k, v in fields.items() if v is not None}
    if "tags" in data:
        data["tags"] = tuple(data["tags"])
    try:
        return ApprovalRequest(summary=summary, action=action, payload=payload or {}, **data)
    except ValidationError as exc:
        raise validation_message(exc, "approval request") from None


def _now() -> datetime:
    return datetime.now(UTC)


def _plan(state: RequestState, timeout: float | None, now: datetime) -> tuple[float, bool]:
    """Seconds to wait, and whether the wait ends at the deadline (then the request expires)."""
    to_deadline = (state.effective_deadline - now).total_seconds()
    if timeout is None or timeout >= to_deadline:
        return max(to_deadline, 0.0) + _GRACE, True
    return max(timeout, 0.0), False


class _Base:
    def __init__(self, key_prefix: str, retention: float | None, queue_maxlen: int) -> None:
        # Agents never trim the audit trail: the bot does, by its HITL_AUDIT_MAXLEN.
        self.config = StoreConfig(keys=Keys(key_prefix), audit_maxlen=0,
                                  retention=retention or DEFAULT_RETENTION,
                                  queue_maxlen=queue_maxlen)

    @staticmethod
    def _env() -> dict[str, Any]:
        s = load(AgentSettings)
        return {
            "redis_url": s.redis_url.get_secret_value(),
            "key_prefix": s.hitl_key_prefix,
            "connect_timeout": s.hitl_redis_connect_timeout,
            "retention": s.hitl_retention,
            "queue_maxlen": s.hitl_queue_maxlen,
        }


class HITLClient(_Base):
    """Blocking client for agents, scripts and CI jobs.

    Args:
        redis_url: where the requests live (``REDIS_URL``).
        key_prefix: namespace shared with the bot (``HITL_KEY_PREFIX``).
        connect_timeout: seconds before an unreachable Redis raises ``StoreUnavailable``.
        retention: seconds a decided request is kept after its deadline (default 7 days);
            requests are written by agents, so this is an agent-side setting.
        queue_maxlen: cap of the request queue a bot drains (an agent-side setting too).
    """

    def __init__(self, redis_url: str = DEFAULT_REDIS_URL, key_prefix: str = "hitl", *,
                 connect_timeout: float = 2.0, retention: float | None = None,
                 queue_maxlen: int = 100_000) -> None:
        super().__init__(key_prefix, retention, queue_maxlen)
        self.store = Store(sync_redis(redis_url, connect_timeout=connect_timeout,
                                      client_name=f"hitl-agent:{key_prefix}"), self.config)

    @classmethod
    def from_env(cls) -> HITLClient:
        """A client from ``REDIS_URL``, ``HITL_KEY_PREFIX``, ``HITL_REDIS_CONNECT_TIMEOUT``,
        ``HITL_RETENTION`` and ``HITL_QUEUE_MAXLEN``: the environment, then ``.env`` (the same
        settings the bot reads).

        Raises:
            ConfigError: a variable is invalid (names it).
        """
        return cls(**cls._env())

    def request_approval(self, summary: str, action: str,
                         payload: dict[str, Any] | None = None, **fields: Any) -> Decision:
        """Ask for approval and block until a human decides or the timeout passes.

        Args:
            summary: one line, the message header.
            action: what the agent wants to do; a routing key (e.g. ``refund_payment``).
            payload: the proposed arguments (JSON); humans may edit them.
            **fields: ``details``, ``agent``, ``risk``, ``tags``, ``route``, ``channel``,
                ``timeout`` (seconds, default 300), ``idempotency_key``.

        Returns:
            The decision: ``approved``, ``rejected``, ``expired`` or ``cancelled``.

        Raises:
            InvalidRequest: an argument is invalid (the message names it).
            StoreUnavailable: Redis is unreachable.

        Example::

            d = hitl.request_approval("Delete 3 VMs", "delete_vms", {"ids": [1, 2, 3]})
        """
        return self.submit(summary, action, payload, **fields).wait()

    def submit(self, summary: str, action: str, payload: dict[str, Any] | None = None,
               **fields: Any) -> Ticket:
        """Queue a request and return at once; same arguments as :meth:`request_approval`.

        With an ``idempotency_key`` already used, returns a ticket for that existing request.
        """
        state, _ = self.store.create(build_request(summary, action, payload, **fields))
        return Ticket(self, state.request.id)

    def get(self, request_id: str) -> RequestState:
        """The request's state from any process: pending, or with its decision.

        A pending request past its deadline is expired on the spot.

        Raises:
            RequestNotFound: no such request (or its retention ended).
        """
        state = self.store.get(request_id)
        if state.pending and _now() >= state.effective_deadline:
            try:
                self.store.expire(request_id)
            except NotDue:
                return state
            return self.store.get(request_id)
        return state

    def wait(self, request_id: str, timeout: float | None = None) -> Decision:
        """Block until the request is decided.

        Args:
            timeout: seconds; None waits until the request's deadline, where it expires.

        Raises:
            WaitTimeout: ``timeout`` passed before the deadline; the request stays pending.
        """
        state = self.store.get(request_id)
        if state.decision is not None:
            return state.decision
        seconds, at_deadline = _plan(state, timeout, _now())
        while True:
            decision = wait_published_sync(self.store, request_id, seconds)
            if decision is not None:
                return decision
            if not at_deadline:
                raise WaitTimeout(request_id, seconds)
            try:
                return self.store.expire(request_id)
            except NotDue as not_due:  # this host's clock is behind Redis'
                seconds = not_due.remaining + _GRACE

    def cancel(self, request_id: str, reason: str | None = None) -> Decision:
        """Withdraw a pending request; the waiting agent gets ``cancelled``.

        Raises:
            AlreadyDecided: a decision already stands.
        """
        return self.store.decide(request_id, Status.CANCELLED, reason=reason, actor="agent")

    def require_approval(self, *, route: str | None = None, channel: str | None = None,
                         summary: str | Callable[..., str] | None = None, risk: str = "medium",
                         tags: Iterable[str] = (), timeout: float = 300,
                         agent: str | None = None, on_denied: Any = RAISE,
                         ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Gate a function (sync or async): each call becomes a request.

        The action is the function's name and the payload its bound arguments. Approved: the
        function runs with the (possibly edited) arguments. Otherwise :class:`ApprovalDenied`
        is raised, or ``on_denied`` is returned (called with the decision if callable).
        An async function is gated without blocking the event loop's thread.
        """
        gate = Gate(route, channel, summary, risk, tuple(tags), timeout, agent, on_denied)

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            return cast(Callable[P, R], gate_sync(self.request_approval, fn, gate))

        return decorate

    def close(self) -> None:
        """Release the Redis connections."""
        self.store.redis.close()


@dataclass(frozen=True)
class Ticket:
    """A submitted request: wait for it later, or check on it."""

    client: HITLClient
    request_id: str

    def wait(self, timeout: float | None = None) -> Decision:
        """See :meth:`HITLClient.wait`."""
        return self.client.wait(self.request_id, timeout)

    def poll(self) -> Decision | None:
        """The decision if one stands, else None (one read, no waiting)."""
        return self.client.get(self.request_id).decision


class AsyncHITLClient(_Base):
    """The asyncio twin of :class:`HITLClient`: the same methods, as coroutines.

    All waits share one pub/sub connection, and commands use a bounded pool of
    ``max_connections``: 10,000 concurrent waits do not mean 10,000 connections.
    """

    def __init__(self, redis_url: str = DEFAULT_REDIS_URL, key_prefix: str = "hitl", *,
                 connect_timeout: float = 2.0, retention: float | None = None,
                 queue_maxlen: int = 100_000, max_connections: int = 20) -> None:
        super().__init__(key_prefix, retention, queue_maxlen)
        self.store = AsyncStore(
            async_redis(redis_url, connect_timeout=connect_timeout,
                        max_connections=max_connections,
                        client_name=f"hitl-agent:{key_prefix}"),
            self.config,
        )
        self._hub = DecisionHub(self.store)

    @classmethod
    def from_env(cls) -> AsyncHITLClient:
        """See :meth:`HITLClient.from_env`."""
        return cls(**cls._env())

    async def request_approval(self, summary: str, action: str,
                               payload: dict[str, Any] | None = None, **fields: Any) -> Decision:
        """See :meth:`HITLClient.request_approval`."""
        ticket = await self.submit(summary, action, payload, **fields)
        return await ticket.wait()

    async def submit(self, summary: str, action: str, payload: dict[str, Any] | None = None,
                     **fields: Any) -> AsyncTicket:
        """See :meth:`HITLClient.submit`."""
        state, _ = await self.store.create(build_request(summary, action, payload, **fields))
        return AsyncTicket(self, state.request.id)

    async def get(self, request_id: str) -> RequestState:
        """See :meth:`HITLClient.get`."""
        state = await self.store.get(request_id)
        if state.pending and _now() >= state.effective_deadline:
            try:
                await self.store.expire(request_id)
            except NotDue:
                return state
            return await self.store.get(request_id)
        return state

    async def wait(self, request_id: str, timeout: float | None = None) -> Decision:
        """See :meth:`HITLClient.wait`."""
        state = await self.store.get(request_id)
        if state.decision is not None:
            return state.decision
        seconds, at_deadline = _plan(state, timeout, _now())
        while True:
            decision = await self._hub.wait(request_id, seconds)
            if decision is not None:
                return decision
            if not at_deadline:
                raise WaitTimeout(request_id, seconds)
            try:
                return await self.store.expire(request_id)
            except NotDue as not_due:
                seconds = not_due.remaining + _GRACE

    async def cancel(self, request_id: str, reason: str | None = None) -> Decision:
        """See :meth:`HITLClient.cancel`."""
        return await self.store.decide(request_id, Status.CANCELLED, reason=reason,
                                       actor="agent")

    def require_approval(self, *, route: str | None = None, channel: str | None = None,
                         summary: str | Callable[..., str] | None = None, risk: str = "medium",
                         tags: Iterable[str] = (), timeout: float = 300,
                         agent: str | None = None, on_denied: Any = RAISE,
                         ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """See :meth:`HITLClient.require_approval`; gates async functions."""
        gate = Gate(route, channel, summary, risk, tuple(tags), timeout, agent, on_denied)

        def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            return cast(Callable[P, Awaitable[R]], gate_async(self.request_approval, fn, gate))

        return decorate

    async def aclose(self) -> None:
        """Stop the decision listener and release the Redis connections."""
        await self._hub.aclose()
        await self.store.redis.aclose()

    async def __aenter__(self) -> AsyncHITLClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass(frozen=True)
class AsyncTicket:
    """A submitted request, for :class:`AsyncHITLClient`."""

    client: AsyncHITLClient
    request_id: str

    async def wait(self, timeout: float | None = None) -> Decision:
        """See :meth:`HITLClient.wait`."""
        return await self.client.wait(self.request_id, timeout)

    async def poll(self) -> Decision | None:
        """See :meth:`Ticket.poll`."""
        return (await self.client.get(self.request_id)).decision
