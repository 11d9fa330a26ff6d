"""Several people and the clock through the real bot: quorum, veto, edits, separation of
duties, what the deadline decides, and the snapshot a request keeps when the file changes.

The bot is ``hitl-slack serve`` in a subprocess with its own routes file; Slack is the fake at
the network edge; every click is a signed request built from the message the bot posted.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_text
from harness import BotProcess, posted, wait_updated
from policybot import Ear, click, counted, edit, events, fixtures, reject

from hitl_slack import HITLClient, Status

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


fake, module_prefix, bot, agent = fixtures("policy", ROUTES, groups={"S0CROWD": CROWD})


def test_two_of_three_approve_after_both_votes_naming_both(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    before = counted(bot, "voted")
    ticket = agent.submit("Wire €900 to ACME", "wire_transfer", {"eur": 900}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0B")
    click(bot, msg, "U0B")
    assert "1 of 2 approvals" in ear.told("Your approval is recorded")
    assert agent.get(ticket.request_id).status is Status.PENDING
    ear = Ear(fake, "U0B")
    click(bot, msg, "U0B")  # the same person again: told, not counted
    ear.told("You already voted")
    click(bot, msg, "U0A")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0B", "U0A"))
    assert [(v.who, v.what) for v in decision.votes] == [("U0B", "approve"), ("U0A", "approve")]
    wait_updated(fake, msg, "Approved")
    assert counted(bot, "voted") == before + 2  # the metric operators watch
    trail = events(bot, ticket.request_id)
    assert [e for e in trail if e[0] == "voted"] == [
        ("voted", "slack:U0B"),
        ("voted", "slack:U0A"),
    ]


def test_one_rejection_vetoes_a_quorum_request(bot: BotProcess, fake: FakeSlack, agent: HITLClient):
    ticket = agent.submit("Wire €1000", "wire_transfer", {"eur": 1000}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0A")
    click(bot, msg, "U0A")
    ear.told("Your approval is recorded")
    reject(bot, fake, msg, "U0C", "wrong IBAN")
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
    reject(bot, fake, msg, "U0A", "too high")
    ear.told("Your rejection is recorded")
    assert agent.get(ticket.request_id).status is Status.PENDING
    reject(bot, fake, msg, "U0B", "agreed")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.REJECTED, ("U0A", "U0B"))


def test_an_edit_is_a_vote_for_the_new_arguments_and_earlier_votes_no_longer_count(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Wire €700", "wire_transfer", {"eur": 700}, timeout=60)
    msg = posted(fake, ticket.request_id)
    ear = Ear(fake, "U0A")
    click(bot, msg, "U0A")
    ear.told("Your approval is recorded")
    ear = Ear(fake, "U0B")
    edit(bot, fake, msg, "U0B", {"eur": "650"})
    ear.told("Your approval is recorded")
    state = agent.get(ticket.request_id)
    assert (state.status, state.arguments) == (Status.PENDING, {"eur": 650})
    assert [v.who for v in state.approvals()] == ["U0B"]
    # A click carries the arguments its message showed: U0C votes on the message as edited.
    shown = wait_updated(fake, msg, "Edited by <@U0B>")
    click(bot, shown, "U0C")
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
        list(pool.map(lambda u: click(bot, msg, u), CROWD))
    decision = ticket.wait(timeout=15)
    assert decision.status is Status.APPROVED
    assert len(decision.decided_by) == 2
    assert set(decision.decided_by) <= set(CROWD)
    trail = events(bot, ticket.request_id)
    assert len([e for e in trail if e[0] == "voted"]) == 2
    assert len([e for e in trail if e[0] == "approved"]) == 1


def test_the_person_the_agent_acts_for_may_not_approve_but_mayreject(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit(
        "Expense €40", "own_expense", {"eur": 40}, requested_by="U0ALICE", timeout=60
    )
    msg = posted(fake, ticket.request_id)
    assert "U0ALICE" in block_text(msg.blocks)  # shown on the message
    ear = Ear(fake, "U0ALICE")
    click(bot, msg, "U0ALICE")
    ear.told("made on your behalf")
    assert ("unauthorized", "slack:U0ALICE") in events(bot, ticket.request_id)
    assert agent.get(ticket.request_id).status is Status.PENDING
    reject(bot, fake, msg, "U0ALICE", "not needed after all")
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
            click(second, msg, "U0A")
            ear.told("1 of 2 approvals")  # judged by the snapshot taken at the post
            assert agent.get(ticket.request_id).status is Status.PENDING
            click(second, msg, "U0C")
            assert ticket.wait(timeout=10).decided_by == ("U0A", "U0C")
        finally:
            second.stop()
    finally:
        agent.close()


def test_serve_refuses_every_bad_policy_value_at_start_naming_each(
    fake: FakeSlack, module_prefix: str, tmp_path: Any
):
    env = BotProcess(fake, f"{module_prefix}-bad", REDIS_URL).env()
    routes = tmp_path / "routes.toml"
    routes.write_text(
        """
[defaults]
channel = "C0APPROVALS"
timeout = "1h"

[[routes]]
name = "payments"
match = { action = "wire_*", risk = "high" }
approvers = ["U0A", "U0B"]
quorum = 3
reminders = ["2h"]

[[routes]]
name = "lenient"
match = { action = "noop_*" }
on_timeout = "approve"

[[routes]]
name = "typo"
match = { action = "typo_*" }
on_timeout = "maybe"
"""
    )
    env["HITL_ROUTES_FILE"] = str(routes)
    out = subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "serve", "--http"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    for problem in (
        'routes[0] "payments": quorum: 3 is more than the 2 people who can approve (U0A, U0B)',
        'routes[0] "payments": reminders[0]: 2h is not before the route',
        'routes[1] "lenient": on_timeout: "approve" would approve critical requests',
        'routes[2] "typo": on_timeout:',
    ):
        assert problem in out.stderr, out.stderr
