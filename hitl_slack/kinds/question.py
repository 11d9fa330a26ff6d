"""The question kind: a human answers (free text, one or several options, a form) or declines.

Pure: no Redis, no Slack. Its Slack face (the message with the options or an Answer button,
the answer modal) is :mod:`hitl_slack.slack.question`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hitl_slack.kinds.registry import Settled
from hitl_slack.models import AuditEvent, QuestionRequest, Status

__all__ = ["MAX_ANSWER_CHARS", "QUESTION", "Question", "answer_problems"]

#: Longest free-text answer (Slack's longest input).
MAX_ANSWER_CHARS: Final = 3000


def answer_problems(request: QuestionRequest, answer: Any) -> dict[str, str]:
    """What is wrong with ``answer`` to ``request``: by form field name, or under ``""``
    (empty: it answers the question)."""
    shape = request.shape
    if shape == "form":
        assert request.form is not None
        return request.form.validate_answer(answer)
    values = {o.value for o in request.options}
    if shape == "choice" and answer not in values:
        return {"": "Choose one of the options."}
    if shape == "choices" and not (
        isinstance(answer, list) and answer and all(a in values for a in answer)
    ):
        return {"": "Choose at least one of the options."}
    if shape == "text" and not (isinstance(answer, str) and answer.strip()):
        return {"": "Write an answer."}
    if shape == "text" and len(answer) > MAX_ANSWER_CHARS:
        return {"": f"The answer may be at most {MAX_ANSWER_CHARS} characters."}
    return {}


class Question:
    """What a question means: see :class:`hitl_slack.kinds.registry.Kind`."""

    name: Final = "question"
    request: Final = QuestionRequest

    def settle(
        self, request: QuestionRequest, status: Status, payload: dict[str, Any] | None
    ) -> Settled:
        """The answer (``{"answer": ...}``) when answered; nothing otherwise. An answer is
        never an edit: nothing was proposed to change."""
        if status is Status.ANSWERED and payload is not None:
            return Settled({"answer": payload.get("answer")}, False)
        return Settled({}, False)

    def audit_data(self, request: QuestionRequest) -> dict[str, Any]:
        """The question and how it may be answered."""
        return {
            "kind": self.name,
            "summary": request.summary,
            "action": request.action,
            "payload": request.payload,
            "risk": request.risk.value,
            "agent": request.agent,
            "shape": request.shape,
            "options": [o.value for o in request.options],
            "form": [f.name for f in request.form.fields] if request.form else None,
        }

    def dataset_row(self, created: Mapping[str, Any], decided: AuditEvent) -> dict[str, Any]:
        """The question (its options or form fields as the original payload) and the answer."""
        asked = {"question": created.get("summary"), "shape": created.get("shape")}
        if created.get("options"):
            asked["options"] = created["options"]
        if created.get("form"):
            asked["form"] = created["form"]
        return {
            "request_id": decided.request_id,
            "action": created.get("action", "question"),
            "agent": created.get("agent"),
            "summary": created.get("summary"),
            "original_payload": asked,
            "final_payload": decided.data.get("payload"),
            "edited": False,
            "decision": decided.event,
            "reason": decided.reason,
            "decided_by": decided.actor,
            "decided_at": decided.ts.isoformat(),
            "votes": [],
        }


#: The question kind, registered by :mod:`hitl_slack.kinds`.
QUESTION: Final = Question()
