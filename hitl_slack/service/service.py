"""The :class:`Service`: every piece ``serve`` runs, wired from settings, and its start and stop.

Start: listen, reach Redis, have Slack accept the bot token (``auth.test``) and, in Socket
Mode, the app token (``apps.connections.open``), then start the workers (the two stream
consumers, the scheduler, the sealer, the heartbeat) and log ``service_ready``.

Stop (``stop`` set, in any state): stop reading new work, let the workers finish the work in
hand for up to :data:`GRACE` seconds while the fronts keep answering, then close the fronts.
Unfinished queue entries stay unacknowledged for this or another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack import __version__
from hitl_slack.errors import ConfigError, HITLError
from hitl_slack.keys import RELAY_GROUP, UPDATER_GROUP, Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import AsyncStore, async_redis
from hitl_slack.logs import get_logger
from hitl_slack.routing import RoutesConfig
from hitl_slack.service.consumer import StreamConsumer
from hitl_slack.service.followups import Followups
from hitl_slack.service.health import Health, add_health_routes
from hitl_slack.service.relay import Relay
from hitl_slack.service.scheduler import Scheduler
from hitl_slack.service.sealer import Sealer
from hitl_slack.service.startup import accepted, unusable
from hitl_slack.service.supervise import supervised, unless_stopped, within
from hitl_slack.settings import Settings
from hitl_slack.slack.app import Deps, build_app
from hitl_slack.slack.gateway import SlackGateway, web_client
from hitl_slack.slack.http_front import http_events
from hitl_slack.slack.socket_front import SocketFront, keep_body

__all__ = ["GRACE", "Mode", "Service"]

log = get_logger(__name__)

#: Seconds the work in hand may take to finish after SIGTERM / SIGINT.
GRACE = 8.0

Closer = Callable[[], Awaitable[None]]
Mode = Literal["http", "socket"]


@dataclass
class Service:
    """Everything ``serve`` runs, built from settings by :meth:`build`."""

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
        """Wire the pieces; no I/O yet (must run inside the event loop: see ``web_client``)."""
        keys = Keys(settings.hitl_key_prefix)
        store = _store(settings, keys)
        name = settings.hitl_consumer_name or socket.gethostname()
        health = Health(name=name, keys=keys, mode=mode, version=__version__)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        client = web_client(
            token, settings.slack_api_url, settings.hitl_slack_timeout, watcher=health
        )
        gateway = SlackGateway(client)
        secret = settings.slack_signing_secret
        app = build_app(
            Deps.over(store, gateway, observe=health.metrics.policy_event),
            client,
            secret.get_secret_value() if secret else None,
            routes=routes,
        )
        relay = Relay(store, gateway, routes, settings.hitl_default_channel)
        consumers = _consumers(store, relay, health, name, settings.hitl_claim_idle)
        followups = Followups(store, gateway, relay.fanout, observe=health.metrics.policy_event)
        scheduler = Scheduler(store, handlers=followups.handlers())
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
            if not await unless_stopped(stop, starting):
                log.info("stopped_before_ready")
                return
            log.info("service_ready", mode=self.health.mode, port=port, health_port=health_port)
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
        await accepted(
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
            workers.append(asyncio.create_task(supervised(name, work, stop)))
        beats = functools.partial(
            self.health.publish, self.store, recheck=lambda: self.client.auth_test()
        )
        workers.append(asyncio.create_task(supervised("heartbeat", beats, stop)))
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
            raise ConfigError(unusable(exc, var, host, port)) from None
        return runner.cleanup

    async def _socket(self, closers: list[Closer]) -> None:
        token = self.settings.slack_app_token
        assert token is not None
        front = SocketFront(
            self.app, token.get_secret_value(), web_client=self.client, dead=self._dead
        )
        closers.append(front.close_async)
        data = await accepted(
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
            log.info("shutting_down", grace=GRACE)  # finishing the work in hand
            if await within(workers, GRACE):
                log.warning("work_left_for_another_replica", grace=GRACE)
        closing = [asyncio.ensure_future(close()) for close in reversed(closers)]
        if workers:
            closing.append(asyncio.ensure_future(self.health.last_beat(self.store)))
        await within(closing, max(1.0, deadline - loop.time()))
        with contextlib.suppress(Exception):
            await self.relay.slack.aclose()
        with contextlib.suppress(Exception):
            await self.store.redis.aclose()
        log.info("stopped")


def _store(settings: Settings, keys: Keys) -> AsyncStore:
    redis = async_redis(
        settings.redis_url.get_secret_value(),
        connect_timeout=settings.hitl_redis_connect_timeout,
        max_connections=50,
        client_name=f"hitl-bot:{keys.prefix}",
    )
    return AsyncStore(
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


def _consumers(
    store: AsyncStore, relay: Relay, health: Health, name: str, claim_idle: float
) -> list[StreamConsumer]:
    """The relay's consumer of the queue (posts) and of the outcomes (message updates)."""
    keys = store.config.keys
    consumer = functools.partial(
        StreamConsumer,
        store.redis,
        consumer=name,
        claim_idle=claim_idle,
        dead_letters=keys.dead_letters,
        accepting=health.accepting,
    )
    posts = consumer(
        stream=keys.queue, group=RELAY_GROUP, handler=relay.post_request, on_dead=relay.gave_up
    )
    outcomes = consumer(
        stream=keys.outcomes, group=UPDATER_GROUP, handler=_counted(relay, store, health)
    )
    return [posts, outcomes]


def _ticks(loop: StreamConsumer | Scheduler) -> Callable[[], float]:
    return lambda: loop.ticked


def _counted(
    relay: Relay, store: AsyncStore, health: Health
) -> Callable[[dict[str, str]], Awaitable[None]]:
    """The outcomes handler, counting each decision shown and its time since the post (an
    entry for a request still pending, a vote or an escalation, is no decision)."""

    async def show_outcome(fields: dict[str, str]) -> None:
        await relay.show_outcome(fields)
        if fields.get("status") == "pending":
            return
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
