"""Questions through the whole loop: agent ``ask`` -> Redis -> the bot -> (fake) Slack -> a
signed click or modal submission -> the agent's ``Answer``.

Every shape: option buttons, a menu of many options, several options (checkboxes and a
multi-select), free text, a form with each field type, a bad submission shown inline, a schema
outside the subset refused at ``ask()``; declining; routing by ``kind``; the audit trail and
the data set. The bot is the real ``hitl-slack serve``; clicks are built from what it posted.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, PostedMessage, block_actions_body, block_text, view_submission_body
from harness import BotProcess, ephemeral_texts, posted, wait_updated
from pydantic import BaseModel, Field

from hitl_slack import AsyncHITLClient, HITLClient, InvalidRequest
from hitl_slack.audit import trail
from hitl_slack.keys import Keys

ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "every-action"         # action globs never match a question
match = { action = "*" }
channel = "C0ACTIONS"

[[routes]]
name = "questions"
match = { kind = "question" }
channel = "C0QUESTIONS"
approvers = ["U0ALICE", "S0FIN"]
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.usergroups["S0FIN"] = ["U0BOB"]
        yield f


@pytest.fixture(scope="module")
def bot(fake: FakeSlack) -> Iterator[BotProcess]:
    prefix = f"test-q-{uuid.uuid4().hex[:10]}"
    routes = Path(tempfile.mkstemp(suffix=".toml")[1])
    routes.write_text(ROUTES)
    b = BotProcess(fake, prefix, REDIS_URL, extra_env={"HITL_ROUTES_FILE": str(routes)}).start()
    yield b
    assert b.stop() == 0, b.logs()
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(match=f"{prefix}:*", count=1000):
        r.delete(key)
    r.close()


@pytest.fixture
def agent(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


def _modal(fake: FakeSlack, bot: BotProcess, message: PostedMessage, user: str) -> dict[str, Any]:
    before = len(fake.opened_views())
    assert bot.send(block_actions_body(message, "hitl.answer", user_id=user))[0] == 200
    fake.wait_until(lambda: len(fake.opened_views()) > before)
    return fake.opened_views()[-1]


def _submit(bot: BotProcess, view: dict[str, Any], values: dict[str, Any], user: str) -> Any:
    status, body = bot.send(view_submission_body(view, values, user_id=user))
    assert status == 200
    return json.loads(body) if body else None


def _inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_up_to_five_options_are_buttons_that_answer_at_once(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit_question(
        "Which region should I deploy to?", options=["eu-west-1", "us-east-1"], timeout=60
    )
    message = posted(fake, ticket.request_id)
    assert message.channel == "C0QUESTIONS"  # by kind, not by the "*" action route
    buttons = [e for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["eu-west-1", "us-east-1", "Decline"]
    bot.send(block_actions_body(message, "hitl.answer.option:1", user_id="U0MALLORY"))
    fake.wait_until(lambda: "not an approver" in " ".join(ephemeral_texts(fake, "U0MALLORY")))
    assert ticket.poll() is None
    bot.send(block_actions_body(message, "hitl.answer.option:1", user_id="U0BOB"))
    answer = ticket.wait(10)
    assert (answer.status, answer.answer, answer.answered_by) == (
        "answered",
        "us-east-1",
        ("U0BOB",),
    )
    shown = wait_updated(fake, message, "Answered")
    assert "*Answer*\nus-east-1" in block_text(shown.blocks)
    assert not shown.live


def test_many_options_open_a_menu_and_several_options_checkboxes_or_a_multi_select(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    regions = [f"region-{i}" for i in range(7)]
    ticket = agent.submit_question("Which region?", options=regions, timeout=60)
    view = _modal(fake, bot, posted(fake, ticket.request_id), "U0ALICE")
    element = _inputs(view)["answer"]["element"]
    assert element["type"] == "static_select"
    assert len(element["options"]) == 7
    chosen = element["options"][5]
    _submit(bot, view, {"answer": {"value": {"selected_option": chosen}}}, "U0ALICE")
    assert ticket.wait(10).answer == "region-5"

    for count, kind in ((3, "checkboxes"), (12, "multi_static_select")):
        tables = [f"t{i}" for i in range(count)]
        ticket = agent.submit_question("Drop which tables?", options=tables, multiple=True)
        view = _modal(fake, bot, posted(fake, ticket.request_id), "U0ALICE")
        element = _inputs(view)["answer"]["element"]
        assert element["type"] == kind
        picked = [element["options"][0], element["options"][2]]
        _submit(bot, view, {"answer": {"value": {"selected_options": picked}}}, "U0ALICE")
        assert ticket.wait(10).answer == ["t0", "t2"]


def test_an_option_value_naming_no_option_decides_nothing(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit_question("Which?", options=[f"o{i}" for i in range(8)], timeout=60)
    view = _modal(fake, bot, posted(fake, ticket.request_id), "U0ALICE")
    forged = {"text": {"type": "plain_text", "text": "x"}, "value": "99"}
    answer = _submit(bot, view, {"answer": {"value": {"selected_option": forged}}}, "U0ALICE")
    assert answer["response_action"] == "errors"
    assert "answer" in answer["errors"]
    assert ticket.poll() is None


def test_free_text_is_asked_in_a_modal_and_kept_exactly_but_shown_escaped(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit_question("What should the subject line say?", timeout=60)
    message = posted(fake, ticket.request_id)
    view = _modal(fake, bot, message, "U0ALICE")
    assert _inputs(view)["answer"]["element"]["multiline"] is True
    empty = _submit(bot, view, {"answer": {"value": {"value": "  "}}}, "U0ALICE")
    assert empty == {"response_action": "errors", "errors": {"answer": "Write an answer."}}
    text = "Sale <!channel> *now* <https://evil.example|click>"
    assert _submit(bot, view, {"answer": {"value": {"value": text}}}, "U0ALICE") is None
    assert ticket.wait(10).answer == text
    shown = block_text(wait_updated(fake, message, "Answered").blocks)
    assert "&lt;!channel&gt;" in shown
    assert "<!channel>" not in shown
    assert "<https://evil.example|click>" not in shown


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Shipping(BaseModel):
    name: str = Field(min_length=2, max_length=80)
    email: str = Field(json_schema_extra={"format": "email"})
    site: str | None = Field(None, json_schema_extra={"format": "uri"})
    when: date
    at: str | None = Field(None, json_schema_extra={"format": "date-time"})
    qty: int = Field(ge=1, le=10)
    price: float = Field(gt=0)
    express: bool = False
    color: Color = Color.RED
    extras: list[Literal["gift", "insured"]] = []


def test_a_form_maps_each_type_to_its_input_shows_errors_inline_and_returns_the_model(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit_question("Shipping details", schema=Shipping, timeout=60)
    message = posted(fake, ticket.request_id)
    view = _modal(fake, bot, message, "U0BOB")
    inputs = _inputs(view)
    assert {k: v["element"]["type"] for k, v in inputs.items()} == {
        "field:name": "plain_text_input",
        "field:email": "email_text_input",
        "field:site": "url_text_input",
        "field:when": "datepicker",
        "field:at": "plain_text_input",
        "field:qty": "number_input",
        "field:price": "number_input",
        "field:express": "checkboxes",
        "field:color": "static_select",
        "field:extras": "checkboxes",
    }
    assert inputs["field:qty"]["element"]["min_value"] == "1"
    assert inputs["field:qty"]["element"]["is_decimal_allowed"] is False
    assert inputs["field:color"]["element"]["initial_option"]["text"]["text"] == "red"
    assert inputs["field:name"]["optional"] is False
    assert inputs["field:site"]["optional"]
    colors = inputs["field:color"]["element"]["options"]
    gift = inputs["field:extras"]["element"]["options"][0]
    values = {
        "field:name": {"value": {"value": "A"}},
        "field:email": {"value": {"value": "not-an-email"}},
        "field:when": {"value": {"selected_date": "2026-12-24"}},
        "field:qty": {"value": {"value": "11"}},
        "field:price": {"value": {"value": "9.5"}},
        "field:express": {"value": {"selected_options": []}},
        "field:color": {"value": {"selected_option": colors[1]}},
        "field:extras": {"value": {"selected_options": [gift]}},
    }
    bad = _submit(bot, view, values, "U0BOB")
    assert bad == {
        "response_action": "errors",
        "errors": {
            "field:name": "Enter at least 2 characters.",
            "field:email": "Enter an email address.",
            "field:qty": "Enter 10 or less.",
        },
    }
    assert ticket.poll() is None
    values |= {
        "field:name": {"value": {"value": "Ada Lovelace"}},
        "field:email": {"value": {"value": "ada@example.org"}},
        "field:qty": {"value": {"value": "3"}},
    }
    assert _submit(bot, view, values, "U0BOB") is None
    answer = ticket.wait(10)
    assert isinstance(answer.answer, Shipping)
    assert answer.answer == Shipping(
        name="Ada Lovelace",
        email="ada@example.org",
        when=date(2026, 12, 24),
        qty=3,
        price=9.5,
        color=Color.BLUE,
        extras=["gift"],
    )
    shown = block_text(wait_updated(fake, message, "Answered").blocks)
    assert "*Email*\nada@example.org" in shown
    assert "*Express*\nno" in shown


def test_a_schema_outside_the_subset_is_refused_at_ask_and_nothing_is_written(
    agent: HITLClient, bot: BotProcess
) -> None:
    class Nested(BaseModel):
        address: dict[str, str]

    before = agent.store.redis.xlen(Keys(bot.prefix).queue)
    with pytest.raises(InvalidRequest, match=r"schema\.address: type 'object' is not in the form"):
        agent.ask("Where to?", schema=Nested)
    with pytest.raises(InvalidRequest, match="multiple=True needs options"):
        agent.ask("Which?", multiple=True)
    with pytest.raises(InvalidRequest, match="action: a question's action is always"):
        agent.ask("Which?", action="deploy")
    assert agent.store.redis.xlen(Keys(bot.prefix).queue) == before


def test_declining_with_a_reason_and_a_forged_approve_decides_nothing(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit_question("Which?", options=["a", "b"], timeout=60)
    message = posted(fake, ticket.request_id)
    forged = block_actions_body(message, "hitl.answer.option:0", user_id="U0ALICE")
    forged["actions"][0]["action_id"] = "hitl.approve"
    bot.send(forged)
    fake.wait_until(lambda: "question: answer it" in " ".join(ephemeral_texts(fake, "U0ALICE")))
    assert ticket.poll() is None
    before = len(fake.opened_views())
    bot.send(block_actions_body(message, "hitl.reject", user_id="U0ALICE"))
    fake.wait_until(lambda: len(fake.opened_views()) > before)
    view = fake.opened_views()[-1]
    assert view["title"]["text"] == "Decline to answer"
    reason = {"reason": {"reason_input": {"value": "I don't know"}}}
    _submit(bot, view, reason, "U0ALICE")
    answer = ticket.wait(10)
    assert (answer.status, answer.answer, answer.reason) == ("declined", None, "I don't know")
    assert "Rejected" in block_text(wait_updated(fake, message, "Rejected").blocks)


def test_the_trail_and_the_data_set_record_the_question_and_its_answer(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit_question("Ship it?", options=["yes", "no"], agent="deployer", timeout=60)
    bot.send(
        block_actions_body(posted(fake, ticket.request_id), "hitl.answer.option:0", user_id="U0BOB")
    )
    assert ticket.wait(10).answer == "yes"
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    entries = [
        e
        for e in trail.read_entries(r, Keys(bot.prefix))
        if e.event().request_id == ticket.request_id
    ]
    events = [e.event() for e in entries]
    assert [e.event for e in events] == ["created", "queued", "posted", "answered"]
    assert events[0].data["kind"] == "question"
    assert events[0].data["options"] == ["yes", "no"]
    assert events[-1].actor == "slack:U0BOB"
    assert events[-1].data["payload"] == {"answer": "yes"}
    rows = [row for row in trail.dataset_rows(entries)]
    assert rows[0]["decision"] == "answered"
    assert rows[0]["final_payload"] == {"answer": "yes"}
    assert rows[0]["original_payload"]["question"] == "Ship it?"
    r.close()


async def test_async_ask_waits_for_the_answer(fake: FakeSlack, bot: BotProcess) -> None:
    client = AsyncHITLClient(bot.redis_url, bot.prefix)
    try:
        ticket = await client.submit_question("Proceed?", options=["go", "stop"], timeout=60)
        message = posted(fake, ticket.request_id)
        bot.send(block_actions_body(message, "hitl.answer.option:1", user_id="U0ALICE"))
        answer = await ticket.wait(10)
        assert answer.answered
        assert answer.answer == "stop"
    finally:
        await client.aclose()


def test_an_approval_may_hide_edit_and_offer_respond_in_the_actions_place(
    fake: FakeSlack, bot: BotProcess, agent: HITLClient
) -> None:
    ticket = agent.submit(
        "Send the weekly report", "send_report", {"to": "team"}, editable=False, respond=True
    )
    message = posted(fake, ticket.request_id)
    buttons = [
        e["text"]["text"]
        for b in message.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["Approve", "Reject", "Respond"]
    # An edit forged from another message's button decides nothing.
    forged = block_actions_body(message, "hitl.respond", user_id="U0ALICE")
    forged["actions"][0]["action_id"] = "hitl.edit"
    before = len(fake.opened_views())
    bot.send(forged)
    fake.wait_until(lambda: "cannot be edited" in " ".join(ephemeral_texts(fake, "U0ALICE")))
    assert len(fake.opened_views()) == before  # no edit modal
    assert ticket.poll() is None
    bot.send(block_actions_body(message, "hitl.respond", user_id="U0ALICE"))
    fake.wait_until(lambda: len(fake.opened_views()) > before)
    view = fake.opened_views()[-1]
    assert view["callback_id"] == "hitl.respond_modal"
    empty = _submit(bot, view, {"answer": {"value": {"value": ""}}}, "U0ALICE")
    assert empty["response_action"] == "errors"
    assert (
        _submit(bot, view, {"answer": {"value": {"value": "Already sent it by hand"}}}, "U0ALICE")
        is None
    )
    decision = ticket.wait(10)
    assert (decision.status, decision.approved) == ("answered", False)
    assert decision.payload == {"answer": "Already sent it by hand"}
    shown = block_text(wait_updated(fake, message, "Answered").blocks)
    assert "*Response* (the action was not run)\nAlready sent it by hand" in shown
