"""The Bolt listeners in-process: signed requests through ``AsyncApp.async_dispatch``, as
bolt-python's own scenario tests do, with a real Redis, the real relay and the fake Slack.

What a person would notice: the HTTP answer Slack gets (200, never a 404 or 500), the
ephemeral message or modal that tells them what happened, whether anything was decided, and
that each failure leaves exactly one log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import REDIS_URL
from fakeslack import (
    FakeSlack,
    PostedMessage,
    block_actions_body,
    block_text,
    find_button,
    form_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from redisproc import RedisServer
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack import AsyncHITLClient, Status
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.models import ApprovalRequest, AuditEvent, RequestState
from hitl_slack.routing import parse_routes
from hitl_slack.service.relay import Relay
from hitl_slack.slack import views
from hitl_slack.slack.app import Deps, build_app
from hitl_slack.slack.blocks import approval_message
from hitl_slack.slack.gateway import SlackGateway

SECRET = "0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4"
FORM = "application/x-www-form-urlencoded"
ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "finance"
match = { action = "refund_*" }
channel = "C0FINANCE"
approvers = ["U0ALICE", "S0FIN"]
reject_reason = "required"
selectable = true

[[routes]]
name = "secret"
match = { tags = "secret" }
approvers = ["U0ALICE"]

[[routes]]
name = "open"
match = { action = "open_*" }
"""


@dataclass
class World:
    """One bot in-process: its Bolt app, its relay, over one Redis and the fake Slack."""

    fake: FakeSlack
    store: AsyncStore
    app: Any
    relay: Relay
    agent: AsyncHITLClient

    async def submit(self, action: str = "deploy", **fields: Any) -> str:
        request = ApprovalRequest(
            summary=fields.pop("summary", f"Do {action}"),
            action=action,
            **({"timeout": 60} | fields),
        )
        await self.store.create(request)
        return request.id

    async def post(self, request_id: str) -> PostedMessage:
        await self.relay.post_request({"id": request_id})
        return next(m for m in self.fake.messages() if request_id in json.dumps(m.blocks))

    async def dispatch(self, body: str, content_type: str = FORM) -> BoltResponse:
        headers = {
            "content-type": [content_type],
            **{k.lower(): [v] for k, v in sign(SECRET, body).items()},
        }
        return await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))

    async def send(self, payload: dict[str, Any]) -> BoltResponse:
        return await self.dispatch(form_body(payload))

    async def told(self, user: str, contains: str) -> str:
        """Wait until ``user`` is told something containing ``contains``; return it."""

        def said() -> list[str]:
            return [
                e.text or block_text(e.blocks)
                for e in self.fake.ephemerals(user)
                if contains in (e.text or block_text(e.blocks))
            ]

        await self.fake.async_wait_until(lambda: bool(said()))
        return said()[-1]

    async def status(self, request_id: str) -> Status:
        return (await self.store.get(request_id)).status


async def _world(url: str, prefix: str) -> AsyncIterator[World]:
    with FakeSlack() as fake:
        fake.usergroups["S0FIN"] = ["U0CAROL"]
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, timeout=2)
        store = AsyncStore(async_redis(url, max_connections=10), StoreConfig(keys=Keys(prefix)))
        routes = parse_routes(ROUTES, source="test", default_channel=None)
        gateway = SlackGateway(client, attempts=2, backoff=0.01)
        app = build_app(Deps.over(store, gateway), client, SECRET, routes=routes)
        agent = AsyncHITLClient(url, prefix)
        yield World(fake, store, app, Relay(store, gateway, routes, None), agent)
        await agent.aclose()
        await store.redis.aclose()


@pytest.fixture
async def world(prefix: str) -> AsyncIterator[World]:
    async for w in _world(REDIS_URL, prefix):
        yield w


@pytest.fixture
async def fragile(redis_server: RedisServer, prefix: str) -> AsyncIterator[World]:
    """A world over a private redis-server the test may kill and restart."""
    async for w in _world(redis_server.url, prefix):
        yield w


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The bot's log lines (INFO and up) since the last call."""
    caplog.set_level(logging.INFO, logger="hitl_slack")

    def take() -> list[str]:
        out = [r.getMessage() for r in caplog.records if r.name.startswith("hitl_slack")]
        caplog.clear()
        return out

    return take


def _ok(response: BoltResponse) -> None:
    assert (response.status, response.body) == (200, "")


# -- the click walk: listener -> decision core -> store -> what the person sees --------------


async def _audited(world: World, request_id: str) -> list[tuple[str, str]]:
    """(event, actor) of the request's audit entries, oldest first."""
    entries = await world.store.redis.xrange(world.store.config.keys.audit)
    events = [AuditEvent.model_validate_json(fields["body"]) for _, fields in entries]
    return [(e.event, e.actor) for e in events if e.request_id == request_id]


def _reason(text: str) -> dict[str, Any]:
    return {"reason": {"reason_input": {"type": "plain_text_input", "value": text}}}


def _field(index: int, text: str) -> dict[str, Any]:
    return {f"field:{index}": {"value": {"type": "plain_text_input", "value": text}}}


def _block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


async def test_approve_decides_at_once_and_logs_one_line_naming_the_request(
    world: World, lines: Callable[[], list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    request_id = await world.submit()  # matches no route: anyone in the channel may decide
    message = await world.post(request_id)
    lines()
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    decision = await world.agent.wait(request_id, timeout=5)
    assert (decision.status, decision.decided_by, decision.edited) == (
        Status.APPROVED,
        ("U0BOB",),
        False,
    )
    await world.fake.async_wait_until(lambda: "decision_recorded" in caplog.messages)
    (line,) = [r for r in caplog.records if r.getMessage() == "decision_recorded"]
    assert (line.request_id, line.status, line.user) == (request_id, "approved", "U0BOB")
    assert world.fake.ephemerals("U0BOB") == []  # the message's update shows the decision


async def test_a_required_reason_is_asked_for_inline_then_the_rejection_is_recorded(
    world: World,
) -> None:
    request_id = await world.submit("refund_card")  # finance: reject_reason = "required"
    view = await _opened(world, request_id)
    assert _block(view, "reason")["optional"] is False
    response = await world.send(view_submission_body(view, _reason("   "), user_id="U0ALICE"))
    assert json.loads(response.body) == {
        "response_action": "errors",
        "errors": {"reason": "A reason is required for this request."},
    }
    assert await world.status(request_id) is Status.PENDING

    _ok(await world.send(view_submission_body(view, _reason(" Too much. "), user_id="U0ALICE")))
    decision = await world.agent.wait(request_id, timeout=5)
    assert (decision.status, decision.reason, decision.decided_by) == (
        Status.REJECTED,
        "Too much.",
        ("U0ALICE",),
    )


async def test_an_optional_reason_may_be_left_empty(world: World) -> None:
    request_id = await world.submit()
    view = await _opened(world, request_id)
    assert _block(view, "reason")["optional"] is True
    _ok(await world.send(view_submission_body(view, _reason(""), user_id="U0ALICE")))
    decision = await world.agent.wait(request_id, timeout=5)
    assert (decision.status, decision.reason) == (Status.REJECTED, None)


async def test_an_edit_is_checked_inline_and_a_valid_one_approves_the_edited_arguments(
    world: World,
) -> None:
    request_id = await world.submit(payload={"amount": 5, "note": "as asked"})
    view = await _opened(world, request_id, "hitl.edit")
    answer = json.loads((await world.send(view_submission_body(view, _field(0, "five")))).body)
    assert answer["response_action"] == "errors"
    assert answer["errors"]["field:0"].startswith("Not valid JSON")
    too_big = view_submission_body(view, _field(1, "x" * 70_000))
    assert json.loads((await world.send(too_big)).body) == {
        "response_action": "errors",
        "errors": {"field:1": "The arguments would exceed 65536 bytes."},
    }
    assert await world.status(request_id) is Status.PENDING

    _ok(await world.send(view_submission_body(view, _field(0, "7"), user_id="U0ALICE")))
    decision = await world.agent.wait(request_id, timeout=5)
    assert (decision.status, decision.payload, decision.edited) == (
        Status.APPROVED,
        {"amount": 7, "note": "as asked"},
        True,
    )


async def test_a_non_approver_is_told_privately_and_each_attempt_is_audited(
    world: World,
) -> None:
    request_id = await world.submit("refund_card")  # U0ALICE and the group S0FIN
    message = await world.post(request_id)
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    assert await world.told("U0BOB", "approver") == (
        "You are not an approver for this request, so nothing was decided. Ask one of its "
        "approvers."
    )
    _ok(await world.send(block_actions_body(message, "hitl.reject", user_id="U0BOB")))
    await world.fake.async_wait_until(lambda: len(world.fake.ephemerals("U0BOB")) == 2)
    assert world.fake.ephemerals("U0BOB")[-1].via == "chat.postEphemeral"
    assert world.fake.calls("views.open") == []  # no form for someone who may not decide
    audited = await _audited(world, request_id)
    assert [e for e in audited if e[0] == "unauthorized"] == [("unauthorized", "slack:U0BOB")] * 2
    assert await world.status(request_id) is Status.PENDING


async def test_a_group_slack_cannot_list_is_said_and_nothing_is_decided(world: World) -> None:
    request_id = await world.submit("refund_card")
    message = await world.post(request_id)
    world.fake.fail("usergroups.users.list", status=200, error="missing_scope", retry_after=None)
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0CAROL")))
    assert "Could not check your user groups" in await world.told("U0CAROL", "nothing")
    assert await world.status(request_id) is Status.PENDING
    assert ("unauthorized", "slack:U0CAROL") not in await _audited(world, request_id)


@pytest.mark.parametrize("button", ["hitl.approve", "hitl.reject", "hitl.edit"])
async def test_a_click_on_a_decided_request_says_which_decision_stands(
    world: World, button: str
) -> None:
    request_id = await world.submit()
    message = await world.post(request_id)
    decision = await world.store.decide(request_id, Status.REJECTED, decided_by=("U0ALICE",))
    _ok(await world.send(block_actions_body(message, button, user_id="U0BOB")))
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    assert await world.told("U0BOB", "already") == (
        f"This request was already rejected by <@U0ALICE> at {when}."
    )
    assert world.fake.calls("views.open") == []


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("", ""),
        ("help", ""),
        ("HELP me", ""),
        ("frobnicate now", "Unknown command `frobnicate`.\n"),
    ],
)
async def test_hitl_help_is_answered_in_the_ack(world: World, text: str, prefix: str) -> None:
    response = await world.dispatch(slash_command_body(text, user_id="U0BOB"))
    assert (response.status, response.body) == (200, prefix + views.HELP_TEXT)


async def test_pending_lists_the_posted_requests_the_person_may_decide(world: World) -> None:
    refund = await world.submit("refund_card", summary="Item 1")  # U0ALICE, S0FIN
    door = await world.submit("open_door", summary="Item 2")  # anyone
    await world.submit("open_gate", summary="Item 3")  # not posted: no policy says who decides
    for request_id in (refund, door):
        await world.post(request_id)
    _ok(await world.dispatch(slash_command_body("pending", user_id="U0BOB")))
    bob = await _listing(world, "U0BOB", 0)
    assert (bob["text"], _items(bob)) == ("1 pending request you can decide", {"Item 2"})
    _ok(await world.dispatch(slash_command_body("pending", user_id="U0CAROL")))
    carol = await _listing(world, "U0CAROL", 0)
    assert (carol["text"], _items(carol)) == (
        "2 pending requests you can decide",
        {"Item 1", "Item 2"},
    )


# -- mixed versions: a request posted by the bot before policy snapshots ---------------------


async def _posted_by_the_old_bot(world: World) -> tuple[str, PostedMessage]:
    """A request as the old bot left it: its policy only in the message record (``route``,
    ``approvers``, ``reject_reason_required``), no ``policy`` field. The live routes send a
    ``deploy`` to the defaults, where anyone may decide without a reason."""
    request = ApprovalRequest(summary="Deploy, the old way", action="deploy", timeout=60)
    shown = approval_message(RequestState(request=request, status=Status.PENDING))
    posted = await world.app.client.chat_postMessage(channel="C0APPROVALS", **shown.to_kwargs())
    old_message = {
        "channel": "C0APPROVALS",
        "ts": posted["ts"],
        "note": None,
        "route": "deploys",
        "approvers": ["U0ALICE"],
        "reject_reason_required": True,
    }
    deadline_ms = int((time.time() + 60) * 1000)
    keys = world.store.config.keys
    await world.store.redis.zadd(keys.deadlines, {request.id: deadline_ms})  # its deadline set
    await world.store.redis.hset(
        keys.request(request.id),
        mapping={
            "request": request.model_dump_json(),
            "status": "pending",
            "deadline": str(deadline_ms),
            "message": json.dumps(old_message),
        },
    )
    assert await world.store.migrate() == 1  # what the new bot's scheduler does at start
    return request.id, world.fake.message("C0APPROVALS", posted["ts"])


async def test_a_request_posted_by_the_old_bot_is_decided_by_the_policy_of_its_message(
    world: World,
) -> None:
    request_id, message = await _posted_by_the_old_bot(world)
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    await world.told("U0BOB", "You are not an approver for this request")
    assert await world.status(request_id) is Status.PENDING

    view = await _opened(world, request_id)  # as U0ALICE, the approver it was posted with
    assert _block(view, "reason")["optional"] is False
    response = await world.send(view_submission_body(view, _reason(""), user_id="U0ALICE"))
    assert json.loads(response.body)["errors"] == {
        "reason": "A reason is required for this request."
    }
    _ok(await world.send(view_submission_body(view, _reason("Not today."), user_id="U0ALICE")))
    decision = await world.agent.wait(request_id, timeout=5)
    assert (decision.status, decision.reason, decision.decided_by) == (
        Status.REJECTED,
        "Not today.",
        ("U0ALICE",),
    )
    await world.relay.show_outcome({"id": request_id})
    assert not world.fake.message(message.channel, message.ts).live


async def test_the_old_bots_request_is_listed_by_the_policy_of_its_message(world: World) -> None:
    await _posted_by_the_old_bot(world)
    for user, count in (("U0BOB", "0 pending requests"), ("U0ALICE", "1 pending request")):
        _ok(await world.dispatch(slash_command_body("pending", user_id=user)))
        assert (await _listing(world, user, 0))["text"] == f"{count} you can decide"


# -- item 4 / 6: Redis restarts and failures after the ack --------------------------------


async def test_a_click_while_redis_is_down_is_told_to_click_again_and_a_retry_is_recorded(
    fragile: World, redis_server: RedisServer, lines: Callable[[], list[str]]
) -> None:
    request_id = await fragile.submit()
    message = await fragile.post(request_id)
    lines()
    redis_server.kill()
    _ok(await fragile.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    text = await fragile.told("U0BOB", "may not have been recorded")
    assert "could not be reached" in text
    assert lines() == ["listener_failed"]

    redis_server.start()  # AOF: the request is still there
    _ok(await fragile.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    decision = await fragile.agent.wait(request_id, timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0BOB",))


async def test_listings_while_redis_is_down_say_so(
    fragile: World, redis_server: RedisServer, lines: Callable[[], list[str]]
) -> None:
    redis_server.kill()
    _ok(await fragile.dispatch(slash_command_body("pending", user_id="U0BOB")))
    assert "could not be reached" in await fragile.told("U0BOB", "approval store")
    assert lines() == ["listener_failed"]

    from fakeslack import app_home_opened_body

    _ok(await fragile.dispatch(json.dumps(app_home_opened_body("U0BOB")), "application/json"))
    await fragile.fake.async_wait_until(lambda: bool(fragile.fake.published_views("U0BOB")))
    home = fragile.fake.published_views("U0BOB")[-1]
    assert "could not be reached" in block_text(home["blocks"])
    assert lines() == ["listener_failed"]


# -- item 8: an expired trigger id ------------------------------------------------------------


@pytest.mark.parametrize(("button", "word"), [("hitl.reject", "Reject"), ("hitl.edit", "Edit")])
async def test_an_expired_trigger_tells_the_person_to_click_again_and_decides_nothing(
    world: World,
    lines: Callable[[], list[str]],
    caplog: pytest.LogCaptureFixture,
    button: str,
    word: str,
) -> None:
    request_id = await world.submit()
    message = await world.post(request_id)
    lines()
    world.fake.fail("views.open", status=200, error="expired_trigger_id", retry_after=None)
    _ok(await world.send(block_actions_body(message, button, user_id="U0BOB")))
    text = await world.told("U0BOB", "could not be opened in time")
    assert text.endswith(f"Click {word} again.")
    (line,) = [r for r in caplog.records if r.getMessage() == "modal_trigger_expired"]
    assert (line.request_id, line.user) == (request_id, "U0BOB")  # bound around the listener
    assert lines() == ["modal_trigger_expired"]
    assert await world.status(request_id) is Status.PENDING


async def test_any_other_failure_after_the_ack_is_told_and_logged_once(
    world: World, lines: Callable[[], list[str]]
) -> None:
    request_id = await world.submit()
    message = await world.post(request_id)
    lines()
    world.fake.fail("views.open", status=200, error="invalid_arguments", retry_after=None)
    _ok(await world.send(block_actions_body(message, "hitl.reject", user_id="U0BOB")))
    assert "invalid_arguments" in await world.told("U0BOB", "Slack did not answer")
    assert lines() == ["listener_failed"]
    assert await world.status(request_id) is Status.PENDING


async def test_a_person_is_told_through_the_response_url_when_the_ephemeral_fails(
    world: World,
) -> None:
    request_id = await world.submit("refund_card")
    message = await world.post(request_id)
    # e.g. the bot was removed from the channel: its message and buttons stay.
    world.fake.fail(
        "chat.postEphemeral", status=200, error="channel_not_found", retry_after=None, times=5
    )
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    await world.told("U0BOB", "not an approver")
    assert world.fake.ephemerals("U0BOB")[-1].via == "response_url"
    assert await world.status(request_id) is Status.PENDING


# -- item 9: tampered buttons, garbled forms ---------------------------------------------------


def _with_value(body: dict[str, Any], value: Any) -> dict[str, Any]:
    if value is _DROP:
        del body["actions"][0]["value"]
    else:
        body["actions"][0]["value"] = value
    return body


_DROP = object()


@pytest.mark.parametrize(
    ("value", "told"),
    [
        ("req_does_not_exist", "no longer exists"),
        ("../../x y", "could not be read"),
        ("r" * 500, "could not be read"),
        (_DROP, "could not be read"),
        (17, "could not be read"),
    ],
)
async def test_a_tampered_button_value_decides_nothing_and_is_answered(
    world: World, lines: Callable[[], list[str]], value: Any, told: str
) -> None:
    request_id = await world.submit()
    message = await world.post(request_id)
    lines()
    body = _with_value(block_actions_body(message, "hitl.approve", user_id="U0BOB"), value)
    _ok(await world.send(body))
    await world.told("U0BOB", told)
    assert len(lines()) == 1
    assert await world.status(request_id) is Status.PENDING


async def test_a_button_no_listener_handles_is_answered_200_and_told(
    world: World, lines: Callable[[], list[str]]
) -> None:
    request_id = await world.submit()
    message = await world.post(request_id)
    body = block_actions_body(message, "hitl.approve", user_id="U0BOB")
    body["actions"][0]["action_id"] = "hitl.approve_v0"  # from a message an old version posted
    lines()
    _ok(await world.send(body))
    await world.told("U0BOB", "not handled by this version")
    assert lines() == ["unknown_action"]
    assert await world.status(request_id) is Status.PENDING


async def test_a_form_no_listener_handles_is_answered_with_a_notice(world: World) -> None:
    body = view_submission_body({"type": "modal", "callback_id": "hitl.old_modal"}, {})
    response = await world.send(body)
    assert response.status == 200
    assert "not handled by this version" in block_text(json.loads(response.body)["view"]["blocks"])


def _reshape(body: dict[str, Any], how: str) -> dict[str, Any]:
    if how == "no type":
        return {k: v for k, v in body.items() if k != "type"}
    key, _, value = how.partition("=")
    return {**body, key: json.loads(value)}


@pytest.mark.parametrize(
    "how",
    [
        "actions=[]",
        'actions="approve"',
        'actions=["x"]',
        'actions=[{"value": "v"}]',
        'user="U0BOB"',
        "user=[1]",
        "user={}",
        "no type",
    ],
)
async def test_a_signed_click_of_the_wrong_shape_gets_400_and_decides_nothing(
    world: World, how: str
) -> None:
    request_id = await world.submit()
    message = await world.post(request_id)
    body = _reshape(block_actions_body(message, "hitl.approve", user_id="U0BOB"), how)
    response = await world.send(body)
    assert response.status == 400
    assert response.body.startswith("malformed payload: ")
    assert await world.status(request_id) is Status.PENDING


@pytest.mark.parametrize(
    "how",
    ['view="x"', "view={}", 'view={"type": "modal"}', 'view={"type": "modal", "callback_id": 5}'],
)
async def test_a_signed_submission_of_the_wrong_shape_gets_400(world: World, how: str) -> None:
    body = view_submission_body({"type": "modal", "callback_id": "hitl.reject_modal"}, {})
    response = await world.send(_reshape(body, how))
    assert (response.status, response.body.startswith("malformed payload: ")) == (400, True)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "interactive_message", "callback_id": 5, "actions": [{"name": "approve"}]},
        {"type": "dialog_submission", "callback_id": {"id": "x"}},
        {"type": "block_suggestion", "action_id": 5, "block_id": "b"},
    ],
)
async def test_a_signed_legacy_interaction_with_an_id_of_the_wrong_type_gets_400(
    world: World, payload: dict[str, Any]
) -> None:
    # Bolt's matchers compare these ids (the catch-all listener searches them with a pattern).
    response = await world.send({**payload, "user": {"id": "U0BOB"}, "team": {"id": "T111"}})
    assert (response.status, response.body.startswith("malformed payload: ")) == (400, True)


async def _opened(world: World, request_id: str, button: str = "hitl.reject") -> dict[str, Any]:
    message = await world.post(request_id)
    await world.send(block_actions_body(message, button, user_id="U0ALICE"))
    call = await world.fake.async_wait_for_call(
        "views.open", lambda c: request_id in json.dumps(c.params)
    )
    view: dict[str, Any] = call.response["view"]
    return view


REASON = {"reason": {"reason_input": {"type": "plain_text_input", "value": "no"}}}


def _garble(view: dict[str, Any], how: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A submission of ``view`` with one part garbled; returns (view, state values)."""
    view = dict(view)
    values: Any = REASON
    if how.startswith("meta:"):
        view["private_metadata"] = how[5:]
    elif how == "values-list":
        values = [1, 2]
    elif how == "input-list":
        values = {"reason": [1]}
    elif how == "value-number":
        values = {"reason": {"reason_input": {"type": "plain_text_input", "value": 42}}}
    return view, values


@pytest.mark.parametrize(
    ("how", "told"),
    [
        ("meta:", "could not be read"),
        ("meta:{not json", "could not be read"),
        ("meta:[1, 2]", "could not be read"),
        ('meta:{"id": 5}', "could not be read"),
        ('meta:{"id": "req_gone_long_ago"}', "no longer exists"),
        ("meta:" + "[" * 5000, "could not be read"),
        ("values-list", "could not be read"),
        ("input-list", "could not be read"),
        ("value-number", "could not be read"),
    ],
)
async def test_a_garbled_submission_answers_200_with_a_notice_and_decides_nothing(
    world: World, lines: Callable[[], list[str]], how: str, told: str
) -> None:
    request_id = await world.submit()
    view, values = _garble(await _opened(world, request_id), how)
    lines()
    response = await world.send(view_submission_body(view, values, user_id="U0ALICE"))
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["response_action"] == "update"
    assert told in block_text(answer["view"]["blocks"])
    assert len(lines()) == 1
    assert await world.status(request_id) is Status.PENDING


async def test_a_submission_without_a_view_state_is_refused_in_the_modal(world: World) -> None:
    request_id = await world.submit()
    view = await _opened(world, request_id, "hitl.edit")
    body = view_submission_body(view, {}, user_id="U0ALICE")
    del body["view"]["state"]
    response = await world.send(body)
    assert response.status == 200
    assert json.loads(response.body)["response_action"] == "update"
    assert await world.status(request_id) is Status.PENDING


async def test_a_submission_for_a_decided_request_says_which_decision_stands(world: World) -> None:
    request_id = await world.submit()
    view = await _opened(world, request_id)
    await world.store.decide(request_id, Status.APPROVED, decided_by=("U0CAROL",))
    response = await world.send(view_submission_body(view, REASON, user_id="U0ALICE"))
    answer = json.loads(response.body)
    assert answer["response_action"] == "update"
    assert "already approved by <@U0CAROL>" in block_text(answer["view"]["blocks"])
    assert (await world.store.get(request_id)).decision.decided_by == (  # type: ignore[union-attr]
        "U0CAROL",
    )


async def test_a_deeply_nested_edit_is_flagged_inline(world: World) -> None:
    request_id = await world.submit(payload={"filter": {"a": 1}})
    view = await _opened(world, request_id, "hitl.edit")
    nested = "[" * 1400 + "]" * 1400
    response = await world.send(
        view_submission_body(
            view,
            {"field:0": {"value": {"type": "plain_text_input", "value": nested}}},
            user_id="U0ALICE",
        )
    )
    assert response.status == 200
    assert json.loads(response.body)["response_action"] == "errors"
    assert await world.status(request_id) is Status.PENDING


async def test_an_infinite_number_in_an_edit_is_flagged_for_what_it_is(world: World) -> None:
    request_id = await world.submit(payload={"amount": 5})
    view = await _opened(world, request_id, "hitl.edit")
    response = await world.send(
        view_submission_body(
            view,
            {"field:0": {"value": {"type": "plain_text_input", "value": "1e999"}}},
            user_id="U0ALICE",
        )
    )
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors"
    assert "too large a number" in answer["errors"]["field:0"]  # not "exceed 65536 bytes"
    assert await world.status(request_id) is Status.PENDING


# -- items 13 and 14: routing and authorization cannot be used to lower the bar --------------


async def test_naming_a_route_or_channel_does_not_let_another_person_decide(world: World) -> None:
    request_id = await world.submit("export", tags=("secret",), route="open", channel="C0ELSEWHERE")
    message = await world.post(request_id)
    assert "route 'open' cannot be chosen by the agent" in block_text(message.blocks)
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0BOB")))
    await world.told("U0BOB", "not an approver")
    assert await world.status(request_id) is Status.PENDING
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0ALICE")))
    assert (await world.agent.wait(request_id, timeout=5)).decided_by == ("U0ALICE",)


async def test_a_channel_is_not_chosen_for_a_request_nobody_is_named_to_decide(
    world: World,
) -> None:
    request_id = await world.submit("open_door", channel="C0FRIENDS")
    message = await world.post(request_id)
    assert message.channel == "C0APPROVALS"
    assert "channel C0FRIENDS cannot be chosen" in block_text(message.blocks)


async def test_a_user_id_equal_to_an_approver_group_id_is_not_authorized(world: World) -> None:
    request_id = await world.submit("refund_card")
    message = await world.post(request_id)
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="S0FIN")))
    await world.told("S0FIN", "nothing was decided")
    assert await world.status(request_id) is Status.PENDING
    _ok(await world.send(block_actions_body(message, "hitl.approve", user_id="U0CAROL")))
    assert (await world.agent.wait(request_id, timeout=5)).decided_by == ("U0CAROL",)


# -- item 22: listings ----------------------------------------------------------------------


async def _many(world: World, count: int, **fields: Any) -> list[str]:
    """``count`` requests, posted: a listing shows a request by the policy stored at its post."""
    ids = [await world.submit(summary=f"Item {i}", **fields) for i in range(count)]
    for start in range(0, count, 50):
        await asyncio.gather(
            *(world.relay.post_request({"id": i}) for i in ids[start : start + 50])
        )
    return ids


async def _listing(world: World, user: str, before: int) -> dict[str, Any]:
    await world.fake.async_wait_until(lambda: len(world.fake.ephemerals(user)) > before)
    reply = world.fake.ephemerals(user)[-1]
    assert reply.via == "response_url"
    return {"text": reply.text, "blocks": reply.blocks or []}


def _items(listing: dict[str, Any]) -> set[str]:
    return set(re.findall(r"\*(Item \d+)\*", block_text(listing["blocks"])))


async def test_pending_with_600_requests_gives_the_true_count_and_pages(world: World) -> None:
    await _many(world, 600, action="open_task")
    _ok(await world.dispatch(slash_command_body("pending", user_id="U0BOB")))  # acked at once
    first = await _listing(world, "U0BOB", 0)
    assert first["text"] == "600 pending requests you can decide"
    shown = block_text(first["blocks"])
    assert "Showing 1 to 20 of 600" in shown
    assert len(first["blocks"]) <= 50
    assert len(_items(first)) == 20
    nxt = find_button(first["blocks"], "hitl.pending_page")
    assert nxt is not None
    assert (nxt["text"]["text"], nxt["value"]) == ("Next page", "20")

    from fakeslack import button_click_body

    _ok(
        await world.send(
            button_click_body(
                first["blocks"], "hitl.pending_page", user_id="U0BOB", channel_id="C0APPROVALS"
            )
        )
    )
    second = await _listing(world, "U0BOB", 1)
    assert "Showing 21 to 40 of 600" in block_text(second["blocks"])
    assert len(_items(second)) == 20
    assert not _items(first) & _items(second)


async def test_the_approver_filter_runs_before_paging(world: World) -> None:
    await _many(world, 550, action="sealed", tags=("secret",), timeout=30)  # U0ALICE only
    later = await _many(world, 3, action="refund_card", timeout=90)  # U0ALICE and S0FIN
    _ok(await world.dispatch(slash_command_body("pending", user_id="U0CAROL")))
    listing = await _listing(world, "U0CAROL", 0)
    assert listing["text"] == "3 pending requests you can decide"
    assert block_text(listing["blocks"]).count("`refund_card`") == 3
    _ok(await world.dispatch(slash_command_body("pending", user_id="U0ALICE")))
    assert (await _listing(world, "U0ALICE", 0))["text"] == "553 pending requests you can decide"
    assert len(later) == 3


async def test_listed_requests_link_to_their_message_and_links_are_fetched_once(
    world: World,
) -> None:
    ids = [await world.submit("refund_card", summary=f"Refund {i}") for i in range(3)]
    messages = [await world.post(i) for i in ids]
    for before in (0, 1):
        _ok(await world.dispatch(slash_command_body("pending", user_id="U0ALICE")))
        listing = await _listing(world, "U0ALICE", before)
        for message in messages:
            link = (
                f"https://fake.slack.com/archives/{message.channel}/p{message.ts.replace('.', '')}"
            )
            assert f"<{link}|Open message>" in block_text(listing["blocks"])
    assert len(world.fake.calls("chat.getPermalink")) == 3  # cached on the request


async def test_app_home_pages_within_a_views_limits(world: World) -> None:
    from fakeslack import app_home_opened_body, button_click_body

    await _many(world, 45, action="open_task")
    _ok(await world.dispatch(json.dumps(app_home_opened_body("U0BOB")), "application/json"))
    await world.fake.async_wait_until(lambda: bool(world.fake.published_views("U0BOB")))
    home = world.fake.published_views("U0BOB")[-1]
    assert "45 pending requests you can decide" in block_text(home["blocks"])
    assert len(home["blocks"]) <= 100
    _ok(
        await world.send(
            button_click_body(home["blocks"], "hitl.home_page", user_id="U0BOB", view=home)
        )
    )
    await world.fake.async_wait_until(lambda: len(world.fake.published_views("U0BOB")) == 2)
    page = block_text(world.fake.published_views("U0BOB")[-1]["blocks"])
    assert "Showing 21 to 40 of 45" in page


async def test_a_tampered_page_button_is_answered(world: World) -> None:
    from fakeslack import button_click_body

    await _many(world, 25, action="open_task")
    _ok(await world.dispatch(slash_command_body("pending", user_id="U0BOB")))
    first = await _listing(world, "U0BOB", 0)
    body = button_click_body(
        first["blocks"], "hitl.pending_page", user_id="U0BOB", channel_id="C0APPROVALS"
    )
    body["actions"][0]["value"] = "-3; DROP"
    _ok(await world.send(body))
    assert "could not be read" in await world.told("U0BOB", "nothing was decided")
