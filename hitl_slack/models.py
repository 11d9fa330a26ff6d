"""The data that crosses process boundaries: requests, decisions, audit events.

Pure: no Redis, no Slack. Every model here is what is stored in Redis (as JSON) and what the
agent client, the bot and the CLI read back, so each carries a schema version ``v`` and every
parse goes through pydantic, whatever process wrote the entry.

A request has a ``kind``: :data:`Request` is the union of the kinds, discriminated on it:
``"approval"`` (:class:`ApprovalRequest`) and ``"question"`` (:class:`QuestionRequest`: free
text, a choice among options, or a form), both defined with the fields every kind shares in
:mod:`hitl_slack.requests` and registered in :mod:`hitl_slack.kinds`. A question is decided
with a :class:`Decision` of status ``answered`` whose payload carries the ``answer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, NamedTuple, TypeAlias

from pydantic import (
    Field,
    SerializeAsAny,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from hitl_slack.jsonvalues import (
    MAX_PAYLOAD_DEPTH,
    canonical_json,
    check_json,
    digest,
    lenient,
    validation_message,
)
from hitl_slack.policy import Policy
from hitl_slack.requests import (
    MAX_DETAILS_CHARS,
    MAX_PAYLOAD_BYTES,
    MAX_SUMMARY_CHARS,
    MAX_TIMEOUT_SECONDS,
    ApprovalRequest,
    QuestionRequest,
    RequestBase,
    Risk,
    new_request_id,
    normalize_tags,
    utcnow,
)
from hitl_slack.requests import FrozenModel as _Model

__all__ = [
    "MAX_DETAILS_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "MAX_SUMMARY_CHARS",
    "MAX_TIMEOUT_SECONDS",
    "OUTCOME_WORDS",
    "ApprovalRequest",
    "AuditEvent",
    "AuditEventType",
    "Decision",
    "MessageRef",
    "Outcome",
    "QuestionRequest",
    "Request",
    "RequestBase",
    "RequestState",
    "Risk",
    "Status",
    "Vote",
    "canonical_json",
    "check_json",
    "digest",
    "lenient",
    "new_request_id",
    "normalize_tags",
    "validation_message",
]


class Status(StrEnum):
    """Where a request stands. Every status but ``PENDING`` is final."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: A question's answer (an approval is never answered, a question never approved).
    ANSWERED = "answered"


class Outcome(NamedTuple):
    """How a final status is said: the one status-to-words table is :data:`OUTCOME_WORDS`."""

    emoji: str
    word: str

    @property
    def verb(self) -> str:
        """The word as a past participle in a sentence: "already *approved*"."""
        return self.word.lower()


#: How each final status is shown to people (messages, notices, listings).
OUTCOME_WORDS: Final[Mapping[Status, Outcome]] = MappingProxyType(
    {
        Status.APPROVED: Outcome("✅", "Approved"),
        Status.REJECTED: Outcome("❌", "Rejected"),
        Status.EXPIRED: Outcome("⌛", "Expired"),
        Status.CANCELLED: Outcome("🚫", "Cancelled"),
        Status.ANSWERED: Outcome("💬", "Answered"),
    }
)

#: Every kind of request this package ships, discriminated on ``kind``. Kinds registered at
#: run time with :func:`hitl_slack.kinds.register` are accepted too: see
#: :attr:`RequestState.request`.
Request: TypeAlias = ApprovalRequest | QuestionRequest


def _registered_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a request with the model of its ``kind``, whichever kinds are registered."""
    if type(value) is ApprovalRequest or type(value) is QuestionRequest:
        return handler(value)
    # Imported here, not at the top: the kinds in the registry are built on this module.
    from hitl_slack import kinds

    return kinds.validate(value)


class Vote(_Model):
    """One approver's vote on a request decided by several (a quorum, or no veto).

    Attributes:
        who: the Slack user id.
        what: ``approve`` or ``reject``.
        at: when it was cast.
        args_digest: the digest of the arguments the vote is for (:func:`digest`): an edit
            changes them, and votes for other arguments no longer count.
        reason: a rejection's reason.
    """

    v: Literal[1] = 1
    who: str
    what: Literal["approve", "reject"]
    at: datetime = Field(default_factory=utcnow)
    args_digest: str
    reason: Annotated[str | None, Field(max_length=3000)] = None


class Decision(_Model):
    """The outcome of a request: what the waiting agent gets back.

    Attributes:
        status: ``approved``, ``rejected``, ``expired`` or ``cancelled``; a question's
            ``answered`` (or ``rejected``: declined).
        payload: the final arguments (the edited ones if a human edited them); a question's
            answer is ``payload["answer"]`` (see :class:`hitl_slack.answers.Answer`).
        edited: whether a human changed the payload.
        reason: the reviewer's (or canceller's) rationale, if any.
        decided_by: Slack user ids; empty when a policy, the clock or the agent decided.
            Under a quorum, every approver whose vote counted, in the order they voted.
        votes: under a quorum (or without veto), the votes that counted for the arguments
            decided, in order.
    """

    v: Literal[1] = 1
    request_id: str
    status: Literal[
        Status.APPROVED, Status.REJECTED, Status.EXPIRED, Status.CANCELLED, Status.ANSWERED
    ]
    payload: dict[str, Any] = Field(default_factory=dict)
    edited: bool = False
    reason: Annotated[str | None, Field(max_length=3000)] = None
    decided_by: tuple[str, ...] = ()
    decided_at: datetime = Field(default_factory=utcnow)
    votes: tuple[Vote, ...] = ()

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
        request: the request, of any registered kind: validated by its kind's model (the type
            names the kinds this package ships, :data:`Request`).
        deadline: the deadline in force, by Redis' clock: the request's own, or earlier once a
            policy capped it (see :func:`hitl_slack.policy.deadline`).
        created: when it was created, by Redis' clock; for requests written by agents older
            than this field, the deadline less the timeout (exact until a policy capped it).
        policy: the policy snapshot it is decided by, once the bot routed and posted it.
        votes: the votes cast so far (a quorum, or no veto), in order, whatever arguments
            they were for.
        proposed: the arguments as an approver edited them while votes are still needed
            (None: the request's own); votes count for these.
        level: the escalation levels reached (0: none).
        reminded: the reminders sent (0: none).
        copies: the other messages that show the request (escalation channels, DMs); each
            decides the same request and is updated with the decision.
    """

    request: SerializeAsAny[Annotated[Request, WrapValidator(_registered_kind)]]
    status: Status
    decision: Decision | None = None
    message: MessageRef | None = None
    deadline: datetime | None = None
    created: datetime | None = None
    policy: Policy | None = None
    votes: tuple[Vote, ...] = ()
    proposed: dict[str, Any] | None = None
    level: int = 0
    reminded: int = 0
    copies: tuple[MessageRef, ...] = ()

    @property
    def arguments(self) -> dict[str, Any]:
        """The arguments being decided: as edited while votes are needed, else the request's."""
        return self.proposed if self.proposed is not None else self.request.payload

    @property
    def proposed_request(self) -> RequestBase:
        """The request with :attr:`arguments` as its payload (what an edit form starts from)."""
        if self.proposed is None:
            return self.request
        return self.request.model_copy(update={"payload": self.proposed})

    @property
    def args_digest(self) -> str:
        """The digest of :attr:`arguments`: what a vote must be for to count."""
        return digest(self.arguments)

    def counted(self) -> tuple[Vote, ...]:
        """The votes that count: the first of each person, for the current arguments."""
        current, seen, kept = self.args_digest, set[str](), []
        for vote in self.votes:
            if vote.args_digest == current and vote.who not in seen:
                seen.add(vote.who)
                kept.append(vote)
        return tuple(kept)

    def approvals(self) -> tuple[Vote, ...]:
        """The counted approvals, in order."""
        return tuple(v for v in self.counted() if v.what == "approve")

    def rejections(self) -> tuple[Vote, ...]:
        """The counted rejections, in order."""
        return tuple(v for v in self.counted() if v.what == "reject")

    def messages(self) -> tuple[MessageRef, ...]:
        """Every message showing the request: the recorded one first, then the copies."""
        return ((self.message,) if self.message is not None else ()) + self.copies

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
    "answered",
    "expired",
    "cancelled",
    "voted",
    "escalated",
    "reminded",
    "unauthorized",
    "error",
]


class AuditEvent(_Model):
    """One entry of the audit trail (the body that the hash chain covers)."""

    v: Literal[1] = 1
    ts: datetime = Field(default_factory=utcnow)
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
