"""Decision written -> waiting agent returns, next to a bare Redis LPUSH -> BLPOP wake.

Run: ``make bench`` (or ``python benchmarks/wakeup.py [N]``). Needs a Redis at
``HITL_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0). Prints p50 / p99 per mode.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid

import redis
from common import REDIS_URL, bare_redis_wake, summary

from hitl_slack import AsyncHITLClient, HITLClient, Status, Ticket
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, Store


def _subscribed(r: redis.Redis, channel: str) -> None:
    for _ in range(5000):
        if r.pubsub_numsub(channel)[0][1] > 0:
            return
        time.sleep(0.0002)
    raise RuntimeError("waiter never subscribed")


def _wait(ticket: Ticket, woke: list[float]) -> None:
    ticket.wait()
    woke.append(time.perf_counter())


def sync_wake(n: int, prefix: str) -> tuple[list[float], list[float]]:
    client = HITLClient(REDIS_URL, prefix)
    store = Store(
        redis.Redis.from_url(REDIS_URL, decode_responses=True), StoreConfig(keys=Keys(prefix))
    )
    wakes, decides = [], []
    for _ in range(n):
        ticket = client.submit("bench", "bench", {"n": 1}, timeout=60)
        woke: list[float] = []
        t = threading.Thread(target=_wait, args=(ticket, woke))
        t.start()
        _subscribed(store.redis, Keys(prefix).decided_channel(ticket.request_id))
        start = time.perf_counter()
        store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
        decides.append(time.perf_counter() - start)
        t.join()
        wakes.append(woke[0] - start)
    client.close()
    return wakes, decides


async def async_wake(n: int, prefix: str) -> list[float]:
    client = AsyncHITLClient(REDIS_URL, prefix)
    store = AsyncStore(client.store.redis, StoreConfig(keys=Keys(prefix)))
    raw = redis.Redis.from_url(REDIS_URL)
    wakes = []
    for _ in range(n):
        ticket = await client.submit("bench", "bench", {"n": 1}, timeout=60)
        task = asyncio.create_task(ticket.wait())
        await asyncio.to_thread(_subscribed, raw, Keys(prefix).decided_channel(ticket.request_id))
        start = time.perf_counter()
        await store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
        await task
        wakes.append(time.perf_counter() - start)
    await client.aclose()
    return wakes


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        base = bare_redis_wake(n)
        sync, decide = sync_wake(n, prefix)
        asyn = asyncio.run(async_wake(n, prefix))
        base_after = bare_redis_wake(n)
    finally:
        r = redis.Redis.from_url(REDIS_URL)
        for key in r.scan_iter(match=f"{prefix}:*"):
            r.delete(key)
    print(f"wake-up latency, {n} samples each (decide call start -> waiter returns)")
    print(f"  baseline  bare Redis LPUSH -> BLPOP       {summary(base)}")
    print(f"  hitl sync  decide -> HITLClient.wait      {summary(sync)}")
    print(f"  hitl async decide -> AsyncHITLClient.wait {summary(asyn)}")
    print(f"  (decide call itself: GET + Lua step      {summary(decide)})")
    print(f"  baseline again (noise check)              {summary(base_after)}")


if __name__ == "__main__":
    main()
