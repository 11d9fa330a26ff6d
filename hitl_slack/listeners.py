"""Bolt listeners: buttons, modals, ``/hitl`` and the App Home tab.

Every listener acks first (within Slack's 3 seconds); modals open right after a fast Redis
read. Decisions go through the store's atomic step; the message update that follows is done by
the relay from the outcomes stream, so a click, an expiry and a cancellation all show in Slack
the same way.

No listener fails silently after its ack. In Bolt's asyncio runner an exception raised after
``ack()`` resets the response, and Slack sees a 404 after 3 seconds with nothing said to the
person; an ``@app.error`` handler cannot prevent it. So each listener's work after the ack runs
inside :meth:`Listeners._guarded`, which turns any failure into a message to the person
(ephemeral, the listing's reply, or the App Home) and one log line. Modal submissions do their
reads before acking and answer a failure by replacing the modal with a notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from hitl_slack import blocks, listing, mrkdwn, payloads, views
from hitl_slack.errors import (
    AlreadyDecided,
    InvalidRequest,
    RequestNotFound,
    SlackError,
    StoreUnavailable,
)
from hitl_slack.models import MAX_PAYLOAD_BYTES, AuditEvent, Decision, RequestState, Status
from hitl_slack.models import canonical_json as _canonical_json
from hitl_slack.payloads import BadPayload, Click

if TYPE_CHECKING:
    from hitl_slack.app import Bot, GroupCache

__all__ = ["Listeners", "RejectMalformed", "failure_text", "register"]

log = logging.getLogger(__name__)

Tell = Callable[[str], Awaitable[None]]

_VERBS = {Status.APPROVED: "approved", Status.REJECTED: "rejected",
          Status.EXPIRED: "expired", Status.CANCELLED: "cancelled"}
#: views.open errors that mean the click's 3-second trigger is spent: the person clicks again.
_TRIGGER_ERRORS = frozenset({"expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"})
_AGAIN = ("Try again in a moment; if it was recorded, you will be told the decision that "
          "stands.")


def existing(decision: Decision) -> str:
    """What a person is told about a decision that already stands."""
    who = ", ".join(mrkdwn.user(u) for u in decision.decided_by)
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    by = f" by {who}" if who else ""  # the clock, the agent or the bot: no person to name
    return f"This request was already {_VERBS[decision.status]}{by} at {when}."


def failure_text(exc: Exception, what: str) -> tuple[str, int]:
    """What to tell the person about a failure, and the level to log it at.

    Args:
        exc: what went wrong after (or instead of) the ack.
        what: the person's action, e.g. ``"click"``, ``"form"``, ``"listing"``.

    Returns:
        ``(mrkdwn text, logging level)``: expected outages log a warning, bugs an error.
    """
    if isinstance(exc, BadPayload):
        return (f"Your {what} could not be read ({mrkdwn.escape(str(exc))}), so nothing was "
                "decided. Use the buttons on the request's message again.", logging.WARNING)
    if isinstance(exc, RequestNotFound):
        return "This request no longer exists (its retention ended).", logging.INFO
    if isinstance(exc, StoreUnavailable):
        return (f"The approval store could not be reached, so your {what} may not have been "
                f"recorded. {_AGAIN}", logging.WARNING)
    if isinstance(exc, SlackError):
        return (f"Slack did not answer ({mrkdwn.escape(exc.error)}), so your {what} may not "
                f"have been handled. {_AGAIN}", logging.WARNING)
    if isinstance(exc, InvalidRequest):
        return ("This request's stored data could not be read, so nothing was decided. Tell "
                "the bot's operator.", logging.ERROR)
    return (f"Something went wrong with your {what}, so it may not have been recorded. "
            f"{_AGAIN} If it keeps failing, tell the bot's operator.", logging.ERROR)


def _log_failure(exc: Exception, what: str, level: int, body: Any) -> None:
    user, channel = payloads.who(body)
    fields = {"what": what, "error": f"{type(exc).__name__}: {exc}", "user": user,
              "channel": channel}
    # One line per failure; the traceback only where it is a bug, or at DEBUG.
    show_trace = level >= logging.ERROR or log.isEnabledFor(logging.DEBUG)
    log.log(level, "listener_failed", extra=fields, exc_info=exc if show_trace else None)


class Listeners:
    """The Bolt listeners, as methods over the :class:`~hitl_slack.app.Bot` they serve."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    # -- telling the person ----------------------------------------------------------------
    def _teller(self, body: Any, respond: AsyncRespond | None) -> Tell:
        user, channel = payloads.who(body)

        async def tell(text: str) -> None:
            if channel and user:
                await self.bot.slack.ephemeral(channel, user, text)
            elif respond is not None and isinstance(body, dict) and body.get("response_url"):
                await respond(text=text, response_type="ephemeral", replace_original=False)
        return tell

    @asynccontextmanager
    async def _guarded(self, what: str, body: Any, tell: Tell) -> AsyncIterator[None]:
        """Run the work after an ack: any failure is told to the person and logged once."""
        try:
            yield
        except Exception as exc:  # after ack(), an escaping error becomes a 404 to Slack
            text, level = failure_text(exc, what)
            _log_failure(exc, what, level, body)
            try:
                await tell(text)
            except Exception:  # already logged above: telling is best effort
                log.debug("telling the person failed", exc_info=True)

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
            await tell("Could not check your user groups with Slack just now, so nothing was "
                       "decided. Try again in a moment.")
            return None
        if not permitted:
            await self.bot.store.audit(AuditEvent(
                event="unauthorized", request_id=request_id, actor=f"slack:{user}",
                reason="not an approver for this request"))
            log.warning("unauthorized_decision_attempt", extra={"id": request_id, "user": user})
            await tell("You are not an approver for this request, so nothing was decided. Ask "
                       "one of its approvers.")
            return None
        return state

    async def _decide(self, request_id: str, user: str, tell: Tell, status: Status,
                      **kw: Any) -> None:
        if await self._check(request_id, user, tell) is None:
            return
        try:
            decision = await self.bot.store.decide(request_id, status, decided_by=(user,), **kw)
        except AlreadyDecided as exc:
            await tell(existing(exc.decision))
            return
        log.info("decision_recorded", extra={"id": request_id, "status": decision.status.value,
                                             "user": user, "edited": decision.edited})

    async def approve(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Approve: decides at once."""
        await ack()
        tell = self._teller(body, respond)
        async with self._guarded("click", body, tell):
            click = payloads.click(body)
            await self._decide(click.request_id, click.user, tell, Status.APPROVED)

    async def reject(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Reject: opens the modal asking for the reason."""
        await ack()
        tell = self._teller(body, respond)
        async with self._guarded("click", body, tell):
            click = payloads.click(body)
            state = await self._check(click.request_id, click.user, tell)
            if state is not None:
                await self._open(click, "Reject", tell, views.reject_modal(
                    state.request, reason_required=self.bot.reason_required(state),
                    private_metadata=payloads.metadata(click.request_id, click.channel)))

    async def edit(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Edit: opens the modal with one input per argument."""
        await ack()
        tell = self._teller(body, respond)
        async with self._guarded("click", body, tell):
            click = payloads.click(body)
            state = await self._check(click.request_id, click.user, tell)
            if state is not None:
                await self._open(click, "Edit", tell, views.edit_modal(
                    state.request,
                    private_metadata=payloads.metadata(click.request_id, click.channel)))

    async def _open(self, click: Click, button: str, tell: Tell, view: Any) -> None:
        if click.trigger_id is None:
            raise BadPayload("the payload has no trigger_id")
        try:
            await self.bot.slack.open_view(click.trigger_id, view)
        except SlackError as exc:
            if exc.error not in _TRIGGER_ERRORS:
                raise
            # Slack's 3 seconds passed (Slack slow, or the bot busy): nothing was decided.
            log.info("modal_trigger_expired", extra={"id": click.request_id,
                                                     "user": click.user, "error": exc.error})
            await tell(f"The {button} form could not be opened in time, so nothing was "
                       f"decided. Click {button} again.")

    # -- modal submissions -----------------------------------------------------------------
    async def _refuse_form(self, ack: AsyncAck, body: Any, exc: Exception) -> None:
        """Answer a submission that cannot be read: the modal says why, nothing is decided."""
        text, level = failure_text(exc, "form")
        _log_failure(exc, "form", level, body)
        await ack(response_action="update", view=views.notice_modal("Not recorded", text))

    async def _read_form(self, ack: AsyncAck,
                         body: dict[str, Any]) -> tuple[payloads.Submission, RequestState] | None:
        """The submission and its request, or None once the modal has said why not."""
        try:
            form = payloads.submission(body)
            state = await self.bot.store.get(form.request_id)
        except Exception as exc:  # before the ack: the modal itself can say what went wrong
            await self._refuse_form(ack, body, exc)
            return None
        if state.decision is not None:
            await ack(response_action="update",
                      view=views.notice_modal("Already decided", existing(state.decision)))
            return None
        return form, state

    async def reject_submitted(self, ack: AsyncAck, body: dict[str, Any],
                               respond: AsyncRespond) -> None:
        """The reject modal's submit: reject with the reason (asked for inline if required)."""
        read = await self._read_form(ack, body)
        if read is None:
            return
        form, state = read
        value = form.values.get(views.REASON_BLOCK, {}).get(views.REASON_ACTION, {}).get("value")
        reason = (value or "").strip()[:3000] or None
        if self.bot.reason_required(state) and reason is None:
            await ack(response_action="errors",
                      errors={views.REASON_BLOCK: "A reason is required for this request."})
            return
        await ack()
        tell = self._teller(body, respond)
        async with self._guarded("form", body, tell):
            await self._decide(form.request_id, form.user, tell, Status.REJECTED, reason=reason)

    async def edit_submitted(self, ack: AsyncAck, body: dict[str, Any],
                             respond: AsyncRespond) -> None:
        """The edit modal's submit: approve with the edited arguments (errors shown inline)."""
        read = await self._read_form(ack, body)
        if read is None:
            return
        form, state = read
        payload, errors = views.parse_edit_submission(state.request, form.values)
        if not errors and not _fits(payload):
            first = next(iter(form.values), None)
            errors = {first: f"The arguments would exceed {MAX_PAYLOAD_BYTES} bytes."} \
                if first else {}
            if not errors:
                await self._refuse_form(ack, body, BadPayload("the edited arguments are too big"))
                return
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        tell = self._teller(body, respond)
        async with self._guarded("form", body, tell):
            await self._decide(form.request_id, form.user, tell, Status.APPROVED,
                               payload=payload)

    # -- listings --------------------------------------------------------------------------
    async def command(self, ack: AsyncAck, command: dict[str, Any],
                      respond: AsyncRespond) -> None:
        """``/hitl``: ``help`` answers in the ack; ``pending`` acks, then lists."""
        words = str(command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub != "pending":
            prefix = "" if sub == "help" else f"Unknown command `{mrkdwn.escape(sub[:50])}`.\n"
            await ack(text=prefix + views.HELP_TEXT)
            return
        await ack()  # the listing reads Redis and Slack: answer through response_url
        async with self._guarded("listing", command, _responder(respond)):
            user, _ = payloads.who(command)
            if user is None:
                raise BadPayload("the command names no valid user (user_id)")
            page = await self.page(user, 0)
            await respond(text=views.headline(page), blocks=views.pending_blocks(page),
                          response_type="ephemeral")

    async def pending_page(self, ack: AsyncAck, body: dict[str, Any],
                           respond: AsyncRespond) -> None:
        """"Next page" under ``/hitl pending``: the listing's reply is replaced."""
        await ack()
        async with self._guarded("listing", body, _responder(respond)):
            click = payloads.page_click(body)
            page = await self.page(click.user, click.offset)
            await respond(text=views.headline(page), blocks=views.pending_blocks(page),
                          replace_original=True)

    async def home_page(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """"Next page" on the App Home tab."""
        await ack()
        user, _ = payloads.who(body)
        async with self._guarded("listing", body, self._home_notice(user)):
            click = payloads.page_click(body)
            await self._publish_home(click.user, click.offset)

    async def home(self, event: dict[str, Any]) -> None:
        """``app_home_opened`` (acked by Bolt before this runs): publish the first page."""
        if event.get("tab", "home") != "home":
            return
        user, _ = payloads.who(event)
        async with self._guarded("listing", event, self._home_notice(user)):
            if user is None:
                raise BadPayload("the event names no valid user")
            await self._publish_home(user, 0)

    def _home_notice(self, user: str | None) -> Tell:
        async def tell(text: str) -> None:
            if user is not None:
                await self.bot.slack.publish_home(user, views.home_view(
                    views.Page([]), notice=text))
        return tell

    async def _publish_home(self, user: str, offset: int) -> None:
        page = await self.page(user, offset)
        await self.bot.slack.publish_home(user, views.home_view(page))

    async def page(self, user: str, offset: int) -> views.Page:
        """One page of the pending requests ``user`` may decide.

        The approver filter runs on everything the scan read, then the page is cut, so an
        approver whose requests come after many others' still sees them and the true count.
        """
        scan = await self.bot.store.run(listing.scan(self.bot.store.config))
        groups: GroupCache = {}
        mine = [item for item in scan.items if await self._may(item.state, user, groups)]
        if offset >= len(mine):
            offset = 0  # a stale "next page" after requests were decided: start again
        items = await self._linked(mine[offset:offset + views.PAGE_SIZE])
        return views.Page(items, offset=offset, visible=len(mine), read=scan.read,
                          total=scan.total)

    async def _may(self, state: RequestState, user: str, groups: GroupCache) -> bool:
        try:
            return await self.bot.allowed(state, user, groups)
        except SlackError:
            return False  # a group Slack could not list hides its requests, nothing more

    async def _linked(self, items: list[listing.Listed]) -> list[listing.Listed]:
        """Fill in the missing permalinks of one page (one Slack call each, then cached)."""
        missing = [i for i, item in enumerate(items)
                   if item.permalink is None and item.state.message is not None]
        found = await asyncio.gather(*(self._permalink(items[i].state) for i in missing))
        out = list(items)
        for i, link in zip(missing, found, strict=True):
            out[i] = listing.Listed(items[i].state, link)
        return out

    async def _permalink(self, state: RequestState) -> str | None:
        message = state.message
        assert message is not None
        try:
            link = await self.bot.slack.permalink(message.channel, message.ts)
            if link:
                await self.bot.store.run(listing.cache_permalink(
                    self.bot.store.config, state.request.id, link))
        except (SlackError, StoreUnavailable) as exc:  # shown without a link this time
            log.debug("permalink_unavailable", extra={"id": state.request.id, "error": str(exc)})
            return None
        return link or None


def _fits(payload: dict[str, Any]) -> bool:
    try:
        return len(_canonical_json(payload).encode()) <= MAX_PAYLOAD_BYTES
    except (ValueError, RecursionError):
        return False


def _responder(respond: AsyncRespond) -> Tell:
    async def tell(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    return tell


class RejectMalformed(AsyncMiddleware):
    """Answer 400 to a signed interaction whose shape Bolt cannot route (see
    :func:`hitl_slack.payloads.malformed`); it runs after Bolt's signature check.

    A class, not a function: Bolt builds a function middleware's arguments from the payload
    (``actions[0]`` and the like), which is exactly what fails on such a body.
    """

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        problem = payloads.malformed(req.body)
        if problem is None:
            return await next()
        log.warning("payload_malformed", extra={"problem": problem})
        return BoltResponse(status=400, body=f"malformed payload: {problem}")


def register(app: AsyncApp, bot: Bot) -> None:
    """Register every listener on ``app``."""
    app.use(RejectMalformed())
    listeners = Listeners(bot)
    app.action(blocks.ACTION_APPROVE)(listeners.approve)
    app.action(blocks.ACTION_REJECT)(listeners.reject)
    app.action(blocks.ACTION_EDIT)(listeners.edit)
    app.action(views.ACTION_PENDING_PAGE)(listeners.pending_page)
    app.action(views.ACTION_HOME_PAGE)(listeners.home_page)
    app.view(views.VIEW_REJECT)(listeners.reject_submitted)
    app.view(views.VIEW_EDIT)(listeners.edit_submitted)
    app.command("/hitl")(listeners.command)
    app.event("app_home_opened")(listeners.home)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Reached only by failures before a listener runs (Bolt's own parsing, middleware).
        log.error("bolt_error", exc_info=error,
                  extra={"type": body.get("type") if isinstance(body, dict) else None})
