"""StreamConsumer against a real Redis: leases, room, shared work between replicas."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

import redis.asyncio as aredis

from hitl_slack.keys import RELAY_GROUP, Keys
from hitl_slack.service.consumer import StreamConsumer


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_a_consumer_with_every_slot_busy_keeps_its_entries_from_other_replicas(
    prefix: str, redis_url: str
):
    r = aredis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    handled: collections.Counter[str] = collections.Counter()
    release = asyncio.Event()

    async def slow(fields: dict[str, str]) -> None:  # e.g. a post held by a slow Slack
        handled[fields["n"]] += 1
        await release.wait()

    def consumer(name: str, concurrency: int) -> StreamConsumer:
        return StreamConsumer(
            r,
            stream=keys.queue,
            group=RELAY_GROUP,
            consumer=name,
            handler=slow,
            dead_letters=keys.dead_letters,
            claim_idle=0.3,
            block=0.05,
            concurrency=concurrency,
        )

    busy, other = consumer("busy", 2), consumer("other", 100)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(busy.run(stop))]
    try:
        await busy.ensure_group()
        for n in range(3):
            await r.xadd(keys.queue, {"n": str(n)})
        await _until(lambda: sum(handled.values()) == 2)  # every slot of "busy" in use
        tasks.append(asyncio.create_task(other.run(stop)))
        await asyncio.sleep(1.2)  # four times the lease: "other" would have taken them over
        release.set()
        await _until(lambda: set(handled) == {"0", "1", "2"})
        assert dict(handled) == {"0": 1, "1": 1, "2": 1}
    finally:
        release.set()
        stop.set()
        await asyncio.gather(*tasks)
        await r.aclose()
