"""The edit modal: one input per field of a request's arguments, and reading it back.

Pure, like :mod:`hitl_slack.slack.layout`: ``slack_sdk.models`` objects, untrusted text escaped.
Strings are edited as typed, other values as JSON of the same type; what a submission cannot
be read as is an error shown under its input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement, SectionBlock
from slack_sdk.models.views import View

from hitl_slack.models import RequestBase
from hitl_slack.slack.mrkdwn import (
    clip,
    compact,
    context,
    inline,
    json_type,
    md,
    plain,
    plural,
    truncate,
)

__all__ = ["INPUT_MAX", "VIEW_EDIT", "FormValues", "edit_modal", "parse_edit_submission"]

#: ``view["state"]["values"]`` of a ``view_submission``: block id -> action id -> state.
FormValues = dict[str, dict[str, dict[str, Any]]]

VIEW_EDIT: Final = "hitl.edit_modal"
#: Longest text a plain-text input takes.
INPUT_MAX: Final = 3000

_MAX_VIEW_BLOCKS = 100
_TYPE_NAMES = {
    "null": "null",
    "boolean": "a boolean",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def _edit_input(index: int, key: str, value: Any) -> InputBlock | None:
    text = value if isinstance(value, str) else compact(value)
    if len(text) > INPUT_MAX:
        return None
    kind = json_type(value)
    hint = None if kind == "string" else f"JSON value ({'any type' if kind == 'null' else kind})"
    element = PlainTextInputElement(
        action_id="value",
        initial_value=text,
        max_length=INPUT_MAX,
        multiline=len(text) > 80 or "\n" in text,
    )
    return InputBlock(
        block_id=f"field:{index}",
        label=plain(truncate(key, 2000) or "(no name)"),
        element=element,
        hint=plain(hint) if hint else None,
        optional=True,
    )


def edit_modal(request: RequestBase, *, private_metadata: str, extra: Sequence[Block] = ()) -> View:
    """The modal to edit a request's arguments before approving them.

    One input per top-level field (block id ``field:<index>``, action id ``value``): strings as
    typed, other values as JSON. Fields too long to edit, or beyond the modal's 100 blocks, are
    listed and kept unchanged.

    Args:
        request: the request to edit.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).
        extra: blocks shown after the fields (a typed confirmation), room kept for them.

    Returns:
        A modal with callback id :data:`VIEW_EDIT`.
    """
    blocks: list[Block] = [
        context("Edit the arguments, then approve: " + clip(request.summary, 500))
    ]
    items = list(request.payload.items())
    room = _MAX_VIEW_BLOCKS - len(extra)
    for i, (key, value) in enumerate(items):
        if len(blocks) == room - 1 and i < len(items) - 1:
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
        blocks=[*blocks, *extra],
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
    request: RequestBase, values: FormValues
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
