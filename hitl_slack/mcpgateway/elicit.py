"""Elicitation requests from the wrapped server, answered in Slack as questions.

The wrapped server's ``elicitation/create`` (form mode) becomes a question: its message is the
question, its requested schema the form (the flat subset of :mod:`hitl_slack.forms`, which is
MCP elicitation's), or, with no fields, a confirmation (one **Accept** button and Decline).
The answer maps back:

=====================  =====================================
the question           the elicitation result
=====================  =====================================
answered               ``accept``, with the form's values
declined               ``decline``
expired, cancelled     ``cancel``
=====================  =====================================

What Slack cannot ask is declined at once, with a logged reason, never left hanging: a schema
outside the subset, URL mode (a link for someone to open elsewhere), Redis unreachable.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Final

import anyio
from mcp import types
from mcp.client.session import ClientRequestContext

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.agent.questions import AsyncQuestionTicket
from hitl_slack.answers import Answer
from hitl_slack.errors import AlreadyDecided, InvalidRequest, StoreUnavailable
from hitl_slack.logs import get_logger
from hitl_slack.mcpgateway.holds import CANCEL_GRACE, Identity
from hitl_slack.requests import MAX_SUMMARY_CHARS

__all__ = ["ACCEPT", "Elicitations", "result_of"]

log = get_logger(__name__)

#: The one option of a confirmation (an elicitation without fields).
ACCEPT: Final = "Accept"


def result_of(answer: Answer[Any]) -> types.ElicitResult:
    """The elicitation result an answered, declined, expired or cancelled question means."""
    if answer.status == "answered":
        content = answer.answer if isinstance(answer.answer, dict) else {}
        return types.ElicitResult(
            action="accept", content={k: v for k, v in content.items() if v is not None}
        )
    if answer.status == "declined":
        return types.ElicitResult(action="decline")
    return types.ElicitResult(action="cancel")


def _has_fields(schema: dict[str, Any]) -> bool:
    return bool(schema.get("properties"))


@dataclass
class Elicitations:
    """The elicitation callback of the gateway's session with the wrapped server.

    ``identity`` is set once the wrapped server has introduced itself (it cannot elicit
    before the handshake).
    """

    hitl: AsyncHITLClient
    timeout: float
    identity: Identity | None = None

    async def __call__(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        """Ask the elicitation in Slack and wait for the answer (see the module's table)."""
        if not isinstance(params, types.ElicitRequestFormParams):
            return _declined("url mode is not asked in Slack (a link to open elsewhere)")
        try:
            ticket = await self._ask(params)
        except InvalidRequest as exc:
            return _declined(f"Slack cannot ask this: {exc}")
        except StoreUnavailable as exc:
            log.warning("elicitation_not_asked", reason=str(exc))
            return types.ElicitResult(action="cancel")
        log.info("elicitation_asked", request_id=ticket.request_id)
        try:
            answer = await ticket.wait()
        except StoreUnavailable as exc:
            log.warning("elicitation_lost", request_id=ticket.request_id, reason=str(exc))
            return types.ElicitResult(action="cancel")
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE):
                await self._withdraw(ticket)
            raise
        log.info("elicitation_answered", request_id=ticket.request_id, status=answer.status)
        return result_of(answer)

    async def _ask(self, params: types.ElicitRequestFormParams) -> AsyncQuestionTicket:
        identity = self.identity or Identity(agent="mcp-gateway", server="the wrapped server")
        message = params.message.strip() or "The MCP server asks for input"
        question = message if len(message) <= MAX_SUMMARY_CHARS else message[:499] + "…"
        fields: dict[str, Any] = {
            "details": (message + "\n\n" if question != message else "")
            + f"Asked by the MCP server {identity.server} through hitl-slack mcp-gateway.",
            "agent": identity.agent,
            "tags": identity.tags,
            "route": identity.route,
            "timeout": self.timeout,
        }
        schema = params.requested_schema
        if _has_fields(schema):
            return await self.hitl.submit_question(question, schema=schema, **fields)
        return await self.hitl.submit_question(question, options=[ACCEPT], **fields)

    async def _withdraw(self, ticket: AsyncQuestionTicket) -> None:
        """The wrapped server stopped waiting: cancel the question."""
        with contextlib.suppress(AlreadyDecided, StoreUnavailable):
            await self.hitl.cancel(ticket.request_id, reason="the MCP server stopped waiting")


def _declined(reason: str) -> types.ElicitResult:
    log.warning("elicitation_declined", reason=reason)
    return types.ElicitResult(action="decline")
