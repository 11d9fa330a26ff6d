"""The agent side: ask a human, get the decision back the moment it is made.

:class:`HITLClient` (blocking) and :class:`AsyncHITLClient` (asyncio) have the same methods;
both build requests with :func:`build_request`, share the decision logic of a wait
(:mod:`hitl_slack.agent.base`) and run the lifecycle's steps (:mod:`hitl_slack.lifecycle.ops`).
Only the I/O differs: the asyncio twin is in :mod:`hitl_slack.agent.async_client`. This module
imports no Slack, no Bolt and no settings: an agent needs a Redis URL and nothing else.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from hitl_slack.agent.async_client import AsyncHITLClient, AsyncTicket
from hitl_slack.agent.base import (
    DEFAULT_REDIS_URL,
    ClientBase,
    WaitFor,
    WaitStep,
    build_request,
    checked_gate,
    utcnow,
    wait_flow,
)
from hitl_slack.agent.gate import RAISE, gate_sync
from hitl_slack.agent.questions import Asking
from hitl_slack.agent.sync_hub import SyncDecisionHub
from hitl_slack.errors import StoreUnavailable
from hitl_slack.lifecycle.heartbeat import Heartbeat
from hitl_slack.lifecycle.store import Store, sync_redis
from hitl_slack.lifecycle.transition import NotDue
from hitl_slack.models import Decision, RequestState, Status

__all__ = ["RAISE", "AsyncHITLClient", "AsyncTicket", "HITLClient", "Ticket", "build_request"]

log = logging.getLogger("hitl_slack")
log.addHandler(logging.NullHandler())

P = ParamSpec("P")
R = TypeVar("R")


class HITLClient(ClientBase, Asking):
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
                ``timeout`` (seconds, default 300), ``idempotency_key``, ``editable``,
                ``respond``, ``requested_by`` (on whose behalf: a Slack user id or an email;
                the route's ``self_approval`` applies), ``confirm_text`` (what a typed
                confirmation asks the approver for; default: the action).

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
        self._after_submit()
        return Ticket(self, state.request.id)

    def _after_submit(self) -> None:
        """Warn (once) when no bot serves this prefix: the request would wait unseen."""
        if self._check_for_bot():
            try:
                self._warn_if_no_bot(self.store.heartbeats())
            except StoreUnavailable:
                log.debug("could not read bot heartbeats", exc_info=True)

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
        return self.store.current(request_id, utcnow())

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
        flow = wait_flow(request_id, timeout)
        step = next(flow)
        while True:
            try:
                step = flow.send(self._perform(request_id, step))
            except StopIteration as done:
                decision: Decision = done.value
                return decision

    def _perform(self, request_id: str, step: WaitStep) -> Any:
        """Carry out one step of :func:`~hitl_slack.agent.base.wait_flow`."""
        if isinstance(step, WaitFor):
            return self._hub.wait(request_id, step.timeout)
        try:
            return self.store.expire(request_id)
        except NotDue as not_due:
            return not_due

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
        details: str | Callable[..., str] | None = None,
        exclude: Iterable[str] = (),
        idempotency_key: str | Callable[..., str] | None = None,
        requested_by: str | Callable[..., str] | None = None,
        confirm_text: str | Callable[..., str] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Gate a function (sync or async): each call becomes a request.

        The action is the function's name and the payload its bound arguments. Approved: the
        function runs with the (possibly edited) arguments. Otherwise :class:`ApprovalDenied`
        is raised, or ``on_denied`` is returned (called with the decision if callable).
        An async function is gated without blocking the event loop's thread. ``tags`` may be
        one string (one tag). The fixed arguments are validated here.

        Arguments named in ``exclude`` (one name or several) and arguments annotated with an
        agent framework's context type (PydanticAI's ``RunContext``, the OpenAI Agents SDK's
        ``RunContextWrapper`` / ``ToolContext``, LangChain's ``RunnableConfig``, LangGraph's
        ``ToolRuntime``...: see :mod:`hitl_slack.agent.passthrough`) are passed to the function
        untouched and left out of the payload; the message's details name them. Every other
        argument must be plain JSON, or the call raises :class:`InvalidRequest`.

        ``summary``, ``details``, ``idempotency_key``, ``requested_by`` (on whose behalf: a
        Slack user id or an email) and ``confirm_text`` (what a typed confirmation asks for)
        are strings, or functions called with
        the same arguments as the gated function (defaults applied) that return one. With an
        ``idempotency_key``, a re-run of the same call finds the same request (and its
        decision, if one was made).

        Raises:
            InvalidRequest: ``route``, ``channel``, ``risk``, ``tags``, ``timeout``,
                ``agent``, ``details``, ``exclude`` or ``idempotency_key`` is invalid (at
                decoration time, naming it); at call time, an argument that must be shown is
                not plain JSON, or a ``summary`` / ``details`` / ``idempotency_key`` function
                does not take the function's arguments.

        Example::

            @agent.tool
            @hitl.require_approval(
                idempotency_key=lambda ctx, customer, amount: f"refund:{ctx.tool_call_id}",
                summary=lambda ctx, customer, amount: f"Refund ${amount} to {customer}",
            )
            def refund_payment(ctx: RunContext[Deps], customer: str, amount: int) -> str: ...
        """
        gate = checked_gate(
            route=route,
            channel=channel,
            summary=summary,
            risk=risk,
            tags=tags,
            timeout=timeout,
            agent=agent,
            on_denied=on_denied,
            details=details,
            exclude=exclude,
            idempotency_key=idempotency_key,
            requested_by=requested_by,
            confirm_text=confirm_text,
        )

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
