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
Messages, ephemerals and views are returned as copies; a :class:`Call` is the fake's own record
(a call held by a ``delay`` fault gets its status once answered); accessors are thread-safe.
``reset()`` clears recorded state and scripted faults but keeps configuration (tokens, channel
sets, usergroups).
Blocking helpers must not be called from a loop that also runs the client they wait for: use the
``async_*`` twins there.

The fake is split by concern: :mod:`fakehttp` (requests, scripted faults, response_url),
:mod:`fakewebapi` (what each method does), :mod:`fakesocket` (Socket Mode), :mod:`fakerecords`
(what is recorded) and :mod:`fakepayloads` (Slack's payloads, signed requests); everything a test
needs is importable from here.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import socket
import threading
from collections.abc import Callable, Iterable

import fakepayloads
from aiohttp import web
from fakehttp import FakeHttp
from fakepayloads import (
    app_home_opened_body,
    async_post_signed,
    block_actions_body,
    block_text,
    button_click_body,
    find_button,
    form_body,
    post_signed,
    sign,
    slash_command_body,
    slash_command_payload,
    view_submission_body,
)
from fakerecords import JSON, Call, Ephemeral, Fault, PostedMessage
from fakesocket import FakeSocketMode
from fakewebapi import FakeWebApi

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


class FakeSlack(FakeHttp, FakeSocketMode, FakeWebApi):
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
        self._faults: list[Fault] = []
        self._acks: dict[str, JSON] = {}

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
        fakepayloads.point_response_urls_at(self.base_url)  # builders' response_urls: here
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
        if fakepayloads.response_urls_base() == self.base_url:
            fakepayloads.point_response_urls_at(None)

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
