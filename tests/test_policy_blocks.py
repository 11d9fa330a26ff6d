"""What a request's stored policy adds to its Slack face: votes so far, an edit, escalation,
who asked, the "are you sure?" dialog, the typed confirmation, and the digest a click carries.
Pure: blocks built and checked against Slack's limits, no Slack, no Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_blocks import EVIL, check_message, check_view, mrkdwn_dump, texts

from hitl_slack.jsonvalues import digest
from hitl_slack.models import ApprovalRequest, Decision, RequestState, Risk, Status, Vote
from hitl_slack.policy import Level, Policy
from hitl_slack.slack import blocks as B
from hitl_slack.slack import confirming, editing, payloads, policyface

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = T0 + timedelta(seconds=60)
ARGS = {"env": "prod", "count": 3}


def request(**kwargs: Any) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "id": "req_1",
        "summary": "Deploy web",
        "action": "deploy.prod",
        "created_at": T0,
        "timeout": 300,
        "payload": ARGS,
    }
    return ApprovalRequest(**(fields | kwargs))


def policy(**kwargs: Any) -> Policy:
    return Policy(**({"channel": "C0APPROVALS"} | kwargs))


def state(pol: Policy | None, req: ApprovalRequest | None = None, **kwargs: Any) -> RequestState:
    return RequestState(request=req or request(), status=Status.PENDING, policy=pol, **kwargs)


def vote(who: str, what: str = "approve", args: dict[str, Any] = ARGS) -> Vote:
    return Vote.model_validate({"who": who, "what": what, "args_digest": digest(args), "at": T0})


def rendered(s: RequestState) -> dict[str, Any]:
    return check_message(B.approval_message(s, now=NOW))


def contexts(kwargs: dict[str, Any]) -> list[str]:
    return [b["elements"][0]["text"] for b in kwargs["blocks"] if b["type"] == "context"]


def approve_button(kwargs: dict[str, Any]) -> dict[str, Any]:
    button: dict[str, Any] = kwargs["blocks"][-1]["elements"][0]
    assert button["action_id"] == "hitl.approve"
    return button


# -- the votes so far -------------------------------------------------------------------------


TWO_OF_THREE = policy(quorum=2, approvers=("U0ALICE", "U0BOB", "S0FIN"))


def test_two_of_three_with_one_vote_names_who_approved_and_who_may_still() -> None:
    kwargs = rendered(state(TWO_OF_THREE, votes=(vote("U0ALICE"),)))
    assert contexts(kwargs)[-1] == (
        "*1 of 2 approvals:* ✅ <@U0ALICE> · waiting for 1 more from <@U0BOB>, <!subteam^S0FIN>"
    )
    assert kwargs["blocks"][-2]["type"] == "context"  # right above the buttons


def test_before_any_vote_the_line_says_who_may_approve() -> None:
    assert contexts(rendered(state(TWO_OF_THREE)))[-1] == (
        "*0 of 2 approvals:* waiting for 2 more from <@U0ALICE>, <@U0BOB>, <!subteam^S0FIN>"
    )
    # anyone in the channel may approve: nobody to name
    line = policyface.progress_line(state(policy(quorum=2)))
    assert line == "*0 of 2 approvals:* waiting for 2 more"


def test_the_person_the_agent_acts_for_is_not_waited_for_unless_self_approval() -> None:
    barred = policy(quorum=2, approvers=("U0ALICE", "U0BOB", "U0CAROL"), requested_by="U0BOB")
    line = policyface.progress_line(state(barred, votes=(vote("U0ALICE"),)))
    assert line == "*1 of 2 approvals:* ✅ <@U0ALICE> · waiting for 1 more from <@U0CAROL>"
    allowed = barred.model_copy(update={"self_approval": True})
    line = policyface.progress_line(state(allowed, votes=(vote("U0ALICE"),)))
    assert line is not None
    assert line.endswith("from <@U0BOB>, <@U0CAROL>")


def test_without_veto_rejections_are_counted_and_named() -> None:
    no_veto = policy(quorum=2, veto=False, approvers=("U0ALICE", "U0BOB", "U0CAROL"))
    line = policyface.progress_line(
        state(no_veto, votes=(vote("U0ALICE"), vote("U0BOB", "reject")))
    )
    assert line == (
        "*1 of 2 approvals:* ✅ <@U0ALICE> · waiting for 1 more from <@U0CAROL>"
        " · ❌ 1 rejection: <@U0BOB>"
    )


def test_votes_for_earlier_arguments_do_not_count_in_the_line() -> None:
    old = vote("U0ALICE", args={"env": "staging", "count": 3})
    line = policyface.progress_line(state(TWO_OF_THREE, votes=(old,)))
    assert line is not None
    assert line.startswith("*0 of 2 approvals:* waiting for 2 more from <@U0ALICE>")


def test_one_click_decides_so_no_progress_line() -> None:
    for pol in (None, policy(), policy(approvers=("U0ALICE",))):
        kwargs = rendered(state(pol))
        assert not any("approval" in c for c in contexts(kwargs))


def test_hostile_names_are_escaped_and_long_lists_are_capped() -> None:
    approvers = (*EVIL, *(f"U0P{i:03}" for i in range(30)))
    votes = tuple(vote(w) for w in ("<!here>", "U0P000"))
    kwargs = rendered(state(policy(quorum=40, approvers=approvers), votes=votes))
    line = contexts(kwargs)[-1]
    assert line.startswith("*2 of 40 approvals:* ✅ &lt;!here&gt;, <@U0P000> · waiting for 38 ")
    assert "&lt;!channel&gt;, &lt;@U1&gt;, &lt;http://evil|click&gt;" in line
    assert line.endswith(", <@U0P005> and 24 more")  # 8 named of the 32 not voted
    for raw in (*EVIL, "<!here>"):
        assert raw not in mrkdwn_dump(kwargs)


# -- an edit while votes are needed -----------------------------------------------------------


def test_edited_arguments_are_shown_with_who_edited_and_what_it_did() -> None:
    edited = {"env": "prod", "count": 5}
    s = state(
        TWO_OF_THREE,
        proposed=edited,
        votes=(vote("U0BOB"), vote("U0CAROL", args=edited)),
    )
    kwargs = rendered(s)
    assert "*count*\n5" in texts(kwargs["blocks"])
    assert "*count*\n3" not in texts(kwargs["blocks"])
    assert "✏️ Edited by <@U0CAROL>: votes for the earlier arguments no longer count" in contexts(
        kwargs
    )
    assert contexts(kwargs)[-1].startswith("*1 of 2 approvals:* ✅ <@U0CAROL> · ")
    assert kwargs["blocks"][-1]["block_id"] == "hitl.args:" + digest(edited)


# -- who asked, escalation ---------------------------------------------------------------------


def facts(kwargs: dict[str, Any]) -> list[str]:
    return [f["text"] for f in kwargs["blocks"][1]["fields"]]


def test_requested_by_is_the_resolved_user_else_the_request_text_escaped() -> None:
    resolved = state(policy(requested_by="U0ALICE"), request(requested_by="alice@example.com"))
    assert "*Requested by*\n<@U0ALICE>" in facts(rendered(resolved))
    unresolved = state(policy(), request(requested_by="alice@example.com"))
    assert "*Requested by*\nalice@example.com" in facts(rendered(unresolved))
    assert not any("Requested by" in f for f in facts(rendered(state(policy()))))


def test_an_escalated_request_says_where_and_who_can_now_decide() -> None:
    levels = (
        Level(after=60, channel="C0OPS", approvers=("U0CFO",)),
        Level(after=120, approvers=("S0EXEC",)),
    )
    pol = policy(approvers=("U0ALICE",), escalate=levels)
    assert "⬆️" not in json.dumps(rendered(state(pol)), ensure_ascii=False)
    assert "⬆️ Escalated to <#C0OPS> · <@U0CFO> can now decide" in contexts(
        rendered(state(pol, level=1))
    )
    assert policyface.escalated_line(state(pol, level=2)) == (
        "⬆️ Escalated to <#C0OPS> · <@U0CFO>, <!subteam^S0EXEC> can now decide"
    )
    only_people = policy(escalate=(Level(after=60, approvers=("U0CFO",)),))
    assert policyface.escalated_line(state(only_people, level=1)) == (
        "⬆️ Escalated: <@U0CFO> can now decide"
    )
    only_channel = policy(escalate=(Level(after=60, channel="C0OPS"),))
    assert policyface.escalated_line(state(only_channel, level=1)) == "⬆️ Escalated to <#C0OPS>"


# -- "are you sure?" and the typed confirmation --------------------------------------------


@pytest.mark.parametrize("risk", list(Risk))
@pytest.mark.parametrize("threshold", [None, *Risk])
def test_the_confirm_dialog_is_there_exactly_at_or_above_its_threshold(
    risk: Risk, threshold: Risk | None
) -> None:
    order = list(Risk)
    expected = threshold is not None and order.index(risk) >= order.index(threshold)
    button = approve_button(rendered(state(policy(confirm=threshold), request(risk=risk))))
    assert ("confirm" in button) is expected


def test_the_default_policy_confirms_high_risk_and_a_request_with_no_policy_never() -> None:
    high = request(risk=Risk.HIGH)
    button = approve_button(rendered(state(policy(), high)))
    assert button["confirm"] == {
        "title": {"type": "plain_text", "text": "Approve deploy.prod?", "emoji": True},
        "text": {
            "type": "mrkdwn",
            "text": "Approve `deploy.prod` (🟠 high risk)?\n*env*: prod\n*count*: 3",
        },
        "confirm": {"type": "plain_text", "text": "Approve", "emoji": True},
        "deny": {"type": "plain_text", "text": "Cancel", "emoji": True},
    }
    assert "confirm" not in approve_button(rendered(state(None, high)))
    assert "confirm" not in approve_button(rendered(state(policy(), request(risk=Risk.MEDIUM))))


def test_the_confirm_dialog_stays_within_slacks_limits_with_long_hostile_arguments() -> None:
    args = {f"{'&' * 40}{i}": "<!channel>" * 20 for i in range(30)} | {"nested": {"a": [1]}}
    long = request(risk=Risk.CRITICAL, action="x&" * 100, payload=args)
    kwargs = rendered(state(policy(), long))
    confirm = approve_button(kwargs)["confirm"]
    assert len(confirm["title"]["text"]) <= 100
    assert confirm["title"]["text"].endswith("…?")
    text = confirm["text"]["text"]
    assert len(text) <= 300
    assert text.endswith(" more arguments")
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


def test_the_dialog_counts_the_arguments_it_does_not_name() -> None:
    args = {"a": 1, "b": "two", "c": [3], "d": 4, "e": 5, "f": 6}
    text = policyface.dialog_text(request(payload=args), args)
    assert text == (
        "Approve `deploy.prod` (🟡 medium risk)?\n*a*: 1\n*b*: two\n*d*: 4\n*e*: 5"
        "\n… and 2 more arguments"
    )
    assert policyface.dialog_text(request(payload={}), {}) == (
        "Approve `deploy.prod` (🟡 medium risk)?"
    )


def test_a_typed_confirmation_is_announced_and_replaces_the_dialog() -> None:
    pol = policy(typed_confirm=Risk.HIGH)
    kwargs = rendered(state(pol, request(risk=Risk.CRITICAL, confirm_text="DROP & go")))
    assert contexts(kwargs)[-1] == "🔐 To approve, type `DROP &amp; go`"
    assert "confirm" not in approve_button(kwargs)
    below = rendered(state(pol, request(risk=Risk.MEDIUM)))
    assert not any("🔐" in c for c in contexts(below))
    assert confirming.typed_line(state(pol, request(risk=Risk.HIGH))) == (
        "🔐 To approve, type `deploy.prod`"  # no confirm_text: the action
    )


def test_the_confirm_modal_asks_for_the_value_and_only_the_exact_value_passes() -> None:
    s = state(policy(typed_confirm=Risk.HIGH), request(risk=Risk.HIGH, confirm_text="web-prod"))
    view = check_view(confirming.confirm_modal(s, private_metadata="{}"))
    assert view["callback_id"] == "hitl.confirm"
    typed = view["blocks"][-1]
    assert (typed["block_id"], typed["label"]["text"]) == ("hitl.typed", "Type web-prod to approve")

    def typed_as(text: str | None) -> dict[str, dict[str, dict[str, Any]]]:
        return {"hitl.typed": {"value": {"type": "plain_text_input", "value": text}}}

    assert confirming.mismatch(s, typed_as("  web-prod \n")) is None
    wrong = "That is not `web-prod`: nothing was approved"
    for text in ("Web-Prod", "web-prod!", "", None):
        assert confirming.mismatch(s, typed_as(text)) == wrong
    assert confirming.mismatch(s, {}) == wrong
    lower = state(policy(typed_confirm=Risk.CRITICAL), request(risk=Risk.HIGH))
    assert confirming.mismatch(lower, {}) is None  # below the threshold: nothing to type


def test_a_typed_input_in_a_full_edit_modal_keeps_the_100_block_limit() -> None:
    full = request(payload={f"k{i}": i for i in range(150)}, risk=Risk.HIGH)
    view = editing.edit_modal(full, private_metadata="{}", extra=[confirming.typed_input(full)])
    data = check_view(view)
    assert len(data["blocks"]) == 100
    assert data["blocks"][-1]["block_id"] == "hitl.typed"
    assert data["blocks"][-2]["elements"][0]["text"].endswith("are kept unchanged.")


# -- the digest a click carries -----------------------------------------------------------------


def click_body(block_id: str | None) -> dict[str, Any]:
    action = {"action_id": "hitl.approve", "value": "req_1", "type": "button"}
    if block_id is not None:
        action["block_id"] = block_id
    return {"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": [action]}


def test_a_click_carries_the_digest_of_the_arguments_its_message_showed() -> None:
    kwargs = rendered(state(policy()))
    block_id = kwargs["blocks"][-1]["block_id"]
    assert block_id == "hitl.args:" + digest(ARGS)
    assert payloads.click(click_body(block_id)).seen == digest(ARGS)


@pytest.mark.parametrize(
    "block_id", [None, "Xy1z", "hitl.args:", "hitl.args:" + "A" * 64, "hitl.args:" + "0" * 63]
)
def test_a_click_on_an_old_message_or_another_block_has_no_digest(block_id: str | None) -> None:
    click = payloads.click(click_body(block_id))
    assert (click.request_id, click.seen) == ("req_1", None)


def test_a_modal_carries_the_digest_back_and_old_metadata_reads_as_none() -> None:
    seen = digest(ARGS)

    def submitted(meta: str) -> payloads.Submission:
        view = {"private_metadata": meta, "state": {"values": {}}}
        return payloads.submission({"user": {"id": "U0ALICE"}, "view": view})

    assert submitted(payloads.metadata("req_1", "C0APPROVALS", seen=seen)).seen == seen
    assert submitted(payloads.metadata("req_1", "C0APPROVALS")).seen is None
    old = json.dumps({"id": "req_1", "channel": "C0APPROVALS"})
    assert submitted(old) == payloads.Submission("req_1", "U0ALICE", "C0APPROVALS", {}, None)
    forged = json.dumps({"id": "req_1", "channel": None, "seen": "<@U1>"})
    assert submitted(forged).seen is None


# -- once decided ------------------------------------------------------------------------------


def decided(status: Status, **kwargs: Any) -> RequestState:
    decision = Decision.model_validate(
        {"request_id": "req_1", "status": status, "decided_at": T0, "payload": ARGS, **kwargs}
    )
    return RequestState(request=request(), status=status, decision=decision, policy=TWO_OF_THREE)


def outcome(s: RequestState) -> str:
    text: str = check_message(B.decided_message(s))["blocks"][-1]["text"]["text"]
    return text


def test_a_quorum_approval_names_the_approvers_in_order() -> None:
    votes = (vote("U0BOB"), vote("U0ALICE"))
    s = decided(Status.APPROVED, decided_by=("U0BOB", "U0ALICE"), votes=votes)
    assert outcome(s).startswith("✅ *Approved* by <@U0BOB>, <@U0ALICE> · <!date^")
    kwargs = check_message(B.decided_message(s))
    assert kwargs["blocks"][-1]["type"] == "section"  # no buttons, no progress line
    assert not any("approvals:" in t for t in texts(kwargs["blocks"]))


def test_decisions_of_the_clock_read_as_automatic_with_their_reason() -> None:
    rejected = outcome(decided(Status.REJECTED, reason="no decision before the deadline"))
    assert rejected.startswith("❌ *Rejected* automatically · <!date^")
    assert rejected.endswith("\n> no decision before the deadline")
    why = 'approved by policy: no decision before the deadline (route ops: on_timeout = "approve")'
    approved = outcome(decided(Status.APPROVED, reason=why))
    assert approved.startswith("✅ *Approved* automatically · <!date^")
    assert approved.endswith("\n> " + why)


def test_every_policy_line_with_a_huge_payload_stays_within_the_message_limits() -> None:
    levels = tuple(Level(after=60 * (i + 1), channel=f"C0L{i}", approvers=EVIL) for i in range(9))
    pol = policy(quorum=20, veto=False, approvers=EVIL, escalate=levels, typed_confirm=Risk.LOW)
    huge = {f"k{i}": "v" * 200 for i in range(500)}
    s = state(
        pol,
        request(payload=ARGS, risk=Risk.HIGH, details="d" * 20_000),
        proposed=huge,
        level=9,
        votes=tuple(vote(f"U0V{i:03}", "approve" if i % 2 else "reject", huge) for i in range(30)),
    )
    kwargs = rendered(s)
    starts = ("✏️ Edited by <@U0V001>", "*15 of 20 approvals:* ✅ ", "⬆️ Escalated to ", "🔐 ")
    assert [c.startswith(w) for c, w in zip(contexts(kwargs)[-4:], starts, strict=True)] == [
        True
    ] * 4
    assert any(c.startswith("… and ") for c in contexts(kwargs))  # the payload cut visibly
    for raw in EVIL:
        assert raw not in mrkdwn_dump(kwargs)
