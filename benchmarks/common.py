"""Shared by the benchmarks: percentiles and the bare-Redis baseline (LPUSH -> BLPOP wake)."""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
import warnings

import redis

from hitl_slack import NoBotWarning

# Most benchmarks drive agents without a bot on purpose: the notice would only add noise.
warnings.simplefilter("ignore", NoBotWarning)

REDIS_URL = os.environ.get("HITL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def summary(samples_s: list[float]) -> str:
    """p50 / p99 / max in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"p50 {statistics.median(ms):7.3f} ms   p99 {p99:7.3f} ms   max {ms[-1]:7.3f} ms"
        f"   (n={len(ms)})"
    )


def bare_redis_wake(n: int) -> list[float]:
    """LPUSH -> a thread blocked in BLPOP returns: the floor for any Redis wake-up."""
    r = redis.Redis.from_url(REDIS_URL)
    key = f"bench-{uuid.uuid4().hex}"
    samples: list[float] = []
    waiter = redis.Redis.from_url(REDIS_URL, single_connection_client=True)
    waiter_id = waiter.client_id()
    for _ in range(n):
        woke: list[float] = []
        t = threading.Thread(target=_blpop, args=(waiter, key, woke))
        t.start()
        _until_blocked(r, waiter_id)
        start = time.perf_counter()
        r.lpush(key, "x")
        t.join()
        samples.append(woke[0] - start)
    r.delete(key)
    waiter.close()
    return samples


def _blpop(c: redis.Redis, key: str, woke: list[float]) -> None:
    c.blpop([key], timeout=5)
    woke.append(time.perf_counter())


def _until_blocked(r: redis.Redis, client_id: int) -> None:
    """Wait until that connection is blocked in BLPOP (so the push really wakes it)."""
    for _ in range(5000):
        if any(
            int(c["id"]) == client_id and c.get("cmd") == "blpop" and "b" in c["flags"]
            for c in r.client_list()
        ):
            return
        time.sleep(0.0002)
    raise RuntimeError("the BLPOP waiter never blocked")
