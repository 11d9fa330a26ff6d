"""Request kinds: what differs between an approval and, later, a question or a form.

Pure: no Redis, no Slack. Every request carries a ``kind``; the registry maps it to a
:class:`Kind`, which says what the kind's request model is (parsing dispatches on ``kind``),
what a decision means for it, what the audit's ``created`` entry records and what the data set
writes. How a kind shows in Slack (its message, decided message, modal and how a submission is
read) is registered under the same name in :mod:`hitl_slack.slack.kinds`, so this core never
imports Slack code.

The kinds shipped are ``approval`` and ``question``. Adding a kind is an addition (as the
question kind was):

1. ``QuestionRequest(RequestBase)`` with ``kind: Literal["question"] = "question"`` and its
   fields, and a class with the :class:`Kind` methods, in ``hitl_slack/kinds/question.py``;
   ``register(QUESTION)`` below.
2. Its Slack face in ``hitl_slack/slack/question.py``, registered in :mod:`hitl_slack.slack.kinds`.
3. ``QuestionRequest`` added to :data:`hitl_slack.models.Request`, so that mypy points at every
   place that must tell the kinds apart.
"""

from __future__ import annotations

from hitl_slack.kinds.approval import APPROVAL, Approval
from hitl_slack.kinds.question import QUESTION, Question
from hitl_slack.kinds.registry import (
    DATASET_FIELDS,
    DEFAULT_KIND,
    Kind,
    Settled,
    dataset_row,
    get,
    names,
    of,
    parse_request,
    register,
    unregister,
    validate,
)

__all__ = [
    "APPROVAL",
    "DATASET_FIELDS",
    "DEFAULT_KIND",
    "QUESTION",
    "Approval",
    "Kind",
    "Question",
    "Settled",
    "dataset_row",
    "get",
    "names",
    "of",
    "parse_request",
    "register",
    "unregister",
    "validate",
]

register(APPROVAL)
register(QUESTION)
