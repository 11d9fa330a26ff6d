"""StreamConsumer against a real Redis: leases, room, shared work between replicas."""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable

import redis.asyncio as aredis
import structlog

from hitl_slack.keys import RELAY_GROUP, Keys
from hitl_slack.service.consumer import GiveUp, StreamConsumer


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


async def test_each_entry_is_handled_with_its_request_id_bound_and_failures_are_dead_lettered(
    prefix: str, redis_url: str
):
    r = aredis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    bound: dict[str, object] = {}

    async def handler(fields: dict[str, str]) -> None:
        bound[fields["n"]] = structlog.contextvars.get_contextvars().get("request_id")
        if fields["n"] == "2":
            raise GiveUp("cannot be posted")

    consumer = StreamConsumer(
        r,
        stream=keys.queue,
        group=RELAY_GROUP,
        consumer="c1",
        handler=handler,
        dead_letters=keys.dead_letters,
        block=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await r.xadd(keys.queue, {"n": "1", "id": "req_a"})
        await r.xadd(keys.queue, {"n": "2", "id": "req_b"})
        await r.xadd(keys.queue, {"n": "3"})  # an entry naming no request binds nothing
        await _until(lambda: len(bound) == 3)
        assert bound == {"1": "req_a", "2": "req_b", "3": None}
        assert "request_id" not in structlog.contextvars.get_contextvars()
        await _until(lambda: consumer._in_flight == {})
        dead = await r.xrange(keys.dead_letters)
        assert [(f["stream"], f["error"], json.loads(f["fields"])) for _, f in dead] == [
            (keys.queue, "cannot be posted", {"n": "2", "id": "req_b"})
        ]
        assert await r.xlen(keys.queue) == 0
    finally:
        stop.set()
        await task
        await r.aclose()
