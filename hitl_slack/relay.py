"""Queue -> route -> post to Slack -> record the message; and decisions -> message updates.

:meth:`Relay.post_request` handles an entry of the request queue, :meth:`Relay.show_outcome`
an entry of the outcomes stream (every decision, however it was made: a click, the clock,
the agent's cancel). Both run under :class:`~hitl_slack.consumer.StreamConsumer`, so several
bot replicas share the work and a crashed replica's entries are taken over.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

from hitl_slack.blocks import approval_message, decided_message
from hitl_slack.consumer import Retry
from hitl_slack.errors import AlreadyDecided, InvalidRequest, RequestNotFound, SlackError
from hitl_slack.models import AuditEvent, MessageRef, RequestState, Status
from hitl_slack.routing import ResolvedRoute, RoutesConfig, resolve
from hitl_slack.slack import SlackGateway
from hitl_slack.store import AsyncStore

__all__ = ["FALLBACK_ERRORS", "Relay"]

log = logging.getLogger(__name__)

#: Errors after which a message goes to the default channel instead.
FALLBACK_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})


@dataclass
class Relay:
    """Posts requests and keeps their messages up to date."""

    store: AsyncStore
    slack: SlackGateway
    routes: RoutesConfig
    default_channel: str | None

    async def post_request(self, fields: dict[str, str]) -> None:
        """Handle one queue entry: post the request's message once.

        Raises:
            Retry: Slack or Redis failed for now; the entry is tried again later.
            InvalidRequest: the entry or the stored request is malformed (dead letter).
        """
        state = await self._state(fields, "queue")
        if state is None:
            return
        request_id = state.request.id
        if state.message is not None or not state.pending:
            return  # posted already (a retry after a crash), or decided before it was shown
        route = resolve(self.routes, state.request)
        if route.timeout_cap is not None:
            created = state.effective_deadline - timedelta(seconds=state.request.timeout)
            cap = created + timedelta(seconds=route.timeout_cap)
            deadline = await self.store.shorten_deadline(request_id, cap)
            state = state.model_copy(update={"deadline": deadline})
        ref = await self._post(state, route)
        recorded, status, _ = await self.store.mark_posted(request_id, ref)
        log.info("posted", extra={"id": request_id, "channel": ref.channel, "ts": ref.ts,
                                  "route": ref.route, "duplicate": not recorded})
        if not recorded:  # another replica posted it first: keep one message
            await self._quietly(self.slack.delete(ref.channel, ref.ts))
            return
        if status.value != "pending":  # decided while we were posting
            fresh = await self.store.get(request_id)
            await self._quietly(self.slack.update(ref.channel, ref.ts,
                                                  decided_message(fresh, note=ref.note)))

    async def _state(self, fields: dict[str, str], stream: str) -> RequestState | None:
        """The request a stream entry names; None if it is gone (retention ended).

        Raises:
            InvalidRequest: the entry names no request, or the stored one is malformed.
        """
        request_id = fields.get("id")
        if not request_id:
            raise InvalidRequest(f"{stream} entry has no 'id' field: {sorted(fields)}")
        try:
            return await self.store.get(request_id)
        except RequestNotFound:
            log.warning("request is gone (retention ended)",
                        extra={"id": request_id, "stream": stream})
            return None

    async def _post(self, state: RequestState, route: ResolvedRoute) -> MessageRef:
        note = route.note
        channel = route.channel
        try:
            posted_in, ts = await self.slack.post(channel, approval_message(state, note=note))
        except SlackError as exc:
            fallback = self.routes.defaults.channel or self.default_channel
            if exc.error not in FALLBACK_ERRORS or not fallback or fallback == channel:
                await self._record_error(state, f"posting to {channel} failed: {exc.error}")
                raise Retry(f"chat.postMessage: {exc.error}") from None
            note = (f"Could not post in {channel} ({exc.error}); posted in the default channel "
                    "instead. Invite the bot there or fix the route.")
            log.error("route channel unusable; posting to the default channel",  # noqa: TRY400
                      extra={"id": state.request.id, "channel": channel, "error": exc.error})
            await self._record_error(state, note)
            try:
                posted_in, ts = await self.slack.post(fallback, approval_message(state, note=note))
            except SlackError as again:
                await self._record_error(state, f"posting to {fallback} failed: {again.error}")
                raise Retry(f"chat.postMessage: {again.error}") from None
        return MessageRef(channel=posted_in, ts=ts, note=note, route=route.name,
                          approvers=route.approvers,
                          reject_reason_required=route.reject_reason_required)

    async def _record_error(self, state: RequestState, what: str) -> None:
        await self.store.audit(AuditEvent(event="error", request_id=state.request.id,
                                          actor="bot", reason=what))

    async def gave_up(self, fields: dict[str, str]) -> None:
        """A request could not be posted after every retry: end it, so no agent waits in vain.

        The waiting agent gets ``cancelled`` with the reason at once, instead of ``expired``
        at its deadline.
        """
        request_id = fields.get("id")
        if not request_id:
            return
        reason = f"could not be posted to Slack: {fields.get('error', 'unknown error')}"[:1000]
        try:
            await self.store.decide(request_id, Status.CANCELLED, reason=reason, actor="bot")
        except (AlreadyDecided, RequestNotFound, InvalidRequest):
            return
        log.error("request cancelled: it could not be posted", extra={"id": request_id})

    async def show_outcome(self, fields: dict[str, str]) -> None:
        """Handle one outcomes entry: replace the request's message with its decision.

        Raises:
            Retry: Slack failed for now.
        """
        state = await self._state(fields, "outcome")
        if state is None:
            return
        request_id = state.request.id
        if state.message is None or state.decision is None:
            return  # not posted yet: the relay shows the decision when it posts
        try:
            await self.slack.update(state.message.channel, state.message.ts,
                                    decided_message(state, note=state.message.note))
        except SlackError as exc:
            if exc.error in ("message_not_found", "cant_update_message", "channel_not_found"):
                log.warning("decided message cannot be updated",
                            extra={"id": request_id, "error": exc.error})
                return
            raise Retry(f"chat.update: {exc.error}") from None

    @staticmethod
    async def _quietly(call: Awaitable[None]) -> None:
        try:
            await call
        except SlackError:
            log.warning("best-effort Slack call failed", exc_info=True)
