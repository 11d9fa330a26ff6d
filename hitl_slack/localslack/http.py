"""The local Slack's HTTP side: each Web API request routed to its method, and the
``response_url`` webhooks of interactions and commands.

A mixin of :class:`~hitl_slack.localslack.server.LocalSlack`: the state it reads and writes is
the workspace's, guarded by its ``_cond``; the methods themselves are
:class:`~hitl_slack.localslack.webapi.WebApi`'s ``_m_*``. :meth:`HttpSide.intercept` is the one
place a subclass may answer a call itself (the tests' scripted faults).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hitl_slack.localslack.records import JSON, Call, Ephemeral, PostedMessage, err

__all__ = ["Answer", "HttpSide", "read_params"]

#: What :meth:`HttpSide.intercept` answers instead of the method: status, body, extra headers.
Answer = tuple[int, Any, dict[str, str] | None]

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


class HttpSide:
    """Answers ``/api/{method}`` and ``/webhook/...`` requests (see ``LocalSlack``)."""

    bot_token: str
    app_token: str
    _cond: threading.Condition
    _calls: list[Call]
    _messages: dict[tuple[str, str], PostedMessage]
    _ephemerals: list[Ephemeral]
    _post: Callable[[str, JSON], PostedMessage]  # FakeWebApi's
    _next_ts: Callable[[], str]  # FakeWebApi's

    _changed: Callable[[], None]  # LocalSlack's: wake waiters and listeners

    async def intercept(self, call: Call) -> Answer | None:
        """Answer ``call`` instead of its method (None: let the method answer). May hold it
        (:meth:`hold`). The tests' fake Slack scripts its faults here."""
        return None

    def hold(self, call: Call) -> None:
        """Record ``call`` now, unanswered (``status`` None), before a slow answer."""
        with self._cond:
            call.status, call.listed = None, True
            self._calls.append(call)
            self._changed()

    # -- HTTP plumbing -----------------------------------------------------------------------
    def _finish(
        self,
        call: Call,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        with self._cond:
            call.status, call.response = status, body
            if not call.listed:
                call.listed = True
                self._calls.append(call)
            self._changed()
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
        answer = await self.intercept(call)
        if answer is not None:
            status, body, extra = answer
            return self._finish(call, status, body, headers=extra)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        with self._cond:
            result = handler(params) if handler else {"ok": True}
            return self._finish(call, 200, result)

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
        """Replace or delete the clicked message (a channel message, or the ephemeral reply of
        ``user`` it was), or post in_channel / ephemeral."""
        msg = self._messages.get((channel, ts))
        mine = [
            e for e in self._ephemerals if (e.channel, e.message_ts, e.user) == (channel, ts, user)
        ]
        delete = body.get("delete_original") in (True, "true")
        replace = body.get("replace_original") in (True, "true")
        if delete and msg:
            del self._messages[(channel, ts)]
        elif delete and mine:
            self._ephemerals.remove(mine[-1])
        elif replace and msg:
            msg.text, msg.blocks = body.get("text"), body.get("blocks")
            msg.updates += 1
        elif replace and mine:
            mine[-1].text, mine[-1].blocks = body.get("text"), body.get("blocks")
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
