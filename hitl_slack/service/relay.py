"""Queue -> route -> post to Slack -> record the message; and decisions -> message updates.

:meth:`Relay.post_request` handles an entry of the request queue, :meth:`Relay.show_outcome`
an entry of the outcomes stream (every decision, however it was made: a click, the clock,
the agent's cancel). Both run under :class:`~hitl_slack.service.consumer.StreamConsumer`, so several
bot replicas share the work and a crashed replica's entries are taken over.

**One live message per request.** A post is not idempotent and its answer can be lost (Slack
slower than ``HITL_SLACK_TIMEOUT``, a dropped connection, the bot killed between the post and
the record). So:

* every approval message carries Slack message metadata ``hitl_request`` with the request id;
* before posting, the request is marked in Redis with the attempt's time (in the same step
  that reads it);
* a post whose outcome is unknown is never repeated blindly: the channel's recent history
  (``conversations.history``, from the first attempt on) is searched for a message carrying the
  request id, which is adopted if found; only then is the post sent once more, with a longer
  timeout. A marked request taken up again after a crash is searched for the same way;
* once a message is recorded after such an attempt, it keeps ``copies_since``: copies found
  later are deleted while the request is pending, and updated to the decision when it is
  decided, so no copy keeps live buttons.

The search needs the ``channels:history`` / ``groups:history`` scopes; without them it fails,
is logged, and the bot posts again (at least once, never silently lost).

Before the post, :mod:`~hitl_slack.service.admission` resolves ``requested_by`` and checks the
quorum; after it, ``notify = ["dm"]`` adds DM copies (:mod:`~hitl_slack.service.fanout`; with
DMs alone, the first DM is the recorded message). An outcomes entry for a pending request (a
vote, an escalation) re-renders every message; a decision is shown on the recorded message,
then every copy, then said once in its thread.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hitl_slack.errors import AlreadyDecided, InvalidRequest, RequestNotFound, SlackError
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.logs import get_logger
from hitl_slack.models import AuditEvent, MessageRef, RequestState, Status
from hitl_slack.policy import Policy
from hitl_slack.policy import deadline as policy_deadline
from hitl_slack.routesfile import RoutesConfig
from hitl_slack.routing import Routed, resolve
from hitl_slack.service import copies
from hitl_slack.service.admission import NotAdmitted, admit
from hitl_slack.service.consumer import Retry
from hitl_slack.service.copies import EVENT_TYPE
from hitl_slack.service.fanout import Fanout
from hitl_slack.service.refusals import FALLBACK_ERRORS, REFUSED_CONTENT, failed, fallback_note
from hitl_slack.slack.blocks import approval_message
from hitl_slack.slack.gateway import SlackGateway, SlackOutcomeUnknown

__all__ = ["EVENT_TYPE", "FALLBACK_ERRORS", "REFUSED_CONTENT", "Relay"]

log = get_logger(__name__)


@dataclass
class Relay:
    """Posts requests and keeps their messages up to date."""

    store: AsyncStore
    slack: SlackGateway
    routes: RoutesConfig
    default_channel: str | None
    fanout: Fanout = field(init=False)

    def __post_init__(self) -> None:
        self.fanout = Fanout(self.store, self.slack)

    async def post_request(self, fields: dict[str, str]) -> None:
        """Handle one queue entry: post the request's message once.

        Raises:
            Retry: Slack or Redis failed for now; the entry is tried again later.
            GiveUp: Slack refused the message itself (:data:`REFUSED_CONTENT`).
            InvalidRequest: the entry or the stored request is malformed (dead letter).
        """
        now = datetime.now(UTC)
        read = await self._read(fields, "queue", mark=now)
        if read is None:
            return
        state, earlier = read
        if state.message is not None or not state.pending:
            return  # posted already (a retry after a crash), or decided before it was shown
        # Routed once, here: from the record on, everything reads the stored policy.
        routed = resolve(self.routes, state.request)
        admitted = await admit(self.slack, state.request, routed.policy)
        if isinstance(admitted, NotAdmitted):
            await self._cancel(state.request.id, admitted.reason)
            return
        policy = admitted.policy
        routed = Routed(policy, routed.note)
        # The message shows the deadline the policy sets; the record applies it in Redis.
        deadline = policy_deadline(state.created_at, state.request.timeout, policy)
        state = state.model_copy(update={"deadline": deadline, "policy": policy})
        dms = list(admitted.people.users) if "dm" in policy.notify else []
        channel = policy.channel
        if "channel" not in policy.notify and dms:
            channel = await self._dm_home(dms, channel)
        ref = await self._adopt(state, routed, channel, earlier) if earlier else None
        if ref is None:
            ref = await self._post(state, routed, channel, earlier or now, uncertain=bool(earlier))
        recorded = await self._record(state, ref, policy, escalate_now=admitted.escalate_now)
        if recorded is not None and dms:
            await self.fanout.dm_copies(recorded, dms)

    async def _dm_home(self, people: list[str], channel: str) -> str:
        """With DMs alone: the first of ``people`` whose DM opens (taken out), else ``channel``."""
        while people:
            try:
                return await self.slack.open_dm(people.pop(0))
            except SlackError as exc:
                log.warning("dm_open_failed", error=exc.error)
        return channel

    async def _read(
        self, fields: dict[str, str], stream: str, *, mark: datetime | None = None
    ) -> tuple[RequestState, datetime | None] | None:
        """The request a stream entry names and its first post attempt; None if it is gone.

        Raises:
            InvalidRequest: the entry names no request, or the stored one is malformed.
        """
        request_id = fields.get("id")
        if not request_id:
            raise InvalidRequest(f"{stream} entry has no 'id' field: {sorted(fields)}")
        try:
            return await self.store.read_posting(request_id, mark)
        except RequestNotFound:
            log.warning("request_gone", request_id=request_id, stream=stream)
            return None

    async def _record(
        self, state: RequestState, ref: MessageRef, policy: Policy, *, escalate_now: bool
    ) -> RequestState | None:
        """Record the message posted; returns the request as recorded, if this record stands
        and the request is still pending."""
        request_id = state.request.id
        try:
            posted = await self.store.mark_posted(state, ref, policy, escalate_now=escalate_now)
            recorded, status, kept = posted.recorded, posted.status, posted.message
        except RequestNotFound:
            # Lost with Redis' data (restarted empty, a failover) while it was being posted:
            # nobody can decide it any more, so no message may ask for a decision.
            log.warning("request_lost_while_posting", request_id=request_id, channel=ref.channel)
            await self._quietly(self.slack.delete(ref.channel, ref.ts))
            return None
        since = ref.copies_since.isoformat() if ref.copies_since else None
        log.info(
            "request_posted",
            request_id=request_id,
            channel=ref.channel,
            ts=ref.ts,
            route=policy.route,
            duplicate=not recorded,
            copies_since=since,
        )
        if not recorded:  # another replica posted it first: keep one message
            if (kept.channel, kept.ts) != (ref.channel, ref.ts):  # (both may adopt the same)
                await self._quietly(self.slack.delete(ref.channel, ref.ts))
            return None
        if status is not Status.PENDING:  # decided while we were posting
            fresh = await self.store.get(request_id)
            await self._quietly(self.fanout.show_decided_on(fresh, ref))
            await self._sweep(fresh, ref.copies_since)
            await self.fanout.reply_outcome(fresh)
            return None
        update = {"message": ref, "policy": policy, "deadline": posted.deadline}
        recorded_state = state.model_copy(update=update)
        await self._sweep(recorded_state, ref.copies_since)
        return recorded_state

    async def _post(
        self, state: RequestState, routed: Routed, channel: str, since: datetime, *, uncertain: bool
    ) -> MessageRef:
        note = routed.note
        try:
            posted_in, ts, uncertain = await self._post_once(state, channel, note, since, uncertain)
        except SlackError as exc:
            fallback = self.routes.defaults.channel or self.default_channel
            if exc.error not in FALLBACK_ERRORS or not fallback or fallback == channel:
                await self._record_error(state, f"posting to {channel} failed: {exc.error}")
                raise failed(exc) from None
            note = fallback_note(channel, exc.error)
            log.error(  # noqa: TRY400 (a Slack answer, no traceback)
                "route_channel_unusable", fallback=fallback, channel=channel, error=exc.error
            )
            await self._record_error(state, note)
            try:
                posted_in, ts, uncertain = await self._post_once(
                    state, fallback, note, since, uncertain
                )
            except SlackError as again:
                await self._record_error(state, f"posting to {fallback} failed: {again.error}")
                raise failed(again) from None
        return MessageRef(
            channel=posted_in,
            ts=ts,
            note=note,
            copies_since=since if uncertain else None,
        )

    async def _post_once(
        self, state: RequestState, channel: str, note: str | None, since: datetime, uncertain: bool
    ) -> tuple[str, str, bool]:
        """Post, and if the answer is lost, look for the message before posting once more.

        Returns (channel, ts, whether another copy may exist).

        Raises:
            SlackError: Slack refused the post.
            Retry: the outcome is still unknown; the mark in Redis makes the next try look first.
        """
        request_id = state.request.id
        message, meta = approval_message(state, note=note), copies.metadata(request_id)
        try:
            posted_in, ts = await self.slack.post(channel, message, metadata=meta)
        except SlackOutcomeUnknown as exc:
            log.warning("post_outcome_unknown", channel=channel, error=exc.error)
        else:
            return posted_in, ts, uncertain
        found = await copies.find(self.slack, request_id, [channel], since)
        if found:
            return found[0].channel, found[0].ts, True
        try:
            posted_in, ts = await self.slack.post(channel, message, metadata=meta, patient=True)
        except SlackOutcomeUnknown as exc:
            await self._record_error(state, f"posting to {channel}: {exc.error}")
            raise Retry(f"chat.postMessage: {exc.error}") from None
        return posted_in, ts, True

    async def _adopt(
        self, state: RequestState, routed: Routed, channel: str, since: datetime
    ) -> MessageRef | None:
        """The message an earlier attempt posted (its answer lost), if Slack shows one."""
        found = await copies.find(self.slack, state.request.id, self._channels(channel), since)
        if not found:
            return None
        kept = found[0]
        log.info("post_adopted", channel=kept.channel, ts=kept.ts, copies=len(found))
        note = routed.note if kept.channel == channel else fallback_note(channel, "unknown error")
        return MessageRef(
            channel=kept.channel,
            ts=kept.ts,
            note=note,
            copies_since=since,
        )

    def _channels(self, channel: str, *more: str) -> list[str]:
        """Where copies may be: ``more``, the policy's channel, the fallback; each once."""
        fallback = self.routes.defaults.channel or self.default_channel
        return list(dict.fromkeys(c for c in (*more, channel, fallback) if c))

    async def _sweep(self, state: RequestState, since: datetime | None) -> None:
        """Leave no copy of the message with live buttons besides the recorded one.

        Copies are deleted while the request is pending and updated to the decision once it is
        decided (a person may have clicked one). Nothing to do when ``since`` is None.
        """
        if since is None:
            return
        recorded = state.message
        # The stored policy says where it was posted; a request decided before its post was
        # recorded has none yet, and was posted (if at all) where routing sends it.
        policy = state.policy or resolve(self.routes, state.request).policy
        channels = self._channels(policy.channel, *([recorded.channel] if recorded else []))
        known = {(m.channel, m.ts) for m in state.messages()}
        for copy in await copies.find(self.slack, state.request.id, channels, since):
            if (copy.channel, copy.ts) in known:  # the recorded message, a recorded copy
                continue
            if state.pending:
                log.info("copy_deleted", ts=copy.ts)
                await self._quietly(self.slack.delete(copy.channel, copy.ts))
            elif copy.payload.get("status") != state.status.value:  # not shown decided yet
                log.info("copy_decided", ts=copy.ts)
                ref = MessageRef(
                    channel=copy.channel, ts=copy.ts, note=recorded.note if recorded else None
                )
                await self._quietly(self.fanout.show_decided_on(state, ref))

    async def _record_error(self, state: RequestState, what: str) -> None:
        await self.store.audit(
            AuditEvent(event="error", request_id=state.request.id, actor="bot", reason=what)
        )

    async def gave_up(self, fields: dict[str, str]) -> None:
        """A request could not be posted after every retry: end it, so no agent waits in vain.

        The waiting agent gets ``cancelled`` with the reason at once, instead of ``expired``
        at its deadline.
        """
        request_id = fields.get("id")
        if request_id:
            error = fields.get("error", "unknown error")
            await self._cancel(request_id, f"could not be posted to Slack: {error}", logging.ERROR)

    async def _cancel(self, request_id: str, reason: str, level: int = logging.WARNING) -> None:
        """End a request that cannot be posted or decided, so no agent waits in vain."""
        try:
            await self.store.decide(request_id, Status.CANCELLED, reason=reason[:1000], actor="bot")
        except (AlreadyDecided, RequestNotFound, InvalidRequest):
            return
        log.log(level, "request_cancelled", request_id=request_id, reason=reason)

    async def show_outcome(self, fields: dict[str, str]) -> None:
        """Handle one outcomes entry: re-render a pending request's messages (a vote, an
        escalation), or show a decision on its message, then its copies, then in its thread.

        Raises:
            Retry: Slack failed for now (the recorded message could not show the decision).
        """
        read = await self._read(fields, "outcome")
        if read is None:
            return
        state, attempted = read
        if state.pending:
            state = await self.fanout.refresh(state)
            if state.pending:
                return
        if state.message is None:
            # Not recorded: the relay shows the decision if it still posts; a copy whose
            # answer was lost (or a crash before the record) may be in Slack already.
            await self._sweep(state, attempted)
            return
        try:
            await self.fanout.show_decided_on(state, state.message)
        except SlackError as exc:
            if exc.error not in ("message_not_found", "cant_update_message", "channel_not_found"):
                raise Retry(f"chat.update: {exc.error}") from None
            log.warning("decided_message_not_updatable", error=exc.error)
            await self.fanout.show_decided(state, state.copies)  # no copy keeps live buttons
            return
        await self.fanout.show_decided(state, state.copies)
        await self._sweep(state, state.message.copies_since)
        await self.fanout.reply_outcome(state)

    @staticmethod
    async def _quietly(call: Awaitable[None]) -> None:
        try:
            await call
        except SlackError:
            log.warning("slack_call_failed", exc_info=True)
