"""Several people and the clock, in the decision core against a real Redis: quorum votes bound
to the arguments' digest, veto and its absence, edits, separation of duties, escalation levels,
what the deadline decides, and the timers a post sets.

Like test_decisions.py, the core reads user groups through its ``Directory`` seam over a dict;
the whole path through the real bot and the fake Slack is in test_policy_bot.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
from conftest import REDIS_URL

from hitl_slack import AsyncHITLClient
from hitl_slack.audit.trail import dataset_rows, read_entries
from hitl_slack.decisions import AlreadyDecided, Decided, Decisions, Refused, Voted, Why
from hitl_slack.errors import SlackError
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.models import (
    ApprovalRequest,
    AuditEvent,
    Decision,
    MessageRef,
    QuestionRequest,
    RequestState,
    Risk,
    Status,
    Vote,
    digest,
)
from hitl_slack.policy import Level, Offset, Policy
from hitl_slack.quorum import reject_threshold, settlement, who_may_approve

TWO_OF_THREE = Policy(route="payments", channel="C0FIN", approvers=("U0A", "U0B", "U0C"), quorum=2)


class Groups:
    """A directory over a dict (the Slack gateway is the real one, in the bot tests)."""

    def __init__(self, members: dict[str, frozenset[str]] | None = None) -> None:
        self.members = members or {}

    async def group_members(self, group_id: str, *, retry: bool) -> frozenset[str]:
        if group_id not in self.members:
            raise SlackError("usergroups.users.list", "no_such_subteam")
        return self.members[group_id]


def _core(astore: AsyncStore, **groups: frozenset[str]) -> Decisions:
    return Decisions(astore, Groups(dict(groups)))


async def _posted(
    astore: AsyncStore, policy: Policy = TWO_OF_THREE, timeout: float = 60, **fields: Any
) -> str:
    request = ApprovalRequest(
        summary="Wire", action="wire_transfer", timeout=timeout, payload={"eur": 900}, **fields
    )
    state, _ = await astore.create(request)
    await astore.mark_posted(state, MessageRef(channel=policy.channel, ts="1.000001"), policy)
    return request.id


async def _events(astore: AsyncStore, request_id: str) -> list[AuditEvent]:
    entries = await astore.redis.xrange(astore.config.keys.audit)
    events = [AuditEvent.model_validate_json(f["body"]) for _, f in entries]
    return [e for e in events if e.request_id == request_id]


def _decision(answer: object) -> Decision:
    assert isinstance(answer, Decided), answer
    return answer.decision


# -- quorum -----------------------------------------------------------------------------------


async def test_two_of_three_approve_with_both_voters_in_order(astore: AsyncStore) -> None:
    core = _core(astore)
    rid = await _posted(astore)
    first = await core.approve(rid, "U0B")
    assert first == Voted("approve", 1, 0, 2)
    assert (await astore.get(rid)).pending
    decision = _decision(await core.approve(rid, "U0A"))
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0B", "U0A"))
    assert [(v.who, v.what, v.args_digest) for v in decision.votes] == [
        ("U0B", "approve", digest({"eur": 900})),
        ("U0A", "approve", digest({"eur": 900})),
    ]
    events = [(e.event, e.actor) for e in await _events(astore, rid)]
    assert events[-3:] == [
        ("voted", "slack:U0B"),
        ("voted", "slack:U0A"),
        ("approved", "slack:U0B,slack:U0A"),
    ]
    approved = (await _events(astore, rid))[-1]
    assert [v["who"] for v in approved.data["votes"]] == ["U0B", "U0A"]


async def test_the_same_person_voting_twice_is_told_and_counted_once(astore: AsyncStore) -> None:
    core = _core(astore)
    rid = await _posted(astore)
    await core.approve(rid, "U0A")
    assert await core.approve(rid, "U0A") == Refused(Why.ALREADY_VOTED)
    state = await astore.get(rid)
    assert state.pending
    assert [v.who for v in state.votes] == ["U0A"]


async def test_a_veto_rejects_at_once_naming_what_it_overrode(astore: AsyncStore) -> None:
    core = _core(astore)
    rid = await _posted(astore)
    await core.approve(rid, "U0A")
    decision = _decision(await core.reject(rid, "U0C", "not this week"))
    assert (decision.status, decision.decided_by, decision.reason) == (
        Status.REJECTED,
        ("U0C",),
        "not this week",
    )
    assert [(v.who, v.what) for v in decision.votes] == [("U0A", "approve"), ("U0C", "reject")]


async def test_without_veto_rejection_needs_approval_out_of_reach(astore: AsyncStore) -> None:
    # 3 people may approve, 2 must: 2 rejections leave 1, and 2 approvals are out of reach.
    core = _core(astore)
    rid = await _posted(astore, TWO_OF_THREE.model_copy(update={"veto": False}))
    assert await core.reject(rid, "U0A", "too much") == Voted("reject", 0, 1, 2)
    assert (await astore.get(rid)).pending
    decision = _decision(await core.reject(rid, "U0B", "and late"))
    assert (decision.status, decision.decided_by, decision.reason) == (
        Status.REJECTED,
        ("U0A", "U0B"),
        "too much; and late",
    )


async def test_without_veto_one_rejection_and_two_approvals_approve(astore: AsyncStore) -> None:
    core = _core(astore)
    rid = await _posted(astore, TWO_OF_THREE.model_copy(update={"veto": False}))
    await core.reject(rid, "U0A", None)
    await core.approve(rid, "U0B")
    decision = _decision(await core.approve(rid, "U0C"))
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0B", "U0C"))


def test_no_veto_arithmetic() -> None:
    policy = TWO_OF_THREE.model_copy(update={"veto": False})
    five = frozenset({"U1", "U2", "U3", "U4", "U5"})
    assert reject_threshold(policy, 0, five) == 4  # 5 - 2 + 1
    assert reject_threshold(policy.model_copy(update={"quorum": 5}), 0, five) == 1
    assert reject_threshold(policy, 0, None) == 2  # anyone may decide: as many as approve
    levels = policy.model_copy(update={"escalate": (Level(after=60, approvers=("U9",)),)})
    assert reject_threshold(levels, 0, five) == 0  # final only after the last level
    assert reject_threshold(levels, 1, five) == 4
    asked = policy.model_copy(update={"requested_by": "U1"})
    assert who_may_approve(asked, five) == five - {"U1"}
    assert who_may_approve(asked.model_copy(update={"self_approval": True}), five) == five


async def test_an_edit_is_the_editors_vote_and_earlier_votes_no_longer_count(
    astore: AsyncStore,
) -> None:
    core = _core(astore)
    rid = await _posted(astore)
    old = digest({"eur": 900})
    await core.approve(rid, "U0A", seen=old)
    assert await core.approve_edited(rid, "U0B", {"eur": 500}) == Voted("approve", 1, 0, 2)
    state = await astore.get(rid)
    assert state.arguments == {"eur": 500}
    assert [v.who for v in state.approvals()] == ["U0B"]  # U0A's was for 900
    # A click on a message still showing 900 is not a vote for 500.
    assert await core.approve(rid, "U0C", seen=old) == Refused(Why.STALE_ARGUMENTS)
    decision = _decision(await core.approve(rid, "U0A", seen=digest({"eur": 500})))
    assert (decision.payload, decision.edited, decision.decided_by) == (
        {"eur": 500},
        True,
        ("U0B", "U0A"),
    )


async def test_twenty_approvers_at_once_give_one_approval_by_exactly_two(
    astore: AsyncStore,
) -> None:
    people = tuple(f"U0P{i:02d}" for i in range(20))
    policy = Policy(channel="C0FIN", approvers=people, quorum=2)
    core = _core(astore)
    rid = await _posted(astore, policy)
    answers = await asyncio.gather(*(core.approve(rid, p) for p in people))
    state = await astore.get(rid)
    assert state.decision is not None
    assert state.decision.status is Status.APPROVED
    assert len(state.decision.decided_by) == 2
    assert [v.who for v in state.votes] == list(state.decision.decided_by)
    decided = [a for a in answers if isinstance(a, Decided)]
    assert {a.decision.decided_at for a in decided} == {state.decision.decided_at}
    assert all(isinstance(a, Decided | AlreadyDecided | Voted) for a in answers)
    approvals = [e for e in await _events(astore, rid) if e.event == "approved"]
    assert len(approvals) == 1


# -- separation of duties and escalation ------------------------------------------------------


async def test_the_person_the_agent_acts_for_may_reject_but_not_approve(
    astore: AsyncStore,
) -> None:
    policy = Policy(channel="C0FIN", approvers=("U0ALICE", "U0BOB"), requested_by="U0ALICE")
    core = _core(astore)
    rid = await _posted(astore, policy)
    assert await core.approve(rid, "U0ALICE") == Refused(Why.SELF_APPROVAL)
    assert await core.approve_edited(rid, "U0ALICE", {"eur": 1}) == Refused(Why.SELF_APPROVAL)
    assert await core.check(rid, "U0ALICE", approving=True) == Refused(Why.SELF_APPROVAL)
    refused = [e for e in await _events(astore, rid) if e.event == "unauthorized"]
    assert {e.reason for e in refused} == {
        "may not approve a request made on their behalf (self_approval = false)"
    }
    assert _decision(await core.reject(rid, "U0ALICE", "changed my mind")).status is (
        Status.REJECTED
    )


async def test_self_approval_true_lets_them_approve(astore: AsyncStore) -> None:
    policy = Policy(
        channel="C0FIN", approvers=("U0ALICE",), requested_by="U0ALICE", self_approval=True
    )
    rid = await _posted(astore, policy)
    assert _decision(await _core(astore).approve(rid, "U0ALICE")).approved


async def test_an_escalation_level_adds_its_approvers_and_keeps_the_earlier_ones(
    astore: AsyncStore,
) -> None:
    policy = Policy(
        channel="C0FIN",
        approvers=("U0A",),
        escalate=(Level(after=60, approvers=("S0OPS",)), Level(after=120, approvers=("U0CFO",))),
    )
    core = _core(astore, S0OPS=frozenset({"U0OPS"}))
    rid = await _posted(astore, policy)
    assert await core.approve(rid, "U0CFO") == Refused(Why.NOT_APPROVER)
    event = AuditEvent(event="escalated", request_id=rid, actor="clock", data={"level": 2})
    assert await astore.advance(rid, "level", 2, event) == "ok"
    assert await astore.advance(rid, "level", 1, event) == "done"  # levels only go up
    state = await astore.get(rid)
    assert state.level == 2
    assert await core.may_decide(state, "U0OPS", {}) is True
    assert _decision(await core.approve(rid, "U0CFO")).decided_by == ("U0CFO",)
    assert await astore.advance(rid, "level", 3, event) == "decided"


# -- what the deadline decides ----------------------------------------------------------------


async def _past_deadline(astore: AsyncStore, policy: Policy, **fields: Any) -> RequestState:
    rid = await _posted(astore, policy, timeout=0.3, **fields)
    await asyncio.sleep(0.35)
    await astore.expire(rid)
    return await astore.get(rid)


@pytest.mark.parametrize(
    ("on_timeout", "risk", "status", "reason"),
    [
        ("expire", "high", Status.EXPIRED, "no decision before the deadline"),
        ("reject", "high", Status.REJECTED, "no decision before the deadline"),
        (
            "approve",
            "low",
            Status.APPROVED,
            "approved by policy: no decision before the deadline "
            '(route payments: on_timeout = "approve")',
        ),
        # A critical request never times out into approval, whatever the snapshot says.
        ("approve", "critical", Status.EXPIRED, "no decision before the deadline"),
    ],
)
async def test_the_deadline_decides_what_the_stored_policy_says(
    astore: AsyncStore, on_timeout: str, risk: str, status: Status, reason: str
) -> None:
    policy = TWO_OF_THREE.model_copy(update={"on_timeout": on_timeout})
    state = await _past_deadline(astore, policy, risk=Risk(risk))
    assert state.decision is not None
    assert (state.decision.status, state.decision.reason, state.decision.decided_by) == (
        status,
        reason,
        (),
    )
    last = (await _events(astore, state.request.id))[-1]
    assert (last.event, last.actor) == (status.value, "clock")


async def test_a_request_never_posted_expires_at_its_deadline(astore: AsyncStore) -> None:
    request = ApprovalRequest(summary="Wire", action="wire_transfer", timeout=0.2)
    await astore.create(request)
    await asyncio.sleep(0.25)
    assert (await astore.expire(request.id)).status is Status.EXPIRED


async def test_votes_enough_but_not_yet_settled_approve_at_the_deadline(
    astore: AsyncStore,
) -> None:
    # The second voter's step recorded the vote, then the bot died before the decision.
    policy = TWO_OF_THREE.model_copy(update={"on_timeout": "reject"})
    rid = await _posted(astore, policy, timeout=0.4)
    state = await astore.get(rid)
    for who in ("U0A", "U0B"):
        cast = Vote(who=who, what="approve", args_digest=state.args_digest)
        await astore.vote(state, cast, seen=None)
    await asyncio.sleep(0.45)
    decision = await astore.expire(rid)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0A", "U0B"))


async def test_the_agents_own_timeout_gets_the_policys_outcome(astore: AsyncStore) -> None:
    policy = TWO_OF_THREE.model_copy(update={"on_timeout": "reject"})
    rid = await _posted(astore, policy, timeout=0.5)
    agent = AsyncHITLClient(REDIS_URL, key_prefix=astore.config.keys.prefix)
    try:
        started = time.monotonic()
        decision = await agent.wait(rid)
    finally:
        await agent.aclose()
    assert decision.status is Status.REJECTED
    assert time.monotonic() - started < 5


# -- timers a post sets -----------------------------------------------------------------------


async def test_a_post_sets_the_reminders_and_escalation_due_before_the_deadline(
    astore: AsyncStore,
) -> None:
    policy = Policy(
        channel="C0FIN",
        approvers=("U0A",),
        reminders=(Offset(after=10), Offset(share=0.5), Offset(after=100)),
        escalate=(Level(after=30, approvers=("U0B",)),),
    )
    rid = await _posted(astore, policy, timeout=60)
    timers = dict(await astore.redis.zrange(astore.config.keys.timers, 0, -1, withscores=True))
    mine = {m: s for m, s in timers.items() if rid in m}
    posted = (await astore.get(rid)).effective_deadline.timestamp() * 1000 - 60_000
    offsets = {m.replace(rid, "R"): round((s - posted) / 1000) for m, s in mine.items()}
    # The third reminder (100 s) falls after the 60 s deadline: skipped.
    assert offsets == {"expire:R": 60, "remind:R:1": 10, "remind:R:2": 30, "escalate:R:1": 30}


def test_settlement_needs_the_quorum_for_the_current_arguments() -> None:
    request = ApprovalRequest(id="req_1", summary="s", action="a", payload={"n": 1})
    old = Vote(who="U0A", what="approve", args_digest=digest({"n": 1}))
    new = Vote(who="U0B", what="approve", args_digest=digest({"n": 2}))
    state = RequestState(
        request=request,
        status=Status.PENDING,
        policy=TWO_OF_THREE,
        votes=(old, new),
        proposed={"n": 2},
    )
    assert settlement(state, 0) is None
    renewed = old.model_copy(update={"args_digest": digest({"n": 2})})
    again = state.model_copy(update={"votes": (old, new, renewed)})
    settled = settlement(again, 0)
    assert settled is not None
    assert settled.decided_by == ("U0B", "U0A")


async def test_the_dataset_export_has_the_votes_of_each_decision(astore: AsyncStore) -> None:
    core = _core(astore)
    rid = await _posted(astore)
    await core.approve(rid, "U0C")
    await core.approve(rid, "U0A")
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        rows = list(dataset_rows(read_entries(r, astore.config.keys)))
    finally:
        r.close()
    [row] = [row for row in rows if row["request_id"] == rid]
    assert [(v["who"], v["what"]) for v in row["votes"]] == [("U0C", "approve"), ("U0A", "approve")]
    assert row["votes"][0]["args_digest"] == digest({"eur": 900})


async def test_a_question_on_a_quorum_route_is_answered_and_declined_by_one(
    astore: AsyncStore,
) -> None:
    policy = TWO_OF_THREE.model_copy(update={"veto": False})
    core = _core(astore)
    for act in ("answer", "decline"):
        question = QuestionRequest(summary="Which region?", timeout=60)
        state, _ = await astore.create(question)
        await astore.mark_posted(state, MessageRef(channel="C0FIN", ts="1.000002"), policy)
        if act == "answer":
            answer = await core.answer(question.id, "U0A", "eu-west-1")
            assert _decision(answer).status is Status.ANSWERED
        else:
            assert _decision(await core.reject(question.id, "U0B", "neither")).status is (
                Status.REJECTED
            )


async def test_the_deciding_vote_queues_no_refresh_the_decision_updates_the_message(
    astore: AsyncStore,
) -> None:
    core = _core(astore)
    rid = await _posted(astore)
    await core.approve(rid, "U0A")
    await core.approve(rid, "U0B")
    entries = await astore.redis.xrange(astore.config.keys.outcomes)
    shown = [f["status"] for _, f in entries if f["id"] == rid]
    assert shown == ["pending", "approved"]  # one refresh for the first vote, then the decision
