"""An MCP client asking a human through ``hitl-slack mcp``, as Claude Code or Cursor would.

Start the local playground (``make run``), then, in another terminal::

    REDIS_URL=redis://localhost:6379/0 HITL_KEY_PREFIX=hitl-dev python examples/mcp_client.py

(use the REDIS_URL the playground printed if it started its own Redis). The script starts
``hitl-slack mcp`` over stdio with the MCP SDK's own client, calls ``request_approval`` for a
refund, and keeps calling ``await_decision`` while the answer is ``pending``. Decide in the
playground's #finance as Alice (approve, reject with a reason, or edit the amount); the script
prints what the model would be told.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp import Client, StdioServerParameters


def server() -> StdioServerParameters:
    """``hitl-slack mcp`` with this environment's Redis settings and a short hold."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("REDIS_", "HITL_"))}
    env.setdefault("HITL_MCP_AGENT", "example-mcp-client")
    env.setdefault("HITL_MCP_HOLD", "20")
    env["LOG_FORMAT"] = "console"
    return StdioServerParameters(
        command=sys.executable, args=["-m", "hitl_slack.cli", "mcp"], env=env
    )


async def progress(done: float, total: float | None, message: str | None) -> None:
    print(f"  ... {message} ({done:.0f}/{total:.0f} s of this call)", flush=True)


async def main() -> int:
    async with Client(server()) as client:
        result = await client.call_tool(
            "request_approval",
            {
                "summary": "Refund $420 to ACME",
                "action": "refund_payment",
                "arguments": {"customer": "ACME", "amount": 420},
                "details": "The customer says the parcel never arrived.",
                "risk": "high",
            },
            progress_callback=progress,
        )
        decision: dict[str, Any] = result.structured_content or {}
        while decision.get("status") == "pending":
            print("pending: asking again with await_decision", flush=True)
            result = await client.call_tool(
                "await_decision",
                {"request_id": decision["request_id"]},
                progress_callback=progress,
            )
            decision = result.structured_content or {}
    print(result.content[0].text)  # type: ignore[union-attr]
    return 0 if decision.get("approved") else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
