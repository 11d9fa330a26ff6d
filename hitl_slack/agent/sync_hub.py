"""The blocking decision hub: every wait of a :class:`~hitl_slack.HITLClient`, from any number
of threads, over ONE pub/sub connection read by a listener thread (see
:mod:`hitl_slack.agent.waiting` for the design both hubs share)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
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
from hitl_slack.lifecycle.store import Store
from hitl_slack.models import Decision

__all__ = ["SyncDecisionHub"]

log = logging.getLogger("hitl_slack.agent.waiting")


class _SyncWaiter(Waiter):
    """A blocking wait: ``known`` wakes the thread when the deadline becomes known."""

    def __init__(self, end: float | None) -> None:
        super().__init__(concurrent.futures.Future(), end)
        self.known: concurrent.futures.Future[float] = concurrent.futures.Future()

    def bound(self, deadline: float) -> None:
        super().bound(deadline)
        resolve(self.known, deadline)


class SyncDecisionHub(Hub):
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
                concurrent.futures.wait(
                    watched, timeout=left, return_when=concurrent.futures.FIRST_COMPLETED
                )
                if waiter.fut.done():
                    return waiter.fut.result(), False
            with self._lock:  # only at the deadline may the subscription's word stand
                settled = at_deadline and self._settled_at_end(request_id)
            return (None if settled else self._read_one(request_id)), at_deadline
        finally:
            with self._lock:
                self._subs.discard(request_id, waiter)
            self._flush()

    def _read_one(self, request_id: str) -> Decision | None:
        [outcome] = self._store.run(read_outcomes(self._subs.keys, [request_id]))
        return final(outcome)

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
                backoff = min(backoff * 2, MAX_BACKOFF)

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
                    read_outcomes(self._subs.keys, [e.request_id for e in entries])
                )
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
            settle(list(self._subs.waiting()), StoreUnavailable("the client was closed"))
        if conn is not None:
            with contextlib.suppress(Exception):
                self._store.redis.connection_pool.release(conn)
        self._conn = None
