"""The gateway process: the wrapped server on one side, the gateway's client on the other.

``hitl-slack mcp-gateway --routes-file gates.toml -- <command...>`` spawns the wrapped server
(``<command...>``, on stdio, with the gateway's environment less its own variables), completes
the MCP handshake with it as a client, then serves its own client on stdio
(:class:`~hitl_slack.mcpgateway.proxy.Gateway`) until:

* the client disconnects: requests still pending in Slack are cancelled ("the MCP client
  disconnected"), the wrapped server is stopped, exit 0;
* the wrapped server exits: held calls are abandoned and their requests cancelled ("the wrapped
  MCP server exited"), exit 1, so the client sees its server gone rather than a proxy that
  answers every call with an error.

Each end's read stream is relayed through :func:`_watched`, which notices the end of the stream
before the SDK does: that is how the gateway knows which side left, and says so in Slack.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final, TypeVar, cast

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from hitl_slack import __version__
from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.logs import get_logger
from hitl_slack.mcpgateway.elicit import Elicitations
from hitl_slack.mcpgateway.holds import Holds, Identity
from hitl_slack.mcpgateway.proxy import NAME, Gateway
from hitl_slack.mcpgateway.rules import GatesConfig
from hitl_slack.mcpgateway.settings import GatewaySettings, upstream_environment

__all__ = ["HANDSHAKE_TIMEOUT", "UpstreamFailed", "run_gateway"]

log = get_logger(__name__)

#: Seconds the wrapped server has to answer ``initialize``.
HANDSHAKE_TIMEOUT: Final = 30.0
#: Longest message line read from the client (a tool call's arguments may hold a file).
MAX_LINE: Final = 64 * 1024 * 1024
CLIENT_LEFT: Final = "the MCP client disconnected"
UPSTREAM_LEFT: Final = "the wrapped MCP server exited"

T = TypeVar("T")


class UpstreamFailed(Exception):
    """The wrapped server could not be started, failed its handshake, or exited."""


@asynccontextmanager
async def _watched(
    source: AsyncIterable[T], on_end: Callable[[], None]
) -> AsyncIterator[MemoryObjectReceiveStream[T]]:
    """``source``, relayed; ``on_end()`` runs when it ends, before its reader sees the end.

    The source stays its transport's to close.
    """
    send, receive = anyio.create_memory_object_stream[T](0)

    async def relay() -> None:
        async with send:
            try:
                async for item in source:
                    await send.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            on_end()  # the source ended (not cancelled): before the reader sees the end

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(relay)
        try:
            yield receive
        finally:
            tasks.cancel_scope.cancel()


async def _handshake(upstream: ClientSession) -> types.InitializeResult:
    try:
        with anyio.fail_after(HANDSHAKE_TIMEOUT):
            return await upstream.initialize()
    except (MCPError, TimeoutError, RuntimeError) as exc:
        raise UpstreamFailed(
            f"the wrapped server did not complete the MCP handshake: {exc or type(exc).__name__}"
        ) from None


async def _list_every_tool(upstream: ClientSession) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    for _ in range(100):  # a listing that never ends cannot hang the start
        page = await upstream.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        names += [tool.name for tool in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            break
    return names


async def _warn_unmatched(upstream: ClientSession, gates: GatesConfig) -> None:
    try:
        names = await _list_every_tool(upstream)
    except MCPError as exc:
        log.warning("upstream_tools_unlisted", error=str(exc))
        return
    for gate, glob in gates.unmatched_globs(names):
        log.warning("gate_matches_no_tool", gate=gate, glob=glob, tools=len(names))


async def _connect(
    stack: AsyncExitStack, command: Sequence[str], elicitations: Elicitations, gone: anyio.Event
) -> ClientSession:
    """Spawn the wrapped server and open a session with it (not yet initialized)."""
    params = StdioServerParameters(
        command=command[0], args=list(command[1:]), env=upstream_environment()
    )
    try:
        read, write = await stack.enter_async_context(stdio_client(params))
    except OSError as exc:
        raise UpstreamFailed(f"cannot start {command[0]!r}: {exc.strerror or exc}") from None
    watched = await stack.enter_async_context(_watched(read, gone.set))
    session = ClientSession(
        watched,
        write,
        elicitation_callback=elicitations,
        client_info=types.Implementation(name=NAME, version=__version__),
    )
    return await stack.enter_async_context(session)


class _PipeLines:
    """The lines of a pipe, read by the event loop: a cancellation stops the read at once."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def __aiter__(self) -> AsyncIterator[str]:
        while line := await self._reader.readline():
            yield line.decode("utf-8", errors="replace")


@asynccontextmanager
async def _stdin() -> AsyncIterator[anyio.AsyncFile[str] | None]:
    """stdin read by the event loop; None when it is no pipe (the SDK's reader then).

    The SDK's reader reads in a worker thread whose read cannot be abandoned: after the
    wrapped server exited, the gateway could not exit while its client kept stdin open.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    pipe = os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
    except ValueError:  # a regular file: no pipe transport for it
        pipe.close()
        yield None
        return
    try:
        yield cast("anyio.AsyncFile[str]", _PipeLines(reader))  # stdio_server only iterates it
    finally:
        transport.close()


async def _serve_client(gateway: Gateway, instructions: str | None) -> None:
    """Serve the gateway's client on stdio until it disconnects."""
    server = gateway.server(instructions)

    def client_left() -> None:
        gateway.holds.closing = gateway.holds.closing or CLIENT_LEFT

    async with (
        _stdin() as stdin,
        stdio_server(stdin=stdin) as (read, write),
        _watched(read, client_left) as watched,
    ):
        await server.run(watched, write, server.create_initialization_options())


async def _until_either_leaves(
    gateway: Gateway, instructions: str | None, gone: anyio.Event
) -> bool:
    """Serve until the client or the wrapped server leaves; True if the wrapped server did."""
    upstream_left = False
    async with anyio.create_task_group() as tasks:

        async def watch_upstream() -> None:
            nonlocal upstream_left
            await gone.wait()
            upstream_left = True
            gateway.holds.closing = UPSTREAM_LEFT
            log.error("upstream_exited")
            tasks.cancel_scope.cancel()

        tasks.start_soon(watch_upstream)
        await _serve_client(gateway, instructions)
        tasks.cancel_scope.cancel()
    return upstream_left


async def run_gateway(
    settings: GatewaySettings, gates: GatesConfig, command: Sequence[str]
) -> None:
    """Serve the gateway on stdio until its client disconnects.

    Raises:
        UpstreamFailed: the wrapped server could not be started, failed its handshake, or
            exited while serving.
    """
    gone = anyio.Event()
    async with AsyncExitStack() as stack:
        hitl = await stack.enter_async_context(AsyncHITLClient(**settings.client_options()))
        elicitations = Elicitations(hitl, timeout=gates.defaults.timeout)
        upstream = await _connect(stack, command, elicitations, gone)
        init = await _handshake(upstream)
        identity = Identity(
            agent=settings.hitl_mcp_agent or init.server_info.name,
            server=init.server_info.name,
            tags=settings.tags,
            route=settings.hitl_mcp_route,
            requested_by=settings.hitl_mcp_requested_by,
        )
        elicitations.identity = identity
        holds = Holds(hitl, gates, identity, hold=settings.hitl_mcp_hold)
        log.info("gateway_ready", upstream=identity.server, session=holds.session)
        await _warn_unmatched(upstream, gates)
        try:
            upstream_left = await _until_either_leaves(
                Gateway(upstream, gates, holds), init.instructions, gone
            )
        finally:
            await holds.close(holds.closing or CLIENT_LEFT)
    if upstream_left:
        raise UpstreamFailed(UPSTREAM_LEFT)
