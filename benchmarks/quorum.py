"""A 2-of-2 quorum's second click -> agent unblocked, next to a single approver's click.

Both through the real bot in HTTP mode, in the same run, interleaved: a request routed to a
route with ``quorum = 2`` gets its first vote (not timed), then the clock runs from the second
approver's signed click until the agent blocked in ``wait()`` returns. The quorum path costs a
vote step (recorded, then read back) before the decision step a single click goes straight to.
Run: ``python benchmarks/quorum.py [N]``.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from pathlib import Path

import redis
from common import REDIS_URL, summary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeslack import FakeSlack, block_actions_body
from harness import BotProcess, posted

from hitl_slack import HITLClient, Ticket
from hitl_slack.keys import Keys

ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "two"
match = { action = "two_*" }
channel = "C0TWO"
approvers = ["U0A", "U0B"]
quorum = 2

[[routes]]
name = "one"
match = { action = "one_*" }
channel = "C0ONE"
approvers = ["U0A", "U0B"]
"""


def _wait(ticket: Ticket, woke: list[float]) -> None:
    ticket.wait()
    woke.append(time.perf_counter())


def _click(bot: BotProcess, raw: redis.Redis, ticket: Ticket, body: dict[str, object]) -> float:
    """Send the deciding click with the agent blocked in wait(); seconds until it returns."""
    woke: list[float] = []
    t = threading.Thread(target=_wait, args=(ticket, woke))
    t.start()
    channel = Keys(bot.prefix).decided_channel(ticket.request_id)
    while raw.pubsub_numsub(channel)[0][1] == 0:
        time.sleep(0.0002)
    start = time.perf_counter()
    status, _ = bot.send(body)
    t.join(10)
    if status != 200 or not woke:
        raise RuntimeError(f"click did not decide: HTTP {status}")
    return woke[0] - start


def _first_vote(bot: BotProcess, client: HITLClient, ticket: Ticket, body: dict[str, object]):
    status, _ = bot.send(body)
    deadline = time.monotonic() + 10
    while not client.get(ticket.request_id).votes:
        if status != 200 or time.monotonic() > deadline:
            raise RuntimeError("the first vote was not recorded")
        time.sleep(0.001)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(REDIS_URL)
    single, second = [], []
    with FakeSlack() as fake:
        bot = BotProcess(fake, prefix, REDIS_URL, routes=ROUTES).start()
        client = HITLClient(REDIS_URL, prefix)
        try:
            for _ in range(n):
                one = client.submit("bench", "one_bench", {"n": 1}, timeout=120)
                msg = posted(fake, one.request_id)
                single.append(
                    _click(bot, raw, one, block_actions_body(msg, "hitl.approve", user_id="U0A"))
                )
                two = client.submit("bench", "two_bench", {"n": 1}, timeout=120)
                msg = posted(fake, two.request_id)
                _first_vote(
                    bot, client, two, block_actions_body(msg, "hitl.approve", user_id="U0A")
                )
                body = block_actions_body(msg, "hitl.approve", user_id="U0B")
                second.append(_click(bot, raw, two, body))
        finally:
            client.close()
            bot.stop()
            for key in raw.scan_iter(match=f"{prefix}:*"):
                raw.delete(key)
    print(
        f"click -> agent unblocked through hitl-slack serve (HTTP mode), {n} of each, interleaved"
    )
    print(f"  baseline  single approver: the click            {summary(single)}")
    print(f"  quorum 2-of-2: the second approver's click      {summary(second)}")


if __name__ == "__main__":
    main()
