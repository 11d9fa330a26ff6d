"""The gateway's MCP server: the wrapped server's tools, each call held or forwarded.

:class:`Gateway` serves the gateway's client (:mod:`hitl_slack.mcpgateway.serve` runs it on
stdio) with the wrapped server's tools exactly as listed (names, titles, descriptions, input and
output schemas, annotations: the listing is forwarded, page by page, every time it is asked
for). Each ``tools/call``:

* no gate fits, or an allow rule (``hold = false``): forwarded at once, progress relayed;
* a gate fits: held (:class:`~hitl_slack.mcpgateway.holds.Holds`). While held, progress
  notifications go to the client every :data:`PROGRESS_EVERY` seconds if it sent a progress
  token. Approved: forwarded with the arguments as approved (edited, if someone edited them:
  the result then says so). Otherwise a tool error (``isError``) with the reason, and the
  wrapped server never sees the call. A cancellation by the client cancels the Slack request.

Elicitations from the wrapped server are asked in Slack (:mod:`hitl_slack.mcpgateway.elicit`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Final

import anyio
from mcp import types
from mcp.client.session import ClientSession
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server

from hitl_slack import __version__
from hitl_slack.logs import get_logger
from hitl_slack.mcpgateway.holds import Forward, Holds, Outcome
from hitl_slack.mcpgateway.rules import Gate, GatesConfig

__all__ = ["NAME", "PROGRESS_EVERY", "Gateway"]

log = get_logger(__name__)

#: Seconds between progress notifications while a call is held.
PROGRESS_EVERY: Final = 10.0
#: The gateway's name, as server (towards its client) and as client (towards the wrapped one).
NAME: Final = "hitl-slack-mcp-gateway"


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _edited_note(outcome: Forward) -> types.TextContent:
    who = ", ".join(outcome.decision.decided_by) or "a reviewer"
    arguments = json.dumps(outcome.arguments, ensure_ascii=False, sort_keys=True)
    return types.TextContent(
        type="text",
        text=f"[hitl-slack] {who} edited the arguments in Slack before approving; the call was "
        f"made with: {arguments}",
    )


@dataclass
class Gateway:
    """The handlers of the gateway's MCP server, over one session with the wrapped server."""

    upstream: ClientSession
    gates: GatesConfig
    holds: Holds

    def server(self, instructions: str | None = None) -> Server[Any]:
        """The low-level MCP server that serves the gateway's client."""
        return Server(
            NAME,
            version=__version__,
            instructions=instructions,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        """The wrapped server's listing (this page of it), unchanged."""
        cursor = params.cursor if params is not None else None
        result = await self.upstream.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        return types.ListToolsResult(tools=result.tools, next_cursor=result.next_cursor)

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """Forward the call, or hold it for approval first (see the module's docstring)."""
        tool, arguments = params.name, dict(params.arguments or {})
        progress = _Progress(ctx)
        gate = self.gates.gate_for(tool, arguments)
        if gate is None or not gate.hold:
            log.info("call_passed", tool=tool, gate=gate.name if gate else None)
            return await self._forward(progress, tool, params.arguments)
        outcome = await self._held(progress, tool, arguments, gate)
        if not isinstance(outcome, Forward):
            return _error(outcome.text)
        result = await self._forward(progress, tool, outcome.arguments)
        if outcome.decision.edited:
            result = result.model_copy(update={"content": [*result.content, _edited_note(outcome)]})
        return result

    async def _held(
        self, progress: _Progress, tool: str, arguments: dict[str, Any], gate: Gate
    ) -> Outcome:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(progress.waiting, "Waiting for approval in Slack")
            outcome = await self.holds.decide(tool, arguments, gate)
            tasks.cancel_scope.cancel()
        return outcome

    async def _forward(
        self, progress: _Progress, tool: str, arguments: dict[str, Any] | None
    ) -> types.CallToolResult:
        """The wrapped server's result, as it is (no output validation: the client does it)."""
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(name=tool, arguments=arguments)
        )
        return await self.upstream.send_request(
            request, types.CallToolResult, progress_callback=progress.relay
        )


@dataclass
class _Progress:
    """A call's progress notifications (none unless the client sent a progress token).

    Progress must increase with each notification of a call: the wrapped server's, relayed
    after a hold, are counted on from the hold's last one.
    """

    ctx: ServerRequestContext[Any]
    base: float = 0.0

    async def waiting(self, message: str) -> None:
        """Every :data:`PROGRESS_EVERY` seconds while held: the seconds held so far."""
        started = time.monotonic()
        while True:
            self.base = round(time.monotonic() - started, 1) + 1
            await self.ctx.session.report_progress(self.base - 1, None, message)
            await anyio.sleep(PROGRESS_EVERY)

    async def relay(self, progress: float, total: float | None, message: str | None) -> None:
        """The wrapped server's progress notification, passed on."""
        shifted = None if total is None else total + self.base
        await self.ctx.session.report_progress(progress + self.base, shifted, message)
