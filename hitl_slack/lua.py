"""Lua scripts: every state change of a request is one of these, atomically.

Each script is a string constant with a ``KEYS`` / ``ARGV`` header and one typed wrapper in
:mod:`hitl_slack.store` that maps its return code to a value or an exception. Every script that
writes an audit entry appends it to the hash chain in the same atomic step, so a decision and
its audit entry are never apart, and concurrent writers (bot replicas, agents) never fork the
chain.

Redis' Lua has no sha256 (only ``redis.sha1hex``), so :data:`SHA256_LUA` implements it with
the ``bit`` library Redis loads; tests check it against :func:`hashlib.sha256`.
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
    "SHA256_PROBE",
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


SHA256_LUA = r"""
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local function sha256(msg)
  local len = #msg
  local bits = len * 8
  local hi = math.floor(bits / 4294967296)
  local lo = bits % 4294967296
  msg = msg .. '\128' .. string.rep('\0', (55 - len) % 64)
    .. string.char(band(rshift(hi, 24), 255), band(rshift(hi, 16), 255),
                   band(rshift(hi, 8), 255), band(hi, 255),
                   band(rshift(lo, 24), 255), band(rshift(lo, 16), 255),
                   band(rshift(lo, 8), 255), band(lo, 255))
  local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
  local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = string.byte(msg, chunk + i * 4, chunk + i * 4 + 3)
      w[i] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[i + 1] + w[i])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(S0 + maj)
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  return bit.tohex(h0) .. bit.tohex(h1) .. bit.tohex(h2) .. bit.tohex(h3)
      .. bit.tohex(h4) .. bit.tohex(h5) .. bit.tohex(h6) .. bit.tohex(h7)
end
"""

# Appends one entry to the chain: hash = sha256(bytes(prev) + bytes(sha256(body))), 64 bytes
# hashed in Lua (two blocks); the body's own digest is computed by the caller, outside Redis.
_AUDIT_LUA = SHA256_LUA + r"""
local function unhex(s)
  return (string.gsub(s, '..', function(x) return string.char(tonumber(x, 16)) end))
end
local function audit(audit_key, head_key, maxlen, body, body_digest)
  local prev = redis.call('GET', head_key) or '""" + GENESIS + r"""'
  local h = sha256(unhex(prev) .. unhex(body_digest))
  if tonumber(maxlen) > 0 then
    redis.call('XADD', audit_key, 'MAXLEN', '~', maxlen, '*', 'body', body, 'prev', prev, 'hash', h)
  else
    redis.call('XADD', audit_key, '*', 'body', body, 'prev', prev, 'hash', h)
  end
  redis.call('SET', head_key, h)
end
local function audit_all(audit_key, head_key, maxlen, first)
  for i = first, #ARGV, 2 do audit(audit_key, head_key, maxlen, ARGV[i], ARGV[i + 1]) end
end
"""

SHA256_PROBE = LuaScript("sha256_probe", SHA256_LUA + "return sha256(ARGV[1])")

AUDIT_APPEND = LuaScript("audit_append", """
-- KEYS[1] = audit stream       KEYS[2] = audit head
-- ARGV[1] = audit MAXLEN       ARGV[2..] = audit entries: body (canonical JSON), its sha256, ...
-- returns 1
""" + _AUDIT_LUA + """
audit_all(KEYS[1], KEYS[2], ARGV[1], 2)
return 1
""")

CREATE = LuaScript("create", """
-- KEYS[1] = request hash       KEYS[2] = idempotency key (or the request hash when none)
-- KEYS[3] = queue stream       KEYS[4] = deadlines zset
-- KEYS[5] = audit stream       KEYS[6] = audit head
-- ARGV[1] = request id         ARGV[2] = request JSON      ARGV[3] = timeout (ms)
-- ARGV[4] = TTL (ms)           ARGV[5] = queue MAXLEN      ARGV[6] = audit MAXLEN
-- ARGV[7] = "1" if an idempotency key is given, else "0"
-- ARGV[8..] = audit entries (body, body sha256, ...)
-- The deadline is Redis' TIME + timeout: the same clock that judges it (agents' clocks drift).
-- returns {"created", id, deadline ms} | {"existing", id of the request holding the key}
--       | {"duplicate_id", id}
""" + _AUDIT_LUA + """
if ARGV[7] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {'existing', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate_id', ARGV[1]} end
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'request', ARGV[2], 'status', 'pending', 'deadline', deadline)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[7] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4]) end
redis.call('ZADD', KEYS[4], deadline, ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1])
audit_all(KEYS[5], KEYS[6], ARGV[6], 8)
return {'created', ARGV[1], deadline}
""")

TRANSITION = LuaScript("transition", """
-- The one step every decision goes through: approve, reject, expire, cancel.
-- KEYS[1] = request hash       KEYS[2] = deadlines zset    KEYS[3] = outcomes stream
-- KEYS[4] = audit stream       KEYS[5] = audit head        KEYS[6] = decided pub/sub channel
-- ARGV[1] = request id         ARGV[2] = new status        ARGV[3] = decision JSON
-- ARGV[4] = mode: "decide" (refused once the deadline passed) | "expire" (only once it passed)
-- ARGV[5] = outcomes MAXLEN    ARGV[6] = audit MAXLEN      ARGV[7..] = audit entries (body, sha256)
-- returns {"ok"} | {"not_found"} | {"decided", status, decision JSON}
--       | {"past_deadline", deadline ms} | {"not_due", deadline ms, now ms}
""" + _AUDIT_LUA + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if status ~= 'pending' then
  return {'decided', status, redis.call('HGET', KEYS[1], 'decision')}
end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[4] == 'expire' and now < deadline then return {'not_due', deadline, now} end
if ARGV[4] == 'decide' and now >= deadline then return {'past_deadline', deadline} end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decision', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'id', ARGV[1], 'status', ARGV[2])
audit_all(KEYS[4], KEYS[5], ARGV[6], 7)
redis.call('PUBLISH', KEYS[6], ARGV[3])
return {'ok'}
""")

READ_POSTING = LuaScript("read_posting", """
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
""")

MARK_POSTED = LuaScript("mark_posted", """
-- Records where the approval message was posted; the first record stands (no double post).
-- KEYS[1] = request hash       KEYS[2] = audit stream      KEYS[3] = audit head
-- ARGV[1] = message JSON       ARGV[2] = audit MAXLEN      ARGV[3..] = audit entries (body, sha256)
-- returns {"ok", status} | {"not_found"} | {"exists", message JSON, status}
""" + _AUDIT_LUA + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
local existing = redis.call('HGET', KEYS[1], 'message')
if existing then return {'exists', existing, status} end
redis.call('HSET', KEYS[1], 'message', ARGV[1])
audit_all(KEYS[2], KEYS[3], ARGV[2], 3)
return {'ok', status}
""")

SHORTEN_DEADLINE = LuaScript("shorten_deadline", """
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
""")
