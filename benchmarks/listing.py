"""``/hitl pending`` with many pending requests: the ack, and the listing behind it, in-process.

The Bolt app answers signed slash commands through ``async_dispatch`` (no HTTP server), over a
real Redis and the fake Slack. Printed next to each other, from the same run:

* ack of ``/hitl pending`` vs ack of ``/hitl help`` (the baseline: no listing at all);
* one listing page (scan of the index, approver filter, page cut) vs the old read (the soonest
  500 requests, then the filter), which gave a wrong count beyond 500;
* the longest stall of the event loop during a listing (other clicks wait that long).

Run: ``python benchmarks/listing.py [N]`` (N pending requests, default 2000).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis
from common import REDIS_URL, summary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeslack import FakeSlack, sign, slash_command_body
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.keys import Keys
from hitl_slack.lifecycle import listing
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.logs import configure
from hitl_slack.models import ApprovalRequest, MessageRef
from hitl_slack.routing import RoutesConfig, parse_routes, resolve
from hitl_slack.slack import listings
from hitl_slack.slack.app import Deps, build_app
from hitl_slack.slack.gateway import SlackGateway

SECRET = "0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4"
ROUTES = """
[defaults]
channel = "C0APPROVALS"
[[routes]]
name = "finance"
match = { action = "refund_*" }
approvers = ["U0ALICE", "S0FIN"]
[[routes]]
name = "deploys"
match = { action = "deploy" }
approvers = ["U0ALICE"]
"""


async def _posted(store: AsyncStore, routes: RoutesConfig, i: int) -> None:
    """One request, recorded as posted under its policy (listings filter by the stored one)."""
    request = ApprovalRequest(
        summary=f"Item {i}", action="refund_card" if i % 2 else "deploy", timeout=3600
    )
    state, _ = await store.create(request)
    policy = resolve(routes, request).policy
    await store.mark_posted(state, MessageRef(channel=policy.channel, ts=f"{i}.000001"), policy)
    # Linked already, as after a first listing: a page asks Slack nothing, as before snapshots.
    link = f"https://fake.slack.com/archives/{policy.channel}/p{i}000001"
    await store.run(listing.cache_permalink(store.config, request.id, link))


async def _fill(store: AsyncStore, routes: RoutesConfig, n: int) -> None:
    for start in range(0, n, 200):
        await asyncio.gather(
            *(_posted(store, routes, i) for i in range(start, min(n, start + 200)))
        )


async def _ack(app: object, text: str) -> float:
    body = slash_command_body(text, user_id="U0CAROL")
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        **{k.lower(): [v] for k, v in sign(SECRET, body).items()},
    }
    start = time.perf_counter()
    await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))  # type: ignore[attr-defined]
    return time.perf_counter() - start


async def _stall(work: asyncio.Future[object]) -> float:
    """The longest gap between 1 ms ticks while ``work`` runs: how long the loop was blocked."""
    worst, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        worst, last = max(worst, now - last - 0.001), now
    return worst


async def main(n: int, rounds: int = 20) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with FakeSlack() as fake:
        fake.usergroups["S0FIN"] = ["U0CAROL"]
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        store = AsyncStore(async_redis(REDIS_URL), StoreConfig(keys=Keys(prefix)))
        routes = parse_routes(ROUTES, source="bench", default_channel=None)
        deps = Deps.over(store, SlackGateway(client))
        app = build_app(deps, client, SECRET, routes=routes)
        await _fill(store, routes, n)
        help_acks = [await _ack(app, "help") for _ in range(rounds)]
        pending_acks = []
        for i in range(rounds):  # each on an idle bot: the listing behind the ack ends first
            pending_acks.append(await _ack(app, "pending"))
            await fake.async_wait_for_calls("response_url", i + 1, timeout=30)
        new, old, stalls = [], [], []
        for _ in range(rounds):
            start = time.perf_counter()
            task = asyncio.ensure_future(listings.page(deps, "U0CAROL", 0))
            stalls.append(await _stall(task))
            page = await task
            new.append(time.perf_counter() - start)
            start = time.perf_counter()
            states = await store.pending(limit=500)
            shown = [s for s in states if await deps.decisions.may_decide(s, "U0CAROL", {})]
            old.append(time.perf_counter() - start)
        print(f"{n} pending; U0CAROL may decide {page.visible} (old read showed {len(shown)})")
        print(f"ack /hitl help     (baseline) {summary(help_acks)}")
        print(f"ack /hitl pending             {summary(pending_acks)}")
        print(f"old read: 500 + filter (base) {summary(old)}")
        print(f"listing page: scan + filter   {summary(new)}")
        print(f"longest loop stall in a listing: median {statistics.median(stalls) * 1000:.1f} ms")
        await store.redis.aclose()
    raw = redis.Redis.from_url(REDIS_URL)
    for key in raw.scan_iter(match=f"{prefix}:*", count=1000):
        raw.delete(key)


if __name__ == "__main__":
    configure("WARNING", "console")  # the figures on stdout, only warnings on stderr
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
