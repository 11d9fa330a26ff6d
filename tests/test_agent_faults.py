"""Agents under faults: Redis restarted (with its data, empty, briefly or for good) while they
wait; many threads on one client; every connection closed on close. A private redis-server is
killed and restarted by its PID (tests/redisproc.py)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import redis
from redisproc import RedisServer

from hitl_slack import (
    AsyncHITLClient,
    HITLClient,
    Status,
    StoreUnavailable,
)
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, Store, async_redis, sync_redis

N = 20


@pytest.fixture
def bot_store(redis_server: RedisServer, prefix: str) -> Iterator[Store]:
    """The bot's side, writing decisions into the private Redis."""
    s = Store(sync_redis(redis_server.url), StoreConfig(keys=Keys(prefix)))
    yield s
    s.close()


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition another process makes true (bounded; no fixed sleeps)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def _subscribed(url: str, prefix: str, n: int) -> Callable[[], bool]:
    r = redis.Redis.from_url(url, decode_responses=True)

    def check() -> bool:
        try:
            return len(r.pubsub_channels(f"{prefix}:decided:*")) >= n
        except redis.ConnectionError:
            return False

    return check


def _outcome(fut: Future[Any] | asyncio.Future[Any]) -> str:
    exc = fut.exception()
    return type(exc).__name__ if exc else fut.result().status.value


async def _start_waits(
    server: RedisServer, prefix: str, timeout: float
) -> tuple[HITLClient, AsyncHITLClient, list[str], list[Any]]:
    """N sync (threads) and N async waits on requests of ``timeout`` seconds, all subscribed."""
    sync_client = HITLClient(server.url, prefix)
    async_client = AsyncHITLClient(server.url, prefix)
    ids = [sync_client.submit(f"sync {i}", "act", timeout=timeout).request_id for i in range(N)]
    ids += [
        (await async_client.submit(f"async {i}", "act", timeout=timeout)).request_id
        for i in range(N)
    ]
    pool = ThreadPoolExecutor(N)
    waits: list[Any] = [asyncio.wrap_future(pool.submit(sync_client.wait, rid)) for rid in ids[:N]]
    waits += [asyncio.create_task(async_client.wait(rid)) for rid in ids[N:]]
    await asyncio.to_thread(_until, _subscribed(server.url, prefix, 2 * N))
    pool.shutdown(wait=False)
    return sync_client, async_client, ids, waits


@pytest.mark.parametrize("down_for", [0.0, 0.3])
async def test_waits_of_both_clients_get_decisions_written_after_a_redis_restart(
    redis_server: RedisServer, prefix: str, bot_store: Store, down_for: float
):
    sync_client, async_client, ids, waits = await _start_waits(redis_server, prefix, 30)

    await asyncio.to_thread(redis_server.restart, down_for=down_for)  # AOF: the data survives
    for rid in ids:
        await asyncio.to_thread(bot_store.decide, rid, Status.APPROVED, decided_by=("U1",))
    done, _ = await asyncio.wait(waits, timeout=25)

    assert sorted(_outcome(w) for w in done) == ["approved"] * (2 * N)
    await async_client.aclose()
    sync_client.close()


async def test_waits_end_with_request_not_found_when_redis_comes_back_empty(
    redis_server: RedisServer, prefix: str
):
    sync_client, async_client, _, waits = await _start_waits(redis_server, prefix, 30)

    await asyncio.to_thread(redis_server.restart, empty=True)  # a failover to a fresh node
    done, _ = await asyncio.wait(waits, timeout=25)

    assert sorted(_outcome(w) for w in done) == ["RequestNotFound"] * (2 * N)
    await async_client.aclose()
    sync_client.close()


async def test_waits_raise_store_unavailable_only_when_redis_stays_down_to_their_end(
    redis_server: RedisServer, prefix: str
):
    sync_client = HITLClient(redis_server.url, prefix, connect_timeout=0.5)
    async_client = AsyncHITLClient(redis_server.url, prefix, connect_timeout=0.5)
    ids = [sync_client.submit("s", "act", timeout=60).request_id for _ in range(2)]
    with ThreadPoolExecutor(1) as pool:
        sync_wait = asyncio.wrap_future(pool.submit(sync_client.wait, ids[0], 1.5))
        async_wait = asyncio.create_task(async_client.wait(ids[1], 1.5))
        await asyncio.to_thread(_until, _subscribed(redis_server.url, prefix, 2))
        await asyncio.to_thread(redis_server.kill)
        done, _ = await asyncio.wait([sync_wait, async_wait], timeout=20)
    assert [_outcome(w) for w in (sync_wait, async_wait)] == ["StoreUnavailable"] * 2
    assert len(done) == 2
    await async_client.aclose()
    sync_client.close()


async def test_a_configured_grace_ends_long_waits_early_when_redis_is_gone(
    redis_server: RedisServer, prefix: str
):
    sync_client = HITLClient(redis_server.url, prefix, connect_timeout=0.5, redis_grace=0.5)
    async_client = AsyncHITLClient(redis_server.url, prefix, connect_timeout=0.5, redis_grace=0.5)
    ids = [sync_client.submit("s", "act", timeout=600).request_id for _ in range(2)]
    with ThreadPoolExecutor(1) as pool:
        sync_wait = asyncio.wrap_future(pool.submit(sync_client.wait, ids[0]))
        async_wait = asyncio.create_task(async_client.wait(ids[1]))
        await asyncio.to_thread(_until, _subscribed(redis_server.url, prefix, 2))
        await asyncio.to_thread(redis_server.kill)
        await asyncio.wait([sync_wait, async_wait], timeout=20)
        with pytest.raises(StoreUnavailable, match=r"more than 0\.5s"):
            sync_wait.result()
        with pytest.raises(StoreUnavailable, match=r"more than 0\.5s"):
            async_wait.result()
    await async_client.aclose()
    sync_client.close()


def test_commands_ride_out_a_short_outage_and_stale_pooled_connections(
    redis_server: RedisServer, prefix: str, bot_store: Store
):
    client = HITLClient(redis_server.url, prefix)
    tickets = [client.submit("s", "act", timeout=60) for _ in range(20)]
    with ThreadPoolExecutor(10) as pool:  # fill the pools with connections that will go stale
        list(pool.map(lambda t: client.get(t.request_id), tickets))
    restart = threading.Thread(target=redis_server.restart, kwargs={"down_for": 0.3})
    restart.start()
    results = []
    for ticket in tickets:  # clicks and polls during and right after the outage
        bot_store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
        results.append(client.get(ticket.request_id).status)
    restart.join()
    assert results == [Status.APPROVED] * len(tickets)
    client.close()


async def test_async_commands_ride_out_a_short_outage(redis_server: RedisServer, prefix: str):
    store = AsyncStore(
        async_redis(redis_server.url, max_connections=5), StoreConfig(keys=Keys(prefix))
    )
    client = AsyncHITLClient(redis_server.url, prefix)
    tickets = [await client.submit("s", "act", timeout=60) for _ in range(10)]
    await asyncio.gather(*(store.get(t.request_id) for t in tickets))
    restart = asyncio.create_task(asyncio.to_thread(redis_server.restart, down_for=0.3))
    for ticket in tickets:
        await store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
    await restart
    assert [(await client.get(t.request_id)).status for t in tickets] == [Status.APPROVED] * 10
    await client.aclose()
    await store.aclose()


def _connections(raw: redis.Redis, name: str) -> int:
    return sum(1 for c in raw.client_list() if c.get("name") == name)


def test_1000_threads_waiting_on_one_sync_client_all_return_over_bounded_connections(
    redis_url: str, prefix: str, raw: redis.Redis, store: Store
):
    threads = 1000
    client = HITLClient(redis_url, prefix, max_connections=20)
    tickets = [client.submit(f"r {i}", "act", {"i": i}, timeout=120) for i in range(threads)]
    name = f"hitl-agent:{prefix}"
    with ThreadPoolExecutor(threads) as pool:
        waits = [pool.submit(t.wait) for t in tickets]
        _until(lambda: client._hub.channels == threads, timeout=60)
        during = _connections(raw, name)
        for ticket in tickets:
            store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
        decisions = [w.result(timeout=60) for w in waits]
    assert [(d.request_id, d.status) for d in decisions] == [
        (t.request_id, Status.APPROVED) for t in tickets
    ]
    assert 1 <= during <= 20
    client.close()


def test_close_closes_every_connection_of_the_sync_client(
    redis_url: str, prefix: str, raw: redis.Redis, store: Store
):
    client = HITLClient(redis_url, prefix)
    name = f"hitl-agent:{prefix}"
    tickets = [client.submit("s", "act", timeout=60) for _ in range(5)]
    with ThreadPoolExecutor(5) as pool:
        waits = [pool.submit(t.wait) for t in tickets]
        _until(lambda: client._hub.channels == 5)
        for ticket in tickets:
            store.decide(ticket.request_id, Status.APPROVED)
        assert all(w.result(10).approved for w in waits)
    assert _connections(raw, name) >= 2  # commands and the pub/sub connection
    client.close()
    _until(lambda: _connections(raw, name) == 0)


async def test_aclose_closes_every_connection_of_the_async_client(
    redis_url: str, prefix: str, raw: redis.Redis, astore: AsyncStore
):
    client = AsyncHITLClient(redis_url, prefix, max_connections=20)
    name = f"hitl-agent:{prefix}"
    tickets = await asyncio.gather(*(client.submit("s", "act", timeout=60) for _ in range(40)))
    waits = [asyncio.create_task(t.wait()) for t in tickets]
    while client._hub.channels < 40:
        await asyncio.sleep(0.01)
    await asyncio.gather(*(astore.decide(t.request_id, Status.APPROVED) for t in tickets))
    assert all(d.approved for d in await asyncio.gather(*waits))
    assert _connections(raw, name) >= 2
    await client.aclose()
    await asyncio.to_thread(_until, lambda: _connections(raw, name) == 0)


def test_clients_used_as_context_managers_close(redis_url: str, raw: redis.Redis):
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    with HITLClient(redis_url, prefix) as client:
        client.health()
    _until(lambda: _connections(raw, f"hitl-agent:{prefix}") == 0)


def test_a_create_retried_after_its_reply_was_lost_finds_its_own_first_attempt(
    client: HITLClient, store: Store
):
    from datetime import UTC, datetime

    from hitl_slack import InvalidRequest
    from hitl_slack.agent.client import build_request

    request = build_request("s", "act", {"a": 1}, id="req_retried", created_at=datetime.now(UTC))
    first, created = store.create(request)
    again, created_again = store.create(request)  # what a retry of the same command does
    assert (again, created, created_again) == (first, True, True)
    other = build_request("other", "act", {"a": 2}, id="req_retried")
    with pytest.raises(InvalidRequest, match="already exists"):
        store.create(other)
