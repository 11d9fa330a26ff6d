"""What happens to a posted request before its decision: reminders, escalation, more copies.

:data:`ADVANCE` records that a reminder was sent or an escalation level reached, once (the
first step wins among bot replicas), with its audit entry; an escalation also queues a
refresh of the message (it shows who was added). The levels reached widen who may decide
(:meth:`hitl_slack.policy.Policy.approvers_at`). :data:`ADD_COPY` records another message
showing the request (an escalation channel's, an approver's DM); every copy decides the same
request and is updated with the decision. :data:`MARK_ONCE` sets a flag once (the outcome's
thread reply is posted by one replica, once).
"""

from __future__ import annotations

from typing import Any, Literal

from hitl_slack.errors import RequestNotFound
from hitl_slack.lifecycle.auditing import audit_args
from hitl_slack.lifecycle.commands import AUDIT_LUA, Eval, Gen, LuaScript
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.models import AuditEvent, MessageRef

__all__ = ["ADD_COPY", "ADVANCE", "MARK_ONCE", "Step", "add_copy", "advance", "mark_once"]

#: What :func:`advance` records: a reminder sent, or an escalation level reached.
Step = Literal["reminded", "level"]

ADVANCE = LuaScript(
    "advance",
    """
-- KEYS[1] = request hash       KEYS[2] = audit stream       KEYS[3] = outcomes stream
-- ARGV[1] = the field: "reminded" | "level"                 ARGV[2] = its new number
-- ARGV[3] = "1": queue a refresh of the message            ARGV[4] = request id
-- ARGV[5] = outcomes MAXLEN    ARGV[6..] = audit entries (canonical JSON bodies)
-- returns {"ok"} | {"done"} (that number or a later one was reached) | {"decided", status}
--       | {"not_found"}
"""
    + AUDIT_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if status ~= 'pending' then return {'decided', status} end
local done = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if done >= tonumber(ARGV[2]) then return {'done'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
audit_all(KEYS[2], 6)
if ARGV[3] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[4], 'status', 'pending')
end
return {'ok'}
""",
)

ADD_COPY = LuaScript(
    "add_copy",
    """
-- KEYS[1] = request hash       ARGV[1] = the copy (MessageRef JSON)
-- returns the number of copies | -1 when the request is gone
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local copies = redis.call('HGET', KEYS[1], 'copies')
if not copies or copies == '[]' then
  copies = '[' .. ARGV[1] .. ']'
else
  copies = string.sub(copies, 1, -2) .. ',' .. ARGV[1] .. ']'
end
redis.call('HSET', KEYS[1], 'copies', copies)
return #cjson.decode(copies)
""",
)

MARK_ONCE = LuaScript(
    "mark_once",
    """
-- KEYS[1] = request hash       ARGV[1] = the flag's field
-- returns 1 the first time, 0 after (or when the request is gone: never creates the hash)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
""",
)


def advance(
    cfg: StoreConfig, request_id: str, step: Step, n: int, event: AuditEvent
) -> Gen[Literal["ok", "done", "decided"]]:
    """Record the ``n``-th reminder sent, or escalation level ``n`` reached, once.

    Returns:
        ``ok`` (recorded now: this caller does what it means in Slack), ``done`` (recorded
        before, by this or another replica), ``decided`` (nothing to remind or escalate).

    Raises:
        RequestNotFound: no such request.
    """
    k = cfg.keys
    refresh = "1" if step == "level" else "0"
    result: list[Any] = yield Eval(
        ADVANCE,
        (k.request(request_id), k.audit, k.outcomes),
        (step, n, refresh, request_id, cfg.queue_maxlen, *audit_args([event])),
    )
    if result[0] == "not_found":
        raise RequestNotFound(request_id)
    if result[0] not in ("ok", "done", "decided"):
        raise ValueError(f"advance: unexpected reply {result!r}")
    code: Literal["ok", "done", "decided"] = result[0]
    return code


def add_copy(cfg: StoreConfig, request_id: str, copy: MessageRef) -> Gen[int]:
    """Record another message showing the request; returns how many copies it has.

    Raises:
        RequestNotFound: the request is gone.
    """
    count = yield Eval(ADD_COPY, (cfg.keys.request(request_id),), (copy.model_dump_json(),))
    if int(count) < 0:
        raise RequestNotFound(request_id)
    return int(count)


def mark_once(cfg: StoreConfig, request_id: str, flag: str) -> Gen[bool]:
    """Set ``flag`` on the request; True only the first time (never for a gone request)."""
    first = yield Eval(MARK_ONCE, (cfg.keys.request(request_id),), (flag,))
    return bool(int(first))
