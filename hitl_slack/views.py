"""Modals and lists: the reject and edit modals, the pending list, the App Home tab.

Pure, like :mod:`hitl_slack.blocks`: ``slack_sdk.models`` objects, untrusted text escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from slack_sdk.models.blocks import (
    Block,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from hitl_slack.models import ApprovalRequest, RequestState
from hitl_slack.mrkdwn import (
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
    "HELP_TEXT", "REASON_ACTION", "REASON_BLOCK", "VIEW_EDIT", "VIEW_REJECT", "edit_modal",
    "home_view", "parse_edit_submission", "pending_blocks", "reject_modal",
]

VIEW_REJECT: Final = "hitl.reject_modal"
VIEW_EDIT: Final = "hitl.edit_modal"
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
_TYPE_NAMES = {"null": "null", "boolean": "a boolean", "number": "a number",
               "string": "a string", "array": "an array", "object": "an object"}


def reject_modal(request: ApprovalRequest, *, reason_required: bool,
                 private_metadata: str) -> View:
    """The modal asking why a request is rejected.

    Args:
        request: the request being rejected.
        reason_required: whether the reason input may be left empty.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).

    Returns:
        A modal with callback id :data:`VIEW_REJECT`.
    """
    reason = InputBlock(
        block_id=REASON_BLOCK, label=plain("Reason"), optional=not reason_required,
        element=PlainTextInputElement(action_id=REASON_ACTION, multiline=True,
                                      max_length=_INPUT_MAX),
    )
    return View(type="modal", callback_id=VIEW_REJECT, title=plain("Reject request"),
                submit=plain("Reject"), close=plain("Cancel"),
                private_metadata=private_metadata,
                blocks=[SectionBlock(text=md(quote(clip(request.summary, 2900)))), reason])


def _edit_input(index: int, key: str, value: Any) -> InputBlock | None:
    text = value if isinstance(value, str) else compact(value)
    if len(text) > _INPUT_MAX:
        return None
    kind = json_type(value)
    hint = None if kind == "string" else f"JSON value ({'any type' if kind == 'null' else kind})"
    element = PlainTextInputElement(action_id="value", initial_value=text, max_length=_INPUT_MAX,
                                    multiline=len(text) > 80 or "\n" in text)
    return InputBlock(block_id=f"field:{index}", label=plain(truncate(key, 2000) or "(no name)"),
                      element=element, hint=plain(hint) if hint else None, optional=True)


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
    blocks: list[Block] = [context("Edit the arguments, then approve: " +
                                    clip(request.summary, 500))]
    items = list(request.payload.items())
    for i, (key, value) in enumerate(items):
        if len(blocks) == _MAX_VIEW_BLOCKS - 1 and i < len(items) - 1:
            kept = plural(len(items) - i, "more field")
            blocks.append(context(f"{kept} can't be shown here and are kept unchanged."))
            break
        block = _edit_input(i, key, value)
        blocks.append(block or context(
            f"{inline(key, 100)} is too long to edit here and is kept as is"))
    if not items:
        blocks.append(SectionBlock(text=md("This request has no arguments to edit.")))
    return View(type="modal", callback_id=VIEW_EDIT, title=plain("Edit and approve"),
                submit=plain("Approve"), close=plain("Cancel"),
                private_metadata=private_metadata, blocks=blocks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _parse_field(original: Any, text: str) -> tuple[Any, str | None]:
    """The edited value of one field, or the error to show under its input."""
    if isinstance(original, str):
        return text, None
    if not text.strip():
        return original, "Enter a JSON value"
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return original, f"Not valid JSON: {exc.msg}. Strings need double quotes."
    except ValueError as exc:
        return original, f"Not valid JSON: {exc}. Strings need double quotes."
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


def _pending_line(state: RequestState, now: datetime) -> SectionBlock:
    request = state.request
    return SectionBlock(text=md(
        f"*{clip(request.summary, 150)}*\n{risk(request.risk)} · "
        f"{inline(request.action, 60)} · due {date(state.effective_deadline, now)}"
    ))


def pending_blocks(states: list[RequestState], *, now: datetime | None = None,
                   limit: int = 20) -> list[Block]:
    """A compact list of pending requests, for ``/hitl pending`` and the App Home.

    Args:
        states: the pending requests, in the order to show.
        now: the current time, for the time left.
        limit: the most requests to list; the rest are counted.

    Returns:
        One section per request (at most ``limit``), then "… and N more" if some are left out.
    """
    if not states:
        return [SectionBlock(text=md("No pending requests."))]
    now = now or datetime.now(UTC)
    blocks: list[Block] = [_pending_line(s, now) for s in states[:limit]]
    if len(states) > limit:
        blocks.append(context(f"… and {len(states) - limit} more"))
    return blocks


def home_view(states: list[RequestState], *, now: datetime | None = None) -> View:
    """The App Home tab: a header and the pending list (within a view's 100 blocks).

    Args:
        states: the pending requests.
        now: the current time.

    Returns:
        A ``home`` view for ``views.publish``.
    """
    header = HeaderBlock(text=plain("Pending approvals"))
    listed = pending_blocks(states, now=now, limit=_MAX_VIEW_BLOCKS - 2)
    return View(type="home", blocks=[header, *listed])
