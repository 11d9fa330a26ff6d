"""The decision core: its pure rules exhaustively, its acts against a real Redis.

The core reads user groups through its ``Directory`` seam; the tests give it a small one over a
dict (the Slack gateway is the real one, tested with the fake Slack in test_listeners.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from hitl_slack.authz import may_decide
from hitl_slack.decisions import (
    AlreadyDecided,
    Decided,
    Decisions,
    GroupCache,
    Invalid,
    NeedsReason,
    Permitted,
    Refused,
    Why,
    clean_reason,
    payload_problem,
    screen_edit,
    screen_rejection,
    standing,
)
from hitl_slack.errors import RequestNotFound, SlackError, StoreUnavailable
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.models import (
    MAX_PAYLOAD_BYTES,
    ApprovalRequest,
    AuditEvent,
    Decision,
    MessageRef,
    RequestState,
    Status,
)
from hitl_slack.policy import Policy

FIN = Policy(
    route="finance",
    channel="C0FIN",
    approvers=("U0ALICE", "S0FIN"),
    reject_reason_required=True,
)
OPEN = Policy(channel="C0OPEN")
NOT_JSON = "The arguments are not plain JSON."
DECIDED = Decision(request_id="req_1", status=Status.CANCELLED, reason="agent gave up")


def _state(
    policy: Policy | None = FIN, decision: Decision | None = None, **request: Any
) -> RequestState:
    return RequestState(
        request=ApprovalRequest(id="req_1", summary="s", action="a", **request),
        status=decision.status if decision else Status.PENDING,
        decision=decision,
        policy=policy,
    )


# -- pure rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (None, None),
        ("", None),
        ("  \n ", None),
        (" Too much. ", "Too much."),
        ("x" * 3001, "x" * 3000),
    ],
)
def test_a_reason_is_trimmed_and_cut_and_blank_is_none(text: str | None, kept: str | None) -> None:
    assert clean_reason(text) == kept


@pytest.mark.parametrize(
    ("state", "stop"),
    [
        (_state(), None),
        (_state(OPEN), None),
        (_state(None), Refused(Why.NOT_POSTED)),
        (_state(FIN, DECIDED), AlreadyDecided(DECIDED)),
        (_state(None, DECIDED), AlreadyDecided(DECIDED)),  # what stands is said first
    ],
)
def test_only_a_pending_posted_request_may_be_decided(
    state: RequestState, stop: AlreadyDecided | Refused | None
) -> None:
    assert standing(state) == stop


@pytest.mark.parametrize(
    ("state", "reason", "stop"),
    [
        (_state(FIN), "Too much.", None),
        (_state(FIN), None, NeedsReason()),
        (_state(FIN), "   ", NeedsReason()),
        (_state(OPEN), None, None),
        (_state(OPEN), "", None),
        (_state(None), "Too much.", Refused(Why.NOT_POSTED)),
        (_state(FIN, DECIDED), None, AlreadyDecided(DECIDED)),
    ],
)
def test_a_rejection_needs_a_reason_only_where_its_policy_says(
    state: RequestState, reason: str | None, stop: object
) -> None:
    assert screen_rejection(state, reason) == stop


def _exactly(size: int) -> dict[str, Any]:
    return {"k": "x" * (size - len('{"k":""}'))}


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, None),
        ({"amount": 7, "to": ["a", "b"]}, None),
        (_exactly(MAX_PAYLOAD_BYTES), None),
        (_exactly(MAX_PAYLOAD_BYTES + 1), f"The arguments would exceed {MAX_PAYLOAD_BYTES} bytes."),
        ({"amount": float("nan")}, "The arguments are not plain JSON."),
        ({"amount": float("inf")}, "The arguments are not plain JSON."),
        ({"when": object()}, "The arguments are not plain JSON."),
    ],
)
def test_edited_arguments_must_be_plain_json_within_the_limit(
    payload: dict[str, Any], problem: str | None
) -> None:
    assert payload_problem(payload) == (
        None if problem is None else Invalid((("payload", problem),))
    )


def test_edited_arguments_nested_beyond_recursion_are_not_plain_json() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert payload_problem({"deep": deep}) == Invalid(
        (("payload", "The arguments are not plain JSON."),)
    )


@pytest.mark.parametrize(
    ("state", "payload", "stop"),
    [
        (_state(), {"n": 2}, None),
        (_state(None), {"n": 2}, Refused(Why.NOT_POSTED)),
        (_state(FIN, DECIDED), _exactly(MAX_PAYLOAD_BYTES + 1), AlreadyDecided(DECIDED)),
        (_state(None), _exactly(MAX_PAYLOAD_BYTES + 1), Refused(Why.NOT_POSTED)),
        (
            _state(),
            {"n": float("nan")},
            Invalid((("payload", "The arguments are not plain JSON."),)),
        ),
    ],
)
def test_an_edit_is_screened_for_what_stands_first_then_its_arguments(
    state: RequestState, payload: dict[str, Any], stop: object
) -> None:
    assert screen_edit(state, payload) == stop


# The one authorization rule (authz.may_decide), as the core feeds it.


@pytest.mark.parametrize(
    ("approvers", "user", "members", "allowed"),
    [
        ((), "U0ANYONE", {}, True),
        ((), "S0FIN", {}, True),  # no approvers: the channel decides who may click
        (("U0ALICE", "S0FIN"), "U0ALICE", {}, True),
        (("U0ALICE", "S0FIN"), "U0CAROL", {"S0FIN": {"U0CAROL"}}, True),
        (("U0ALICE", "S0FIN"), "U0CAROL", {"S0OTHER": {"U0CAROL"}}, False),
        (("U0ALICE", "S0FIN"), "U0MALLORY", {"S0FIN": {"U0CAROL"}}, False),
        (("U0ALICE", "S0FIN"), "U0MALLORY", {}, False),
        (("U0ALICE",), "U0BOB", {"U0ALICE": {"U0BOB"}}, False),  # a user id is not a group
        (("U0ALICE", "S0FIN"), "S0FIN", {}, False),  # a group id clicking is not the group
        (("U0ALICE", "S0FIN"), "S0FIN", {"S0FIN": {"S0FIN"}}, False),
        (("W0BOB",), "W0BOB", {}, True),
    ],
)
def test_who_may_decide(
    approvers: tuple[str, ...], user: str, members: dict[str, set[str]], allowed: bool
) -> None:
    assert may_decide(approvers, user, members) is allowed


# -- the acts, against Redis ---------------------------------------------------------------------


@dataclass
class Groups:
    """A directory over a dict; records each lookup. ``meanwhile`` runs during a lookup."""

    members: dict[str, frozenset[str]] = field(default_factory=dict)
    failing: frozenset[str] = frozenset()
    asked: list[tuple[str, bool]] = field(default_factory=list)
    meanwhile: Callable[[], Awaitable[Any]] | None = None

    async def group_members(self, group_id: str, *, retry: bool) -> frozenset[str]:
        self.asked.append((group_id, retry))
        if self.meanwhile is not None:
            await self.meanwhile()
        if group_id in self.failing:
            raise SlackError("usergroups.users.list", "missing_scope")
        return self.members.get(group_id, frozenset())


def _core(astore: AsyncStore, groups: Groups | None = None) -> Decisions:
    return Decisions(astore, groups or Groups({"S0FIN": frozenset({"U0CAROL"})}))


async def _request(astore: AsyncStore, policy: Policy | None = FIN, **fields: Any) -> str:
    """A request created by an agent and, with a policy, posted (as the relay records it)."""
    request = ApprovalRequest(summary="Refund", action="refund_card", timeout=60, **fields)
    state, _ = await astore.create(request)
    if policy is not None:
        await astore.mark_posted(state, MessageRef(channel=policy.channel, ts="1.000001"), policy)
    return request.id


async def _unauthorized(astore: AsyncStore, request_id: str) -> list[str]:
    entries = await astore.redis.xrange(astore.config.keys.audit)
    events = [AuditEvent.model_validate_json(f["body"]) for _, f in entries]
    return [e.actor for e in events if e.request_id == request_id and e.event == "unauthorized"]


async def test_an_approver_approves_through_the_atomic_step(astore: AsyncStore) -> None:
    request_id = await _request(astore, payload={"n": 1})
    answer = await _core(astore).approve(request_id, "U0ALICE")
    stored = (await astore.get(request_id)).decision
    assert answer == Decided(stored)  # type: ignore[arg-type]
    assert stored is not None
    assert (stored.status, stored.decided_by, stored.payload, stored.edited) == (
        Status.APPROVED,
        ("U0ALICE",),
        {"n": 1},
        False,
    )


async def test_every_audit_entry_of_a_judged_act_names_the_policy_that_judged_it(
    astore: AsyncStore,
) -> None:
    core = _core(astore)
    request_id = await _request(astore, payload={"n": 1})
    await core.approve(request_id, "U0BOB")  # refused: not an approver
    await core.approve_edited(request_id, "U0ALICE", {"n": 2})
    entries = await astore.redis.xrange(astore.config.keys.audit)
    events = [AuditEvent.model_validate_json(f["body"]) for _, f in entries]
    judged = {e.event: e.policy_digest for e in events if e.request_id == request_id}
    policy = (await astore.get(request_id)).policy
    assert policy is not None
    digest = policy.digest()
    assert judged == {
        "created": None,
        "queued": None,
        "posted": digest,
        "unauthorized": digest,
        "edited": digest,
        "approved": digest,
    }


async def test_a_group_member_decides_and_the_group_is_read_without_retries(
    astore: AsyncStore,
) -> None:
    groups = Groups({"S0FIN": frozenset({"U0CAROL"})})
    request_id = await _request(astore)
    answer = await _core(astore, groups).reject(request_id, "U0CAROL", "Not this month.")
    assert isinstance(answer, Decided)
    assert (answer.decision.status, answer.decision.reason) == (Status.REJECTED, "Not this month.")
    assert groups.asked == [("S0FIN", False)]  # a click must not wait out a rate limit


async def test_a_non_approver_is_refused_by_every_act_and_each_attempt_is_audited(
    astore: AsyncStore,
) -> None:
    core = _core(astore)
    request_id = await _request(astore, payload={"n": 1})
    answers = [
        await core.check(request_id, "U0BOB"),
        await core.approve(request_id, "U0BOB"),
        await core.reject(request_id, "U0BOB", "No."),
        await core.approve_edited(request_id, "U0BOB", {"n": 2}),
    ]
    assert answers == [Refused(Why.NOT_APPROVER)] * 4
    assert await _unauthorized(astore, request_id) == ["slack:U0BOB"] * 4
    assert (await astore.get(request_id)).status is Status.PENDING


async def test_a_group_that_cannot_be_read_refuses_without_blaming_the_person(
    astore: AsyncStore,
) -> None:
    groups = Groups(failing=frozenset({"S0FIN"}))
    request_id = await _request(astore)
    assert await _core(astore, groups).approve(request_id, "U0CAROL") == Refused(
        Why.GROUPS_UNAVAILABLE
    )
    assert await _unauthorized(astore, request_id) == []
    assert (await astore.get(request_id)).status is Status.PENDING


async def test_a_later_group_admits_when_an_earlier_one_cannot_be_read(
    astore: AsyncStore,
) -> None:
    groups = Groups({"S0OPS": frozenset({"U0CAROL"})}, failing=frozenset({"S0DOWN"}))
    policy = Policy(channel="C0OPS", approvers=("S0DOWN", "S0OPS"))
    request_id = await _request(astore, policy)
    answer = await _core(astore, groups).approve(request_id, "U0CAROL")
    assert isinstance(answer, Decided)
    assert groups.asked == [("S0DOWN", False), ("S0OPS", False)]


async def test_an_approver_listed_by_id_is_admitted_without_reading_any_group(
    astore: AsyncStore,
) -> None:
    groups = Groups()
    request_id = await _request(astore)
    assert isinstance(await _core(astore, groups).approve(request_id, "U0ALICE"), Decided)
    assert groups.asked == []


async def test_an_id_that_is_not_a_user_is_refused_without_reading_its_group(
    astore: AsyncStore,
) -> None:
    groups = Groups({"S0FIN": frozenset({"S0FIN"})})
    request_id = await _request(astore)
    assert await _core(astore, groups).approve(request_id, "S0FIN") == Refused(Why.NOT_APPROVER)
    assert groups.asked == []


async def test_a_request_not_posted_yet_is_refused_whoever_asks(astore: AsyncStore) -> None:
    # No policy is stored before the post: nothing says who may decide, and the live routes
    # file is never asked (the core does not know it).
    core = _core(astore)
    request_id = await _request(astore, None)
    for actor in ("U0ALICE", "U0BOB"):
        assert await core.check(request_id, actor) == Refused(Why.NOT_POSTED)
        assert await core.approve(request_id, actor) == Refused(Why.NOT_POSTED)
        assert await core.reject(request_id, actor, "No.") == Refused(Why.NOT_POSTED)
        assert await core.approve_edited(request_id, actor, {}) == Refused(Why.NOT_POSTED)
    assert await _unauthorized(astore, request_id) == []
    assert (await astore.get(request_id)).status is Status.PENDING


async def test_a_decision_that_stands_is_the_answer(astore: AsyncStore) -> None:
    core = _core(astore)
    request_id = await _request(astore)
    cancelled = await astore.decide(request_id, Status.CANCELLED, reason="agent gave up")
    assert await core.check(request_id, "U0BOB") == AlreadyDecided(cancelled)
    assert await core.approve(request_id, "U0ALICE") == AlreadyDecided(cancelled)
    assert await core.reject(request_id, "U0ALICE", None) == AlreadyDecided(cancelled)
    assert await core.approve_edited(request_id, "U0ALICE", {}) == AlreadyDecided(cancelled)
    assert await _unauthorized(astore, request_id) == []  # what stands is said, whoever asks


async def test_a_decision_made_while_the_groups_are_read_wins(astore: AsyncStore) -> None:
    request_id = await _request(astore)
    groups = Groups({"S0FIN": frozenset({"U0CAROL"})})
    groups.meanwhile = lambda: astore.decide(request_id, Status.CANCELLED, reason="agent")
    answer = await _core(astore, groups).approve(request_id, "U0CAROL")
    assert isinstance(answer, AlreadyDecided)
    assert (answer.decision.status, answer.decision.reason) == (Status.CANCELLED, "agent")


async def test_a_required_reason_is_asked_for_and_then_kept_trimmed(astore: AsyncStore) -> None:
    core = _core(astore)
    request_id = await _request(astore)
    assert await core.reject(request_id, "U0ALICE", "  ") == NeedsReason()
    assert (await astore.get(request_id)).status is Status.PENDING
    answer = await core.reject(request_id, "U0ALICE", "  Too much.\n")
    assert isinstance(answer, Decided)
    assert (answer.decision.status, answer.decision.reason) == (Status.REJECTED, "Too much.")


async def test_an_optional_reason_may_be_left_out(astore: AsyncStore) -> None:
    request_id = await _request(astore, OPEN)
    answer = await _core(astore).reject(request_id, "U0BOB", "")
    assert isinstance(answer, Decided)
    assert (answer.decision.status, answer.decision.reason) == (Status.REJECTED, None)


async def test_an_edited_approval_keeps_the_arguments_as_the_person_left_them(
    astore: AsyncStore,
) -> None:
    core = _core(astore)
    request_id = await _request(astore, payload={"amount": 5})
    too_big = _exactly(MAX_PAYLOAD_BYTES + 1)
    assert isinstance(await core.approve_edited(request_id, "U0ALICE", too_big), Invalid)
    assert (await astore.get(request_id)).status is Status.PENDING
    answer = await core.approve_edited(request_id, "U0ALICE", {"amount": 7})
    assert isinstance(answer, Decided)
    assert (answer.decision.payload, answer.decision.edited) == ({"amount": 7}, True)


async def test_an_edit_that_changes_nothing_is_a_plain_approval(astore: AsyncStore) -> None:
    request_id = await _request(astore, payload={"amount": 5})
    answer = await _core(astore).approve_edited(request_id, "U0ALICE", {"amount": 5})
    assert isinstance(answer, Decided)
    assert (answer.decision.status, answer.decision.edited) == (Status.APPROVED, False)


async def test_check_permits_an_approver_with_the_policy_in_force(astore: AsyncStore) -> None:
    request_id = await _request(astore)
    answer = await _core(astore).check(request_id, "U0CAROL")
    assert isinstance(answer, Permitted)
    assert (answer.state.request.id, answer.policy) == (request_id, FIN)
    assert (await astore.get(request_id)).status is Status.PENDING  # a check decides nothing


async def test_the_listing_filter_reads_each_group_once_and_records_nothing(
    astore: AsyncStore,
) -> None:
    groups = Groups({"S0FIN": frozenset({"U0CAROL"})}, failing=frozenset({"S0DOWN"}))
    down = Policy(channel="C0DOWN", approvers=("S0DOWN",))
    ids = [
        await _request(astore, FIN),
        await _request(astore, FIN),
        await _request(astore, down),
        await _request(astore, down),
        await _request(astore, OPEN),
        await _request(astore, None),  # not posted: listed to no one
    ]
    core, cache = _core(astore, groups), GroupCache()
    states = [await astore.get(i) for i in ids]
    shown = [await core.may_decide(s, "U0CAROL", cache) for s in states]
    assert shown == [True, True, False, False, True, False]
    assert groups.asked == [("S0FIN", False), ("S0DOWN", False)]
    assert cache == {"S0FIN": frozenset({"U0CAROL"}), "S0DOWN": None}
    assert [await core.may_decide(s, "U0MALLORY", {}) for s in states[:1]] == [False]
    assert [await _unauthorized(astore, i) for i in ids] == [[]] * len(ids)


async def test_a_request_the_old_bot_posted_is_judged_by_the_policy_of_its_message(
    astore: AsyncStore,
) -> None:
    # Hash fields as the version before policy snapshots left them: the policy rides on the
    # message record, and there is no 'policy' field.
    request = ApprovalRequest(summary="Old", action="deploy", timeout=60)
    old_message = {
        "channel": "C0APPROVALS",
        "ts": "1.000001",
        "route": "deploys",
        "approvers": ["U0ALICE"],
        "reject_reason_required": True,
    }
    await astore.redis.hset(
        astore.config.keys.request(request.id),
        mapping={
            "request": request.model_dump_json(),
            "status": "pending",
            "deadline": str(int((time.time() + 60) * 1000)),
            "message": json.dumps(old_message),
        },
    )
    core = _core(astore)
    assert await core.approve(request.id, "U0BOB") == Refused(Why.NOT_APPROVER)
    assert await core.reject(request.id, "U0ALICE", None) == NeedsReason()
    allowed = await core.check(request.id, "U0ALICE")
    assert isinstance(allowed, Permitted)
    assert allowed.policy == Policy(
        route="deploys",
        channel="C0APPROVALS",
        approvers=("U0ALICE",),
        reject_reason_required=True,
    )
    assert isinstance(await core.reject(request.id, "U0ALICE", "Old rules."), Decided)


async def test_a_missing_request_is_a_failure_not_an_answer(astore: AsyncStore) -> None:
    core = _core(astore)
    for act in (
        core.check("req_gone", "U0ALICE"),
        core.approve("req_gone", "U0ALICE"),
        core.reject("req_gone", "U0ALICE", "No."),
        core.approve_edited("req_gone", "U0ALICE", {}),
    ):
        with pytest.raises(RequestNotFound):
            await act


async def test_an_unreachable_store_is_a_failure_not_an_answer() -> None:
    store = AsyncStore(async_redis("redis://127.0.0.1:9/0", connect_timeout=0.2), StoreConfig())
    try:
        with pytest.raises(StoreUnavailable):
            await _core(store).approve("req_1", "U0ALICE")
    finally:
        await store.aclose()
