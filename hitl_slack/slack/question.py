"""The question kind in Slack: the message with its answer buttons, the answer modal, and the
message once answered.

Pure, like :mod:`hitl_slack.slack.layout` (whose shared layout it fills): untrusted text
escaped, every Block Kit limit met by visible truncation. Up to :data:`MAX_BUTTONS` single
choices are buttons that answer at once; more choices, several choices, free text and forms
open the answer modal (Answer). Decline opens the reject modal (an optional reason). What a
question means apart from Slack is :mod:`hitl_slack.kinds.question`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Final

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, SectionBlock
from slack_sdk.models.views import View

from hitl_slack.forms import MAX_CHECKBOXES, FormField, Option
from hitl_slack.kinds.question import MAX_ANSWER_CHARS, answer_problems
from hitl_slack.models import OUTCOME_WORDS, QuestionRequest, RequestState, Status
from hitl_slack.slack.editing import FormValues
from hitl_slack.slack.layout import Message, outcome_text, request_blocks
from hitl_slack.slack.mrkdwn import (
    clip,
    compact,
    context,
    escape,
    md,
    plain,
    plural,
    truncate,
)

__all__ = [
    "ACTION_ANSWER",
    "ACTION_OPTION",
    "ANSWER_BLOCK",
    "MAX_BUTTONS",
    "OPTION_ACTION_RE",
    "QUESTION",
    "VIEW_ANSWER",
    "Question",
    "read_answer",
]

#: The Answer button: opens the answer modal.
ACTION_ANSWER: Final = "hitl.answer"
#: An option's button answers with it: ``hitl.answer.option:<index>``.
ACTION_OPTION: Final = "hitl.answer.option"
OPTION_ACTION_RE: Final = re.compile(r"^hitl\.answer\.option:(\d{1,3})$")
#: The Decline button: the reject modal's listener (a question is declined by rejecting it).
ACTION_DECLINE: Final = "hitl.reject"
VIEW_ANSWER: Final = "hitl.answer_modal"
#: The block of a text or options answer in the modal (a form's fields are ``field:<name>``).
ANSWER_BLOCK: Final = "answer"
#: Most single choices shown as buttons on the message (more open a menu in the modal).
MAX_BUTTONS: Final = 5

_INPUT = "value"


def _option_label(o: Option) -> str:
    return truncate(o.label, 75)


def _buttons(request: QuestionRequest) -> list[ButtonElement]:
    rid = request.id
    if request.shape == "choice" and len(request.options) <= MAX_BUTTONS:
        answer = [
            ButtonElement(text=plain(_option_label(o)), action_id=f"{ACTION_OPTION}:{i}", value=rid)
            for i, o in enumerate(request.options)
        ]
    else:
        answer = [
            ButtonElement(text=plain("Answer"), action_id=ACTION_ANSWER, value=rid, style="primary")
        ]
    return [*answer, ButtonElement(text=plain("Decline"), action_id=ACTION_DECLINE, value=rid)]


def _asked(request: QuestionRequest) -> str:
    """What kind of answer is wanted, in words."""
    if request.shape == "form":
        assert request.form is not None
        names = ", ".join(clip(f.title, 60) for f in request.form.fields[:10])
        more = f" and {len(request.form.fields) - 10} more" if len(request.form.fields) > 10 else ""
        return f"A form to fill in: {names}{more}."
    if request.shape in ("choice", "choices"):
        many = "one or more" if request.shape == "choices" else "one"
        labels = ", ".join(escape(_option_label(o)) for o in request.options[:20])
        more = f" and {len(request.options) - 20} more" if len(request.options) > 20 else ""
        return f"Choose {many} of: {labels}{more}."
    return "A written answer."


def _value_text(field: FormField | None, value: Any, options: tuple[Option, ...]) -> str:
    labels = {o.value: o.label for o in (field.options if field else options)}
    if isinstance(value, list):
        return ", ".join(clip(labels.get(v, str(v)), 75) for v in value) or "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "(empty)"
    text = labels.get(value, value) if isinstance(value, str) else compact(value)
    return clip(str(text), 500)


#: Most form fields the answered message lists (each value clipped), to stay in Slack's limits.
_SHOWN_FIELDS = 20


def _answer_blocks(request: QuestionRequest, answer: Any) -> list[Block]:
    if request.form is not None and isinstance(answer, dict):
        fields = [
            f"*{clip(f.title, 100)}*\n{_value_text(f, answer.get(f.name), ())}"
            for f in request.form.fields[:_SHOWN_FIELDS]
        ]
        blocks: list[Block] = [
            SectionBlock(fields=[md(truncate(t, 2000)) for t in fields[i : i + 10]])
            for i in range(0, len(fields), 10)
        ]
        left = len(request.form.fields) - _SHOWN_FIELDS
        if left > 0:
            blocks.append(context(f"… and {plural(left, 'more field')} (in the agent's answer)"))
        return blocks
    shown = _value_text(None, answer, request.options)
    return [SectionBlock(text=md(truncate("*Answer*\n" + shown, 3000)))]


class Question:
    """The question kind's Slack face: see :class:`hitl_slack.slack.kinds.SlackKind`."""

    name: Final = "question"

    def message(self, state: RequestState, *, note: str | None, now: datetime) -> Message:
        """The question, what answer is wanted, and its buttons (all carry the request id)."""
        request = state.request
        assert isinstance(request, QuestionRequest)
        tail: list[Block] = [
            context(_asked(request)),
            ActionsBlock(elements=_buttons(request)),
        ]
        blocks = request_blocks(state, request.payload, tail, note, now, "not shown")
        return Message("Question: " + clip(request.summary, 3000), blocks)

    def decided_message(self, state: RequestState, *, note: str | None) -> Message:
        """The question once answered (the answer shown), declined, expired or cancelled.

        Raises:
            ValueError: if the request has no decision yet.
        """
        decision, request = state.decision, state.request
        if decision is None:
            raise ValueError(f"request {request.id} is not decided")
        assert isinstance(request, QuestionRequest)
        tail: list[Block] = [SectionBlock(text=md(outcome_text(state)))]
        if decision.status is Status.ANSWERED:
            tail += _answer_blocks(request, decision.payload.get("answer"))
        blocks = request_blocks(state, request.payload, tail, note, None, "not shown")
        word = OUTCOME_WORDS[decision.status].word
        return Message(f"{word}: " + clip(request.summary, 3000), blocks)

    def modal(self, request: QuestionRequest, *, private_metadata: str) -> View:
        """The Answer button's modal: a text input, the options, or the form's fields."""
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": md(clip(request.summary, 3000)).to_dict()}
        ]
        if request.form is not None:
            blocks += [_field_input(f) for f in request.form.fields]
        else:
            blocks.append(_answer_input(request))
        title = "Answer" if request.form is None else (request.form.title or "Answer")
        return View(
            type="modal",
            callback_id=VIEW_ANSWER,
            title=plain(truncate(title, 24)),
            submit=plain("Answer"),
            close=plain("Cancel"),
            private_metadata=private_metadata,
            blocks=blocks,
        )

    def parse_submission(
        self, request: QuestionRequest, values: FormValues
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """``({"answer": ...}, errors by block id)``: see :func:`read_answer`."""
        answer, errors = read_answer(request, values)
        return {"answer": answer}, errors


#: The question kind's face, registered by :mod:`hitl_slack.slack.kinds`.
QUESTION: Final = Question()

# -- the answer modal's inputs -------------------------------------------------------------------


def _option(i: int, o: Option) -> dict[str, Any]:
    return {"text": plain(_option_label(o)).to_dict(), "value": str(i)}


def _choices_element(
    options: tuple[Option, ...], *, multiple: bool, initial: Any = None
) -> dict[str, Any]:
    opts = [_option(i, o) for i, o in enumerate(options)]
    chosen = initial if isinstance(initial, list) else [initial]
    picked = [opts[i] for i, o in enumerate(options) if o.value in chosen]
    if multiple:
        kind = "checkboxes" if len(opts) <= MAX_CHECKBOXES else "multi_static_select"
        element: dict[str, Any] = {"type": kind, "action_id": _INPUT, "options": opts}
        if picked:
            element["initial_options"] = picked
        return element
    element = {"type": "static_select", "action_id": _INPUT, "options": opts}
    if picked:
        element["initial_option"] = picked[0]
    return element


def _answer_input(request: QuestionRequest) -> dict[str, Any]:
    if request.options:
        element = _choices_element(request.options, multiple=request.multiple)
        label = "Choose" if not request.multiple else "Choose one or more"
    else:
        element = {
            "type": "plain_text_input",
            "action_id": _INPUT,
            "multiline": True,
            "max_length": MAX_ANSWER_CHARS,
        }
        label = "Your answer"
    return {
        "type": "input",
        "block_id": ANSWER_BLOCK,
        "label": plain(label).to_dict(),
        "element": element,
    }


def _text_element(f: FormField) -> dict[str, Any]:
    kind = {"email": "email_text_input", "uri": "url_text_input"}.get(f.format or "")
    if f.format == "date":
        element: dict[str, Any] = {"type": "datepicker", "action_id": _INPUT}
        if isinstance(f.default, str):
            element["initial_date"] = f.default
        return element
    element = {"type": kind or "plain_text_input", "action_id": _INPUT}
    if kind is None:
        longest = f.max_length or MAX_ANSWER_CHARS
        element["max_length"] = longest
        element["multiline"] = longest > 200 and f.format is None
        if f.min_length:
            element["min_length"] = min(f.min_length, longest)
    if isinstance(f.default, str):
        element["initial_value"] = truncate(f.default, f.max_length or MAX_ANSWER_CHARS)
    return element


def _number_element(f: FormField) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "number_input",
        "action_id": _INPUT,
        "is_decimal_allowed": f.type == "number",
    }
    if f.minimum is not None:
        element["min_value"] = f"{f.minimum:g}"
    if f.maximum is not None:
        element["max_value"] = f"{f.maximum:g}"
    if isinstance(f.default, int | float) and not isinstance(f.default, bool):
        element["initial_value"] = f"{f.default:g}"
    return element


def _field_element(f: FormField) -> dict[str, Any]:
    if f.type == "string":
        return _text_element(f)
    if f.type in ("number", "integer"):
        return _number_element(f)
    if f.type == "boolean":
        yes = {"text": plain(truncate(f.title, 75)).to_dict(), "value": "true"}
        element: dict[str, Any] = {"type": "checkboxes", "action_id": _INPUT, "options": [yes]}
        if f.default is True:
            element["initial_options"] = [yes]
        return element
    return _choices_element(f.options, multiple=f.type == "multi", initial=f.default)


def _hint(f: FormField) -> str | None:
    parts = [f.description] if f.description else []
    if f.format == "date-time":
        parts.append("A date and time, e.g. 2026-12-31T17:00:00+00:00.")
    return truncate(" ".join(parts), 2000) if parts else None


def _field_input(f: FormField) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": f"field:{f.name}",
        "label": plain(truncate(f.title, 2000)).to_dict(),
        "element": _field_element(f),
        # A checkbox left unticked is an answer (no), and Slack would refuse it as empty.
        "optional": not f.required or f.type == "boolean",
    }
    if hint := _hint(f):
        block["hint"] = plain(hint).to_dict()
    return block


# -- reading the answer modal back ----------------------------------------------------------------


def _picked(state: dict[str, Any], options: tuple[Option, ...]) -> list[str] | None:
    """The chosen options' values (by the index each option's value carries)."""
    chosen = state.get("selected_options")
    if chosen is None and isinstance(state.get("selected_option"), dict):
        chosen = [state["selected_option"]]
    if not isinstance(chosen, list):
        return None
    out = []
    for item in chosen:
        value = item.get("value") if isinstance(item, dict) else None
        if not (isinstance(value, str) and value.isdigit() and int(value) < len(options)):
            return None
        out.append(options[int(value)].value)
    return out


def _number(text: str | None, integer: bool) -> Any:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return text  # kept as text: the check says it is not a number
    if not math.isfinite(value):
        return text
    return int(value) if integer and value.is_integer() else value


def _field_value(f: FormField, state: dict[str, Any]) -> Any:
    if f.type == "string":
        value = state.get("selected_date") if f.format == "date" else state.get("value")
        return value if isinstance(value, str) and value != "" else None
    if f.type in ("number", "integer"):
        return _number(state.get("value"), f.type == "integer")
    if f.type == "boolean":
        return bool(state.get("selected_options"))
    picked = _picked(state, f.options)
    if f.type == "enum":
        return picked[0] if picked else None
    return picked if picked else ([] if not f.required else None)


def _input_state(values: FormValues, block: str) -> dict[str, Any]:
    state = values.get(block, {}).get(_INPUT)
    return state if isinstance(state, dict) else {}


def read_answer(request: QuestionRequest, values: FormValues) -> tuple[Any, dict[str, str]]:
    """The answer modal's submission read back, and errors by block id (empty: valid).

    Free text is taken as typed; options by the index their value carries (a value that names
    no option is an error, never another option); a form field by its input's type, then the
    whole answer checked against the question (:func:`answer_problems`).
    """
    if request.form is not None:
        answer: Any = {
            f.name: _field_value(f, _input_state(values, f"field:{f.name}"))
            for f in request.form.fields
        }
        problems = answer_problems(request, answer)
        return answer, {f"field:{k}" if k else ANSWER_BLOCK: v for k, v in problems.items()}
    state = _input_state(values, ANSWER_BLOCK)
    if request.options:
        picked = _picked(state, request.options)
        answer = picked if request.multiple else (picked[0] if picked else None)
    else:
        answer = state.get("value")
    problems = answer_problems(request, answer)
    return answer, ({ANSWER_BLOCK: next(iter(problems.values()))} if problems else {})
