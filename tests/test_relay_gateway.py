"""The Slack edge the relay posts through: a post is never repeated blindly, idempotent calls
are, tagged messages are found again in a channel's history, one session serves every call.

The real ``SlackGateway`` over the real ``AsyncWebClient``, against the fake Slack over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fakeslack import FakeSlack

from hitl_slack.errors import SlackError
from hitl_slack.keys import Keys
from hitl_slack.service.health import Health
from hitl_slack.slack.blocks import Message
from hitl_slack.slack.gateway import SlackGateway, SlackOutcomeUnknown, Tagged, web_client

TOKEN = "xoxb-test-token"
HELLO = Message("hello", [])


async def _no_wait(_: float) -> None:
    return None


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
async def slack(fake: FakeSlack) -> AsyncIterator[SlackGateway]:
    gateway = SlackGateway(web_client(TOKEN, fake.api_url, 1), backoff=0.01, sleep=_no_wait)
    yield gateway
    await gateway.aclose()


def _tag(request_id: str) -> dict[str, object]:
    return {"event_type": "hitl_request", "event_payload": {"request_id": request_id}}


async def test_a_post_without_an_answer_is_not_sent_again(fake: FakeSlack, slack: SlackGateway):
    fake.fail("chat.postMessage", status=200, delay=1.5, channel="C0APPROVALS")
    with pytest.raises(SlackOutcomeUnknown) as caught:
        await slack.post("C0APPROVALS", HELLO)
    assert caught.value.error == "no answer within 1 s"
    await fake.async_wait_until(lambda: len(fake.messages("C0APPROVALS")) == 1)
    assert len(fake.calls("chat.postMessage")) == 1


async def test_a_post_answered_with_a_server_error_is_not_sent_again(
    fake: FakeSlack, slack: SlackGateway
):
    fake.fail("chat.postMessage", status=503, retry_after=None)
    with pytest.raises(SlackOutcomeUnknown):
        await slack.post("C0APPROVALS", HELLO)
    assert len(fake.calls("chat.postMessage")) == 1


async def test_a_patient_post_waits_for_a_slow_answer(fake: FakeSlack, slack: SlackGateway):
    fake.fail("chat.postMessage", status=200, delay=1.5, channel="C0APPROVALS")
    channel, ts = await slack.post("C0APPROVALS", HELLO, patient=True)
    assert fake.message(channel, ts).text == "hello"


async def test_idempotent_calls_are_still_retried(fake: FakeSlack, slack: SlackGateway):
    channel, ts = await slack.post("C0APPROVALS", HELLO)
    fake.fail("chat.update", status=503, retry_after=None, times=2)
    await slack.update(channel, ts, Message("edited", []))
    assert fake.message(channel, ts).text == "edited"
    assert [c.status for c in fake.calls("chat.update")] == [503, 503, 200]


async def test_a_refused_post_is_final_with_slacks_error(fake: FakeSlack, slack: SlackGateway):
    fake.channels_not_found.add("C0GONE")
    with pytest.raises(SlackError) as caught:
        await slack.post("C0GONE", HELLO)
    assert not isinstance(caught.value, SlackOutcomeUnknown)
    assert caught.value.error == "channel_not_found"


async def test_tagged_messages_are_found_past_the_first_page(fake: FakeSlack, slack: SlackGateway):
    _, first = await slack.post("C0APPROVALS", HELLO, metadata=_tag("req_1"))
    for i in range(250):  # a busy channel: the tagged message is on the second page
        await slack.post("C0APPROVALS", Message(f"chatter {i}", []))
    await slack.post("C0OTHER", HELLO, metadata=_tag("req_1"))
    found = await slack.find_tagged("C0APPROVALS", "hitl_request", oldest=0)
    assert found == [Tagged("C0APPROVALS", first, {"request_id": "req_1"})]
    assert len(fake.calls("conversations.history")) == 2


async def test_messages_of_other_apps_and_other_event_types_are_ignored(
    fake: FakeSlack, slack: SlackGateway
):
    _, ours = await slack.post("C0APPROVALS", HELLO, metadata=_tag("req_2"))
    await slack.post(
        "C0APPROVALS",
        HELLO,
        metadata={"event_type": "other", "event_payload": {"request_id": "req_2"}},
    )
    fake.bot_id = "B0IMPOSTOR"  # another app writing the same metadata
    await slack.post("C0APPROVALS", HELLO, metadata=_tag("req_2"))
    fake.bot_id = "B0BOT"
    found = await slack.find_tagged("C0APPROVALS", "hitl_request", oldest=0)
    assert [t.ts for t in found] == [ours]


async def test_history_errors_name_the_missing_scope(fake: FakeSlack, slack: SlackGateway):
    fake.fail("conversations.history", status=200, error="missing_scope")
    with pytest.raises(SlackError) as caught:
        await slack.find_tagged("C0APPROVALS", "hitl_request", oldest=0)
    assert caught.value.error == "missing_scope"


async def test_every_call_goes_through_one_keep_alive_session(fake: FakeSlack, slack: SlackGateway):
    for i in range(10):
        channel, ts = await slack.post("C0APPROVALS", Message(f"m{i}", []))
        await slack.update(channel, ts, Message(f"m{i}!", []))
    assert len({c.peer for c in fake.calls()}) == 1
    await slack.aclose()
    assert slack.client.session is not None
    assert slack.client.session.closed


async def test_slack_slower_than_the_timeout_is_reported_as_unreachable(fake: FakeSlack):
    health = Health(name="bot-1", keys=Keys("unused"), mode="http", version="test")
    gateway = SlackGateway(
        web_client(TOKEN, fake.api_url, 1, watcher=health), backoff=0.01, sleep=_no_wait
    )
    fake.fail("chat.postMessage", status=200, delay=1.5, channel="C0APPROVALS")
    try:
        with pytest.raises(SlackOutcomeUnknown):
            await gateway.post("C0APPROVALS", HELLO)
    finally:
        await gateway.aclose()
    assert health.slack_outage.down  # /readyz: "slack_reachable": false, one warning logged
    assert [e.split(" ", 1)[1] for e in health.last_errors] == [
        "slack chat.postMessage: TimeoutError"
    ]
    assert (
        'hitl_slack_errors_total{error="unreachable",method="chat.postMessage"} 1.0'
        in health.metrics.render().decode()
    )


async def test_a_thread_reply_is_text_only_under_its_parent(fake: FakeSlack, slack: SlackGateway):
    _, parent = await slack.post("C0APPROVALS", HELLO)
    channel, ts = await slack.post("C0APPROVALS", Message("⏰ soon", []), thread_ts=parent)
    reply = fake.message(channel, ts)
    assert (reply.thread_ts, reply.text, reply.blocks) == (parent, "⏰ soon", None)
    assert "blocks" not in fake.calls("chat.postMessage")[-1].params


async def test_a_dm_channel_is_opened_once_per_user(fake: FakeSlack, slack: SlackGateway):
    assert [await slack.open_dm("U0A"), await slack.open_dm("U0A")] == ["D0A", "D0A"]
    assert len(fake.calls("conversations.open")) == 1


async def test_an_email_is_looked_up_as_slack_does_it(fake: FakeSlack, slack: SlackGateway):
    fake.users["U0EVE"] = {"profile": {"email": "eve@example.com"}}
    assert await slack.lookup_email("EVE@example.com") == "U0EVE"
    with pytest.raises(SlackError) as caught:
        await slack.lookup_email("nobody@example.com")
    assert caught.value.error == "users_not_found"
