"""The lifecycle's two stores: :class:`Store` (sync) and :class:`AsyncStore` (asyncio).

They have the same methods with the same signatures (a test checks it); each method runs one
generator of :mod:`hitl_slack.lifecycle` (sans-I/O) through :mod:`hitl_slack.lifecycle.runner`
against ``redis.Redis`` or ``redis.asyncio.Redis``. Connection failures become
:class:`~hitl_slack.errors.StoreUnavailable`. The clients' factories are in
:mod:`hitl_slack.lifecycle.connect` (re-exported here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis

from hitl_slack.lifecycle import (
    auditing,
    creation,
    deadletters,
    followup,
    heartbeat,
    listing,
    posting,
    reading,
    schedule,
    transition,
    voting,
)
from hitl_slack.lifecycle.commands import Gen
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.connect import (
    RETRIES,
    async_redis,
    async_retry_policy,
    retry_policy,
    sync_redis,
)
from hitl_slack.lifecycle.deadletters import DeadLetter
from hitl_slack.lifecycle.followup import Step
from hitl_slack.lifecycle.heartbeat import Heartbeat
from hitl_slack.lifecycle.posting import Posted
from hitl_slack.lifecycle.runner import run_async, run_sync
from hitl_slack.lifecycle.timers import Timer
from hitl_slack.lifecycle.voting import Tally
from hitl_slack.models import (
    AuditEvent,
    Decision,
    MessageRef,
    Request,
    RequestState,
    Status,
    Vote,
)
from hitl_slack.policy import Policy

__all__ = [
    "RETRIES",
    "AsyncStore",
    "Store",
    "StoreConfig",
    "async_redis",
    "async_retry_policy",
    "retry_policy",
    "sync_redis",
]

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """The lifecycle over a sync Redis client. Every method is one atomic step or a read."""

    def __init__(self, r: redis.Redis, config: StoreConfig | None = None) -> None:
        self.redis = r
        self.config = config or StoreConfig()

    def close(self) -> None:
        """Close every connection of the pool, in use or not."""
        self.redis.close()
        self.redis.connection_pool.disconnect()

    def run(self, gen: Gen[T]) -> T:
        """Drive any command generator (see :mod:`hitl_slack.lifecycle.commands`)."""
        return run_sync(self.redis, gen)

    def heartbeats(self) -> list[Heartbeat]:
        """See :func:`hitl_slack.lifecycle.heartbeat.read`."""
        return run_sync(self.redis, heartbeat.read(self.config.keys))

    def create(self, request: Request) -> tuple[RequestState, bool]:
        """See :func:`hitl_slack.lifecycle.creation.create`."""
        return run_sync(self.redis, creation.create(self.config, request))

    def get(self, request_id: str) -> RequestState:
        """See :func:`hitl_slack.lifecycle.reading.get`."""
        return run_sync(self.redis, reading.get(self.config, request_id))

    def current(self, request_id: str, now: datetime | None = None) -> RequestState:
        """See :func:`hitl_slack.lifecycle.transition.current`."""
        return run_sync(self.redis, transition.current(self.config, request_id, now or _utcnow()))

    def decide(
        self,
        request_id: str,
        status: Status,
        *,
        payload: dict[str, Any] | None = None,
        reason: str | None = None,
        decided_by: tuple[str, ...] = (),
        actor: str | None = None,
        votes: tuple[Vote, ...] = (),
    ) -> Decision:
        """See :func:`hitl_slack.lifecycle.transition.decide`."""
        return run_sync(
            self.redis,
            transition.decide(
                self.config,
                request_id,
                status,
                payload=payload,
                reason=reason,
                decided_by=decided_by,
                actor=actor,
                votes=votes,
            ),
        )

    def expire(self, request_id: str) -> Decision:
        """See :func:`hitl_slack.lifecycle.transition.expire`."""
        return run_sync(self.redis, transition.expire(self.config, request_id))

    def read_posting(
        self, request_id: str, mark: datetime | None = None
    ) -> tuple[RequestState, datetime | None]:
        """See :func:`hitl_slack.lifecycle.posting.read_posting`."""
        return run_sync(self.redis, posting.read_posting(self.config, request_id, mark))

    def mark_posted(
        self,
        state: RequestState,
        message: MessageRef,
        policy: Policy,
        *,
        escalate_now: bool = False,
    ) -> Posted:
        """See :func:`hitl_slack.lifecycle.posting.mark_posted`."""
        return run_sync(
            self.redis,
            posting.mark_posted(self.config, state, message, policy, escalate_now=escalate_now),
        )

    def vote(
        self,
        state: RequestState,
        cast: Vote,
        *,
        seen: str | None,
        payload: dict[str, Any] | None = None,
        reject_at: int = 0,
    ) -> Tally:
        """See :func:`hitl_slack.lifecycle.voting.vote`."""
        return run_sync(
            self.redis,
            voting.vote(self.config, state, cast, seen=seen, payload=payload, reject_at=reject_at),
        )

    def advance(self, request_id: str, step: Step, n: int, event: AuditEvent) -> str:
        """See :func:`hitl_slack.lifecycle.followup.advance`."""
        return run_sync(self.redis, followup.advance(self.config, request_id, step, n, event))

    def add_copy(self, request_id: str, copy: MessageRef) -> int:
        """See :func:`hitl_slack.lifecycle.followup.add_copy`."""
        return run_sync(self.redis, followup.add_copy(self.config, request_id, copy))

    def mark_once(self, request_id: str, flag: str) -> bool:
        """See :func:`hitl_slack.lifecycle.followup.mark_once`."""
        return run_sync(self.redis, followup.mark_once(self.config, request_id, flag))

    def audit(self, *events: AuditEvent) -> None:
        """See :func:`hitl_slack.lifecycle.auditing.audit`."""
        run_sync(self.redis, auditing.audit(self.config, *events))

    def pending(self, limit: int = 50) -> list[RequestState]:
        """See :func:`hitl_slack.lifecycle.listing.pending`."""
        return run_sync(self.redis, listing.pending(self.config, limit))

    def due_timers(self, limit: int = 100) -> list[Timer]:
        """See :func:`hitl_slack.lifecycle.schedule.due_timers`."""
        return run_sync(self.redis, schedule.due_timers(self.config, limit))

    def next_timer(self) -> datetime | None:
        """See :func:`hitl_slack.lifecycle.schedule.next_timer`."""
        return run_sync(self.redis, schedule.next_timer(self.config))

    def drop_timer(self, timer: Timer) -> None:
        """See :func:`hitl_slack.lifecycle.schedule.drop_timer`."""
        run_sync(self.redis, schedule.drop_timer(self.config, timer))

    def set_aside(self, timer: Timer, letter: DeadLetter) -> None:
        """See :func:`hitl_slack.lifecycle.schedule.set_aside`."""
        run_sync(self.redis, schedule.set_aside(self.config, timer, letter))

    def migrate(self, limit: int = 500) -> int:
        """See :func:`hitl_slack.lifecycle.schedule.migrate`."""
        return run_sync(self.redis, schedule.migrate(self.config, limit))

    def dead_letter(self, letter: DeadLetter) -> None:
        """See :func:`hitl_slack.lifecycle.deadletters.dead_letter`."""
        run_sync(self.redis, deadletters.dead_letter(self.config, letter))


class AsyncStore:
    """The lifecycle over an asyncio Redis client; the same methods as :class:`Store`."""

    def __init__(self, r: aredis.Redis, config: StoreConfig | None = None) -> None:
        self.redis = r
        self.config = config or StoreConfig()

    async def aclose(self) -> None:
        """Close every connection of the pool, in use or not (a pool passed to
        ``redis.asyncio.Redis`` is not closed by its ``aclose``)."""
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()

    async def run(self, gen: Gen[T]) -> T:
        """Drive any command generator (see :mod:`hitl_slack.lifecycle.commands`)."""
        return await run_async(self.redis, gen)

    async def heartbeats(self) -> list[Heartbeat]:
        """See :func:`hitl_slack.lifecycle.heartbeat.read`."""
        return await run_async(self.redis, heartbeat.read(self.config.keys))

    async def create(self, request: Request) -> tuple[RequestState, bool]:
        """See :func:`hitl_slack.lifecycle.creation.create`."""
        return await run_async(self.redis, creation.create(self.config, request))

    async def get(self, request_id: str) -> RequestState:
        """See :func:`hitl_slack.lifecycle.reading.get`."""
        return await run_async(self.redis, reading.get(self.config, request_id))

    async def current(self, request_id: str, now: datetime | None = None) -> RequestState:
        """See :func:`hitl_slack.lifecycle.transition.current`."""
        return await run_async(
            self.redis, transition.current(self.config, request_id, now or _utcnow())
        )

    async def decide(
        self,
        request_id: str,
        status: Status,
        *,
        payload: dict[str, Any] | None = None,
        reason: str | None = None,
        decided_by: tuple[str, ...] = (),
        actor: str | None = None,
        votes: tuple[Vote, ...] = (),
    ) -> Decision:
        """See :func:`hitl_slack.lifecycle.transition.decide`."""
        return await run_async(
            self.redis,
            transition.decide(
                self.config,
                request_id,
                status,
                payload=payload,
                reason=reason,
                decided_by=decided_by,
                actor=actor,
                votes=votes,
            ),
        )

    async def expire(self, request_id: str) -> Decision:
        """See :func:`hitl_slack.lifecycle.transition.expire`."""
        return await run_async(self.redis, transition.expire(self.config, request_id))

    async def read_posting(
        self, request_id: str, mark: datetime | None = None
    ) -> tuple[RequestState, datetime | None]:
        """See :func:`hitl_slack.lifecycle.posting.read_posting`."""
        return await run_async(self.redis, posting.read_posting(self.config, request_id, mark))

    async def mark_posted(
        self,
        state: RequestState,
        message: MessageRef,
        policy: Policy,
        *,
        escalate_now: bool = False,
    ) -> Posted:
        """See :func:`hitl_slack.lifecycle.posting.mark_posted`."""
        return await run_async(
            self.redis,
            posting.mark_posted(self.config, state, message, policy, escalate_now=escalate_now),
        )

    async def vote(
        self,
        state: RequestState,
        cast: Vote,
        *,
        seen: str | None,
        payload: dict[str, Any] | None = None,
        reject_at: int = 0,
    ) -> Tally:
        """See :func:`hitl_slack.lifecycle.voting.vote`."""
        return await run_async(
            self.redis,
            voting.vote(self.config, state, cast, seen=seen, payload=payload, reject_at=reject_at),
        )

    async def advance(self, request_id: str, step: Step, n: int, event: AuditEvent) -> str:
        """See :func:`hitl_slack.lifecycle.followup.advance`."""
        return await run_async(
            self.redis, followup.advance(self.config, request_id, step, n, event)
        )

    async def add_copy(self, request_id: str, copy: MessageRef) -> int:
        """See :func:`hitl_slack.lifecycle.followup.add_copy`."""
        return await run_async(self.redis, followup.add_copy(self.config, request_id, copy))

    async def mark_once(self, request_id: str, flag: str) -> bool:
        """See :func:`hitl_slack.lifecycle.followup.mark_once`."""
        return await run_async(self.redis, followup.mark_once(self.config, request_id, flag))

    async def audit(self, *events: AuditEvent) -> None:
        """See :func:`hitl_slack.lifecycle.auditing.audit`."""
        await run_async(self.redis, auditing.audit(self.config, *events))

    async def pending(self, limit: int = 50) -> list[RequestState]:
        """See :func:`hitl_slack.lifecycle.listing.pending`."""
        return await run_async(self.redis, listing.pending(self.config, limit))

    async def due_timers(self, limit: int = 100) -> list[Timer]:
        """See :func:`hitl_slack.lifecycle.schedule.due_timers`."""
        return await run_async(self.redis, schedule.due_timers(self.config, limit))

    async def next_timer(self) -> datetime | None:
        """See :func:`hitl_slack.lifecycle.schedule.next_timer`."""
        return await run_async(self.redis, schedule.next_timer(self.config))

    async def drop_timer(self, timer: Timer) -> None:
        """See :func:`hitl_slack.lifecycle.schedule.drop_timer`."""
        await run_async(self.redis, schedule.drop_timer(self.config, timer))

    async def set_aside(self, timer: Timer, letter: DeadLetter) -> None:
        """See :func:`hitl_slack.lifecycle.schedule.set_aside`."""
        await run_async(self.redis, schedule.set_aside(self.config, timer, letter))

    async def migrate(self, limit: int = 500) -> int:
        """See :func:`hitl_slack.lifecycle.schedule.migrate`."""
        return await run_async(self.redis, schedule.migrate(self.config, limit))

    async def dead_letter(self, letter: DeadLetter) -> None:
        """See :func:`hitl_slack.lifecycle.deadletters.dead_letter`."""
        await run_async(self.redis, deadletters.dead_letter(self.config, letter))
