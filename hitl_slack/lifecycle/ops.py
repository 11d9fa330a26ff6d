"""The request lifecycle as pure generators of Redis commands (sans-I/O).

Each operation is written once, as a generator that yields :class:`Command`, :class:`Batch` or
:class:`Eval` values and receives their results; :mod:`hitl_slack.lifecycle.store` drives it with a
sync
or an async Redis client. So the sync and the async clients share every line of logic and
differ only in how a command is sent.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from hitl_slack.errors import AlreadyDecided, InvalidRequest, NotReplicated, RequestNotFound
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.lua import (
    AUDIT_APPEND,
    CREATE,
    MARK_POSTED,
    READ_POSTING,
    SHORTEN_DEADLINE,
    TRANSITION,
    LuaScript,
)
from hitl_slack.models import (
    ApprovalRequest,
    AuditEvent,
    AuditEventType,
    Decision,
    MessageRef,
    RequestState,
    Status,
    digest,
    lenient,
    validation_message,
)
from hitl_slack.policy import Policy, legacy
from hitl_slack.policy import deadline as policy_deadline

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Command:
    """One Redis command, e.g. ``Command(("HGETALL", key))``."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Several commands sent in one round trip (a non-transactional pipeline)."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Eval:
    """A Lua script call."""

    script: LuaScript
    keys: tuple[str, ...]
    args: tuple[Any, ...]


Op = Command | Batch | Eval
Gen = Generator[Op, Any, T]


DEFAULT_RETENTION = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where and how long things are kept.

    Attributes:
        keys: key names under the deployment's prefix.
        retention: seconds a request and its decision are kept after its deadline.
        queue_maxlen: cap of the queue and outcome streams (entries are deleted once handled;
            the cap only bounds a backlog no bot is draining).
        audit_maxlen: how many audit entries the bot's sealer keeps (export them to keep
            more); the atomic steps never trim, so agents' value does not matter.
        min_replicas: ``HITL_REDIS_MIN_REPLICAS``: when > 0, a decision is published to waiting
            agents and returned to the decider only once ``WAIT`` confirms that many replicas
            have it (a failover can then no longer lose a decision an agent acted on).
        replica_timeout: seconds ``WAIT`` may take before the decision counts as unconfirmed.
    """

    keys: Keys = field(default_factory=Keys)
    retention: float = DEFAULT_RETENTION
    queue_maxlen: int = 100_000
    audit_maxlen: int = 1_000_000
    min_replicas: int = 0
    replica_timeout: float = 1.0


class NotDue(Exception):
    """Internal: an expiry was attempted before the deadline (by Redis' clock)."""

    def __init__(self, deadline_ms: int, now_ms: int) -> None:
        super().__init__(f"deadline in {deadline_ms - now_ms} ms")
        self.remaining = max(0.0, (deadline_ms - now_ms) / 1000)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _audit_args(events: list[AuditEvent]) -> tuple[str, ...]:
    # Bodies only: the chain hash is the sealer's job (a digest from an agent proves nothing).
    return tuple(event.body() for event in events)


def parse_state(request_id: str, fields: dict[str, str]) -> RequestState:
    """Build a :class:`RequestState` from a request hash, whatever version wrote it.

    Raises:
        InvalidRequest: the stored entry is not a valid request (names the field).
    """
    if fields.get("unconfirmed") == "1":
        # A decision no replica confirmed yet (HITL_REDIS_MIN_REPLICAS) is not acted on.
        fields = {k: v for k, v in fields.items() if k != "decision"} | {"status": "pending"}
    try:
        message = lenient(MessageRef, fields["message"]) if fields.get("message") else None
        return RequestState(
            request=lenient(ApprovalRequest, fields["request"]),
            status=Status(fields["status"]),
            decision=lenient(Decision, fields["decision"]) if fields.get("decision") else None,
            message=message,
            deadline=_moment(fields.get("deadline")),
            created=_moment(fields.get("created")),
            policy=_policy(fields, message),
        )
    except ValidationError as exc:
        raise validation_message(exc, f"stored request {request_id}") from None
    except (KeyError, ValueError) as exc:
        raise InvalidRequest(f"invalid stored request {request_id}: {exc!r}") from None


def _moment(ms: str | None) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else None


def _policy(fields: dict[str, str], message: MessageRef | None) -> Policy | None:
    """The stored snapshot; for a request posted before snapshots, the one in its message."""
    if fields.get("policy"):
        return lenient(Policy, fields["policy"])
    if message is not None and fields.get("message"):
        return legacy(fields["message"], message.channel)
    return None


def get(cfg: StoreConfig, request_id: str) -> Gen[RequestState]:
    """Read a request's state.

    Raises:
        RequestNotFound: no such request (or its retention ended).
    """
    fields = yield Command(("HGETALL", cfg.keys.request(request_id)))
    if not fields:
        raise RequestNotFound(request_id)
    return parse_state(request_id, fields)


def create(cfg: StoreConfig, req: ApprovalRequest) -> Gen[tuple[RequestState, bool]]:
    """Store and queue a validated request; returns (state, created).

    With an idempotency key already in use, returns the existing request's state and False.

    Raises:
        InvalidRequest: the key is in use by a request with other arguments, or the id exists.
    """
    k = cfg.keys
    ttl_ms = int((req.timeout + cfg.retention) * 1000)
    request_json = req.model_dump_json()
    idem_key = k.idempotency(req.idempotency_key) if req.idempotency_key else k.request(req.id)
    actor = f"agent:{req.agent}" if req.agent else "agent"
    args_digest = digest(req.payload)
    events = [
        AuditEvent(
            event="created",
            request_id=req.id,
            actor=actor,
            args_digest=args_digest,
            data={
                "summary": req.summary,
                "action": req.action,
                "payload": req.payload,
                "risk": req.risk.value,
                "agent": req.agent,
            },
        ),
        AuditEvent(event="queued", request_id=req.id, actor=actor, args_digest=args_digest),
    ]
    result = yield Eval(
        CREATE,
        (k.request(req.id), idem_key, k.queue, k.deadlines, k.audit),
        (
            req.id,
            request_json,
            int(req.timeout * 1000),
            ttl_ms,
            cfg.queue_maxlen,
            "1" if req.idempotency_key else "0",
            *_audit_args(events),
        ),
    )
    code = result[0]
    if code == "created":
        state = RequestState(
            request=req,
            status=Status.PENDING,
            deadline=_moment(result[2]),
            created=_moment(result[3]) if len(result) > 3 else None,
        )
        return state, True
    if code == "existing":
        state = yield from get(cfg, result[1])
        old = state.request
        if (old.action, digest(old.payload)) != (req.action, args_digest):
            raise InvalidRequest(
                f"idempotency_key {req.idempotency_key!r} is already used by request "
                f"{old.id} with a different action or payload",
                [("idempotency_key", "already used with different arguments")],
            )
        return state, False
    # A retry after a reply lost with the connection finds its own first attempt: same JSON.
    stored = yield Command(("HGET", k.request(req.id), "request"))
    if stored == request_json:
        state = yield from get(cfg, req.id)
        return state, True
    raise InvalidRequest(f"request id {req.id!r} already exists", [("id", "already exists")])


_EVENT_OF: dict[Status, AuditEventType] = {
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
}


def decide(
    cfg: StoreConfig,
    request_id: str,
    status: Status,
    *,
    payload: dict[str, Any] | None = None,
    reason: str | None = None,
    decided_by: tuple[str, ...] = (),
    actor: str | None = None,
) -> Gen[Decision]:
    """Write a decision (approve, reject, cancel) through the one atomic step.

    ``payload`` None keeps the request's arguments; a different payload marks it edited.
    With ``min_replicas`` > 0 the decision is announced (shown, published, readable) only once
    ``WAIT`` confirms enough replicas have it; a decision left unconfirmed is confirmed and
    announced by the next attempt to decide or expire the request.

    Raises:
        AlreadyDecided: a decision already stands (also when the deadline has passed: the
            request is then expired first, and that is the decision that stands).
        RequestNotFound: no such request.
    """
    state = yield from get(cfg, request_id)
    if state.decision is not None:
        raise AlreadyDecided(state.decision)
    original = state.request.payload
    final = original if payload is None else payload
    edited = status is Status.APPROVED and final != original
    if status is Status.PENDING:
        raise ValueError("a decision cannot be 'pending'")
    decision = Decision(
        request_id=request_id,
        status=status,
        payload=final,
        edited=edited,
        reason=reason,
        decided_by=decided_by,
    )
    who = actor or (",".join(f"slack:{u}" for u in decided_by) or "agent")
    events = []
    if edited:
        events.append(
            AuditEvent(
                event="edited",
                request_id=request_id,
                actor=who,
                args_digest=digest(final),
                data={"original_digest": digest(original), "payload": final},
            )
        )
    events.append(
        AuditEvent(
            event=_EVENT_OF[status],
            request_id=request_id,
            actor=who,
            args_digest=digest(final),
            reason=reason,
            data={"payload": final, "edited": edited},
        )
    )
    try:
        return (yield from _transition(cfg, decision, "decide", events))
    except _PastDeadline:
        expired = yield from expire(cfg, request_id)
        raise AlreadyDecided(expired) from None


def expire(cfg: StoreConfig, request_id: str) -> Gen[Decision]:
    """Apply the deadline: the request becomes ``expired`` if still pending.

    Returns the decision that stands (``expired``, or the one that won the race).

    Raises:
        NotDue: the deadline has not passed by Redis' clock.
        RequestNotFound: no such request.
    """
    state = yield from get(cfg, request_id)
    if state.decision is not None:
        return state.decision
    decision = Decision(
        request_id=request_id,
        status=Status.EXPIRED,
        payload=state.request.payload,
        reason="no decision before the deadline",
    )
    events = [
        AuditEvent(
            event="expired",
            request_id=request_id,
            actor="clock",
            args_digest=digest(state.request.payload),
            reason=decision.reason,
        )
    ]
    try:
        return (yield from _transition(cfg, decision, "expire", events))
    except AlreadyDecided as exc:
        return exc.decision


class _PastDeadline(Exception):
    pass


def _transition(
    cfg: StoreConfig, decision: Decision, mode: str, events: list[AuditEvent]
) -> Gen[Decision]:
    k = cfg.keys
    rid = decision.request_id
    keys = (k.request(rid), k.deadlines, k.outcomes, k.audit, k.decided_channel(rid))
    args = (
        rid,
        decision.status.value,
        decision.model_dump_json(),
        mode,
        cfg.queue_maxlen,
        "0" if cfg.min_replicas else "1",
        *_audit_args(events),
    )
    if cfg.min_replicas:
        # WAIT counts the writes of its own connection: script and WAIT share one pipeline.
        result, acked = yield Batch(
            (
                Command(("EVAL", TRANSITION.source, len(keys), *keys, *args)),
                Command(("WAIT", cfg.min_replicas, int(cfg.replica_timeout * 1000))),
            )
        )
        if result[0] == "ok":
            _check_replicas(cfg, rid, int(acked))
            yield from _announce(cfg, decision)
    else:
        result = yield Eval(TRANSITION, keys, args)
    code = result[0]
    if code == "ok":
        return decision
    if code == "decided":
        standing = lenient(Decision, result[2])
        if len(result) > 3 and result[3] == "1":  # written, never confirmed: confirm it now
            yield from _confirm(cfg, standing)
        raise AlreadyDecided(standing)
    if code == "not_due":
        raise NotDue(int(result[1]), int(result[2]))
    if code == "past_deadline":
        raise _PastDeadline
    raise RequestNotFound(rid)


def _check_replicas(cfg: StoreConfig, request_id: str, acked: int) -> None:
    if acked < max(cfg.min_replicas, 1):
        raise NotReplicated(
            f"decision on {request_id} reached {acked} of {max(cfg.min_replicas, 1)} Redis "
            f"replicas within {cfg.replica_timeout:g} s (HITL_REDIS_MIN_REPLICAS); it is stored "
            "on the primary but not announced, and a failover now could lose it"
        )


def _announce(cfg: StoreConfig, decision: Decision) -> Gen[None]:
    """Make a confirmed decision visible: readable, shown in Slack, published to waiters."""
    k = cfg.keys
    rid = decision.request_id
    yield Batch(
        (
            Command(("HDEL", k.request(rid), "unconfirmed")),
            Command(
                (
                    "XADD",
                    k.outcomes,
                    "MAXLEN",
                    "~",
                    cfg.queue_maxlen,
                    "*",
                    "id",
                    rid,
                    "status",
                    decision.status.value,
                )
            ),
            Command(("PUBLISH", k.decided_channel(rid), decision.model_dump_json())),
        )
    )


def _confirm(cfg: StoreConfig, decision: Decision) -> Gen[None]:
    """Confirm a decision a failed WAIT left unannounced: replication is in order, so once a
    later write of ours reached the replicas, so did the decision."""
    key = cfg.keys.request(decision.request_id)
    _, acked = yield Batch(
        (
            Command(("HSET", key, "unconfirmed", "1")),
            Command(("WAIT", max(cfg.min_replicas, 1), int(cfg.replica_timeout * 1000))),
        )
    )
    _check_replicas(cfg, decision.request_id, int(acked))
    yield from _announce(cfg, decision)


def read_posting(
    cfg: StoreConfig, request_id: str, mark: datetime | None
) -> Gen[tuple[RequestState, datetime | None]]:
    """Read a request with the time its first post attempt began (None if never attempted).

    With ``mark``, a request that still needs a message is first marked as being posted at
    ``mark`` (the first mark stands), so a crash or a lost answer mid-post leaves a trace.

    Raises:
        RequestNotFound: no such request (or its retention ended).
    """
    flat = yield Eval(READ_POSTING, (cfg.keys.request(request_id),), (_ms(mark) if mark else "",))
    if not flat:
        raise RequestNotFound(request_id)
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    attempted = fields.get("post_attempt")
    since = datetime.fromtimestamp(int(attempted) / 1000, UTC) if attempted else None
    return parse_state(request_id, fields), since


def mark_posted(
    cfg: StoreConfig, state: RequestState, message: MessageRef, policy: Policy, actor: str = "bot"
) -> Gen[Posted]:
    """Record where a request's message was posted and the policy it is decided by.

    In one atomic step: the message, the policy snapshot, the policy's deadline (applied only
    if earlier than the one in force, by :func:`hitl_slack.policy.deadline`) and a ``posted``
    audit entry carrying the policy. The first record stands: a second one (another replica
    posted too) changes nothing and returns the message in force.

    Args:
        state: the request as read before posting (its creation time and timeout give the
            policy's deadline).

    Raises:
        RequestNotFound: the request is gone (lost with Redis' data while being posted).
    """
    k = cfg.keys
    request_id = state.request.id
    deadline = policy_deadline(state.created_at, state.request.timeout, policy)
    data = message.model_dump(mode="json", exclude_none=True)
    events = [
        AuditEvent(
            event="posted",
            request_id=request_id,
            actor=actor,
            data={**data, "policy": policy.model_dump(mode="json")},
            policy_digest=policy.digest(),
        )
    ]
    result = yield Eval(
        MARK_POSTED,
        (k.request(request_id), k.audit, k.deadlines),
        (
            message.model_dump_json(),
            policy.model_dump_json(),
            request_id,
            _ms(deadline),
            *_audit_args(events),
        ),
    )
    if result[0] == "ok":
        return Posted(True, Status(result[1]), message, _moment(result[2]))
    if result[0] == "exists":
        return Posted(False, Status(result[2]), lenient(MessageRef, result[1]), None)
    raise RequestNotFound(request_id)


@dataclass(frozen=True, slots=True)
class Posted:
    """What recording a post found.

    Attributes:
        recorded: whether this record stands (False: another was recorded first).
        status: the request's status at the record.
        message: the message in force (this one, or the one recorded first).
        deadline: the deadline in force after the record (None when not recorded).
    """

    recorded: bool
    status: Status
    message: MessageRef
    deadline: datetime | None


def shorten_deadline(cfg: StoreConfig, request_id: str, deadline: datetime) -> Gen[datetime]:
    """Move a pending request's deadline earlier (never later); returns the one in force."""
    result = yield Eval(
        SHORTEN_DEADLINE,
        (cfg.keys.request(request_id), cfg.keys.deadlines),
        (request_id, _ms(deadline)),
    )
    if int(result) < 0:
        raise RequestNotFound(request_id)
    return datetime.fromtimestamp(int(result) / 1000, UTC)


def audit(cfg: StoreConfig, *events: AuditEvent) -> Gen[None]:
    """Append events (not tied to a state change) to the audit chain."""
    yield Eval(AUDIT_APPEND, (cfg.keys.audit,), _audit_args(list(events)))


def due(cfg: StoreConfig, limit: int = 100) -> Gen[list[str]]:
    """Ids of pending requests whose deadline has passed, by Redis' clock (the judge's)."""
    seconds, micros = yield Command(("TIME",))
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    ids = yield Command(("ZRANGEBYSCORE", cfg.keys.deadlines, "-inf", now_ms, "LIMIT", 0, limit))
    return list(ids)


def pending(cfg: StoreConfig, limit: int = 50) -> Gen[list[RequestState]]:
    """Pending requests, soonest deadline first; entries that fail to parse are skipped."""
    ids = yield Command(("ZRANGE", cfg.keys.deadlines, 0, limit - 1))
    if not ids:
        return []
    rows = yield Batch(tuple(Command(("HGETALL", cfg.keys.request(i))) for i in ids))
    states = []
    for rid, fields in zip(ids, rows, strict=True):
        if not fields:
            continue
        try:
            states.append(parse_state(rid, fields))
        except InvalidRequest:
            continue
    return [s for s in states if s.pending]


def decision_from_message(data: str) -> Decision:
    """Parse a decision published on a request's channel."""
    return lenient(Decision, data)
