"""Running ``hitl-slack mcp``: stdio (one client, the default) or streamable HTTP (``--http``).

Redis is checked before anything is served, so a wrong ``REDIS_URL`` stops the server at start
(exit 3) instead of failing every tool call. Logs go to stderr, never stdout: in stdio mode
stdout is the protocol.
"""

from __future__ import annotations

import logging
import os

import anyio

from hitl_slack.lifecycle.store import sync_redis
from hitl_slack.logs import get_logger
from hitl_slack.mcp.http import bind, http_app, serve_http
from hitl_slack.mcp.server import build_server
from hitl_slack.mcp.settings import McpSettings

__all__ = ["run_mcp"]

log = get_logger(__name__)

#: The SDK's loggers that log MCP session ids at INFO.
_SESSION_LOGGERS = ("mcp.server.streamable_http_manager", "mcp.server.streamable_http")


def _check_redis(settings: McpSettings) -> None:
    r = sync_redis(
        settings.redis_url.get_secret_value(), connect_timeout=settings.hitl_redis_connect_timeout
    )
    try:
        r.ping()
    finally:
        r.close()


def run_mcp(settings: McpSettings, *, http: bool = False) -> int:
    """Serve the approval tools until the client goes (stdio) or SIGINT / SIGTERM (HTTP).

    Raises:
        ConfigError: ``--http`` without ``HITL_MCP_TOKEN``, or an address that cannot be bound.
        redis.RedisError: Redis is unreachable at start.
    """
    logging.captureWarnings(True)  # NoBotWarning and the like: log lines on stderr, not prints
    for name in _SESSION_LOGGERS:  # their INFO lines name session ids: half of a credential
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    server = build_server(settings, http=http)
    fields = {
        "agent": settings.agent,
        "prefix": settings.hitl_key_prefix,
        "hold_s": settings.hitl_mcp_hold,
        "pid": os.getpid(),
    }
    if not http:
        _check_redis(settings)
        log.info("mcp_ready", transport="stdio", **fields)
        anyio.run(server.run_stdio_async)
        return 0
    app = http_app(server, settings)  # refuses to start without a token
    _check_redis(settings)
    host, port = settings.hitl_mcp_host, settings.hitl_mcp_port
    sock = bind(host, port)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/mcp"
    if host in ("0.0.0.0", "::") and not settings.hitl_mcp_allowed_hosts:  # noqa: S104
        log.warning(
            "mcp_loopback_hosts_only",
            hint="requests must name a loopback host: set HITL_MCP_ALLOWED_HOSTS to the names "
            "clients use (DNS-rebinding protection refuses others with 421)",
        )
    log.info("mcp_ready", transport="streamable-http", url=url, **fields)
    anyio.run(serve_http, app, sock)
    return 0
