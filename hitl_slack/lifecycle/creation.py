"""Creating a request: store it, queue it, set its expiry timer, audit it, in one step.

Agents run this step in their own processes, so agents older than the bot keep running their
own version of it for a while (see :mod:`hitl_slack.lifecycle.schedule` for how the bot takes
their requests over).
"""

from __future__ import annotations

from dataclasses import dataclass

from hitl_slack import kinds
from hitl_slack.errors import InvalidRequest
from hitl_slack.lifecycle.auditing import audit_args
from hitl_slack.lifecycle.commands import AUDIT_LUA, NOW_LUA, Command, Eval, Gen, LuaScript, moment
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.reading import get
from hitl_slack.lifecycle.timers import Timer
from hitl_slack.models import AuditEvent, Request, RequestState, Status, digest

__all__ = ["CREATE", "create"]

CREATE = LuaScript(
    "create",
    """
-- KEYS[1] = request hash       KEYS[2] = idempotency key (or the request hash when none)
-- KEYS[3] = queue stream       KEYS[4] = timers zset       KEYS[5] = pending zset
-- KEYS[6] = audit stream
-- ARGV[1] = request id         ARGV[2] = request JSON      ARGV[3] = timeout (ms)
-- ARGV[4] = TTL (ms)           ARGV[5] = queue MAXLEN
-- ARGV[6] = "1" if an idempotency key is given, else "0"
-- ARGV[7] = the request's expiry timer (member of the timers zset)
-- ARGV[8..] = audit entries (canonical JSON bodies)
-- The deadline is Redis' TIME + timeout: the same clock that judges it (agents' clocks drift).
-- returns {"created", id, deadline ms, created ms}
--       | {"existing", id of the request holding the key}
--       | {"duplicate_id", id}
"""
    + AUDIT_LUA
    + NOW_LUA
    + """
if ARGV[6] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {'existing', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate_id', ARGV[1]} end
local created = now_ms()
local deadline = created + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'request', ARGV[2], 'status', 'pending', 'deadline', deadline,
           'created', created)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[6] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4]) end
redis.call('ZADD', KEYS[4], deadline, ARGV[7])
redis.call('ZADD', KEYS[5], deadline, ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1])
audit_all(KEYS[6], 8)
return {'created', ARGV[1], deadline, created}
""",
)


@dataclass(frozen=True, slots=True)
class _Created:
    state: RequestState


@dataclass(frozen=True, slots=True)
class _Existing:
    request_id: str


@dataclass(frozen=True, slots=True)
class _DuplicateId:
    pass


def _reply(req: Request, result: list[str]) -> _Created | _Existing | _DuplicateId:
    """What CREATE's reply means (every return code of the script)."""
    code = result[0]
    if code == "created":
        created = moment(result[3]) if len(result) > 3 else None
        state = RequestState(
            request=req, status=Status.PENDING, deadline=moment(result[2]), created=created
        )
        return _Created(state)
    if code == "existing":
        return _Existing(result[1])
    if code == "duplicate_id":
        return _DuplicateId()
    raise ValueError(f"create: unexpected reply {result!r}")


def _events(req: Request) -> list[AuditEvent]:
    actor = f"agent:{req.agent}" if req.agent else "agent"
    args_digest = digest(req.payload)
    data = kinds.of(req).audit_data(req)
    return [
        AuditEvent(
            event="created", request_id=req.id, actor=actor, args_digest=args_digest, data=data
        ),
        AuditEvent(event="queued", request_id=req.id, actor=actor, args_digest=args_digest),
    ]


def _step(cfg: StoreConfig, req: Request, request_json: str) -> Eval:
    k = cfg.keys
    idem_key = k.idempotency(req.idempotency_key) if req.idempotency_key else k.request(req.id)
    return Eval(
        CREATE,
        (k.request(req.id), idem_key, k.queue, k.timers, k.pending, k.audit),
        (
            req.id,
            request_json,
            int(req.timeout * 1000),
            int((req.timeout + cfg.retention) * 1000),
            cfg.queue_maxlen,
            "1" if req.idempotency_key else "0",
            Timer.expire(req.id).member,
            *audit_args(_events(req)),
        ),
    )


def create(cfg: StoreConfig, req: Request) -> Gen[tuple[RequestState, bool]]:
    """Store and queue a validated request; returns (state, created).

    With an idempotency key already in use, returns the existing request's state and False.

    Raises:
        InvalidRequest: the key is in use by a request with other arguments, or the id exists.
    """
    request_json = req.model_dump_json()
    outcome = _reply(req, (yield _step(cfg, req, request_json)))
    if isinstance(outcome, _Created):
        return outcome.state, True
    if isinstance(outcome, _Existing):
        state = yield from get(cfg, outcome.request_id)
        old = state.request
        if (old.action, digest(old.payload)) != (req.action, digest(req.payload)):
            raise InvalidRequest(
                f"idempotency_key {req.idempotency_key!r} is already used by request "
                f"{old.id} with a different action or payload",
                [("idempotency_key", "already used with different arguments")],
            )
        return state, False
    # A retry after a reply lost with the connection finds its own first attempt: same JSON.
    stored = yield Command(("HGET", cfg.keys.request(req.id), "request"))
    if stored == request_json:
        state = yield from get(cfg, req.id)
        return state, True
    raise InvalidRequest(f"request id {req.id!r} already exists", [("id", "already exists")])
