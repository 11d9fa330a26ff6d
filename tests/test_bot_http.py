"""The whole loop in HTTP mode: agent -> Redis -> bot -> (fake) Slack -> signed click -> agent.

The bot is the real ``hitl-slack serve`` in a subprocess; Slack is the fake at the network edge;
clicks are signed requests built from the messages the bot actually posted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fakeslack import (
    FakeSlack,
    app_home_opened_body,
    block_actions_body,
    block_text,
    find_button,
    post_signed,
    slash_command_body,
    view_submission_body,
)
from harness import (
    FORM,
    SECRET,
    BotProcess,
    current,
    ephemeral_texts,
    posted,
    wait_updated,
)

from hitl_slack import Decision, HITLClient, Status
from hitl_slack.audit.trail import read_entries
from hitl_slack.keys import Keys


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.channels_not_found.add("C0MISSING")
        f.usergroups["S0FIN"] = ["U0CAROL"]
        f.usergroups["S0OPS"] = ["U0DAVE"]
        yield f


@pytest.fixture(scope="module")
def module_prefix() -> Iterator[str]:
    name = f"test-bot-{uuid.uuid4().hex[:10]}"
    yield name
    r = redis.Redis.from_url(_redis_url())
    for key in r.scan_iter(match=f"{name}:*", count=1000):
        r.delete(key)


def _redis_url() -> str:
    from conftest import REDIS_URL

    return REDIS_URL


@pytest.fixture(scope="module")
def bot(fake: FakeSlack, module_prefix: str) -> Iterator[BotProcess]:
    b = BotProcess(fake, module_prefix, _redis_url()).start()
    yield b
    assert b.stop() == 0, b.logs()


@pytest.fixture
def agent(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


def opened_view(fake: FakeSlack, request_id: str) -> dict[str, Any]:
    """The modal the bot opened for this request (waits for it)."""
    call = fake.wait_for_call("views.open", lambda c: request_id in json.dumps(c.params))
    view: dict[str, Any] = call.response["view"]
    return view


class Waiter:
    """The agent blocked in wait(), in a thread, timing when it returns."""

    def __init__(self, agent: HITLClient, request_id: str) -> None:
        self.result: Decision | None = None
        self.returned_at = 0.0
        self._t = threading.Thread(target=self._run, args=(agent, request_id), daemon=True)
        self._t.start()

    def _run(self, agent: HITLClient, request_id: str) -> None:
        self.result = agent.wait(request_id)
        self.returned_at = time.monotonic()

    def join(self, timeout: float = 10) -> Decision:
        self._t.join(timeout)
        assert self.result is not None, "the agent is still waiting"
        return self.result


def test_request_is_posted_and_approve_unblocks_the_agent(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit(
        "Deploy web 1.2",
        "deploy",
        {"service": "web", "version": "1.2"},
        agent="ci",
        risk="high",
        timeout=60,
    )
    msg = posted(fake, ticket.request_id)
    assert msg.channel == "C0APPROVALS"
    assert [
        find_button(msg.blocks, a)["text"]["text"]
        for a in ("hitl.approve", "hitl.reject", "hitl.edit")
    ] == ["Approve", "Reject", "Edit"]
    assert "Deploy web 1.2" in msg.text
    waiter = Waiter(agent, ticket.request_id)

    clicked = time.monotonic()
    status, _ = bot.send(block_actions_body(msg, "hitl.approve", user_id="U0ALICE"))
    decision = waiter.join()
    assert status == 200
    assert (decision.status, decision.decided_by, decision.edited) == (
        Status.APPROVED,
        ("U0ALICE",),
        False,
    )
    assert waiter.returned_at - clicked < 2
    shown = wait_updated(fake, msg, "Approved")
    assert find_button(shown.blocks, "hitl.approve") is None  # buttons gone
    assert "<@U0ALICE>" in block_text(shown.blocks)


def test_reject_opens_a_modal_and_the_reason_reaches_the_agent(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Delete bucket", "delete_bucket", {"bucket": "logs"}, timeout=60)
    msg = posted(fake, ticket.request_id)
    bot.send(block_actions_body(msg, "hitl.reject", user_id="U0BOB"))
    view = opened_view(fake, ticket.request_id)
    status, body = bot.send(
        view_submission_body(
            view,
            {"reason": {"reason_input": {"type": "plain_text_input", "value": "keep logs"}}},
            user_id="U0BOB",
        )
    )
    assert (status, body) == (200, "")
    decision = agent.wait(ticket.request_id, timeout=10)
    assert (decision.status, decision.reason, decision.decided_by) == (
        Status.REJECTED,
        "keep logs",
        ("U0BOB",),
    )
    shown = wait_updated(fake, msg, "Rejected")
    assert "keep logs" in block_text(shown.blocks)


def test_required_reason_is_asked_for_inline_and_nothing_is_decided(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Refund $420", "refund_payment", {"amount": 420}, timeout=60)
    msg = posted(fake, ticket.request_id)
    assert msg.channel == "C0FINANCE"
    bot.send(block_actions_body(msg, "hitl.reject", user_id="U0ALICE"))
    view = opened_view(fake, ticket.request_id)
    status, body = bot.send(
        view_submission_body(
            view, {"reason": {"reason_input": {"type": "plain_text_input", "value": None}}}
        )
    )
    assert status == 200
    assert json.loads(body) == {
        "response_action": "errors",
        "errors": {"reason": "A reason is required for this request."},
    }
    assert agent.get(ticket.request_id).status is Status.PENDING


def test_edit_modal_validates_and_approves_with_the_edited_payload(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Scale api", "scale", {"service": "api", "replicas": 30}, timeout=60)
    msg = posted(fake, ticket.request_id)
    bot.send(block_actions_body(msg, "hitl.edit"))
    view = opened_view(fake, ticket.request_id)
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels == ["service", "replicas"]
    inputs = {
        b["block_id"]: b["element"].get("initial_value")
        for b in view["blocks"]
        if b["type"] == "input"
    }
    assert inputs == {"field:0": "api", "field:1": "30"}

    def submit(replicas: str) -> tuple[int, str]:
        return bot.send(
            view_submission_body(
                view,
                {
                    "field:0": {"value": {"type": "plain_text_input", "value": "api"}},
                    "field:1": {"value": {"type": "plain_text_input", "value": replicas}},
                },
            )
        )

    status, body = submit('"three"')
    assert status == 200
    assert json.loads(body)["errors"] == {"field:1": "Was a number, now a string: keep the type"}
    status, body = submit("three")
    assert json.loads(body)["errors"]["field:1"].startswith("Not valid JSON")
    assert agent.get(ticket.request_id).status is Status.PENDING

    assert submit("3") == (200, "")
    decision = agent.wait(ticket.request_id, timeout=10)
    assert (decision.status, decision.payload, decision.edited) == (
        Status.APPROVED,
        {"service": "api", "replicas": 3},
        True,
    )
    shown = wait_updated(fake, msg, "Edited before approval")
    assert "30 → 3" in block_text(shown.blocks)


def test_non_approver_is_refused_and_audited_and_a_group_member_may_approve(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Refund $99", "refund_payment", {"amount": 99}, timeout=60)
    msg = posted(fake, ticket.request_id)
    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0MALLORY"))
    fake.wait_until(lambda: any("not an approver" in t for t in ephemeral_texts(fake, "U0MALLORY")))
    assert agent.get(ticket.request_id).status is Status.PENDING
    events = [e.event() for e in read_entries(agent.store.redis, Keys(bot.prefix))]
    assert [
        (e.event, e.actor)
        for e in events
        if e.request_id == ticket.request_id and e.event == "unauthorized"
    ] == [("unauthorized", "slack:U0MALLORY")]

    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0CAROL"))  # in S0FIN
    assert agent.wait(ticket.request_id, timeout=10).decided_by == ("U0CAROL",)


def test_group_lookup_failure_decides_nothing_and_says_why(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Restart ops box", "ops_restart", {}, timeout=60)
    msg = posted(fake, ticket.request_id)
    fake.fail("usergroups.users.list", status=429, retry_after=30)
    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0DAVE"))
    fake.wait_until(
        lambda: any(
            "Could not check your user groups" in t for t in ephemeral_texts(fake, "U0DAVE")
        )
    )
    assert agent.get(ticket.request_id).status is Status.PENDING
    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0DAVE"))  # Slack answers now
    assert agent.wait(ticket.request_id, timeout=10).decided_by == ("U0DAVE",)


def test_second_click_is_told_the_first_decision_stands(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Restart db", "restart", {"db": "main"}, timeout=60)
    msg = posted(fake, ticket.request_id)
    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0ALICE"))
    agent.wait(ticket.request_id, timeout=10)
    bot.send(block_actions_body(msg, "hitl.reject", user_id="U0BOB"))  # stale message, same click
    fake.wait_until(
        lambda: any("already approved by <@U0ALICE>" in t for t in ephemeral_texts(fake, "U0BOB"))
    )
    assert agent.get(ticket.request_id).decision.status is Status.APPROVED  # type: ignore[union-attr]


def test_two_people_clicking_at_once_get_one_decision(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Rotate keys", "rotate", {}, timeout=60)
    msg = posted(fake, ticket.request_id)
    users = [f"U0P{i}" for i in range(6)]
    threads = [
        threading.Thread(
            target=bot.send, args=(block_actions_body(msg, "hitl.approve", user_id=u),)
        )
        for u in users
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decision = agent.wait(ticket.request_id, timeout=10)
    losers = [u for u in users if u not in decision.decided_by]
    fake.wait_until(
        lambda: all(any("already approved" in t for t in ephemeral_texts(fake, u)) for u in losers)
    )
    assert len(decision.decided_by) == 1
    assert len(losers) == 5


def test_expiry_and_cancellation_update_the_message(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    short = agent.submit("Quick one", "quick", {}, timeout=1.5)
    cancelled = agent.submit("Never mind", "later", {}, timeout=60)
    first, second = posted(fake, short.request_id), posted(fake, cancelled.request_id)
    agent.cancel(cancelled.request_id, reason="agent finished another way")
    shown = wait_updated(fake, second, "Cancelled")
    assert "agent finished another way" in block_text(shown.blocks)
    shown = wait_updated(fake, first, "Expired", timeout=10)  # the scheduler, no agent waiting
    assert find_button(shown.blocks, "hitl.approve") is None
    assert agent.get(short.request_id).status is Status.EXPIRED


def test_bad_signature_and_stale_timestamp_are_refused_and_decide_nothing(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    from fakeslack import form_body

    ticket = agent.submit("Wire $1M", "wire", {"amount": 1_000_000}, timeout=60)
    msg = posted(fake, ticket.request_id)
    body = form_body(block_actions_body(msg, "hitl.approve"))
    assert (
        post_signed(bot.url, body, secret="wrong-secret-0123456789abcdef", content_type=FORM)[0]
        == 401
    )
    assert (
        post_signed(
            bot.url, body, secret=SECRET, content_type=FORM, timestamp=int(time.time()) - 600
        )[0]
        == 401
    )
    time.sleep(0.3)
    assert agent.get(ticket.request_id).status is Status.PENDING


def test_agent_text_cannot_ping_or_disguise_links(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    nasty = "<!channel> pay <http://evil.example|invoice> <@U0CEO>"
    ticket = agent.submit(
        f"Pay {nasty}", "pay", {"memo": nasty}, details=nasty, agent="<!here>", timeout=60
    )
    msg = posted(fake, ticket.request_id)
    call = fake.wait_for_call(
        "chat.postMessage", lambda c: ticket.request_id in json.dumps(c.params)
    )
    mrkdwn = [msg.text or ""] + [t for t in _mrkdwn_texts(call.params["blocks"])]
    for text in mrkdwn:
        for raw in ("<!channel>", "<!here>", "<http://evil", "<@U0CEO>"):
            assert raw not in text
    assert "&lt;!channel&gt;" in json.dumps(call.params)


def _mrkdwn_texts(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            out.append(node["text"])
        for v in node.values():
            out += _mrkdwn_texts(v)
    elif isinstance(node, list):
        for v in node:
            out += _mrkdwn_texts(v)
    return out


def test_rate_limited_channel_waits_while_others_flow(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    fake.fail("chat.postMessage", status=429, retry_after=2, channel="C0SLOW")
    slow = agent.submit("Slow one", "slow_task", {}, timeout=60)
    time.sleep(0.2)
    fast = agent.submit("Fast one", "fast_task", {}, timeout=60)
    fast_msg = posted(fake, fast.request_id)
    slow_msg = posted(fake, slow.request_id, timeout=15)
    calls = fake.calls("chat.postMessage")
    limited = [c for c in calls if c.status == 429]
    ok_slow = [c for c in calls if c.status == 200 and slow.request_id in json.dumps(c.params)]
    ok_fast = [c for c in calls if c.status == 200 and fast.request_id in json.dumps(c.params)]
    assert len(limited) >= 1
    assert len(ok_slow) == 1
    assert len(ok_fast) == 1
    assert ok_fast[0].at < ok_slow[0].at  # the other channel did not wait behind it
    assert ok_slow[0].at - limited[0].at >= 1.9  # Retry-After honoured
    assert (slow_msg.channel, fast_msg.channel) == ("C0SLOW", "C0APPROVALS")


def test_server_errors_are_retried(bot: BotProcess, fake: FakeSlack, agent: HITLClient):
    fake.fail("chat.postMessage", status=503, times=2, retry_after=None, channel="C0APPROVALS")
    ticket = agent.submit("Flaky", "flaky", {}, timeout=60)
    posted(fake, ticket.request_id, timeout=15)
    assert len([c for c in fake.calls("chat.postMessage") if c.status == 503]) >= 2


def test_slack_timeouts_are_retried(bot: BotProcess, fake: FakeSlack, agent: HITLClient):
    # Slack holds the call past the bot's 1 s timeout (HITL_SLACK_TIMEOUT in the harness).
    fake.fail("chat.postMessage", status=503, retry_after=None, delay=2.5, channel="C0APPROVALS")
    ticket = agent.submit("Slow Slack", "slowly", {}, timeout=60)
    posted(fake, ticket.request_id, timeout=15)
    held = [c for c in fake.calls("chat.postMessage") if ticket.request_id in json.dumps(c.params)]
    assert len(held) == 2  # the one that timed out, and the retry that posted


def test_request_that_cannot_be_posted_is_cancelled_with_the_reason(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    fake.fail(
        "chat.postMessage",
        status=200,
        error="restricted_action",
        retry_after=None,
        times=5,
        channel="C0DOOMED",
    )
    started = time.monotonic()
    decision = agent.request_approval("Doomed", "doomed_task", {}, timeout=120)
    assert decision.status is Status.CANCELLED
    assert decision.reason == (
        "could not be posted to Slack: gave up after 5 tries: chat.postMessage: restricted_action"
    )
    assert time.monotonic() - started < 30  # not at the 120 s deadline


def test_a_message_slack_refuses_is_cancelled_at_once_not_posted_again(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    fake.fail(
        "chat.postMessage",
        status=200,
        error="invalid_blocks",
        retry_after=None,
        times=5,
        channel="C0DOOMED",
    )
    ticket = agent.submit("Refused", "doomed_task", {}, timeout=120)
    decision = ticket.wait()
    assert decision.status is Status.CANCELLED
    assert decision.reason == "could not be posted to Slack: chat.postMessage: invalid_blocks"
    tries = [c for c in fake.calls("chat.postMessage") if ticket.request_id in json.dumps(c.params)]
    assert len(tries) == 1  # the same message would be refused the same way


def test_missing_channel_falls_back_to_the_default_with_a_note(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Lost", "lost_thing", {}, timeout=60)
    msg = posted(fake, ticket.request_id)
    assert msg.channel == "C0APPROVALS"
    assert "Could not post in C0MISSING (channel_not_found)" in block_text(msg.blocks)
    errors = [
        e.event()
        for e in read_entries(agent.store.redis, Keys(bot.prefix))
        if e.event().request_id == ticket.request_id and e.event().event == "error"
    ]
    assert errors
    assert "channel_not_found" in (errors[0].reason or "")
    assert "channel_not_found" in bot.logs()


def test_slash_command_help_and_pending_list(bot: BotProcess, fake: FakeSlack, agent: HITLClient):
    ticket = agent.submit("Listed request", "listed", {}, timeout=60)
    posted(fake, ticket.request_id)
    status, body = post_signed(
        bot.url, slash_command_body("help"), secret=SECRET, content_type=FORM
    )
    assert status == 200
    assert "/hitl pending" in body  # Bolt answers a text-only ack as plain text
    private = agent.submit("Finance only", "refund_private", {}, timeout=60)
    posted(fake, private.request_id)

    def pending_list(user: str) -> str:
        before = len(fake.ephemerals(user))
        status, body = post_signed(
            bot.url, slash_command_body("pending", user_id=user), secret=SECRET, content_type=FORM
        )
        assert (status, body) == (200, "")  # acked at once; the list follows on response_url
        fake.wait_until(lambda: len(fake.ephemerals(user)) > before)
        answer = fake.ephemerals(user)[-1]
        assert answer.via == "response_url"
        return block_text(answer.blocks)

    listed = pending_list("U0ALICE")
    assert "Listed request" in listed
    assert "Finance only" in listed  # U0ALICE approves finance
    listed = pending_list("U0BOB")
    assert "Listed request" in listed
    assert "Finance only" not in listed  # not shown to someone who may not decide it


def test_app_home_lists_pending_requests(bot: BotProcess, fake: FakeSlack, agent: HITLClient):
    ticket = agent.submit("Shown at home", "home_item", {}, timeout=60)
    posted(fake, ticket.request_id)
    status, _ = post_signed(
        bot.url,
        json.dumps(app_home_opened_body("U0HOME")),
        secret=SECRET,
        content_type="application/json",
    )
    assert status == 200
    fake.wait_until(lambda: bool(fake.published_views("U0HOME")))
    view = fake.published_views("U0HOME")[-1]
    assert view["type"] == "home"
    assert "Shown at home" in block_text(view["blocks"])


def test_health_endpoint(bot: BotProcess):
    assert bot.health() == 200


def test_click_on_a_message_after_the_request_is_gone(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Gone soon", "gone", {}, timeout=60)
    msg = posted(fake, ticket.request_id)
    # Once the bot has recorded its message (a request lost before that has it deleted).
    fake.wait_until(lambda: agent.get(ticket.request_id).message is not None)
    agent.store.redis.delete(Keys(bot.prefix).request(ticket.request_id))
    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0GONE"))
    fake.wait_until(lambda: any("no longer exists" in t for t in ephemeral_texts(fake, "U0GONE")))
    assert current(fake, msg).updates == 0


def test_an_expired_trigger_is_answered_200_and_the_person_told_to_click_again(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Trigger gone", "trigger_gone", {}, timeout=60)
    msg = posted(fake, ticket.request_id)
    fake.fail("views.open", status=200, error="expired_trigger_id", retry_after=None)
    status, body = bot.send(block_actions_body(msg, "hitl.reject", user_id="U0TRIG"))
    assert (status, body) == (200, "")
    fake.wait_until(
        lambda: any(t.endswith("Click Reject again.") for t in ephemeral_texts(fake, "U0TRIG"))
    )
    assert agent.get(ticket.request_id).status is Status.PENDING


def test_the_start_up_log_says_what_agents_may_choose(bot: BotProcess):
    line = next(json.loads(raw) for raw in bot.logs().splitlines() if '"routes_selectable"' in raw)
    assert (line["route_selectable"], line["channel_selectable"]) == ([], ["finance", "ops"])
