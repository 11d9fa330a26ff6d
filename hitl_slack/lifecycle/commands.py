"""What a lifecycle generator yields: a Redis command, a batch of them, or a Lua script call.

Every step of a request's life is a generator of these values (sans-I/O, like httpx's auth
flows): it yields an :data:`Op`, receives the reply and finally returns its result. The
runners in :mod:`hitl_slack.lifecycle.runner` send them with a sync or an async client, so
both clients share every line of logic and tests drive the generators with canned replies.

Also here: :class:`LuaScript` and the Lua helpers several scripts share, and the conversion
between Redis' milliseconds and datetimes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = [
    "AUDIT_LUA",
    "NOW_LUA",
    "STANDING_LUA",
    "Batch",
    "Command",
    "Eval",
    "Gen",
    "LuaScript",
    "Op",
    "moment",
    "to_ms",
]

T = TypeVar("T")


@dataclass(frozen=True)
class LuaScript:
    """A script's source and its SHA1 (for EVALSHA)."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324 (Redis' script id)


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


# Audit entries are appended in stream order inside the atomic step; nothing is hashed here
# (sha256 in Lua cost ~300 µs of Redis' single thread per create). The chain is computed by the
# bot's sealer (:mod:`hitl_slack.service.sealer`) from the bodies, outside Redis. No MAXLEN either:
# the sealer trims at a checkpoint, so the kept trail always starts where a checkpoint vouches.
AUDIT_LUA = r"""
local function audit_all(audit_key, first)
  for i = first, #ARGV do redis.call('XADD', audit_key, '*', 'body', ARGV[i]) end
end
"""

#: Redis' clock in ms: the one clock that sets and judges deadlines (agents' clocks drift).
NOW_LUA = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""


#: What stops a step on a request: it is gone (``{"not_found"}``), or a decision stands
#: (``{"decided", status, decision JSON, unconfirmed "1"|"0"}``); nil while it is pending.
STANDING_LUA = r"""
local function standing(key)
  local status = redis.call('HGET', key, 'status')
  if not status then return {'not_found'} end
  if status ~= 'pending' then
    return {'decided', status, redis.call('HGET', key, 'decision'),
            redis.call('HGET', key, 'unconfirmed') or '0'}
  end
  return nil
end
"""


def to_ms(when: datetime) -> int:
    """Epoch milliseconds, as scripts and sorted sets keep them."""
    return int(when.timestamp() * 1000)


def moment(ms: str | int | float | None) -> datetime | None:
    """The datetime of epoch milliseconds as Redis returns them (None when absent)."""
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else None
