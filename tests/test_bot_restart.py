"""Crashes: a bot killed with -9 resumes without losing or repeating work; a stalled replica's
entries are taken over."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_actions_body
from harness import BotProcess, posted

from hitl_slack import HITLClient, Status
from hitl_slack.keys import RELAY_GROUP, Keys


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _posts_of(fake: FakeSlack, request_id: str) -> int:
    return len(
        [
            c
            for c in fake.calls("chat.postMessage")
            if c.status == 200 and request_id in json.dumps(c.params)
        ]
    )


def test_killed_bot_resumes_without_double_posts_and_old_messages_still_decide(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    before = client.submit("Posted before the crash", "deploy", {"v": 1}, timeout=120)
    old_message = posted(fake, before.request_id)
    # Posting and recording are two steps; a kill between them (a window of a Redis round
    # trip) would post once more on restart. Kill once the post is recorded.
    fake.wait_until(lambda: client.get(before.request_id).message is not None)
    bot.kill()

    queued = [
        client.submit(f"Queued while down {i}", "deploy", {"i": i}, timeout=120) for i in range(3)
    ]
    restarted = BotProcess(fake, prefix, REDIS_URL, port=bot.port).start()
    try:
        for ticket in queued:
            posted(fake, ticket.request_id)
        status, _ = restarted.send(block_actions_body(old_message, "hitl.approve"))
        assert status == 200
        assert client.wait(before.request_id, timeout=10).status is Status.APPROVED
        for ticket in [before, *queued]:
            assert _posts_of(fake, ticket.request_id) == 1
    finally:
        assert restarted.stop() == 0, restarted.logs()


def test_restart_with_a_backlog_in_hand_posts_each_request_once(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    keys = Keys(prefix)
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.xgroup_create(keys.queue, RELAY_GROUP, id="0", mkstream=True)
    tickets = [client.submit(f"Backlog {i}", "deploy", {"i": i}, timeout=120) for i in range(45)]
    bot = BotProcess(fake, prefix, REDIS_URL)
    # The replica had read them all and was killed before handling any.
    r.xreadgroup(RELAY_GROUP, bot.env()["HITL_CONSUMER_NAME"], {keys.queue: ">"}, count=100)
    bot.start()
    try:
        for ticket in tickets:
            posted(fake, ticket.request_id, timeout=20)
        fake.wait_until(lambda: r.xpending(keys.queue, RELAY_GROUP)["pending"] == 0)
        assert [_posts_of(fake, t.request_id) for t in tickets] == [1] * 45
        assert fake.calls("chat.delete") == []
    finally:
        assert bot.stop() == 0, bot.logs()
        r.close()


def test_entries_left_by_a_crashed_replica_are_taken_over(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    keys = Keys(prefix)
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.xgroup_create(keys.queue, RELAY_GROUP, id="0", mkstream=True)
    ticket = client.submit("Taken by a replica that died", "deploy", {}, timeout=120)
    # A replica read the entry and died before handling it.
    taken = r.xreadgroup(RELAY_GROUP, f"ghost-{uuid.uuid4().hex[:6]}", {keys.queue: ">"})
    assert taken[0][1][0][1]["id"] == ticket.request_id
    bot = BotProcess(fake, prefix, REDIS_URL).start()  # HITL_CLAIM_IDLE=1 in the harness
    try:
        posted(fake, ticket.request_id, timeout=15)
        assert _posts_of(fake, ticket.request_id) == 1
        fake.wait_until(lambda: r.xpending(keys.queue, RELAY_GROUP)["pending"] == 0)
    finally:
        assert bot.stop() == 0, bot.logs()
        r.close()


def test_bad_queue_entries_go_to_dead_letters_and_the_bot_keeps_serving(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    keys = Keys(prefix)
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.xadd(keys.queue, {"legacy": "v0 entry without an id"})
    r.xadd(keys.queue, {"id": "req_broken"})
    r.hset(keys.request("req_broken"), mapping={"request": "{not json", "status": "pending"})
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    try:
        good = client.submit("Still served", "deploy", {}, timeout=120)
        posted(fake, good.request_id)
        fake.wait_until(lambda: r.xlen(keys.dead_letters) == 2)
        dead = sorted(
            (fields for _, fields in r.xrange(keys.dead_letters)), key=lambda d: d["fields"]
        )  # handled concurrently: any order
        assert [json.loads(d["fields"]) for d in dead] == [
            {"id": "req_broken"},
            {"legacy": "v0 entry without an id"},
        ]
        assert "stored request req_broken" in dead[0]["error"]
        assert "no 'id' field" in dead[1]["error"]
    finally:
        assert bot.stop() == 0, bot.logs()
        r.close()


def test_missing_secret_fails_at_start_naming_the_variable(fake: FakeSlack, prefix: str):
    import subprocess
    import sys

    env = BotProcess(fake, prefix, REDIS_URL).env()
    env["SLACK_SIGNING_SECRET"] = "your-signing-secret"
    del env["SLACK_BOT_TOKEN"]
    out = subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "serve", "--http"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in out.stderr
    assert "SLACK_SIGNING_SECRET looks like a placeholder" in out.stderr
    assert "your-signing-secret" not in out.stderr


def test_invalid_routes_file_fails_at_start_naming_the_rule_and_field(
    fake: FakeSlack, prefix: str, tmp_path
):
    import subprocess
    import sys

    env = BotProcess(fake, prefix, REDIS_URL).env()
    routes = tmp_path / "routes.toml"
    routes.write_text('[[routes]]\nname = "finance"\nchannel = "C0FIN"\ntimeout = "soon"\n')
    env["HITL_ROUTES_FILE"] = str(routes)
    out = subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "serve", "--http"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert 'routes[0] "finance": timeout: invalid duration' in out.stderr


def test_sigterm_finishes_the_work_in_hand_and_leaves_the_rest_queued(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    fake.fail("chat.postMessage", status=429, retry_after=2, channel="C0SLOW")
    in_hand = client.submit("In hand at shutdown", "slow_task", {}, timeout=120)
    fake.wait_for_call("chat.postMessage", lambda c: c.status == 429)
    assert bot.stop() == 0, bot.logs()  # SIGTERM while it waits out the rate limit
    assert _posts_of(fake, in_hand.request_id) == 1  # finished before exiting
    assert client.get(in_hand.request_id).message is not None

    queued = client.submit("Queued after shutdown", "deploy", {}, timeout=120)
    successor = BotProcess(fake, prefix, REDIS_URL).start()
    try:
        posted(fake, queued.request_id)
        assert _posts_of(fake, queued.request_id) == 1
    finally:
        assert successor.stop() == 0, successor.logs()


def test_work_in_hand_after_a_restart_does_not_hold_up_new_requests(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    keys = Keys(prefix)
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.xgroup_create(keys.queue, RELAY_GROUP, id="0", mkstream=True)
    # Slack rate-limits the channel, not one call: both posts in hand get a 429.
    fake.fail("chat.postMessage", status=429, retry_after=3, channel="C0SLOW", times=2)
    slow = [client.submit(f"Slow {i}", "slow_task", {}, timeout=120) for i in range(2)]
    bot = BotProcess(fake, prefix, REDIS_URL)
    r.xreadgroup(RELAY_GROUP, bot.env()["HITL_CONSUMER_NAME"], {keys.queue: ">"})  # in hand
    bot.start()
    try:
        fresh = client.submit("Fresh", "deploy", {}, timeout=120)
        posted(fake, fresh.request_id)
        for ticket in slow:
            posted(fake, ticket.request_id, timeout=20)
        ok = {c.params["text"]: c.at for c in fake.calls("chat.postMessage") if c.status == 200}
        assert ok["Approval needed: Fresh"] < min(
            ok["Approval needed: Slow 0"], ok["Approval needed: Slow 1"]
        )
    finally:
        assert bot.stop() == 0, bot.logs()
        r.close()
