"""Health, readiness and the pieces behind them, in process: body checks (pure), the readiness
probe and Slack auth state against a real Redis, quiet outage logs, and consumers that recreate
a lost group or pause when their replica stops taking work."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aredis
from harness import free_port
from redisproc import RedisServer

from hitl_slack.keys import RELAY_GROUP, UPDATER_GROUP, Keys
from hitl_slack.logs import get_logger
from hitl_slack.service.consumer import Retry, StreamConsumer
from hitl_slack.service.health import Health
from hitl_slack.service.outage import Outage
from hitl_slack.slack.bodies import body_problem, payload_problem, signature_ok

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "ctype", "problem"),
    [
        (b"payload=%7B%22type%22%3A1%7D", FORM, None),
        (b"command=%2Fhitl&text=help", FORM, None),
        (b'{"type": "event_callback", "event": {}}', "application/json", None),
        (b"payload=%7Bbad", FORM, "payload is not valid JSON"),
        (b"payload=%7B%7D\xff", FORM, "body is not UTF-8 (invalid byte at offset 14)"),
        (b"[1]", "application/json", "body is a JSON list, not an object"),
        (b'{"user": 5}', FORM, "user is neither an object nor an id"),
        (b'{"actions": [1]}', FORM, "actions is not a list of objects"),
        (b'{"view": "x"}', "application/json", "view is not an object"),
        (
            b'{"a":' * 65 + b"1" + b"}" * 65,
            "application/json",
            "body is nested deeper than 64 levels",
        ),
        (
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            "application/json",
            "body is nested deeper than 64 levels",
        ),
    ],
)
def test_body_problems(body: bytes, ctype: str, problem: str | None):
    found = body_problem(body, ctype)
    assert (found or "").startswith(problem or "")
    assert (found is None) == (problem is None)


def test_payload_problems():
    assert payload_problem({"type": "block_actions", "user": {"id": "U1"}}) is None
    assert payload_problem("text") == "payload is a JSON str, not an object"
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["a"] = {}
        node = node["a"]
    assert payload_problem(deep) == "payload is nested deeper than 64 levels"


def test_signature_is_checked_over_the_raw_bytes():
    raw, now = b"payload=\xff", time.time()
    sig = "v0=" + hmac.new(b"s3cret", f"v0:{int(now)}:".encode() + raw, hashlib.sha256).hexdigest()
    assert signature_ok(raw, str(int(now)), sig, "s3cret", now)
    assert not signature_ok(raw, str(int(now)), sig, "other", now)
    assert not signature_ok(raw, str(int(now) - 600), sig, "s3cret", now)  # replayed
    assert not signature_ok(raw, None, None, "s3cret", now)


def _health(prefix: str) -> Health:
    keys = Keys(prefix)
    return Health(
        name="bot-1",
        keys=keys,
        mode="http",
        version="test",
        groups=[(keys.queue, RELAY_GROUP), (keys.outcomes, UPDATER_GROUP)],
    )


async def test_readiness_needs_the_consumer_groups_and_an_accepted_token(
    prefix: str, redis_url: str
):
    r = aredis.Redis.from_url(redis_url, decode_responses=True)
    health = _health(prefix)
    try:
        report = await health.probe(r)
        assert (report["ready"], report["redis"]) == (False, "ok")
        assert report["groups"] == {
            f"{prefix}:queue relay": False,
            f"{prefix}:outcomes updater": False,
        }
        assert health.beat_of(report).reason == (
            f"consumer groups missing: {prefix}:queue relay, {prefix}:outcomes updater"
        )
        for stream, group in health.groups:
            await r.xgroup_create(stream, group, id="0", mkstream=True)
        assert (await health.probe(r))["ready"] is False  # not started yet

        health.slack_failed("auth.test", 200, "invalid_auth")  # at start: serve's to report
        assert health.auth_error is None
        health.started = True
        assert (await health.probe(r))["ready"] is True
        health.slack_failed("chat.postMessage", 200, "token_revoked")
        report = await health.probe(r)
        assert (report["ready"], report["accepting"], report["slack_auth"]) == (
            False,
            False,
            "SLACK_BOT_TOKEN: token_revoked",
        )
        beat = health.beat_of(report)
        assert (beat.accepting, beat.slack_auth) == (False, "token_revoked")
        health.slack_failed("chat.postMessage", 500, "internal_error")  # not an auth error
        health.slack_ok("apps.connections.open")  # another token: no news for this one
        assert health.auth_error == "SLACK_BOT_TOKEN: token_revoked"
        health.slack_ok("auth.test")
        assert (await health.probe(r))["ready"] is True
    finally:
        await r.aclose()


async def test_redis_unreachable_is_not_ready():
    r = aredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    health = Health(name="bot", keys=Keys("x"), mode="socket", version="t", started=True)
    report = await health.probe(r)
    assert report["ready"] is False
    assert report["redis"].startswith("unreachable: ConnectionError")
    await r.aclose()


async def test_a_redis_that_refuses_writes_is_not_ready(prefix: str, redis_server: RedisServer):
    r = aredis.Redis.from_url(redis_server.url, decode_responses=True)
    health = _health(prefix)
    health.started = True
    try:
        for stream, group in health.groups:
            await r.xgroup_create(stream, group, id="0", mkstream=True)
        assert (await health.probe(r))["ready"] is True
        # What a node demoted by a failover looks like: it answers, reads, refuses writes.
        await r.replicaof("127.0.0.1", str(free_port()))
        report = await health.probe(r)
        assert (report["ready"], report["redis"].split(":")[0]) == (False, "refuses writes")
        assert "READONLY" in report["redis"] or "read only" in report["redis"]
        assert health.beat_of(report).reason.startswith("Redis refuses writes")
    finally:
        await r.aclose()


def test_an_outage_is_one_warning_and_one_info(caplog: pytest.LogCaptureFixture):
    log = get_logger("test.outage")
    outage = Outage(log, "scheduler")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(5):
            outage.lost(ConnectionError("refused"))
        outage.restored()
        outage.restored()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "redis_lost"),
        ("INFO", "redis_restored"),
    ]
    assert caplog.records[0].exc_info is None  # tracebacks at DEBUG only


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_a_consumer_recreates_a_lost_group_from_the_start_of_the_stream(
    prefix: str, redis_url: str
):
    r = aredis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    seen: list[str] = []

    async def handler(fields: dict[str, str]) -> None:
        seen.append(fields["n"])

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
        await r.xadd(keys.queue, {"n": "1"})
        await _until(lambda: seen == ["1"])
        await r.delete(keys.queue)  # what a Redis restarted empty looks like
        await r.xadd(keys.queue, {"n": "2"})  # written before the consumer noticed
        await _until(lambda: seen == ["1", "2"])
    finally:
        stop.set()
        await task
        await r.aclose()


async def _turns(consumer: StreamConsumer, n: int) -> None:
    for _ in range(n):
        last = consumer.ticked
        await _until(lambda last=last: consumer.ticked > last)


async def test_a_paused_consumer_leaves_its_entries_for_another_replica(
    prefix: str, redis_url: str
):
    r = aredis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    accepting = True

    async def refused(fields: dict[str, str]) -> None:
        nonlocal accepting
        accepting = False  # what a revoked token does while the post is in flight
        raise Retry("chat.postMessage: invalid_auth")

    consumer = StreamConsumer(
        r,
        stream=keys.queue,
        group=RELAY_GROUP,
        consumer="c1",
        handler=refused,
        dead_letters=keys.dead_letters,
        block=0.05,
        max_deliveries=1,
        accepting=lambda: accepting,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await r.xadd(keys.queue, {"id": "req_1"})
        await _until(lambda: not accepting)
        await _turns(consumer, 2)  # the loop has seen the pause
        await r.xadd(keys.queue, {"id": "req_2"})
        await _turns(consumer, 2)  # and turned again without reading it
        info = await r.xinfo_groups(keys.queue)
        assert (info[0]["pending"], info[0]["lag"]) == (1, 1)
        assert await r.xlen(keys.dead_letters) == 0  # max_deliveries=1, still not dead
        stop.set()
        await task
        taken = await r.xreadgroup(RELAY_GROUP, "healthy", {keys.queue: ">"})
        assert [json.dumps(f) for _, f in taken[0][1]] == ['{"id": "req_2"}']
    finally:
        stop.set()
        await task
        await r.aclose()


def test_slack_lost_and_restored_is_one_warning_and_one_info(
    caplog: pytest.LogCaptureFixture, prefix: str
):
    health = _health(prefix)
    health.started = True
    with caplog.at_level(logging.INFO, logger="hitl_slack.service.health"):
        for _ in range(3):
            health.slack_unreachable("chat.postMessage", TimeoutError())
            health.slack_failed("chat.update", 503, "service_unavailable")
        health.slack_ok("chat.postMessage")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "slack_lost"),
        ("INFO", "slack_restored"),
    ]
    assert health.auth_error is None  # an outage is not a refused token
