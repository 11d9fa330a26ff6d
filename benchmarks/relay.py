"""Relay throughput: queued requests -> Slack messages, through the real bot, one replica.

N requests are queued while the bot is down; then ``hitl-slack serve`` (a subprocess, HTTP
mode, production timings) starts against a fake Slack that answers at once. Measured from the
first ``chat.postMessage`` the fake receives until every request is recorded as posted and its
queue entry acknowledged: posts/s, and the bot's CPU time (``/proc/<pid>/stat``) per post over
that window. All requests go to one channel, the worst case for the per-channel lane.

Baselines from the same run, on the same machine and the same fake:

* raw aiohttp: one ``ClientSession`` (in its own process) posting the same message N times, as
  many in flight as the bot allows; the ceiling the fake and the loopback allow one client.
* Redis only: the post path's Redis steps (read the request, record the message, acknowledge
  the entry) with the bot's store, without Slack.

The machine is shared, so each figure is the best of ROUNDS interleaved rounds, with the median.
Run: ``python benchmarks/relay.py [N] [ROUNDS]`` (defaults 2000 and 3).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis
from common import REDIS_URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeslack import FakeSlack
from harness import BotProcess

from hitl_slack import HITLClient
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.models import ApprovalRequest, MessageRef, RequestState, Status
from hitl_slack.policy import Policy
from hitl_slack.slack.blocks import approval_message

IN_FLIGHT = 100  # concurrent posts in the baselines (the bot has up to 1,000 entries in hand)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _queue(prefix: str, n: int) -> list[str]:
    client = HITLClient(REDIS_URL, prefix)
    try:
        return [
            client.submit(
                f"bench {i}",
                "deploy",
                {"service": "api", "version": i, "reason": "benchmark " * 5},
                timeout=600,
            ).request_id
            for i in range(n)
        ]
    finally:
        client.close()


class ProductionBot(BotProcess):
    """The harness' bot with production timings (the tests shorten the claim and Slack timeouts;
    a 1 s claim interval re-claims every entry in hand three times a second)."""

    def env(self) -> dict[str, str]:
        env = super().env()
        for name in ("HITL_CLAIM_IDLE", "HITL_SLACK_TIMEOUT"):
            env.pop(name)
        return env


def bot_run(fake: FakeSlack, n: int) -> tuple[float, float]:
    """(posts/s, bot CPU ms per post) for ``n`` queued requests."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    ids = _queue(prefix, n)
    raw = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = Keys(prefix)
    fake.reset()
    bot = ProductionBot(fake, prefix, REDIS_URL)
    bot.start()
    assert bot.proc is not None
    try:
        first = fake.wait_for_call("chat.postMessage", timeout=30).at
        cpu0 = _cpu_seconds(bot.proc.pid)
        deadline = time.monotonic() + 120
        while raw.xlen(keys.queue) > 0 or not _all_posted(raw, keys, ids):
            if time.monotonic() > deadline:
                raise RuntimeError("the bot did not post every request in 120 s")
            time.sleep(0.01)
        end = time.time()
        cpu = _cpu_seconds(bot.proc.pid) - cpu0
    finally:
        bot.stop()
        for key in raw.scan_iter(match=f"{prefix}:*", count=1000):
            raw.delete(key)
    posts = len(fake.calls("chat.postMessage"))
    if posts != n:
        raise RuntimeError(f"{posts} posts for {n} requests")
    return n / (end - first), cpu * 1000 / n


def _all_posted(raw: redis.Redis, keys: Keys, ids: list[str]) -> bool:
    pipe = raw.pipeline(transaction=False)
    for i in ids[-50:]:
        pipe.hexists(keys.request(i), "message")
    return all(pipe.execute())


async def _aiohttp_posts(url: str, token: str, body: dict[str, Any], n: int) -> float:
    slots = asyncio.Semaphore(IN_FLIGHT)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with (
                slots,
                session.post(url + "chat.postMessage", json=body, headers=headers) as r,
            ):
                assert (await r.json())["ok"]

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - start)


def _aiohttp_child(url: str, token: str, body: dict[str, Any], n: int, out: Any) -> None:
    out.put(asyncio.run(_aiohttp_posts(url, token, body, n)))


def aiohttp_baseline(fake: FakeSlack, n: int) -> float:
    """Posts/s of a bare aiohttp client in its own process (so the fake keeps this one)."""
    request = ApprovalRequest(
        summary="bench",
        action="deploy",
        payload={"service": "api", "version": 1, "reason": "benchmark " * 5},
        timeout=600,
    )
    message = approval_message(RequestState(request=request, status=Status.PENDING))
    body = {"channel": "C0APPROVALS", **message.to_kwargs()}
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_aiohttp_child, args=(fake.api_url, fake.bot_token, body, n, out))
    child.start()
    rate = float(out.get(timeout=120))
    child.join(10)
    fake.reset()
    return rate


async def _redis_path(n: int) -> float:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    ids = await asyncio.to_thread(_queue, prefix, n)
    keys = Keys(prefix)
    store = AsyncStore(async_redis(REDIS_URL, max_connections=50), StoreConfig(keys=keys))
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(request_id: str, i: int) -> None:
        async with slots:
            state = await store.get(request_id)
            await store.mark_posted(
                state,
                MessageRef(channel="C0APPROVALS", ts=f"1700000000.{i:06d}"),
                Policy(channel="C0APPROVALS"),
            )
            pipe = store.redis.pipeline(transaction=True)
            pipe.xack(keys.queue, "bench", "0-1")
            pipe.xdel(keys.queue, "0-1")
            await pipe.execute()

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(r, i) for i, r in enumerate(ids)))
        return n / (time.perf_counter() - start)
    finally:
        async for key in store.redis.scan_iter(match=f"{prefix}:*", count=1000):
            await store.redis.delete(key)
        await store.redis.aclose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    raw, redis_only, relay, cpu = [], [], [], []
    with FakeSlack() as fake:
        for _ in range(rounds):  # interleaved, so a busy moment hits every figure alike
            redis_only.append(asyncio.run(_redis_path(n)))
            raw.append(aiohttp_baseline(fake, n))
            rate, cpu_ms = bot_run(fake, n)
            relay.append(rate)
            cpu.append(cpu_ms)
    print(
        f"relay: {n} queued requests posted by one hitl-slack serve (fake Slack, no delay); "
        f"best of {rounds} rounds (median in brackets)"
    )
    print(f"  baseline  raw aiohttp, one session, {IN_FLIGHT} in flight   {_fig(raw)} posts/s")
    print(f"  baseline  Redis steps of the post path only     {_fig(redis_only)} posts/s")
    print(f"  relay     hitl-slack serve                      {_fig(relay)} posts/s")
    print(
        f"  bot CPU per post                                {min(cpu):8.2f} ms"
        f"   [{statistics.median(cpu):.2f}]"
    )


def _fig(values: list[float]) -> str:
    return f"{max(values):8.0f}   [{statistics.median(values):.0f}]"


if __name__ == "__main__":
    main()
