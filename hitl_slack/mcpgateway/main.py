"""Entry point of ``hitl-slack mcp-gateway``: settings, rules, logging, then the gateway.

Everything is checked before the wrapped server is started: a bad setting or rules file exits 2
with one line per problem (naming the variable, or the rule and the field). Logs go to stderr
(stdout is the MCP connection).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from hitl_slack.agent.settings import load
from hitl_slack.errors import ConfigError
from hitl_slack.logs import configure, get_logger
from hitl_slack.mcpgateway.rules import load_gates
from hitl_slack.mcpgateway.serve import UpstreamFailed, run_gateway
from hitl_slack.mcpgateway.settings import GatewaySettings

__all__ = ["main"]


def main(gates_file: str | None, command: Sequence[str]) -> int:
    """Run the gateway until its client disconnects; the exit status.

    Returns:
        0 when the client disconnected; 1 when the wrapped server failed to start or to
        complete the handshake; 2 for a bad setting or rules file.
    """
    try:
        settings = load(GatewaySettings)
        gates = load_gates(gates_file)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format, stream=sys.stderr)
    if gates_file is None:
        get_logger(__name__).warning("no_rules_file", note="every tool call is held for approval")
    try:
        anyio.run(run_gateway, settings, gates, list(command))
    except UpstreamFailed as exc:
        print(f"hitl-slack mcp-gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
