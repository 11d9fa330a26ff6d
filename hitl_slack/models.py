"""The data that crosses process boundaries: requests, decisions, audit events.

Pure: no Redis, no Slack. Every model here is what is stored in Redis (as JSON) and what the
agent client, the bot and the CLI read back, so each carries a schema version ``v`` and every
parse goes through pydantic, whatever process wrote the entry.

A request has a ``kind``. Only ``"approval"`` exists today; questions (free text, a choice among
options, a form from a schema) will be further kinds in the same discriminated union, deciding
with a :class:`Decision` that carries an ``answer``.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from hitl_slack.errors import InvalidRequest
from hitl_slack.jsonvalues import (
    MAX_PAYLOAD_DEPTH,
    canonical_json,
    check_json,
    digest,
    lenient,
    validation_message,
)
from hitl_slack.policy import Policy

__all__ = [
    "MAX_DETAILS_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "MAX_TIMEOUT_SECONDS",
    "ApprovalRequest",
    "AuditEvent",
    "AuditEventType",
    "Decision",
    "MessageRef",
    "RequestState",
    "Risk",
    "Status",
    "canonical_json",
    "check_json",
    "digest",
    "lenient",
    "new_request_id",
    "normalize_tags",
    "validation_message",
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


class Risk(StrEnum):
    """How much harm the action can do; routes and policies match on it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Status(StrEnum):
    """Where a request stands. Every status but ``PENDING`` is final."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


def new_request_id() -> str:
    """A fresh request id: ``req_`` and 26 hex digits of randomness (sortable by nothing)."""
    return "req_" + uuid.uuid4().hex[:26]


def _utcnow() -> datetime:
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


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ApprovalRequest(_Model):
    """A request for a human to approve, reject or edit an action an agent proposes.

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
    kind: Literal["approval"] = "approval"
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
    created_at: datetime = Field(default_factory=_utcnow)

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

    @field_validator("created_at", mode="after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def deadline(self) -> datetime:
        """When the request expires if no one decides it."""
        return self.created_at + timedelta(seconds=self.timeout)


class Decision(_Model):
    """The outcome of a request: what the waiting agent gets back.

    Attributes:
        status: ``approved``, ``rejected``, ``expired`` or ``cancelled``.
        payload: the final arguments (the edited ones if a human edited them).
        edited: whether a human changed the payload.
        reason: the reviewer's (or canceller's) rationale, if any.
        decided_by: Slack user ids; empty when a policy, the clock or the agent decided.
    """

    v: Literal[1] = 1
    request_id: str
    status: Literal[Status.APPROVED, Status.REJECTED, Status.EXPIRED, Status.CANCELLED]
    payload: dict[str, Any] = Field(default_factory=dict)
    edited: bool = False
    reason: Annotated[str | None, Field(max_length=3000)] = None
    decided_by: tuple[str, ...] = ()
    decided_at: datetime = Field(default_factory=_utcnow)

    @property
    def approved(self) -> bool:
        """True only for an approval."""
        return self.status is Status.APPROVED


class MessageRef(_Model):
    """Where the approval message lives in Slack.

    The policy it was posted under is the request's own (:attr:`RequestState.policy`); records
    written before policy snapshots existed also held it here, and are read with
    :func:`hitl_slack.policy.legacy`.
    """

    channel: str
    ts: str
    #: A warning shown on the message (e.g. that it went to the default channel).
    note: str | None = None
    #: Set when a post attempt's outcome was unknown: other copies of the message, posted after
    #: this time, may exist; the decision looks for them and updates them too.
    copies_since: datetime | None = None


class RequestState(_Model):
    """A request as stored, with its status, decision, policy and Slack message once known.

    Attributes:
        deadline: the deadline in force, by Redis' clock: the request's own, or earlier once a
            policy capped it (see :func:`hitl_slack.policy.deadline`).
        created: when it was created, by Redis' clock; for requests written by agents older
            than this field, the deadline less the timeout (exact until a policy capped it).
        policy: the policy snapshot it is decided by, once the bot routed and posted it.
    """

    request: ApprovalRequest
    status: Status
    decision: Decision | None = None
    message: MessageRef | None = None
    deadline: datetime | None = None
    created: datetime | None = None
    policy: Policy | None = None

    @property
    def effective_deadline(self) -> datetime:
        """The deadline in force: the stored one, else the request's own."""
        return self.deadline or self.request.deadline

    @property
    def created_at(self) -> datetime:
        """When the request was created, by Redis' clock when known."""
        if self.created is not None:
            return self.created
        if self.deadline is not None:
            return self.deadline - timedelta(seconds=self.request.timeout)
        return self.request.created_at

    @model_validator(mode="after")
    def _decided_iff_final(self) -> RequestState:
        if (self.status is Status.PENDING) != (self.decision is None):
            raise ValueError("a decision is stored exactly when the status is final")
        return self

    @property
    def pending(self) -> bool:
        """True while no decision stands."""
        return self.status is Status.PENDING


AuditEventType = Literal[
    "created",
    "queued",
    "posted",
    "approved",
    "rejected",
    "edited",
    "expired",
    "cancelled",
    "escalated",
    "reminded",
    "unauthorized",
    "error",
]


class AuditEvent(_Model):
    """One entry of the audit trail (the body that the hash chain covers)."""

    v: Literal[1] = 1
    ts: datetime = Field(default_factory=_utcnow)
    event: AuditEventType
    request_id: str
    actor: str
    args_digest: str | None = None
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    #: Digest of the policy snapshot a decision was judged by (:meth:`Policy.digest`); the
    #: ``posted`` entry carries the policy itself under ``data["policy"]``.
    policy_digest: str | None = None

    def body(self) -> str:
        """The canonical JSON the chain hashes."""
        # An event judged by no policy keeps the body earlier versions wrote.
        unset = {"policy_digest"} if self.policy_digest is None else None
        return canonical_json(self.model_dump(mode="json", exclude=unset))
