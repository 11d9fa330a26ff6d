"""``ask_human`` answered by the MCP client's own user (elicitation), instead of or beside Slack.

Pure apart from the :data:`Elicit` function the server hands in (the SDK's
``elicitation/create``). A question becomes the flat schema MCP elicitation takes: its form as
given, or one ``answer`` field (a string, an enum of the options, or an array of them); the
client's content is read back into the question's answer, checked as Slack's would be.
Elicitation never decides an approval: it is offered for ``ask_human`` only, and only when
``HITL_MCP_ASK`` is ``client`` or ``both``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

from hitl_slack.kinds.question import answer_problems
from hitl_slack.models import QuestionRequest

__all__ = ["ANSWERED_IN_CLIENT", "Elicit", "Elicited", "answer_from", "schema_for"]

#: What the trail and the Slack message say of an answer given in the MCP client.
ANSWERED_IN_CLIENT = "answered in the MCP client (elicitation)"

Action = Literal["accept", "decline", "cancel"]
#: ``(action, content)`` of the client's answer.
Elicited = tuple[Action, dict[str, Any] | None]
#: Sends ``elicitation/create`` (message, requested schema) and returns the client's answer.
Elicit = Callable[[str, dict[str, Any]], Coroutine[Any, Any, Elicited]]


def schema_for(request: QuestionRequest, form: dict[str, Any] | None) -> dict[str, Any]:
    """The requested schema of ``request``: ``form`` (the schema it was asked with) when it is
    a form, else one required ``answer`` field."""
    if request.shape == "form" and form is not None:
        return form
    if request.options:
        choice = {
            "type": "string",
            "oneOf": [{"const": o.value, "title": o.label} for o in request.options],
        }
        field: dict[str, Any] = (
            {"type": "array", "items": {"anyOf": choice["oneOf"]}, "minItems": 1}
            if request.multiple
            else choice
        )
    else:
        field = {"type": "string", "minLength": 1, "maxLength": 3000}
    return {"type": "object", "properties": {"answer": field}, "required": ["answer"]}


def answer_from(request: QuestionRequest, content: dict[str, Any] | None) -> tuple[Any, bool]:
    """The answer in the client's ``content``, and whether it answers the question."""
    content = content or {}
    answer = content if request.shape == "form" else content.get("answer")
    return answer, not answer_problems(request, answer)
