"""The policy's face through the real bot: the "are you sure?" dialog, the typed confirmation,
the votes shown on the message and the digest each click carries, the Edit of the person the
agent acts for.

The bot is ``hitl-slack serve`` in a subprocess with its own routes file; Slack is the fake at
the network edge; every click and submission is a signed request built from what the bot
posted or opened.
"""

from __future__ import annotations

import json
from typing import Any

from fakeslack import (
    FakeSlack,
    find_button,
    view_submission_body,
)
from harness import BotProcess, current, posted, wait_updated
from policybot import Ear, click, fixtures, opened

from hitl_slack import HITLClient, Status

ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "danger"
match = { action = "drop_*" }
channel = "C0DANGER"
approvers = ["U0ALICE", "U0BOB"]
typed_confirm = "high"

[[routes]]
name = "pair"
match = { action = "pay_*" }
channel = "C0PAY"
approvers = ["U0ALICE", "U0BOB", "S0FIN"]
quorum = 2

[[routes]]
name = "own"
match = { action = "own_*" }
channel = "C0OWN"
approvers = ["U0ALICE", "U0BOB"]
"""


fake, module_prefix, bot, agent = fixtures("confirm", ROUTES, groups={"S0FIN": ["U0CAROL"]})


def _typed(text: str) -> dict[str, Any]:
    return {"hitl.typed": {"value": {"type": "plain_text_input", "value": text}}}


def test_a_typed_confirmation_approves_only_with_the_exact_value(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
) -> None:
    ticket = agent.submit(
        "Drop the users table", "drop_table", {"table": "users"}, risk="high", timeout=60
    )
    rid = ticket.request_id
    msg = posted(fake, rid)
    assert "🔐 To approve, type `drop_table`" in json.dumps(msg.blocks, ensure_ascii=False)
    approve = find_button(msg.blocks, "hitl.approve")
    assert approve is not None
    assert "confirm" not in approve  # the modal is the confirmation
    before = len(fake.calls("views.open"))
    click(bot, msg, "U0ALICE")
    view = opened(fake, rid, before)
    assert view["callback_id"] == "hitl.confirm"
    assert view["blocks"][-1]["label"]["text"] == "Type drop_table to approve"
    assert agent.get(rid).status is Status.PENDING  # the click approved nothing

    status, body = bot.send(view_submission_body(view, _typed("DROP_TABLE"), user_id="U0ALICE"))
    assert status == 200
    assert json.loads(body) == {
        "response_action": "errors",
        "errors": {"hitl.typed": "That is not `drop_table`: nothing was approved"},
    }
    assert agent.get(rid).status is Status.PENDING

    typed = view_submission_body(view, _typed(" drop_table "), user_id="U0ALICE")
    assert bot.send(typed) == (200, "")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0ALICE",))
    wait_updated(fake, msg, "Approved")


def test_a_typed_confirmation_cannot_be_skipped_by_an_edit_or_a_forged_modal(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
) -> None:
    ticket = agent.submit(
        "Drop a table", "drop_rows", {"table": "logs"}, risk="critical", confirm_text="logs"
    )
    rid = ticket.request_id
    msg = posted(fake, rid)
    before = len(fake.calls("views.open"))
    click(bot, msg, "U0BOB", "hitl.edit")
    view = opened(fake, rid, before)
    assert view["callback_id"] == "hitl.edit_modal"
    assert view["blocks"][-1]["block_id"] == "hitl.typed"
    edited = {"field:0": {"value": {"type": "plain_text_input", "value": "old_logs"}}}
    status, body = bot.send(view_submission_body(view, edited, user_id="U0BOB"))  # no value
    assert status == 200
    assert json.loads(body)["errors"] == {"hitl.typed": "That is not `logs`: nothing was approved"}
    # The edit modal resubmitted as a confirm modal, typed with the label's value: the stored
    # request's value is asked all the same.
    forged = {**view, "callback_id": "hitl.confirm"}
    status, body = bot.send(view_submission_body(forged, _typed("drop_rows"), user_id="U0BOB"))
    assert json.loads(body)["errors"] == {"hitl.typed": "That is not `logs`: nothing was approved"}
    assert agent.get(rid).status is Status.PENDING

    assert bot.send(view_submission_body(view, edited | _typed("logs"), user_id="U0BOB")) == (
        200,
        "",
    )
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.payload, decision.decided_by) == (
        Status.APPROVED,
        {"table": "old_logs"},
        ("U0BOB",),
    )


def test_a_high_risk_approve_asks_are_you_sure_and_a_lower_one_does_not(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
) -> None:
    high = agent.submit("Restart api", "restart", {"service": "api"}, risk="high", timeout=60)
    low = agent.submit("Restart docs", "restart", {"service": "docs"}, risk="low", timeout=60)
    approve = find_button(posted(fake, high.request_id).blocks, "hitl.approve")
    assert approve is not None
    assert approve["confirm"]["text"]["text"] == (
        "Approve `restart` (🟠 high risk)?\n*service*: api"
    )
    assert "confirm" not in (find_button(posted(fake, low.request_id).blocks, "hitl.approve") or {})
    click(bot, posted(fake, high.request_id), "U0DAVE")  # Slack asked; the click approves
    assert high.wait(timeout=10).status is Status.APPROVED


def test_the_message_shows_the_votes_and_a_click_on_arguments_edited_since_is_refused(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
) -> None:
    ticket = agent.submit("Pay ACME", "pay_invoice", {"eur": 700}, timeout=60)
    rid = ticket.request_id
    msg = posted(fake, rid)
    assert "*0 of 2 approvals:* waiting for 2 more from <@U0ALICE>, <@U0BOB>, <!subteam^S0FIN>" in (
        json.dumps(msg.blocks, ensure_ascii=False)
    )
    click(bot, msg, "U0ALICE")
    shown = wait_updated(fake, msg, "1 of 2 approvals")
    assert "*1 of 2 approvals:* ✅ <@U0ALICE> · waiting for 1 more from <@U0BOB>, " in (
        json.dumps(shown.blocks, ensure_ascii=False)
    )

    before = len(fake.calls("views.open"))
    click(bot, shown, "U0BOB", "hitl.edit")
    view = opened(fake, rid, before)
    edited = {"field:0": {"value": {"type": "plain_text_input", "value": "650"}}}
    assert bot.send(view_submission_body(view, edited, user_id="U0BOB")) == (200, "")
    fake.wait_until(lambda: "Edited by <@U0BOB>" in json.dumps(current(fake, msg).blocks))

    ear = Ear(fake, "U0CAROL")
    click(bot, shown, "U0CAROL")  # the message as it was before the edit: €700
    ear.told("The arguments were edited after this message showed them")
    assert agent.get(rid).status is Status.PENDING
    click(bot, current(fake, msg), "U0CAROL")  # as it shows now: €650
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.payload, decision.decided_by) == (
        Status.APPROVED,
        {"eur": 650},
        ("U0BOB", "U0CAROL"),
    )


def test_the_person_the_agent_acts_for_may_not_edit_and_approve(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
) -> None:
    ticket = agent.submit(
        "Expense €40", "own_expense", {"eur": 40}, requested_by="U0ALICE", timeout=60
    )
    msg = posted(fake, ticket.request_id)
    facts = [f["text"] for f in msg.blocks[1]["fields"]]
    assert "*Requested by*\n<@U0ALICE>" in facts
    before, ear = len(fake.calls("views.open")), Ear(fake, "U0ALICE")
    click(bot, msg, "U0ALICE", "hitl.edit")
    ear.told("made on your behalf")
    assert [
        c for c in fake.calls("views.open")[before:] if ticket.request_id in str(c.params)
    ] == []
    assert agent.get(ticket.request_id).status is Status.PENDING


def test_an_edit_form_opened_before_another_approvers_edit_records_nothing(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
) -> None:
    ticket = agent.submit("Pay Initech", "pay_invoice", {"eur": 800}, timeout=60)
    rid = ticket.request_id
    msg = posted(fake, rid)
    forms = {}
    for user in ("U0BOB", "U0ALICE"):
        before = len(fake.calls("views.open"))
        click(bot, msg, user, "hitl.edit")
        forms[user] = opened(fake, rid, before)

    def typed(eur: str) -> dict[str, Any]:
        return {"field:0": {"value": {"type": "plain_text_input", "value": eur}}}

    ear = Ear(fake, "U0ALICE")
    assert bot.send(view_submission_body(forms["U0ALICE"], typed("750"), user_id="U0ALICE")) == (
        200,
        "",
    )
    ear.told("Your approval is recorded")  # a vote for €750
    status, body = bot.send(view_submission_body(forms["U0BOB"], typed("720"), user_id="U0BOB"))
    answer = json.loads(body)
    assert (status, answer["response_action"]) == (200, "update")
    assert "The arguments were edited after this message showed them" in json.dumps(answer)
    state = agent.get(rid)
    assert (state.status, state.arguments, [v.who for v in state.votes]) == (
        Status.PENDING,
        {"eur": 750},
        ["U0ALICE"],
    )
