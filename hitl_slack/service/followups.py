"""The scheduler's reminder and escalation handlers: what the clock does before a deadline.

The post sets the timers (:func:`hitl_slack.lifecycle.posting.policy_timers`):
``remind:{id}:{n}`` at each of the policy's reminder offsets, ``escalate:{id}:{n}`` at each
escalation level. When one is due, its handler records the step once
(:func:`hitl_slack.lifecycle.followup.advance`: among replicas one wins, with its audit entry)
and only the winner does the Slack work:

* **remind**: a thread reply on the request's message mentioning the approvers who have not
  voted (the levels reached included; a user group that cannot be read is mentioned as the
  group), "⏰ 10 minutes left to decide: @alice @bob"; under ``notify = ["dm"]`` a DM to each
  of them too.
* **escalate**: the level's approvers may decide from now on (the step records the level, and
  queues a refresh of every message so it shows who joined); a level naming a channel posts
  the request there too, with live buttons, as a copy; a thread reply says so, "⬆️ Escalated
  to #ops: @cfo can now decide". Under ``notify = ["dm"]`` the new approvers get a DM copy.

A request decided or gone, or a step already recorded, does nothing. The timer is dropped once
handled; a Slack failure after the step is logged and not retried (at most once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hitl_slack.errors import InvalidRequest, RequestNotFound, SlackError
from hitl_slack.lifecycle.deadletters import DeadLetter
from hitl_slack.lifecycle.followup import Step
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.lifecycle.timers import ESCALATE, REMIND, Timer
from hitl_slack.logs import get_logger
from hitl_slack.models import AuditEvent, AuditEventType, RequestState
from hitl_slack.policy import Level, Policy
from hitl_slack.service.audience import audience
from hitl_slack.service.fanout import Fanout, text_message
from hitl_slack.service.scheduler import TimerHandler
from hitl_slack.slack import notices
from hitl_slack.slack.gateway import SlackGateway

__all__ = ["Followups"]

log = get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Followups:
    """The ``remind`` and ``escalate`` timer handlers (see :meth:`handlers`).

    Args:
        clock: the bot's clock, for the time left a reminder tells.
        observe: told of each step this replica acts on (``reminded``, ``escalated``): the
            service counts them in its metrics.
    """

    store: AsyncStore
    slack: SlackGateway
    fanout: Fanout
    clock: Callable[[], datetime] = field(default=_utcnow)
    observe: Callable[[str], None] | None = None

    def handlers(self) -> dict[str, TimerHandler]:
        """The handlers by timer kind, for :class:`~hitl_slack.service.scheduler.Scheduler`."""
        return {REMIND: self.remind, ESCALATE: self.escalate}

    async def remind(self, timer: Timer) -> bool:
        """The ``remind`` handler: the n-th reminder, once. Never counts as an expiry."""
        state = await self._pending(timer)
        if state is not None and state.policy is not None and timer.n is not None:
            event = self._event(state, state.policy, "reminded", {"n": timer.n})
            if await self._advanced(timer, "reminded", event):
                await self._quietly(timer, self._remind(state, state.policy))
        await self.store.drop_timer(timer)
        return False

    async def escalate(self, timer: Timer) -> bool:
        """The ``escalate`` handler: level n reached, once. Never counts as an expiry."""
        state = await self._pending(timer)
        policy = state.policy if state is not None else None
        n = timer.n or 0
        if state is not None and policy is not None and 0 < n <= len(policy.escalate):
            level = policy.escalate[n - 1]
            data = {"level": n, "channel": level.channel, "approvers": list(level.approvers)}
            if await self._advanced(timer, "level", self._event(state, policy, "escalated", data)):
                await self._quietly(timer, self._escalate(state.request.id, policy, n, level))
        await self.store.drop_timer(timer)
        return False

    async def _pending(self, timer: Timer) -> RequestState | None:
        """The timer's request, if it is still pending (an unreadable one is set aside)."""
        try:
            state = await self.store.get(timer.request_id)
        except RequestNotFound:
            return None
        except InvalidRequest as exc:
            log.error("timer_set_aside", timer=timer.member, error=str(exc))  # noqa: TRY400
            letter = DeadLetter(self.store.config.keys.timers, timer.member, str(exc), {})
            await self.store.set_aside(timer, letter)
            return None
        return state if state.pending else None

    @staticmethod
    def _event(
        state: RequestState, policy: Policy, event: AuditEventType, data: dict[str, Any]
    ) -> AuditEvent:
        return AuditEvent(
            event=event,
            request_id=state.request.id,
            actor="clock",
            args_digest=state.args_digest,
            data=data,
            policy_digest=policy.digest(),
        )

    async def _advanced(self, timer: Timer, step: Step, event: AuditEvent) -> bool:
        """Record the step; True when this caller is the one to act on it."""
        assert timer.n is not None
        try:
            outcome = await self.store.advance(timer.request_id, step, timer.n, event)
        except RequestNotFound:
            return False
        if outcome == "ok" and self.observe is not None:
            self.observe(event.event)
        return outcome == "ok"

    async def _remind(self, state: RequestState, policy: Policy) -> None:
        approvers = policy.approvers_at(state.level)
        people = await audience(self.slack, approvers, retry=True)
        voted = {v.who for v in state.counted()}
        waiting = people.who_may_approve(policy).without(voted)
        now = self.clock()
        log.info("reminder_sent", request_id=state.request.id, people=len(waiting.users))
        await self.fanout.reply(
            state, notices.reminder_text(state, (*waiting.users, *waiting.unread), now)
        )
        if "dm" in policy.notify and waiting.users:
            link = await self._link(state)
            text = text_message(notices.reminder_dm_text(state, now, link))
            for person in waiting.users:
                try:
                    await self.slack.post(await self.slack.open_dm(person), text)
                except SlackError as exc:
                    log.warning("reminder_dm_failed", user=person, error=exc.error)

    async def _link(self, state: RequestState) -> str | None:
        """The recorded message's permalink, unless it is someone's DM (or Slack has none)."""
        message = state.message
        if message is None or message.channel.startswith("D"):
            return None
        try:
            return await self.slack.permalink(message.channel, message.ts) or None
        except SlackError:
            return None

    async def _escalate(self, request_id: str, policy: Policy, n: int, level: Level) -> None:
        state = await self.store.get(request_id)  # read after the step: it shows level n
        log.info("request_escalated", request_id=request_id, level=n, channel=level.channel)
        if level.channel:
            await self.fanout.channel_copy(state, level.channel)
        if "dm" in policy.notify and level.approvers:
            before = await audience(self.slack, policy.approvers_at(n - 1), retry=True)
            joined = await audience(self.slack, level.approvers, retry=True)
            new = joined.who_may_approve(policy).without(before.users)
            await self.fanout.dm_copies(state, new.users)
        await self.fanout.reply(state, notices.escalation_text(level))

    async def _quietly(self, timer: Timer, work: Awaitable[None]) -> None:
        """Do the Slack work of a step recorded: a failure is logged, never retried."""
        try:
            await work
        except (SlackError, RequestNotFound, InvalidRequest) as exc:
            log.warning("followup_failed", timer=timer.member, error=str(exc))
