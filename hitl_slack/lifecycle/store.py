"""Redis side of the lifecycle: the sync and async stores that drive
:mod:`hitl_slack.lifecycle.ops`.

:class:`Store` and :class:`AsyncStore` have the same methods; the logic of each is one
generator in :mod:`hitl_slack.lifecycle.ops`, run here against ``redis.Redis`` or
``redis.asyncio.Redis``.
Connection failures become :class:`~hitl_slack.errors.StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from hitl_slack.errors import StoreUnavailable
from hitl_slack.lifecycle import heartbeat, ops
from hitl_slack.lifecycle.heartbeat import Heartbeat
from hitl_slack.lifecycle.ops import Batch, Command, Gen, Op, Posted, StoreConfig
from hitl_slack.models import (
    ApprovalRequest,
    AuditEvent,
    Decision,
    MessageRef,
    RequestState,
    Status,
)
from hitl_slack.policy import Policy

__all__ = [
    "RETRIES",
    "AsyncStore",
    "Store",
    "StoreConfig",
    "async_redis",
    "async_retry_policy",
    "retry_policy",
    "sync_redis",
]

T = TypeVar("T")


#: Attempts after a connection error before a command gives up: with the backoff below they
#: span about 1.7 s, so a Redis restart or a failover of a second is ridden out.
RETRIES = 5


def retry_policy() -> Retry:
    """How every sync command (agent and bot) retries a dropped or refused connection.

    A pooled connection that went stale when Redis restarted fails on its next use; redis-py
    then reconnects and sends the command again, up to :data:`RETRIES` times with exponential
    backoff (0.1, 0.2, 0.4, 0.5, 0.5 s), which also rides out Redis' ``LOADING`` phase
    (``BusyLoadingError`` is a ``ConnectionError``). Timeouts are NOT retried: a Redis that does
    not answer within the socket timeout is slow or cut off, and retrying would turn that into
    a hang (and replay a script that may have run).
    """
    return Retry(
        ExponentialBackoff(cap=0.5, base=0.05), RETRIES, supported_errors=(RedisConnectionError,)
    )


def async_retry_policy() -> AsyncRetry:
    """:func:`retry_policy` for ``redis.asyncio``, which needs its own ``Retry`` class: given
    the sync one, redis-py's asyncio client never retries at all (its ``call_with_retry`` only
    builds the coroutine), so every stale pooled connection surfaced as an error."""
    return AsyncRetry(
        ExponentialBackoff(cap=0.5, base=0.05), RETRIES, supported_errors=(RedisConnectionError,)
    )


def sync_redis(
    url: str,
    *,
    connect_timeout: float = 2.0,
    socket_timeout: float = 10.0,
    max_connections: int = 20,
    client_name: str = "hitl-slack",
) -> redis.Redis:
    """A sync client over a bounded, thread-safe pool: threads queue for a connection (never
    more than ``max_connections``); it fails fast when Redis is unreachable."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        max_connections=max_connections,
        timeout=None,
        retry=retry_policy(),
        client_name=client_name,
    )
    return redis.Redis(connection_pool=pool)


def async_redis(
    url: str,
    *,
    connect_timeout: float = 2.0,
    socket_timeout: float = 10.0,
    max_connections: int = 20,
    client_name: str = "hitl-slack",
) -> aredis.Redis:
    """An async client over a bounded pool: callers queue for a connection, never open more."""
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        max_connections=max_connections,
        timeout=None,
        retry=async_retry_policy(),
        client_name=client_name,
    )
    return aredis.Redis.from_pool(pool)  # owns it: aclose() closes every connection


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except NoScriptError:
        raise
    except RedisError as exc:
        # The message names what failed, never the URL (it may carry a password).
        raise StoreUnavailable(f"Redis error: {type(exc).__name__}: {exc}") from None
    except OSError as exc:
        raise StoreUnavailable(f"Redis unreachable: {exc}") from None


def _run_sync(r: redis.Redis, gen: Gen[T]) -> T:
    try:
        op = next(gen)
        while True:
            with _unavailable():
                result = _exec_sync(r, op)
            op = gen.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def _exec_sync(r: redis.Redis, op: Op) -> Any:
    if isinstance(op, Command):
        return r.execute_command(*op.args)  # type: ignore[no-untyped-call]
    if isinstance(op, Batch):
        pipe = r.pipeline(transaction=False)
        for cmd in op.commands:
            pipe.execute_command(*cmd.args)  # type: ignore[no-untyped-call]
        return pipe.execute()
    try:
        return r.evalsha(op.script.sha, len(op.keys), *op.keys, *op.args)
    except NoScriptError:
        return r.eval(op.script.source, len(op.keys), *op.keys, *op.args)


async def _run_async(r: aredis.Redis, gen: Gen[T]) -> T:
    try:
        op = next(gen)
        while True:
            with _unavailable():
                result = await _exec_async(r, op)
            op = gen.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def _exec_async(r: aredis.Redis, op: Op) -> Any:
    if isinstance(op, Command):
        return await r.execute_command(*op.args)  # type: ignore[no-untyped-call]
    if isinstance(op, Batch):
        pipe = r.pipeline(transaction=False)
        for cmd in op.commands:
            pipe.execute_command(*cmd.args)
        return await pipe.execute()
    try:
        return await r.evalsha(op.script.sha, len(op.keys), *op.keys, *op.args)
    except NoScriptError:
        return await r.eval(op.script.source, len(op.keys), *op.keys, *op.args)


class Store:
    """The lifecycle over a sync Redis client. Every method is one atomic step or a read."""

    def __init__(self, r: redis.Redis, config: StoreConfig | None = None) -> None:
        self.redis = r
        self.config = config or StoreConfig()

    def run(self, gen: Gen[T]) -> T:
        """Drive any command generator (see :mod:`hitl_slack.lifecycle.ops`) against this Redis."""
        return _run_sync(self.redis, gen)

    def heartbeats(self) -> list[Heartbeat]:
        """See :func:`hitl_slack.lifecycle.heartbeat.read`."""
        return _run_sync(self.redis, heartbeat.read(self.config.keys))

    def close(self) -> None:
        """Close every connection of the pool, in use or not."""
        self.redis.close()
        self.redis.connection_pool.disconnect()

    def create(self, request: ApprovalRequest) -> tuple[RequestState, bool]:
        """See :func:`hitl_slack.lifecycle.ops.create`."""
        return _run_sync(self.redis, ops.create(self.config, request))

    def get(self, request_id: str) -> RequestState:
        """See :func:`hitl_slack.lifecycle.ops.get`."""
        return _run_sync(self.redis, ops.get(self.config, request_id))

    def decide(self, request_id: str, status: Status, **kw: Any) -> Decision:
        """See :func:`hitl_slack.lifecycle.ops.decide`."""
        return _run_sync(self.redis, ops.decide(self.config, request_id, status, **kw))

    def expire(self, request_id: str) -> Decision:
        """See :func:`hitl_slack.lifecycle.ops.expire`."""
        return _run_sync(self.redis, ops.expire(self.config, request_id))

    def read_posting(
        self, request_id: str, mark: datetime | None = None
    ) -> tuple[RequestState, datetime | None]:
        """See :func:`hitl_slack.lifecycle.ops.read_posting`."""
        return _run_sync(self.redis, ops.read_posting(self.config, request_id, mark))

    def mark_posted(self, state: RequestState, message: MessageRef, policy: Policy) -> Posted:
        """See :func:`hitl_slack.lifecycle.ops.mark_posted`."""
        return _run_sync(self.redis, ops.mark_posted(self.config, state, message, policy))

    def audit(self, *events: AuditEvent) -> None:
        """See :func:`hitl_slack.lifecycle.ops.audit`."""
        _run_sync(self.redis, ops.audit(self.config, *events))

    def due(self, limit: int = 100) -> list[str]:
        """See :func:`hitl_slack.lifecycle.ops.due`."""
        return _run_sync(self.redis, ops.due(self.config, limit))

    def pending(self, limit: int = 50) -> list[RequestState]:
        """See :func:`hitl_slack.lifecycle.ops.pending`."""
        return _run_sync(self.redis, ops.pending(self.config, limit))


class AsyncStore:
    """The lifecycle over an asyncio Redis client; the same methods as :class:`Store`."""

    def __init__(self, r: aredis.Redis, config: StoreConfig | None = None) -> None:
        self.redis = r
        self.config = config or StoreConfig()

    async def run(self, gen: Gen[T]) -> T:
        """Drive any command generator (see :mod:`hitl_slack.lifecycle.ops`) against this Redis."""
        return await _run_async(self.redis, gen)

    async def heartbeats(self) -> list[Heartbeat]:
        """See :func:`hitl_slack.lifecycle.heartbeat.read`."""
        return await _run_async(self.redis, heartbeat.read(self.config.keys))

    async def aclose(self) -> None:
        """Close every connection of the pool, in use or not (a pool passed to
        ``redis.asyncio.Redis`` is not closed by its ``aclose``)."""
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()

    async def create(self, request: ApprovalRequest) -> tuple[RequestState, bool]:
        """See :func:`hitl_slack.lifecycle.ops.create`."""
        return await _run_async(self.redis, ops.create(self.config, request))

    async def get(self, request_id: str) -> RequestState:
        """See :func:`hitl_slack.lifecycle.ops.get`."""
        return await _run_async(self.redis, ops.get(self.config, request_id))

    async def decide(self, request_id: str, status: Status, **kw: Any) -> Decision:
        """See :func:`hitl_slack.lifecycle.ops.decide`."""
        return await _run_async(self.redis, ops.decide(self.config, request_id, status, **kw))

    async def expire(self, request_id: str) -> Decision:
        """See :func:`hitl_slack.lifecycle.ops.expire`."""
        return await _run_async(self.redis, ops.expire(self.config, request_id))

    async def read_posting(
        self, request_id: str, mark: datetime | None = None
    ) -> tuple[RequestState, datetime | None]:
        """See :func:`hitl_slack.lifecycle.ops.read_posting`."""
        return await _run_async(self.redis, ops.read_posting(self.config, request_id, mark))

    async def mark_posted(self, state: RequestState, message: MessageRef, policy: Policy) -> Posted:
        """See :func:`hitl_slack.lifecycle.ops.mark_posted`."""
        return await _run_async(self.redis, ops.mark_posted(self.config, state, message, policy))

    async def shorten_deadline(self, request_id: str, deadline: datetime) -> datetime:
        """See :func:`hitl_slack.lifecycle.ops.shorten_deadline`."""
        return await _run_async(self.redis, ops.shorten_deadline(self.config, request_id, deadline))

    async def audit(self, *events: AuditEvent) -> None:
        """See :func:`hitl_slack.lifecycle.ops.audit`."""
        await _run_async(self.redis, ops.audit(self.config, *events))

    async def due(self, limit: int = 100) -> list[str]:
        """See :func:`hitl_slack.lifecycle.ops.due`."""
        return await _run_async(self.redis, ops.due(self.config, limit))

    async def pending(self, limit: int = 50) -> list[RequestState]:
        """See :func:`hitl_slack.lifecycle.ops.pending`."""
        return await _run_async(self.redis, ops.pending(self.config, limit))
