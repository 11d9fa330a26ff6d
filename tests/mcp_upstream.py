"""A small MCP server (stdio) for the gateway's tests: the server the gateway wraps.

Every call it receives is appended, as one JSON line ``{"tool": ..., "arguments": ...}``, to
the file named by ``UPSTREAM_RECORD`` (the test reads what the wrapped server really got), and
each tool returns what it received. ``confirm_delete`` asks its client for a confirmation with
``ctx.elicit`` (a form: a boolean and a note); ``wide_form`` asks with a nested schema no Slack
form can show.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

server = MCPServer("test-upstream", instructions="Files and payments, for the gateway's tests.")


def _record(tool: str, arguments: dict[str, Any]) -> None:
    with open(os.environ["UPSTREAM_RECORD"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def read_file(path: str) -> str:
    """Read a file (this one only says which)."""
    _record("read_file", {"path": path})
    return f"contents of {path}"


@server.tool(title="Write a file")
def write_file(path: str, text: str) -> str:
    """Write ``text`` to ``path``."""
    _record("write_file", {"path": path, "text": text})
    return f"wrote {len(text)} characters to {path}"


class Receipt(BaseModel):
    amount: float
    to: str


@server.tool()
def pay(amount: float = Field(description="in euros", gt=0), to: str = "") -> Receipt:
    """Pay ``amount`` to ``to``."""
    _record("pay", {"amount": amount, "to": to})
    return Receipt(amount=amount, to=to)


class Confirm(BaseModel):
    confirm: bool = Field(description="Really delete it?")
    note: str = Field("", description="Why")


@server.tool()
async def confirm_delete(path: str, ctx: Context) -> str:
    """Delete ``path`` after asking for a confirmation."""
    answer = await ctx.elicit(f"Delete {path}?", schema=Confirm)
    _record("confirm_delete", {"path": path, "action": answer.action})
    if answer.action == "accept" and answer.data.confirm:
        return f"deleted {path} (note: {answer.data.note})"
    return f"kept {path} ({answer.action})"


@server.tool()
async def wide_form(ctx: Context) -> str:
    """Ask with a schema outside the flat subset."""
    result = await ctx.request_context.session.elicit_form(
        "Where to?",
        {
            "type": "object",
            "properties": {"address": {"type": "object", "properties": {}}},
        },
    )
    return f"elicitation {result.action}"


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Count to ``n``, reporting progress at each step."""
    for i in range(n):
        await ctx.report_progress(i + 1, n, f"step {i + 1}")
    return f"counted to {n}"


@server.tool()
def crash() -> str:
    """Exit the server at once (the gateway must notice)."""
    os._exit(3)


if __name__ == "__main__":
    server.run("stdio")
