"""Subscribing many waits at once: 10,000 async waits, and 1,000 threads on one sync client.

Run: ``python benchmarks/subscribe.py [N_ASYNC] [N_THREADS]`` with a Redis at
``HITL_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0). Prints, from the same run:

* baseline: N pipelined PINGs (the floor for N round trips' worth of work in one go), and the
  old path: one SUBSCRIBE round trip per wait, one after the other (as the hub did before);
* hitl async: N waits started together until every subscription is confirmed and every
  request's state read (ready to be woken);
* hitl sync: N_THREADS threads waiting on ONE ``HITLClient``: time until all are subscribed,
  time from the decisions until all returned, and the client's connections meanwhile.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import redis.asyncio as aredis
from common import REDIS_URL

from hitl_slack import AsyncHITLClient, HITLClient, NoBotWarning, Status
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import Store


def _ready(hub: Any) -> int:
    return sum(1 for e in list(hub._subs.entries.values()) if e.in_force and e.checked)


async def baseline_pings(n: int) -> float:
    r = aredis.Redis.from_url(REDIS_URL)
    start = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for _ in range(n):
        pipe.ping()
    await pipe.execute()
    elapsed = time.perf_counter() - start
    await r.aclose()
    return elapsed


async def baseline_one_subscribe_per_wait(n: int, prefix: str) -> float:
    r = aredis.Redis.from_url(REDIS_URL)
    pubsub = r.pubsub()
    start = time.perf_counter()
    for i in range(n):
        await pubsub.subscribe(f"{prefix}:old:{i}")
        while (await pubsub.get_message(timeout=1.0)) is None:
            pass  # its confirmation: the old hub awaited each under one lock
    elapsed = time.perf_counter() - start
    await pubsub.aclose()
    await r.aclose()
    return elapsed


async def hitl_async(n: int, prefix: str) -> tuple[float, float]:
    client = AsyncHITLClient(REDIS_URL, prefix)
    ids = []
    for start in range(0, n, 500):
        ids += [
            t.request_id
            for t in await asyncio.gather(
                *(client.submit(f"r {i}", "act", timeout=300) for i in range(start, start + 500))
            )
        ]
    start = time.perf_counter()
    waits = [asyncio.create_task(client.wait(rid)) for rid in ids]
    while _ready(client._hub) < n:  # noqa: ASYNC110 (a probe; the hub has no such event)
        await asyncio.sleep(0.01)
    subscribed = time.perf_counter() - start
    for rid in ids:
        await client.store.decide(rid, Status.APPROVED, decided_by=("U1",))
    start = time.perf_counter()
    await asyncio.gather(*waits)
    await client.aclose()
    return subscribed, time.perf_counter() - start


def _until(check: Callable[[], bool]) -> None:
    while not check():
        time.sleep(0.01)


def hitl_sync_threads(n: int, prefix: str) -> tuple[float, float, int]:
    client = HITLClient(REDIS_URL, prefix, max_connections=20)
    store = Store(
        redis.Redis.from_url(REDIS_URL, decode_responses=True), StoreConfig(keys=Keys(prefix))
    )
    tickets = [client.submit(f"r {i}", "act", timeout=300) for i in range(n)]
    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    name = f"hitl-agent:{prefix}"
    with ThreadPoolExecutor(n) as pool:
        start = time.perf_counter()
        waits = [pool.submit(t.wait) for t in tickets]
        _until(lambda: _ready(client._hub) == n)
        subscribed = time.perf_counter() - start
        connections = sum(1 for c in raw.client_list() if c.get("name") == name)
        with ThreadPoolExecutor(8) as deciders:
            list(deciders.map(lambda t: store.decide(t.request_id, Status.APPROVED), tickets))
        start = time.perf_counter()
        for w in waits:
            w.result()
        returned = time.perf_counter() - start
    client.close()
    store.redis.close()
    raw.close()
    return subscribed, returned, connections


def main() -> None:
    warnings.filterwarnings("ignore", category=NoBotWarning)  # no bot runs here
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        pings = asyncio.run(baseline_pings(n))
        old = asyncio.run(baseline_one_subscribe_per_wait(n, prefix))
        subscribed, returned = asyncio.run(hitl_async(n, prefix))
        s_sub, s_ret, s_conns = hitl_sync_threads(threads, prefix)
        pings_after = asyncio.run(baseline_pings(n))
    finally:
        r = redis.Redis.from_url(REDIS_URL)
        for key in r.scan_iter(match=f"{prefix}:*", count=1000):
            r.delete(key)
        r.close()
    print(f"subscribing {n} async waits (one AsyncHITLClient)")
    print(f"  baseline  {n} PINGs, one pipeline                {pings * 1000:9.1f} ms")
    print(f"  baseline  one SUBSCRIBE round trip per wait      {old * 1000:9.1f} ms  (old path)")
    print(f"  hitl      all subscribed and their state read    {subscribed * 1000:9.1f} ms")
    print(f"  hitl      {n} decisions -> all waits returned  {returned * 1000:9.1f} ms")
    print(f"  baseline  PINGs again (noise check)              {pings_after * 1000:9.1f} ms")
    print(f"{threads} threads waiting on one HITLClient (max_connections=20)")
    print(f"  hitl      all subscribed and their state read    {s_sub * 1000:9.1f} ms")
    print(f"  hitl      after the decisions, all returned      {s_ret * 1000:9.1f} ms")
    print(f"  connections of the client while waiting          {s_conns:9d}")


if __name__ == "__main__":
    main()
