"""Waking agents the moment a decision is written, with no polling, through Redis restarts.

Every decision is PUBLISHed on ``{prefix}:decided:{id}`` by the same Lua step that writes it.
Each client has ONE hub, and each hub ONE pub/sub connection, whatever the number of waits:

* :class:`~hitl_slack.agent.async_hub.DecisionHub` (asyncio): a reader, a writer and a watchdog task
  on the event loop.
* :class:`~hitl_slack.agent.sync_hub.SyncDecisionHub` (threads): a listener thread reads; waiting
  threads send their own (batched) ``SUBSCRIBE`` commands under a lock and block on a future.

This module holds what both share: the read of where waited requests stand, the waits' bounds,
and :class:`Hub` (dispatching pub/sub replies, applying reads, the outage grace).

The pub/sub connection is taken from the client's bounded pool, so a client never holds more
than its ``max_connections`` (20 by default), however many waits or threads.

Both drive the same bookkeeping (:class:`hitl_slack.agent.subscriptions.Subscriptions`): every
channel
that became wanted goes into one ``SUBSCRIBE``; a channel's state is read only once its
subscription is confirmed, so a decision is either in the state read or arrives as a message.
The hub reads the states of a batch of waits in one read-only Lua step (:data:`WHERE`: the
decision, or the deadline, which bounds a wait given no timeout). No wait reads on its own.
When the connection drops (a Redis restart, a failover), the hub
reconnects with backoff, subscribes every waited channel again in one command, and reads each
request again once confirmed: a decision written while it was away is found, and a request lost
with Redis' data ends its waits with :class:`~hitl_slack.errors.RequestNotFound`.

A wait raises :class:`~hitl_slack.errors.StoreUnavailable` only when Redis stays unreachable to
the end of the wait, or for longer than the hub's ``grace`` (``HITL_REDIS_GRACE``) if one is set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from hitl_slack.agent.subscriptions import Entry, Subscriptions, parse_push
from hitl_slack.errors import HITLError, InvalidRequest, RequestNotFound, StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.commands import Eval, Gen, LuaScript
from hitl_slack.lifecycle.reading import decision_from_message
from hitl_slack.models import MAX_TIMEOUT_SECONDS, Decision

__all__ = [
    "EXPIRY_SLACK",
    "IDLE",
    "MAX_BACKOFF",
    "READ_BATCH",
    "WHERE",
    "Hub",
    "Waiter",
    "final",
    "read_outcomes",
    "resolve",
    "settle",
]

log = logging.getLogger(__name__)

#: Seconds of silence on the pub/sub connection before it is PINGed; no reply within another
#: such period and it is taken for dead (a Redis that vanished without closing the socket).
IDLE = 5.0
#: Requests read per round trip when subscriptions come in force.
READ_BATCH = 500
#: Time allowed past a deadline for the expiry step itself (one Redis round trip).
EXPIRY_SLACK = 0.05
#: How long a wait whose request's deadline could not be read yet may last at most.
_UNKNOWN_DEADLINE = float(MAX_TIMEOUT_SECONDS)
MAX_BACKOFF = 1.0

#: What a read tells a wait: the decision, an error to raise, or (pending) the deadline.
Outcome = Decision | HITLError | float


#: Where several requests stand, in one step and a compact reply (the fields a wait needs).
WHERE = LuaScript(
    "where",
    """
-- KEYS = request hashes
-- returns, per key: 0 (missing) | the decision JSON (decided) | the deadline in ms (pending)
--                   | -1 (no deadline: not a request this version wrote)
-- A decision still waiting for HITL_REDIS_MIN_REPLICAS replicas ('unconfirmed') reads as
-- pending: it is published once confirmed, and a failover before that could undo it.
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'status', 'decision', 'deadline', 'unconfirmed')
  if not v[1] then out[i] = 0
  elseif v[2] and v[4] ~= '1' then out[i] = v[2]
  else out[i] = tonumber(v[3]) or -1 end
end
return out
""",
)


def read_outcomes(keys: Keys, request_ids: list[str]) -> Gen[list[Outcome]]:
    """Read where several requests stand in one round trip.

    Each is its decision, :class:`RequestNotFound` / :class:`InvalidRequest`, or, while it is
    pending, its deadline (epoch seconds, Redis' clock).
    """
    replies = yield Eval(WHERE, tuple(keys.request(r) for r in request_ids), ())
    out: list[Outcome] = []
    for rid, reply in zip(request_ids, replies, strict=True):
        if reply == 0:
            out.append(RequestNotFound(rid))
        elif isinstance(reply, int) and reply > 0:
            out.append(reply / 1000)
        elif isinstance(reply, str):
            try:
                out.append(decision_from_message(reply))
            except (ValidationError, ValueError) as exc:
                out.append(InvalidRequest(f"invalid stored decision of {rid}: {exc}"))
        else:
            out.append(InvalidRequest(f"invalid stored request {rid}: no deadline"))
    return out


class Waiter:
    """One wait: ``fut`` gets the decision (or the error); the request's deadline, once read
    from Redis, bounds a wait that has no earlier ``end`` (monotonic) of its own."""

    def __init__(self, fut: Any, end: float | None) -> None:
        self.fut = fut
        self.end = end
        self.deadline: float | None = None  # epoch seconds, Redis' clock

    def left(self) -> tuple[float, bool]:
        """Seconds left, and whether the wait ends at the request's deadline (then the
        request is expired) rather than at the caller's timeout."""
        to_end = None if self.end is None else self.end - time.monotonic()
        if self.deadline is None:
            return (_UNKNOWN_DEADLINE, True) if to_end is None else (to_end, False)
        to_deadline = self.deadline - time.time() + EXPIRY_SLACK
        if to_end is None or to_deadline <= to_end:
            return to_deadline, True
        return to_end, False

    def bound(self, deadline: float) -> None:
        """The request's deadline became known."""
        self.deadline = deadline


def resolve(fut: Any, outcome: Any) -> None:
    try:
        if fut.done():
            return
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)
    except (asyncio.InvalidStateError, concurrent.futures.InvalidStateError):
        return  # resolved by another thread meanwhile


def settle(waiters: Iterable[Waiter], outcome: Outcome | BaseException) -> None:
    """Give every wait its outcome: a decision or error ends it; a deadline bounds it."""
    for waiter in list(waiters):
        if isinstance(outcome, float):
            waiter.bound(outcome)
        else:
            resolve(waiter.fut, outcome)


def final(outcome: Outcome) -> Decision | None:
    if isinstance(outcome, HITLError):
        raise outcome
    return outcome if isinstance(outcome, Decision) else None


class Hub:
    """What both hubs share: dispatching replies, applying reads, the outage grace."""

    def __init__(self, keys: Keys, grace: float | None) -> None:
        self._subs: Subscriptions[Any] = Subscriptions(keys)
        self._grace = grace
        self._down_since: float | None = None

    @property
    def channels(self) -> int:
        """How many requests are being waited on."""
        return sum(1 for e in list(self._subs.entries.values()) if e.waiters)

    def _dispatch(self, reply: Any) -> bool:
        """Apply one pub/sub reply; True if some state should now be read."""
        parsed = parse_push(reply)
        if parsed is None:
            return False
        kind, channel, data = parsed
        if kind != "message":
            return self._subs.confirmed(kind, channel) is not None
        entry = self._subs.entries.get(channel)
        if entry is None or not entry.waiters:
            return False
        try:
            decision = decision_from_message(data)
        except Exception:  # one bad message must not stop every wake-up: read instead
            log.warning("bad pub/sub message on %s; reading the request instead", channel)
            self._subs.reread(entry)
            return True
        settle(entry.waiters, decision)
        return False

    def _claim(self) -> list[Entry[Any]]:
        return self._subs.take_reads(READ_BATCH)

    @staticmethod
    def _apply(entries: list[Entry[Any]], outcomes: list[Outcome]) -> None:
        for entry, outcome in zip(entries, outcomes, strict=True):
            settle(entry.waiters, outcome)

    def _unclaim(self, entries: list[Entry[Any]]) -> None:
        for entry in entries:
            self._subs.reread(entry)

    def _went_down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("decision hub lost Redis (%s); reconnecting", type(exc).__name__)
        self._subs.lost()
        if self._grace is not None and time.monotonic() - self._down_since > self._grace:
            failure = StoreUnavailable(
                f"Redis unreachable for more than {self._grace:g}s while waiting"
            )
            settle(list(self._subs.waiting()), failure)

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.info("decision hub reconnected after %.1fs", time.monotonic() - self._down_since)
        self._down_since = None

    def _settled_at_end(self, request_id: str) -> bool:
        """At a wait's end: was its subscription in force and its state read (no final read)?"""
        entry = self._subs.entries.get(self._subs.keys.decided_channel(request_id))
        return entry is not None and entry.in_force and entry.checked
