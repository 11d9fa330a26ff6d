"""Timers: deadlines (what the stored policy says they decide), reminders and escalation.

Each round fetches the timers due by Redis' clock from the one timer set
(:mod:`hitl_slack.lifecycle.timers`) and hands each to the handler of its kind: ``expire``
(built in) applies the deadline through the same atomic step as a click; ``remind`` and
``escalate`` are given by the service (:mod:`hitl_slack.service.followups`). A timer of a kind
this version does not know, or whose request cannot be read, is set aside in the dead letters
and taken out: it never stops the others. Several replicas may run it: the steps let exactly
one win. Between rounds it sleeps until the next timer (at most ``max_sleep`` seconds, so new,
earlier timers are seen).

Every round also moves what agents older than the timer set wrote into their legacy deadline
set (:func:`hitl_slack.lifecycle.schedule.migrate`): all of it in the first round, then one
bounded step per round. Everything goes through the store: nothing here writes Redis itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from hitl_slack.errors import InvalidRequest, RequestNotFound, StoreUnavailable
from hitl_slack.lifecycle.deadletters import DeadLetter
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.lifecycle.timers import EXPIRE, Timer
from hitl_slack.lifecycle.transition import NO_DECISION, NotDue
from hitl_slack.logs import get_logger
from hitl_slack.service.outage import Outage

__all__ = ["BATCH", "MIGRATE_BATCH", "Scheduler", "TimerHandler"]

log = get_logger(__name__)

#: Acts on one due timer; True when it counts as done (a request expired).
TimerHandler = Callable[[Timer], Awaitable[bool]]

#: Timers fetched per round trip.
BATCH = 100
#: Legacy deadlines moved per step.
MIGRATE_BATCH = 500


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Fires due timers through a handler per kind.

    Args:
        handlers: handlers by timer kind, added to (or replacing) the built-in ``expire``.
        max_sleep: the longest pause between two rounds, in seconds.
        clock: the bot's clock, to sleep until the next timer.
    """

    def __init__(
        self,
        store: AsyncStore,
        *,
        max_sleep: float = 1.0,
        clock: Callable[[], datetime] = _utcnow,
        handlers: Mapping[str, TimerHandler] | None = None,
    ) -> None:
        self.store = store
        self.max_sleep = max_sleep
        self.clock = clock
        self.handlers: dict[str, TimerHandler] = {EXPIRE: self.expire, **(handlers or {})}
        self.outage = Outage(log, "scheduler")
        self._migrated = False
        #: ``time.monotonic()`` of the loop's last turn (readiness reports its age).
        self.ticked = time.monotonic()

    async def tick(self) -> int:
        """Fire every timer that is due now; returns how many counted (requests expired)."""
        await self._migrate()
        done = 0
        while True:
            due = await self.store.due_timers(limit=BATCH)
            for timer in due:
                done += await self._fire(timer)
            if len(due) < BATCH:
                return done

    async def _migrate(self) -> None:
        """Take over the legacy deadline set: all of it the first time, then one step."""
        moved = total = await self.store.migrate(MIGRATE_BATCH)
        while not self._migrated and moved == MIGRATE_BATCH:
            moved = await self.store.migrate(MIGRATE_BATCH)
            total += moved
        if total:
            level = logging.DEBUG if self._migrated else logging.INFO
            log.log(level, "legacy_deadlines_moved", count=total)
        self._migrated = True

    async def _fire(self, timer: Timer) -> bool:
        handler = self.handlers.get(timer.kind)
        if handler is None:
            why = f"unknown timer kind {timer.kind!r}"
            await self._set_aside(timer, timer.member, why, {"timer": timer.member})
            return False
        return await handler(timer)

    async def expire(self, timer: Timer) -> bool:
        """The ``expire`` handler: apply the request's deadline; True if it expired now."""
        rid = timer.request_id
        try:
            decision = await self.store.expire(rid)
        except NotDue:
            return False
        except RequestNotFound:
            await self.store.drop_timer(timer)
            return False
        except InvalidRequest as exc:  # unreadable entry: set it aside, keep expiring
            await self._set_aside(timer, rid, str(exc), {"id": rid})
            return False
        # The step that decided removed the timer, unless an agent older than timers did.
        await self.store.drop_timer(timer)
        return NO_DECISION in (decision.reason or "")

    async def _set_aside(
        self, timer: Timer, entry_id: str, error: str, fields: dict[str, Any]
    ) -> None:
        log.error("timer_set_aside", timer=timer.member, request_id=timer.request_id, error=error)
        letter = DeadLetter(self.store.config.keys.timers, entry_id, error, fields)
        await self.store.set_aside(timer, letter)

    async def _until_next(self) -> float:
        due = await self.store.next_timer()
        if due is None:
            return self.max_sleep
        wait = (due - self.clock()).total_seconds()
        return min(max(wait, 0.01), self.max_sleep)

    async def run(self, stop: asyncio.Event) -> None:
        """Fire timers until ``stop`` is set."""
        while not stop.is_set():
            self.ticked = time.monotonic()
            try:
                count = await self.tick()
                if count:
                    log.info("requests_expired", count=count)
                wait = await self._until_next()
                self.outage.restored()
            except (RedisError, OSError, StoreUnavailable) as exc:
                self.outage.lost(exc)
                wait = self.max_sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
