"""At most one live message per request: Slack slower than the bot's timeout, a bot killed
mid-post, and the history lookup that finds a message whose answer was lost.

The bot is the real ``hitl-slack serve`` (``HITL_SLACK_TIMEOUT=1`` in the harness); Slack is the
fake, holding ``chat.postMessage`` answers with its ``delay`` fault. A held post still lands in
the channel when the fake answers, as a real one would after the bot stopped waiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from conftest import REDIS_URL
from fakeslack import FakeSlack, PostedMessage, block_actions_body
from harness import BotProcess

from hitl_slack import HITLClient, Status


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def bot(fake: FakeSlack, prefix: str) -> Iterator[BotProcess]:
    b = BotProcess(fake, prefix, REDIS_URL).start()
    yield b
    if b.proc is not None and b.proc.poll() is None:
        assert b.stop() == 0, b.logs()


def copies(fake: FakeSlack, request_id: str) -> list[PostedMessage]:
    """Every message in Slack that shows this request (the deleted ones are gone)."""
    return [m for m in fake.messages() if request_id in json.dumps(m.blocks)]


def posts(fake: FakeSlack, request_id: str) -> int:
    """chat.postMessage calls for this request that reached Slack (timed out or not)."""
    return len([c for c in fake.calls("chat.postMessage") if request_id in json.dumps(c.params)])


def recorded(fake: FakeSlack, client: HITLClient, request_id: str) -> PostedMessage:
    """The message the bot recorded for the request (waits for the record).

    The record is a Redis write that nothing announces, so this polls it.
    """
    deadline = time.monotonic() + 20
    while (ref := client.get(request_id).message) is None:
        assert time.monotonic() < deadline, f"{request_id} was never recorded as posted"
        time.sleep(0.02)
    return fake.message(ref.channel, ref.ts)


def none_live(fake: FakeSlack, request_id: str) -> bool:
    return not any(m.live for m in copies(fake, request_id))


def test_slack_slower_than_the_timeout_posts_at_most_twice_and_leaves_one_live_message(
    bot: BotProcess, fake: FakeSlack, client: HITLClient
):
    # Every post takes 2.5 s; the bot waits 1 s per call.
    fake.fail("chat.postMessage", status=200, delay=2.5, times=10, channel="C0APPROVALS")
    ticket = client.submit("Slow Slack", "deploy", {"v": 1}, timeout=60)
    message = recorded(fake, client, ticket.request_id)
    fake.wait_until(lambda: len(copies(fake, ticket.request_id)) == 1, timeout=10)
    assert posts(fake, ticket.request_id) <= 2
    assert message.metadata == {
        "event_type": "hitl_request",
        "event_payload": {"request_id": ticket.request_id, "status": "pending"},
    }

    status, _ = bot.send(block_actions_body(message, "hitl.approve"))
    assert status == 200
    assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
    fake.wait_until(lambda: none_live(fake, ticket.request_id), timeout=10)
    assert posts(fake, ticket.request_id) <= 2


def test_a_copy_that_lands_after_the_retry_is_decided_with_the_request(
    bot: BotProcess, fake: FakeSlack, client: HITLClient
):
    # The first post lands 6 s late, after the retry was posted and recorded.
    fake.fail("chat.postMessage", status=200, delay=6, times=1, channel="C0APPROVALS")
    ticket = client.submit("Late copy", "deploy", {"v": 2}, timeout=60)
    message = recorded(fake, client, ticket.request_id)
    fake.wait_until(lambda: len(copies(fake, ticket.request_id)) == 2, timeout=15)

    client.cancel(ticket.request_id, reason="changed my mind")
    fake.wait_until(lambda: none_live(fake, ticket.request_id), timeout=10)
    assert posts(fake, ticket.request_id) == 2
    assert fake.message(message.channel, message.ts).updates >= 1


def test_a_bot_killed_mid_post_adopts_the_message_on_restart(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    fake.fail("chat.postMessage", status=200, delay=1.0, times=1, channel="C0APPROVALS")
    ticket = client.submit("Killed mid-post", "deploy", {"v": 3}, timeout=60)
    fake.wait_for_call("chat.postMessage", lambda c: ticket.request_id in json.dumps(c.params))
    bot.kill()
    fake.wait_until(lambda: len(copies(fake, ticket.request_id)) == 1, timeout=5)

    restarted = BotProcess(fake, prefix, REDIS_URL, port=bot.port).start()
    try:
        message = recorded(fake, client, ticket.request_id)
        assert posts(fake, ticket.request_id) == 1  # adopted, not posted again
        status, _ = restarted.send(block_actions_body(message, "hitl.approve"))
        assert status == 200
        assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
        fake.wait_until(lambda: none_live(fake, ticket.request_id), timeout=10)
    finally:
        assert restarted.stop() == 0, restarted.logs()


def test_a_bot_killed_before_its_post_landed_leaves_no_live_duplicate(
    fake: FakeSlack, prefix: str, client: HITLClient
):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    fake.fail("chat.postMessage", status=200, delay=8, times=1, channel="C0APPROVALS")
    ticket = client.submit("Killed, post lands later", "deploy", {"v": 4}, timeout=60)
    fake.wait_for_call("chat.postMessage", lambda c: ticket.request_id in json.dumps(c.params))
    bot.kill()

    restarted = BotProcess(fake, prefix, REDIS_URL, port=bot.port).start()
    try:
        message = recorded(fake, client, ticket.request_id)
        fake.wait_until(lambda: len(copies(fake, ticket.request_id)) == 2, timeout=15)
        status, _ = restarted.send(block_actions_body(message, "hitl.approve"))
        assert status == 200
        assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
        fake.wait_until(lambda: none_live(fake, ticket.request_id), timeout=10)
        assert posts(fake, ticket.request_id) == 2
    finally:
        assert restarted.stop() == 0, restarted.logs()


def test_without_history_access_the_request_is_still_posted_and_decided(
    bot: BotProcess, fake: FakeSlack, client: HITLClient
):
    fake.fail("conversations.history", status=200, error="missing_scope", times=10)
    fake.fail("chat.postMessage", status=200, delay=1.5, times=1, channel="C0APPROVALS")
    ticket = client.submit("No history scope", "deploy", {"v": 5}, timeout=60)
    message = recorded(fake, client, ticket.request_id)
    status, _ = bot.send(block_actions_body(message, "hitl.approve"))
    assert status == 200
    assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
    assert '"copy_lookup_failed"' in bot.logs()
    assert "missing_scope" in bot.logs()


def test_slack_calls_reuse_their_connections(bot: BotProcess, fake: FakeSlack, client: HITLClient):
    tickets = [client.submit(f"Reuse {i}", "deploy", {"i": i}, timeout=60) for i in range(20)]
    for ticket in tickets:
        recorded(fake, client, ticket.request_id)
    calls = [
        c
        for c in fake.calls("chat.postMessage")
        if any(t.request_id in json.dumps(c.params) for t in tickets)
    ]
    assert len(calls) == 20
    assert len({c.peer for c in calls}) <= 4  # the channel's lane: at most 4 posts at once
