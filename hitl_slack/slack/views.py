"""Modals and lists: the reject and edit modals, the pending list, the App Home tab.

Pure, like :mod:`hitl_slack.slack.blocks`: ``slack_sdk.models`` objects, untrusted text escaped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from hitl_slack.lifecycle.listing import Listed
from hitl_slack.models import ApprovalRequest
from hitl_slack.slack.mrkdwn import (
    clip,
    compact,
    context,
    date,
    inline,
    json_type,
    md,
    plain,
    plural,
    quote,
    risk,
    truncate,
)

__all__ = [
    "ACTION_HOME_PAGE",
    "ACTION_PENDING_PAGE",
    "HELP_TEXT",
    "PAGE_SIZE",
    "REASON_ACTION",
    "REASON_BLOCK",
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
VIEW_EDIT: Final = "hitl.edit_modal"
VIEW_NOTICE: Final = "hitl.notice_modal"
ACTION_PENDING_PAGE: Final = "hitl.pending_page"
ACTION_HOME_PAGE: Final = "hitl.home_page"
#: Requests per listing page: a page stays far under a message's 50 blocks.
PAGE_SIZE: Final = 20
REASON_BLOCK: Final = "reason"
REASON_ACTION: Final = "reason_input"

HELP_TEXT: Final = (
    "*hitl-slack* puts a human in the loop of AI agents.\n"
    "• `/hitl pending`: list the requests waiting for a decision\n"
    "• `/hitl help`: show this help\n"
    "Approve, reject or edit a request with the buttons on its message."
)

_MAX_VIEW_BLOCKS = 100
_INPUT_MAX = 3000
_TYPE_NAMES = {
    "null": "null",
    "boolean": "a boolean",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def reject_modal(request: ApprovalRequest, *, reason_required: bool, private_metadata: str) -> View:
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
            action_id=REASON_ACTION, multiline=True, max_length=_INPUT_MAX
        ),
    )
    return View(
        type="modal",
        callback_id=VIEW_REJECT,
        title=plain("Reject request"),
        submit=plain("Reject"),
        close=plain("Cancel"),
        private_metadata=private_metadata,
        blocks=[SectionBlock(text=md(quote(clip(request.summary, 2900)))), reason],
    )


def _edit_input(index: int, key: str, value: Any) -> InputBlock | None:
    text = value if isinstance(value, str) else compact(value)
    if len(text) > _INPUT_MAX:
        return None
    kind = json_type(value)
    hint = None if kind == "string" else f"JSON value ({'any type' if kind == 'null' else kind})"
    element = PlainTextInputElement(
        action_id="value",
        initial_value=text,
        max_length=_INPUT_MAX,
        multiline=len(text) > 80 or "\n" in text,
    )
    return InputBlock(
        block_id=f"field:{index}",
        label=plain(truncate(key, 2000) or "(no name)"),
        element=element,
        hint=plain(hint) if hint else None,
        optional=True,
    )


def edit_modal(request: ApprovalRequest, *, private_metadata: str) -> View:
    """The modal to edit a request's arguments before approving them.

    One input per top-level field (block id ``field:<index>``, action id ``value``): strings as
    typed, other values as JSON. Fields too long to edit, or beyond the modal's 100 blocks, are
    listed and kept unchanged.

    Args:
        request: the request to edit.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).

    Returns:
        A modal with callback id :data:`VIEW_EDIT`.
    """
    blocks: list[Block] = [
        context("Edit the arguments, then approve: " + clip(request.summary, 500))
    ]
    items = list(request.payload.items())
    for i, (key, value) in enumerate(items):
        if len(blocks) == _MAX_VIEW_BLOCKS - 1 and i < len(items) - 1:
            kept = plural(len(items) - i, "more field")
            blocks.append(context(f"{kept} can't be shown here and are kept unchanged."))
            break
        block = _edit_input(i, key, value)
        blocks.append(
            block or context(f"{inline(key, 100)} is too long to edit here and is kept as is")
        )
    if not items:
        blocks.append(SectionBlock(text=md("This request has no arguments to edit.")))
    return View(
        type="modal",
        callback_id=VIEW_EDIT,
        title=plain("Edit and approve"),
        submit=plain("Approve"),
        close=plain("Cancel"),
        private_metadata=private_metadata,
        blocks=blocks,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: JSON has no infinity to store it as
        raise ValueError(f"{text} is too large a number")
    return value


def _parse_field(original: Any, text: str) -> tuple[Any, str | None]:
    """The edited value of one field, or the error to show under its input."""
    if isinstance(original, str):
        return text, None
    if not text.strip():
        return original, "Enter a JSON value"
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        return original, f"Not valid JSON: {exc.msg}. Strings need double quotes."
    except ValueError as exc:
        return original, f"Not valid JSON: {exc}. Strings need double quotes."
    except RecursionError:
        return original, "Nested too deeply"
    was, now = json_type(original), json_type(value)
    if original is not None and was != now:
        return original, f"Was {_TYPE_NAMES[was]}, now {_TYPE_NAMES[now]}: keep the type"
    return value, None


def parse_edit_submission(
    request: ApprovalRequest, values: dict[str, dict[str, dict[str, Any]]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the edit modal's submission back into a payload.

    Args:
        request: the request whose payload was edited.
        values: ``view["state"]["values"]`` of the submission.

    Returns:
        ``(new_payload, errors)``: the payload in the original key order (fields without an
        input keep their value) and error messages keyed by block id, for
        ``ack(response_action="errors", errors=...)``. Errors empty means the edit is valid.
    """
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for i, (key, original) in enumerate(request.payload.items()):
        state = values.get(f"field:{i}", {}).get("value")
        if state is None:
            payload[key] = original
            continue
        payload[key], error = _parse_field(original, state.get("value") or "")
        if error:
            errors[f"field:{i}"] = error
    return payload, errors


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the pending requests a person may decide.

    Attributes:
        items: this page's requests, with their message links when known.
        offset: how many of the person's requests come before this page.
        visible: how many of the requests read the person may decide.
        read: how many pending requests were read (and filtered) for this listing.
        total: pending requests in the index.
    """

    items: list[Listed]
    offset: int = 0
    visible: int = 0
    read: int = 0
    total: int = 0

    @property
    def complete(self) -> bool:
        """Whether every pending request was read, so ``visible`` is exact."""
        return self.read >= self.total

    @property
    def has_next(self) -> bool:
        """Whether more of the person's requests follow this page."""
        return self.offset + len(self.items) < self.visible


def headline(page: Page) -> str:
    """The count line: exact when every pending request was read, else "at least"."""
    if page.complete:
        return f"{plural(page.visible, 'pending request')} you can decide"
    if not page.visible:
        return (
            f"None of the {page.read} soonest of {page.total} pending requests are yours to decide"
        )
    return (
        f"At least {plural(page.visible, 'pending request')} you can decide (the "
        f"{page.read} soonest of {page.total} pending were checked)"
    )


def _pending_line(item: Listed, now: datetime) -> SectionBlock:
    request, state = item.state.request, item.state
    link = f" · <{item.permalink}|Open message>" if _safe_link(item.permalink) else ""
    return SectionBlock(
        text=md(
            f"*{clip(request.summary, 150)}*\n{risk(request.risk)} · "
            f"{inline(request.action, 60)} · due {date(state.effective_deadline, now)}{link}"
        )
    )


def _safe_link(url: str | None) -> bool:
    # Slack's own permalinks; anything else (or a character that would end the link) is dropped.
    return url is not None and url.startswith("https://") and not any(c in url for c in "<>| \n")


def _pager(page: Page, action_id: str) -> list[Block]:
    shown = f"Showing {page.offset + 1} to {page.offset + len(page.items)} of {page.visible}"
    # One button at a time: action ids must be unique within a block.
    if page.has_next:
        button = ButtonElement(
            text=plain("Next page"), action_id=action_id, value=str(page.offset + len(page.items))
        )
    elif page.offset > 0:
        button = ButtonElement(text=plain("First page"), action_id=action_id, value="0")
    else:
        return [context(shown)]
    return [context(shown), ActionsBlock(block_id="pager", elements=[button])]


def pending_blocks(
    page: Page, *, action_id: str = ACTION_PENDING_PAGE, now: datetime | None = None
) -> list[Block]:
    """One page of pending requests, for ``/hitl pending`` and the App Home.

    Args:
        page: the page (at most :data:`PAGE_SIZE` items keeps it under 50 blocks).
        action_id: the action id of the page buttons, so the listener knows where to answer.
        now: the current time, for the time left.

    Returns:
        The count line, one section per request (with a link to its message when known),
        then "Showing a to b of n" and a "Next page" button ("First page" on the last page).
    """
    if not page.items:
        text = "No pending requests you can decide." if page.complete else headline(page) + "."
        return [SectionBlock(text=md(text))]
    now = now or datetime.now(UTC)
    blocks: list[Block] = [SectionBlock(text=md(headline(page)))]
    blocks += [_pending_line(item, now) for item in page.items]
    return blocks + _pager(page, action_id)


def home_view(page: Page, *, now: datetime | None = None, notice: str | None = None) -> View:
    """The App Home tab: a header and one page of pending requests.

    Args:
        page: the page to show.
        now: the current time.
        notice: shown instead of the list, e.g. why it could not be read.

    Returns:
        A ``home`` view for ``views.publish``.
    """
    header = HeaderBlock(text=plain("Pending approvals"))
    body = (
        [SectionBlock(text=md(notice))]
        if notice
        else pending_blocks(page, action_id=ACTION_HOME_PAGE, now=now)
    )
    return View(type="home", blocks=[header, *body])


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
