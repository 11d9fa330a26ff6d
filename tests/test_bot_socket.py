"""The whole loop in Socket Mode, over a real local WebSocket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_actions_body, slash_command_payload
from harness import BotProcess, posted, wait_updated

from hitl_slack import HITLClient, Status


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def test_socket_mode_round_trip(fake: FakeSlack, prefix: str, client: HITLClient):
    bot = BotProcess(fake, prefix, REDIS_URL, mode="socket").start()
    try:
        assert fake.socket_connected(timeout=15)
        ticket = client.submit("Socket approval", "deploy", {"v": 2}, timeout=60)
        msg = posted(fake, ticket.request_id)
        ack = fake.send_envelope(
            "interactive", block_actions_body(msg, "hitl.approve", user_id="U0SOCK")
        )
        assert set(ack) >= {"envelope_id"}
        decision = client.wait(ticket.request_id, timeout=10)
        assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0SOCK",))
        wait_updated(fake, msg, "Approved")

        ack = fake.send_envelope("slash_commands", slash_command_payload("help"))
        assert "/hitl pending" in ack["payload"]["text"]
    finally:
        assert bot.stop() == 0, bot.logs()
