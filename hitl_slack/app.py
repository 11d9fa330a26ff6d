"""Bolt listeners: buttons, modals, ``/hitl`` and the App Home tab.

Every listener acks first (within Slack's 3 seconds); modals open right after a fast Redis
read, before any slow work. Decisions go through the store's atomic step; the message update
that follows is done by the relay from the outcomes stream, so a click, an expiry and a
cancellation all show in Slack the same way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack import blocks, mrkdwn, views
from hitl_slack.errors import AlreadyDecided, RequestNotFound, SlackError, StoreUnavailable
from hitl_slack.models import MAX_PAYLOAD_BYTES, AuditEvent, RequestState, Status, canonical_json
from hitl_slack.routing import RoutesConfig, is_usergroup_id, resolve
from hitl_slack.slack import SlackGateway
from hitl_slack.store import AsyncStore

__all__ = ["Bot", "build_app"]

log = logging.getLogger(__name__)

_VERBS = {Status.APPROVED: "approved", Status.REJECTED: "rejected",
          Status.EXPIRED: "expired", Status.CANCELLED: "cancelled"}


@dataclass
class Bot:
    """What the listeners need."""

    store: AsyncStore
    slack: SlackGateway
    routes: RoutesConfig

    def approvers(self, state: RequestState) -> tuple[str, ...]:
        """Approvers in force: those recorded when posted, else the current routes'."""
        if state.message is not None:
            return state.message.approvers
        return resolve(self.routes, state.request).approvers

    def reason_required(self, state: RequestState) -> bool:
        """Whether rejecting needs a reason: the policy posted with it, else the routes'."""
        if state.message is not None:
            return state.message.reject_reason_required
        return resolve(self.routes, state.request).reject_reason_required

    async def allowed(self, state: RequestState, user_id: str,
                      groups: dict[str, frozenset[str] | SlackError] | None = None) -> bool:
        """Whether the user may decide (listed, in a listed group, or no list at all).

        Args:
            groups: lookups already made (filled in as it goes): one listing of many requests
                asks Slack about each group once.

        Raises:
            SlackError: a user group could not be read, and no other listing admits the user.
        """
        approvers = self.approvers(state)
        if not approvers or user_id in approvers:
            return True
        failure: SlackError | None = None
        for group in (a for a in approvers if is_usergroup_id(a)):
            members = groups.get(group) if groups is not None else None
            if members is None:
                try:
                    members = await self.slack.group_members(group, retry=False)
                except SlackError as exc:
                    log.warning("user group lookup failed",
                                extra={"group": group, "error": exc.error})
                    members = exc
                if groups is not None:
                    groups[group] = members
            if isinstance(members, SlackError):
                failure = members
            elif user_id in members:
                return True
        if failure is not None:
            raise failure
        return False


def _existing(decision: Any) -> str:
    who = ", ".join(mrkdwn.user(u) for u in decision.decided_by)
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    by = f" by {who}" if who else ""  # the clock, the agent or the bot: no person to name
    return f"This request was already {_VERBS[decision.status]}{by} at {when}."


def _metadata(request_id: str, channel: str | None) -> str:
    return json.dumps({"id": request_id, "channel": channel})


def register(app: AsyncApp, bot: Bot) -> None:
    """Register every listener on ``app``."""

    async def check(request_id: str, user: str, channel: str | None) -> RequestState | None:
        """The request if this user may decide it now; otherwise tell them why not."""
        try:
            state = await bot.store.get(request_id)
        except RequestNotFound:
            await _tell(channel, user, "This request no longer exists (its retention ended).")
            return None
        if state.decision is not None:
            await _tell(channel, user, _existing(state.decision))
            return None
        try:
            permitted = await bot.allowed(state, user)
        except SlackError:
            await _tell(channel, user, "Could not check your user groups with Slack just now, "
                                       "so nothing was decided. Try again in a moment.")
            return None
        if not permitted:
            await bot.store.audit(AuditEvent(event="unauthorized", request_id=request_id,
                                             actor=f"slack:{user}",
                                             reason="not an approver for this request"))
            log.warning("unauthorized decision attempt", extra={"id": request_id, "user": user})
            await _tell(channel, user, "You are not an approver for this request, so nothing "
                                       "was decided. Ask one of its approvers.")
            return None
        return state

    async def _tell(channel: str | None, user: str, text: str) -> None:
        if channel:
            await bot.slack.ephemeral(channel, user, text)

    async def decide(request_id: str, user: str, channel: str | None, status: Status,
                     **kw: Any) -> None:
        if await check(request_id, user, channel) is None:
            return
        try:
            decision = await bot.store.decide(request_id, status, decided_by=(user,), **kw)
        except AlreadyDecided as exc:
            await _tell(channel, user, _existing(exc.decision))
            return
        log.info("decided", extra={"id": request_id, "status": decision.status.value,
                                   "user": user, "edited": decision.edited})

    def where(body: dict[str, Any]) -> tuple[str, str | None, str]:
        action = body["actions"][0]
        channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get(
            "channel_id")
        return str(action["value"]), channel, str(body["user"]["id"])

    @app.action(blocks.ACTION_APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        request_id, channel, user = where(body)
        await decide(request_id, user, channel, Status.APPROVED)

    @app.action(blocks.ACTION_REJECT)
    async def reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        request_id, channel, user = where(body)
        state = await check(request_id, user, channel)
        if state is None:
            return
        await bot.slack.open_view(body["trigger_id"], views.reject_modal(
            state.request, reason_required=bot.reason_required(state),
            private_metadata=_metadata(request_id, channel)))

    @app.action(blocks.ACTION_EDIT)
    async def edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        request_id, channel, user = where(body)
        state = await check(request_id, user, channel)
        if state is not None:
            await bot.slack.open_view(body["trigger_id"], views.edit_modal(
                state.request, private_metadata=_metadata(request_id, channel)))

    @app.view(views.VIEW_REJECT)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        value = view["state"]["values"].get(views.REASON_BLOCK, {}).get(
            views.REASON_ACTION, {}).get("value")
        reason = (value or "").strip() or None
        state = await bot.store.get(meta["id"])
        if bot.reason_required(state) and reason is None:
            await ack(response_action="errors",
                      errors={views.REASON_BLOCK: "A reason is required for this request."})
            return
        await ack()
        await decide(meta["id"], body["user"]["id"], meta.get("channel"), Status.REJECTED,
                     reason=reason)

    @app.view(views.VIEW_EDIT)
    async def edit_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        state = await bot.store.get(meta["id"])
        payload, errors = views.parse_edit_submission(state.request, view["state"]["values"])
        if not errors and len(canonical_json(payload).encode()) > MAX_PAYLOAD_BYTES:
            first = next(iter(view["state"]["values"]), None)
            errors = {first: f"The arguments would exceed {MAX_PAYLOAD_BYTES} bytes."} if first \
                else {}
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await decide(meta["id"], body["user"]["id"], meta.get("channel"), Status.APPROVED,
                     payload=payload)

    @app.command("/hitl")
    async def command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub != "pending":
            prefix = "" if sub == "help" else f"Unknown command `{mrkdwn.escape(sub)}`.\n"
            await ack(text=prefix + views.HELP_TEXT)
            return
        await ack()  # the list may need Slack lookups: answer through response_url
        try:
            states = await visible(command["user_id"])
        except StoreUnavailable:
            await respond(text="The approval store is unreachable right now; try again shortly.")
            return
        await respond(text=f"{len(states)} pending request(s) you can decide",
                      blocks=views.pending_blocks(states))

    @app.event("app_home_opened")
    async def home(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        states = await visible(event["user"])
        await bot.slack.publish_home(event["user"], views.home_view(states))

    async def visible(user: str) -> list[RequestState]:
        """Pending requests this user may decide: a request's summary is not for everyone."""
        groups: dict[str, frozenset[str] | SlackError] = {}
        shown = []
        for state in await bot.store.pending(limit=500):
            try:
                if await bot.allowed(state, user, groups):
                    shown.append(state)
            except SlackError:
                continue
        return shown

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("listener failed", exc_info=error,
                  extra={"type": body.get("type") if isinstance(body, dict) else None})


def build_app(bot: Bot, client: AsyncWebClient, signing_secret: str | None) -> AsyncApp:
    """A fresh Bolt app with every listener registered."""
    app = AsyncApp(client=client, signing_secret=signing_secret or "socket-mode",
                   request_verification_enabled=signing_secret is not None,
                   raise_error_for_unhandled_request=False)
    register(app, bot)
    return app
