"""A fake Slack at the network edge: Web API, response_url and Socket Mode over real sockets.

The real ``slack_sdk`` clients talk to it over HTTP (``base_url=fake.api_url``) and a real Socket
Mode client connects to its WebSocket, so everything above the socket is the production code path.
The server runs in its own thread and event loop, so sync tests, async tests and a bot running in a
subprocess can all use it::

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test-token", base_url=fake.api_url)
        client.chat_postMessage(channel="C0APPROVALS", text="hi", blocks=[...])
        msg = fake.messages("C0APPROVALS")[0]
        fake.fail("chat.update", status=429)                 # next chat.update gets a 429
        fake.wait_for_call("chat.update", timeout=5)         # blocks on a Condition, no polling
        ack = fake.send_envelope("interactive", block_actions_body(msg, "approve"))

HTTP-mode apps get signed requests with ``post_signed(url, form_body(payload), secret=...,
content_type="application/x-www-form-urlencoded")``. Payload builders follow Slack's real shapes.
Everything the fake stores is returned as copies; accessors are thread-safe. ``reset()`` clears
recorded state and scripted faults but keeps configuration (tokens, channel sets, usergroups).
Blocking helpers must not be called from a loop that also runs the client they wait for: use the
``async_*`` twins there.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

JSON = dict[str, Any]
CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]+$")
USER_RE = re.compile(r"^[UW][A-Z0-9]+$")
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # JSON strings inside form bodies
_ACTIVE: FakeSlack | None = None  # the last started fake: builders point response_urls at it


@dataclass
class Call:
    """One request the fake received. ``status`` is None while a ``delay`` fault holds it."""

    method: str
    params: JSON
    headers: dict[str, str]
    at: float
    status: int | None = 200
    response: Any = None
    path: str = ""
    peer: str = ""  # the client's address:port: one per TCP connection


@dataclass
class PostedMessage:
    """Current state of a channel message (after ``chat.update`` / ``replace_original``)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[JSON] | None
    updates: int = 0
    thread_ts: str | None = None
    attachments: list[JSON] | None = None
    metadata: JSON | None = None
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    app_id: str = "A111"
    team_id: str = "T111"
    base_url: str = field(default="", repr=False)

    def as_payload(self, *, metadata: bool = False) -> JSON:
        """The message object as Slack returns it in API answers and interaction payloads.

        ``metadata``: include the message metadata (``conversations.history`` with
        ``include_all_metadata``).
        """
        out: JSON = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": self.text or "",
            "ts": self.ts,
        }
        for key in ("blocks", "attachments", "thread_ts"):
            if getattr(self, key) is not None:
                out[key] = copy.deepcopy(getattr(self, key))
        if metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out

    @property
    def live(self) -> bool:
        """True while the message still has a button someone could click."""
        return any(
            e.get("type") == "button"
            for b in self.blocks or []
            for e in [b.get("accessory"), *b.get("elements", [])]
            if isinstance(e, dict)
        )


@dataclass
class Ephemeral:
    """An ephemeral message, from ``chat.postEphemeral`` or an ephemeral ``response_url`` post."""

    channel: str
    user: str
    text: str | None
    blocks: list[JSON] | None
    message_ts: str
    via: str = "chat.postEphemeral"


@dataclass
class _Fault:
    method: str
    status: int
    error: str | None
    retry_after: int | None
    times: int
    channel: str | None
    delay: float
    body: str | None


def _err(error: str) -> JSON:
    return {"ok": False, "error": error}


async def _read_params(request: web.Request) -> JSON:
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


class FakeSlack:
    """Slack's Web API + Socket Mode on 127.0.0.1:<free port>, served from a background thread."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        team_id: str = "T111",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A111",
        known_channels: Iterable[str] | None = None,
    ) -> None:
        self.bot_token, self.app_token = bot_token, app_token
        self.team_id, self.bot_user_id = team_id, bot_user_id
        self.bot_id, self.app_id = bot_id, app_id
        self.known_channels: set[str] | None = set(known_channels) if known_channels else None
        self.channels_not_found: set[str] = set()
        self.not_in_channel: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, JSON] = {}  # users.info overrides, merged over a synthesized user
        self._cond = threading.Condition()  # guards all state below; RLock, so accessors nest
        self._seq = itertools.count(1)
        self._last_ts = 0
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_connections = 0  # WebSocket connections accepted so far (reconnects included)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._clear()

    def _clear(self) -> None:
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], PostedMessage] = {}
        self._ephemerals: list[Ephemeral] = []
        self._views: dict[str, JSON] = {}
        self._published: dict[str, list[JSON]] = {}
        self._faults: list[_Fault] = []
        self._acks: dict[str, JSON] = {}
        self._frames: list[JSON] = []  # every JSON frame Socket Mode clients sent

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    @property
    def api_url(self) -> str:
        """Pass as ``base_url`` to WebClient / AsyncWebClient."""
        return self.base_url + "api/"

    def start(self) -> FakeSlack:
        global _ACTIVE
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        loop = self._loop = asyncio.new_event_loop()
        started = asyncio.run_coroutine_threadsafe(self._serve(sock), loop)
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"fakeslack-{self._port}", daemon=True
        )
        self._thread.start()
        started.result(10)
        _ACTIVE = self
        return self

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/webhook/{tail:.*}", self._webhook)
        app.router.add_get("/link", self._socket)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        global _ACTIVE
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            assert self._runner is not None
            await self._runner.cleanup()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # e.g. a handler still sleeping in a ``delay`` fault
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None
        if _ACTIVE is self:
            _ACTIVE = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accessors and waits -----------------------------------------------------------------
    def reset(self) -> None:
        with self._cond:
            self._clear()

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str | None = None) -> list[PostedMessage]:
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in self._messages.values()
                if channel is None or m.channel == channel
            ]

    def message(self, channel: str, ts: str) -> PostedMessage:
        with self._cond:
            if (channel, ts) not in self._messages:
                raise KeyError(f"no message {ts} in {channel} (deleted or never posted)")
            return copy.deepcopy(self._messages[(channel, ts)])

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        with self._cond:
            return [copy.deepcopy(e) for e in self._ephemerals if user in (None, e.user)]

    def opened_views(self) -> list[JSON]:
        """Modals from views.open / views.push, in opening order, as last updated."""
        with self._cond:
            return copy.deepcopy(list(self._views.values()))

    def view(self, view_id: str) -> JSON:
        with self._cond:
            return copy.deepcopy(self._views[view_id])

    def published_views(self, user: str) -> list[JSON]:
        """Every views.publish for ``user``, oldest first (the last one is what the user sees)."""
        with self._cond:
            return copy.deepcopy(self._published.get(user, []))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` (re-checked on every change to the fake) is true."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"condition not met within {timeout}s")

    def wait_for_calls(
        self,
        method: str,
        n: int,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """The first ``n`` calls of ``method`` (matching ``predicate``), including past ones."""

        def hits() -> list[Call]:
            return [
                c for c in self._calls if c.method == method and (predicate is None or predicate(c))
            ]

        with self._cond:
            if not self._cond.wait_for(lambda: len(hits()) >= n, timeout):
                seen = sorted({c.method for c in self._calls})
                raise TimeoutError(f"{len(hits())}/{n} {method} calls in {timeout}s; seen {seen}")
            return hits()[:n]

    def wait_for_call(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0
    ) -> Call:
        return self.wait_for_calls(method, 1, timeout, predicate)[0]

    async def async_wait_for_call(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0
    ) -> Call:
        return await asyncio.to_thread(self.wait_for_call, method, predicate, timeout)

    async def async_wait_for_calls(
        self,
        method: str,
        n: int,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        return await asyncio.to_thread(self.wait_for_calls, method, n, timeout, predicate)

    async def async_wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await asyncio.to_thread(self.wait_until, predicate, timeout)

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
                _Fault(method, status, error, retry_after, times, channel, delay, body)
            )

    def _take_fault(self, method: str, params: JSON) -> _Fault | None:
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
        params = await _read_params(request)
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
            return self._finish(call, 200, _err("invalid_auth"))
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
            body = fault.body if fault.body is not None else _err(fault.error or default)
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

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="unknown ticket: call apps.connections.open")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": self.app_id},
            }
        )
        with self._cond:
            self._sockets.append(ws)
            self.socket_connections += 1
            self._cond.notify_all()
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(frame.data)
                except ValueError:
                    data = {"unparsable": frame.data}
                with self._cond:
                    self._frames.append(data)
                    if "envelope_id" in data:
                        self._acks[data["envelope_id"]] = data
                    self._cond.notify_all()
        finally:
            with self._cond:
                if ws in self._sockets:
                    self._sockets.remove(ws)
                self._cond.notify_all()
        return ws

    # -- Socket Mode (test side) -------------------------------------------------------------
    def socket_frames(self) -> list[JSON]:
        """Every frame (acks included) that Socket Mode clients sent, oldest first."""
        with self._cond:
            return copy.deepcopy(self._frames)

    def socket_connected(self, timeout: float = 5.0) -> bool:
        """Wait until a Socket Mode client is connected and has been sent ``hello``."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._sockets), timeout)

    def _send_frame(self, frame: JSON, timeout: float) -> web.WebSocketResponse:
        if not self.socket_connected(timeout):
            raise TimeoutError(f"no Socket Mode client connected within {timeout}s")
        assert self._loop is not None
        with self._cond:
            ws = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(ws.send_json(frame), self._loop).result(timeout)
        return ws

    def send_envelope(
        self,
        type: str,
        payload: JSON,
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
    ) -> JSON:
        """Send an envelope to the newest client and block until it is acked; return the ack."""
        deadline = time.monotonic() + timeout
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive"
                and (payload.get("type") in ("view_submission", "block_suggestion"))
            )
        envelope_id = str(uuid.uuid4())
        frame: JSON = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            frame.update(retry_attempt=0, retry_reason="")
        self._send_frame(frame, timeout)
        with self._cond:
            left = max(0.0, deadline - time.monotonic())
            if not self._cond.wait_for(lambda: envelope_id in self._acks, left):
                raise TimeoutError(f"envelope {envelope_id} ({type}) not acked within {timeout}s")
            return copy.deepcopy(self._acks[envelope_id])

    async def async_send_envelope(
        self,
        type: str,
        payload: JSON,
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
    ) -> JSON:
        return await asyncio.to_thread(
            self.send_envelope,
            type,
            payload,
            timeout=timeout,
            accepts_response_payload=accepts_response_payload,
        )

    async def async_socket_connected(self, timeout: float = 5.0) -> bool:
        return await asyncio.to_thread(self.socket_connected, timeout)

    def send_disconnect(self, reason: str = "refresh_requested", timeout: float = 5.0) -> None:
        """Ask the newest client to reconnect; it stops counting as connected."""
        ws = self._send_frame(
            {
                "type": "disconnect",
                "reason": reason,
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": self.app_id},
            },
            timeout,
        )
        with self._cond:
            if ws in self._sockets:
                self._sockets.remove(ws)

    # -- Web API methods (called with the lock held) -----------------------------------------
    def _next_ts(self) -> str:
        # Slack's ts is the Unix time of the post (conversations.history filters on it), unique
        # per channel: the wall clock in microseconds, kept strictly increasing.
        micros = self._last_ts = max(int(time.time() * 1_000_000), self._last_ts + 100)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel_error(self, channel: str | None) -> str | None:
        if not channel or channel in self.channels_not_found:
            return "channel_not_found"
        known = self.known_channels
        valid = channel in known if known is not None else bool(CHANNEL_RE.match(channel))
        if not valid:
            return "channel_not_found"
        return "not_in_channel" if channel in self.not_in_channel else None

    @staticmethod
    def _dm(channel: Any) -> Any:
        """Posting to a user id posts to the app's DM with that user."""
        return "D" + channel[1:] if isinstance(channel, str) and USER_RE.match(channel) else channel

    def _post(self, channel: str, p: JSON) -> PostedMessage:
        metadata = p.get("metadata") if isinstance(p.get("metadata"), dict) else None
        msg = PostedMessage(
            channel,
            self._next_ts(),
            p.get("text"),
            p.get("blocks"),
            thread_ts=p.get("thread_ts"),
            attachments=p.get("attachments"),
            metadata=metadata,
            bot_user_id=self.bot_user_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            team_id=self.team_id,
            base_url=self.base_url,
        )
        self._messages[(channel, msg.ts)] = msg
        return msg

    def _m_auth_test(self, p: JSON) -> JSON:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "hitl",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, p: JSON) -> JSON:
        channel = self._dm(p.get("channel"))
        if error := self._channel_error(channel):
            return _err(error)
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            return _err("no_text")
        msg = self._post(channel, p)
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": msg.as_payload()}

    def _m_chat_update(self, p: JSON) -> JSON:
        channel, ts = p.get("channel"), p.get("ts")
        msg = self._messages.get((channel, ts))  # type: ignore[arg-type]
        if msg is None:
            return _err(self._channel_error(channel) or "message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):  # omitted: kept as they were
            if key in p:
                setattr(msg, key, (p[key] or None) if key == "metadata" else p[key])
        msg.updates += 1
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg.text or "",
            "message": msg.as_payload(),
        }

    def _m_chat_delete(self, p: JSON) -> JSON:
        if self._messages.pop((p.get("channel"), p.get("ts")), None) is None:  # type: ignore[arg-type]
            return _err("message_not_found")
        return {"ok": True, "channel": p["channel"], "ts": p["ts"]}

    def _m_chat_postEphemeral(self, p: JSON) -> JSON:
        channel = self._dm(p.get("channel"))
        if error := self._channel_error(channel):
            return _err(error)
        if not p.get("user"):
            return _err("user_not_in_channel")
        ts = self._next_ts()
        self._ephemerals.append(Ephemeral(channel, p["user"], p.get("text"), p.get("blocks"), ts))
        return {"ok": True, "message_ts": ts}

    def _m_chat_getPermalink(self, p: JSON) -> JSON:
        channel, ts = str(p.get("channel", "")), str(p.get("message_ts", ""))
        if (channel, ts) not in self._messages:
            return _err("message_not_found")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _m_conversations_history(self, p: JSON) -> JSON:
        """Newest first, ``oldest`` / ``latest`` exclusive, paged by ``limit`` and ``cursor``."""
        channel = p.get("channel")
        if error := self._channel_error(channel):
            return _err(error)
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        limit = max(1, min(int(p.get("limit") or 100), 999))
        start = int(p.get("cursor") or 0)
        metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        found = sorted(
            (
                m
                for m in self._messages.values()
                if m.channel == channel and m.thread_ts is None and oldest < float(m.ts) < latest
            ),
            key=lambda m: float(m.ts),
            reverse=True,
        )
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": [m.as_payload(metadata=metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_open(self, p: JSON) -> JSON:
        first = str(p.get("users", "")).split(",")[0]
        if not first:
            return _err("users_list_not_supplied")
        return {"ok": True, "channel": {"id": self._dm(first)}}

    def _m_conversations_info(self, p: JSON) -> JSON:
        channel = p.get("channel")
        if (error := self._channel_error(channel)) and error != "not_in_channel":
            return _err(error)
        assert isinstance(channel, str)
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": channel[0] == "C",
                "is_private": channel[0] == "G",
                "is_im": channel[0] == "D",
                "is_member": channel not in self.not_in_channel,
            },
        }

    def _m_users_info(self, p: JSON) -> JSON:
        user = str(p.get("user", ""))
        if user not in self.users and not USER_RE.match(user):
            return _err("user_not_found")
        base = {
            "id": user,
            "team_id": self.team_id,
            "name": user.lower(),
            "real_name": f"User {user}",
            "deleted": False,
            "is_bot": False,
            "tz": "UTC",
            "profile": {"display_name": user.lower(), "real_name": f"User {user}"},
        }
        return {"ok": True, "user": {**base, **self.users.get(user, {})}}

    def _m_usergroups_users_list(self, p: JSON) -> JSON:
        members = self.usergroups.get(str(p.get("usergroup")))
        return _err("no_such_subteam") if members is None else {"ok": True, "users": list(members)}

    def _m_apps_connections_open(self, p: JSON) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {
            "ok": True,
            "url": f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}&app_id={self.app_id}",
        }

    def _stored_view(
        self,
        view: JSON,
        *,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
    ) -> JSON:
        view_id = view_id or f"V{next(self._seq):08d}"
        defaults = {
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
        }
        return {
            **defaults,
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "app_installed_team_id": self.team_id,
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "root_view_id": root or view_id,
            "previous_view_id": previous,
        }

    def _open_view(self, p: JSON, previous: str | None = None) -> JSON:
        if not p.get("trigger_id") or not isinstance(p.get("view"), dict):
            return _err("invalid_arguments")
        root = self._views[previous]["root_view_id"] if previous in self._views else None
        stored = self._stored_view(p["view"], root=root, previous=previous)
        self._views[stored["id"]] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _m_views_open(self, p: JSON) -> JSON:
        return self._open_view(p)

    def _m_views_push(self, p: JSON) -> JSON:
        return self._open_view(p, previous=next(reversed(self._views), None))

    def _m_views_update(self, p: JSON) -> JSON:
        external = p.get("external_id")
        current = self._views.get(str(p.get("view_id"))) or next(
            (v for v in self._views.values() if external and v["external_id"] == external), None
        )
        if current is None or not isinstance(p.get("view"), dict):
            return _err("not_found" if current is None else "invalid_arguments")
        if p.get("hash") and p["hash"] != current["hash"]:
            return _err("hash_conflict")
        stored = self._stored_view(
            p["view"],
            view_id=current["id"],
            root=current["root_view_id"],
            previous=current["previous_view_id"],
        )
        self._views[stored["id"]] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _m_views_publish(self, p: JSON) -> JSON:
        user, view = str(p.get("user_id", "")), p.get("view")
        if not USER_RE.match(user) or not isinstance(view, dict):
            return _err("invalid_arguments")
        history = self._published.setdefault(user, [])
        if history and p.get("hash") and p["hash"] != history[-1]["hash"]:
            return _err("hash_conflict")
        stored = self._stored_view(view, view_id=history[-1]["id"] if history else None)
        history.append(stored)
        return {"ok": True, "view": copy.deepcopy(stored)}


# -- payload builders (Slack's shapes, see reference §2) -----------------------------------------
def _trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _user(user_id: str, team_id: str) -> JSON:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def _response_url(kind: str, channel: str, ts: str, user: str, base: str | None = None) -> str:
    base = base or (_ACTIVE.base_url if _ACTIVE else None)
    if not base:
        return f"https://hooks.slack.com/{kind}/T111/1/{secrets.token_hex(8)}"
    return f"{base}webhook/{kind}/{channel}/{ts}/{user}/{secrets.token_hex(8)}"


def _find(blocks: list[JSON], action_id: str) -> tuple[JSON, JSON] | None:
    for block in blocks:
        for element in [block.get("accessory"), *block.get("elements", [])]:
            if (
                isinstance(element, dict)
                and element.get("type") == "button"
                and element.get("action_id") == action_id
            ):
                return block, element
    return None


def find_button(blocks: list[JSON] | None, action_id: str) -> JSON | None:
    """The button element with ``action_id`` (in an actions block or a section accessory)."""
    found = _find(blocks or [], action_id)
    return found[1] if found else None


def block_text(blocks: list[JSON] | None) -> str:
    """Every ``text`` string inside ``blocks``, newline-joined, for substring assertions."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks or [])
    return "\n".join(out)


def block_actions_body(
    message: PostedMessage,
    action_id: str,
    *,
    user_id: str = "U0ALICE",
    team_id: str = "T111",
    trigger_id: str | None = None,
) -> JSON:
    """A click on the button ``action_id`` of a message the app posted (raises if it has none)."""
    found = _find(message.blocks or [], action_id)
    if found is None:
        present = [
            e.get("action_id")
            for b in message.blocks or []
            for e in [b.get("accessory"), *b.get("elements", [])]
            if isinstance(e, dict)
        ]
        raise LookupError(f"no button {action_id!r} in message {message.ts}; action_ids: {present}")
    block, button = found
    block_id = block.get("block_id") or hashlib.sha1(json.dumps(block).encode()).hexdigest()[:5]
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "text": button.get("text"),
        "value": button.get("value"),
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if "style" in button:
        action["style"] = button["style"]
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": message.app_id,
        "token": "verification_token",
        "trigger_id": trigger_id or _trigger_id(),
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "team": {"id": team_id, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": message.channel.lower()},
        "message": message.as_payload(),
        "state": {"values": {}},
        "response_url": _response_url(
            "actions", message.channel, message.ts, user_id, message.base_url or None
        ),
        "actions": [action],
    }


def button_click_body(
    blocks: list[JSON] | None,
    action_id: str,
    *,
    user_id: str = "U0ALICE",
    channel_id: str | None = None,
    view: JSON | None = None,
    team_id: str = "T111",
) -> JSON:
    """A click on a button outside a channel message: in an ephemeral reply posted in
    ``channel_id`` (with a ``response_url``), or in ``view`` (an App Home tab or a modal)."""
    found = _find(blocks or [], action_id)
    if found is None:
        raise LookupError(f"no button {action_id!r} in these blocks")
    block, button = found
    action = {
        "action_id": action_id,
        "block_id": block.get("block_id", "b"),
        "text": button.get("text"),
        "value": button.get("value"),
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    body: JSON = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": "A111",
        "token": "verification_token",
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [action],
    }
    if view is not None:
        body |= {"container": {"type": "view", "view_id": view.get("id")}, "view": view}
    else:
        assert channel_id is not None, "an ephemeral reply lives in a channel"
        body |= {
            "container": {
                "type": "message",
                "message_ts": "-",
                "channel_id": channel_id,
                "is_ephemeral": True,
            },
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "response_url": _response_url("actions", channel_id, "-", user_id),
        }
    return body


def view_submission_body(
    view: JSON, values: dict[str, dict[str, JSON]], *, user_id: str = "U0ALICE"
) -> JSON:
    """A submit of ``view`` (as stored by the fake) with ``state.values`` = ``values``."""
    submitted = {**copy.deepcopy(view), "state": {"values": copy.deepcopy(values)}}
    team_id = view.get("team_id", "T111")
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake"},
        "user": _user(user_id, team_id),
        "api_app_id": view.get("app_id", "A111"),
        "token": "verification_token",
        "trigger_id": _trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def form_body(payload: JSON) -> str:
    """The interactivity transport: ``payload=<urlencoded JSON>``."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def slash_command_payload(
    text: str,
    *,
    command: str = "/hitl",
    user_id: str = "U0ALICE",
    channel_id: str = "C0APPROVALS",
    team_id: str = "T111",
) -> dict[str, str]:
    """Slash command fields (the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "verification_token",
        "team_id": team_id,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": channel_id.lower(),
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A111",
        "is_enterprise_install": "false",
        "response_url": _response_url("commands", channel_id, "-", user_id),
        "trigger_id": _trigger_id(),
    }


def slash_command_body(
    text: str, *, command: str = "/hitl", user_id: str = "U0ALICE", channel_id: str = "C0APPROVALS"
) -> str:
    """The same fields urlencoded, as Slack POSTs them in HTTP mode."""
    return urllib.parse.urlencode(
        slash_command_payload(text, command=command, user_id=user_id, channel_id=channel_id)
    )


def app_home_opened_body(
    user_id: str,
    *,
    team_id: str = "T111",
    tab: str = "home",
    view: JSON | None = None,
    bot_user_id: str = "U0BOT",
) -> JSON:
    """An ``event_callback`` for ``app_home_opened`` (``view``: the last published one, if any)."""
    event: JSON = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return {
        "token": "verification_token",
        "team_id": team_id,
        "api_app_id": "A111",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
        "is_ext_shared_channel": False,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for ``body`` (v0 HMAC-SHA256)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": ts}


def post_signed(
    url: str,
    body: str,
    *,
    secret: str,
    content_type: str,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST a signed request like Slack does; returns (status, body) without raising on 4xx/5xx."""
    headers = {"Content-Type": content_type, **sign(secret, body, timestamp)}
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def async_post_signed(
    url: str, body: str, *, secret: str, content_type: str, timestamp: int | None = None
) -> tuple[int, str]:
    """``post_signed`` for async tests whose app runs in the test's own event loop."""
    headers = {"Content-Type": content_type, **sign(secret, body, timestamp)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body.encode(), headers=headers) as response,
    ):
        return response.status, await response.text()
