"""Lua scripts: every state change of a request is one of these, atomically.

Each script is a string constant with a ``KEYS`` / ``ARGV`` header and one typed wrapper in
:mod:`hitl_slack.lifecycle.store` that maps its return code to a value or an exception. Every
script that
writes an audit entry appends it to the audit stream in the same atomic step, so a decision and
its audit entry are never apart and concurrent writers (bot replicas, agents) share one order.

The step fixes the ORDER only; the hash chain over that order is computed outside Redis' single
thread by the bot's sealer (:mod:`hitl_slack.service.sealer`), which records checkpoints with
:data:`SEAL`. See :mod:`hitl_slack.audit.chain`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = [
    "AUDIT_APPEND",
    "CREATE",
    "GENESIS",
    "MARK_POSTED",
    "READ_POSTING",
    "SEAL",
    "SHORTEN_DEADLINE",
    "TRANSITION",
    "LuaScript",
]

#: ``prev`` of the first audit entry.
GENESIS = "0" * 64


@dataclass(frozen=True)
class LuaScript:
    """A script's source and its SHA1 (for EVALSHA)."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324 (Redis' script id)


# Audit entries are appended in stream order inside the atomic step; nothing is hashed here
# (sha256 in Lua cost ~300 µs of Redis' single thread per create). The chain is computed by the
# bot's sealer (:mod:`hitl_slack.service.sealer`) from the bodies, outside Redis. No MAXLEN either:
# the sealer trims at a checkpoint, so the kept trail always starts where a checkpoint vouches.
_AUDIT_LUA = r"""
local function audit_all(audit_key, first)
  for i = first, #ARGV do redis.call('XADD', audit_key, '*', 'body', ARGV[i]) end
end
"""

AUDIT_APPEND = LuaScript(
    "audit_append",
    """
-- KEYS[1] = audit stream       ARGV[1..] = audit entries (canonical JSON bodies)
-- returns 1
"""
    + _AUDIT_LUA
    + """
audit_all(KEYS[1], 1)
return 1
""",
)

CREATE = LuaScript(
    "create",
    """
-- KEYS[1] = request hash       KEYS[2] = idempotency key (or the request hash when none)
-- KEYS[3] = queue stream       KEYS[4] = deadlines zset    KEYS[5] = audit stream
-- ARGV[1] = request id         ARGV[2] = request JSON      ARGV[3] = timeout (ms)
-- ARGV[4] = TTL (ms)           ARGV[5] = queue MAXLEN
-- ARGV[6] = "1" if an idempotency key is given, else "0"
-- ARGV[7..] = audit entries (canonical JSON bodies)
-- The deadline is Redis' TIME + timeout: the same clock that judges it (agents' clocks drift).
-- returns {"created", id, deadline ms, created ms}
--       | {"existing", id of the request holding the key}
--       | {"duplicate_id", id}
"""
    + _AUDIT_LUA
    + """
if ARGV[6] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {'existing', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate_id', ARGV[1]} end
local t = redis.call('TIME')
local created = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = created + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'request', ARGV[2], 'status', 'pending', 'deadline', deadline,
           'created', created)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[6] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4]) end
redis.call('ZADD', KEYS[4], deadline, ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1])
audit_all(KEYS[5], 7)
return {'created', ARGV[1], deadline, created}
""",
)

TRANSITION = LuaScript(
    "transition",
    """
-- The one step every decision goes through: approve, reject, expire, cancel.
-- KEYS[1] = request hash       KEYS[2] = deadlines zset    KEYS[3] = outcomes stream
-- KEYS[4] = audit stream       KEYS[5] = decided pub/sub channel
-- ARGV[1] = request id         ARGV[2] = new status        ARGV[3] = decision JSON
-- ARGV[4] = mode: "decide" (refused once the deadline passed) | "expire" (only once it passed)
-- ARGV[5] = outcomes MAXLEN
-- ARGV[6] = "1": announce now (outcome, publish) | "0": mark it unconfirmed; the caller
--           announces it once WAIT confirms replicas have it (HITL_REDIS_MIN_REPLICAS)
-- ARGV[7..] = audit entries (canonical JSON bodies)
-- returns {"ok"} | {"not_found"} | {"decided", status, decision JSON, unconfirmed "1"|"0"}
--       | {"past_deadline", deadline ms} | {"not_due", deadline ms, now ms}
"""
    + _AUDIT_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if status ~= 'pending' then
  return {'decided', status, redis.call('HGET', KEYS[1], 'decision'),
          redis.call('HGET', KEYS[1], 'unconfirmed') or '0'}
end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[4] == 'expire' and now < deadline then return {'not_due', deadline, now} end
if ARGV[4] == 'decide' and now >= deadline then return {'past_deadline', deadline} end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decision', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
audit_all(KEYS[4], 7)
if ARGV[6] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1], 'status', ARGV[2])
  redis.call('PUBLISH', KEYS[5], ARGV[3])
else
  redis.call('HSET', KEYS[1], 'unconfirmed', '1')
end
return {'ok'}
""",
)

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
-- Records where the approval message was posted and the policy snapshot it is decided by, and
-- applies the policy's deadline (only ever earlier); the first record stands (no double post).
-- KEYS[1] = request hash       KEYS[2] = audit stream      KEYS[3] = deadlines zset
-- ARGV[1] = message JSON       ARGV[2] = policy JSON       ARGV[3] = request id
-- ARGV[4] = the policy's deadline (epoch ms)
-- ARGV[5..] = audit entries (canonical JSON bodies)
-- returns {"ok", status, deadline ms in force} | {"not_found"}
--       | {"exists", message JSON, status}
"""
    + _AUDIT_LUA
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
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
end
audit_all(KEYS[2], 5)
return {'ok', status, deadline}
""",
)

SHORTEN_DEADLINE = LuaScript(
    "shorten_deadline",
    """
-- Moves a pending request's deadline earlier (a route's cap); never later.
-- KEYS[1] = request hash       KEYS[2] = deadlines zset
-- ARGV[1] = request id         ARGV[2] = new deadline (epoch ms)
-- returns the deadline in force (ms), or -1 if the request is gone
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
local current = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
local wanted = tonumber(ARGV[2])
if status ~= 'pending' or wanted >= current then return current end
redis.call('HSET', KEYS[1], 'deadline', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return wanted
""",
)

SEAL = LuaScript(
    "seal",
    """
-- Records a checkpoint of the audit chain, if nobody sealed further meanwhile (compare and set,
-- so several bot replicas may seal at once: the first wins, the others re-read and go on).
-- KEYS[1] = seals stream       KEYS[2] = sealed head (hash: entry, hash, n)
-- ARGV[1] = entry id of the sealed head the caller started from ("" when none)
-- ARGV[2] = newest entry sealed    ARGV[3] = chain hash through it
-- ARGV[4] = count of entries chained through it (trimmed ones included)
-- returns 1 when recorded | 0 when the head moved (another sealer won)
local current = redis.call('HGET', KEYS[2], 'entry') or ''
if current ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[1], '*', 'entry', ARGV[2], 'hash', ARGV[3], 'n', ARGV[4])
redis.call('HSET', KEYS[2], 'entry', ARGV[2], 'hash', ARGV[3], 'n', ARGV[4])
return 1
""",
)
