"""A request shown in several places: its copies, keeping them all current, the thread replies.

Besides its recorded message, a request may be shown by copies (:attr:`RequestState.copies`):
one in each approver's DM (``notify = ["dm"]``), one in each escalation level's channel. Every
copy carries the same metadata and buttons and decides the same request. :class:`Fanout`
posts them, re-renders every message when the request changes (a vote, an escalation), shows
the decision on every copy, and posts the thread replies on the recorded message (the
outcome, once; reminders; escalations).

Slack's limits shape the order: ``chat.postMessage`` is about one per second per channel, and
each DM is a channel of its own; ``chat.update`` is Tier 3 (about 50 a minute per workspace),
and the gateway waits out a 429's ``Retry-After``. A copy whose post fails is logged and left
out: the others, and the recorded message, still show the request.

A copy is recorded after it is posted, so a decision made in between would not reach it:
after posting copies, the request is read again, and if it was decided meanwhile the new
copies are shown decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hitl_slack.errors import RequestNotFound, SlackError
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.logs import get_logger
from hitl_slack.models import MessageRef, RequestState
from hitl_slack.service import copies
from hitl_slack.slack.blocks import approval_message, decided_message
from hitl_slack.slack.gateway import SlackGateway
from hitl_slack.slack.layout import Message, outcome_text

__all__ = ["OUTCOME_REPLIED", "Fanout", "text_message"]

log = get_logger(__name__)

#: The once-flag of the outcome's thread reply (one replica posts it, once).
OUTCOME_REPLIED = "outcome_replied"


def text_message(text: str) -> Message:
    """A text-only message (a thread reply, a DM notice); ``text`` is mrkdwn, escaped."""
    return Message(text=text, blocks=[])


@dataclass
class Fanout:
    """Posts and updates a request's copies, and the replies in its thread."""

    store: AsyncStore
    slack: SlackGateway

    async def dm_copies(self, state: RequestState, people: Iterable[str]) -> list[MessageRef]:
        """Post the pending request to each person's DM, recording each as a copy.

        People who already have a message showing the request in their DM are skipped. When
        the request was decided while they were being posted, the new copies show the decision.

        Returns:
            The copies recorded.
        """
        posted: list[MessageRef] = []
        for person in dict.fromkeys(people):
            try:
                channel = await self.slack.open_dm(person)
            except SlackError as exc:
                log.warning("dm_open_failed", user=person, error=exc.error)
                continue
            ref = await self._copy(state, channel, posted)
            posted += [ref] if ref is not None else []
        await self.settle(state, posted)
        return posted

    async def channel_copy(self, state: RequestState, channel: str) -> MessageRef | None:
        """Post the pending request in ``channel`` too (an escalation), recorded as a copy."""
        ref = await self._copy(state, channel, [])
        await self.settle(state, [ref] if ref is not None else [])
        return ref

    async def _copy(
        self, state: RequestState, channel: str, more: list[MessageRef]
    ) -> MessageRef | None:
        """Post one copy in ``channel`` and record it (None: not posted, or shown already)."""
        rid = state.request.id
        if any(m.channel == channel for m in (*state.messages(), *more)):
            return None
        try:
            posted_in, ts = await self.slack.post(
                channel, approval_message(state), metadata=copies.metadata(rid)
            )
        except SlackError as exc:  # SlackOutcomeUnknown too: a copy is never posted twice
            log.warning("copy_post_failed", request_id=rid, channel=channel, error=exc.error)
            return None
        ref = MessageRef(channel=posted_in, ts=ts)
        try:
            await self.store.add_copy(rid, ref)
        except RequestNotFound:
            await self._quietly_delete(ref)
            return None
        log.info("copy_posted", request_id=rid, channel=posted_in, ts=ts)
        return ref

    async def settle(self, state: RequestState, added: list[MessageRef]) -> None:
        """Bring copies just added, drawn from ``state``, up to date: show the decision if one
        was made while they were posted, or the votes and levels recorded meanwhile (their
        refresh may have run before the copies were recorded)."""
        if not added:
            return
        try:
            fresh = await self.store.get(state.request.id)
        except RequestNotFound:
            return
        if not fresh.pending:
            await self.show_decided(fresh, added)
        elif _progress(fresh) != _progress(state):
            await self._render(fresh, added)

    async def refresh(self, state: RequestState) -> RequestState:
        """Re-render a pending request on every message showing it (votes, a new level).

        Returns:
            The request as read again after the updates: if it was decided meanwhile, the
            caller shows the decision (an update drawn from the older read may have landed
            after the decision's).
        """
        await self._render(state, state.messages())
        try:
            return await self.store.get(state.request.id)
        except RequestNotFound:
            return state

    async def _render(self, state: RequestState, refs: Iterable[MessageRef]) -> None:
        """Show the pending request as it stands on each of ``refs`` (drawn once per note:
        the copies share one)."""
        drawn: dict[str | None, Message] = {}
        for ref in refs:
            if ref.note not in drawn:
                drawn[ref.note] = approval_message(state, note=ref.note)
            try:
                await self.slack.update(ref.channel, ref.ts, drawn[ref.note])
            except SlackError as exc:
                log.warning("refresh_failed", channel=ref.channel, ts=ref.ts, error=exc.error)

    async def show_decided_on(
        self, state: RequestState, ref: MessageRef, drawn: Message | None = None
    ) -> None:
        """Show the decision on one message (its metadata says the status shown).

        Args:
            drawn: the decided message for ``ref``'s note, if already drawn.

        Raises:
            SlackError: Slack refused the update.
        """
        assert state.decision is not None
        await self.slack.update(
            ref.channel,
            ref.ts,
            drawn or decided_message(state, note=ref.note),
            metadata=copies.metadata(state.request.id, state.decision.status.value),
        )

    async def show_decided(self, state: RequestState, refs: Iterable[MessageRef]) -> None:
        """Show the decision on each of ``refs`` (failures are logged: the rest go on); drawn
        once per note, the copies share one."""
        drawn: dict[str | None, Message] = {}
        for ref in refs:
            if ref.note not in drawn:
                drawn[ref.note] = decided_message(state, note=ref.note)
            try:
                await self.show_decided_on(state, ref, drawn[ref.note])
            except SlackError as exc:
                log.warning("copy_update_failed", channel=ref.channel, ts=ref.ts, error=exc.error)

    async def reply(self, state: RequestState, text: str) -> None:
        """Post ``text`` (mrkdwn, escaped) in the thread of the request's recorded message.

        Raises:
            SlackError: Slack refused it, or its outcome is unknown (never posted twice).
        """
        if state.message is not None:
            await self.slack.post(
                state.message.channel, text_message(text), thread_ts=state.message.ts
            )

    async def reply_outcome(self, state: RequestState) -> None:
        """Post the decision in the recorded message's thread, once for all replicas."""
        if state.decision is None or state.message is None:
            return
        if not await self.store.mark_once(state.request.id, OUTCOME_REPLIED):
            return
        try:
            await self.reply(state, outcome_text(state))
        except SlackError as exc:
            log.warning("outcome_reply_failed", request_id=state.request.id, error=exc.error)

    async def _quietly_delete(self, ref: MessageRef) -> None:
        try:
            await self.slack.delete(ref.channel, ref.ts)
        except SlackError as exc:
            log.warning("copy_delete_failed", channel=ref.channel, ts=ref.ts, error=exc.error)


def _progress(state: RequestState) -> tuple[object, ...]:
    """What a vote, an edit or an escalation changes on a pending request's message."""
    return state.votes, state.level, state.proposed
