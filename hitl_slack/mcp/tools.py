"""What the approval tools do, over the real :class:`~hitl_slack.AsyncHITLClient`.

No MCP SDK here: :mod:`hitl_slack.mcp.server` adapts these to tools (arguments, the caller's
scope, progress, the result's wire form). Every outcome is an
:class:`~hitl_slack.mcp.results.ApprovalResult`; the errors this package raises become ``error``
results naming what went wrong, never an approval (anything else is the SDK's error result).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.agent.questions import build_question
from hitl_slack.errors import (
    AlreadyDecided,
    HITLError,
    InvalidRequest,
    RequestNotFound,
    StoreUnavailable,
)
from hitl_slack.logs import get_logger
from hitl_slack.mcp.elicit import ANSWERED_IN_CLIENT, Elicit, answer_from, schema_for
from hitl_slack.mcp.hold import Report, hold
from hitl_slack.mcp.results import ApprovalResult, decided, failed, pending
from hitl_slack.mcp.trust import Identity, Scope
from hitl_slack.models import QuestionRequest, RequestState, Status

__all__ = ["ApprovalTools", "Ask", "Question"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Ask:
    """A ``request_approval`` call's arguments: everything the model may choose."""

    summary: str
    action: str
    arguments: dict[str, Any] | None = None
    risk: str | None = None
    details: str | None = None
    timeout_s: float | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Question:
    """An ``ask_human`` call's arguments."""

    question: str
    options: list[str] | None = None
    multiple: bool = False
    schema: dict[str, Any] | None = None
    timeout_s: float | None = None
    idempotency_key: str | None = None


class ApprovalTools:
    """The tools' logic: file a request, hold for its decision, cancel it.

    Args:
        client: the agent client every request is filed and waited with.
        identity: what the configuration fixes (agent, tags, route, the risk floor).
        hold_s: seconds one call holds before it returns ``pending`` (``HITL_MCP_HOLD``).
        default_timeout: a request's timeout when the call gives none (``HITL_MCP_TIMEOUT``).
        max_timeout: the longest timeout a call may ask for (``HITL_MCP_MAX_TIMEOUT``).
    """

    def __init__(
        self,
        client: AsyncHITLClient,
        identity: Identity,
        *,
        hold_s: float,
        default_timeout: float,
        max_timeout: float,
        ask_mode: str = "slack",
    ) -> None:
        self.client = client
        self.ask_mode = ask_mode
        self.identity = identity
        self.hold_s = hold_s
        self.default_timeout = default_timeout
        self.max_timeout = max_timeout

    async def request(self, scope: Scope, ask: Ask, report: Report) -> ApprovalResult:
        """File an approval request (or re-attach to this scope's one with the same
        idempotency key) and hold for its decision."""
        timeout = min(ask.timeout_s or self.default_timeout, self.max_timeout)
        fields = self.identity.fields(
            risk=ask.risk, timeout=timeout, idempotency_key=scope.key(ask.idempotency_key)
        )
        try:
            ticket = await self.client.submit(
                ask.summary, ask.action, ask.arguments, details=ask.details, **fields
            )
        except InvalidRequest as exc:
            return failed(f"the request was not filed: {_without_scope(str(exc), scope)}")
        except StoreUnavailable as exc:
            return failed(f"the request was not filed: Redis is unavailable ({exc})")
        log.info("mcp_request_filed", request_id=ticket.request_id, action=ask.action)
        return await self._hold(ticket.request_id, report)

    async def ask(
        self, scope: Scope, q: Question, report: Report, elicit: Elicit | None = None
    ) -> ApprovalResult:
        """File a question (or re-attach to this scope's one with the same idempotency key)
        and hold for its answer: in Slack, or (``ask_mode`` client / both, ``elicit`` given:
        the client offers elicitation) from the MCP client's user, the first answer winning.
        Either way the question and its answer are in Redis and the trail."""
        if elicit is not None and self.ask_mode == "client":
            return await self._ask_client(scope, q, elicit)
        timeout = min(q.timeout_s or self.default_timeout, self.max_timeout)
        fields = self.identity.fields(
            risk=None, timeout=timeout, idempotency_key=scope.key(q.idempotency_key)
        )
        try:
            ticket = await self.client.submit_question(
                q.question, options=q.options, multiple=q.multiple, schema=q.schema, **fields
            )
        except InvalidRequest as exc:
            return failed(f"the question was not asked: {_without_scope(str(exc), scope)}")
        except StoreUnavailable as exc:
            return failed(f"the question was not asked: Redis is unavailable ({exc})")
        log.info("mcp_question_filed", request_id=ticket.request_id)
        if elicit is not None and self.ask_mode == "both":
            return await self._race(ticket.request_id, q, report, elicit)
        return await self._hold(ticket.request_id, report, question=True)

    async def _ask_client(self, scope: Scope, q: Question, elicit: Elicit) -> ApprovalResult:
        """Only the client's user is asked; the question is filed once answered (for the
        trail), decided by that answer at once."""
        try:
            request = build_question(
                q.question, options=q.options, multiple=q.multiple, schema=q.schema
            )
        except InvalidRequest as exc:
            return failed(f"the question was not asked: {exc}")
        try:
            action, content = await elicit(q.question, schema_for(request, q.schema))
        except Exception as exc:  # the client failed to ask: say so, never an answer
            log.warning("mcp_elicitation_failed", error=type(exc).__name__)
            return failed(f"the MCP client could not ask its user ({type(exc).__name__})")
        fields = self.identity.fields(
            risk=None, timeout=self.default_timeout, idempotency_key=scope.key(q.idempotency_key)
        )
        ticket = await self.client.submit_question(
            q.question, options=q.options, multiple=q.multiple, schema=q.schema, **fields
        )
        return await self._settle_elicited(ticket.request_id, request, action, content)

    async def _race(
        self, request_id: str, q: Question, report: Report, elicit: Elicit
    ) -> ApprovalResult:
        """Slack and the client's user, at once; the first answer wins. A decline in the
        client is not an answer: Slack may still answer."""
        state = await self.client.get(request_id)
        if state.decision is not None:
            return decided(state.decision, question=True)
        assert isinstance(state.request, QuestionRequest)
        asking = asyncio.create_task(elicit(q.question, schema_for(state.request, q.schema)))
        holding = asyncio.create_task(self._hold(request_id, report, question=True))
        try:
            done, _ = await asyncio.wait({asking, holding}, return_when=asyncio.FIRST_COMPLETED)
            if asking in done and not asking.exception():
                action, content = asking.result()
                if action == "accept":
                    holding.cancel()
                    return await self._settle_elicited(request_id, state.request, action, content)
            return await holding
        finally:
            for task in (asking, holding):
                task.cancel()
            await asyncio.gather(asking, holding, return_exceptions=True)

    async def _settle_elicited(
        self, request_id: str, request: QuestionRequest, action: str, content: Any
    ) -> ApprovalResult:
        """Record the client's answer as the question's decision (unless one stands)."""
        answer, fits = answer_from(request, content)
        if action == "accept" and fits:
            status, payload, reason = Status.ANSWERED, {"answer": answer}, ANSWERED_IN_CLIENT
        elif action == "accept":
            status, payload, reason = Status.CANCELLED, None, "the client's answer did not fit"
        elif action == "decline":
            status, payload, reason = Status.REJECTED, None, "declined in the MCP client"
        else:
            status, payload, reason = Status.CANCELLED, None, "dismissed in the MCP client"
        try:
            decision = await self.client.store.decide(
                request_id, status, payload=payload, reason=reason, actor="mcp-client"
            )
        except AlreadyDecided as exc:
            decision = exc.decision
        except HITLError as exc:
            return failed(f"could not record the answer to {request_id}: {exc}", request_id)
        log.info("mcp_question_elicited", request_id=request_id, status=decision.status.value)
        return decided(decision, question=True)

    async def await_decision(self, scope: Scope, request_id: str, report: Report) -> ApprovalResult:
        """Hold again for a request (or question) this scope filed."""
        found = await self._owned(scope, request_id)
        if isinstance(found, ApprovalResult):
            return found
        question = found.request.kind == "question"
        if found.decision is not None:
            return decided(found.decision, question=question)
        return await self._hold(request_id, report, question=question)

    async def cancel(self, scope: Scope, request_id: str, reason: str | None) -> ApprovalResult:
        """Withdraw a pending request this scope filed."""
        found = await self._owned(scope, request_id)
        if isinstance(found, ApprovalResult):
            return found
        try:
            decision = await self.client.cancel(request_id, reason=reason)
        except AlreadyDecided as exc:
            stands = exc.decision
            who = f" by {', '.join(stands.decided_by)}" if stands.decided_by else ""
            return failed(
                f"request {request_id} was already {stands.status.value}{who}; nothing was "
                "cancelled",
                request_id,
            )
        except HITLError as exc:
            return failed(f"could not cancel {request_id}: {exc}", request_id)
        log.info("mcp_request_cancelled", request_id=request_id)
        return decided(decision, question=found.request.kind == "question")

    async def _owned(self, scope: Scope, request_id: str) -> RequestState | ApprovalResult:
        """The request's state if this scope filed it; otherwise the same error as for an id
        that does not exist (another caller's requests are not even confirmed to exist)."""
        try:
            state = await self.client.get(request_id)
        except RequestNotFound:
            state = None
        except HITLError as exc:
            return failed(f"could not read {request_id}: {exc}", request_id)
        if state is None or not scope.owns(state.request):
            where = "this MCP session" if scope.session else "this MCP server"
            return failed(f"no request {request_id!r} was filed through {where}", request_id)
        return state

    async def _hold(
        self, request_id: str, report: Report, *, question: bool = False
    ) -> ApprovalResult:
        try:
            decision = await hold(self.client, request_id, self.hold_s, report)
            if decision is None:
                state = await self.client.get(request_id)
                if state.decision is None:
                    return pending(request_id, state.effective_deadline)
                decision = state.decision
        except RequestNotFound:
            return failed(f"request {request_id} is gone (its retention ended, or Redis lost it)")
        except StoreUnavailable as exc:
            return failed(
                f"Redis is unavailable ({exc}); the request stays open: call await_decision "
                "again later",
                request_id,
            )
        except HITLError as exc:
            return failed(f"could not wait for {request_id}: {exc}", request_id)
        log.info("mcp_decision_returned", request_id=request_id, status=decision.status.value)
        return decided(decision, question=question)


def _without_scope(message: str, scope: Scope) -> str:
    """An error about the idempotency key names the caller's key, not the stored one."""
    return message.replace(f"{scope.tag}:", "")
