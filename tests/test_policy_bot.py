"""Several people and the clock through the real bot: quorum, veto, edits, separation of
duties, what the deadline decides, and the snapshot a request keeps when the file changes.

The bot is ``hitl-slack serve`` in a subprocess with its own routes file; Slack is the fake at
the network edge; every click is a signed request built from the message the bot posted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_actions_body, block_text, view_submission_body
from harness import BotProcess, ephemeral_texts, posted, wait_updated

from hitl_slack import HITLClient, Status
from hitl_slack.audit.trail import read_entries
from hitl_slack.keys import Keys

CROWD = [f"U0P{i:02d}" for i in range(20)]

ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "payments"
match = { action = "wire_*" }
channel = "C0FINANCE"
approvers = ["U0A", "U0B", "U0C"]
quorum = 2

[[routes]]
name = "board"
match = { action = "board_*" }
channel = "C0BOARD"
approvers = ["U0A", "U0B", "U0C"]
quorum = 2
veto = false

[[routes]]
name = "crowd"
match = { action = "crowd_*" }
channel = "C0CROWD"
approvers = ["S0CROWD"]
quorum = 2

[[routes]]
name = "own"
match = { action = "own_*" }
channel = "C0OWN"
approvers = ["U0ALICE", "U0BOB"]

[[routes]]
name = "lapse-reject"
match = { action = "lapse_reject" }
channel = "C0LAPSE"
on_timeout = "reject"

[[routes]]
name = "lapse-approve"
match = { action = "lapse_approve", risk = ["low", "medium"] }
channel = "C0LAPSE"
on_timeout = "approve"
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.usergroups["S0CROWD"] = CROWD
        yield f


@pytest.fixture(scope="module")
def module_prefix() -> Iterator[str]:
    name = f"test-policy-{uuid.uuid4().hex[:10]}"
    yield name
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(match=f"{name}:*", count=1000):
        r.delete(key)
    r.close()


@pytest.fixture(scope="module")
def bot(fake: FakeSlack, module_prefix: str) -> Iterator[BotProcess]:
    b = BotProcess(fake, module_prefix, REDIS_URL, routes=ROUTES).start()
    yield b
    assert b.stop() == 0, b.logs()


@pytest.fixture
def agent(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


def _click(bot: BotProcess, message: Any, user: str, action: str = "hitl.approve") -> None:
    status, _ = bot.send(block_actions_body(message, action, user_id=user))
    assert status == 200


class Ear:
    """What one person is told from now on (the bot's ephemeral answers)."""

    def __init__(self, fake: FakeSlack, user: str) -> None:
        self.fake, self.user = fake, user
        self.before = len(ephemeral_texts(fake, user))

    def told(self, text: str) -> str:
        """The first thing said since, containing ``text`` (waits for it)."""

        def said() -> list[str]:
            return [t for t in ephemeral_texts(self.fake, self.user)[self.before :] if text in t]

        self.fake.wait_until(lambda: bool(said()), timeout=10)
        return said()[0]


def _reject(bot: BotProcess, fake: FakeSlack, message: Any, user: str, reason: str) -> None:
    rid = message.metadata["event_payload"]["request_id"]
    before = len(fake.calls("views.open"))
    _click(bot, message, user, "hitl.reject")
    fake.wait_until(lambda: len(fake.calls("views.open")) > before, timeout=10)
    call = [c for c in fake.calls("views.open") if rid in json.dumps(c.params)][-1]
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
    status, _ = bot.send(view_submission_body(call.response["view"], values, user_id=user))
    assert status == 200


def _edit(bot: BotProcess, fake: FakeSlack, message: Any, user: str, changes: dict[str, str]):
    rid = message.metadata["event_payload"]["request_id"]
    before = len(fake.calls("views.open"))
    _click(bot, message, user, "hitl.edit")
    fake.wait_until(lambda: len(fake.calls("views.open")) > before, timeout=10)
    view = [c for c in fake.calls("views.open") if rid in json.dumps(c.params)][-1].response["view"]
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            text = changes.get(block["label"]["text"], block["element"].get("initial_value"))
            values[block["block_id"]] = {"value": {"type": "plain_text_input", "value": text}}
    status, _ = bot.send(view_submission_body(view, values, user_id=user))
    assert status == 200


def _events(bot: BotProcess, rid: str) -> list[tuple[str, str]]:
    r = redis.Redis.from_url(bot.redis_url, decode_responses=True)
    try:
        entries = read_entries(r, Keys(bot.prefix))
    finally:
        r.close()
    events = [e.event() for e in entries]
    return [(e.event, e.actor) for e in events if e.request_id == rid]


def test_two_of_three_approve_after_both_votes_naming_both(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Wire €900 to ACME", "wire_transfer", {"eur": 900}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0B")
    _click(bot, msg, "U0B")
    assert "1 of 2 approvals" in ear.told("Your approval is recorded")
    assert agent.get(ticket.request_id).status is Status.PENDING
    ear = Ear(fake, "U0B")
    _click(bot, msg, "U0B")  # the same person again: told, not counted
    ear.told("You already voted")
    _click(bot, msg, "U0A")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0B", "U0A"))
    assert [(v.who, v.what) for v in decision.votes] == [("U0B", "approve"), ("U0A", "approve")]
    wait_updated(fake, msg, "Approved")
    events = _events(bot, ticket.request_id)
    assert [e for e in events if e[0] == "voted"] == [
        ("voted", "slack:U0B"),
        ("voted", "slack:U0A"),
    ]


def test_one_rejection_vetoes_a_quorum_request(bot: BotProcess, fake: FakeSlack, agent: HITLClient):
    ticket = agent.submit("Wire €1000", "wire_transfer", {"eur": 1000}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0A")
    _click(bot, msg, "U0A")
    ear.told("Your approval is recorded")
    _reject(bot, fake, msg, "U0C", "wrong IBAN")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by, decision.reason) == (
        Status.REJECTED,
        ("U0C",),
        "wrong IBAN",
    )


def test_without_veto_rejections_decide_once_approval_is_out_of_reach(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    # 3 may approve, 2 must: one rejection leaves 2 who could still approve; two do not.
    ticket = agent.submit("Board vote", "board_dividend", {"eur": 5}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0A")
    _reject(bot, fake, msg, "U0A", "too high")
    ear.told("Your rejection is recorded")
    assert agent.get(ticket.request_id).status is Status.PENDING
    _reject(bot, fake, msg, "U0B", "agreed")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.REJECTED, ("U0A", "U0B"))


def test_an_edit_is_a_vote_for_the_new_arguments_and_earlier_votes_no_longer_count(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Wire €700", "wire_transfer", {"eur": 700}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0A")
    _click(bot, msg, "U0A")
    ear.told("Your approval is recorded")
    ear = Ear(fake, "U0B")
    _edit(bot, fake, msg, "U0B", {"eur": "650"})
    ear.told("Your approval is recorded")
    state = agent.get(ticket.request_id)
    assert (state.status, state.arguments) == (Status.PENDING, {"eur": 650})
    assert [v.who for v in state.approvals()] == ["U0B"]
    _click(bot, msg, "U0C")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.payload, decision.edited, decision.decided_by) == (
        Status.APPROVED,
        {"eur": 650},
        True,
        ("U0B", "U0C"),
    )


def test_twenty_approvers_clicking_at_once_give_one_approval_by_two(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Crowd", "crowd_release", {"v": 1}, timeout=60)
    msg = posted(fake, ticket.request_id)
    with ThreadPoolExecutor(len(CROWD)) as pool:
        list(pool.map(lambda u: _click(bot, msg, u), CROWD))
    decision = ticket.wait(timeout=15)
    assert decision.status is Status.APPROVED
    assert len(decision.decided_by) == 2
    assert set(decision.decided_by) <= set(CROWD)
    events = _events(bot, ticket.request_id)
    assert len([e for e in events if e[0] == "voted"]) == 2
    assert len([e for e in events if e[0] == "approved"]) == 1


def test_the_person_the_agent_acts_for_may_not_approve_but_may_reject(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit(
        "Expense €40", "own_expense", {"eur": 40}, requested_by="U0ALICE", timeout=60
    )
    msg = posted(fake, ticket.request_id)
    assert "U0ALICE" in block_text(msg.blocks)  # shown on the message
    ear = Ear(fake, "U0ALICE")
    _click(bot, msg, "U0ALICE")
    ear.told("made on your behalf")
    assert ("unauthorized", "slack:U0ALICE") in _events(bot, ticket.request_id)
    assert agent.get(ticket.request_id).status is Status.PENDING
    _reject(bot, fake, msg, "U0ALICE", "not needed after all")
    assert ticket.wait(timeout=10).status is Status.REJECTED


@pytest.mark.parametrize(
    ("action", "risk", "status", "reason"),
    [
        ("lapse_reject", "high", Status.REJECTED, "no decision before the deadline"),
        ("lapse_approve", "low", Status.APPROVED, "approved by policy"),
        ("lapse_expire", "low", Status.EXPIRED, "no decision before the deadline"),
    ],
)
def test_the_deadline_decides_what_the_route_says(
    bot: BotProcess,
    fake: FakeSlack,
    agent: HITLClient,
    action: str,
    risk: str,
    status: Status,
    reason: str,
):
    ticket = agent.submit("Lapse", action, {"n": 1}, risk=risk, timeout=1.5)
    msg = posted(fake, ticket.request_id)
    decision = ticket.wait(timeout=15)
    assert decision.status is status
    assert reason in (decision.reason or "")
    assert decision.decided_by == ()
    wait_updated(
        fake, msg, {Status.REJECTED: "Rejected", Status.APPROVED: "Approved"}.get(status, "Expired")
    )


def test_a_request_keeps_its_policy_when_the_routes_file_changes(
    fake: FakeSlack, module_prefix: str
):
    prefix = f"{module_prefix}-snapshot"
    first = BotProcess(fake, prefix, REDIS_URL, routes=ROUTES).start()
    agent = HITLClient(REDIS_URL, prefix)
    try:
        ticket = agent.submit("Wire €300", "wire_transfer", {"eur": 300}, timeout=60)
        msg = posted(fake, ticket.request_id)
        first.stop()
        # The operator lowers the bar to one approver and restarts the bot.
        lowered = ROUTES.replace("quorum = 2", "quorum = 1")
        second = BotProcess(fake, prefix, REDIS_URL, routes=lowered).start()
        try:
            ear = Ear(fake, "U0A")
            _click(second, msg, "U0A")
            ear.told("1 of 2 approvals")  # judged by the snapshot taken at the post
            assert agent.get(ticket.request_id).status is Status.PENDING
            _click(second, msg, "U0C")
            assert ticket.wait(timeout=10).decided_by == ("U0A", "U0C")
        finally:
            second.stop()
    finally:
        agent.close()
