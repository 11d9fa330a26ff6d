"""The HTTP front: ``/slack/events`` hands well-formed bodies to Bolt and refuses the rest.

Bolt answers a body it cannot parse with a 500 and says nothing (:mod:`hitl_slack.slack.bodies`
tells why). Here a malformed body that is correctly signed gets 400, one log line and a dead
letter; one that is not signed gets 401, as Bolt's own signature check answers. Nothing is
decided for either. The twin of :mod:`hitl_slack.slack.socket_front` for Socket Mode.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from hitl_slack.logs import get_logger
from hitl_slack.slack.bodies import bolt_request, signature_ok

__all__ = ["DeadLetter", "http_events"]

log = get_logger(__name__)

#: Writes a dead letter: (source, entry id, error, body).
DeadLetter = Callable[[str, str, str, str], Awaitable[None]]


def http_events(
    app: AsyncApp, secret: str, dead: DeadLetter
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/slack/events`` handler: Bolt for a well-formed body, 400 for a malformed one.

    Args:
        app: the Bolt app.
        secret: the signing secret (``SLACK_SIGNING_SECRET``).
        dead: keeps a malformed, signed body (source is the request's path).
    """

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()
        parsed = bolt_request(raw, query=request.query_string, headers=request.headers)
        if not isinstance(parsed, str):
            return await to_aiohttp_response(await app.async_dispatch(parsed))
        problem = parsed
        headers = request.headers
        if not signature_ok(
            raw,
            headers.get("X-Slack-Request-Timestamp"),
            headers.get("X-Slack-Signature"),
            secret,
            time.time(),
        ):
            return web.json_response({"error": "invalid request"}, status=401)
        log.warning("malformed_slack_request", error=problem, bytes=len(raw))
        with contextlib.suppress(RedisError, OSError):
            await dead(request.path, "-", problem, raw.decode("utf-8", "replace"))
        return web.Response(status=400, text=f"malformed Slack request: {problem}")

    return events
