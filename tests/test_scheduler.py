"""The scheduler applies deadlines, and an unreadable entry does not stop it."""

from __future__ import annotations

import json
import time

import redis

from hitl_slack import HITLClient, Status
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.service.scheduler import Scheduler


async def test_due_requests_expire_and_unreadable_ones_are_set_aside(
    client: HITLClient, astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    raw.hset(
        keys.request("req_future_format"),
        mapping={
            "request": json.dumps({"v": 9, "shape": "unknown"}),
            "status": "pending",
            "deadline": "1",
        },
    )
    raw.zadd(keys.deadlines, {"req_future_format": 1})  # first in line, long due
    due = client.submit("Due", "act", timeout=0.2)
    later = client.submit("Later", "act", timeout=60)
    time.sleep(0.3)

    assert await Scheduler(astore).tick() == 1
    assert client.get(due.request_id).status is Status.EXPIRED
    assert client.get(later.request_id).status is Status.PENDING
    assert raw.zrange(keys.deadlines, 0, -1) == [later.request_id]
    dead = [fields for _, fields in raw.xrange(keys.dead_letters)]
    assert [json.loads(d["fields"]) for d in dead] == [{"id": "req_future_format"}]
    assert "stored request req_future_format" in dead[0]["error"]
