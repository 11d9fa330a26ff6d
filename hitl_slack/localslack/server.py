"""A Slack workspace on localhost: the Web API the bot calls and the ``response_url`` hooks of its
replies, over real HTTP, with everything that happened recorded.

The real ``slack_sdk`` clients talk to it (``base_url=slack.api_url``, or ``SLACK_API_URL`` for
the bot), so everything above the socket is the production code path. Two ways to run it:

* :meth:`LocalSlack.start` serves it from its own thread and event loop on a free port, so sync
  code, async code and a bot in a subprocess can all use it (the tests)::

      with LocalSlack() as slack:
          client = WebClient(token=slack.bot_token, base_url=slack.api_url)
          client.chat_postMessage(channel="C0APPROVALS", text="hi")
          slack.wait_for_call("chat.postMessage", timeout=5)   # blocks on a Condition
          msg = slack.messages("C0APPROVALS")[0]

* :meth:`LocalSlack.add_routes` puts its routes in an aiohttp application of the caller's, in
  the caller's loop (the playground: :mod:`hitl_slack.playground`).

Messages, ephemerals and views are returned as copies; accessors are thread-safe; every change
calls the listeners given to :meth:`LocalSlack.on_change`. Blocking waits must not be called
from a loop that also runs the client they wait for: use the ``async_*`` twins there.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import socket
import threading
from collections.abc import Callable, Iterable

from aiohttp import web

from hitl_slack.localslack.http import HttpSide
from hitl_slack.localslack.records import JSON, Call, Ephemeral, PostedMessage
from hitl_slack.localslack.webapi import WebApi

__all__ = ["LocalSlack"]


class LocalSlack(HttpSide, WebApi):
    """Slack's Web API and ``response_url`` hooks for one workspace, on 127.0.0.1."""

    def __init__(
        self,
        *,
        bot_token: str | None = None,
        app_token: str | None = None,
        team_id: str = "T111",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A111",
        known_channels: Iterable[str] | None = None,
    ) -> None:
        # Tokens only this workspace accepts (and real Slack refuses): random unless given.
        self.bot_token = bot_token or "xoxb-local-" + secrets.token_hex(16)
        self.app_token = app_token or "xapp-local-" + secrets.token_hex(16)
        self.team_id, self.bot_user_id = team_id, bot_user_id
        self.bot_id, self.app_id = bot_id, app_id
        self.known_channels: set[str] | None = set(known_channels) if known_channels else None
        self.channels_not_found: set[str] = set()
        self.not_in_channel: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, JSON] = {}  # users.info overrides, merged over a synthesized user
        self.channel_names: dict[str, str] = {}  # conversations.info names (default: id, lower)
        self.permalink_base: str | None = None  # chat.getPermalink's (default a fake slack.com)
        self._cond = threading.Condition()  # guards all state below; RLock, so accessors nest
        self._listeners: list[Callable[[], None]] = []
        self._seq = itertools.count(1)
        self._last_ts = 0
        self._trigger_users: dict[str, str] = {}
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
        self._view_users: dict[str, str] = {}
        self._published: dict[str, list[JSON]] = {}

    def _changed(self) -> None:
        """Wake the waiters and tell the listeners (the lock is held)."""
        self._cond.notify_all()
        for listener in self._listeners:
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change (with the lock held: it must not block)."""
        with self._cond:
            self._listeners.append(listener)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def api_url(self) -> str:
        """Pass as ``base_url`` to WebClient / AsyncWebClient (the bot's ``SLACK_API_URL``)."""
        return self.base_url + "api/"

    def add_routes(self, app: web.Application, port: int) -> None:
        """Serve the Web API and hooks from ``app``, which the caller runs on ``port``."""
        self._port = port
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/webhook/{tail:.*}", self._webhook)

    def start(self) -> LocalSlack:
        """Serve from a thread of its own on a free port of 127.0.0.1."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        loop = self._loop = asyncio.new_event_loop()
        started = asyncio.run_coroutine_threadsafe(self._serve(sock), loop)
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"localslack-{sock.getsockname()[1]}", daemon=True
        )
        self._thread.start()
        started.result(10)
        return self

    def _application(self, port: int) -> web.Application:
        app = web.Application()
        self.add_routes(app, port)
        return app

    async def _serve(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(
            self._application(sock.getsockname()[1]), access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _closing(self) -> None:
        """Close what the server holds open before it stops (a subclass's sockets)."""

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            await self._closing()
            assert self._runner is not None
            await self._runner.cleanup()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # e.g. a handler still holding an answer back
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> LocalSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what people do ----------------------------------------------------------------------
    def trigger_for(self, user: str) -> str:
        """A new ``trigger_id`` for a click or command of ``user``: a view the bot opens with
        it opens on that person's screen (:meth:`views_of`)."""
        trigger = f"{next(self._seq)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        with self._cond:
            self._trigger_users[trigger] = user
            while len(self._trigger_users) > 1000:  # never used (no view opened): forget
                del self._trigger_users[next(iter(self._trigger_users))]
        return trigger

    def add_ephemeral(
        self, channel: str, user: str, text: str | None, blocks: list[JSON] | None
    ) -> None:
        """Show ``user`` an ephemeral message (a slash command's immediate answer)."""
        with self._cond:
            self._ephemerals.append(
                Ephemeral(channel, user, text, blocks, self._next_ts(), via="command")
            )
            self._changed()

    def replace_view(self, view_id: str, view: JSON | None) -> None:
        """Replace a modal (a ``response_action: update``) or close it (None)."""
        with self._cond:
            current = self._views.get(view_id)
            if current is None:
                return
            if view is None:
                del self._views[view_id]
                self._view_users.pop(view_id, None)
            else:
                self._views[view_id] = self._stored_view(
                    view,
                    view_id=view_id,
                    root=current["root_view_id"],
                    previous=current["previous_view_id"],
                )
            self._changed()

    # -- accessors and waits -----------------------------------------------------------------
    def reset(self) -> None:
        """Clear what was recorded; keep the configuration (tokens, channels, usergroups)."""
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

    def views_of(self, user: str) -> list[JSON]:
        """The modals open on ``user``'s screen, bottom of the stack first."""
        with self._cond:
            return copy.deepcopy(
                [v for k, v in self._views.items() if self._view_users.get(k) == user]
            )

    def published_views(self, user: str) -> list[JSON]:
        """Every views.publish for ``user``, oldest first (the last one is what the user sees)."""
        with self._cond:
            return copy.deepcopy(self._published.get(user, []))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` (re-checked on every change) is true."""
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
