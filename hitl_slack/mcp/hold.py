"""Holding a tool call while a human decides, within what an MCP client waits.

MCP clients give up on a tool call after a while (often about 60 s), and a human may take
minutes. So a call holds at most ``HITL_MCP_HOLD`` seconds, waiting on the decision the way every
agent does (woken by Redis pub/sub, no polling), and then says ``pending``; ``await_decision``
holds again. The request itself lives in Redis, so a hold may end with the client's or the
server's process: the next ``await_decision`` finds it. While holding, a progress notification
goes out every :data:`PROGRESS_EVERY` seconds (clients that reset their timeout on progress keep
the call open; the others show it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.errors import WaitTimeout
from hitl_slack.models import Decision

__all__ = ["PROGRESS_EVERY", "Report", "hold"]

#: Seconds between progress notifications while a call holds.
PROGRESS_EVERY = 5.0

#: Sends a progress notification: ``(seconds held, seconds this call holds at most, message)``.
Report = Callable[[float, float, str], Awaitable[None]]


async def hold(
    client: AsyncHITLClient,
    request_id: str,
    seconds: float,
    report: Report,
    *,
    every: float = PROGRESS_EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> Decision | None:
    """Wait up to ``seconds`` for the request's decision.

    Returns:
        The decision (an expiry too, once the deadline passed), or None if the request is
        still pending when the hold ends.

    Raises:
        RequestNotFound: no such request (or Redis lost it while waiting).
        StoreUnavailable: Redis stayed unreachable to the end of a wait step.
    """
    start = clock()
    while (left := start + seconds - clock()) > 0:
        await report(clock() - start, seconds, f"waiting for a human to decide {request_id}")
        try:
            return await client.wait(request_id, timeout=min(every, left))
        except WaitTimeout:
            continue
    return None
