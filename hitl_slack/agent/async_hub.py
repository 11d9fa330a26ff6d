"""The asyncio decision hub: every wait of an :class:`~hitl_slack.AsyncHITLClient` over ONE
pub/sub connection (see :mod:`hitl_slack.agent.waiting` for the design both hubs share)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from redis.exceptions import RedisError

from hitl_slack.agent.waiting import (
    IDLE,
    MAX_BACKOFF,
    Hub,
    Waiter,
    final,
    read_outcomes,
    resolve,
    settle,
)
from hitl_slack.errors import StoreUnavailable
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.models import Decision

__all__ = ["DecisionHub"]

log = logging.getLogger("hitl_slack.agent.waiting")


#: What an async wait's future gets when its time is up.
ENDED: Any = object()


class _AsyncWaiter(Waiter):
    """An async wait: a timer resolves ``fut`` with :data:`ENDED` when its time is up
    (cheaper per wait than ``asyncio.wait`` with a timeout, at 10,000 waits)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, end: float | None) -> None:
        super().__init__(loop.create_future(), end)
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.disarm()
        if self.end is None and self.deadline is None:
            return  # nothing bounds it yet: armed once the deadline is read
        self._timer = self._loop.call_later(max(self.left()[0], 0.0), resolve, self.fut, ENDED)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def bound(self, deadline: float) -> None:
        super().bound(deadline)
        self.arm()


class DecisionHub(Hub):
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

    async def wait(self, request_id: str, timeout: float | None) -> tuple[Decision | None, bool]:
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
        waiter = _AsyncWaiter(
            asyncio.get_running_loop(), None if timeout is None else time.monotonic() + timeout
        )
        self._subs.add(request_id, waiter)
        self._start()
        waiter.arm()
        try:
            outcome = await waiter.fut
            if outcome is not ENDED:
                return outcome, False
            at_deadline = waiter.left()[1]
            # Only at the deadline may the subscription's word stand: the expiry that follows
            # meets Redis anyway. A wait that ends early reads once, so a Redis lost an instant
            # before the end (its loss not seen yet) is StoreUnavailable, never WaitTimeout.
            if at_deadline and self._settled_at_end(request_id):
                return None, at_deadline
            return await self._read_one(request_id), at_deadline
        finally:
            waiter.disarm()
            self._subs.discard(request_id, waiter)
            self._kick.set()

    async def _read_one(self, request_id: str) -> Decision | None:
        [outcome] = await self._store.run(read_outcomes(self._subs.keys, [request_id]))
        return final(outcome)

    def _start(self) -> None:
        self._kick.set()
        if not self._tasks and not self._closed:
            self._tasks = [
                asyncio.create_task(self._read_loop(), name="hitl-hub-reader"),
                asyncio.create_task(self._work_loop(), name="hitl-hub-writer"),
                asyncio.create_task(self._watch(), name="hitl-hub-watchdog"),
            ]

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
                backoff = min(backoff * 2, MAX_BACKOFF)

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
                    await self._conn.send_packed_command(
                        self._conn.pack_commands(commands), check_health=False
                    )
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
                    read_outcomes(self._subs.keys, [e.request_id for e in entries])
                )
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
        settle(list(self._subs.waiting()), StoreUnavailable("the client was closed"))
        if self._conn is not None:
            await self._conn.disconnect()
            await self._store.redis.connection_pool.release(self._conn)
            self._conn = None
