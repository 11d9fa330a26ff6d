"""Modals and lists: the reject, edit and notice modals, the pending list, the App Home tab.

Pure, like :mod:`hitl_slack.slack.blocks`: ``slack_sdk.models`` objects, untrusted text escaped.
The edit modal is the request kind's (:mod:`hitl_slack.slack.kinds`; an approval's is
:mod:`hitl_slack.slack.editing`); the lists are :mod:`hitl_slack.slack.pages`, re-exported here.
"""

from __future__ import annotations

from typing import Any, Final

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, SectionBlock
from slack_sdk.models.views import View

from hitl_slack.models import RequestBase
from hitl_slack.slack import kinds
from hitl_slack.slack.confirming import VIEW_CONFIRM
from hitl_slack.slack.editing import INPUT_MAX, VIEW_EDIT, FormValues
from hitl_slack.slack.mrkdwn import clip, md, plain, quote, truncate
from hitl_slack.slack.pages import (
    ACTION_HOME_PAGE,
    ACTION_PENDING_PAGE,
    PAGE_SIZE,
    Page,
    headline,
    home_view,
    pending_blocks,
)

__all__ = [
    "ACTION_HOME_PAGE",
    "ACTION_PENDING_PAGE",
    "HELP_TEXT",
    "PAGE_SIZE",
    "REASON_ACTION",
    "REASON_BLOCK",
    "VIEW_CONFIRM",
    "VIEW_EDIT",
    "VIEW_NOTICE",
    "VIEW_REJECT",
    "Page",
    "edit_modal",
    "headline",
    "home_view",
    "notice_modal",
    "parse_edit_submission",
    "pending_blocks",
    "reject_modal",
]

VIEW_REJECT: Final = "hitl.reject_modal"
VIEW_RESPOND: Final = "hitl.respond_modal"
#: The respond modal's input (block and action ids).
RESPOND_BLOCK: Final = "answer"
RESPOND_ACTION: Final = "value"
VIEW_NOTICE: Final = "hitl.notice_modal"
REASON_BLOCK: Final = "reason"
REASON_ACTION: Final = "reason_input"

HELP_TEXT: Final = (
    "*hitl-slack* puts a human in the loop of AI agents.\n"
    "• `/hitl pending`: list the requests waiting for a decision\n"
    "• `/hitl help`: show this help\n"
    "Approve, reject or edit a request with the buttons on its message."
)


def reject_modal(request: RequestBase, *, reason_required: bool, private_metadata: str) -> View:
    """The modal asking why a request is rejected.

    Args:
        request: the request being rejected.
        reason_required: whether the reason input may be left empty.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).

    Returns:
        A modal with callback id :data:`VIEW_REJECT`.
    """
    reason = InputBlock(
        block_id=REASON_BLOCK,
        label=plain("Reason"),
        optional=not reason_required,
        element=PlainTextInputElement(
            action_id=REASON_ACTION, multiline=True, max_length=INPUT_MAX
        ),
    )
    return View(
        type="modal",
        callback_id=VIEW_REJECT,
        # A question is declined by rejecting it: the same modal, in its words.
        title=plain("Decline to answer" if request.kind == "question" else "Reject request"),
        submit=plain("Decline" if request.kind == "question" else "Reject"),
        close=plain("Cancel"),
        private_metadata=private_metadata,
        blocks=[SectionBlock(text=md(quote(clip(request.summary, 2900)))), reason],
    )


def edit_modal(request: RequestBase, *, private_metadata: str) -> View:
    """The modal to edit a request's arguments before approving them, drawn by its kind.

    For an approval (:func:`hitl_slack.slack.editing.edit_modal`): one input per top-level
    field (block id ``field:<index>``, action id ``value``): strings as typed, other values as
    JSON. Fields too long to edit, or beyond the modal's 100 blocks, are listed and kept
    unchanged.

    Args:
        request: the request to edit.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).

    Returns:
        A modal with callback id :data:`VIEW_EDIT`.

    Raises:
        InvalidRequest: the request's kind has no Slack face in this version.
    """
    return kinds.of(request).modal(request, private_metadata=private_metadata)


def parse_edit_submission(
    request: RequestBase, values: FormValues
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the edit modal's submission back into a payload, as the request's kind reads it.

    Args:
        request: the request whose payload was edited.
        values: ``view["state"]["values"]`` of the submission.

    Returns:
        ``(new_payload, errors)``: the payload in the original key order (fields without an
        input keep their value) and error messages keyed by block id, for
        ``ack(response_action="errors", errors=...)``. Errors empty means the edit is valid.

    Raises:
        InvalidRequest: the request's kind has no Slack face in this version.
    """
    return kinds.of(request).parse_submission(request, values)


def respond_modal(request: RequestBase, *, private_metadata: str) -> View:
    """The modal of Respond: a text the agent gets in place of running the action.

    Returns:
        A modal with callback id :data:`VIEW_RESPOND`.
    """
    text = InputBlock(
        block_id=RESPOND_BLOCK,
        label=plain("Response"),
        element=PlainTextInputElement(
            action_id=RESPOND_ACTION, multiline=True, max_length=INPUT_MAX
        ),
        hint=plain("The agent gets this text instead of running the action."),
    )
    return View(
        type="modal",
        callback_id=VIEW_RESPOND,
        title=plain("Respond"),
        submit=plain("Respond"),
        close=plain("Cancel"),
        private_metadata=private_metadata,
        blocks=[SectionBlock(text=md(quote(clip(request.summary, 2900)))), text],
    )


def notice_modal(title: str, text: str) -> View:
    """A modal that replaces a submitted one to say what happened (no inputs, Close only).

    Args:
        title: the modal's title (at most 24 characters).
        text: mrkdwn, already escaped.
    """
    return View(
        type="modal",
        callback_id=VIEW_NOTICE,
        title=plain(truncate(title, 24)),
        close=plain("Close"),
        blocks=[SectionBlock(text=md(truncate(text, 3000)))],
    )
