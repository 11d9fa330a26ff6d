"""The service's fronts as a real process: malformed Slack bodies (HTTP and Socket Mode) decide
nothing and are kept; /metrics tells the queue's story in Prometheus' format."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_actions_body
from harness import FORM, SECRET, BotProcess, posted

from hitl_slack import HITLClient, Status
from hitl_slack.keys import Keys


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _post(
    url: str, body: bytes, *, signed: bool = True, content_type: str = FORM
) -> tuple[int, str]:
    ts = str(int(time.time()))
    headers = {"Content-Type": content_type}
    if signed:
        mac = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
        headers |= {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest()}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _nested_click(click: dict, depth: int = 1000) -> str:
    """A real approve click carrying a field nested ``depth`` levels deep."""
    text = json.dumps(click)
    return text[:-1] + ', "deep": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def test_signed_malformed_bodies_get_400_decide_nothing_and_are_kept(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        ticket = client.submit("Fuzzed", "deploy", {}, timeout=60)
        click = block_actions_body(posted(fake, ticket.request_id), "hitl.approve")
        payload = urllib.parse.quote(json.dumps(click))
        cases = {
            "payload is not valid JSON": b"payload=" + payload.encode()[:-3],
            "body is not UTF-8": b"payload=" + payload.encode() + b"\xff\xfe",
            "payload is nested deeper than 64 levels": b"payload="
            + urllib.parse.quote(_nested_click(click)).encode(),
            "body is a JSON list, not an object": b"[1, 2]",
            "body has a field of the wrong type": json.dumps(
                {**click, "authorizations": 5}
            ).encode(),
        }
        for problem, body in cases.items():
            ctype = FORM if body.startswith(b"payload=") else "application/json"
            status, text = _post(bot.url, body, content_type=ctype)
            assert (status, problem in text) == (400, True), (problem, status, text)
        assert _post(bot.url, cases["body is not UTF-8"], signed=False)[0] == 401
        assert _post(bot.url, b"payload=%7B", signed=False)[0] == 401

        assert client.get(ticket.request_id).status is Status.PENDING
        dead = [f for _, f in r.xrange(Keys(prefix).dead_letters)]
        assert [d["stream"] for d in dead] == ["/slack/events"] * len(cases)
        assert [d["error"].startswith(problem) for d, problem in zip(dead, cases, strict=True)] == [
            True
        ] * len(cases)
        status, _ = bot.send(click)  # the same click, well formed, still works
        assert status == 200
        assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
        assert "Traceback" not in bot.logs()
    finally:
        r.close()
        assert bot.stop() == 0, bot.logs()


def test_malformed_socket_mode_envelopes_are_acked_and_dead_lettered(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    bot = BotProcess(fake, prefix, REDIS_URL, mode="socket").start()
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        assert fake.socket_connected(timeout=15)
        ticket = client.submit("Fuzzed over Socket Mode", "deploy", {}, timeout=60)
        click = block_actions_body(posted(fake, ticket.request_id), "hitl.approve")
        deep = json.loads(_nested_click(click, depth=900))  # what json.dumps can still write
        for payload in ([1, 2], deep, {**click, "user": 5}, {**click, "authorizations": 5}):
            ack = fake.send_envelope(
                "interactive",
                payload,
                timeout=10,  # type: ignore[arg-type]
                accepts_response_payload=False,
            )
            assert "envelope_id" in ack
        assert client.get(ticket.request_id).status is Status.PENDING
        fake.wait_until(lambda: r.xlen(Keys(prefix).dead_letters) == 4)
        dead = [f for _, f in r.xrange(Keys(prefix).dead_letters)]
        assert sorted(d["error"] for d in dead) == [  # handled concurrently: any order
            "payload has a field of the wrong type (TypeError: object of type 'int' has no len())",
            "payload is a JSON list, not an object",
            "payload is nested deeper than 64 levels",
            "user is neither an object nor an id",
        ]
        assert {d["stream"] for d in dead} == {"socket_mode"}
        fake.send_envelope("interactive", click)
        assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
    finally:
        r.close()
        assert bot.stop() == 0, bot.logs()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            key, value = line.rsplit(" ", 1)
            if key == name:
                return float(value)
    raise KeyError(f"{name} not in:\n{text}")


def test_metrics_in_prometheus_format(fake: FakeSlack, prefix: str, client: HITLClient):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    try:
        fake.fail("chat.postMessage", status=429, retry_after=0)
        first = client.submit("Counted", "deploy", {}, timeout=60)
        message = posted(fake, first.request_id)
        fake.fail("chat.postMessage", status=200, error="channel_not_found", channel="C0DOOMED")
        client.submit("Doomed", "doomed_task", {}, timeout=60)
        fake.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "C0DOOMED")
        assert bot.send(block_actions_body(message, "hitl.approve"))[0] == 200
        assert client.wait(first.request_id, timeout=10).status is Status.APPROVED

        status, text = bot.get("/metrics")
        assert status == 200
        assert "# TYPE hitl_requests_total counter" in text
        fake.wait_until(
            lambda: _metric(bot.get("/metrics")[1], 'hitl_requests_total{status="approved"}') == 1
        )
        text = bot.get("/metrics")[1]
        assert _metric(text, 'hitl_requests_total{status="posted"}') >= 1
        assert _metric(text, "hitl_decision_seconds_count") == 1
        assert _metric(text, 'hitl_slack_rate_limited_total{method="chat.postMessage"}') == 1
        assert (
            _metric(
                text, 'hitl_slack_errors_total{error="channel_not_found",method="chat.postMessage"}'
            )
            >= 1
        )
        for gauge in (
            "hitl_queue_lag",
            "hitl_queue_pending",
            "hitl_queue_oldest_age_seconds",
            "hitl_dead_letters",
            "hitl_waiting_requests",
        ):
            assert _metric(text, gauge) >= 0
        assert _metric(text, "hitl_ready") == 1
    finally:
        assert bot.stop() == 0, bot.logs()


def test_waiting_agents_are_counted(fake: FakeSlack, prefix: str):
    import threading

    bot = BotProcess(fake, prefix, REDIS_URL).start()
    agent = HITLClient(REDIS_URL, prefix)
    try:
        ticket = agent.submit("Waited on", "deploy", {}, timeout=60)
        waiter = threading.Thread(
            target=agent.wait, args=(ticket.request_id,), kwargs={"timeout": 30}, daemon=True
        )
        waiter.start()
        fake.wait_until(
            lambda: _metric(bot.get("/metrics")[1], "hitl_waiting_requests") == 1, timeout=10
        )
        agent.cancel(ticket.request_id, reason="done")
        waiter.join(10)
    finally:
        agent.close()
        assert bot.stop() == 0, bot.logs()
