"""The tests' fake Slack: the package's local Slack (:class:`hitl_slack.localslack.LocalSlack`,
the very code the playground serves) plus what only tests need: scripted faults, Socket Mode,
and payload builders whose ``response_url`` points at the last started fake.

The real ``slack_sdk`` clients talk to it over HTTP (``base_url=fake.api_url``) and a real Socket
Mode client connects to its WebSocket, so everything above the socket is the production code path::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test-token", base_url=fake.api_url)
        client.chat_postMessage(channel="C0APPROVALS", text="hi", blocks=[...])
        msg = fake.messages("C0APPROVALS")[0]
        fake.fail("chat.update", status=429)                 # next chat.update gets a 429
        fake.wait_for_call("chat.update", timeout=5)         # blocks on a Condition, no polling
        ack = fake.send_envelope("interactive", block_actions_body(msg, "approve"))

HTTP-mode apps get signed requests with ``post_signed(url, form_body(payload), secret=...,
content_type="application/x-www-form-urlencoded")``. ``reset()`` clears recorded state and
scripted faults but keeps configuration (tokens, channel sets, usergroups).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from fakesocket import FakeSocketMode

from hitl_slack.localslack import payloads
from hitl_slack.localslack.http import Answer
from hitl_slack.localslack.payloads import (
    app_home_opened_body,
    async_post_signed,
    block_actions_body,
    block_text,
    find_button,
    form_body,
    post_signed,
    sign,
    view_submission_body,
)
from hitl_slack.localslack.records import JSON, Call, Ephemeral, PostedMessage, err
from hitl_slack.localslack.server import LocalSlack

__all__ = [
    "JSON",
    "Call",
    "Ephemeral",
    "FakeSlack",
    "PostedMessage",
    "app_home_opened_body",
    "async_post_signed",
    "block_actions_body",
    "block_text",
    "button_click_body",
    "find_button",
    "form_body",
    "post_signed",
    "sign",
    "slash_command_body",
    "slash_command_payload",
    "view_submission_body",
]

_response_base: str | None = None  # the last started fake's base URL


def button_click_body(blocks: list[JSON] | None, action_id: str, **kw: Any) -> JSON:
    """:func:`hitl_slack.localslack.payloads.button_click_body`, replies to the last fake."""
    kw.setdefault("response_base", _response_base)
    return payloads.button_click_body(blocks, action_id, **kw)


def slash_command_payload(text: str, **kw: Any) -> dict[str, str]:
    """:func:`hitl_slack.localslack.payloads.slash_command_payload`, replies to the last fake."""
    kw.setdefault("response_base", _response_base)
    return payloads.slash_command_payload(text, **kw)


def slash_command_body(text: str, **kw: Any) -> str:
    """:func:`hitl_slack.localslack.payloads.slash_command_body`, replies to the last fake."""
    kw.setdefault("response_base", _response_base)
    return payloads.slash_command_body(text, **kw)


@dataclass
class Fault:
    """A scripted failure of the next ``times`` calls of ``method`` (see ``FakeSlack.fail``)."""

    method: str
    status: int
    error: str | None
    retry_after: int | None
    times: int
    channel: str | None
    delay: float
    body: str | None


class FakeSlack(LocalSlack, FakeSocketMode):
    """The local Slack, with scripted faults and Socket Mode, served from a background thread."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("bot_token", "xoxb-test-token")
        kw.setdefault("app_token", "xapp-test-token")
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_connections = 0  # WebSocket connections accepted so far (reconnects included)
        super().__init__(**kw)

    def _clear(self) -> None:
        super()._clear()
        self._faults: list[Fault] = []
        self._acks: dict[str, JSON] = {}

    def _application(self, port: int) -> web.Application:
        app = super()._application(port)
        app.router.add_get("/link", self._socket)
        app.router.add_get("/link/", self._socket)
        return app

    async def _closing(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    def start(self) -> FakeSlack:
        global _response_base
        super().start()
        _response_base = self.base_url  # the builders' response_urls: here
        return self

    def stop(self) -> None:
        global _response_base
        was_running = self._loop is not None
        super().stop()
        if was_running and _response_base == self.base_url:
            _response_base = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    # -- scripted faults ---------------------------------------------------------------------
    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        error: str | None = None,
        retry_after: int | None = 1,
        times: int = 1,
        channel: str | None = None,
        delay: float = 0.0,
        body: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``channel`` if given) fail.

        429 → ``Retry-After`` header + ``ratelimited``; 5xx → ``internal_error``; status 200 with
        ``error`` → ``{"ok": false, "error": error}``; status 200 without ``error`` just delays.
        ``body`` replaces the JSON body with plain text. ``delay`` holds the answer (timeouts).
        """
        with self._cond:
            self._faults.append(
                Fault(method, status, error, retry_after, times, channel, delay, body)
            )

    def _take_fault(self, method: str, params: JSON) -> Fault | None:
        with self._cond:
            for f in self._faults:
                if (
                    f.method == method
                    and f.times > 0
                    and f.channel in (None, params.get("channel"))
                ):
                    f.times -= 1
                    return f
        return None

    async def intercept(self, call: Call) -> Answer | None:
        fault = self._take_fault(call.method, call.params)
        if fault is None:
            return None
        if fault.delay:
            self.hold(call)
            await asyncio.sleep(fault.delay)
        if fault.status == 200 and not fault.error:
            return None  # only held back
        default = "ratelimited" if fault.status == 429 else "internal_error"
        extra = (
            {"Retry-After": str(fault.retry_after)}
            if (fault.status == 429 and fault.retry_after is not None)
            else None
        )
        body = fault.body if fault.body is not None else err(fault.error or default)
        return fault.status, body, extra
