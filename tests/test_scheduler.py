"""The scheduler fires timers by kind; an unreadable entry or an unknown kind does not stop it;
requests written by agents older than the timer set are taken over and expire on time."""

from __future__ import annotations

import asyncio
import json
import time

import redis

from hitl_slack import Decision, HITLClient, Status
from hitl_slack.keys import Keys
from hitl_slack.lifecycle import listing
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.lifecycle.timers import Timer
from hitl_slack.models import ApprovalRequest, MessageRef
from hitl_slack.policy import Policy
from hitl_slack.service.scheduler import Scheduler


def _dead(raw: redis.Redis, keys: Keys) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(keys.dead_letters)]


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
    raw.zadd(keys.timers, {"expire:req_future_format": 1})  # first in line, long due
    raw.zadd(keys.pending, {"req_future_format": 1})
    due = client.submit("Due", "act", timeout=0.2)
    later = client.submit("Later", "act", timeout=60)
    time.sleep(0.3)

    assert await Scheduler(astore).tick() == 1
    assert client.get(due.request_id).status is Status.EXPIRED
    assert client.get(later.request_id).status is Status.PENDING
    assert raw.zrange(keys.timers, 0, -1) == [f"expire:{later.request_id}"]
    assert raw.zrange(keys.pending, 0, -1) == [later.request_id]
    dead = _dead(raw, keys)
    assert [(d["stream"], d["entry_id"]) for d in dead] == [(keys.timers, "req_future_format")]
    assert [json.loads(d["fields"]) for d in dead] == [{"id": "req_future_format"}]
    assert "stored request req_future_format" in dead[0]["error"]


async def test_timers_go_to_the_handler_of_their_kind_and_unknown_kinds_are_set_aside(
    astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    fired: list[Timer] = []

    async def remind(timer: Timer) -> bool:
        fired.append(timer)
        await astore.drop_timer(timer)
        return False

    raw.zadd(keys.timers, {"remind:req_a:2": 1, "nudge:req_a": 2, "remind:req_a": 3})
    assert await Scheduler(astore, handlers={"remind": remind}).tick() == 0

    assert fired == [Timer("remind", "req_a", 2)]
    assert raw.zcard(keys.timers) == 0
    dead = _dead(raw, keys)
    assert [(d["entry_id"], json.loads(d["fields"])) for d in dead] == [
        ("nudge:req_a", {"timer": "nudge:req_a"}),
        ("remind:req_a", {"timer": "remind:req_a"}),  # a numbered kind without its number
    ]
    assert [d["error"] for d in dead] == [
        "unknown timer kind 'nudge'",
        "unknown timer kind 'remind:req_a'",
    ]


def _redis_ms(raw: redis.Redis) -> int:
    seconds, micros = raw.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _old_create(raw: redis.Redis, keys: Keys, request_id: str, timeout: float) -> int:
    """What the create step of an agent older than the timer set writes (no ``created``, no
    timers, no pending index: the deadline set). Returns the deadline (ms, Redis' clock)."""
    req = ApprovalRequest(id=request_id, summary="Old agent", action="act", timeout=timeout)
    deadline = _redis_ms(raw) + int(timeout * 1000)
    raw.hset(
        keys.request(request_id),
        mapping={"request": req.model_dump_json(), "status": "pending", "deadline": deadline},
    )
    raw.pexpire(keys.request(request_id), int((timeout + 3600) * 1000))
    raw.zadd(keys.deadlines, {request_id: deadline})
    raw.xadd(keys.queue, {"id": request_id}, maxlen=100_000, approximate=True)
    return deadline


async def _listed(astore: AsyncStore) -> tuple[int, list[str]]:
    scan = await astore.run(listing.scan(astore.config))
    return scan.total, [item.state.request.id for item in scan.items]


async def test_a_request_written_by_an_older_agent_is_listed_and_expires_at_its_deadline(
    astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    deadline = _old_create(raw, keys, "req_old_agent", timeout=0.6)
    scheduler = Scheduler(astore)

    assert await scheduler.tick() == 0  # moved over, not due yet
    assert raw.zcard(keys.deadlines) == 0
    assert raw.zrange(keys.timers, 0, -1, withscores=True) == [("expire:req_old_agent", deadline)]
    assert raw.zrange(keys.pending, 0, -1, withscores=True) == [("req_old_agent", deadline)]
    assert await _listed(astore) == (1, ["req_old_agent"])
    assert [s.request.id for s in await astore.pending()] == ["req_old_agent"]

    await asyncio.sleep(max(0.0, (deadline - _redis_ms(raw)) / 1000) + 0.05)
    assert await scheduler.tick() == 1
    state = await astore.get("req_old_agent")
    assert state.decision is not None
    assert (state.status, state.decision.reason) == (
        Status.EXPIRED,
        "no decision before the deadline",
    )
    assert (raw.zcard(keys.timers), raw.zcard(keys.pending)) == (0, 0)
    assert [f for _, f in raw.xrange(keys.outcomes)] == [
        {"id": "req_old_agent", "status": "expired"}
    ]
    assert await _listed(astore) == (0, [])


async def test_an_older_agents_cancel_after_the_move_leaves_a_timer_that_cleans_up(
    astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    deadline = _old_create(raw, keys, "req_old_cancel", timeout=0.4)
    scheduler = Scheduler(astore)
    await scheduler.tick()
    cancel = Decision(request_id="req_old_cancel", status=Status.CANCELLED, reason="gave up")
    # The older agent's transition step: the decision, and only the deadline set cleaned.
    raw.hset(
        keys.request("req_old_cancel"),
        mapping={"status": "cancelled", "decision": cancel.model_dump_json()},
    )
    raw.zrem(keys.deadlines, "req_old_cancel")
    assert await _listed(astore) == (0, [])  # decided: neither listed nor counted

    await asyncio.sleep(max(0.0, (deadline - _redis_ms(raw)) / 1000) + 0.05)
    assert await scheduler.tick() == 0
    assert (await astore.get("req_old_cancel")).status is Status.CANCELLED
    assert (raw.zcard(keys.timers), raw.zcard(keys.pending)) == (0, 0)
    assert _dead(raw, keys) == []


async def test_a_policy_cap_recorded_before_the_move_stands(
    astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    _old_create(raw, keys, "req_old_capped", timeout=60)
    state = await astore.get("req_old_capped")
    posted = await astore.mark_posted(
        state, MessageRef(channel="C1", ts="1.000001"), Policy(channel="C1", timeout_cap=0.3)
    )
    assert posted.deadline is not None
    capped = int(posted.deadline.timestamp() * 1000)

    assert await astore.migrate(10) == 1  # the older, later deadline does not win
    assert raw.zscore(keys.timers, "expire:req_old_capped") == capped
    assert raw.zscore(keys.pending, "req_old_capped") == capped

    await asyncio.sleep(max(0.0, (capped - _redis_ms(raw)) / 1000) + 0.05)
    assert await Scheduler(astore).tick() == 1


async def test_the_legacy_set_moves_in_bounded_steps(
    astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    for n in range(5):
        _old_create(raw, keys, f"req_old_{n}", timeout=60)
    assert [await astore.migrate(2) for _ in range(4)] == [2, 2, 1, 0]
    assert raw.zcard(keys.pending) == 5
    assert raw.exists(keys.deadlines) == 0
