"""Bolt listeners for a request's buttons and modals, and :func:`register` for them all.

Every listener acks first (within Slack's 3 seconds); modals open right after a fast Redis
read. Decisions go through the store's atomic step; the message update that follows is done by
the relay from the outcomes stream, so a click, an expiry and a cancellation all show in Slack
the same way.

No listener fails silently after its ack: the work after it runs inside
:func:`hitl_slack.slack.guard.guarded`, which tells the person and logs one line. Modal submissions
read what they need before acking, and answer a failure by replacing the modal with a notice.
Listings are in :mod:`hitl_slack.slack.listings`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from hitl_slack.errors import AlreadyDecided, SlackError
from hitl_slack.models import MAX_PAYLOAD_BYTES, AuditEvent, Decision, RequestState, Status
from hitl_slack.models import canonical_json as _canonical_json
from hitl_slack.slack import blocks, mrkdwn, payloads, views
from hitl_slack.slack.guard import RejectMalformed, Tell, failure_text, guarded, log_failure, teller
from hitl_slack.slack.listings import Listings
from hitl_slack.slack.payloads import BadPayload, Click

if TYPE_CHECKING:
    from hitl_slack.slack.app import Bot

__all__ = ["Listeners", "existing", "register", "unknown_view"]

log = logging.getLogger(__name__)

_VERBS = {
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
}
#: views.open errors that mean the click's 3-second trigger is spent: the person clicks again.
_TRIGGER_ERRORS = frozenset({"expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"})
_UNHANDLED = (
    "This {what} is not handled by this version of the bot, so nothing was decided. "
    "Use the buttons on the request's current message."
)


def existing(decision: Decision) -> str:
    """What a person is told about a decision that already stands."""
    who = ", ".join(mrkdwn.user(u) for u in decision.decided_by)
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    by = f" by {who}" if who else ""  # the clock, the agent or the bot: no person to name
    return f"This request was already {_VERBS[decision.status]}{by} at {when}."


class Listeners:
    """The Bolt listeners, as methods over the :class:`~hitl_slack.slack.app.Bot` they serve."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    # -- buttons on a request's message ----------------------------------------------------
    async def _check(self, request_id: str, user: str, tell: Tell) -> RequestState | None:
        """The request if this user may decide it now; otherwise tell them why not."""
        state = await self.bot.store.get(request_id)
        if state.decision is not None:
            await tell(existing(state.decision))
            return None
        try:
            permitted = await self.bot.allowed(state, user)
        except SlackError:
            await tell(
                "Could not check your user groups with Slack just now, so nothing was "
                "decided. Try again in a moment."
            )
            return None
        if not permitted:
            await self.bot.store.audit(
                AuditEvent(
                    event="unauthorized",
                    request_id=request_id,
                    actor=f"slack:{user}",
                    reason="not an approver for this request",
                )
            )
            log.warning("unauthorized_decision_attempt", extra={"id": request_id, "user": user})
            await tell(
                "You are not an approver for this request, so nothing was decided. Ask "
                "one of its approvers."
            )
            return None
        return state

    async def _decide(
        self, request_id: str, user: str, tell: Tell, status: Status, **kw: Any
    ) -> None:
        if await self._check(request_id, user, tell) is None:
            return
        try:
            decision = await self.bot.store.decide(request_id, status, decided_by=(user,), **kw)
        except AlreadyDecided as exc:
            await tell(existing(exc.decision))
            return
        log.info(
            "decision_recorded",
            extra={
                "id": request_id,
                "status": decision.status.value,
                "user": user,
                "edited": decision.edited,
            },
        )

    async def approve(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Approve: decides at once."""
        await ack()
        tell = teller(self.bot.slack, body, respond)
        async with guarded("click", body, tell):
            click = payloads.click(body)
            await self._decide(click.request_id, click.user, tell, Status.APPROVED)

    async def reject(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Reject: opens the modal asking for the reason."""
        await ack()
        await self._modal(
            body,
            respond,
            "Reject",
            lambda state, meta: views.reject_modal(
                state.request,
                reason_required=self.bot.reason_required(state),
                private_metadata=meta,
            ),
        )

    async def edit(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Edit: opens the modal with one input per argument."""
        await ack()
        await self._modal(
            body,
            respond,
            "Edit",
            lambda state, meta: views.edit_modal(state.request, private_metadata=meta),
        )

    async def _modal(
        self,
        body: dict[str, Any],
        respond: AsyncRespond,
        button: str,
        build: Callable[[RequestState, str], Any],
    ) -> None:
        """After the ack of a button that opens a modal: check the clicker, then open it."""
        tell = teller(self.bot.slack, body, respond)
        async with guarded("click", body, tell):
            click = payloads.click(body)
            state = await self._check(click.request_id, click.user, tell)
            if state is not None:
                meta = payloads.metadata(click.request_id, click.channel)
                await self._open(click, button, tell, build(state, meta))

    async def _open(self, click: Click, button: str, tell: Tell, view: Any) -> None:
        if click.trigger_id is None:
            raise BadPayload("the payload has no trigger_id")
        try:
            await self.bot.slack.open_view(click.trigger_id, view)
        except SlackError as exc:
            if exc.error not in _TRIGGER_ERRORS:
                raise
            # Slack's 3 seconds passed (Slack slow, or the bot busy): nothing was decided.
            log.info(
                "modal_trigger_expired",
                extra={"id": click.request_id, "user": click.user, "error": exc.error},
            )
            await tell(
                f"The {button} form could not be opened in time, so nothing was "
                f"decided. Click {button} again."
            )

    async def unknown_action(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """A button no listener handles (e.g. on a message an older version posted): say so.

        Without it Bolt answers 404 and Slack shows the person an error.
        """
        await ack()
        tell = teller(self.bot.slack, body, respond)
        async with guarded("click", body, tell):
            log.warning("unknown_action", extra={"action_id": body["actions"][0]["action_id"]})
            await tell(_UNHANDLED.format(what="button"))

    # -- modal submissions -----------------------------------------------------------------
    async def _refuse_form(self, ack: AsyncAck, body: Any, exc: Exception) -> None:
        """Answer a submission that cannot be read: the modal says why, nothing is decided."""
        text, level = failure_text(exc, "form")
        log_failure(exc, "form", level, body)
        await ack(response_action="update", view=views.notice_modal("Not recorded", text))

    async def _read_form(
        self, ack: AsyncAck, body: dict[str, Any]
    ) -> tuple[payloads.Submission, RequestState] | None:
        """The submission and its request, or None once the modal has said why not."""
        try:
            form = payloads.submission(body)
            state = await self.bot.store.get(form.request_id)
        except Exception as exc:  # before the ack: the modal itself can say what went wrong
            await self._refuse_form(ack, body, exc)
            return None
        if state.decision is not None:
            await ack(
                response_action="update",
                view=views.notice_modal("Already decided", existing(state.decision)),
            )
            return None
        return form, state

    async def reject_submitted(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """The reject modal's submit: reject with the reason (asked for inline if required)."""
        read = await self._read_form(ack, body)
        if read is None:
            return
        form, state = read
        value = form.values.get(views.REASON_BLOCK, {}).get(views.REASON_ACTION, {}).get("value")
        reason = (value or "").strip()[:3000] or None
        if self.bot.reason_required(state) and reason is None:
            await ack(
                response_action="errors",
                errors={views.REASON_BLOCK: "A reason is required for this request."},
            )
            return
        await ack()
        tell = teller(self.bot.slack, body, respond)
        async with guarded("form", body, tell):
            await self._decide(form.request_id, form.user, tell, Status.REJECTED, reason=reason)

    async def edit_submitted(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """The edit modal's submit: approve with the edited arguments (errors shown inline)."""
        read = await self._read_form(ack, body)
        if read is None:
            return
        form, state = read
        payload, errors = views.parse_edit_submission(state.request, form.values)
        if not errors and not _fits(payload):
            first = next(iter(form.values), None)
            if first is None:  # no input to show the error under
                await self._refuse_form(ack, body, BadPayload("the edited arguments are too big"))
                return
            errors = {first: f"The arguments would exceed {MAX_PAYLOAD_BYTES} bytes."}
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        tell = teller(self.bot.slack, body, respond)
        async with guarded("form", body, tell):
            await self._decide(form.request_id, form.user, tell, Status.APPROVED, payload=payload)


def _fits(payload: dict[str, Any]) -> bool:
    try:
        return len(_canonical_json(payload).encode()) <= MAX_PAYLOAD_BYTES
    except (ValueError, RecursionError):
        return False


async def unknown_view(ack: AsyncAck, view: dict[str, Any]) -> None:
    """A submitted modal no listener handles: the modal says so instead of an error."""
    log.warning("unknown_view", extra={"callback_id": view.get("callback_id")})
    await ack(
        response_action="update",
        view=views.notice_modal("Not recorded", _UNHANDLED.format(what="form")),
    )


def register(app: AsyncApp, bot: Bot) -> None:
    """Register every listener on ``app``."""
    app.use(RejectMalformed())
    listeners, listings = Listeners(bot), Listings(bot)
    app.action(blocks.ACTION_APPROVE)(listeners.approve)
    app.action(blocks.ACTION_REJECT)(listeners.reject)
    app.action(blocks.ACTION_EDIT)(listeners.edit)
    app.view(views.VIEW_REJECT)(listeners.reject_submitted)
    app.view(views.VIEW_EDIT)(listeners.edit_submitted)
    app.action(views.ACTION_PENDING_PAGE)(listings.pending_page)
    app.action(views.ACTION_HOME_PAGE)(listings.home_page)
    app.command("/hitl")(listings.command)
    app.event("app_home_opened")(listings.home)

    # Last, so they only get what no listener above matched.
    app.action(re.compile(".*"))(listeners.unknown_action)
    app.view(re.compile(".*"))(unknown_view)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Reached only by failures before a listener runs (Bolt's own parsing, middleware).
        log.error(
            "bolt_error",
            exc_info=error,
            extra={"type": body.get("type") if isinstance(body, dict) else None},
        )
