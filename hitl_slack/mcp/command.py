"""The ``hitl-slack mcp`` subcommand: its flags, and starting the server with the SDK loaded
only then (without the ``[mcp]`` extra it says in one line how to install it, exit 2)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from hitl_slack.logs import configure
from hitl_slack.mcp.settings import load_mcp_settings
from hitl_slack.models import Risk

__all__ = ["EPILOG", "MCP_MISSING", "add_parser", "run", "sdk_missing"]

#: What ``mcp`` says when the MCP SDK (the ``[mcp]`` extra) is not installed.
MCP_MISSING = "hitl-slack mcp needs the MCP SDK: pip install 'hitl-slack[mcp]'"

EPILOG = """environment variables (or .env; a flag wins over its variable):
  REDIS_URL, HITL_KEY_PREFIX   the Redis and key prefix the bot serves
  HITL_MCP_AGENT               --agent: who asks, as Slack shows it (default mcp)
  HITL_MCP_REQUESTED_BY        --requested-by: on whose behalf: a Slack user id or email is the
                               requests' requested_by (self_approval applies); other text is
                               shown as "agent for who"
  HITL_MCP_TAGS                --tag: tags of every request, comma-separated (routes match them)
  HITL_MCP_ROUTE               --route: the route of every request (if the routes file makes it
                               selectable)
  HITL_MCP_MIN_RISK            --min-risk: a tool call may raise the risk, never below this
  HITL_MCP_HOLD                --hold: seconds one tool call waits before it returns pending (50)
  HITL_MCP_TIMEOUT             a request's timeout when the call gives none (300)
  HITL_MCP_MAX_TIMEOUT         the longest timeout a call may ask for (86400)
  HITL_MCP_TOKEN               --http: the bearer token every client must send (required)
  HITL_MCP_HOST, HITL_MCP_PORT --host, --port: where --http listens (127.0.0.1:8765)
  HITL_MCP_ALLOWED_HOSTS       --http: further Host header values (behind a proxy), comma-separated

Tool arguments never set the agent, tags, route or requester: the model writes every argument."""


def add_parser(sub: argparse._SubParsersAction[Any], *, port: Callable[[str], int]) -> None:
    """Add ``mcp`` to the command line's subcommands (``port`` parses a port number)."""
    mcp = sub.add_parser(
        "mcp",
        help="an MCP server: any MCP client (Claude Code, Cursor, Codex) asks a human in Slack",
        description="Serve the tools request_approval, await_decision and cancel_request to an "
        "MCP client: over stdio (the client starts this command), or with --http over "
        "streamable HTTP on 127.0.0.1 (a bearer token required).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mcp.add_argument("--http", action="store_true", help="streamable HTTP at /mcp, not stdio")
    mcp.add_argument("--host", help="--http bind address (default $HITL_MCP_HOST or 127.0.0.1)")
    mcp.add_argument("--port", type=port, help="--http port (default $HITL_MCP_PORT or 8765)")
    mcp.add_argument("--agent", help="who asks, as Slack shows it and routes match it")
    mcp.add_argument(
        "--requested-by", help="on whose behalf: a Slack user id or email (e.g. the developer)"
    )
    mcp.add_argument("--tag", action="append", help="a tag of every request (repeatable)")
    mcp.add_argument("--route", help="the route of every request (a selectable one)")
    mcp.add_argument("--min-risk", choices=[r.value for r in Risk], help="the lowest risk")
    mcp.add_argument("--hold", type=float, help="seconds one tool call waits, then pending")
    mcp.add_argument(
        "--ask",
        choices=["slack", "client", "both"],
        help="who answers ask_human (default $HITL_MCP_ASK or slack): Slack, the MCP "
        "client's user through elicitation, or both, the first answer winning",
    )


def sdk_missing() -> bool:
    """Whether the MCP SDK cannot be imported (looked up without importing it: that is slow)."""
    try:
        return any(importlib.util.find_spec(name) is None for name in ("mcp", "mcp_types"))
    except ValueError:  # None in sys.modules: importing it is blocked
        return True


def run(args: argparse.Namespace) -> int:
    """Start the server the flags describe; settings and the token are checked before the SDK
    loads, so a refusal is immediate.

    Raises:
        ConfigError: a setting or flag is invalid, or ``--http`` has no token.
        redis.RedisError: Redis is unreachable at start.
    """
    if sdk_missing():
        print(MCP_MISSING, file=sys.stderr)
        return 2
    settings = load_mcp_settings(
        hitl_mcp_agent=args.agent,
        hitl_mcp_requested_by=args.requested_by,
        hitl_mcp_tags=args.tag,
        hitl_mcp_route=args.route,
        hitl_mcp_min_risk=args.min_risk,
        hitl_mcp_hold=args.hold,
        hitl_mcp_ask=args.ask,
        hitl_mcp_host=args.host,
        hitl_mcp_port=args.port,
    )
    if args.http:
        settings.require_token()
    configure(settings.log_level, settings.log_format)
    from hitl_slack.mcp.serve import run_mcp  # the MCP SDK loads only here

    return run_mcp(settings, http=args.http)
