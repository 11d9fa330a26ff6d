"""What an agent gets back from a question: :class:`Answer`, read from the question's decision.

Pure: no Redis. A question is decided like any request (the decision core, the audit, the
data set); its :class:`~hitl_slack.models.Decision` has status ``answered`` and the answer in
``payload["answer"]``, or ``rejected`` when a person declined to answer, or ``expired`` /
``cancelled``. An :class:`Answer` says the same in a question's words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hitl_slack.errors import InvalidRequest
from hitl_slack.models import Decision, Status

__all__ = ["Answer", "answer_of"]

T = TypeVar("T")

AnswerStatus = Literal["answered", "declined", "expired", "cancelled"]
_STATUS: dict[Status, AnswerStatus] = {
    Status.ANSWERED: "answered",
    Status.REJECTED: "declined",
    Status.EXPIRED: "expired",
    Status.CANCELLED: "cancelled",
}


class Answer(BaseModel, Generic[T]):
    """A question's outcome.

    Attributes:
        status: ``answered``; ``declined`` (a person chose not to answer, ``reason`` says why);
            ``expired``; ``cancelled``.
        answer: the text, the option's value, the options' values, or the form (a dict, or
            the pydantic model the question was asked with); None unless answered.
        answered_by: Slack user ids of who answered (or declined); empty for the clock.
        answered_at: when it was decided.
        reason: why it was declined or cancelled, if said.
        decision: the decision it was read from.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    request_id: str
    status: AnswerStatus
    answer: T | None = None
    answered_by: tuple[str, ...] = ()
    answered_at: datetime
    reason: str | None = None
    decision: Decision

    @property
    def answered(self) -> bool:
        """True only when a person answered."""
        return self.status == "answered"


def answer_of(decision: Decision, model: type[BaseModel] | None = None) -> Answer[Any]:
    """The :class:`Answer` a question's ``decision`` means.

    Args:
        decision: the question's decision.
        model: the pydantic model the question's form was made from: a form's answer is then
            an instance of it.

    Raises:
        InvalidRequest: the decision is an approval's (``approved``), or the answer does not
            fit ``model`` (names the field).
    """
    status = _STATUS.get(decision.status)
    if status is None:
        raise InvalidRequest(f"request {decision.request_id} is not a question (it was approved)")
    value = decision.payload.get("answer") if status == "answered" else None
    if model is not None and isinstance(value, dict):
        try:
            value = model.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidRequest(
                f"the answer does not fit {model.__name__}: {where}: {first['msg']}"
            ) from None
    return Answer[Any](
        request_id=decision.request_id,
        status=status,
        answer=value,
        answered_by=decision.decided_by,
        answered_at=decision.decided_at,
        reason=decision.reason,
        decision=decision,
    )
