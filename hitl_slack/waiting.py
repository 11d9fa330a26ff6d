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
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.client import PubSub as AsyncPubSub
from redis.exceptions import RedisError

from hitl_slack import ops
from hitl_slack.errors import StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.models import Decision
from hitl_slack.store import AsyncStore, Store

__all__ = ["DecisionHub", "wait_published_sync"]

log = logging.getLogger(__name__)


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


@dataclass
class _Channel:
    request_id: str
    waiters: set[asyncio.Future[Decision]] = field(default_factory=set)
    unconfirmed: int = 0
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)


class _HubPubSub(AsyncPubSub):
    hub: DecisionHub

    async def on_connect(self, connection: Any) -> None:
        await super().on_connect(connection)
        self.hub._on_reconnect()


class DecisionHub:
    """All async waits of one client, over one pub/sub connection."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store
        self._keys: Keys = store.config.keys
        self._channels: dict[str, _Channel] = {}
        self._pubsub: _HubPubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._recheck: set[asyncio.Task[None]] = set()

    @property
    def channels(self) -> int:
        """How many requests are being waited on."""
        return len(self._channels)

    async def wait(self, request_id: str, timeout: float) -> Decision | None:
        """Wait up to ``timeout`` seconds for the decision; None if none came."""
        channel = self._keys.decided_channel(request_id)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Decision] = loop.create_future()
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel(request_id)
        entry.waiters.add(fut)
        try:
            async with asyncio.timeout(timeout):
                if not entry.confirmed.is_set():
                    if entry.unconfirmed == 0:
                        entry.unconfirmed += 1
                        await self._subscribe(channel)
                    await entry.confirmed.wait()
                state = await self._store.get(request_id)
                if state.decision is not None:
                    return state.decision
                return await fut
        except TimeoutError:
            return None
        finally:
            entry.waiters.discard(fut)
            await self._release(channel, entry)

    async def _subscribe(self, channel: str) -> None:
        if self._pubsub is None:
            pubsub = _HubPubSub(self._store.redis.connection_pool)
            pubsub.hub = self
            self._pubsub = pubsub
        try:
            await self._pubsub.subscribe(channel)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis error while subscribing: {exc}") from None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="hitl-decision-hub")

    async def _release(self, channel: str, entry: _Channel) -> None:
        if entry.waiters or entry.unconfirmed or self._channels.get(channel) is not entry:
            return
        del self._channels[channel]
        if self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(channel)
            except (RedisError, OSError):
                log.debug("unsubscribe failed; the next reconnect drops it", exc_info=True)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        backoff = 0.05
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=None)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("decision hub lost Redis; retrying in %.2fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        channel = msg["channel"]
        entry = self._channels.get(channel)
        if entry is None:
            return
        if msg["type"] == "subscribe":
            entry.unconfirmed = max(0, entry.unconfirmed - 1)
            entry.confirmed.set()
            if not entry.waiters:
                asyncio.create_task(self._release(channel, entry))  # noqa: RUF006
        elif msg["type"] == "message":
            decision = ops.decision_from_message(msg["data"])
            self._resolve(entry, decision)

    @staticmethod
    def _resolve(entry: _Channel, decision: Decision) -> None:
        for fut in entry.waiters:
            if not fut.done():
                fut.set_result(decision)

    def _on_reconnect(self) -> None:
        # Messages published while disconnected are lost: read each waited request again.
        for entry in list(self._channels.values()):
            if entry.confirmed.is_set() and entry.waiters:
                task = asyncio.create_task(self._recheck_one(entry))
                self._recheck.add(task)
                task.add_done_callback(self._recheck.discard)

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
