"""A real bot with its own routes file, and people acting on its messages (the policy tests,
and :func:`approver.bot_fixtures` for the framework adapters'): module-scoped fixtures, and the
acts — a click, a rejection or an edit through its modal — each a signed request built from
the message the bot posted, as Slack sends it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, PostedMessage, block_actions_body, view_submission_body
from harness import BotProcess, ephemeral_texts

from hitl_slack import HITLClient
from hitl_slack.audit.trail import read_entries
from hitl_slack.keys import Keys

__all__ = ["Ear", "click", "counted", "edit", "events", "fixtures", "opened", "reject"]


def fixtures(
    name: str,
    routes: str,
    *,
    groups: dict[str, list[str]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
) -> tuple[Any, Any, Any, Any]:
    """Module-scoped ``fake``, ``module_prefix`` and ``bot`` (serving ``routes``), and a
    per-test ``agent``: assign them to those names in the test module."""

    @pytest.fixture(scope="module")
    def fake() -> Iterator[FakeSlack]:
        with FakeSlack() as f:
            f.usergroups.update(groups or {})
            f.users.update(users or {})
            yield f

    @pytest.fixture(scope="module")
    def module_prefix() -> Iterator[str]:
        prefix = f"test-{name}-{uuid.uuid4().hex[:10]}"
        yield prefix
        r = redis.Redis.from_url(REDIS_URL)
        for key in r.scan_iter(match=f"{prefix}:*", count=1000):
            r.delete(key)
        r.close()

    @pytest.fixture(scope="module")
    def bot(fake: FakeSlack, module_prefix: str) -> Iterator[BotProcess]:
        b = BotProcess(fake, module_prefix, REDIS_URL, routes=routes).start()
        yield b
        assert b.stop() == 0, b.logs()

    @pytest.fixture
    def agent(bot: BotProcess) -> Iterator[HITLClient]:
        c = HITLClient(bot.redis_url, bot.prefix)
        yield c
        c.close()

    return fake, module_prefix, bot, agent


def click(bot: BotProcess, message: PostedMessage, user: str, action: str = "hitl.approve") -> None:
    """``user`` clicks a button of ``message`` (the bot answers 200 at once: it acks first)."""
    status, _ = bot.send(block_actions_body(message, action, user_id=user))
    assert status == 200


class Ear:
    """What one person is told from now on (the bot's ephemeral answers)."""

    def __init__(self, fake: FakeSlack, user: str) -> None:
        self.fake, self.user = fake, user
        self.before = len(ephemeral_texts(fake, user))

    def told(self, text: str, timeout: float = 10) -> str:
        """The first thing said since, containing ``text`` (waits for it)."""

        def said() -> list[str]:
            return [t for t in ephemeral_texts(self.fake, self.user)[self.before :] if text in t]

        self.fake.wait_until(lambda: bool(said()), timeout=timeout)
        return said()[0]


def opened(fake: FakeSlack, rid: str, before: int) -> dict[str, Any]:
    """The newest modal the bot opened for ``rid`` after ``before`` views.open calls (waits)."""

    def mine() -> list[dict[str, Any]]:
        calls = fake.calls("views.open")[before:]
        return [c.response["view"] for c in calls if rid in json.dumps(c.params)]

    fake.wait_until(lambda: bool(mine()), timeout=10)
    return mine()[-1]


def _modal(bot: BotProcess, fake: FakeSlack, message: PostedMessage, user: str, button: str):
    assert message.metadata is not None
    rid = message.metadata["event_payload"]["request_id"]
    before = len(fake.calls("views.open"))
    click(bot, message, user, button)
    return opened(fake, rid, before)


def reject(bot: BotProcess, fake: FakeSlack, message: PostedMessage, user: str, reason: str):
    """``user`` clicks Reject and submits the modal with ``reason``."""
    view = _modal(bot, fake, message, user, "hitl.reject")
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
    assert bot.send(view_submission_body(view, values, user_id=user))[0] == 200


def edit(
    bot: BotProcess,
    fake: FakeSlack,
    message: PostedMessage,
    user: str,
    changes: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> None:
    """``user`` clicks Edit, changes the fields labelled in ``changes`` and submits (with
    ``extra`` input values, e.g. a typed confirmation)."""
    view = _modal(bot, fake, message, user, "hitl.edit")
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] == "input" and block["block_id"] not in (extra or {}):
            text = changes.get(block["label"]["text"], block["element"].get("initial_value"))
            values[block["block_id"]] = {"value": {"type": "plain_text_input", "value": text}}
    values |= extra or {}
    assert bot.send(view_submission_body(view, values, user_id=user))[0] == 200


def events(bot: BotProcess, rid: str) -> list[tuple[str, str]]:
    """The request's audit trail so far: (event, actor), in order."""
    r = redis.Redis.from_url(bot.redis_url, decode_responses=True)
    try:
        found = [e.event() for e in read_entries(r, Keys(bot.prefix))]
    finally:
        r.close()
    return [(e.event, e.actor) for e in found if e.request_id == rid]


def counted(bot: BotProcess, event: str) -> float:
    """The bot's ``hitl_policy_events_total`` for ``event`` (0 before the first)."""
    status, text = bot.get("/metrics")
    assert status == 200
    name = f'hitl_policy_events_total{{event="{event}"}}'
    found = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(found[0]) if found else 0.0
