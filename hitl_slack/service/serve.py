"""``hitl-slack serve``: the Bolt app, the relay and the scheduler in one event loop.

Socket Mode when ``SLACK_APP_TOKEN`` is set (or ``--socket``), else HTTP (``--http``) on
``$PORT`` at ``/slack/events`` on aiohttp's production server. ``/healthz``, ``/readyz`` and
``/metrics`` (:mod:`hitl_slack.service.health`) are served on ``HITL_HEALTH_PORT`` (default
``PORT``),
in both modes.

Start: listen, reach Redis, have Slack accept the bot token (``auth.test``) and, in Socket
Mode, the app token (``apps.connections.open``), then start the workers and log
``hitl-slack ready``. A refused token exits with code 2 naming the variable.

SIGTERM / SIGINT, in any state (starting, connecting, serving): stop reading new work, finish
the work in hand for up to :data:`GRACE` seconds, close. Unfinished queue entries stay
unacknowledged for this or another replica. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack import __version__
from hitl_slack.errors import ConfigError, HITLError
from hitl_slack.keys import RELAY_GROUP, UPDATER_GROUP, Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.routing import RoutesConfig, load_routes
from hitl_slack.service.consumer import StreamConsumer
from hitl_slack.service.health import Health, add_health_routes
from hitl_slack.service.relay import Relay
from hitl_slack.service.scheduler import Scheduler
from hitl_slack.service.sealer import Sealer
from hitl_slack.settings import Settings
from hitl_slack.slack.app import Deps, build_app
from hitl_slack.slack.bodies import bolt_request, signature_ok
from hitl_slack.slack.gateway import SlackGateway, web_client
from hitl_slack.slack.socket_front import SocketFront, keep_body
from hitl_slack.slack.watch import AUTH_ERRORS

__all__ = ["GRACE", "Service", "serve"]

log = logging.getLogger("hitl_slack.service.serve")

#: Seconds the work in hand may take to finish after SIGTERM / SIGINT.
GRACE = 8.0

Closer = Callable[[], Awaitable[None]]
Mode = Literal["http", "socket"]


@dataclass
class Service:
    """Everything ``serve`` runs, built from settings (tests build it the same way)."""

    settings: Settings
    routes: RoutesConfig
    store: AsyncStore
    app: AsyncApp
    relay: Relay
    consumers: list[StreamConsumer]
    scheduler: Scheduler
    health: Health
    client: AsyncWebClient

    @classmethod
    def build(cls, settings: Settings, routes: RoutesConfig, mode: Mode = "http") -> Service:
        """Wire the pieces; no I/O yet."""
        keys = Keys(settings.hitl_key_prefix)
        redis = async_redis(
            settings.redis_url.get_secret_value(),
            connect_timeout=settings.hitl_redis_connect_timeout,
            max_connections=50,
            client_name=f"hitl-bot:{keys.prefix}",
        )
        store = AsyncStore(
            redis,
            StoreConfig(
                keys=keys,
                retention=settings.hitl_retention,
                queue_maxlen=settings.hitl_queue_maxlen,
                audit_maxlen=settings.hitl_audit_maxlen,
                min_replicas=settings.hitl_redis_min_replicas,
                replica_timeout=settings.hitl_redis_replica_timeout,
            ),
        )
        name = settings.hitl_consumer_name or socket.gethostname()
        health = Health(name=name, keys=keys, mode=mode, version=__version__)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        client = web_client(
            token, settings.slack_api_url, settings.hitl_slack_timeout, watcher=health
        )
        gateway = SlackGateway(client)
        secret = settings.slack_signing_secret
        app = build_app(
            Deps.over(store, gateway),
            client,
            secret.get_secret_value() if secret else None,
            routes=routes,
        )
        relay = Relay(store, gateway, routes, settings.hitl_default_channel)
        idle = settings.hitl_claim_idle
        consumers = [
            StreamConsumer(
                redis,
                stream=keys.queue,
                group=RELAY_GROUP,
                consumer=name,
                handler=relay.post_request,
                on_dead=relay.gave_up,
                dead_letters=keys.dead_letters,
                claim_idle=idle,
                accepting=health.accepting,
            ),
            StreamConsumer(
                redis,
                stream=keys.outcomes,
                group=UPDATER_GROUP,
                consumer=name,
                handler=_counted(relay, store, health),
                claim_idle=idle,
                dead_letters=keys.dead_letters,
                accepting=health.accepting,
            ),
        ]
        scheduler = Scheduler(store)
        health.groups = [(c.stream, c.group) for c in consumers]
        health.loops = {f"consumer:{c.stream}": _ticks(c) for c in consumers}
        health.loops["scheduler"] = _ticks(scheduler)
        return cls(settings, routes, store, app, relay, consumers, scheduler, health, client)

    async def run(self, stop: asyncio.Event, *, host: str, port: int, health_port: int) -> None:
        """Start, serve until ``stop`` is set, then shut down cleanly.

        Raises:
            ConfigError: a port cannot be used, or Slack refused a token (names which).
            StoreUnavailable: Redis is unreachable at start.
        """
        closers: list[Closer] = []
        workers: list[asyncio.Task[None]] = []
        try:
            starting = self._start(stop, closers, workers, host, port, health_port)
            if not await _unless_stopped(stop, starting):
                log.info("stopped_before_ready")
                return
            log.info(
                "hitl-slack ready",
                extra={"mode": self.health.mode, "port": port, "health_port": health_port},
            )
            await stop.wait()
        finally:
            stop.set()
            await self._shutdown(workers, closers)

    async def _start(
        self,
        stop: asyncio.Event,
        closers: list[Closer],
        workers: list[asyncio.Task[None]],
        host: str,
        port: int,
        health_port: int,
    ) -> None:
        socket_mode = self.health.mode == "socket"
        if not socket_mode:
            closers.append(
                await self._listen(host, port, events=True, health=health_port == port, var="PORT")
            )
        if socket_mode or health_port != port:
            closers.append(
                await self._listen(
                    host, health_port, events=False, health=True, var="HITL_HEALTH_PORT"
                )
            )
        await self.store.redis.ping()
        await _accepted(
            lambda: self.client.auth_test(),
            "SLACK_BOT_TOKEN",
            "the Bot User OAuth Token (OAuth & Permissions, starts with xoxb-)",
        )
        if socket_mode:
            await self._socket(closers)
        for name, work in [
            *((f"consumer:{c.stream}", c.run) for c in self.consumers),
            ("scheduler", self.scheduler.run),
            ("sealer", Sealer.of(self.store).run),
        ]:
            workers.append(asyncio.create_task(_supervised(name, work, stop)))
        beats = functools.partial(
            self.health.publish, self.store, recheck=lambda: self.client.auth_test()
        )
        workers.append(asyncio.create_task(_supervised("heartbeat", beats, stop)))
        self.health.started = True

    async def _listen(
        self, host: str, port: int, *, events: bool, health: bool, var: str
    ) -> Closer:
        web_app = web.Application(client_max_size=2 * 1024 * 1024)
        if events:
            secret = self.settings.slack_signing_secret
            web_app.router.add_post(
                "/slack/events",
                http_events(self.app, secret.get_secret_value() if secret else "", self._dead),
            )
        if health:
            add_health_routes(web_app, self.health, self.store.redis)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=GRACE)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(_unusable(exc, var, host, port)) from None
        return runner.cleanup

    async def _socket(self, closers: list[Closer]) -> None:
        token = self.settings.slack_app_token
        assert token is not None
        front = SocketFront(
            self.app, token.get_secret_value(), web_client=self.client, dead=self._dead
        )
        closers.append(front.close_async)
        data = await _accepted(
            lambda: self.client.apps_connections_open(app_token=token.get_secret_value()),
            "SLACK_APP_TOKEN",
            "an app-level token with connections:write (Basic Information > "
            "App-Level Tokens, starts with xapp-)",
        )
        front.client.wss_uri = str(data["url"])
        await front.connect_async()  # type: ignore[no-untyped-call]

    async def _dead(self, source: str, entry_id: str, error: str, body: str) -> None:
        await keep_body(
            self.store.redis,
            self.store.config.keys.dead_letters,
            source=source,
            entry_id=entry_id,
            error=error,
            body=body,
        )

    async def _shutdown(self, workers: list[asyncio.Task[None]], closers: list[Closer]) -> None:
        """Let the workers finish (the fronts keep answering meanwhile) within :data:`GRACE`,
        then close the fronts in what is left of it (at least a second)."""
        self.health.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GRACE
        if workers:
            log.info("shutting down: finishing work in hand", extra={"grace": GRACE})
            if await _within(workers, GRACE):
                log.warning("work_left_for_another_replica", extra={"grace": GRACE})
        closing = [asyncio.ensure_future(close()) for close in reversed(closers)]
        if workers:
            closing.append(asyncio.ensure_future(self.health.last_beat(self.store)))
        await _within(closing, max(1.0, deadline - loop.time()))
        with contextlib.suppress(Exception):
            await self.relay.slack.aclose()
        with contextlib.suppress(Exception):
            await self.store.redis.aclose()
        log.info("stopped")


def _unusable(exc: OSError, var: str, host: str, port: int) -> str:
    """Why ``host``:``port`` cannot be listened on, naming the setting to change."""
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"--host {host} cannot be used ({exc.strerror}): give an address of this "
            "machine (0.0.0.0 for all, 127.0.0.1 for this machine only)"
        )
    what = (
        "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
    )
    return (
        f"{var}: port {port} on {host} {what}; choose a free port "
        f"({var}{' or --port' if var == 'PORT' else ''})"
    )


async def _within(tasks: Sequence[asyncio.Future[None]], timeout: float) -> bool:
    """Wait for ``tasks`` up to ``timeout`` seconds, cancel the rest; True if any was."""
    if not tasks:
        return False
    done, unfinished = await asyncio.wait(tasks, timeout=timeout)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.debug("shutdown step failed", exc_info=task.exception())
    return bool(unfinished)


def http_events(
    app: AsyncApp, secret: str, dead: Callable[[str, str, str, str], Awaitable[None]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/slack/events`` handler: Bolt for a well-formed body, 400 for a malformed one.

    A malformed body that is correctly signed gets 400, is logged and dead-lettered; one
    that is not signed gets Bolt's own 401. Nothing is decided for either.
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
        log.warning("malformed_slack_request", extra={"error": problem, "bytes": len(raw)})
        with contextlib.suppress(RedisError, OSError):
            await dead(request.path, "-", problem, raw.decode("utf-8", "replace"))
        return web.Response(status=400, text=f"malformed Slack request: {problem}")

    return events


def _ticks(loop: StreamConsumer | Scheduler) -> Callable[[], float]:
    return lambda: loop.ticked


def _counted(
    relay: Relay, store: AsyncStore, health: Health
) -> Callable[[dict[str, str]], Awaitable[None]]:
    """The outcomes handler, counting each decision shown and its time since the post."""

    async def show_outcome(fields: dict[str, str]) -> None:
        await relay.show_outcome(fields)
        try:
            state = await store.get(fields.get("id", ""))
        except HITLError:
            return
        if state.decision is not None:
            health.metrics.decided(
                state.decision.status.value,
                state.message.ts if state.message else None,
                state.decision.decided_at.timestamp(),
            )

    return show_outcome


async def _accepted(call: Callable[[], Awaitable[Any]], var: str, what: str) -> Any:
    """Call Slack until it answers; a refused token is a :class:`ConfigError` naming ``var``.

    Slack unreachable or failing (5xx, 429) is retried with a growing pause: a start while
    Slack has an incident waits for it instead of exiting. The outage is logged once by
    the client's watcher.
    """
    pause = 1.0
    while True:
        try:
            return (await call()).data
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error", ""))
            if error in AUTH_ERRORS:
                raise ConfigError(
                    f"{var} was refused by Slack ({error}): check {what}, and "
                    "that the app is installed in the workspace"
                ) from None
            status = exc.response.status_code
            if status < 500 and status != 429:
                raise ConfigError(
                    f"{var}: Slack answered {error}"
                    if error
                    else (
                        f"SLACK_API_URL: {exc.response.api_url} answered HTTP {status}, not the "
                        "Slack Web API: is SLACK_API_URL its base URL (https://slack.com/api/)?"
                    )
                ) from None
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        await asyncio.sleep(pause)
        pause = min(pause * 2, 30.0)


async def _unless_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it); True if it finished."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


async def _supervised(
    name: str, work: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Run a worker until ``stop``; if it dies of a bug, log it and start it again."""
    while not stop.is_set():
        try:
            await work(stop)
        except Exception:  # a dead worker would silently stop posting or expiring
            log.exception("worker crashed; restarting it", extra={"worker": name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


def _on_signals(stop: asyncio.Event) -> None:
    """First SIGTERM / SIGINT: stop gracefully. A second one: stop at once."""
    loop = asyncio.get_running_loop()

    def handler(signum: int) -> None:
        if stop.is_set():
            log.warning("second_signal_stopping_now", extra={"signal": signum})
            os._exit(128 + signum)
        log.info("signal_received", extra={"signal": signum})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, handler, int(sig))


def serve(
    settings: Settings,
    *,
    socket: bool = False,
    http: bool = False,
    port: int | None = None,
    host: str = "0.0.0.0",  # noqa: S104 (a service listens on every interface by default)
) -> int:
    """Run the service until SIGTERM/SIGINT; returns the exit code.

    Raises:
        ConfigError: a setting, a port, a token or the routes file is wrong (names which).
        StoreUnavailable: Redis is unreachable at start.
    """
    socket_mode = socket or (not http and settings.slack_app_token is not None)
    settings.require_slack(socket_mode=socket_mode)
    routes = load_routes(settings.hitl_routes_file, default_channel=settings.hitl_default_channel)
    port = port or settings.port
    health_port = settings.hitl_health_port or port

    async def main() -> None:
        stop = asyncio.Event()
        _on_signals(stop)
        service = Service.build(settings, routes, "socket" if socket_mode else "http")
        await service.run(stop, host=host, port=port, health_port=health_port)

    asyncio.run(main())
    return 0
