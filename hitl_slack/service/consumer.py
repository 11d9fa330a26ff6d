"""A Redis Streams consumer-group worker: at-least-once, shared by replicas, crash-safe.

* At start it re-reads its own pending entries (a restart under the same consumer name
  resumes exactly where it stopped), then reads new ones with ``XREADGROUP ... BLOCK``.
* Entries another consumer left unacknowledged for ``claim_idle`` seconds (a crashed replica)
  are taken over with ``XAUTOCLAIM``. Entries in hand are re-claimed by their own consumer
  every ``claim_idle / 3`` seconds (a lease renewal), so a slow one is never taken over.
* A handled entry is acknowledged and deleted in one round trip, so the stream stays small.
* A handler that raises :class:`Retry` leaves the entry pending for a later attempt; after
  ``max_deliveries`` the entry goes to the dead-letter stream with the error. :class:`GiveUp`
  (a failure no retry can mend) and any other exception send it there at once: bad data
  never blocks the queue and is never lost.
* Entries are handled concurrently (up to ``concurrency`` at once), so one that waits (a
  rate-limited channel) does not hold up the others. No more entries are read or claimed than
  there is room for, and the loop never blocks waiting for room, so leases keep being renewed
  while every slot is busy.
* On stop, nothing new is read and the entries in hand are finished.
* Redis lost (or restarted empty, its groups gone): after any Redis failure the group is
  created again from the start of the stream (``XGROUP CREATE ... 0 MKSTREAM``), so nothing
  written before the consumer noticed is skipped; the outage is logged once (:mod:`outage`).
* ``accepting`` returning False (e.g. Slack revoked the token) pauses it: nothing new is
  read or claimed, the entries in hand finish, and an entry whose handler asks for a retry
  stays pending without counting towards the dead-letter limit, for a healthy replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError, ResponseError

from hitl_slack.errors import StoreUnavailable
from hitl_slack.lifecycle import deadletters
from hitl_slack.lifecycle.config import DEFAULT_DEAD_MAXLEN
from hitl_slack.lifecycle.deadletters import DeadLetter
from hitl_slack.lifecycle.runner import run_async
from hitl_slack.logs import bound, get_logger
from hitl_slack.service.outage import Outage

__all__ = ["GiveUp", "Retry", "StreamConsumer", "dead_letter"]

log = get_logger(__name__)

Handler = Callable[[dict[str, str]], Awaitable[None]]


async def dead_letter(
    r: aredis.Redis,
    key: str,
    *,
    source: str,
    entry_id: str,
    error: str,
    fields: dict[str, Any],
    maxlen: int = DEFAULT_DEAD_MAXLEN,
) -> None:
    """Keep what could not be handled in the dead-letter stream ``key``, with why.

    Runs the one dead-letter writer (:func:`hitl_slack.lifecycle.deadletters.write`) for
    callers holding a client rather than a store (malformed Slack bodies).

    Args:
        source: where it came from (a stream key, ``/slack/events``, ``socket_mode``).
        entry_id: its id there (``-`` if none).
        error: what is wrong with it (cut to 2,000 characters).
        fields: what it carried.
    """
    letter = DeadLetter(source, entry_id, error, fields)
    await run_async(r, deadletters.write(key, letter, maxlen))


@contextlib.contextmanager
def _bound(fields: dict[str, str]) -> Iterator[None]:
    """Bind the entry's request id (queue and outcome entries carry it) to its log lines."""
    request_id = fields.get("id")
    if not request_id:
        yield
        return
    with bound(request_id=request_id):
        yield


class Retry(Exception):
    """Raised by a handler: the entry could not be handled now; try it again later."""


class GiveUp(Exception):
    """Raised by a handler: the entry can never be handled (trying again would fail the same
    way); it goes to the dead letters at once, with this reason, without a traceback."""


class StreamConsumer:
    """Consume one stream in one consumer group."""

    def __init__(
        self,
        r: aredis.Redis,
        *,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        dead_letters: str,
        claim_idle: float = 60.0,
        max_deliveries: int = 5,
        batch: int = 20,
        block: float = 2.0,
        dead_maxlen: int = DEFAULT_DEAD_MAXLEN,
        concurrency: int = 1000,
        on_dead: Handler | None = None,
        accepting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.redis = r
        self.stream, self.group, self.consumer = stream, group, consumer
        self.handler = handler
        self.dead_letters = dead_letters
        self.claim_idle_ms = int(claim_idle * 1000)
        self.max_deliveries = max_deliveries
        self.batch = batch
        self.block_ms = max(10, min(int(block * 1000), self.claim_idle_ms // 3))
        self.on_dead = on_dead
        self.dead_maxlen = dead_maxlen
        self._last_claim = 0.0
        self._claim_cursor = "0-0"
        self.concurrency = concurrency
        self._freed = asyncio.Event()  # set when an entry in hand is finished
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self.accepting = accepting
        self.outage = Outage(log, f"consumer:{stream}")
        #: ``time.monotonic()`` of the loop's last turn (readiness reports its age).
        self.ticked = time.monotonic()

    async def ensure_group(self) -> None:
        """Create the group (from the stream's start: entries queued before any bot ran count)."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish the entries in hand."""
        try:
            await self._loop(stop)
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _loop(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        started = False
        while not stop.is_set():
            self.ticked = time.monotonic()
            accepting = self.accepting()
            try:
                if accepting and not started:
                    await self.ensure_group()  # again after any failure: Redis may be empty
                    await self._own_pending()
                    started = True
                await self._claim(take_over=accepting)  # paused: only renew what is in hand
                if accepting:
                    await self._read_new()
                else:
                    await _sleep_or_stop(stop, 0.5)
                backoff = 0.1
                self.outage.restored()
            except (RedisError, OSError, StoreUnavailable) as exc:
                started = False
                self.outage.lost(exc)
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    def _room(self) -> int:
        """How many more entries may be taken in hand now (at most one batch)."""
        return min(self.batch, self.concurrency - len(self._in_flight))

    async def _own_pending(self) -> None:
        last = "0"
        # Beyond the room there is, own pending entries are left idle: XAUTOCLAIM takes them
        # (here or in another replica) once they have been idle for claim_idle.
        while (room := self._room()) > 0:
            rows: Any = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: last}, count=room
            )
            batch = rows[0][1] if rows else []
            if not batch:
                break
            last = batch[-1][0]
            self._spawn([(i, f) for i, f in batch if f])  # deleted entries come back empty
            if len(batch) < room:
                break

    async def _claim(self, *, take_over: bool = True) -> None:
        now = time.monotonic()
        if now - self._last_claim < self.claim_idle_ms / 3000:
            return
        self._last_claim = now
        if self._in_flight:  # renew the lease on what is in hand
            await self.redis.xclaim(
                self.stream, self.group, self.consumer, 0, list(self._in_flight), justid=True
            )
        if not take_over or self._room() <= 0:
            return
        # XAUTOCLAIM scans a bounded slice of the pending list per call: carry its cursor on,
        # so entries behind a long list of live ones are reached too.
        entries: list[tuple[str, dict[str, str]]] = []
        for _ in range(10):  # a bounded walk per round; the cursor carries on next round
            result: Any = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=self._claim_cursor,
                count=self._room(),
            )
            self._claim_cursor = str(result[0]) or "0-0"
            entries = [(i, f) for i, f in result[1] if f and i not in self._in_flight]
            if entries or self._claim_cursor == "0-0":
                break
        if entries:
            log.info("entries_claimed", stream=self.stream, count=len(entries))
            self._spawn(entries)

    async def _read_new(self) -> None:
        room = self._room()
        if room <= 0:
            # Wait for room, but only as long as a lease lasts unrenewed: the loop must turn
            # to renew the leases of the entries in hand, or another replica takes them over.
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), timeout=self.block_ms / 1000)
            return
        rows: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=room, block=self.block_ms
        )
        if rows:
            self._spawn(rows[0][1])

    def _spawn(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        for entry_id, fields in entries:
            if entry_id not in self._in_flight:
                self._in_flight[entry_id] = asyncio.create_task(self._guarded(entry_id, fields))

    async def _guarded(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            with _bound(fields):
                await self._handle(entry_id, fields)
        except (RedisError, OSError, StoreUnavailable) as exc:
            self.outage.lost(exc)  # the entry stays pending; it is read again once Redis is back
        finally:
            self._in_flight.pop(entry_id, None)
            self._freed.set()

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            await self.handler(fields)
        except Retry as exc:
            if not self.accepting():  # this replica stopped working: leave it to another
                return
            if await self._deliveries(entry_id) < self.max_deliveries:
                log.warning(
                    "entry_left_for_retry", stream=self.stream, entry=entry_id, why=str(exc)
                )
                return
            await self._dead(entry_id, fields, f"gave up after {self.max_deliveries} tries: {exc}")
        except GiveUp as exc:
            log.error(  # noqa: TRY400 (an outcome, no traceback)
                "entry_given_up", stream=self.stream, entry=entry_id, why=str(exc)
            )
            await self._dead(entry_id, fields, str(exc))
        except (RedisError, OSError, StoreUnavailable):
            raise
        except Exception as exc:
            log.exception("entry_failed", stream=self.stream, entry=entry_id)
            await self._dead(entry_id, fields, f"{type(exc).__name__}: {exc}")
        else:
            await self._done(entry_id)

    async def _deliveries(self, entry_id: str) -> int:
        rows = await self.redis.xpending_range(
            self.stream, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(rows[0]["times_delivered"]) if rows else 0

    async def _dead(self, entry_id: str, fields: dict[str, str], error: str) -> None:
        if self.on_dead is not None:
            try:
                await self.on_dead(fields | {"error": error})
            except Exception:  # the entry is dead-lettered whatever happens
                log.exception("dead_letter_hook_failed", stream=self.stream, entry=entry_id)
        letter = DeadLetter(self.stream, entry_id, error, fields)
        await run_async(self.redis, deadletters.write(self.dead_letters, letter, self.dead_maxlen))
        await self._done(entry_id)

    async def _done(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.xdel(self.stream, entry_id)
        await pipe.execute()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
