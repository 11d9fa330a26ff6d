"""Bolt listeners for the modals' submissions: reject, edit, typed confirmation, answer, respond.

Each reads what it needs and runs the checks that need no directory before its ack, so an
error shows under its input (``response_action="errors"``) or as a notice in the modal; then
it acks (the modal closes), records the act through the decision core and tells the person
what was not recorded. Registered by :func:`hitl_slack.slack.listeners.register`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from hitl_slack.decisions import (
    AlreadyDecided,
    Answer,
    Invalid,
    NeedsReason,
    Refused,
    Why,
    screen_answer,
    screen_edit,
    screen_rejection,
    standing,
)
from hitl_slack.logs import get_logger
from hitl_slack.models import RequestState
from hitl_slack.slack import confirming, payloads, views
from hitl_slack.slack.guard import failure_text, guarded, log_failure, teller
from hitl_slack.slack.payloads import BadPayload, Submission
from hitl_slack.slack.telling import UNHANDLED, about, said, tell_answer

if TYPE_CHECKING:
    from hitl_slack.slack.app import Deps

__all__ = [
    "answer_submitted",
    "confirm_submitted",
    "edit_submitted",
    "reject_submitted",
    "respond_submitted",
    "unknown_view",
]

log = get_logger(__name__)


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
        await tell_answer(tell, await act())


async def reject_submitted(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """The reject modal's submit: reject with the reason (asked for inline if required)."""
    with about(body):
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
    with about(body):
        read = await _read_form(ack, body, hitl)
        if read is None:
            return
        form, state = read
        payload, errors = views.parse_edit_submission(state.proposed_request, form.values)
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
    with about(body):
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
    with about(body):
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
    with about(body):
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
        view=views.notice_modal("Not recorded", UNHANDLED.format(what="form")),
    )
