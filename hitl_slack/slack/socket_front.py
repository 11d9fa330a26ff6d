"""The Socket Mode front: Bolt's handler, with malformed envelopes acked and dead-lettered.

Bolt hands every envelope to the app; a payload it cannot use (not an object, nested 1,000
deep, a field of the wrong type) fails inside Bolt, is logged with a traceback and never
acknowledged, so Slack sends it again. Here such an envelope is acknowledged at once (Slack
stops retrying), logged in one line and kept in the dead-letter stream with the reason.
The SDK's own reconnect messages are made quiet (:class:`QuietReconnects`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.logs import get_logger
from hitl_slack.service.consumer import dead_letter
from hitl_slack.slack.bodies import payload_problem
from hitl_slack.slack.watch import AUTH_ERRORS

__all__ = ["QuietReconnects", "SocketFront", "keep_body"]

log = get_logger(__name__)

#: Bytes of a malformed body kept in its dead letter.
MAX_KEPT = 64 * 1024

DeadLetter = Callable[[str, str, str, str], Awaitable[None]]

_ENVELOPE_ID = re.compile(r'"envelope_id"\s*:\s*"([^"\\]{1,200})"')


async def keep_body(
    r: aredis.Redis, stream: str, *, source: str, entry_id: str, error: str, body: str
) -> None:
    """Keep a malformed Slack body in the dead-letter stream with what is wrong with it."""
    await dead_letter(
        r, stream, source=source, entry_id=entry_id, error=error, fields={"body": body[:MAX_KEPT]}
    )


class QuietReconnects(logging.Filter):
    """The SDK logs a traceback every few seconds while it cannot connect: keep the first
    failure as one warning line (tracebacks at DEBUG only), drop the repeats, and let the
    line saying a session is established through as the end of the outage. Its lines about
    a refused token are dropped: the service logs that once (below DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to log ``record`` (it is quietened in place)."""
        text = record.getMessage()
        debug = logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        if not debug:
            record.exc_info, record.exc_text = None, None
            if any(error in text for error in AUTH_ERRORS):
                return False  # a refused token is logged once, by the service (slack_auth_failed)
        if text.startswith(("Failed to connect", "Failed to retrieve WSS URL")):
            if self.failing:
                return False
            self.failing = True
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif "has been established" in text and self.failing:
            self.failing = False
        return True


class _Client(SocketModeClient):
    """The SDK's client, but a frame it cannot parse is acked and kept, not just logged."""

    front: SocketFront

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Future[None]] = set()

    async def process_message(self) -> None:
        raw = await self.message_queue.get()
        if raw is None:
            return
        try:
            message = json.loads(raw) if raw.startswith("{") else {}
        except (ValueError, RecursionError) as exc:
            await self.front.reject(
                self,
                _ENVELOPE_ID.search(raw),
                f"frame is not JSON: {type(exc).__name__}: {str(exc)[:200]}",
                raw,
            )
            return
        task = asyncio.ensure_future(self.run_message_listeners(message, raw))
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)


class SocketFront(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler that checks each envelope before Bolt sees it.

    Args:
        dead: writes a dead letter: (source, envelope id, error, body).
    """

    def __init__(
        self, app: AsyncApp, app_token: str, *, web_client: AsyncWebClient, dead: DeadLetter
    ) -> None:
        sdk_log = logging.getLogger("hitl_slack.socket_mode")
        if not any(isinstance(f, QuietReconnects) for f in sdk_log.filters):
            sdk_log.addFilter(QuietReconnects())
        # Bolt's __init__ would build the SDK's own client: build ours in its place.
        self.app, self.app_token, self.dead = app, app_token, dead
        self.client = _Client(
            app_token=app_token, logger=sdk_log, web_client=web_client, ping_interval=10
        )
        self.client.front = self
        # Take the envelope before the SDK builds a request from it (which can raise).
        self.client.message_listeners.append(self._on_message)  # type: ignore[arg-type]

    async def _on_message(
        self, client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str
    ) -> None:
        envelope_id = message.get("envelope_id")
        if not envelope_id:
            return  # hello, disconnect: the SDK's business
        problem = _envelope_problem(message) or await self._dispatch(client, message)
        if problem is not None:
            await self.reject(client, str(envelope_id), problem, raw)

    async def _dispatch(
        self, client: AsyncBaseSocketModeClient, message: dict[str, Any]
    ) -> str | None:
        """Hand a checked envelope to Bolt; what Bolt could not read in it, if anything."""
        request = SocketModeRequest.from_dict(message)
        if request is None:
            return "envelope lacks type, envelope_id or payload"
        try:
            await self.handle(client, request)  # type: ignore[arg-type]
        except (TypeError, AttributeError, KeyError) as exc:  # building Bolt's request failed
            return f"payload has a field of the wrong type ({type(exc).__name__}: {exc})"
        return None

    async def reject(
        self,
        client: AsyncBaseSocketModeClient,
        envelope_id: str | re.Match[str] | None,
        problem: str,
        raw: str,
    ) -> None:
        """Ack a malformed envelope (Slack stops resending it), log it once, keep it."""
        if isinstance(envelope_id, re.Match):
            envelope_id = envelope_id.group(1)
        if envelope_id:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
        log.warning(
            "malformed_slack_envelope", error=problem, envelope_id=(envelope_id or "")[:100]
        )
        try:
            await self.dead("socket_mode", (envelope_id or "-")[:200], problem, raw)
        except (RedisError, OSError):
            log.warning("malformed_envelope_not_kept", error=problem)


def _envelope_problem(message: dict[str, Any]) -> str | None:
    if not isinstance(message.get("type"), str):
        return "envelope type is not a string"
    if "payload" not in message:
        return "envelope has no payload"
    return payload_problem(message["payload"])
