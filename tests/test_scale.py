"""Many concurrent waits share a bounded number of Redis connections."""

from __future__ import annotations

import asyncio

import redis

from hitl_slack import AsyncHITLClient, Status
from hitl_slack.lifecycle.store import AsyncStore

N = 10_000
POOL = 10


def _connections(raw: redis.Redis, name: str) -> int:
    return sum(1 for c in raw.client_list() if c.get("name") == name)


async def test_10000_concurrent_waits_use_a_bounded_number_of_connections(
    prefix: str, redis_url: str, raw: redis.Redis, astore: AsyncStore
):
    client = AsyncHITLClient(redis_url, prefix, max_connections=POOL)
    name = f"hitl-agent:{prefix}"
    tickets = []
    for start in range(0, N, 500):
        tickets += await asyncio.gather(
            *(
                client.submit(f"request {i}", "act", {"i": i}, timeout=120)
                for i in range(start, min(start + 500, N))
            )
        )
    waits = [asyncio.create_task(t.wait()) for t in tickets]
    while client._hub.channels < N:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    during = _connections(raw, name)

    for start in range(0, N, 500):
        await asyncio.gather(
            *(
                astore.decide(t.request_id, Status.APPROVED, decided_by=("U1",))
                for t in tickets[start : start + 500]
            )
        )
    decisions = await asyncio.wait_for(asyncio.gather(*waits), timeout=120)

    assert [(d.request_id, d.status) for d in decisions] == [
        (t.request_id, Status.APPROVED) for t in tickets
    ]
    assert 1 <= during <= POOL  # the pub/sub connection comes from the same bounded pool
    assert _connections(raw, name) <= POOL
    assert client._hub.channels == 0  # every subscription released
    await client.aclose()


async def test_aclose_closes_every_connection_of_the_client(
    prefix: str, redis_url: str, raw: redis.Redis
):
    client = AsyncHITLClient(redis_url, prefix, max_connections=POOL)
    name = f"hitl-agent:{prefix}"
    tickets = await asyncio.gather(
        *(client.submit(f"request {i}", "act", {"i": i}, timeout=60) for i in range(3 * POOL))
    )
    waits = [asyncio.create_task(t.wait()) for t in tickets]
    while client._hub.channels < len(tickets):
        await asyncio.sleep(0.02)
    assert _connections(raw, name) > 1
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    await client.aclose()
    for _ in range(100):  # the server notices each close a moment later
        if _connections(raw, name) == 0:
            break
        await asyncio.sleep(0.02)
    assert _connections(raw, name) == 0
