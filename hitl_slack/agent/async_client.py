"""The asyncio agent client: :class:`AsyncHITLClient`, the twin of
:class:`~hitl_slack.agent.client.HITLClient` with the same methods, as coroutines.

It shares the request building and the decision logic of a wait with the blocking client
(:mod:`hitl_slack.agent.base`); only the awaited I/O differs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from hitl_slack.agent.async_hub import DecisionHub
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
from hitl_slack.agent.gate import RAISE, gate_async
from hitl_slack.agent.questions import AsyncAsking
from hitl_slack.errors import StoreUnavailable
from hitl_slack.lifecycle.heartbeat import Heartbeat
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.lifecycle.transition import NotDue
from hitl_slack.models import Decision, RequestState, Status

__all__ = ["AsyncHITLClient", "AsyncTicket"]

log = logging.getLogger("hitl_slack")
log.addHandler(logging.NullHandler())

P = ParamSpec("P")
R = TypeVar("R")


class AsyncHITLClient(ClientBase, AsyncAsking):
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
        await self._after_submit()
        return AsyncTicket(self, state.request.id)

    async def _after_submit(self) -> None:
        """See :meth:`HITLClient._after_submit`."""
        if self._check_for_bot():
            try:
                self._warn_if_no_bot(await self.store.heartbeats())
            except StoreUnavailable:
                log.debug("could not read bot heartbeats", exc_info=True)

    async def health(self) -> list[Heartbeat]:
        """See :meth:`HITLClient.health`."""
        return await self.store.heartbeats()

    async def get(self, request_id: str) -> RequestState:
        """See :meth:`HITLClient.get`."""
        return await self.store.current(request_id, utcnow())

    async def wait(self, request_id: str, timeout: float | None = None) -> Decision:
        """See :meth:`HITLClient.wait`."""
        flow = wait_flow(request_id, timeout)
        step = next(flow)
        while True:
            try:
                step = flow.send(await self._perform(request_id, step))
            except StopIteration as done:
                decision: Decision = done.value
                return decision

    async def _perform(self, request_id: str, step: WaitStep) -> Any:
        """Carry out one step of :func:`~hitl_slack.agent.base.wait_flow`."""
        if isinstance(step, WaitFor):
            return await self._hub.wait(request_id, step.timeout)
        try:
            return await self.store.expire(request_id)
        except NotDue as not_due:
            return not_due

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
        details: str | Callable[..., str] | None = None,
        exclude: Iterable[str] = (),
        idempotency_key: str | Callable[..., str] | None = None,
        requested_by: str | Callable[..., str] | None = None,
        confirm_text: str | Callable[..., str] | None = None,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """See :meth:`HITLClient.require_approval`; gates async functions."""
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
