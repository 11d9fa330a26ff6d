"""The agent side: ask a human, get the decision back the moment it is made.

:class:`HITLClient` (blocking) and :class:`AsyncHITLClient` (asyncio) have the same methods;
both build requests with :func:`build_request` and run the lifecycle in
:mod:`hitl_slack.lifecycle.ops`.
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
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

from pydantic import ValidationError

from hitl_slack.agent.async_hub import DecisionHub
from hitl_slack.agent.gate import RAISE, Gate, gate_async, gate_sync
from hitl_slack.agent.settings import AgentSettings, load
from hitl_slack.agent.sync_hub import SyncDecisionHub
from hitl_slack.agent.waiting import EXPIRY_SLACK
from hitl_slack.errors import ConfigError, StoreUnavailable, WaitTimeout
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.heartbeat import BEAT_INTERVAL, BEAT_TTL, Heartbeat, NoBotWarning
from hitl_slack.lifecycle.ops import DEFAULT_RETENTION, NotDue, StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, Store, async_redis, sync_redis
from hitl_slack.models import (
    ApprovalRequest,
    Decision,
    RequestState,
    Status,
    normalize_tags,
    validation_message,
)

__all__ = ["RAISE", "AsyncHITLClient", "AsyncTicket", "HITLClient", "Ticket", "build_request"]

log = logging.getLogger("hitl_slack")
log.addHandler(logging.NullHandler())

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_REDIS_URL = "redis://localhost:6379/0"


def build_request(
    summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
) -> ApprovalRequest:
    """Validate an approval request's arguments; nothing is written.

    Every argument is checked (see :class:`~hitl_slack.models.ApprovalRequest`): whatever is
    passed, the only error raised is :class:`InvalidRequest`.

    Raises:
        InvalidRequest: names each field that is wrong and why.
    """
    data = {k: v for k, v in fields.items() if v is not None}
    try:
        return ApprovalRequest(
            summary=summary, action=action, payload={} if payload is None else payload, **data
        )
    except ValidationError as exc:
        raise validation_message(exc, "approval request") from None


def _now() -> datetime:
    return datetime.now(UTC)


def _gate(
    route: str | None,
    channel: str | None,
    summary: str | Callable[..., str] | None,
    risk: str,
    tags: Iterable[str],
    timeout: float,
    agent: str | None,
    on_denied: Any,
) -> Gate:
    """A gate whose fixed arguments are checked now: a bad one fails at decoration time."""
    gate = Gate(route, channel, summary, risk, normalize_tags(tags), timeout, agent, on_denied)
    build_request(
        "check",
        "check",
        {},
        route=route,
        channel=channel,
        risk=risk,
        tags=gate.tags,
        timeout=timeout,
        agent=agent,
    )
    return gate


class _Base:
    def __init__(
        self,
        key_prefix: str,
        retention: float | None,
        queue_maxlen: int,
        max_connections: int,
        min_replicas: int,
        replica_timeout: float,
    ) -> None:
        if max_connections < 2:  # the pub/sub connection holds one for good
            raise ConfigError(f"max_connections must be at least 2, not {max_connections}")
        # Agents never trim the audit trail: the bot does, by its HITL_AUDIT_MAXLEN.
        self.config = StoreConfig(
            keys=Keys(key_prefix),
            audit_maxlen=0,
            retention=retention or DEFAULT_RETENTION,
            queue_maxlen=queue_maxlen,
            min_replicas=min_replicas,
            replica_timeout=replica_timeout,
        )
        self._bot_warned = False
        self._next_bot_check = 0.0
        self._bot_lock = threading.Lock()  # submits from many threads warn once

    def _check_for_bot(self) -> bool:
        """Whether to look for bot heartbeats now (at most every beat interval, until warned)."""
        now = time.monotonic()
        if self._bot_warned or now < self._next_bot_check:
            return False
        self._next_bot_check = now + BEAT_INTERVAL
        return True

    def _warn_if_no_bot(self, beats: list[Heartbeat]) -> None:
        with self._bot_lock:
            if beats or self._bot_warned:
                return
            self._bot_warned = True
        warnings.warn(
            NoBotWarning(
                f"no hitl-slack bot has served key prefix {self.config.keys.prefix!r} in the last "
                f"{BEAT_TTL:g}s: requests wait until one does (check REDIS_URL and HITL_KEY_PREFIX "
                "on both sides, and that `hitl-slack serve` runs)"
            ),
            stacklevel=4,
        )

    @staticmethod
    def _env() -> dict[str, Any]:
        s = load(AgentSettings)
        return {
            "redis_url": s.redis_url.get_secret_value(),
            "key_prefix": s.hitl_key_prefix,
            "connect_timeout": s.hitl_redis_connect_timeout,
            "retention": s.hitl_retention,
            "queue_maxlen": s.hitl_queue_maxlen,
            "redis_grace": s.hitl_redis_grace,
            "min_replicas": s.hitl_redis_min_replicas,
            "replica_timeout": s.hitl_redis_replica_timeout,
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
        max_connections: the most Redis connections this client opens, the pub/sub one
            included, however many threads use it (they queue for a connection).
        redis_grace: seconds of Redis outage after which a wait raises ``StoreUnavailable``
            (``HITL_REDIS_GRACE``); None (default) rides out an outage until the wait's end.
        min_replicas: Redis replicas that must confirm this client's own decisions (cancel,
            expiry) before they are announced (``HITL_REDIS_MIN_REPLICAS``, as the bot's);
            short of them, ``NotReplicated``. ``replica_timeout`` bounds that ``WAIT``.

    Thread-safe: share one client across threads. All waits are multiplexed over ONE pub/sub
    connection read by a listener thread, so 1,000 threads waiting at once use at most
    ``max_connections`` connections (20 by default) and every one gets its decision. Waits
    survive Redis restarts and failovers: see :mod:`hitl_slack.agent.waiting`.
    """

    def __init__(
        self,
        redis_url: str = DEFAULT_REDIS_URL,
        key_prefix: str = "hitl",
        *,
        connect_timeout: float = 2.0,
        retention: float | None = None,
        queue_maxlen: int = 100_000,
        max_connections: int = 20,
        redis_grace: float | None = None,
        min_replicas: int = 0,
        replica_timeout: float = 1.0,
    ) -> None:
        super().__init__(
            key_prefix, retention, queue_maxlen, max_connections, min_replicas, replica_timeout
        )
        self.store = Store(
            sync_redis(
                redis_url,
                connect_timeout=connect_timeout,
                max_connections=max_connections,
                client_name=f"hitl-agent:{key_prefix}",
            ),
            self.config,
        )
        self._hub = SyncDecisionHub(self.store, redis_grace)

    @classmethod
    def from_env(cls) -> HITLClient:
        """A client from ``REDIS_URL``, ``HITL_KEY_PREFIX``, ``HITL_REDIS_CONNECT_TIMEOUT``,
        ``HITL_RETENTION``, ``HITL_QUEUE_MAXLEN`` and ``HITL_REDIS_GRACE``: the environment,
        then ``.env`` in the working directory (the same settings the bot reads).

        Raises:
            ConfigError: a variable is invalid (names it).
        """
        return cls(**cls._env())

    def request_approval(
        self, summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Decision:
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
            StoreUnavailable: Redis is unreachable (for a wait: until its end, or past
                ``redis_grace``).
            RequestNotFound: the request vanished while waiting (Redis came back empty).

        Warns:
            NoBotWarning: no bot has served this key prefix recently (once per client).

        Example::

            d = hitl.request_approval("Delete 3 VMs", "delete_vms", {"ids": [1, 2, 3]})
        """
        return self.submit(summary, action, payload, **fields).wait()

    def submit(
        self, summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Ticket:
        """Queue a request and return at once; same arguments as :meth:`request_approval`.

        With an ``idempotency_key`` already used, returns a ticket for that existing request.
        """
        state, _ = self.store.create(build_request(summary, action, payload, **fields))
        if self._check_for_bot():
            try:
                self._warn_if_no_bot(self.store.heartbeats())
            except StoreUnavailable:
                log.debug("could not read bot heartbeats", exc_info=True)
        return Ticket(self, state.request.id)

    def health(self) -> list[Heartbeat]:
        """The bot replicas serving this key prefix, newest beat first; empty if none has
        beaten within ``BEAT_TTL`` seconds (then requests wait in a queue no bot reads).

        Each :class:`~hitl_slack.lifecycle.heartbeat.Heartbeat` says whether the replica is ready
        and
        accepting work, its Slack auth state and, if not, why (e.g. a revoked token).

        Raises:
            StoreUnavailable: Redis is unreachable.
        """
        return self.store.heartbeats()

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

        Redis may restart or fail over meanwhile: the wait reconnects, reads the request again
        and returns the decision, whenever it was written.

        Args:
            timeout: seconds; None waits until the request's deadline, where it expires.

        Raises:
            WaitTimeout: ``timeout`` passed before the deadline; the request stays pending.
            RequestNotFound: no such request, or it was lost with Redis' data.
            StoreUnavailable: Redis stayed unreachable to the end of the wait (or for longer
                than ``redis_grace``).
        """
        decision, at_deadline = self._hub.wait(request_id, timeout)
        while decision is None:
            if not at_deadline:
                raise WaitTimeout(request_id, timeout or 0.0)
            try:
                return self.store.expire(request_id)
            except NotDue as not_due:  # this host's clock is behind Redis'
                decision, _ = self._hub.wait(request_id, not_due.remaining + EXPIRY_SLACK)
        return decision

    def cancel(self, request_id: str, reason: str | None = None) -> Decision:
        """Withdraw a pending request; the waiting agent gets ``cancelled``.

        Raises:
            AlreadyDecided: a decision already stands.
        """
        return self.store.decide(request_id, Status.CANCELLED, reason=reason, actor="agent")

    def require_approval(
        self,
        *,
        route: str | None = None,
        channel: str | None = None,
        summary: str | Callable[..., str] | None = None,
        risk: str = "medium",
        tags: Iterable[str] = (),
        timeout: float = 300,
        agent: str | None = None,
        on_denied: Any = RAISE,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Gate a function (sync or async): each call becomes a request.

        The action is the function's name and the payload its bound arguments. Approved: the
        function runs with the (possibly edited) arguments. Otherwise :class:`ApprovalDenied`
        is raised, or ``on_denied`` is returned (called with the decision if callable).
        An async function is gated without blocking the event loop's thread. ``tags`` may be
        one string (one tag). The fixed arguments are validated here.

        Raises:
            InvalidRequest: ``route``, ``channel``, ``risk``, ``tags``, ``timeout`` or
                ``agent`` is invalid (at decoration time, naming it).
        """
        gate = _gate(route, channel, summary, risk, tags, timeout, agent, on_denied)

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            return cast(Callable[P, R], gate_sync(self.request_approval, fn, gate))

        return decorate

    def close(self) -> None:
        """Stop the listener thread and close every Redis connection (pool and pub/sub)."""
        self._hub.close()
        self.store.close()

    def __enter__(self) -> HITLClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    ``max_connections`` (the pub/sub connection included): 10,000 concurrent waits do not mean
    10,000 connections, and they are subscribed in a few batched commands.
    """

    def __init__(
        self,
        redis_url: str = DEFAULT_REDIS_URL,
        key_prefix: str = "hitl",
        *,
        connect_timeout: float = 2.0,
        retention: float | None = None,
        queue_maxlen: int = 100_000,
        max_connections: int = 20,
        redis_grace: float | None = None,
        min_replicas: int = 0,
        replica_timeout: float = 1.0,
    ) -> None:
        super().__init__(
            key_prefix, retention, queue_maxlen, max_connections, min_replicas, replica_timeout
        )
        self.store = AsyncStore(
            async_redis(
                redis_url,
                connect_timeout=connect_timeout,
                max_connections=max_connections,
                client_name=f"hitl-agent:{key_prefix}",
            ),
            self.config,
        )
        self._hub = DecisionHub(self.store, redis_grace)

    @classmethod
    def from_env(cls) -> AsyncHITLClient:
        """See :meth:`HITLClient.from_env`."""
        return cls(**cls._env())

    async def request_approval(
        self, summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Decision:
        """See :meth:`HITLClient.request_approval`."""
        ticket = await self.submit(summary, action, payload, **fields)
        return await ticket.wait()

    async def submit(
        self, summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> AsyncTicket:
        """See :meth:`HITLClient.submit`."""
        state, _ = await self.store.create(build_request(summary, action, payload, **fields))
        if self._check_for_bot():
            try:
                self._warn_if_no_bot(await self.store.heartbeats())
            except StoreUnavailable:
                log.debug("could not read bot heartbeats", exc_info=True)
        return AsyncTicket(self, state.request.id)

    async def health(self) -> list[Heartbeat]:
        """See :meth:`HITLClient.health`."""
        return await self.store.heartbeats()

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
        decision, at_deadline = await self._hub.wait(request_id, timeout)
        while decision is None:
            if not at_deadline:
                raise WaitTimeout(request_id, timeout or 0.0)
            try:
                return await self.store.expire(request_id)
            except NotDue as not_due:
                decision, _ = await self._hub.wait(request_id, not_due.remaining + EXPIRY_SLACK)
        return decision

    async def cancel(self, request_id: str, reason: str | None = None) -> Decision:
        """See :meth:`HITLClient.cancel`."""
        return await self.store.decide(request_id, Status.CANCELLED, reason=reason, actor="agent")

    def require_approval(
        self,
        *,
        route: str | None = None,
        channel: str | None = None,
        summary: str | Callable[..., str] | None = None,
        risk: str = "medium",
        tags: Iterable[str] = (),
        timeout: float = 300,
        agent: str | None = None,
        on_denied: Any = RAISE,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """See :meth:`HITLClient.require_approval`; gates async functions."""
        gate = _gate(route, channel, summary, risk, tags, timeout, agent, on_denied)

        def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            return cast(Callable[P, Awaitable[R]], gate_async(self.request_approval, fn, gate))

        return decorate

    async def aclose(self) -> None:
        """Stop the decision listener and close every Redis connection (pool and pub/sub)."""
        await self._hub.aclose()
        await self.store.aclose()

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
