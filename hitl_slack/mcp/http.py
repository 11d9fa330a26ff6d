"""``hitl-slack mcp --http``: the tools on streamable HTTP, for clients that are not local.

Three checks stand in front of the SDK's streamable-HTTP app, in :class:`Gate`:

* a bearer token (``HITL_MCP_TOKEN``, compared in constant time) on every request: without
  one configured the server does not start;
* only the session-based protocol revisions (the ``initialize`` handshake, 2025-11-25 and
  earlier): requests are scoped per MCP session, and the per-request revision (2026-07-28) has
  none. Its requests are answered with the protocol's own "unsupported version" error, naming
  the supported ones, so a client negotiating the version falls back to the handshake;
* then, inside the SDK, its DNS-rebinding protection: the ``Host`` and ``Origin`` headers must
  name this server (loopback, or ``HITL_MCP_ALLOWED_HOSTS`` behind a proxy).
"""

from __future__ import annotations

import hmac
import json
import socket
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from hitl_slack.errors import ConfigError
from hitl_slack.mcp.settings import McpSettings

__all__ = ["Gate", "bind", "http_app", "serve_http", "transport_security"]

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_ANY = ("0.0.0.0", "::", "")  # noqa: S104 (names of "every interface", not a bind here)


def transport_security(settings: McpSettings) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding checks: loopback names (any port), the bind address when it is
    a specific one, and the configured names a proxy forwards."""
    bound = settings.hitl_mcp_host
    names = list(_LOOPBACK)
    if bound not in _ANY and bound not in ("127.0.0.1", "localhost", "::1"):
        names.append(f"[{bound}]" if ":" in bound else bound)
    hosts = [f"{name}:*" for name in names] + list(settings.hitl_mcp_allowed_hosts)
    origins = [f"http://{name}:*" for name in names] + [
        f"{scheme}://{host}"
        for host in settings.hitl_mcp_allowed_hosts
        for scheme in ("https", "http")
    ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class Gate:
    """ASGI middleware: the bearer token, then the protocol revision (see the module)."""

    def __init__(self, app: ASGIApp, token: SecretStr) -> None:
        self.app = app
        self._token = token.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan: the app's start and stop
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not self._authorized(headers.get("authorization", "")):
            await _json(
                send, 401, _UNAUTHORIZED, [(b"www-authenticate", b'Bearer error="invalid_token"')]
            )
            return
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await _json(send, 400, _unsupported(version))
            return
        await self.app(scope, receive, send)

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token
        )


#: A JSON-RPC error body, so that an MCP client shows why (the status alone says little).
_UNAUTHORIZED = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {
        "code": -32001,
        "message": "unauthorized: send the token as Authorization: Bearer <HITL_MCP_TOKEN>",
    },
}


def _unsupported(version: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": UNSUPPORTED_PROTOCOL_VERSION,
            "message": "this server scopes requests per MCP session: use the initialize handshake",
            "data": {"supported": list(HANDSHAKE_PROTOCOL_VERSIONS), "requested": version[:40]},
        },
    }


async def _json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": data})


def http_app(server: MCPServer[Any], settings: McpSettings) -> ASGIApp:
    """The SDK's streamable-HTTP app (at ``/mcp``) behind the :class:`Gate`.

    Raises:
        ConfigError: ``HITL_MCP_TOKEN`` is not set.
    """
    token = settings.require_token()
    app = server.streamable_http_app(
        transport_security=transport_security(settings), host=settings.hitl_mcp_host
    )
    return Gate(app, token)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so that a port in use is a configuration error.

    Raises:
        ConfigError: the address cannot be bound (names it).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def serve_http(app: ASGIApp, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` with uvicorn until SIGINT or SIGTERM (logs through ours)."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])
