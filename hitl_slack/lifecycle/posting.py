"""Posting a request in Slack: mark the attempt, then record the message and its policy.

:data:`READ_POSTING` reads a request and marks that a post is under way, so a crash or a lost
answer mid-post leaves a trace; :data:`MARK_POSTED` records where the message is and the
policy snapshot the request is decided by, applying the policy's deadline (only ever earlier:
the expiry timer and the pending index move with it), with a ``posted`` audit entry carrying
the policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hitl_slack.errors import RequestNotFound
from hitl_slack.lifecycle.auditing import audit_args
from hitl_slack.lifecycle.commands import (
    AUDIT_LUA,
    NOW_LUA,
    Eval,
    Gen,
    LuaScript,
    moment,
    to_ms,
)
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.reading import parse_state
from hitl_slack.lifecycle.timers import ESCALATE, REMIND, Timer
from hitl_slack.models import AuditEvent, MessageRef, RequestState, Status, lenient
from hitl_slack.policy import Policy
from hitl_slack.policy import deadline as policy_deadline

__all__ = ["MARK_POSTED", "READ_POSTING", "Posted", "mark_posted", "read_posting"]

READ_POSTING = LuaScript(
    "read_posting",
    """
-- Reads a request; with ARGV[1], first marks that a post is under way if the request still
-- needs a message (the first attempt's time stands): if the bot dies or loses Slack's answer
-- mid-post, the next try finds the mark and looks for the message before posting again.
-- KEYS[1] = request hash
-- ARGV[1] = this attempt's time (Unix ms), or "" to read only
-- returns the hash's fields as they were before the mark (HGETALL); empty if it is gone
local fields = redis.call('HGETALL', KEYS[1])
if ARGV[1] ~= '' and #fields > 0 and redis.call('HGET', KEYS[1], 'status') == 'pending'
    and redis.call('HEXISTS', KEYS[1], 'message') == 0 then
  redis.call('HSETNX', KEYS[1], 'post_attempt', ARGV[1])
end
return fields
""",
)

MARK_POSTED = LuaScript(
    "mark_posted",
    """
-- Records where the approval message was posted and the policy snapshot it is decided by,
-- with its deadline (only ever earlier); the first record stands (no double post).
-- KEYS[1] = request hash       KEYS[2] = audit stream
-- KEYS[3] = timers zset        KEYS[4] = pending zset
-- ARGV[1] = message JSON       ARGV[2] = policy JSON       ARGV[3] = request id
-- ARGV[4] = the policy's deadline (epoch ms)
-- ARGV[5] = the request's expiry timer (member of the timers zset)
-- ARGV[6] = the policy's other timers (JSON [[member, "a", ms after posting] or
--           [member, "s", share of the time from posting to the deadline]]); each is set
--           only if due before the deadline (by Redis' clock: posting is now)
-- ARGV[7..] = audit entries (canonical JSON bodies)
-- returns {"ok", status, deadline ms in force} | {"not_found"}
--       | {"exists", message JSON, status}
"""
    + AUDIT_LUA
    + NOW_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
local existing = redis.call('HGET', KEYS[1], 'message')
if existing then return {'exists', existing, status} end
redis.call('HSET', KEYS[1], 'message', ARGV[1], 'policy', ARGV[2])
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
local wanted = tonumber(ARGV[4])
if status == 'pending' and wanted < deadline then
  deadline = wanted
  redis.call('HSET', KEYS[1], 'deadline', ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
end
if status == 'pending' then
  local now = now_ms()
  for _, t in ipairs(cjson.decode(ARGV[6])) do
    local due = now + math.floor(t[3])
    if t[2] == 's' then due = now + math.floor(t[3] * (deadline - now)) end
    if due < deadline then redis.call('ZADD', KEYS[3], due, t[1]) end
  end
end
audit_all(KEYS[2], 7)
return {'ok', status, deadline}
""",
)


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


def read_posting(
    cfg: StoreConfig, request_id: str, mark: datetime | None
) -> Gen[tuple[RequestState, datetime | None]]:
    """Read a request with the time its first post attempt began (None if never attempted).

    With ``mark``, a request that still needs a message is first marked as being posted at
    ``mark`` (the first mark stands), so a crash or a lost answer mid-post leaves a trace.

    Raises:
        RequestNotFound: no such request (or its retention ended).
    """
    flat = yield Eval(READ_POSTING, (cfg.keys.request(request_id),), (to_ms(mark) if mark else "",))
    if not flat:
        raise RequestNotFound(request_id)
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    return parse_state(request_id, fields), moment(fields.get("post_attempt"))


def _reply(request_id: str, message: MessageRef, result: list[Any]) -> Posted:
    """What MARK_POSTED's reply means (every return code of the script)."""
    code = result[0]
    if code == "ok":
        return Posted(True, Status(result[1]), message, moment(result[2]))
    if code == "exists":
        return Posted(False, Status(result[2]), lenient(MessageRef, result[1]), None)
    if code == "not_found":
        raise RequestNotFound(request_id)
    raise ValueError(f"mark_posted: unexpected reply {result!r}")


def policy_timers(request_id: str, policy: Policy, *, escalate_now: bool = False) -> str:
    """The reminders' and escalation levels' timers of a request, for :data:`MARK_POSTED`.

    Args:
        escalate_now: the first escalation level is due at once (the quorum cannot be reached
            by the approvers of the route alone).
    """
    timers: list[list[object]] = []
    for n, offset in enumerate(policy.reminders, 1):
        member = Timer(REMIND, request_id, n).member
        if offset.share is not None:
            timers.append([member, "s", offset.share])
        else:
            timers.append([member, "a", round((offset.after or 0) * 1000)])
    for n, level in enumerate(policy.escalate, 1):
        after = 0 if escalate_now and n == 1 else round(level.after * 1000)
        timers.append([Timer(ESCALATE, request_id, n).member, "a", after])
    return json.dumps(timers)


def mark_posted(
    cfg: StoreConfig,
    state: RequestState,
    message: MessageRef,
    policy: Policy,
    actor: str = "bot",
    *,
    escalate_now: bool = False,
) -> Gen[Posted]:
    """Record where a request's message was posted and the policy it is decided by.

    In one atomic step: the message, the policy snapshot, its deadline (applied only if
    earlier than the one in force, by :func:`hitl_slack.policy.deadline`, moving the expiry
    timer and the pending index with it) and a ``posted`` audit entry carrying the policy.
    The policy's reminder and escalation timers are set too (:func:`policy_timers`). The first
    record stands: a second one (another replica posted too) changes nothing and returns the
    message in force.

    Args:
        state: the request as read before posting (its creation time and timeout give the
            policy's deadline).

    Raises:
        RequestNotFound: the request is gone (lost with Redis' data while being posted).
    """
    k = cfg.keys
    request_id = state.request.id
    data = message.model_dump(mode="json", exclude_none=True)
    event = AuditEvent(
        event="posted",
        request_id=request_id,
        actor=actor,
        data={**data, "policy": policy.model_dump(mode="json")},
        policy_digest=policy.digest(),
    )
    result = yield Eval(
        MARK_POSTED,
        (k.request(request_id), k.audit, k.timers, k.pending),
        (
            message.model_dump_json(),
            policy.model_dump_json(),
            request_id,
            to_ms(policy_deadline(state.created_at, state.request.timeout, policy)),
            Timer.expire(request_id).member,
            policy_timers(request_id, policy, escalate_now=escalate_now),
            *audit_args([event]),
        ),
    )
    return _reply(request_id, message, result)
