"""The MCP server: the approval tools on the official SDK's :class:`MCPServer`.

Tools (each returns an :class:`~hitl_slack.mcp.results.ApprovalResult` as structured content,
with a text rendering beside it):

* ``request_approval`` files a request with the real :class:`~hitl_slack.AsyncHITLClient` and
  holds for the decision (at most ``HITL_MCP_HOLD`` seconds, then ``pending``);
* ``await_decision`` holds again for a request the caller filed;
* ``cancel_request`` withdraws one.

What the model may not choose (agent, tags, route, the risk floor) comes from
:class:`~hitl_slack.mcp.settings.McpSettings`; which requests a caller reaches is its
:class:`~hitl_slack.mcp.trust.Scope` (the server in stdio mode, the MCP session in HTTP mode).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import (
    CallToolResult,
    ClientCapabilities,
    ElicitationCapability,
    TextContent,
    ToolAnnotations,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from hitl_slack import __version__
from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.mcp.elicit import Elicit, Elicited
from hitl_slack.mcp.hold import Report
from hitl_slack.mcp.results import ApprovalResult, failed, render
from hitl_slack.mcp.settings import McpSettings
from hitl_slack.mcp.tools import ApprovalTools, Ask, Question
from hitl_slack.mcp.trust import MAX_KEY_CHARS, Identity, Scope
from hitl_slack.models import MAX_DETAILS_CHARS, MAX_SUMMARY_CHARS

__all__ = ["INSTRUCTIONS", "build_server"]

#: What the server tells the model about itself (sent at connection).
INSTRUCTIONS = (
    "Ask a human in Slack before a consequential action. Call request_approval with what you "
    "are about to do; act only when the result's approved is true, and then with the result's "
    "arguments (a human may have edited them). When the status is pending, call await_decision "
    "with the request_id to keep waiting. Rejected, expired, cancelled and error are never an "
    "approval: do not perform the action. To ask a human a question (free text, a choice, a "
    "form), call ask_human; use its answer only when the status is answered."
)

#: The header that names the MCP session on streamable HTTP (handshake protocol revisions).
SESSION_HEADER = "mcp-session-id"

_REQUEST_ID = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="the id a result gave")
Tool = Annotated[CallToolResult, ApprovalResult]
Ctx = Context[ApprovalTools, Any]


def _as_tool_result(result: ApprovalResult) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=render(result))],
        structured_content=result.model_dump(mode="json"),
        is_error=result.status == "error",
    )


def _scope(ctx: Ctx, agent: str, *, http: bool) -> Scope | None:
    """The caller's scope; None for an HTTP call outside an MCP session (it reaches nothing).

    On the handshake protocol revisions the SDK's session manager routes a request by its
    session header, so the header names the session the call runs in; the per-request
    revisions (2026-07-28) have no session, and their header would prove nothing.
    """
    if not http:
        return Scope(agent)
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return None
    headers: Mapping[str, str] = ctx.headers or {}
    session = headers.get(SESSION_HEADER)
    return Scope(agent, session) if session else None


#: What each tool tells the model it does.
_DESCRIPTIONS = {
    "request_approval": "Ask a human in Slack to approve an action before you perform it, and "
    "wait for the decision. Act only if approved is true, and then with the returned arguments "
    "(a human may have edited them). If the status is pending, call await_decision with the "
    "request_id.",
    "await_decision": "Keep waiting for the decision on a request you filed with "
    "request_approval. Call it again while the status is pending; act only if approved is true.",
    "cancel_request": "Withdraw a pending request you filed (for example, when the action is no "
    "longer needed). A request already decided stays decided.",
    "ask_human": "Ask a human in Slack a question and wait for the answer: free text (no "
    "options), one of options, several (multiple=true), or a form (schema: a flat JSON Schema "
    "object of string, number, integer, boolean and enum fields). Use the answer only when the "
    "status is answered. If the status is pending, call await_decision with the request_id to "
    "keep waiting. Never ask a question to get an approval: use request_approval for that.",
}

_NO_SESSION = (
    "this server files requests per MCP session and this call came without one: connect over "
    "streamable HTTP with a session (MCP protocol 2025-11-25 or earlier)"
)


def build_server(settings: McpSettings, *, http: bool = False) -> MCPServer[ApprovalTools]:
    """The server with its tools; its lifespan opens (and closes) one agent client.

    Args:
        settings: Redis, the trusted request fields, the hold.
        http: the server runs on streamable HTTP (calls are scoped per MCP session).
    """
    identity = Identity(
        agent=settings.agent,
        tags=settings.hitl_mcp_tags,
        route=settings.hitl_mcp_route,
        min_risk=settings.hitl_mcp_min_risk,
        requested_by=settings.requested_by,
    )

    @asynccontextmanager
    async def lifespan(_: MCPServer[ApprovalTools]) -> AsyncIterator[ApprovalTools]:
        client = AsyncHITLClient(**_client_options(settings))
        try:
            yield ApprovalTools(
                client,
                identity,
                hold_s=settings.hitl_mcp_hold,
                default_timeout=settings.hitl_mcp_timeout,
                max_timeout=settings.hitl_mcp_max_timeout,
                ask_mode=settings.hitl_mcp_ask,
            )
        finally:
            await client.aclose()

    server: MCPServer[ApprovalTools] = MCPServer(
        "hitl-slack", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan
    )
    _register(server, identity.agent, http=http)
    _register_ask(server, identity.agent, http=http)
    return server


def _client_options(settings: McpSettings) -> dict[str, Any]:
    return {
        "redis_url": settings.redis_url.get_secret_value(),
        "key_prefix": settings.hitl_key_prefix,
        "connect_timeout": settings.hitl_redis_connect_timeout,
        "retention": settings.hitl_retention,
        "queue_maxlen": settings.hitl_queue_maxlen,
        "redis_grace": settings.hitl_redis_grace,
        "min_replicas": settings.hitl_redis_min_replicas,
        "replica_timeout": settings.hitl_redis_replica_timeout,
    }


def _reporter(ctx: Ctx) -> Report:
    async def report(done: float, total: float, message: str) -> None:
        await ctx.report_progress(round(done, 1), total, message)

    return report


def _register(server: MCPServer[ApprovalTools], agent: str, *, http: bool) -> None:
    @server.tool(
        title="Ask a human to approve an action",
        description=_DESCRIPTIONS["request_approval"],
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
    )
    async def request_approval(
        summary: Annotated[
            str, Field(max_length=MAX_SUMMARY_CHARS, description="one line: what and why")
        ],
        action: Annotated[
            str, Field(max_length=200, description="what you will do, e.g. refund_payment")
        ],
        ctx: Ctx,
        arguments: Annotated[
            dict[str, Any] | None, Field(description="the action's arguments; a human may edit")
        ] = None,
        risk: Annotated[
            Literal["low", "medium", "high", "critical"] | None,
            Field(description="how much harm the action can do (never below the server's floor)"),
        ] = None,
        details: Annotated[
            str | None, Field(max_length=MAX_DETAILS_CHARS, description="longer context")
        ] = None,
        timeout_s: Annotated[
            float | None,
            Field(gt=0, description="seconds before the request expires (the server caps it)"),
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=MAX_KEY_CHARS,
                description="the same key again re-attaches to the same request (after a "
                "restart) and returns its decision",
            ),
        ] = None,
    ) -> Tool:
        """File the request and hold for its decision (see ``_DESCRIPTIONS``)."""
        scope = _scope(ctx, agent, http=http)
        if scope is None:
            return _as_tool_result(failed(_NO_SESSION))
        ask = Ask(summary, action, arguments, risk, details, timeout_s, idempotency_key)
        tools = ctx.request_context.lifespan_context
        return _as_tool_result(await tools.request(scope, ask, _reporter(ctx)))

    @server.tool(
        title="Keep waiting for a human's decision",
        description=_DESCRIPTIONS["await_decision"],
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    async def await_decision(request_id: Annotated[str, _REQUEST_ID], ctx: Ctx) -> Tool:
        """Hold again for a request this caller filed."""
        scope = _scope(ctx, agent, http=http)
        if scope is None:
            return _as_tool_result(failed(_NO_SESSION, request_id))
        tools = ctx.request_context.lifespan_context
        return _as_tool_result(await tools.await_decision(scope, request_id, _reporter(ctx)))

    @server.tool(
        title="Withdraw an approval request",
        description=_DESCRIPTIONS["cancel_request"],
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
    )
    async def cancel_request(
        request_id: Annotated[str, _REQUEST_ID],
        ctx: Ctx,
        reason: Annotated[
            str | None, Field(max_length=2000, description="why it is no longer needed")
        ] = None,
    ) -> Tool:
        """Cancel a pending request this caller filed."""
        scope = _scope(ctx, agent, http=http)
        if scope is None:
            return _as_tool_result(failed(_NO_SESSION, request_id))
        tools = ctx.request_context.lifespan_context
        return _as_tool_result(await tools.cancel(scope, request_id, reason))


def _register_ask(server: MCPServer[ApprovalTools], agent: str, *, http: bool) -> None:
    @server.tool(
        title="Ask a human a question",
        description=_DESCRIPTIONS["ask_human"],
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False),
    )
    async def ask_human(
        question: Annotated[
            str, Field(min_length=1, max_length=MAX_SUMMARY_CHARS, description="what you ask")
        ],
        ctx: Ctx,
        options: Annotated[
            list[str] | None, Field(max_length=100, description="the choices, if any")
        ] = None,
        multiple: Annotated[bool, Field(description="several options may be chosen")] = False,
        schema: Annotated[
            dict[str, Any] | None,
            Field(description="a form: a flat JSON Schema object (MCP elicitation's subset)"),
        ] = None,
        timeout_s: Annotated[
            float | None,
            Field(gt=0, description="seconds before the question expires (the server caps it)"),
        ] = None,
        idempotency_key: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=MAX_KEY_CHARS,
                description="the same key again re-attaches to the same question",
            ),
        ] = None,
    ) -> Tool:
        """Ask and hold for the answer (see ``_DESCRIPTIONS``)."""
        scope = _scope(ctx, agent, http=http)
        if scope is None:
            return _as_tool_result(failed(_NO_SESSION))
        q = Question(question, options, multiple, schema, timeout_s, idempotency_key)
        tools = ctx.request_context.lifespan_context
        elicit = _elicitor(ctx) if tools.ask_mode != "slack" else None
        return _as_tool_result(await tools.ask(scope, q, _reporter(ctx), elicit))


def _elicitor(ctx: Ctx) -> Elicit | None:
    """Ask the client's own user (``elicitation/create``), if the client offers elicitation
    over a back-channel (the handshake protocol revisions). On 2026-07-28 and later the server
    cannot send requests of its own (elicitation rides the tool call's input_required rounds,
    which this server does not use yet): the question is asked in Slack."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return None
    session = ctx.request_context.session
    wanted = ClientCapabilities(elicitation=ElicitationCapability())
    if not session.check_client_capability(wanted):
        return None

    async def elicit(message: str, schema: dict[str, Any]) -> Elicited:
        result = await session.elicit_form(message, schema, related_request_id=ctx.request_id)
        return result.action, result.content

    return elicit
