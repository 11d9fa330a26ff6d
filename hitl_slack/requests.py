"""What an agent asks: the fields every kind of request shares, and the approval and question.

Pure: no Redis, no Slack. A request is stored as JSON in Redis and read back by the agent client,
the bot and the CLI. Every request carries a ``kind`` that says how it is decided; the kinds are
registered in :mod:`hitl_slack.kinds` (what a decision means, what the audit and the data set
record) and :mod:`hitl_slack.slack.kinds` (how Slack shows it). :class:`ApprovalRequest` and
:class:`QuestionRequest` are the kinds shipped; a further kind is a subclass of
:class:`RequestBase` with its own ``kind`` tag and fields. :mod:`hitl_slack.models` re-exports
every public name here.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from hitl_slack.errors import InvalidRequest
from hitl_slack.forms import MAX_OPTIONS, Form, Option
from hitl_slack.jsonvalues import canonical_json, check_json

__all__ = [
    "MAX_DETAILS_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_SUMMARY_CHARS",
    "MAX_TIMEOUT_SECONDS",
    "QUESTION_ACTION",
    "ApprovalRequest",
    "FrozenModel",
    "QuestionRequest",
    "RequestBase",
    "Risk",
    "Text",
    "is_person",
    "new_request_id",
    "normalize_tags",
    "utcnow",
]

#: Largest payload accepted, as canonical JSON (UTF-8). Slack can show far less; the rest is
#: kept in Redis and shown truncated with a marker.
MAX_PAYLOAD_BYTES = 64 * 1024
#: Longest wait a request may ask for (7 days). Longer waits belong to a ticket, not an agent.
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_DETAILS_CHARS = 20_000
MAX_SUMMARY_CHARS = 500
_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
_SLACK_CHANNEL_PATTERN = r"^[CGD][A-Z0-9]{2,30}$"
#: A Slack user id, or an email address (checked loosely: Slack's lookup is the judge).
_REQUESTED_BY_PATTERN = (
    r"(?:[UW][A-Z0-9]{2,30}|[^@\s<>|&]{1,64}@[^@\s<>|&]{1,190}\.[^@\s<>|&.]{1,63})"
)


class Risk(StrEnum):
    """How much harm the action can do; routes and policies match on it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def is_person(value: str) -> bool:
    """Whether ``value`` can be a request's ``requested_by``: a Slack user id or an email."""
    return re.fullmatch(_REQUESTED_BY_PATTERN, value) is not None


def new_request_id() -> str:
    """A fresh request id: ``req_`` and 26 hex digits of randomness (sortable by nothing)."""
    return "req_" + uuid.uuid4().hex[:26]


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC): the default of every timestamp field."""
    return datetime.now(UTC)


#: Text from an agent: a real ``str``, no bytes, numbers or bools coerced (pydantic itself
#: refuses lone surrogates in strings).
Text = Annotated[str, Strict()]


def _tags_tuple(tags: Any) -> tuple[Any, ...]:
    if isinstance(tags, str):
        return (tags,)
    if isinstance(tags, list | tuple):
        return tuple(tags)
    if isinstance(tags, set | frozenset):  # sorted, so equal sets make equal requests
        return tuple(sorted(tags)) if all(isinstance(t, str) for t in tags) else tuple(tags)
    raise ValueError(f"must be a string (one tag) or a list of strings, not {type(tags).__name__}")


def normalize_tags(tags: Any) -> tuple[str, ...]:
    """``tags`` as a tuple of strings: a bare string is ONE tag, never split into characters.

    Raises:
        InvalidRequest: ``tags`` is not a string or a list (tuple, set) of strings.
    """
    try:
        value = _tags_tuple(tags)
    except ValueError as exc:
        raise InvalidRequest(
            f"invalid approval request: tags: {exc}", [("tags", str(exc))]
        ) from None
    for i, tag in enumerate(value):
        if not isinstance(tag, str):
            msg = f"must be a string, not {type(tag).__name__}"
            raise InvalidRequest(f"invalid approval request: tags.{i}: {msg}", [(f"tags.{i}", msg)])
    return value


class FrozenModel(BaseModel):
    """What every stored model shares: immutable, unknown fields refused, text stripped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class RequestBase(FrozenModel):
    """The fields every kind of request shares: what is asked, by whom, how urgent, how long.

    A kind is a subclass that sets ``kind`` to its own tag (``kind: Literal["question"] =
    "question"``) and adds its fields; it is registered with :func:`hitl_slack.kinds.register`.
    ``action`` (what the agent is doing, a routing key) and ``payload`` (its arguments, what a
    human may edit) are shared so that routes, listings and the audit read every kind alike.

    Built by the client from keyword arguments and validated before anything is written; every
    bad argument is an :class:`InvalidRequest` naming the field, whatever its type:

    * text fields are real ``str`` (bytes, numbers and bools are refused, not coerced);
    * ``payload`` is a dict of plain JSON (str keys; no NaN, infinity, bytes, sets or objects;
      integers within 64 bits), at most :data:`MAX_PAYLOAD_DEPTH` levels deep and
      :data:`MAX_PAYLOAD_BYTES` as JSON;
    * ``tags``: a bare string is ONE tag (``tags="secret"`` is ``("secret",)``, never split
      into characters); otherwise a list, tuple or set of strings;
    * ``timeout``: a finite number of seconds (not a bool or a string), at most 7 days.
    """

    v: Literal[1] = 1
    #: The kind's tag: which model a stored request is read with (a subclass sets its own).
    kind: str
    id: Annotated[str, Field(pattern=_ID_PATTERN)] = Field(default_factory=new_request_id)
    summary: Annotated[Text, Field(min_length=1, max_length=MAX_SUMMARY_CHARS)]
    action: Annotated[Text, Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")]
    payload: dict[str, Any] = Field(default_factory=dict)
    details: Annotated[Text | None, Field(max_length=MAX_DETAILS_CHARS)] = None
    agent: Annotated[Text | None, Field(max_length=200)] = None
    risk: Risk = Risk.MEDIUM
    tags: Annotated[
        tuple[Annotated[Text, Field(min_length=1, max_length=64)], ...], Field(max_length=20)
    ] = ()
    route: Annotated[Text | None, Field(min_length=1, max_length=100)] = None
    channel: Annotated[Text | None, Field(pattern=_SLACK_CHANNEL_PATTERN)] = None
    timeout: Annotated[float, Strict()] = 300.0
    idempotency_key: Annotated[Text | None, Field(min_length=1, max_length=200)] = None
    created_at: datetime = Field(default_factory=utcnow)
    #: Whom the agent acts for: a Slack user id (``U0ALICE``) or an email the bot looks up
    #: (``users.lookupByEmail``) when it posts. Shown on the message; with the route's
    #: ``self_approval = false`` that person may not approve.
    requested_by: Annotated[Text | None, Field(max_length=254)] = None

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_is_plain_json(cls, payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
                f"must be a dict (a JSON object), not {type(payload).__name__}"
            )
        check_json(payload)
        return payload

    @field_validator("risk", mode="before")
    @classmethod
    def _risk_is_text(cls, risk: Any) -> Any:
        # Checked before the enum sees it: Enum() reprs its input (deep or odd objects fail).
        if not isinstance(risk, str):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
                f"must be 'low', 'medium', 'high' or 'critical', not a {type(risk).__name__}"
            )
        return risk

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_are_a_sequence(cls, tags: Any) -> tuple[Any, ...]:
        return _tags_tuple(tags)

    @field_validator("payload", mode="after")
    @classmethod
    def _payload_is_json(cls, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            text = canonical_json(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be JSON-serialisable ({exc})") from None
        size = len(text.encode())
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}")
        # Normalise to what JSON round-trips to (tuples become lists), keeping the key order.
        loaded: dict[str, Any] = json.loads(json.dumps(payload, ensure_ascii=False))
        return loaded

    @field_validator("timeout", mode="after")
    @classmethod
    def _timeout_in_range(cls, timeout: float) -> float:
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError("must be a positive number of seconds")
        if timeout > MAX_TIMEOUT_SECONDS:
            raise ValueError(f"must be at most {MAX_TIMEOUT_SECONDS} seconds (7 days)")
        return timeout

    @field_validator("requested_by", mode="after")
    @classmethod
    def _user_or_email(cls, value: str | None) -> str | None:
        if value is not None and not is_person(value):
            raise ValueError("must be a Slack user id (e.g. U0123ABCD) or an email address")
        return value

    @field_validator("created_at", mode="after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def deadline(self) -> datetime:
        """When the request expires if no one decides it."""
        return self.created_at + timedelta(seconds=self.timeout)


class ApprovalRequest(RequestBase):
    """A request for a human to approve, reject or edit an action an agent proposes.

    Every field is :class:`RequestBase`'s (see there for how each is validated), and two
    switches of the message's buttons: ``editable`` (default True) offers Edit, and a
    forged edit of a request that is not editable decides nothing; ``respond`` (default False)
    offers Respond: a person answers in the action's place with text (a decision of status
    ``answered``, the text in ``payload["answer"]``; the action does not run). A decision
    approves ``payload`` as it is or as a human edited it, or rejects it.
    """

    kind: Literal["approval"] = "approval"
    editable: Annotated[bool, Strict()] = True
    respond: Annotated[bool, Strict()] = False
    #: What an approver types to approve when the route asks for a typed confirmation
    #: (``typed_confirm``); without it, the action's name.
    confirm_text: Annotated[
        Text | None, Field(min_length=1, max_length=100, pattern=r"^[^\n\r`<>]+$")
    ] = None

    @property
    def confirmation(self) -> str:
        """The value an approver types to confirm: ``confirm_text``, else the action."""
        return self.confirm_text or self.action


#: The ``action`` of every question: routes match questions by ``kind``, never by action.
QUESTION_ACTION: Final = "question"


class QuestionRequest(RequestBase):
    """A question for a human: the ``summary`` is the question; it is answered, or declined.

    The answer is free text (no ``options``, no ``form``), one of ``options`` (several with
    ``multiple``), or a filled-in ``form`` (:class:`~hitl_slack.forms.Form`). ``payload`` is
    context shown with the question, never edited.
    """

    kind: Literal["question"] = "question"
    action: Literal["question"] = QUESTION_ACTION
    options: Annotated[tuple[Option, ...], Field(max_length=MAX_OPTIONS)] = ()
    multiple: Annotated[bool, Strict()] = False
    form: Form | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _options_from_strings(cls, options: Any) -> Any:
        """Plain strings are options whose label is their value."""
        if isinstance(options, str):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
                "must be a list of options, not one string"
            )
        if isinstance(options, list | tuple):
            return tuple({"value": o, "label": o} if isinstance(o, str) else o for o in options)
        return options

    @model_validator(mode="after")
    def _one_shape(self) -> QuestionRequest:
        if self.form is not None and self.options:
            raise ValueError("give options or a form, not both")
        if self.multiple and not self.options:
            raise ValueError("multiple=True needs options")
        values = [o.value for o in self.options]
        if len(set(values)) != len(values):
            raise ValueError("options must be distinct")
        return self

    @property
    def shape(self) -> Literal["text", "choice", "choices", "form"]:
        """How it is answered: free text, one option, several options, or a form."""
        if self.form is not None:
            return "form"
        if self.options:
            return "choices" if self.multiple else "choice"
        return "text"
