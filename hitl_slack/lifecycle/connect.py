"""Redis clients for the lifecycle: bounded pools that ride out a restart or a failover."""

from __future__ import annotations

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

__all__ = ["RETRIES", "async_redis", "async_retry_policy", "retry_policy", "sync_redis"]


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
