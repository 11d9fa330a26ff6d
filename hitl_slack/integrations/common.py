"""What the framework adapters share: one request per tool call, keyed by the call's id, and
what a decision that is not an approval tells the model.

A tool call is described framework-neutrally as a :class:`ToolCall`; :class:`ToolApproval`
says how it is asked about (the request's fields, each fixed or a function of the call);
:func:`call_key` makes the idempotency key that lets a re-run, or another process after a
restart, find the same Slack request; :func:`ask_all` / :func:`ask_all_sync` submit every call
of a batch first (so they appear in Slack together) and then wait for each decision. No
framework is imported here.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hitl_slack.agent.base import build_request
from hitl_slack.errors import InvalidRequest
from hitl_slack.models import Decision, Status, normalize_tags

if TYPE_CHECKING:
    from hitl_slack.agent.async_client import AsyncHITLClient
    from hitl_slack.agent.client import HITLClient

__all__ = [
    "ToolApproval",
    "ToolCall",
    "ask_all",
    "ask_all_sync",
    "call_key",
    "denial_message",
    "tool_approval",
]

#: Longest idempotency key a request takes; longer keys are hashed.
_KEY_LIMIT = 200


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool by a model, as every adapter sees it.

    Attributes:
        call_id: the framework's id for this call (stable across re-runs of the same history).
        name: the tool's name: the request's ``action`` (and so its routing key).
        args: the arguments the model proposed: the request's ``payload``.
    """

    call_id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolApproval:
    """How a tool call is asked about: the request's fields, each fixed or a function of the
    :class:`ToolCall` (``risk=lambda call: "high" if call.args["amount"] > 1000 else "low"``).

    The ``action`` is the tool's name, the ``payload`` its arguments and the
    ``idempotency_key`` comes from the call's id: those are not options.
    """

    summary: str | Callable[[ToolCall], str] | None = None
    details: str | Callable[[ToolCall], str] | None = None
    risk: str | Callable[[ToolCall], str] = "medium"
    route: str | None = None
    channel: str | None = None
    tags: tuple[str, ...] = field(default=())
    timeout: float = 300
    agent: str | None = None
    #: On whose behalf (a Slack user id or an email): the route's ``self_approval`` applies.
    requested_by: str | Callable[[ToolCall], str] | None = None
    #: What a typed confirmation asks the approver for (default: the tool's name).
    confirm_text: str | Callable[[ToolCall], str] | None = None

    def request(self, call: ToolCall, idempotency_key: str | None) -> dict[str, Any]:
        """Keyword arguments for ``client.submit`` asking about ``call``."""
        summary = _per_call(self.summary, call)
        return {
            "summary": f"Run {call.name}" if summary is None else summary,
            "action": call.name,
            "payload": call.args,
            "details": _per_call(self.details, call),
            "risk": _per_call(self.risk, call),
            "route": self.route,
            "channel": self.channel,
            "tags": self.tags,
            "timeout": self.timeout,
            "agent": self.agent,
            "idempotency_key": idempotency_key,
            "requested_by": _per_call(self.requested_by, call),
            "confirm_text": _per_call(self.confirm_text, call),
        }


def _per_call(value: Any, call: ToolCall) -> Any:
    return value(call) if callable(value) else value


def tool_approval(**fields: Any) -> ToolApproval:
    """A :class:`ToolApproval` from keyword arguments, with a clear error for a wrong one.

    Raises:
        InvalidRequest: a field that is not a request option (``action``, ``payload`` and
            ``idempotency_key`` come from the tool call), or tags that are not strings.
    """
    allowed = set(ToolApproval.__dataclass_fields__)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        msg = (
            f"not a request option here (use {', '.join(sorted(allowed))}; action, payload "
            "and idempotency_key come from the tool call)"
        )
        raise InvalidRequest(
            f"invalid approval request: {', '.join(unknown)}: {msg}", [(n, msg) for n in unknown]
        )
    if "tags" in fields:
        fields["tags"] = normalize_tags(fields["tags"])
    return ToolApproval(**fields)


def call_key(framework: str, call_id: str, scope: str | None = None) -> str:
    """The idempotency key of a tool call's request: ``framework:scope:call_id``.

    ``scope`` (a run's id) keeps calls of different runs apart when a model reuses call ids;
    a key longer than a request takes is replaced by its sha256.
    """
    key = ":".join(part for part in (framework, scope, call_id) if part)
    if len(key) <= _KEY_LIMIT:
        return key
    return f"{framework}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def denial_message(decision: Decision) -> str:
    """What the model is told about a tool call that was not approved (it did not run)."""
    reason = f": {decision.reason}" if decision.reason else ""
    if decision.status is Status.REJECTED:
        return f"A human reviewer rejected this tool call{reason or ' (no reason given)'}."
    if decision.status is Status.EXPIRED:
        return "No human approved this tool call in time, so it was not run."
    if decision.status is Status.CANCELLED:
        return f"The approval request for this tool call was cancelled{reason}; it was not run."
    raise ValueError(f"an approval is not a denial: {decision.request_id}")


def _checked(requests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every request validated before any is written: one bad call leaves none waiting."""
    checked = list(requests)
    for request in checked:
        build_request(**request)
    return checked


async def ask_all(client: AsyncHITLClient, requests: Sequence[dict[str, Any]]) -> list[Decision]:
    """Submit every request, then wait for all of them: the decisions, in order.

    Raises:
        InvalidRequest: a request is invalid (then none was submitted).
    """
    tickets = [await client.submit(**request) for request in _checked(requests)]
    return list(await asyncio.gather(*(ticket.wait() for ticket in tickets)))


def ask_all_sync(client: HITLClient, requests: Iterable[dict[str, Any]]) -> list[Decision]:
    """:func:`ask_all` for the blocking client (each wait is for a request already posted)."""
    tickets = [client.submit(**request) for request in _checked(requests)]
    return [ticket.wait() for ticket in tickets]
