"""Every lifecycle step driven with canned replies, without Redis: each return code of each
script, the commands each step sends, and the wait's decisions on the agent side."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from hitl_slack import AlreadyDecided, InvalidRequest, RequestNotFound, Status, WaitTimeout
from hitl_slack.agent.base import ExpireNow, WaitFor, wait_flow
from hitl_slack.agent.waiting import EXPIRY_SLACK
from hitl_slack.errors import NotReplicated
from hitl_slack.keys import Keys
from hitl_slack.lifecycle import (
    auditing,
    creation,
    deadletters,
    listing,
    posting,
    schedule,
    transition,
    voting,
)
from hitl_slack.lifecycle.commands import Batch, Command, Eval, Gen, Op
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.deadletters import DeadLetter
from hitl_slack.lifecycle.store import AsyncStore, Store
from hitl_slack.lifecycle.timers import Timer
from hitl_slack.lifecycle.transition import NotDue
from hitl_slack.models import ApprovalRequest, Decision, MessageRef, Vote
from hitl_slack.policy import Policy

T = TypeVar("T")

CFG = StoreConfig(keys=Keys("p"))
K = CFG.keys
CREATED_MS = 1_700_000_000_000
DEADLINE_MS = CREATED_MS + 60_000
REQ = ApprovalRequest(
    id="req_1", summary="Refund", action="refund", payload={"amount": 42}, timeout=60
)
POLICY = Policy(channel="C1", approvers=("U1",))


class Driver:
    """Runs a step, answering each command it yields with the next canned reply."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.ops: list[Op] = []

    def run(self, gen: Gen[T]) -> T:
        try:
            op = next(gen)
            while True:
                self.ops.append(op)
                assert self.replies, f"no reply left for {op}"
                op = gen.send(self.replies.pop(0))
        except StopIteration as stop:
            assert not self.replies, f"replies left over: {self.replies}"
            value: T = stop.value
            return value

    def evals(self) -> list[Eval]:
        return [op for op in self.ops if isinstance(op, Eval)]


def fields(status: str = "pending", **extra: str) -> dict[str, str]:
    """A request hash as this version writes it."""
    return {
        "request": REQ.model_dump_json(),
        "status": status,
        "deadline": str(DEADLINE_MS),
        "created": str(CREATED_MS),
        **extra,
    }


def decided(status: Status = Status.REJECTED, **extra: str) -> dict[str, str]:
    decision = Decision(request_id="req_1", status=status, payload=REQ.payload, reason="no")
    return fields(status.value, decision=decision.model_dump_json(), **extra)


def bodies(step: Eval, first: int) -> list[dict[str, Any]]:
    return [json.loads(body) for body in step.args[first:]]


# ---- create ---------------------------------------------------------------------------------


def test_create_created_sets_the_expiry_timer_and_the_pending_entry():
    d = Driver(["created", "req_1", DEADLINE_MS, CREATED_MS])
    state, created = d.run(creation.create(CFG, REQ))
    assert created is True
    assert (state.status, state.deadline, state.created) == (
        Status.PENDING,
        datetime.fromtimestamp(DEADLINE_MS / 1000, UTC),
        datetime.fromtimestamp(CREATED_MS / 1000, UTC),
    )
    [step] = d.evals()
    assert step.script is creation.CREATE
    assert step.keys == (
        K.request("req_1"),
        K.request("req_1"),
        K.queue,
        K.timers,
        K.pending,
        K.audit,
    )
    assert step.args[6] == "expire:req_1"
    assert [b["event"] for b in bodies(step, 7)] == ["created", "queued"]


def test_create_existing_with_the_same_arguments_returns_that_request():
    other = REQ.model_copy(update={"id": "req_0"})
    d = Driver(["existing", "req_0"], fields(request=other.model_dump_json()))
    state, created = d.run(creation.create(CFG, REQ.model_copy(update={"idempotency_key": "k"})))
    assert (state.request.id, created) == ("req_0", False)
    assert d.evals()[0].keys[1] == K.idempotency("k")


def test_create_existing_with_other_arguments_is_refused():
    other = REQ.model_copy(update={"id": "req_0", "payload": {"amount": 1}})
    d = Driver(["existing", "req_0"], fields(request=other.model_dump_json()))
    with pytest.raises(
        InvalidRequest, match="idempotency_key 'k' is already used by request req_0"
    ):
        d.run(creation.create(CFG, REQ.model_copy(update={"idempotency_key": "k"})))


def test_create_duplicate_id_of_a_retry_finds_its_own_first_attempt():
    d = Driver(["duplicate_id", "req_1"], REQ.model_dump_json(), fields())
    state, created = d.run(creation.create(CFG, REQ))
    assert (state.request, created) == (REQ, True)
    assert d.ops[1] == Command(("HGET", K.request("req_1"), "request"))


def test_create_duplicate_id_of_another_request_is_refused():
    d = Driver(["duplicate_id", "req_1"], REQ.model_copy(update={"summary": "x"}).model_dump_json())
    with pytest.raises(InvalidRequest, match="request id 'req_1' already exists"):
        d.run(creation.create(CFG, REQ))


def test_create_unexpected_reply_is_an_error():
    with pytest.raises(ValueError, match="create: unexpected reply"):
        Driver(["what"]).run(creation.create(CFG, REQ))


# ---- decide ---------------------------------------------------------------------------------


def test_decide_ok_removes_timer_and_pending_and_audits_with_the_policy_digest():
    d = Driver(fields(policy=POLICY.model_dump_json()), ["ok"])
    decision = d.run(
        transition.decide(CFG, "req_1", Status.APPROVED, payload={"amount": 40}, decided_by=("U1",))
    )
    assert (decision.status, decision.payload, decision.edited) == (
        Status.APPROVED,
        {"amount": 40},
        True,
    )
    [step] = d.evals()
    assert step.keys[:4] == (K.request("req_1"), K.timers, K.pending, K.deadlines)
    assert (step.args[3], step.args[5], step.args[6]) == ("decide", "1", "expire:req_1")
    assert step.args[7] == ""  # a click: no check of the policy stored
    events = bodies(step, 8)
    assert [(e["event"], e["actor"], e["policy_digest"]) for e in events] == [
        ("edited", "slack:U1", POLICY.digest()),
        ("approved", "slack:U1", POLICY.digest()),
    ]


@pytest.mark.parametrize("status", [Status.REJECTED, Status.CANCELLED])
def test_decide_audits_each_status_as_its_event(status: Status):
    d = Driver(fields(), ["ok"])
    d.run(transition.decide(CFG, "req_1", status, reason="no", actor="agent"))
    [event] = bodies(d.evals()[0], 8)
    assert (event["event"], event["reason"], "policy_digest" in event) == (
        status.value,
        "no",
        False,
    )


def test_decide_not_found():
    with pytest.raises(RequestNotFound):
        Driver({}).run(transition.decide(CFG, "req_1", Status.APPROVED))
    with pytest.raises(RequestNotFound):
        Driver(fields(), ["not_found"]).run(transition.decide(CFG, "req_1", Status.APPROVED))


def test_decide_on_a_stored_decision_names_it_without_a_step():
    d = Driver(decided())
    with pytest.raises(AlreadyDecided) as info:
        d.run(transition.decide(CFG, "req_1", Status.APPROVED))
    assert info.value.decision.status is Status.REJECTED
    assert d.evals() == []


def test_decide_pending_is_refused():
    with pytest.raises(ValueError, match="cannot be 'pending'"):
        Driver(fields()).run(transition.decide(CFG, "req_1", Status.PENDING))


def test_decide_losing_the_race_to_a_confirmed_decision():
    standing = Decision(request_id="req_1", status=Status.REJECTED, reason="first")
    d = Driver(fields(), ["decided", "rejected", standing.model_dump_json(), "0"])
    with pytest.raises(AlreadyDecided) as info:
        d.run(transition.decide(CFG, "req_1", Status.APPROVED))
    assert info.value.decision == standing


def test_decide_finding_an_unconfirmed_decision_confirms_and_announces_it():
    standing = Decision(request_id="req_1", status=Status.REJECTED)
    d = Driver(
        fields(), ["decided", "rejected", standing.model_dump_json(), "1"], [1, 1], [1, 1, 1]
    )
    with pytest.raises(AlreadyDecided):
        d.run(transition.decide(CFG, "req_1", Status.APPROVED))
    confirm, announce = d.ops[2], d.ops[3]
    assert isinstance(confirm, Batch)
    assert isinstance(announce, Batch)
    assert confirm.commands[1] == Command(("WAIT", 1, 1000))
    assert [c.args[0] for c in announce.commands] == ["HDEL", "XADD", "PUBLISH"]


def test_a_vote_finding_an_unconfirmed_decision_confirms_and_announces_it():
    standing = Decision(request_id="req_1", status=Status.REJECTED)
    state = transition.RequestState(
        request=REQ, status=Status.PENDING, policy=POLICY.model_copy(update={"quorum": 2})
    )
    cast = Vote(who="U1", what="approve", args_digest=state.args_digest)
    d = Driver(["decided", "rejected", standing.model_dump_json(), "1"], [1, 1], [1, 1, 1])
    with pytest.raises(AlreadyDecided) as info:
        d.run(voting.vote(CFG, state, cast, seen=None))
    assert info.value.decision == standing
    confirm, announce = d.ops[1], d.ops[2]
    assert isinstance(confirm, Batch)
    assert isinstance(announce, Batch)
    assert [c.args[0] for c in announce.commands] == ["HDEL", "XADD", "PUBLISH"]


def test_decide_after_the_deadline_expires_the_request_first():
    d = Driver(fields(), ["past_deadline", DEADLINE_MS], fields(), ["ok"])
    with pytest.raises(AlreadyDecided) as info:
        d.run(transition.decide(CFG, "req_1", Status.APPROVED))
    assert info.value.decision.status is Status.EXPIRED
    assert [step.args[3] for step in d.evals()] == ["decide", "expire"]


def test_decide_with_min_replicas_announces_once_confirmed():
    cfg = StoreConfig(keys=K, min_replicas=2, replica_timeout=0.5)
    d = Driver(fields(), [["ok"], 2], [1, 1, 1])
    assert d.run(transition.decide(cfg, "req_1", Status.APPROVED)).status is Status.APPROVED
    step, announce = d.ops[1], d.ops[2]
    assert isinstance(step, Batch)
    assert isinstance(announce, Batch)
    assert step.commands[0].args[0] == "EVAL"
    argv = step.commands[0].args[3 + 7 :]  # after EVAL, the source, the key count, 7 keys
    assert argv[5] == "0"  # ARGV[6]: written unconfirmed, announced once WAIT confirms
    assert step.commands[1] == Command(("WAIT", 2, 500))
    assert announce.commands[1].args[:2] == ("XADD", K.outcomes)


def test_decide_with_min_replicas_and_a_short_wait_is_not_replicated():
    cfg = StoreConfig(keys=K, min_replicas=2)
    with pytest.raises(NotReplicated, match="reached 1 of 2 Redis replicas"):
        Driver(fields(), [["ok"], 1]).run(transition.decide(cfg, "req_1", Status.APPROVED))


def test_confirming_an_unconfirmed_decision_short_of_replicas_is_not_replicated():
    cfg = StoreConfig(keys=K, min_replicas=1)
    standing = Decision(request_id="req_1", status=Status.APPROVED)
    d = Driver(fields(), [["decided", "approved", standing.model_dump_json(), "1"], 0], [1, 0])
    with pytest.raises(NotReplicated):
        d.run(transition.decide(cfg, "req_1", Status.REJECTED))


def test_transition_unexpected_reply_is_an_error():
    with pytest.raises(ValueError, match="transition: unexpected reply"):
        Driver(fields(), ["what"]).run(transition.decide(CFG, "req_1", Status.APPROVED))


# ---- expire and current ---------------------------------------------------------------------


def test_expire_ok_audits_with_the_policy_digest():
    d = Driver(fields(policy=POLICY.model_dump_json()), ["ok"])
    decision = d.run(transition.expire(CFG, "req_1"))
    assert (decision.status, decision.reason) == (Status.EXPIRED, "no decision before the deadline")
    assert d.evals()[0].args[7] == "1"  # the expiry is judged by the policy it saw
    [event] = bodies(d.evals()[0], 8)
    assert (event["event"], event["actor"], event["policy_digest"]) == (
        "expired",
        "clock",
        POLICY.digest(),
    )


def test_expire_not_due_says_how_long_is_left():
    d = Driver(fields(), ["not_due", DEADLINE_MS, DEADLINE_MS - 1500])
    with pytest.raises(NotDue) as info:
        d.run(transition.expire(CFG, "req_1"))
    assert info.value.remaining == 1.5


def test_expire_returns_the_decision_that_stands():
    assert Driver(decided()).run(transition.expire(CFG, "req_1")).status is Status.REJECTED
    standing = Decision(request_id="req_1", status=Status.APPROVED)
    d = Driver(fields(), ["decided", "approved", standing.model_dump_json(), "0"])
    assert d.run(transition.expire(CFG, "req_1")) == standing


def test_expire_not_found():
    with pytest.raises(RequestNotFound):
        Driver(fields(), ["not_found"]).run(transition.expire(CFG, "req_1"))


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_current_reads_once_before_the_deadline():
    d = Driver(fields())
    assert d.run(transition.current(CFG, "req_1", _at(DEADLINE_MS - 1))).pending


def test_current_expires_a_request_past_its_deadline():
    d = Driver(fields(), fields(), ["ok"], decided(Status.EXPIRED))
    assert d.run(transition.current(CFG, "req_1", _at(DEADLINE_MS))).status is Status.EXPIRED


def test_current_keeps_the_state_when_redis_says_not_due():
    d = Driver(fields(), fields(), ["not_due", DEADLINE_MS, DEADLINE_MS - 5])
    assert d.run(transition.current(CFG, "req_1", _at(DEADLINE_MS))).pending


# ---- posting --------------------------------------------------------------------------------


def _mark(*replies: Any) -> tuple[posting.Posted, Driver]:
    d = Driver(*replies)
    state = transition.RequestState(request=REQ, status=Status.PENDING, created=_at(CREATED_MS))
    posted = d.run(posting.mark_posted(CFG, state, MessageRef(channel="C1", ts="1.2"), POLICY))
    return posted, d


def test_mark_posted_ok_moves_the_timer_and_the_pending_entry_with_the_deadline():
    posted, d = _mark(["ok", "pending", DEADLINE_MS - 1000])
    assert (posted.recorded, posted.status, posted.deadline) == (
        True,
        Status.PENDING,
        _at(DEADLINE_MS - 1000),
    )
    [step] = d.evals()
    assert step.keys == (K.request("req_1"), K.audit, K.timers, K.pending)
    assert (step.args[2], step.args[3], step.args[4]) == ("req_1", DEADLINE_MS, "expire:req_1")
    assert step.args[5] == "[]"  # the policy has no reminders or escalation: no more timers
    assert bodies(step, 6)[0]["policy_digest"] == POLICY.digest()


def test_mark_posted_exists_returns_the_message_in_force():
    first = MessageRef(channel="C9", ts="9.9")
    posted, _ = _mark(["exists", first.model_dump_json(), "approved"])
    assert (posted.recorded, posted.status, posted.message, posted.deadline) == (
        False,
        Status.APPROVED,
        first,
        None,
    )


def test_mark_posted_not_found():
    with pytest.raises(RequestNotFound):
        _mark(["not_found"])


def test_read_posting_returns_the_first_attempt_and_not_found_when_gone():
    flat = [x for kv in fields(post_attempt=str(CREATED_MS)).items() for x in kv]
    state, since = Driver(flat).run(posting.read_posting(CFG, "req_1", _at(DEADLINE_MS)))
    assert (state.request, since) == (REQ, _at(CREATED_MS))
    with pytest.raises(RequestNotFound):
        Driver([]).run(posting.read_posting(CFG, "req_1", None))


# ---- timers ---------------------------------------------------------------------------------


def test_due_timers_are_read_by_redis_clock_and_parsed_by_kind():
    members = ["expire:req_1", "remind:req_1:2", "escalate:req:x:1", "nudge:req_1", "bare"]
    d = Driver([1_700_000_000, 500_000], members)
    assert d.run(schedule.due_timers(CFG, limit=10)) == [
        Timer("expire", "req_1"),
        Timer("remind", "req_1", 2),
        Timer("escalate", "req:x", 1),
        Timer("nudge", "req_1"),
        Timer("bare", ""),
    ]
    assert d.ops[1] == Command(
        ("ZRANGEBYSCORE", K.timers, "-inf", 1_700_000_000_500, "LIMIT", 0, 10)
    )


@pytest.mark.parametrize(
    "member", ["expire:req_1", "remind:req_1:2", "escalate:a:b:3", "nudge:x", "remind:x", "bare"]
)
def test_a_timer_member_reads_back_as_it_was(member: str):
    assert Timer.parse(member).member == member


@pytest.mark.parametrize(
    ("reply", "due"),
    [([], None), ([["expire:req_1", 1500.0]], _at(1500)), (["expire:req_1", "1500"], _at(1500))],
)
def test_next_timer(reply: list[Any], due: datetime | None):
    assert Driver(reply).run(schedule.next_timer(CFG)) == due


def test_dropping_an_expiry_also_leaves_the_pending_index():
    d = Driver([1, 1])
    d.run(schedule.drop_timer(CFG, Timer.expire("req_1")))
    assert d.ops == [
        Batch((Command(("ZREM", K.timers, "expire:req_1")), Command(("ZREM", K.pending, "req_1"))))
    ]
    d = Driver([1])
    d.run(schedule.drop_timer(CFG, Timer("remind", "req_1", 1)))
    assert d.ops == [Batch((Command(("ZREM", K.timers, "remind:req_1:1")),))]


def test_set_aside_keeps_a_dead_letter_and_drops_the_timer_in_one_round_trip():
    d = Driver(["1-0", 1])
    d.run(schedule.set_aside(CFG, Timer("nudge", "r"), DeadLetter(K.timers, "nudge:r", "?", {})))
    [batch] = d.ops
    assert isinstance(batch, Batch)
    assert [c.args[:2] for c in batch.commands] == [("XADD", K.dead_letters), ("ZREM", K.timers)]


def test_migrate_moves_the_legacy_set():
    d = Driver(3)
    assert d.run(schedule.migrate(CFG, limit=50)) == 3
    [step] = d.evals()
    assert (step.script, step.keys, step.args) == (
        schedule.MIGRATE,
        (K.deadlines, K.timers, K.pending),
        ("expire:", 50),
    )


# ---- dead letters, audit, listing -----------------------------------------------------------


def test_a_dead_letter_has_the_one_record_shape():
    d = Driver("1-0")
    d.run(deadletters.dead_letter(CFG, DeadLetter("p:queue", "1-1", "x" * 3000, {"id": "é"})))
    assert d.ops == [
        Command(
            (
                "XADD",
                K.dead_letters,
                "MAXLEN",
                "~",
                100_000,
                "*",
                "stream",
                "p:queue",
                "entry_id",
                "1-1",
                "error",
                "x" * 2000,
                "fields",
                '{"id": "é"}',
            )
        )
    ]


def test_audit_and_seal():
    d = Driver(1)
    d.run(auditing.audit(CFG))
    assert d.evals()[0].keys == (K.audit,)
    assert Driver(1).run(auditing.seal(K, "", "1-0", "h", 1)) is True
    assert Driver(0).run(auditing.seal(K, "", "1-0", "h", 1)) is False


def test_a_listing_counts_the_pending_index_less_what_it_found_decided_or_gone():
    d = Driver([3, ["req_1", "req_2", "req_3"]], [fields(), decided(), {}])
    scan = d.run(listing.scan(CFG))
    assert (scan.total, scan.read, [i.state.request.id for i in scan.items]) == (1, 3, ["req_1"])
    assert d.ops[0] == Batch(
        (Command(("ZCARD", K.pending)), Command(("ZRANGE", K.pending, 0, listing.SCAN_BUDGET - 1)))
    )
    pending = Driver(["req_1", "req_2"], [fields(), decided()]).run(listing.pending(CFG))
    assert [s.request.id for s in pending] == ["req_1"]


# ---- the two stores -------------------------------------------------------------------------


def _methods(cls: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in ("close", "aclose")
    }


def test_the_sync_and_async_stores_have_the_same_methods_and_parameters():
    assert _methods(Store) == _methods(AsyncStore)
    assert all(inspect.iscoroutinefunction(getattr(AsyncStore, name)) for name in _methods(Store))


# ---- the agent's wait -----------------------------------------------------------------------


def _flow(timeout: float | None, *replies: Any) -> tuple[Any, list[Any]]:
    flow = wait_flow("req_1", timeout)
    steps = [next(flow)]
    try:
        for reply in replies:
            steps.append(flow.send(reply))
    except StopIteration as stop:
        return stop.value, steps
    raise AssertionError(f"the flow wants more: {steps[-1]}")


def test_a_wait_returns_the_decision_it_got():
    approved = Decision(request_id="req_1", status=Status.APPROVED)
    assert _flow(5, (approved, False)) == (approved, [WaitFor(5)])


def test_a_wait_ending_at_its_timeout_raises_and_at_the_deadline_expires():
    with pytest.raises(WaitTimeout):
        _flow(5, (None, False))
    expired = Decision(request_id="req_1", status=Status.EXPIRED)
    assert _flow(None, (None, True), expired) == (expired, [WaitFor(None), ExpireNow()])


def test_a_wait_whose_expiry_is_not_due_waits_for_what_is_left():
    approved = Decision(request_id="req_1", status=Status.APPROVED)
    decision, steps = _flow(None, (None, True), NotDue(2000, 1000), (approved, True))
    assert (decision, steps) == (approved, [WaitFor(None), ExpireNow(), WaitFor(1 + EXPIRY_SLACK)])
