"""A person deciding in the fake Slack, for the framework adapters' tests: find the bot's
message about a tool call, then approve it, reject it with a reason, or edit and approve it —
each through the signed requests Slack would send the real bot (the modal included)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fakeslack import (
    FakeSlack,
    PostedMessage,
    block_actions_body,
    block_text,
    view_submission_body,
)
from harness import ROUTES, BotProcess, posted
from policybot import fixtures

__all__ = [
    "approve",
    "bot_fixtures",
    "edit",
    "marker",
    "message_with",
    "messages_with",
    "reject",
    "request_id",
]


def marker(name: str = "ACME") -> str:
    """A customer name no other test uses: the message about this test's call shows it."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def request_id(message: PostedMessage) -> str:
    """The request a bot message is about (its Slack message metadata)."""
    assert message.metadata is not None
    rid: str = message.metadata["event_payload"]["request_id"]
    return rid


def messages_with(fake: FakeSlack, text: str) -> list[PostedMessage]:
    """The bot's messages whose blocks show ``text``."""
    return [m for m in fake.messages() if text in block_text(m.blocks) and m.metadata]


def message_with(fake: FakeSlack, text: str, timeout: float = 15.0) -> PostedMessage:
    """The bot's message showing ``text``, once the bot recorded it (waits for both)."""
    fake.wait_until(lambda: bool(messages_with(fake, text)), timeout=timeout)
    return posted(fake, request_id(messages_with(fake, text)[0]), timeout)


def _opened_view(fake: FakeSlack, rid: str) -> dict[str, Any]:
    call = fake.wait_for_call("views.open", lambda c: rid in json.dumps(c.params), timeout=10)
    view: dict[str, Any] = call.response["view"]
    return view


def approve(bot: BotProcess, message: PostedMessage, user: str = "U0ALICE") -> None:
    """Click Approve."""
    status, _ = bot.send(block_actions_body(message, "hitl.approve", user_id=user))
    assert status == 200


def reject(
    bot: BotProcess, fake: FakeSlack, message: PostedMessage, reason: str, user: str = "U0ALICE"
) -> None:
    """Click Reject and submit the reason modal."""
    bot.send(block_actions_body(message, "hitl.reject", user_id=user))
    view = _opened_view(fake, request_id(message))
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
    assert bot.send(view_submission_body(view, values, user_id=user)) == (200, "")


def edit(
    bot: BotProcess,
    fake: FakeSlack,
    message: PostedMessage,
    changes: dict[str, str],
    user: str = "U0ALICE",
) -> None:
    """Click Edit, change the fields named in ``changes`` (label -> text typed), submit."""
    bot.send(block_actions_body(message, "hitl.edit", user_id=user))
    view = _opened_view(fake, request_id(message))
    values: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            text = changes.get(block["label"]["text"], block["element"].get("initial_value"))
            values[block["block_id"]] = {"value": {"type": "plain_text_input", "value": text}}
    assert bot.send(view_submission_body(view, values, user_id=user)) == (200, "")


def bot_fixtures(name: str) -> tuple[Any, Any, Any]:
    """Module-scoped ``fake``, ``module_prefix`` and ``bot`` fixtures: one fake Slack and one
    real bot (the harness's routes) for every test of a module (each test tells its calls
    apart by a marker)."""
    fake, module_prefix, bot, _ = fixtures(name, ROUTES, groups={"S0FIN": ["U0CAROL"]})
    return fake, module_prefix, bot
