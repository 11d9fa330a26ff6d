"""The one step every decision goes through: approve, reject, cancel, expire.

A decision is written by :data:`TRANSITION`, which in the same atomic step removes the
request's expiry timer and its pending-index entry, queues the outcome for Slack, appends the
audit entries and publishes the decision to waiting agents. The first decision wins; a later
one gets :class:`~hitl_slack.errors.AlreadyDecided` naming it. Deadlines are judged by Redis'
clock: a click after the deadline finds the request expired even if no scheduler ran yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from hitl_slack import kinds
from hitl_slack.errors import AlreadyDecided, RequestNotFound
from hitl_slack.lifecycle import replicas
from hitl_slack.lifecycle.auditing import audit_args
from hitl_slack.lifecycle.commands import AUDIT_LUA, NOW_LUA, STANDING_LUA, Eval, Gen, LuaScript
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.reading import get
from hitl_slack.lifecycle.timers import Timer
from hitl_slack.models import (
    AuditEvent,
    AuditEventType,
    Decision,
    RequestState,
    Risk,
    Status,
    Vote,
    digest,
    lenient,
)

__all__ = [
    "NO_DECISION",
    "TRANSITION",
    "NotDue",
    "current",
    "decide",
    "expire",
    "standing_decision",
    "timeout_outcome",
]

#: The reason of a decision the deadline made.
NO_DECISION = "no decision before the deadline"

Mode = Literal["decide", "expire"]

TRANSITION = LuaScript(
    "transition",
    """
-- KEYS[1] = request hash       KEYS[2] = timers zset       KEYS[3] = pending zset
-- KEYS[4] = legacy deadlines zset (agents older than the timer set still write it)
-- KEYS[5] = outcomes stream    KEYS[6] = audit stream      KEYS[7] = decided pub/sub channel
-- ARGV[1] = request id         ARGV[2] = new status        ARGV[3] = decision JSON
-- ARGV[4] = mode: "decide" (refused once the deadline passed) | "expire" (only once it passed)
-- ARGV[5] = outcomes MAXLEN
-- ARGV[6] = "1": announce now (outcome, publish) | "0": mark it unconfirmed; the caller
--           announces it once WAIT confirms replicas have it (HITL_REDIS_MIN_REPLICAS)
-- ARGV[7] = the request's expiry timer (member of the timers zset)
-- ARGV[8] = for an expiry: "1" | "0" whether the caller saw a policy stored (what the deadline
--           decides is the policy's: it must not have been recorded since); "" = no check
-- ARGV[9..] = audit entries (canonical JSON bodies)
-- returns {"ok"} | {"not_found"} | {"decided", status, decision JSON, unconfirmed "1"|"0"}
--       | {"past_deadline", deadline ms} | {"not_due", deadline ms, now ms} | {"stale"}
"""
    + AUDIT_LUA
    + NOW_LUA
    + STANDING_LUA
    + """
local stop = standing(KEYS[1])
if stop then return stop end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
local now = now_ms()
if ARGV[4] == 'expire' and now < deadline then return {'not_due', deadline, now} end
if ARGV[4] == 'decide' and now >= deadline then return {'past_deadline', deadline} end
if ARGV[8] ~= '' and tostring(redis.call('HEXISTS', KEYS[1], 'policy')) ~= ARGV[8] then
  return {'stale'}
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decision', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[7])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
audit_all(KEYS[6], 9)
if ARGV[6] == '1' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1], 'status', ARGV[2])
  redis.call('PUBLISH', KEYS[7], ARGV[3])
else
  redis.call('HSET', KEYS[1], 'unconfirmed', '1')
end
return {'ok'}
""",
)


class NotDue(Exception):
    """Internal: an expiry was attempted before the deadline (by Redis' clock)."""

    def __init__(self, deadline_ms: int, now_ms: int) -> None:
        super().__init__(f"deadline in {deadline_ms - now_ms} ms")
        self.remaining = max(0.0, (deadline_ms - now_ms) / 1000)


class _PastDeadline(Exception):
    pass


class _Stale(Exception):
    """A policy was recorded between reading a request and expiring it: read it again."""


def standing_decision(cfg: StoreConfig, result: list[Any]) -> Gen[Decision]:
    """The decision a ``decided`` reply names (:data:`STANDING_LUA`); one written but never
    confirmed by replicas (``HITL_REDIS_MIN_REPLICAS``) is confirmed and announced first."""
    decision = lenient(Decision, result[2])
    if len(result) > 3 and result[3] == "1":
        yield from replicas.confirm(cfg, decision)
    return decision


def _reply(request_id: str, result: list[Any]) -> bool:
    """What TRANSITION's reply means: True when written, False when a decision stands; the
    other codes raise."""
    code = result[0]
    if code == "ok":
        return True
    if code == "decided":
        return False
    if code == "not_due":
        raise NotDue(int(result[1]), int(result[2]))
    if code == "past_deadline":
        raise _PastDeadline
    if code == "stale":
        raise _Stale
    if code == "not_found":
        raise RequestNotFound(request_id)
    raise ValueError(f"transition: unexpected reply {result!r}")


def _step(
    cfg: StoreConfig,
    decision: Decision,
    mode: Mode,
    events: list[AuditEvent],
    policy_seen: bool | None = None,
) -> Eval:
    k = cfg.keys
    rid = decision.request_id
    return Eval(
        TRANSITION,
        (
            k.request(rid),
            k.timers,
            k.pending,
            k.deadlines,
            k.outcomes,
            k.audit,
            k.decided_channel(rid),
        ),
        (
            rid,
            decision.status.value,
            decision.model_dump_json(),
            mode,
            cfg.queue_maxlen,
            "0" if cfg.min_replicas else "1",
            Timer.expire(rid).member,
            "" if policy_seen is None else str(int(policy_seen)),
            *audit_args(events),
        ),
    )


def _transition(
    cfg: StoreConfig,
    decision: Decision,
    mode: Mode,
    events: list[AuditEvent],
    policy_seen: bool | None = None,
) -> Gen[Decision]:
    step = _step(cfg, decision, mode, events, policy_seen)
    if cfg.min_replicas:
        result, acked = yield from replicas.eval_and_wait(cfg, step)
        if result[0] == "ok":
            replicas.check(cfg, decision.request_id, acked)
            yield from replicas.announce(cfg, decision)
    else:
        result = yield step
    if _reply(decision.request_id, result):
        return decision
    raise AlreadyDecided((yield from standing_decision(cfg, result)))


def _policy_digest(state: RequestState) -> str | None:
    return state.policy.digest() if state.policy is not None else None


def _decision_events(state: RequestState, decision: Decision, who: str) -> list[AuditEvent]:
    rid = decision.request_id
    original, final = state.request.payload, decision.payload
    policy_digest = _policy_digest(state)
    events = []
    if decision.edited:
        events.append(
            AuditEvent(
                event="edited",
                request_id=rid,
                actor=who,
                args_digest=digest(final),
                data={"original_digest": digest(original), "payload": final},
                policy_digest=policy_digest,
            )
        )
    events.append(
        AuditEvent(
            event=cast(AuditEventType, decision.status.value),
            request_id=rid,
            actor=who,
            args_digest=digest(final),
            reason=decision.reason,
            data={"payload": final, "edited": decision.edited} | _votes(decision),
            policy_digest=policy_digest,
        )
    )
    return events


def _votes(decision: Decision) -> dict[str, Any]:
    """The votes a decision counted, as its audit entry records them (none: nothing)."""
    if not decision.votes:
        return {}
    return {"votes": [v.model_dump(mode="json", exclude={"v"}) for v in decision.votes]}


def decide(
    cfg: StoreConfig,
    request_id: str,
    status: Status,
    *,
    payload: dict[str, Any] | None = None,
    reason: str | None = None,
    decided_by: tuple[str, ...] = (),
    actor: str | None = None,
    votes: tuple[Vote, ...] = (),
) -> Gen[Decision]:
    """Write a decision (approve, reject, cancel) through the one atomic step.

    What the decision means is the request kind's (:meth:`hitl_slack.kinds.Kind.settle`): for
    an approval, ``payload`` None keeps the request's arguments and a different one is an edit.
    With ``min_replicas`` > 0 the decision is announced (shown, published, readable) only once
    ``WAIT`` confirms enough replicas have it; a decision left unconfirmed is confirmed and
    announced by the next attempt to decide or expire the request. The audit entries carry
    the digest of the policy snapshot the request is decided by, when it has one.

    Raises:
        AlreadyDecided: a decision already stands (also when the deadline has passed: the
            request is then expired first, and that is the decision that stands).
        RequestNotFound: no such request.
        NotReplicated: too few replicas confirmed the decision in time.
    """
    state = yield from get(cfg, request_id)
    if state.decision is not None:
        raise AlreadyDecided(state.decision)
    if status is Status.PENDING:
        raise ValueError("a decision cannot be 'pending'")
    final, edited = kinds.of(state.request).settle(state.request, status, payload)
    decision = Decision(
        request_id=request_id,
        status=status,
        payload=final,
        edited=edited,
        reason=reason,
        decided_by=decided_by,
        votes=votes,
    )
    who = actor or (",".join(f"slack:{u}" for u in decided_by) or "agent")
    try:
        return (
            yield from _transition(cfg, decision, "decide", _decision_events(state, decision, who))
        )
    except _PastDeadline:
        expired = yield from expire(cfg, request_id)
        raise AlreadyDecided(expired) from None


def timeout_outcome(state: RequestState) -> tuple[Decision, AuditEvent]:
    """What the deadline decides for a pending request: its stored policy's ``on_timeout``.

    ``expire`` (and a request never posted: no policy yet) expires it; ``reject`` rejects it;
    ``approve`` approves it, never for a critical request (that one expires). Votes already
    enough (their decision lost with a crash before it was written) approve it.
    """
    rid, policy = state.request.id, state.policy
    status: Status = Status.EXPIRED
    reason: str | None = NO_DECISION
    by: tuple[str, ...] = ()
    votes: tuple[Vote, ...] = ()
    if policy is not None and state.approvals() and len(state.approvals()) >= policy.quorum:
        counted = state.approvals()[: policy.quorum]
        status, reason, by, votes = Status.APPROVED, None, tuple(v.who for v in counted), counted
    elif policy is not None and policy.on_timeout == "reject":
        status = Status.REJECTED
    elif (
        policy is not None
        and policy.on_timeout == "approve"
        and state.request.risk is not Risk.CRITICAL  # never approved by the clock
    ):
        status = Status.APPROVED
        reason = (
            f"approved by policy: {NO_DECISION} (route {policy.route or '(defaults)'}: "
            'on_timeout = "approve")'
        )
    # Approved: the arguments voted on (edited, perhaps); otherwise the request's own.
    payload = state.arguments if status is Status.APPROVED else state.request.payload
    decision = Decision(
        request_id=rid,
        status=status,  # type: ignore[arg-type]  # final: expired, rejected or approved
        payload=payload,
        edited=status is Status.APPROVED and payload != state.request.payload,
        reason=reason,
        decided_by=by,
        votes=votes,
    )
    event = AuditEvent(
        event=cast(AuditEventType, status.value),
        request_id=rid,
        actor="clock",
        args_digest=digest(payload),
        reason=reason,
        data=_votes(decision) | ({"on_timeout": policy.on_timeout} if policy else {}),
        policy_digest=_policy_digest(state),
    )
    return decision, event


def expire(cfg: StoreConfig, request_id: str) -> Gen[Decision]:
    """Apply the deadline: what the request's policy says it decides (:func:`timeout_outcome`),
    if still pending, whoever runs it (the bot's scheduler, or an agent whose wait ended).

    Returns the decision that stands (the deadline's, or the one that won the race).

    Raises:
        NotDue: the deadline has not passed by Redis' clock.
        RequestNotFound: no such request.
    """
    while True:
        state = yield from get(cfg, request_id)
        if state.decision is not None:
            return state.decision
        decision, event = timeout_outcome(state)
        try:
            return (
                yield from _transition(
                    cfg, decision, "expire", [event], policy_seen=state.policy is not None
                )
            )
        except AlreadyDecided as exc:
            return exc.decision
        except _Stale:  # posted meanwhile: its policy decides
            continue


def current(cfg: StoreConfig, request_id: str, now: datetime) -> Gen[RequestState]:
    """A request's state; one pending past its deadline (by ``now``) is expired first.

    Raises:
        RequestNotFound: no such request (or its retention ended).
    """
    state = yield from get(cfg, request_id)
    if not state.pending or now < state.effective_deadline:
        return state
    try:
        yield from expire(cfg, request_id)
    except NotDue:  # this host's clock is ahead of Redis'
        return state
    return (yield from get(cfg, request_id))
