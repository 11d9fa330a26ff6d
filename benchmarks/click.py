"""Click -> agent unblocked, through the real bot in HTTP mode, next to a bare Redis wake.

A signed ``block_actions`` request (built from the message the bot posted to the fake Slack)
is sent to ``hitl-slack serve``; the clock stops when the agent blocked in ``wait()`` returns.
Run: ``python benchmarks/click.py [N]`` (``make bench`` runs both benchmarks).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from pathlib import Path

import redis
from common import REDIS_URL, bare_redis_wake, summary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeslack import FakeSlack, block_actions_body
from harness import BotProcess, posted

from hitl_slack import HITLClient, Ticket
from hitl_slack.keys import Keys


def _wait(ticket: Ticket, woke: list[float]) -> None:
    ticket.wait()
    woke.append(time.perf_counter())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(REDIS_URL)
    samples, acks = [], []
    base = bare_redis_wake(n)
    with FakeSlack() as fake:
        bot = BotProcess(fake, prefix, REDIS_URL).start()
        client = HITLClient(REDIS_URL, prefix)
        try:
            for _ in range(n):
                ticket = client.submit("bench", "bench", {"n": 1}, timeout=120)
                body = block_actions_body(posted(fake, ticket.request_id), "hitl.approve")
                woke: list[float] = []
                t = threading.Thread(target=_wait, args=(ticket, woke))
                t.start()
                channel = Keys(prefix).decided_channel(ticket.request_id)
                while raw.pubsub_numsub(channel)[0][1] == 0:
                    time.sleep(0.0002)
                start = time.perf_counter()
                status, _ = bot.send(body)
                acks.append(time.perf_counter() - start)
                t.join(10)
                if status != 200 or not woke:
                    raise RuntimeError(f"click did not decide: HTTP {status}")
                samples.append(woke[0] - start)
        finally:
            client.close()
            bot.stop()
            for key in raw.scan_iter(match=f"{prefix}:*"):
                raw.delete(key)
    print(f"click -> agent unblocked, {n} clicks through hitl-slack serve (HTTP mode)")
    print(f"  baseline  bare Redis LPUSH -> BLPOP  {summary(base)}")
    print(f"  click -> agent returns               {summary(samples)}")
    print(f"  click -> Slack gets its HTTP answer  {summary(acks)}")


if __name__ == "__main__":
    main()
