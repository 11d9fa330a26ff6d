"""The timer set as the scheduler sees it: what is due, what is next, taking timers out.

Timers are written and removed by the steps that change a request (create adds the expiry
timer and the pending-index entry, a decision removes both, recording a post moves both
earlier when the policy caps the wait); the scheduler only reads them, by Redis' clock, and
takes out a timer once it fired (:func:`drop_timer`) or could not be acted on
(:func:`set_aside`).

Agents older than the timer set keep writing the legacy deadline set ``{p}:deadlines`` (their
create step adds to it, their decisions remove from it only). :data:`MIGRATE` moves its members
into the timer set and the pending index, a bounded batch per call; the bot's scheduler calls
it at start until the set is empty and then once per round, for as long as such agents may
run. A request an old agent decides after its members moved keeps its expiry timer: when that
fires, the expiry finds the decision and the timer and pending entry are dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hitl_slack.lifecycle.commands import Batch, Command, Eval, Gen, LuaScript, moment
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.deadletters import DeadLetter
from hitl_slack.lifecycle.timers import EXPIRE, Timer, kind_prefix

__all__ = ["MIGRATE", "drop_timer", "due_timers", "migrate", "next_timer", "set_aside"]

MIGRATE = LuaScript(
    "migrate",
    """
-- Moves up to ARGV[2] members of the legacy deadline set into the timer set (as expiry
-- timers) and the pending index. ZADD LT: a deadline already there and earlier stands (a
-- policy cap recorded with the post of a request not moved yet).
-- KEYS[1] = legacy deadlines zset  KEYS[2] = timers zset   KEYS[3] = pending zset
-- ARGV[1] = what expiry timer members start with ("expire:")
-- ARGV[2] = most members to move
-- returns how many members were moved (0, in O(1), once the legacy set is empty)
local batch = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
for i = 1, #batch, 2 do
  local id, deadline = batch[i], batch[i + 1]
  redis.call('ZADD', KEYS[2], 'LT', deadline, ARGV[1] .. id)
  redis.call('ZADD', KEYS[3], 'LT', deadline, id)
  redis.call('ZREM', KEYS[1], id)
end
return math.floor(#batch / 2)
""",
)


def due_timers(cfg: StoreConfig, limit: int = 100) -> Gen[list[Timer]]:
    """The timers due now by Redis' clock (the judge's), soonest first, at most ``limit``."""
    seconds, micros = yield Command(("TIME",))
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    members = yield Command(("ZRANGEBYSCORE", cfg.keys.timers, "-inf", now_ms, "LIMIT", 0, limit))
    return [Timer.parse(m) for m in members]


def next_timer(cfg: StoreConfig) -> Gen[datetime | None]:
    """When the soonest timer is due (None when there is none)."""
    first = yield Command(("ZRANGE", cfg.keys.timers, 0, 0, "WITHSCORES"))
    return moment(_first_score(first))


def _first_score(reply: Any) -> float | None:
    # redis-py pairs the reply up ([[member, score]]) or leaves it flat ([member, score]).
    if not reply:
        return None
    first = reply[0]
    return float(first[1]) if isinstance(first, list | tuple) else float(reply[1])


def _drop(cfg: StoreConfig, timer: Timer) -> tuple[Command, ...]:
    drop = Command(("ZREM", cfg.keys.timers, timer.member))
    if timer.kind != EXPIRE:
        return (drop,)
    return (drop, Command(("ZREM", cfg.keys.pending, timer.request_id)))


def drop_timer(cfg: StoreConfig, timer: Timer) -> Gen[None]:
    """Take out a timer that fired.

    Dropping a request's expiry timer also takes the request out of the pending index: it is
    called once the request is decided or gone (the step that decides removes both itself,
    except an older agent's, which knows neither).
    """
    yield Batch(_drop(cfg, timer))


def set_aside(cfg: StoreConfig, timer: Timer, letter: DeadLetter) -> Gen[None]:
    """Take out a timer that cannot be acted on, keeping ``letter`` in the dead letters (one
    round trip)."""
    yield Batch((letter.command(cfg.keys.dead_letters, cfg.dead_maxlen), *_drop(cfg, timer)))


def migrate(cfg: StoreConfig, limit: int = 500) -> Gen[int]:
    """Move up to ``limit`` members of the legacy deadline set; returns how many moved."""
    k = cfg.keys
    moved = yield Eval(MIGRATE, (k.deadlines, k.timers, k.pending), (kind_prefix(EXPIRE), limit))
    return int(moved)
