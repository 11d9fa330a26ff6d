"""The running bot seals the audit trail: what agents and clicks wrote verifies as sealed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_actions_body
from harness import BotProcess, posted
from test_audit import _cli

from hitl_slack import HITLClient, Status
from hitl_slack.keys import Keys


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _sealed_through(raw: redis.Redis, keys: Keys, entry_id: str, timeout: float = 10.0) -> None:
    # Sealing is a background round (every second): nothing in Slack shows it, so look.
    end = time.monotonic() + timeout
    while raw.hget(keys.audit_sealed, "entry") != entry_id:
        if time.monotonic() > end:
            raise TimeoutError(f"the bot did not seal up to {entry_id}")
        time.sleep(0.05)


def test_serve_seals_the_trail_and_verify_finds_it_intact(
    fake: FakeSlack, prefix: str, client: HITLClient, raw: redis.Redis, keys: Keys, redis_url: str
):
    bot = BotProcess(fake, prefix, REDIS_URL).start()
    try:
        ticket = client.submit("Deploy", "deploy", {"v": 2}, timeout=60)
        message = posted(fake, ticket.request_id)
        status, _ = bot.send(block_actions_body(message, "hitl.approve"))
        assert status == 200
        assert client.wait(ticket.request_id, timeout=10).status is Status.APPROVED
        _sealed_through(raw, keys, raw.xrevrange(keys.audit, count=1)[0][0])
    finally:
        assert bot.stop() == 0, bot.logs()
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "ok: 4 entries sealed, chain intact"
