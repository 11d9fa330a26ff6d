"""Waking agents the moment a decision is written, with no polling, through Redis restarts.

Every decision is PUBLISHed on ``{prefix}:decided:{id}`` by the same Lua step that writes it.
Each client has ONE hub, and each hub ONE pub/sub connection, whatever the number of waits:

* :class:`DecisionHub` (asyncio): a reader, a writer and a watchdog task on the event loop.
* :class:`SyncDecisionHub` (threads): a listener thread reads; waiting threads send their own
  (batched) ``SUBSCRIBE`` commands under a lock and block on a future.

The pub/sub connection is taken from the client's bounded pool, so a client never holds more
than its ``max_connections`` (20 by default), however many waits or threads.

Both drive the same bookkeeping (:class:`hitl_slack.subscriptions.Subscriptions`): every channel
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
import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from hitl_slack import ops
from hitl_slack.errors import HITLError, InvalidRequest, RequestNotFound, StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.lua import LuaScript
from hitl_slack.models import MAX_TIMEOUT_SECONDS, Decision
from hitl_slack.ops import Eval, Gen
from hitl_slack.store import AsyncStore, Store
from hitl_slack.subscriptions import Entry, Subscriptions, parse_push

__all__ = ["EXPIRY_SLACK", "DecisionHub", "SyncDecisionHub", "read_outcomes"]

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
_MAX_BACKOFF = 1.0

#: What a read tells a wait: the decision, an error to raise, or (pending) the deadline.
Outcome = Decision | HITLError | float


#: Where several requests stand, in one step and a compact reply (the fields a wait needs).
WHERE = LuaScript("where", """
-- KEYS = request hashes
-- returns, per key: 0 (missing) | the decision JSON (decided) | the deadline in ms (pending)
--                   | -1 (no deadline: not a request this version wrote)
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'status', 'decision', 'deadline')
  if not v[1] then out[i] = 0
  elseif v[2] then out[i] = v[2]
  else out[i] = tonumber(v[3]) or -1 end
end
return out
""")


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
                out.append(ops.decision_from_message(reply))
            except (ValidationError, ValueError) as exc:
                out.append(InvalidRequest(f"invalid stored decision of {rid}: {exc}"))
        else:
            out.append(InvalidRequest(f"invalid stored request {rid}: no deadline"))
    return out


class _Waiter:
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


class _AsyncWaiter(_Waiter):
    """An async wait: a timer resolves ``fut`` with :data:`_ENDED` when its time is up
    (cheaper per wait than ``asyncio.wait`` with a timeout, at 10,000 waits)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, end: float | None) -> None:
        super().__init__(loop.create_future(), end)
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.disarm()
        if self.end is None and self.deadline is None:
            return  # nothing bounds it yet: armed once the deadline is read
        self._timer = self._loop.call_later(max(self.left()[0], 0.0), _resolve, self.fut,
                                            _ENDED)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def bound(self, deadline: float) -> None:
        super().bound(deadline)
        self.arm()


class _SyncWaiter(_Waiter):
    """A blocking wait: ``known`` wakes the thread when the deadline becomes known."""

    def __init__(self, end: float | None) -> None:
        super().__init__(concurrent.futures.Future(), end)
        self.known: concurrent.futures.Future[float] = concurrent.futures.Future()

    def bound(self, deadline: float) -> None:
        super().bound(deadline)
        _resolve(self.known, deadline)


#: What an async wait's future gets when its time is up.
_ENDED: Any = object()


def _resolve(fut: Any, outcome: Any) -> None:
    try:
        if fut.done():
            return
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)
    except (asyncio.InvalidStateError, concurrent.futures.InvalidStateError):
        return  # resolved by another thread meanwhile


def _settle(waiters: Iterable[_Waiter], outcome: Outcome | BaseException) -> None:
    """Give every wait its outcome: a decision or error ends it; a deadline bounds it."""
    for waiter in list(waiters):
        if isinstance(outcome, float):
            waiter.bound(outcome)
        else:
            _resolve(waiter.fut, outcome)


def _final(outcome: Outcome) -> Decision | None:
    if isinstance(outcome, HITLError):
        raise outcome
    return outcome if isinstance(outcome, Decision) else None


class _Hub:
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
            decision = ops.decision_from_message(data)
        except Exception:  # one bad message must not stop every wake-up: read instead
            log.warning("bad pub/sub message on %s; reading the request instead", channel)
            self._subs.reread(entry)
            return True
        _settle(entry.waiters, decision)
        return False

    def _claim(self) -> list[Entry[Any]]:
        return self._subs.take_reads(READ_BATCH)

    @staticmethod
    def _apply(entries: list[Entry[Any]], outcomes: list[Outcome]) -> None:
        for entry, outcome in zip(entries, outcomes, strict=True):
            _settle(entry.waiters, outcome)

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
                f"Redis unreachable for more than {self._grace:g}s while waiting")
            _settle(list(self._subs.waiting()), failure)

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.info("decision hub reconnected after %.1fs", time.monotonic() - self._down_since)
        self._down_since = None

    def _settled_at_end(self, request_id: str) -> bool:
        """At a wait's end: was its subscription in force and its state read (no final read)?"""
        entry = self._subs.entries.get(self._subs.keys.decided_channel(request_id))
        return entry is not None and entry.in_force and entry.checked


class DecisionHub(_Hub):
    """All async waits of one client over ONE pub/sub connection taken from its bounded pool.

    Args:
        store: the client's store (its pool provides the pub/sub connection and the reads).
        grace: seconds of Redis outage after which waits raise ``StoreUnavailable``; None
            rides out any outage until each wait's own end.
    """

    def __init__(self, store: AsyncStore, grace: float | None = None) -> None:
        super().__init__(store.config.keys, grace)
        self._store = store
        # redis-py's connection classes are partly untyped: held as Any.
        self._conn: Any = None
        self._ready = False
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._heard = time.monotonic()  # when the pub/sub connection last said anything

    async def wait(self, request_id: str,
                   timeout: float | None) -> tuple[Decision | None, bool]:
        """Wait for the decision up to ``timeout`` seconds, or (None) until the request's
        deadline, read from Redis once subscribed.

        Returns:
            The decision (or None if the wait ended without one), and whether the wait ended
            at the request's deadline (then the caller expires it) rather than at ``timeout``.

        Raises:
            RequestNotFound: the request is gone (e.g. Redis came back empty).
            StoreUnavailable: Redis stayed unreachable to the end (or past the grace).
        """
        if timeout is not None and timeout <= 0:
            return await self._read_one(request_id), False
        waiter = _AsyncWaiter(asyncio.get_running_loop(),
                              None if timeout is None else time.monotonic() + timeout)
        self._subs.add(request_id, waiter)
        self._start()
        waiter.arm()
        try:
            outcome = await waiter.fut
            if outcome is not _ENDED:
                return outcome, False
            at_deadline = waiter.left()[1]
            if self._settled_at_end(request_id):
                return None, at_deadline
            return await self._read_one(request_id), at_deadline
        finally:
            waiter.disarm()
            self._subs.discard(request_id, waiter)
            self._kick.set()

    async def _read_one(self, request_id: str) -> Decision | None:
        [outcome] = await self._store.run(read_outcomes(self._subs.keys, [request_id]))
        return _final(outcome)

    def _start(self) -> None:
        self._kick.set()
        if not self._tasks and not self._closed:
            self._tasks = [asyncio.create_task(self._read_loop(), name="hitl-hub-reader"),
                           asyncio.create_task(self._work_loop(), name="hitl-hub-writer"),
                           asyncio.create_task(self._watch(), name="hitl-hub-watchdog")]

    async def _read_loop(self) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                await self._connect()
                backoff = 0.05
                await self._listen()
            except Exception as exc:  # the reader must outlive any failure, or waits hang
                if not isinstance(exc, RedisError | OSError):
                    log.exception("decision hub reader failed; reconnecting")
                self._ready = False
                self._went_down(exc)
                if self._conn is not None:
                    await self._conn.disconnect(nowait=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _connect(self) -> None:
        if self._conn is None:
            pool = self._store.redis.connection_pool
            self._conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        else:
            await self._conn.connect()
        self._subs.lost()  # a fresh connection: everything wanted is subscribed again
        self._ready = True
        self._came_back()
        self._kick.set()

    async def _listen(self) -> None:
        conn = self._conn
        assert conn is not None
        while not self._closed:
            # No timeout per read (math.inf): a timeout context per message costs more than
            # the message at 10,000 confirmations; the watchdog task breaks a dead connection.
            reply = await conn.read_response(timeout=math.inf, push_request=True)
            self._heard = time.monotonic()
            if self._dispatch(reply):
                self._kick.set()

    async def _watch(self) -> None:
        """PING a silent connection; one that does not answer within :data:`IDLE` is closed,
        so the reader's read fails and it reconnects (a Redis gone without closing sockets)."""
        pinged_at: float | None = None
        while not self._closed:
            await asyncio.sleep(IDLE / 2)
            conn = self._conn
            if not self._ready or conn is None:
                pinged_at = None
                continue
            silent = time.monotonic() - self._heard
            if pinged_at is not None and self._heard < pinged_at and silent > IDLE:
                log.warning("no reply to PING on the pub/sub connection; reconnecting")
                await conn.disconnect(nowait=True)
                pinged_at = None
            elif silent > IDLE and pinged_at is None:
                pinged_at = time.monotonic()
                with contextlib.suppress(RedisError, OSError):
                    await conn.send_command("PING", check_health=False)
            elif self._heard >= (pinged_at or 0):
                pinged_at = None

    async def _work_loop(self) -> None:
        while not self._closed:
            await self._kick.wait()
            self._kick.clear()
            if self._ready and self._conn is not None and self._subs.has_commands:
                commands = self._subs.take_commands()
                try:
                    await self._conn.send_packed_command(self._conn.pack_commands(commands),
                                                         check_health=False)
                except (RedisError, OSError):
                    await self._conn.disconnect(nowait=True)  # the reader reconnects
                    continue
            try:
                await self._read_unchecked()
            except Exception:  # e.g. a bug in a reply's parsing: log it, keep serving
                log.exception("decision hub failed to read waited requests")
                asyncio.get_running_loop().call_later(1.0, self._kick.set)

    async def _read_unchecked(self) -> None:
        while entries := self._claim():
            try:
                outcomes = await self._store.run(
                    read_outcomes(self._subs.keys, [e.request_id for e in entries]))
            except StoreUnavailable:
                self._unclaim(entries)
                asyncio.get_running_loop().call_later(0.2, self._kick.set)  # try again soon
                return
            self._apply(entries, outcomes)

    async def aclose(self) -> None:
        """Stop listening and close the pub/sub connection."""
        self._closed = True
        # Cancelled again until done: on Python 3.11 redis-py can swallow a cancellation that
        # lands inside its own timeouts (e.g. while connecting).
        pending = [t for t in self._tasks if not t.done()]
        while pending:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=0.2)
            pending = [t for t in pending if not t.done()]
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks = []
        _settle(list(self._subs.waiting()), StoreUnavailable("the client was closed"))
        if self._conn is not None:
            await self._conn.disconnect()
            await self._store.redis.connection_pool.release(self._conn)
            self._conn = None


class SyncDecisionHub(_Hub):
    """All blocking waits of one client over ONE pub/sub connection and a listener thread.

    Connections used by one :class:`~hitl_slack.HITLClient`, however many threads wait: at most
    the pool's ``max_connections`` (default 20), the pub/sub connection included; threads queue
    for a pool connection rather than open more.
    """

    def __init__(self, store: Store, grace: float | None = None) -> None:
        super().__init__(store.config.keys, grace)
        self._store = store
        self._lock = threading.Lock()  # guards the bookkeeping
        self._send_lock = threading.Lock()  # orders taking commands with sending them
        self._conn: Any = None  # a redis.Connection (untyped in redis-py)
        self._ready = False
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._broken = False

    def wait(self, request_id: str, timeout: float | None) -> tuple[Decision | None, bool]:
        """See :meth:`DecisionHub.wait`; blocks the calling thread."""
        if timeout is not None and timeout <= 0:
            return self._read_one(request_id), False
        waiter = _SyncWaiter(None if timeout is None else time.monotonic() + timeout)
        with self._lock:
            self._subs.add(request_id, waiter)
        self._start()
        self._flush()
        self._read_unchecked()
        try:
            while True:
                left, at_deadline = waiter.left()
                if left <= 0:
                    break
                watched = [waiter.fut] if waiter.known.done() else [waiter.fut, waiter.known]
                concurrent.futures.wait(watched, timeout=left,
                                        return_when=concurrent.futures.FIRST_COMPLETED)
                if waiter.fut.done():
                    return waiter.fut.result(), False
            with self._lock:
                settled = self._settled_at_end(request_id)
            return (None if settled else self._read_one(request_id)), at_deadline
        finally:
            with self._lock:
                self._subs.discard(request_id, waiter)
            self._flush()

    def _read_one(self, request_id: str) -> Decision | None:
        [outcome] = self._store.run(read_outcomes(self._subs.keys, [request_id]))
        return _final(outcome)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._run, name="hitl-hub", daemon=True)
                self._thread.start()

    def _flush(self) -> None:
        with self._send_lock:
            conn = self._conn
            if not self._ready or conn is None:
                return  # the listener subscribes everything wanted once it is connected
            with self._lock:
                commands = self._subs.take_commands() if self._subs.has_commands else []
            if not commands:
                return
            try:
                conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            except (RedisError, OSError):
                self._broken = True  # the listener must not read on (redis-py would
                conn.disconnect()  # silently reconnect without our subscriptions)

    def _run(self) -> None:
        backoff = 0.05
        while not self._closed.is_set():
            try:
                self._connect()
                backoff = 0.05
                self._listen()
            except Exception as exc:  # the listener thread must outlive any failure
                if self._closed.is_set():
                    return
                if not isinstance(exc, RedisError | OSError):
                    log.exception("decision listener failed; reconnecting")
                with self._send_lock, self._lock:
                    self._ready = False
                    self._went_down(exc)
                if self._conn is not None:
                    self._conn.disconnect()
                self._closed.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    def _connect(self) -> None:
        with self._send_lock:
            if self._conn is None:
                self._conn = self._store.redis.connection_pool.get_connection()
            else:
                self._conn.connect()
            with self._lock:
                self._subs.lost()
                self._came_back()
            self._ready, self._broken = True, False
        self._flush()

    def _listen(self) -> None:
        conn = self._conn
        assert conn is not None
        pinged = False
        while not self._closed.is_set():
            if self._broken:
                raise ConnectionError("the pub/sub connection failed while sending")
            if not conn.can_read(timeout=IDLE):
                if pinged:
                    raise ConnectionError("no reply to PING on the pub/sub connection")
                with self._send_lock:
                    conn.send_command("PING", check_health=False)
                pinged = True
                self._read_unchecked()  # a read that failed earlier is tried again
                continue
            pinged = False
            check = False
            while True:
                reply = conn.read_response(push_request=True)
                with self._lock:
                    check = self._dispatch(reply) or check
                if not conn.can_read(timeout=0):
                    break
            if check:
                self._read_unchecked()

    def _read_unchecked(self) -> None:
        while True:
            with self._lock:
                entries = self._claim()
            if not entries:
                return
            try:
                outcomes = self._store.run(
                    read_outcomes(self._subs.keys, [e.request_id for e in entries]))
            except StoreUnavailable:
                with self._lock:
                    self._unclaim(entries)
                return  # the listener tries again at its next tick or reconnect
            self._apply(entries, outcomes)

    def close(self) -> None:
        """Stop the listener thread and close the pub/sub connection."""
        self._closed.set()
        conn = self._conn
        if conn is not None:
            conn.disconnect()  # shuts the socket down: the listener's read returns
        if self._thread is not None:
            self._thread.join(IDLE + 1)
        with self._lock:
            _settle(list(self._subs.waiting()), StoreUnavailable("the client was closed"))
        if conn is not None:
            with contextlib.suppress(Exception):
                self._store.redis.connection_pool.release(conn)
        self._conn = None
