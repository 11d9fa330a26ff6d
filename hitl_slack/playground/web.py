"""The playground's page and its JSON API, served next to the local Slack's Web API.

``/`` and ``/static/...`` are the page (plain files shipped in the package: no build step, no
CDN). ``/play/state`` is everything one person sees; ``/play/events`` says, as server-sent
events, when that changed; the POST routes are what a person does (:mod:`.interactions`) and the
agent's test requests (:mod:`.agent`); ``/play/explain/{id}`` is the "what just happened"
panel (:mod:`.explain`).

The API answers only same-origin JSON requests for ``127.0.0.1`` / ``localhost`` hosts, so
neither another web page open in the browser nor a DNS-rebinding host can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hitl_slack.errors import HITLError
from hitl_slack.keys import Keys
from hitl_slack.localslack.records import JSON, PostedMessage
from hitl_slack.localslack.server import LocalSlack
from hitl_slack.playground import workspace
from hitl_slack.playground.agent import AgentPanel, QuestionForm, RequestForm
from hitl_slack.playground.explain import explain
from hitl_slack.playground.interactions import Interactions, Unknown

__all__ = ["Changes", "Page", "add_page_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATIC = Path(__file__).parent / "static"
#: The page runs only its own files: no inline script, no other origin, never in a frame.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_PEOPLE = {p.id for p in workspace.PEOPLE}


class Changes:
    """A counter of changes, and an event for those waiting for the next one."""

    def __init__(self) -> None:
        self.seq = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        """Something changed (call in the loop's thread)."""
        self.seq += 1
        self._event.set()
        self._event = asyncio.Event()

    async def next(self, after: int, timeout: float) -> int:
        """Wait until ``seq`` passes ``after`` (or ``timeout``); the current ``seq``."""
        if self.seq <= after:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        return self.seq


@dataclass
class Page:
    """What the page's routes read and drive."""

    slack: LocalSlack
    interactions: Interactions
    agent: AgentPanel
    changes: Changes
    keys: Keys
    redis_url: str

    # -- the state one person sees -----------------------------------------------------------
    def state(self, user: str) -> JSON:
        return {
            "workspace": {
                "name": "hitl playground",
                "prefix": self.keys.prefix,
                "bot_user_id": self.slack.bot_user_id,
                "bot_name": workspace.BOT_NAME,
            },
            "people": [{"id": p.id, "name": p.name, "title": p.title} for p in workspace.PEOPLE],
            "groups": [
                {"id": g.id, "handle": g.handle, "members": list(g.members)}
                for g in workspace.GROUPS
            ],
            "channels": [
                *(
                    {
                        "id": c.id,
                        "name": c.name,
                        "kind": "channel",
                        "default": c.id == workspace.DEFAULT_CHANNEL,
                    }
                    for c in workspace.CHANNELS
                ),
                {"id": workspace.dm_of(user), "name": workspace.BOT_NAME, "kind": "dm"},
            ],
            "messages": self._messages(user),
            "views": self.slack.views_of(user),
            "home": self._home(user),
            "agent": [self._located(entry) for entry in self.agent.entries()],
            "seq": self.changes.seq,
        }

    def _home(self, user: str) -> JSON | None:
        published = self.slack.published_views(user)
        return published[-1] if published else None

    def _messages(self, user: str) -> dict[str, list[JSON]]:
        visible = {c.id for c in workspace.CHANNELS} | {workspace.dm_of(user)}
        all_messages = [m for m in self.slack.messages() if m.channel in visible]
        out: dict[str, list[JSON]] = {channel: [] for channel in visible}
        replies: dict[tuple[str, str], list[JSON]] = {}
        for m in sorted(all_messages, key=lambda m: float(m.ts)):
            if m.thread_ts and m.thread_ts != m.ts:
                replies.setdefault((m.channel, m.thread_ts), []).append(_message(m))
        for m in sorted(all_messages, key=lambda m: float(m.ts)):
            if not m.thread_ts or m.thread_ts == m.ts:
                out[m.channel].append(_message(m) | {"replies": replies.get((m.channel, m.ts), [])})
        for e in self.slack.ephemerals(user):
            if e.channel in out:
                out[e.channel].append(
                    {
                        "ts": e.message_ts,
                        "channel": e.channel,
                        "text": e.text,
                        "blocks": e.blocks,
                        "updates": 0,
                        "ephemeral": True,
                        "replies": [],
                    }
                )
        for channel in out.values():
            channel.sort(key=lambda m: float(m["ts"]))
        return out

    def _located(self, entry: dict[str, Any]) -> dict[str, Any]:
        """An agent panel entry, with where its message is (found by its request id)."""
        where = None
        for m in self.slack.messages():
            if entry["request_id"] in json.dumps(m.blocks or []):
                where = m
                break
        return entry | {
            "channel": where.channel if where else None,
            "ts": where.ts if where else None,
        }


def _message(m: PostedMessage) -> JSON:
    return {
        "ts": m.ts,
        "channel": m.channel,
        "text": m.text,
        "blocks": m.blocks,
        "updates": m.updates,
        "ephemeral": False,
    }


# -- routes ----------------------------------------------------------------------------------
def _same_origin(handler: Handler, port: int) -> Handler:
    """Refuse requests of other origins and hosts (CSRF, DNS rebinding)."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    async def guarded(request: web.Request) -> web.StreamResponse:
        if request.host not in hosts:
            raise web.HTTPForbidden(text="the playground answers only 127.0.0.1 and localhost")
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] not in hosts:
            raise web.HTTPForbidden(text="cross-origin requests are refused")
        if request.method == "POST" and request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        return await handler(request)

    return guarded


async def _body(request: web.Request) -> JSON:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _user(value: Any) -> str:
    if value not in _PEOPLE:
        raise web.HTTPBadRequest(text=f"unknown person {str(value)[:40]!r}")
    return str(value)


F = TypeVar("F", bound=BaseModel)


async def _filed(
    request: web.Request, form: type[F], file: Callable[[F], Awaitable[str]]
) -> web.Response:
    """Read a form of the page and file it: its request id, or what is wrong (the field)."""
    try:
        request_id = await file(form.model_validate(await _body(request)))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "form"
        return web.json_response({"error": f"{where}: {first['msg']}"}, status=400)
    except HITLError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"request_id": request_id})


class _Api:
    """The page's routes: each reads or drives the :class:`Page`."""

    def __init__(self, page: Page) -> None:
        self.page = page

    async def index(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(_STATIC / "index.html", headers=_PAGE_HEADERS)

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self.page.state(_user(request.query.get("user"))))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """``data: {"seq": n}`` after changes (a burst: one event), a comment every 15 s."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        seen = -1
        with contextlib.suppress(ConnectionError):  # the page went away
            while True:
                seq = await self.page.changes.next(seen, timeout=15)
                if seq == seen:
                    await response.write(b": keep-alive\n\n")
                    continue
                seen = seq
                await response.write(f"data: {json.dumps({'seq': seq})}\n\n".encode())
                await asyncio.sleep(0.02)
        return response

    async def click(self, request: web.Request) -> web.Response:
        body = await _body(request)
        container = body.get("container")
        if not isinstance(container, dict):
            raise web.HTTPBadRequest(text="container: must be an object")
        try:
            sent = await self.page.interactions.click(
                _user(body.get("user")), container, str(body.get("action_id"))
            )
        except Unknown as exc:
            return web.json_response({"status": 404, "body": str(exc)})
        return web.json_response({"status": sent.status, "body": sent.body})

    async def submit(self, request: web.Request) -> web.Response:
        body = await _body(request)
        values = body.get("values")
        try:
            errors = await self.page.interactions.submit(
                _user(body.get("user")),
                str(body.get("view_id")),
                values if isinstance(values, dict) else {},
            )
        except Unknown as exc:
            return web.json_response({"ok": False, "errors": {"": str(exc)}})
        self.page.changes.bump()
        return web.json_response({"ok": not errors, "errors": errors})

    async def close(self, request: web.Request) -> web.Response:
        body = await _body(request)
        with contextlib.suppress(Unknown):
            self.page.interactions.close(_user(body.get("user")), str(body.get("view_id")))
        return web.json_response({"ok": True})

    async def command(self, request: web.Request) -> web.Response:
        body = await _body(request)
        sent = await self.page.interactions.command(
            _user(body.get("user")),
            str(body.get("channel") or workspace.DEFAULT_CHANNEL),
            str(body.get("command") or "/hitl"),
            str(body.get("text") or ""),
        )
        return web.json_response({"status": sent.status, "body": sent.body})

    async def home(self, request: web.Request) -> web.Response:
        sent = await self.page.interactions.open_home(_user((await _body(request)).get("user")))
        return web.json_response({"status": sent.status})

    async def send_request(self, request: web.Request) -> web.Response:
        """A test request from the form, submitted with the real client."""
        return await _filed(request, RequestForm, self.page.agent.submit)

    async def send_question(self, request: web.Request) -> web.Response:
        """A test question from the form, asked with the real client."""
        return await _filed(request, QuestionForm, self.page.agent.ask)

    async def explain(self, request: web.Request) -> web.Response:
        request_id = request.match_info["request_id"]
        found = await asyncio.to_thread(explain, self.page.redis_url, self.page.keys, request_id)
        return web.json_response(found)

    async def permalink(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/?channel={request.match_info['channel']}")


def add_page_routes(app: web.Application, page: Page, port: int) -> None:
    """Add the page, its API and its event stream to ``app`` (served on ``port``)."""
    api = _Api(page)
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/", api.index),
        ("GET", "/play/state", api.state),
        ("GET", "/play/events", api.events),
        ("POST", "/play/click", api.click),
        ("POST", "/play/submit", api.submit),
        ("POST", "/play/close", api.close),
        ("POST", "/play/command", api.command),
        ("POST", "/play/home", api.home),
        ("POST", "/play/request", api.send_request),
        ("POST", "/play/question", api.send_question),
        ("GET", "/play/explain/{request_id}", api.explain),
        ("GET", "/archives/{channel}/{message}", api.permalink),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _same_origin(handler, port))
    app.router.add_static("/static", _STATIC)
