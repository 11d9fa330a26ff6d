"""``hitl-slack serve``: the Bolt app, the relay and the scheduler in one event loop.

Socket Mode when ``SLACK_APP_TOKEN`` is set (or ``--socket``), else HTTP (``--http``) on
``$PORT`` at ``/slack/events`` on aiohttp's production server, with ``/healthz``.
SIGTERM / SIGINT: stop reading new work, finish the batch in hand, close; unacknowledged queue
entries stay in the consumer group for this or another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from hitl_slack.app import Bot, build_app
from hitl_slack.consumer import StreamConsumer
from hitl_slack.keys import RELAY_GROUP, UPDATER_GROUP, Keys
from hitl_slack.ops import StoreConfig
from hitl_slack.relay import Relay
from hitl_slack.routing import RoutesConfig, load_routes
from hitl_slack.scheduler import Scheduler
from hitl_slack.settings import Settings
from hitl_slack.slack import SlackGateway, web_client
from hitl_slack.store import AsyncStore, async_redis

__all__ = ["Service", "serve"]

log = logging.getLogger("hitl_slack.serve")

Closer = Callable[[], Awaitable[None]]


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

    @classmethod
    def build(cls, settings: Settings, routes: RoutesConfig) -> Service:
        """Wire the pieces; no I/O yet."""
        keys = Keys(settings.hitl_key_prefix)
        redis = async_redis(settings.redis_url.get_secret_value(),
                            connect_timeout=settings.hitl_redis_connect_timeout,
                            max_connections=50, client_name=f"hitl-bot:{keys.prefix}")
        store = AsyncStore(redis, StoreConfig(keys=keys, retention=settings.hitl_retention,
                                              queue_maxlen=settings.hitl_queue_maxlen,
                                              audit_maxlen=settings.hitl_audit_maxlen))
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        client = web_client(token, settings.slack_api_url, settings.hitl_slack_timeout)
        gateway = SlackGateway(client)
        secret = settings.slack_signing_secret
        app = build_app(Bot(store, gateway, routes), client,
                        secret.get_secret_value() if secret else None)
        relay = Relay(store, gateway, routes, settings.hitl_default_channel)
        consumer = settings.hitl_consumer_name or socket.gethostname()
        idle = settings.hitl_claim_idle
        consumers = [
            StreamConsumer(redis, stream=keys.queue, group=RELAY_GROUP, consumer=consumer,
                           handler=relay.post_request, on_dead=relay.gave_up,
                           dead_letters=keys.dead_letters, claim_idle=idle),
            StreamConsumer(redis, stream=keys.outcomes, group=UPDATER_GROUP, consumer=consumer,
                           handler=relay.show_outcome, dead_letters=keys.dead_letters,
                           claim_idle=idle),
        ]
        return cls(settings, routes, store, app, relay, consumers, Scheduler(store))

    async def run(self, stop: asyncio.Event, *, socket_mode: bool, host: str, port: int) -> None:
        """Serve until ``stop`` is set, then shut down cleanly."""
        await self.store.redis.ping()
        workers = [asyncio.create_task(_supervised(f"consumer:{c.stream}", c.run, stop))
                   for c in self.consumers]
        workers.append(asyncio.create_task(_supervised("scheduler", self.scheduler.run, stop)))
        front = await (self._socket() if socket_mode else self._http(host, port))
        log.info("hitl-slack ready", extra={"mode": "socket" if socket_mode else "http",
                                            "port": None if socket_mode else port})
        try:
            await stop.wait()
        finally:
            log.info("shutting down: finishing work in hand")
            await asyncio.gather(*workers, return_exceptions=True)
            await front()
            await self.relay.slack.aclose()
            await self.store.redis.aclose()
            log.info("stopped")

    async def _http(self, host: str, port: int) -> Closer:
        async def events(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await self.app.async_dispatch(
                await to_bolt_request(request)))

        async def health(_: web.Request) -> web.Response:
            try:
                await self.store.redis.ping()
            except Exception:
                return web.json_response({"ok": False, "redis": "unreachable"}, status=503)
            return web.json_response({"ok": True})

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        web_app.router.add_get("/healthz", health)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner.cleanup

    async def _socket(self) -> Closer:
        token = self.settings.slack_app_token
        assert token is not None
        handler = AsyncSocketModeHandler(self.app, token.get_secret_value())
        await handler.connect_async()  # type: ignore[no-untyped-call]
        return handler.close_async


async def _supervised(name: str, work: Callable[[asyncio.Event], Awaitable[None]],
                      stop: asyncio.Event) -> None:
    """Run a worker until ``stop``; if it dies of a bug, log it and start it again."""
    while not stop.is_set():
        try:
            await work(stop)
        except Exception:  # a dead worker would silently stop posting or expiring
            log.exception("worker crashed; restarting it", extra={"worker": name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


def serve(settings: Settings, *, socket: bool = False, http: bool = False,
          port: int | None = None, host: str = "0.0.0.0") -> int:  # noqa: S104
    """Run the service until SIGTERM/SIGINT; returns the exit code.

    Raises:
        ConfigError: a setting or the routes file is wrong (names which).
    """
    socket_mode = socket or (not http and settings.slack_app_token is not None)
    settings.require_slack(socket_mode=socket_mode)
    routes = load_routes(settings.hitl_routes_file, default_channel=settings.hitl_default_channel)
    port = port or settings.port or int(os.environ.get("PORT", "3000"))

    async def main() -> None:
        service = Service.build(settings, routes)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await service.run(stop, socket_mode=socket_mode, host=host, port=port)

    asyncio.run(main())
    return 0
