"""Bolt listeners for a request's buttons and modals, and :func:`register` for every listener.

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
:func:`hitl_slack.slack.guard.guarded`, which tells the person and logs one line. Modal
submissions read what they need before acking, and answer a failure by replacing the modal
with a notice. Listings are in :mod:`hitl_slack.slack.listings`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.models.views import View

from hitl_slack.decisions import (
    AlreadyDecided,
    Answer,
    Decided,
    Invalid,
    NeedsReason,
    Permitted,
    Refused,
    Voted,
    Why,
    screen_answer,
    screen_edit,
    screen_rejection,
    standing,
)
from hitl_slack.errors import SlackError
from hitl_slack.logs import bound, get_logger
from hitl_slack.models import ApprovalRequest, Decision, RequestBase, RequestState
from hitl_slack.slack import (
    blocks,
    confirming,
    editing,
    listings,
    mrkdwn,
    payloads,
    question,
    views,
)
from hitl_slack.slack import kinds as faces
from hitl_slack.slack.guard import RejectMalformed, Tell, failure_text, guarded, log_failure, teller
from hitl_slack.slack.payloads import BadPayload, Click, Submission

if TYPE_CHECKING:
    from hitl_slack.slack.app import Deps

__all__ = ["DEPS_KEY", "existing", "register", "said"]

log = get_logger(__name__)

#: The Bolt context entry (and so the listener argument) that holds the listeners' Deps.
DEPS_KEY = "hitl"
#: views.open errors that mean the click's 3-second trigger is spent: the person clicks again.
_TRIGGER_ERRORS = frozenset({"expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"})
_UNHANDLED = (
    "This {what} is not handled by this version of the bot, so nothing was decided. "
    "Use the buttons on the request's current message."
)
_REFUSED = {
    Why.NOT_APPROVER: (
        "You are not an approver for this request, so nothing was decided. Ask one of its "
        "approvers."
    ),
    Why.GROUPS_UNAVAILABLE: (
        "Could not check your user groups with Slack just now, so nothing was decided. Try "
        "again in a moment."
    ),
    Why.NOT_POSTED: (
        "This request is not posted yet, so nothing was decided. Try again in a moment."
    ),
    Why.SELF_APPROVAL: (
        "This request was made on your behalf, so you may not approve it (its route says "
        "self_approval = false). You may still reject it; ask another approver to approve."
    ),
    Why.ALREADY_VOTED: (
        "You already voted on these arguments: your vote stands. Another approver's vote is needed."
    ),
    Why.STALE_ARGUMENTS: (
        "The arguments were edited after this message showed them, so your vote was not "
        "recorded. Look at the request's message again and vote on the arguments it shows."
    ),
}

# -- what the person is told ------------------------------------------------------------------


def existing(decision: Decision) -> str:
    """What a person is told about a decision that already stands."""
    who = ", ".join(mrkdwn.user(u) for u in decision.decided_by)
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    by = f" by {who}" if who else ""  # the clock, the agent or the bot: no person to name
    # A final status is its own past-tense verb: "approved", "rejected", "expired"...
    return f"This request was already {decision.status.value}{by} at {when}."


def voted(answer: Voted) -> str:
    """What a voter is told: their vote counted, and what is still needed."""
    if answer.what == "reject":
        return (
            "Your rejection is recorded. The request is rejected once approval can no "
            "longer be reached."
        )
    left = answer.quorum - answer.approvals
    return (
        f"Your approval is recorded: {answer.approvals} of {answer.quorum} approvals. "
        f"Waiting for {mrkdwn.plural(left, 'more approval')}."
    )


def said(answer: Voted | Refused | AlreadyDecided | NeedsReason | Invalid) -> str:
    """What a person is told about an act that did not decide the request."""
    if isinstance(answer, Voted):
        return voted(answer)
    if isinstance(answer, AlreadyDecided):
        return existing(answer.decision)
    if isinstance(answer, Refused):
        return _REFUSED[answer.why]
    if isinstance(answer, NeedsReason):
        return "A reason is required for this request."
    return answer.errors[0][1]


async def _tell(tell: Tell, answer: Answer) -> None:
    # A decision is shown by the message's update (the relay's), not told.
    if not isinstance(answer, Decided):
        await tell(said(answer))


def _about(body: dict[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """Bind the request a payload names (when it can be read) to the listener's log lines."""
    try:
        is_click = body.get("type") == "block_actions"
        request_id = (payloads.click(body) if is_click else payloads.submission(body)).request_id
    except BadPayload:
        return contextlib.nullcontext()
    return bound(request_id=request_id)


# -- buttons on a request's message -------------------------------------------------------------


async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """Approve: decides at once (a vote, when several must approve), for the arguments the
    message showed; when the stored policy wants the value typed, opens the modal asking for
    it instead (whatever the click says)."""
    await ack()
    tell = teller(hitl.slack, body, respond)
    with _about(body):
        async with guarded("click", body, tell):
            click = payloads.click(body)
            state = await hitl.decisions.read(click.request_id)
            if confirming.required(state):
                await _open_checked(hitl, click, tell, "Approve", _confirm_form, approving=True)
                return
            answer = await hitl.decisions.approve(click.request_id, click.user, seen=click.seen)
            await _tell(tell, answer)


def _meta(click: Click, seen: str | None) -> str:
    return payloads.metadata(click.request_id, click.channel, seen=seen)


def _current(state: RequestState) -> RequestBase:
    """The request with the arguments being decided: as edited while votes are needed."""
    if state.proposed is None:
        return state.request
    return state.request.model_copy(update={"payload": state.arguments})


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
    request, meta = _current(state), _meta(click, state.args_digest)
    if confirming.required(state):
        assert isinstance(request, ApprovalRequest)
        typed = [confirming.typed_input(request)]
        return editing.edit_modal(request, private_metadata=meta, extra=typed)
    return views.edit_modal(request, private_metadata=meta)


async def reject(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """Reject: opens the modal asking for the reason."""
    await ack()
    with _about(body):
        await _open_form(hitl, body, respond, "Reject", _reject_form)


async def edit(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """Edit: opens the modal with one input per argument (an edit approves: the person the
    agent acts for is refused, as for Approve)."""
    await ack()
    with _about(body):
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
    with _about(body):
        await _open_form(hitl, body, respond, "Respond", _respond_form)


def _question_form(allowed: Permitted, click: Click) -> View:
    request = allowed.state.request
    return faces.of(request).modal(request, private_metadata=_meta(click, None))


async def answer(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """A question's Answer: opens the answer modal (text, options or its form)."""
    await ack()
    with _about(body):
        await _open_form(hitl, body, respond, "Answer", _question_form)


async def option(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps) -> None:
    """One of a question's option buttons: answers with that option at once.

    The option is read from the stored question by the button's index, never from the
    button's text.
    """
    await ack()
    tell = teller(hitl.slack, body, respond)
    with _about(body):
        async with guarded("click", body, tell):
            click = payloads.click(body)
            found = question.OPTION_ACTION_RE.match(str(body["actions"][0].get("action_id")))
            state = await hitl.decisions.read(click.request_id)
            options = getattr(state.request, "options", ())
            index = int(found.group(1)) if found else len(options)
            value = options[index].value if index < len(options) else None
            await _tell(tell, await hitl.decisions.answer(click.request_id, click.user, value))


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
        await tell(_UNHANDLED.format(what="button"))


# -- modal submissions ------------------------------------------------------------------------


async def _refuse_form(ack: AsyncAck, body: Any, exc: Exception) -> None:
    """Answer a submission that cannot be read: the modal says why, nothing is decided."""
    text, level = failure_text(exc, "form")
    log_failure(exc, "form", level, body)
    await ack(response_action="update", view=views.notice_modal("Not recorded", text))


async def _read_form(
    ack: AsyncAck, body: dict[str, Any], hitl: Deps
) -> tuple[Submission, RequestState] | None:
    """The submission and its request, or None once the modal has said why not."""
    try:
        form = payloads.submission(body)
        state = await hitl.decisions.read(form.request_id)
    except Exception as exc:  # before the ack: the modal itself can say what went wrong
        await _refuse_form(ack, body, exc)
        return None
    return form, state


async def _answer_form(
    ack: AsyncAck,
    body: dict[str, Any],
    answer: Refused | AlreadyDecided | NeedsReason | Invalid,
    block: str | None,
) -> None:
    """Answer a submission before its ack: under its input if it has one, else in the modal."""
    if isinstance(answer, NeedsReason | Invalid) and block is not None:
        await ack(response_action="errors", errors={block: said(answer)})
    elif isinstance(answer, Invalid):  # no input to show the error under
        await _refuse_form(ack, body, BadPayload("the edited arguments are too big"))
    else:
        title = "Already decided" if isinstance(answer, AlreadyDecided) else "Not recorded"
        await ack(response_action="update", view=views.notice_modal(title, said(answer)))


async def _record(
    ack: AsyncAck,
    body: dict[str, Any],
    respond: AsyncRespond,
    hitl: Deps,
    act: Callable[[], Awaitable[Answer]],
) -> None:
    """After a form's checks: ack (the modal closes), then record the act and tell the person
    what was not recorded (a failure after the ack is told, never silent)."""
    await ack()
    tell = teller(hitl.slack, body, respond)
    async with guarded("form", body, tell):
        await _tell(tell, await act())


async def reject_submitted(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """The reject modal's submit: reject with the reason (asked for inline if required)."""
    with _about(body):
        read = await _read_form(ack, body, hitl)
        if read is None:
            return
        form, state = read
        reason = form.values.get(views.REASON_BLOCK, {}).get(views.REASON_ACTION, {}).get("value")
        early = screen_rejection(state, reason)
        if early is not None:
            await _answer_form(ack, body, early, views.REASON_BLOCK)
            return
        await _record(
            ack,
            body,
            respond,
            hitl,
            lambda: hitl.decisions.reject(form.request_id, form.user, reason),
        )


def _stale(form: Submission, state: RequestState) -> Refused | None:
    """A form opened for other arguments than those now decided (another approver edited)."""
    if form.seen is not None and state.pending and form.seen != state.args_digest:
        return Refused(Why.STALE_ARGUMENTS)
    return None


async def edit_submitted(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """The edit modal's submit: approve with the edited arguments (errors, and a typed value
    that is not the one required, shown inline)."""
    with _about(body):
        read = await _read_form(ack, body, hitl)
        if read is None:
            return
        form, state = read
        payload, errors = views.parse_edit_submission(_current(state), form.values)
        early = standing(state) if errors else screen_edit(state, payload)
        early = early or _stale(form, state)
        if early is not None:
            await _answer_form(ack, body, early, next(iter(form.values), None))
            return
        typed = confirming.mismatch(state, form.values)
        if typed is not None:
            errors[confirming.CONFIRM_BLOCK] = typed
        if errors:
            await ack(response_action="errors", errors=errors)
            return

        def decided() -> Awaitable[Answer]:
            return hitl.decisions.approve_edited(form.request_id, form.user, payload)

        await _record(ack, body, respond, hitl, decided)


async def confirm_submitted(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """The typed confirmation's submit: approve, for the arguments shown when it opened, if
    the value typed is the one required (else said under the input, nothing approved)."""
    with _about(body):
        read = await _read_form(ack, body, hitl)
        if read is None:
            return
        form, state = read
        early = standing(state)
        if early is not None:
            await _answer_form(ack, body, early, None)
            return
        wrong = confirming.mismatch(state, form.values)
        if wrong is not None:
            await ack(response_action="errors", errors={confirming.CONFIRM_BLOCK: wrong})
            return

        def decided() -> Awaitable[Answer]:
            return hitl.decisions.approve(form.request_id, form.user, seen=form.seen)

        await _record(ack, body, respond, hitl, decided)


async def answer_submitted(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """The answer modal's submit: answer the question (what does not fit, shown inline)."""
    with _about(body):
        read = await _read_form(ack, body, hitl)
        if read is None:
            return
        form, state = read
        given, errors = views.parse_edit_submission(state.request, form.values)
        if errors and standing(state) is None:
            await ack(response_action="errors", errors=errors)
            return
        early = screen_answer(state, given.get("answer"))
        if early is not None:
            await _answer_form(ack, body, early, next(iter(form.values), None))
            return

        def decided() -> Awaitable[Answer]:
            return hitl.decisions.answer(form.request_id, form.user, given["answer"])

        await _record(ack, body, respond, hitl, decided)


async def respond_submitted(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """The respond modal's submit: the text, in the action's place (an empty one asked again)."""
    with _about(body):
        read = await _read_form(ack, body, hitl)
        if read is None:
            return
        form, state = read
        field = form.values.get(views.RESPOND_BLOCK, {}).get(views.RESPOND_ACTION, {})
        text = field.get("value")
        early = screen_answer(state, text)
        if early is not None:
            await _answer_form(ack, body, early, views.RESPOND_BLOCK)
            return
        await _record(
            ack,
            body,
            respond,
            hitl,
            lambda: hitl.decisions.answer(form.request_id, form.user, text),
        )


async def unknown_view(ack: AsyncAck, view: dict[str, Any]) -> None:
    """A submitted modal no listener handles: the modal says so instead of an error."""
    log.warning("unknown_view", callback_id=view.get("callback_id"))
    await ack(
        response_action="update",
        view=views.notice_modal("Not recorded", _UNHANDLED.format(what="form")),
    )


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
