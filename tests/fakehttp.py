"""The fake Slack's HTTP side: each Web API request routed to its method, scripted faults,
and the ``response_url`` webhooks of interactions and commands.

A mixin of :class:`fakeslack.FakeSlack`: the state it reads and writes is the fake's, guarded by
its ``_cond``; the methods themselves are :class:`fakewebapi.FakeWebApi`'s ``_m_*``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from aiohttp import web
from fakerecords import JSON, Call, Ephemeral, Fault, PostedMessage, err

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # JSON strings inside form bodies


async def read_params(request: web.Request) -> JSON:
    """Merge query params with a JSON, urlencoded or multipart body, decoding JSON-string fields."""
    params: JSON = dict(request.query)
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        raw = await request.read()
        if request.content_type == "application/json" or raw.lstrip().startswith(b"{"):
            body = json.loads(raw or b"{}")
            params.update(body if isinstance(body, dict) else {})
        elif raw:
            params.update(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            params[key] = json.loads(value)
    return params


class FakeHttp:
    """Answers ``/api/{method}`` and ``/webhook/...`` requests (see ``FakeSlack``)."""

    bot_token: str
    app_token: str
    _cond: threading.Condition
    _calls: list[Call]
    _faults: list[Fault]
    _messages: dict[tuple[str, str], PostedMessage]
    _ephemerals: list[Ephemeral]
    _post: Callable[[str, JSON], PostedMessage]  # FakeWebApi's
    _next_ts: Callable[[], str]  # FakeWebApi's

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

    # -- HTTP plumbing -----------------------------------------------------------------------
    def _finish(
        self,
        call: Call,
        status: int,
        body: Any,
        *,
        recorded: bool = False,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        with self._cond:
            call.status, call.response = status, body
            if not recorded:
                self._calls.append(call)
            self._cond.notify_all()
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.pop("token", None)
        peername = request.transport.get_extra_info("peername") if request.transport else None
        call = Call(
            method,
            params,
            headers,
            time.time(),
            path=request.path,
            peer=":".join(map(str, peername[:2])) if peername else "",
        )
        if token != (self.app_token if method == "apps.connections.open" else self.bot_token):
            return self._finish(call, 200, err("invalid_auth"))
        fault, recorded = self._take_fault(method, params), False
        if fault and fault.delay:
            with self._cond:
                call.status, recorded = None, True
                self._calls.append(call)
                self._cond.notify_all()
            await asyncio.sleep(fault.delay)
        if fault and (fault.status != 200 or fault.error):
            default = "ratelimited" if fault.status == 429 else "internal_error"
            extra = (
                {"Retry-After": str(fault.retry_after)}
                if (fault.status == 429 and fault.retry_after is not None)
                else None
            )
            body = fault.body if fault.body is not None else err(fault.error or default)
            return self._finish(call, fault.status, body, recorded=recorded, headers=extra)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        with self._cond:
            answer = handler(params) if handler else {"ok": True}
            return self._finish(call, 200, answer, recorded=recorded)

    async def _webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = dict(urllib.parse.parse_qsl(raw.decode()))
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call("response_url", body, headers, time.time(), path=request.path)
        parts = ([*request.match_info["tail"].split("/"), "-", "-", "-", "-"])[:4]
        with self._cond:
            self._apply_response_url(parts[1], parts[2], parts[3], body)
            return self._finish(call, 200, "ok")

    def _apply_response_url(self, channel: str, ts: str, user: str, body: JSON) -> None:
        """Replace or delete the clicked message, or post in_channel / ephemeral."""
        msg = self._messages.get((channel, ts))
        if body.get("delete_original") in (True, "true") and msg:
            del self._messages[(channel, ts)]
        elif body.get("replace_original") in (True, "true") and msg:
            msg.text, msg.blocks = body.get("text"), body.get("blocks")
            msg.updates += 1
        elif body.get("response_type") == "in_channel":
            self._post(channel, body)
        else:
            self._ephemerals.append(
                Ephemeral(
                    channel,
                    user,
                    body.get("text"),
                    body.get("blocks"),
                    self._next_ts(),
                    via="response_url",
                )
            )
