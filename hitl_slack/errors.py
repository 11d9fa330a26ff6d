"""Every error hitl_slack raises, under one root.

::

    HITLError
    ├── InvalidRequest            (also ValueError) a request failed validation; names the field
    ├── ConfigError               (also ValueError) settings or routes file are wrong; names where
    ├── StoreUnavailable          Redis could not be reached or answered with an error
    │   └── NotReplicated         a decision was not confirmed by HITL_REDIS_MIN_REPLICAS replicas
    ├── RequestNotFound           (also KeyError) no request with that id (or retention ended)
    ├── AlreadyDecided            a decision was already written; carries it
    ├── WaitTimeout               (also TimeoutError) a wait ended before the request was decided
    ├── ApprovalDenied            raised by ``@require_approval`` when the call was not approved
    └── SlackError                a Slack Web API call failed for good (after retries)

Outcomes are values, failures are exceptions: a rejection is a :class:`~hitl_slack.models.Decision`,
only the decorator turns it into :class:`ApprovalDenied` because a gated function cannot return
normally without running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hitl_slack.models import Decision

__all__ = [
    "AlreadyDecided",
    "ApprovalDenied",
    "ConfigError",
    "HITLError",
    "InvalidRequest",
    "NotReplicated",
    "RequestNotFound",
    "SlackError",
    "StoreUnavailable",
    "WaitTimeout",
]


class HITLError(Exception):
    """Root of every error raised by hitl_slack."""


class InvalidRequest(HITLError, ValueError):
    """A request (from an agent or a Redis entry) failed validation.

    Attributes:
        errors: one ``(location, message)`` pair per problem, e.g. ``("payload", "is not JSON")``.
    """

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class ConfigError(HITLError, ValueError):
    """Settings or the routes file are invalid; the message names the variable, rule and field."""


class StoreUnavailable(HITLError):
    """Redis could not be reached (within the connect timeout) or failed the command."""


class NotReplicated(StoreUnavailable):
    """A decision was written on the primary but fewer than ``HITL_REDIS_MIN_REPLICAS`` replicas
    confirmed it in time: it was not announced, and a failover now could lose it."""


class RequestNotFound(HITLError, KeyError):
    """No request with this id exists (never created, or removed after its retention)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id

    def __str__(self) -> str:
        return f"no request with id {self.request_id!r}"


class AlreadyDecided(HITLError):
    """A decision already stands for this request; the first one wins.

    Attributes:
        decision: the decision that stands.
    """

    def __init__(self, decision: Decision) -> None:
        who = ", ".join(decision.decided_by) or "policy"
        super().__init__(
            f"request {decision.request_id} is already {decision.status} "
            f"(by {who} at {decision.decided_at.isoformat()})"
        )
        self.decision = decision


class WaitTimeout(HITLError, TimeoutError):
    """A wait returned before the request was decided; the request is still pending."""

    def __init__(self, request_id: str, timeout: float) -> None:
        super().__init__(f"request {request_id} still pending after waiting {timeout:g}s")
        self.request_id = request_id
        self.timeout = timeout


class ApprovalDenied(HITLError):
    """A gated call was rejected, expired or cancelled; carries the decision and its reason."""

    def __init__(self, decision: Decision) -> None:
        msg = f"{decision.request_id} was {decision.status}"
        if decision.reason:
            msg += f": {decision.reason}"
        super().__init__(msg)
        self.decision = decision

    @property
    def reason(self) -> str | None:
        """The reviewer's rationale, if one was given."""
        return self.decision.reason


class SlackError(HITLError):
    """A Slack Web API call failed after the retries allowed for its kind of failure."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error
