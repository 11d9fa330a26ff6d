"""Deadlines: requests past their deadline become ``expired``, whoever is still waiting.

Sleeps until the next deadline (at most ``max_sleep`` seconds, so new, earlier deadlines are
seen), then expires what is due through the same atomic step as a click. Several replicas may
run it: the step lets exactly one win. Reminders and escalation will be further timers here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from hitl_slack.errors import InvalidRequest, RequestNotFound, StoreUnavailable
from hitl_slack.lifecycle.ops import NotDue
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.service.consumer import dead_letter
from hitl_slack.service.outage import Outage

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Applies deadlines."""

    def __init__(
        self, store: AsyncStore, *, max_sleep: float = 1.0, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.store = store
        self.max_sleep = max_sleep
        self.clock = clock
        self.outage = Outage(log, "scheduler")
        #: ``time.monotonic()`` of the loop's last turn (readiness reports its age).
        self.ticked = time.monotonic()

    async def tick(self) -> int:
        """Expire every request that is due now; returns how many were expired."""
        expired = 0
        while True:
            due = await self.store.due(limit=100)
            for request_id in due:
                try:
                    decision = await self.store.expire(request_id)
                except NotDue:
                    continue
                except RequestNotFound:
                    await self.store.redis.zrem(self.store.config.keys.deadlines, request_id)
                    continue
                except InvalidRequest as exc:  # unreadable entry: set it aside, keep expiring
                    await self._set_aside(request_id, str(exc))
                    continue
                if decision.status.value == "expired":
                    expired += 1
            if len(due) < 100:
                return expired

    async def _set_aside(self, request_id: str, error: str) -> None:
        keys = self.store.config.keys
        log.error("unreadable request set aside", extra={"id": request_id, "error": error})
        await dead_letter(
            self.store.redis,
            keys.dead_letters,
            source=keys.deadlines,
            entry_id=request_id,
            error=error,
            fields={"id": request_id},
        )
        await self.store.redis.zrem(keys.deadlines, request_id)

    async def _until_next(self) -> float:
        first: Any = await self.store.redis.zrange(
            self.store.config.keys.deadlines, 0, 0, withscores=True
        )
        if not first:
            return self.max_sleep
        wait = float(first[0][1]) / 1000 - self.clock().timestamp()
        return min(max(wait, 0.01), self.max_sleep)

    async def run(self, stop: asyncio.Event) -> None:
        """Apply deadlines until ``stop`` is set."""
        while not stop.is_set():
            self.ticked = time.monotonic()
            try:
                count = await self.tick()
                if count:
                    log.info("expired requests", extra={"count": count})
                wait = await self._until_next()
                self.outage.restored()
            except (RedisError, OSError, StoreUnavailable) as exc:
                self.outage.lost(exc)
                wait = self.max_sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
