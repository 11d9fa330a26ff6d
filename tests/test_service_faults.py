"""The service under faults, as a real process: Redis lost or restarted empty, Slack refusing
its token, signals in every state. Each test asserts what an operator or an agent would see."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from fakeslack import FakeSlack
from harness import BotProcess, free_port, posted
from redisproc import RedisServer

from hitl_slack import HITLClient, Status
from hitl_slack.keys import RELAY_GROUP, Keys
from hitl_slack.lifecycle.heartbeat import Heartbeat


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _log_events(bot: BotProcess) -> list[dict]:
    events = []
    for line in bot.logs().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": line, "level": "raw"})
    return events


def _stop_within(bot: BotProcess, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    assert bot.proc is not None
    bot.proc.send_signal(sig)
    try:
        return bot.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        bot.proc.kill()
        bot.proc.wait(5)
        pytest.fail(f"serve ignored the signal for {timeout}s:\n{bot.logs()[-3000:]}")


def test_redis_restarted_empty_the_bot_recreates_its_groups_and_posts_again(
    fake: FakeSlack, prefix: str, redis_server: RedisServer
):
    bot = BotProcess(fake, prefix, redis_server.url).start()
    client = HITLClient(redis_server.url, prefix)
    try:
        assert bot.wait_readyz(200)["groups"] == {
            f"{prefix}:queue relay": True,
            f"{prefix}:outcomes updater": True,
        }
        before = client.submit("Before the failover", "deploy", {}, timeout=60)
        posted(fake, before.request_id)

        redis_server.kill()
        down = bot.wait_readyz(503)
        assert down["redis"].startswith("unreachable")
        assert bot.health() == 200  # liveness: the process is fine, it waits for Redis

        redis_server.restart(empty=True)
        bot.wait_readyz(200)
        r = redis.Redis.from_url(redis_server.url, decode_responses=True)
        groups = {g["name"] for g in r.xinfo_groups(Keys(prefix).queue)}
        assert RELAY_GROUP in groups
        after = client.submit("After the failover", "deploy", {}, timeout=60)
        message = posted(fake, after.request_id, timeout=15)
        assert message.channel == "C0APPROVALS"
        r.close()
    finally:
        client.close()
        assert bot.stop() == 0, bot.logs()


def test_a_request_lost_with_redis_while_it_was_being_posted_leaves_no_live_message(
    fake: FakeSlack, prefix: str, redis_server: RedisServer
):
    bot = BotProcess(fake, prefix, redis_server.url, extra_env={"HITL_SLACK_TIMEOUT": "20"})
    bot.start()
    client = HITLClient(redis_server.url, prefix)
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        fake.fail("chat.postMessage", status=200, delay=6)  # Slack holds the post...
        ticket = client.submit("Lost", "deploy", {}, timeout=60)
        deadline = time.monotonic() + 10
        while not r.hget(Keys(prefix).request(ticket.request_id), "post_attempt"):
            assert time.monotonic() < deadline, bot.logs()
            time.sleep(0.02)
        redis_server.restart(empty=True)  # ... while Redis comes back without the request
        fake.wait_for_call("chat.postMessage", timeout=10)
        fake.wait_for_call("chat.delete", timeout=20)
        tagged = [m for m in fake.messages() if ticket.request_id in json.dumps(m.metadata)]
        assert tagged == []  # no Approve button for a request nobody can decide any more
        assert "Traceback" not in bot.logs()
    finally:
        r.close()
        client.close()
        assert bot.stop() == 0, bot.logs()


def test_redis_down_for_8_seconds_logs_one_warning_and_one_info_per_component(
    fake: FakeSlack, prefix: str, redis_server: RedisServer
):
    bot = BotProcess(fake, prefix, redis_server.url).start()
    keys = Keys(prefix)
    # The consumers read Redis all the time, so they always see the outage; the scheduler and
    # the heartbeat see it only if one of their turns falls inside it.
    always = {"consumer:" + keys.queue, "consumer:" + keys.outcomes}
    try:
        bot.wait_readyz(200)
        redis_server.restart(down_for=8)
        deadline = time.monotonic() + 30
        while not always <= {
            e.get("component") for e in _log_events(bot) if e["event"] == "redis_restored"
        }:
            assert time.monotonic() < deadline, bot.logs()
            time.sleep(0.05)
        bot.wait_readyz(200)
    finally:
        assert bot.stop() == 0, bot.logs()
    events = _log_events(bot)
    lost = sorted(e["component"] for e in events if e["event"] == "redis_lost")
    restored = sorted(e["component"] for e in events if e["event"] == "redis_restored")
    assert lost == restored  # one warning and one info line per component that noticed
    assert len(set(lost)) == len(lost)
    assert always <= set(lost) <= always | {"scheduler", "heartbeat", "sealer"}
    assert {e["level"] for e in events if e["event"] == "redis_lost"} == {"warning"}
    assert {e["level"] for e in events if e["event"] == "redis_restored"} == {"info"}
    assert "Traceback" not in bot.logs()
    assert [e for e in events if e["level"] in ("error", "critical", "raw")] == []


def test_a_token_refused_at_run_time_stops_new_work_and_leaves_it_for_a_healthy_replica(
    fake: FakeSlack, prefix: str, client: HITLClient, redis_url: str
):
    bot = BotProcess(fake, prefix, redis_url).start()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    healthy = None
    try:
        bot.wait_readyz(200)
        good_token = fake.bot_token
        fake.bot_token = "xoxb-rotated"  # Slack now refuses the bot's token
        ticket = client.submit("Submitted after the revocation", "deploy", {}, timeout=120)
        body = bot.wait_readyz(503)
        assert body["slack_auth"] == "SLACK_BOT_TOKEN: invalid_auth"
        assert body["accepting"] is False
        beat = (
            Heartbeat.model_validate_json(r.get(keys.bot(f"bot-{prefix}")) or "{}")
            if _wait_beat(r, keys, prefix)
            else None
        )
        assert beat is not None
        assert (beat.accepting, beat.slack_auth) == (False, "invalid_auth")
        assert "SLACK_BOT_TOKEN" in (beat.reason or "")
        # Nothing is cancelled or dead-lettered for it: the request waits for a bot.
        assert client.get(ticket.request_id).status is Status.PENDING
        assert r.xlen(keys.dead_letters) == 0

        fake.bot_token = good_token
        healthy = BotProcess(fake, prefix, redis_url, consumer=f"healthy-{prefix}").start()
        posted(fake, ticket.request_id, timeout=20)
        assert [e["event"] for e in _log_events(bot)].count("slack_auth_failed") == 1
    finally:
        r.close()
        if healthy is not None:
            assert healthy.stop() == 0, healthy.logs()
        assert bot.stop() == 0, bot.logs()


def _wait_beat(r: redis.Redis, keys: Keys, prefix: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = r.get(keys.bot(f"bot-{prefix}"))
        if text and not json.loads(text)["accepting"]:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_a_refused_token_at_start_exits_2_naming_the_variable(
    fake: FakeSlack, prefix: str, redis_url: str, mode: str
):
    bot = BotProcess(fake, prefix, redis_url, mode=mode)
    variable = "SLACK_BOT_TOKEN" if mode == "http" else "SLACK_APP_TOKEN"
    bot.extra_env = {variable: "xoxb-revoked-123" if mode == "http" else "xapp-1-revoked"}
    bot.launch()
    assert bot.proc is not None
    assert bot.proc.wait(20) == 2, bot.logs()
    out = bot.logs()
    assert f"{variable} was refused by Slack (invalid_auth)" in out
    assert "revoked-123" not in out
    assert "xapp-1-revoked" not in out
    assert "Traceback" not in out
    assert "service_ready" not in out


def test_sigterm_stops_serve_while_slack_does_not_answer_auth_test(
    fake: FakeSlack, prefix: str, redis_url: str
):
    fake.fail("auth.test", status=200, delay=60)
    bot = BotProcess(fake, prefix, redis_url).launch()
    fake.wait_for_call("auth.test", timeout=20)
    assert bot.readyz()[0] == 503  # listening, not ready
    assert _stop_within(bot) == 0


def test_sigterm_stops_serve_when_the_socket_mode_connection_never_succeeds(
    fake: FakeSlack, prefix: str, redis_url: str
):
    fake.fail("apps.connections.open", status=500, times=1000)
    bot = BotProcess(fake, prefix, redis_url, mode="socket").launch()
    fake.wait_for_calls("apps.connections.open", 2, timeout=20)
    assert bot.readyz()[0] == 503
    assert _stop_within(bot) == 0


def test_sigterm_while_slack_holds_a_post_stops_within_the_grace_and_leaves_the_entry_queued(
    fake: FakeSlack, prefix: str, client: HITLClient, redis_url: str
):
    bot = BotProcess(fake, prefix, redis_url).start()
    fake.fail("chat.postMessage", status=429, retry_after=60, channel="C0SLOW")
    ticket = client.submit("Held by a long rate limit", "slow_task", {}, timeout=120)
    fake.wait_for_call("chat.postMessage", lambda c: c.status == 429)
    assert _stop_within(bot) == 0
    assert client.get(ticket.request_id).message is None
    successor = BotProcess(fake, prefix, redis_url).start()  # same name: resumes its own entry
    try:
        posted(fake, ticket.request_id, timeout=20)
    finally:
        assert successor.stop() == 0, successor.logs()


def test_a_second_sigint_stops_at_once(
    fake: FakeSlack, prefix: str, client: HITLClient, redis_url: str
):
    bot = BotProcess(fake, prefix, redis_url).start()
    fake.fail("chat.postMessage", status=429, retry_after=60, channel="C0SLOW")
    client.submit("Held by a long rate limit", "slow_task", {}, timeout=120)
    fake.wait_for_call("chat.postMessage", lambda c: c.status == 429)
    assert bot.proc is not None
    bot.proc.send_signal(signal.SIGINT)
    bot.wait_log("shutting_down")
    # The first SIGINT would wait out the grace and exit 0; the second exits at once.
    assert _stop_within(bot, signal.SIGINT) == 128 + signal.SIGINT


def test_socket_mode_serves_health_on_its_own_port(fake: FakeSlack, prefix: str, redis_url: str):
    bot = BotProcess(fake, prefix, redis_url, mode="socket", health_port=free_port()).start()
    try:
        body = bot.wait_readyz(200)
        assert (body["mode"], body["slack_auth"], body["redis"]) == ("socket", "ok", "ok")
        assert set(body["loops"]) == {
            f"consumer:{prefix}:queue",
            f"consumer:{prefix}:outcomes",
            "scheduler",
        }
        assert bot.health() == 200
    finally:
        assert bot.stop() == 0, bot.logs()


def test_the_bot_publishes_a_heartbeat_under_its_prefix_and_says_when_it_stops(
    fake: FakeSlack, prefix: str, redis_url: str
):
    bot = BotProcess(fake, prefix, redis_url).start()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    try:
        bot.wait_readyz(200)
        name = f"bot-{prefix}"
        assert r.zscore(keys.bots, name) is not None
        beat = Heartbeat.model_validate_json(r.get(keys.bot(name)) or "{}")
        assert (beat.name, beat.mode, beat.slack_auth, beat.accepting) == (name, "http", "ok", True)
        assert 0 < r.pttl(keys.bot(name)) <= 30_000
        assert bot.stop() == 0
        last = Heartbeat.model_validate_json(r.get(keys.bot(name)) or "{}")
        assert (last.ready, last.accepting, last.reason) == (False, False, "stopping")
    finally:
        r.close()
        bot.stop()


def test_sigterm_stops_serve_while_redis_is_down(
    fake: FakeSlack, prefix: str, redis_server: RedisServer
):
    bot = BotProcess(fake, prefix, redis_server.url).start()
    bot.wait_readyz(200)
    redis_server.kill()
    bot.wait_readyz(503)
    assert _stop_within(bot) == 0


def test_an_app_token_refused_at_run_time_fails_readiness(
    fake: FakeSlack, prefix: str, redis_url: str
):
    bot = BotProcess(fake, prefix, redis_url, mode="socket").start()
    try:
        bot.wait_readyz(200)
        fake.app_token = "xapp-rotated"
        fake.send_disconnect()  # Slack asks for a reconnect; the new token is refused
        body = bot.wait_readyz(503)
        assert (body["slack_auth"], body["accepting"]) == ("SLACK_APP_TOKEN: invalid_auth", False)
    finally:
        assert _stop_within(bot) == 0
    assert "Traceback" not in bot.logs()
    assert [line for line in bot.logs().splitlines() if "invalid_auth" in line] == [
        line for line in bot.logs().splitlines() if '"slack_auth_failed"' in line
    ]


def test_http_mode_can_serve_health_on_a_port_of_its_own(
    fake: FakeSlack, prefix: str, redis_url: str
):
    bot = BotProcess(fake, prefix, redis_url, health_port=free_port()).start()
    try:
        assert bot.wait_readyz(200)["mode"] == "http"
        events_port = BotProcess(fake, prefix, redis_url, port=bot.port)
        assert events_port.get("/readyz")[0] == 404  # the Slack port serves Slack only
    finally:
        assert bot.stop() == 0, bot.logs()
