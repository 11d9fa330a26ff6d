"""Waking agents the moment a decision is written, with no polling.

Every decision is PUBLISHed on ``{prefix}:decided:{id}`` by the same Lua step that writes it.
A waiter subscribes, waits for Redis to confirm the subscription, then reads the stored state:
a decision written before the subscription is seen in the state, one written after arrives as
a message. Nothing is missed in between, and a late waiter returns at once.

* Sync: one pub/sub connection per waiting call (a blocked thread holds one anyway).
* Async: :class:`DecisionHub` multiplexes every wait of a client over ONE pub/sub connection,
  so 10,000 concurrent waits use one connection for messages plus the bounded command pool.

If the pub/sub connection drops, redis-py reconnects and resubscribes; messages published
while it was down are lost, so after every (re)connect each waiting request's state is read
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio.client import PubSub as AsyncPubSub
from redis.exceptions import RedisError

from hitl_slack import ops
from hitl_slack.errors import StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.models import Decision
from hitl_slack.store import AsyncStore, Store

__all__ = ["DecisionHub", "wait_published_sync"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def wait_published_sync(store: Store, request_id: str, timeout: float) -> Decision | None:
    """Block up to ``timeout`` seconds for a request's decision; None if none came.

    Raises:
        StoreUnavailable: Redis is unreachable.
        RequestNotFound: no such request.
    """
    channel = store.config.keys.decided_channel(request_id)
    pubsub = store.redis.pubsub()  # type: ignore[no-untyped-call]
    reconnected = _Flag()
    try:
        pubsub.subscribe(channel)
        end = time.monotonic() + timeout
        confirmed = False
        while True:
            if confirmed and reconnected.take():
                confirmed = False  # resubscribed; read the state again once confirmed
            remaining = end - time.monotonic()
            msg = pubsub.get_message(timeout=max(remaining, 0.0)) if remaining > 0 else None
            if msg is None and remaining <= 0:
                return None
            if msg is None:
                continue
            if msg["type"] == "subscribe" and not confirmed:
                confirmed = True
                if pubsub.connection is not None:
                    pubsub.connection.register_connect_callback(reconnected.set_method)
                state = store.get(request_id)
                if state.decision is not None:
                    return state.decision
            elif msg["type"] == "message":
                return ops.decision_from_message(msg["data"])
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"Redis error while waiting: {type(exc).__name__}: {exc}") from None
    finally:
        pubsub.close()


class _Flag:
    """A flag a redis-py connect callback can set (it must be a bound method)."""

    def __init__(self) -> None:
        self.value = False

    def set_method(self, _connection: Any) -> None:
        self.value = True

    def take(self) -> bool:
        value, self.value = self.value, False
        return value


async def _bounded(aw: Awaitable[T], timeout: float) -> T:
    """Await ``aw`` for at most ``timeout`` seconds (TimeoutError after), in its own task.

    Neither ``asyncio.wait_for`` nor ``asyncio.timeout`` is used on purpose: both deliver the
    timeout as a cancellation, and on Python 3.11 a cancellation that lands inside redis-py's
    own ``wait_for`` can be swallowed, turning a timeout (or an agent's cancel) into a hang.
    ``asyncio.wait`` never swallows one.
    """
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(timeout, 0.0))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError
    return task.result()


@dataclass(eq=False)
class _Channel:
    request_id: str
    waiters: set[asyncio.Future[Decision]] = field(default_factory=set)
    subscribing: bool = False
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # confirmed, or failed
    failure: BaseException | None = None


class _HubPubSub(AsyncPubSub):
    hub: DecisionHub

    async def on_connect(self, connection: Any) -> None:
        await super().on_connect(connection)
        self.hub._on_reconnect()


class DecisionHub:
    """All async waits of one client, over one pub/sub connection.

    SUBSCRIBE and UNSUBSCRIBE are sent under one lock, so Redis sees them in the order they
    were decided, and each ``subscribe`` confirmation is matched, in order, to the wait that
    sent it: a wait reads the stored state only once its own subscription is in force.
    """

    def __init__(self, store: AsyncStore) -> None:
        self._store = store
        self._keys: Keys = store.config.keys
        self._channels: dict[str, _Channel] = {}
        self._awaiting: dict[str, deque[_Channel]] = {}
        self._pubsub: _HubPubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._background_tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    @property
    def channels(self) -> int:
        """How many requests are being waited on."""
        return len(self._channels)

    async def wait(self, request_id: str, timeout: float) -> Decision | None:
        """Wait up to ``timeout`` seconds for the decision; None if none came."""
        if timeout <= 0:
            return None
        channel = self._keys.decided_channel(request_id)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        fut: asyncio.Future[Decision] = loop.create_future()
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel(request_id)
        entry.waiters.add(fut)
        try:
            if not entry.confirmed.is_set():
                if not entry.subscribing:
                    # The hub owns the subscription, not this wait: if this wait times out
                    # or is cancelled, the others on the same request still get subscribed.
                    entry.subscribing, entry.failure = True, None
                    entry.settled.clear()
                    self._background(self._subscribe(channel, entry))
                await _bounded(entry.settled.wait(), end - loop.time())
                if entry.failure is not None:
                    raise StoreUnavailable(f"Redis error while subscribing: {entry.failure}")
            state = await _bounded(self._store.get(request_id), end - loop.time())
            if state.decision is not None:
                return state.decision
            return await _bounded(fut, end - loop.time())
        except TimeoutError:
            return None
        finally:
            entry.waiters.discard(fut)
            await self._release(channel, entry)

    async def _subscribe(self, channel: str, entry: _Channel) -> None:
        """Send SUBSCRIBE for ``entry`` (a hub task); the listener confirms it in order."""
        try:
            async with self._lock:
                if self._pubsub is None:
                    pubsub = _HubPubSub(self._store.redis.connection_pool)
                    pubsub.hub = self
                    await pubsub.connect()  # type: ignore[no-untyped-call]
                    self._pubsub = pubsub
                self._awaiting.setdefault(channel, deque()).append(entry)
                await self._pubsub.subscribe(channel)
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._listen(), name="hitl-decision-hub")
        except BaseException as exc:
            queue = self._awaiting.get(channel)
            if queue is not None and entry in queue:
                queue.remove(entry)
            entry.subscribing, entry.failure = False, exc
            entry.settled.set()  # the waits see the failure; the next wait tries again
            await self._release(channel, entry)
            if not isinstance(exc, Exception):
                raise

    async def _release(self, channel: str, entry: _Channel) -> None:
        if entry.waiters or entry.subscribing or self._channels.get(channel) is not entry:
            return
        del self._channels[channel]
        if self._pubsub is None:
            return
        async with self._lock:
            if channel in self._channels:  # a new wait took it over meanwhile: keep it
                return
            try:
                await self._pubsub.unsubscribe(channel)
            except (RedisError, OSError):
                log.debug("unsubscribe failed; the next reconnect drops it", exc_info=True)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        backoff = 0.05
        while True:
            try:
                # A bounded read: idle wake-ups every few seconds are harmless, and it stays
                # under the socket timeout on every redis-py version.
                msg = await self._pubsub.get_message(timeout=5.0)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("decision hub lost Redis; retrying in %.2fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if msg is not None:
                try:
                    self._dispatch(msg)
                except Exception:  # one bad message must not stop every wake-up
                    log.exception("bad pub/sub message; re-reading the request instead")
                    self._recheck_channel(msg.get("channel"))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        channel = msg["channel"]
        if msg["type"] == "subscribe":
            queue = self._awaiting.get(channel)
            if not queue:
                return  # a resubscription after a reconnect
            entry = queue.popleft()
            if not queue:
                del self._awaiting[channel]
            entry.subscribing = False
            entry.confirmed.set()
            entry.settled.set()
            if not entry.waiters:
                self._background(self._release(channel, entry))
        elif msg["type"] == "message":
            waited = self._channels.get(channel)
            if waited is not None:
                self._resolve(waited, ops.decision_from_message(msg["data"]))

    @staticmethod
    def _resolve(entry: _Channel, decision: Decision) -> None:
        for fut in entry.waiters:
            if not fut.done():
                fut.set_result(decision)

    def _recheck_channel(self, channel: Any) -> None:
        entry = self._channels.get(channel) if isinstance(channel, str) else None
        if entry is not None:
            self._spawn_recheck(entry)

    def _spawn_recheck(self, entry: _Channel) -> None:
        self._background(self._recheck_one(entry))

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background_tasks.add(task)  # held until done: not garbage-collected mid-flight
        task.add_done_callback(self._background_tasks.discard)

    def _on_reconnect(self) -> None:
        # Messages published while disconnected are lost: read each waited request again.
        for entry in list(self._channels.values()):
            if entry.confirmed.is_set() and entry.waiters:
                self._spawn_recheck(entry)

    async def _recheck_one(self, entry: _Channel) -> None:
        try:
            state = await self._store.get(entry.request_id)
        except Exception:
            log.warning("re-reading %s after reconnect failed", entry.request_id, exc_info=True)
            return
        if state.decision is not None:
            self._resolve(entry, state.decision)

    async def aclose(self) -> None:
        """Stop listening and release the pub/sub connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._pubsub = None
        self._task = None
