"""Bolt listeners for a request's buttons, and :func:`register` for every listener.

Each listener is a thin adapter: it acks first (within Slack's 3 seconds), reads the payload
(:mod:`hitl_slack.slack.payloads`), calls the decision core (:mod:`hitl_slack.decisions`) and
tells the person its answer. Who may decide and what a decision needs are the core's; the
message update that follows a decision is the relay's, from the outcomes stream, so a click,
an expiry and a cancellation all show in Slack the same way.

What a listener needs (:class:`~hitl_slack.slack.app.Deps`) arrives as its ``hitl`` argument:
:func:`register` adds a middleware that puts it in ``context["hitl"]``, and Bolt injects
context entries into listeners by name. The request a payload names is bound to every log
line of its listener (``request_id``).

A click carries the digest of the arguments its message showed (``Click.seen``), and a modal
carries it back in its metadata: a vote is only for those. Whether an approval needs a typed
confirmation is read from the request's stored policy (:mod:`hitl_slack.slack.confirming`),
never from the payload: Approve then opens the modal asking for the value, and the edit modal
asks for it too.

No listener fails silently after its ack: the work after it runs inside
:func:`hitl_slack.slack.guard.guarded`, which tells the person and logs one line. The modals'
submissions are :mod:`hitl_slack.slack.submissions` (they read what they need before acking,
and answer a failure by replacing the modal with a notice); what a person is told is
:mod:`hitl_slack.slack.telling`; listings are :mod:`hitl_slack.slack.listings`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.models.views import View

from hitl_slack.decisions import (
    Permitted,
)
from hitl_slack.errors import SlackError
from hitl_slack.logs import get_logger
from hitl_slack.models import ApprovalRequest
from hitl_slack.slack import (
    blocks,
    confirming,
    editing,
    listings,
    payloads,
    question,
    views,
)
from hitl_slack.slack import kinds as faces
from hitl_slack.slack.guard import RejectMalformed, Tell, guarded, teller
from hitl_slack.slack.payloads import BadPayload, Click
from hitl_slack.slack.submissions import (
    answer_submitted,
    confirm_submitted,
    edit_submitted,
    reject_submitted,
    respond_submitted,
    unknown_view,
)
from hitl_slack.slack.telling import UNHANDLED, about, existing, said, tell_answer

if TYPE_CHECKING:
    from hitl_slack.slack.app import Deps

__all__ = ["DEPS_KEY", "existing", "register", "said"]

log = get_logger(__name__)

#: The Bolt context entry (and so the listener argument) that holds the listeners' Deps.
DEPS_KEY = "hitl"
#: views.open errors that mean the click's 3-second trigger is spent: the person clicks again.
_TRIGGER_ERRORS = frozenset({"expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"})

# -- buttons on a request's message -------------------------------------------------------------


async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """Approve: decides at once (a vote, when several must approve), for the arguments the
    message showed; when the stored policy wants the value typed, opens the modal asking for
    it instead (whatever the click says)."""
    await ack()
    tell = teller(hitl.slack, body, respond)
    with about(body):
        async with guarded("click", body, tell):
            click = payloads.click(body)
            state = await hitl.decisions.read(click.request_id)
            if confirming.required(state):
                await _open_checked(hitl, click, tell, "Approve", _confirm_form, approving=True)
                return
            answer = await hitl.decisions.approve(click.request_id, click.user, seen=click.seen)
            await tell_answer(tell, answer)


def _meta(click: Click, seen: str | None) -> str:
    return payloads.metadata(click.request_id, click.channel, seen=seen)


def _confirm_form(allowed: Permitted, click: Click) -> View:
    # The votes are for the arguments the message showed; an old message's, for today's.
    seen = click.seen or allowed.state.args_digest
    return confirming.confirm_modal(allowed.state, private_metadata=_meta(click, seen))


def _reject_form(allowed: Permitted, click: Click) -> View:
    return views.reject_modal(
        allowed.state.request,
        reason_required=allowed.policy.reject_reason_required,
        private_metadata=_meta(click, click.seen),
    )


def _edit_form(allowed: Permitted, click: Click) -> View | str:
    state = allowed.state
    if not getattr(state.request, "editable", True):  # a forged or stale Edit
        return "This request cannot be edited, so nothing was decided: approve or reject it."
    # The form shows the arguments as they stand: its submission is checked against them.
    request, meta = state.proposed_request, _meta(click, state.args_digest)
    if confirming.required(state):
        assert isinstance(request, ApprovalRequest)
        typed = [confirming.typed_input(request)]
        return editing.edit_modal(request, private_metadata=meta, extra=typed)
    return views.edit_modal(request, private_metadata=meta)


async def reject(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """Reject: opens the modal asking for the reason."""
    await ack()
    with about(body):
        await _open_form(hitl, body, respond, "Reject", _reject_form)


async def edit(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """Edit: opens the modal with one input per argument (an edit approves: the person the
    agent acts for is refused, as for Approve)."""
    await ack()
    with about(body):
        await _open_form(hitl, body, respond, "Edit", _edit_form, approving=True)


_Build = Callable[[Permitted, Click], View | str]


async def _open_form(
    hitl: Deps,
    body: dict[str, Any],
    respond: AsyncRespond,
    button: str,
    build: _Build,
    *,
    approving: bool = False,
) -> None:
    """After the ack of a button that opens a modal: check the clicker, then open it."""
    tell = teller(hitl.slack, body, respond)
    async with guarded("click", body, tell):
        click = payloads.click(body)
        await _open_checked(hitl, click, tell, button, build, approving=approving)


async def _open_checked(
    hitl: Deps, click: Click, tell: Tell, button: str, build: _Build, *, approving: bool
) -> None:
    """Open ``build``'s modal if the clicker may decide (approve, with ``approving``)."""
    allowed = await hitl.decisions.check(click.request_id, click.user, approving=approving)
    if not isinstance(allowed, Permitted):
        await tell(said(allowed))
        return
    view = build(allowed, click)
    if isinstance(view, str):  # no form for this request: why not
        await tell(view)
        return
    await _open(hitl, click, button, tell, view)


async def _open(hitl: Deps, click: Click, button: str, tell: Tell, view: View) -> None:
    if click.trigger_id is None:
        raise BadPayload("the payload has no trigger_id")
    try:
        await hitl.slack.open_view(click.trigger_id, view)
    except SlackError as exc:
        if exc.error not in _TRIGGER_ERRORS:
            raise
        # Slack's 3 seconds passed (Slack slow, or the bot busy): nothing was decided.
        log.info("modal_trigger_expired", user=click.user, error=exc.error)
        await tell(
            f"The {button} form could not be opened in time, so nothing was "
            f"decided. Click {button} again."
        )


def _respond_form(allowed: Permitted, click: Click) -> View:
    return views.respond_modal(allowed.state.request, private_metadata=_meta(click, click.seen))


async def respond_clicked(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """Respond (an approval that offers it): opens the modal for the text."""
    await ack()
    with about(body):
        await _open_form(hitl, body, respond, "Respond", _respond_form)


def _question_form(allowed: Permitted, click: Click) -> View:
    request = allowed.state.request
    return faces.of(request).modal(request, private_metadata=_meta(click, None))


async def answer(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """A question's Answer: opens the answer modal (text, options or its form)."""
    await ack()
    with about(body):
        await _open_form(hitl, body, respond, "Answer", _question_form)


async def option(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """One of a question's option buttons: answers with that option at once.

    The option is read from the stored question by the button's index, never from the
    button's text.
    """
    await ack()
    tell = teller(hitl.slack, body, respond)
    with about(body):
        async with guarded("click", body, tell):
            click = payloads.click(body)
            found = question.OPTION_ACTION_RE.match(str(body["actions"][0].get("action_id")))
            state = await hitl.decisions.read(click.request_id)
            options = getattr(state.request, "options", ())
            index = int(found.group(1)) if found else len(options)
            value = options[index].value if index < len(options) else None
            await tell_answer(
                tell, await hitl.decisions.answer(click.request_id, click.user, value)
            )


async def unknown_action(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """A button no listener handles (e.g. on a message an older version posted): say so.

    Without it Bolt answers 404 and Slack shows the person an error.
    """
    await ack()
    tell = teller(hitl.slack, body, respond)
    async with guarded("click", body, tell):
        log.warning("unknown_action", action_id=body["actions"][0]["action_id"])
        await tell(UNHANDLED.format(what="button"))


async def on_error(error: Exception, body: dict[str, Any]) -> None:
    """Bolt's error handler, reached only by failures before a listener runs (Bolt's own
    parsing, middleware): one line."""
    kind = body.get("type") if isinstance(body, dict) else None
    log.error("bolt_error", exc_info=error, type=kind)


# -- registration ------------------------------------------------------------------------------


class _Provide(AsyncMiddleware):
    """Put the listeners' :class:`~hitl_slack.slack.app.Deps` in ``context["hitl"]``.

    A class, like :class:`~hitl_slack.slack.guard.RejectMalformed`: Bolt builds a function
    middleware's arguments from the payload.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        req.context[DEPS_KEY] = self.deps
        return await next()


def register(app: AsyncApp, deps: Deps) -> None:
    """Register every listener on ``app``, each given ``deps`` as its ``hitl`` argument."""
    app.use(RejectMalformed())
    app.use(_Provide(deps))
    app.action(blocks.ACTION_APPROVE)(approve)
    app.action(blocks.ACTION_REJECT)(reject)
    app.action(blocks.ACTION_EDIT)(edit)
    app.view(views.VIEW_REJECT)(reject_submitted)
    app.view(views.VIEW_EDIT)(edit_submitted)
    app.view(confirming.VIEW_CONFIRM)(confirm_submitted)
    app.action(blocks.ACTION_RESPOND)(respond_clicked)
    app.view(views.VIEW_RESPOND)(respond_submitted)
    app.action(question.ACTION_ANSWER)(answer)
    app.action(question.OPTION_ACTION_RE)(option)
    app.view(question.VIEW_ANSWER)(answer_submitted)
    listings.register(app)
    # Last, so they only get what no listener above matched.
    app.action(re.compile(".*"))(unknown_action)
    app.view(re.compile(".*"))(unknown_view)
    app.error(on_error)
