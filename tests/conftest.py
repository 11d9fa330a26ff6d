"""Shared fixtures: a real Redis, isolated per test by a random key prefix.

Logging: in-process tests see the service's structlog lines as ordinary stdlib records (the event
is the message, each field an attribute, bound context included), so pytest's ``caplog`` reads
them as it reads Bolt's. The bot run as a subprocess configures itself (JSON lines on stderr).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redisproc import RedisServer

from hitl_slack import AsyncHITLClient, HITLClient
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, Store, async_redis
from hitl_slack.logs import route_to_stdlib

REDIS_URL = os.environ.get("HITL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

route_to_stdlib()  # as unconfigured service code does; tests/test_logs.py configures and restores


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match=f"{name}:*", count=1000))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i : i + 500])
    r.close()


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def raw(prefix: str) -> Iterator[redis.Redis]:
    """A plain Redis client for looking at what was stored."""
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield r
    r.close()


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def client(prefix: str) -> Iterator[HITLClient]:
    c = HITLClient(REDIS_URL, prefix)
    yield c
    c.close()


@pytest.fixture
async def aclient(prefix: str) -> AsyncIterator[AsyncHITLClient]:
    c = AsyncHITLClient(REDIS_URL, prefix)
    yield c
    await c.aclose()


@pytest.fixture
def store(prefix: str) -> Iterator[Store]:
    """The store the bot uses (sync flavour)."""
    s = Store(
        redis.Redis.from_url(REDIS_URL, decode_responses=True), StoreConfig(keys=Keys(prefix))
    )
    yield s
    s.redis.close()


@pytest.fixture
async def astore(prefix: str) -> AsyncIterator[AsyncStore]:
    """The store the bot uses (async flavour)."""
    s = AsyncStore(async_redis(REDIS_URL, max_connections=50), StoreConfig(keys=Keys(prefix)))
    yield s
    await s.redis.aclose()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server`` (AOF on) that the test may kill and restart by PID."""
    with RedisServer(aof=True) as server:
        yield server
