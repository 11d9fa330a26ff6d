"""The relay in-process (real Redis, fake Slack over HTTP): a message whose post answer was
lost is adopted, by one replica or by two at once, and never deleted by the one that lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakeslack import FakeSlack

from hitl_slack import AsyncHITLClient, Status
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.routing import load_routes
from hitl_slack.service.relay import Relay
from hitl_slack.slack.blocks import approval_message
from hitl_slack.slack.gateway import SlackGateway, web_client

TOKEN = "xoxb-test-token"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
async def relays(fake: FakeSlack, astore: AsyncStore) -> AsyncIterator[list[Relay]]:
    routes = load_routes(None, default_channel="C0APPROVALS")
    gateways = [SlackGateway(web_client(TOKEN, fake.api_url, 2)) for _ in range(2)]
    yield [Relay(astore, g, routes, "C0APPROVALS") for g in gateways]
    for g in gateways:
        await g.aclose()


async def _lost_post(
    fake: FakeSlack, astore: AsyncStore, slack: SlackGateway, request_id: str
) -> str:
    """An earlier attempt: marked in Redis, landed in Slack, its answer never recorded."""
    state, _ = await astore.read_posting(request_id, datetime.now(UTC) - timedelta(seconds=1))
    _, ts = await slack.post(
        "C0APPROVALS",
        approval_message(state),
        metadata={"event_type": "hitl_request", "event_payload": {"request_id": request_id}},
    )
    return ts


async def test_a_retry_adopts_the_lost_message_instead_of_posting(
    fake: FakeSlack, astore: AsyncStore, aclient: AsyncHITLClient, relays: list[Relay]
):
    ticket = await aclient.submit("Lost answer", "deploy", {"v": 1}, timeout=60)
    ts = await _lost_post(fake, astore, relays[0].slack, ticket.request_id)
    await relays[0].post_request({"id": ticket.request_id})
    ref = (await aclient.get(ticket.request_id)).message
    assert ref is not None
    assert (ref.channel, ref.ts) == ("C0APPROVALS", ts)
    assert len(fake.calls("chat.postMessage")) == 1  # the lost one only


async def test_two_replicas_adopting_the_same_message_keep_it(
    fake: FakeSlack, astore: AsyncStore, aclient: AsyncHITLClient, relays: list[Relay]
):
    ticket = await aclient.submit("Taken over", "deploy", {"v": 2}, timeout=60)
    ts = await _lost_post(fake, astore, relays[0].slack, ticket.request_id)
    fields = {"id": ticket.request_id}
    # Both replicas are looking for it at once (a takeover while the first one was slow).
    fake.fail("conversations.history", status=200, delay=0.3, times=2)
    await asyncio.gather(*(r.post_request(fields) for r in relays))
    assert [m.ts for m in fake.messages()] == [ts]
    assert len(fake.calls("chat.postMessage")) == 1  # the lost one only
    assert fake.calls("chat.delete") == []
    assert json.dumps(ticket.request_id) in json.dumps(fake.messages()[0].metadata)


async def test_a_request_given_up_on_updates_the_copy_an_unanswered_post_left(
    fake: FakeSlack, astore: AsyncStore, aclient: AsyncHITLClient, relays: list[Relay]
):
    ticket = await aclient.submit("Never confirmed", "deploy", {"v": 3}, timeout=60)
    ts = await _lost_post(fake, astore, relays[0].slack, ticket.request_id)
    fields = {"id": ticket.request_id, "error": "gave up after 5 tries: chat.postMessage: x"}
    await relays[0].gave_up(fields)
    await relays[0].show_outcome({"id": ticket.request_id})
    message = fake.message("C0APPROVALS", ts)
    assert not message.live
    assert message.text is not None
    assert message.text.startswith("Cancelled: ")
    assert (await aclient.get(ticket.request_id)).status is Status.CANCELLED
