"""``hitl-slack dev``: the whole loop on one machine, with no Slack workspace.

In order: a Redis (the one at ``REDIS_URL`` if it answers, else a throwaway ``redis-server``
from PATH), a check that no other bot serves the key prefix, the local Slack and the page on
``127.0.0.1:{port}``, then the real bot (:mod:`.botproc`) pointed at them. It prints the URL to
open and runs until SIGINT / SIGTERM, then stops what it started, in reverse order. A second
signal stops everything at once.

Never production data: the prefix is ``hitl-dev`` unless ``HITL_KEY_PREFIX`` is set, and never
``hitl``; the tokens are random and only the local Slack accepts them; everything listens on
127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

import redis
from aiohttp import web
from redis.connection import parse_url

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.errors import ConfigError, StoreUnavailable
from hitl_slack.keys import RELAY_GROUP, UPDATER_GROUP, Keys
from hitl_slack.lifecycle import heartbeat
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import Store
from hitl_slack.localslack.server import LocalSlack
from hitl_slack.playground import workspace
from hitl_slack.playground.agent import AgentPanel
from hitl_slack.playground.botproc import BotProcess
from hitl_slack.playground.interactions import Interactions
from hitl_slack.playground.redisproc import RedisServer, free_port, redis_server_path
from hitl_slack.playground.web import Changes, Page, add_page_routes
from hitl_slack.settings import Settings

__all__ = ["DEV_PREFIX", "run_dev"]

#: The playground's key prefix unless ``HITL_KEY_PREFIX`` is set.
DEV_PREFIX: Final = "hitl-dev"
#: The production default, which the playground never uses.
PRODUCTION_PREFIX: Final = "hitl"

Say = Callable[[str], None]


def dev_prefix(settings: Settings) -> str:
    """``HITL_KEY_PREFIX`` if it was set, else :data:`DEV_PREFIX`.

    Raises:
        ConfigError: it is the production default ``hitl``.
    """
    if "hitl_key_prefix" not in settings.model_fields_set:
        return DEV_PREFIX
    if settings.hitl_key_prefix == PRODUCTION_PREFIX:
        raise ConfigError(
            f"HITL_KEY_PREFIX={PRODUCTION_PREFIX} is the production default: the playground "
            f"never uses it. Unset it (the playground uses {DEV_PREFIX}) or choose another"
        )
    return settings.hitl_key_prefix


def where(url: str) -> str:
    """``host:port/db`` of a Redis URL: never its password."""
    try:
        parts = parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError:
        return "(unparsable URL)"
    if "path" in parts:
        return f"unix:{parts['path']}"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 6379)}/{parts.get('db', 0)}"


def answers(url: str, timeout: float) -> bool:
    """Whether a Redis answers PING at ``url``."""
    r = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(r.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        r.close()


def live_bots(url: str, keys: Keys, timeout: float) -> list[str]:
    """Bots serving ``keys.prefix`` now, each in words: a consumer of its consumer groups that
    read within :data:`~hitl_slack.lifecycle.heartbeat.BEAT_TTL`, or a heartbeat within it,
    unless that bot's last heartbeat said it stopped."""
    r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout)
    try:
        beats = Store(r, StoreConfig(keys=keys)).heartbeats()
        stopped = {b.name for b in beats if b.reason == "stopping"}
        live = {b.name: f"{b.name} (heartbeat at {b.beat_at:%H:%M:%S})" for b in beats}
        for stream, group in ((keys.queue, RELAY_GROUP), (keys.outcomes, UPDATER_GROUP)):
            try:
                consumers = r.xinfo_consumers(stream, group)
            except redis.ResponseError:  # no such stream or group: nobody reads it
                continue
            for c in consumers:
                if c["idle"] < heartbeat.BEAT_TTL * 1000:
                    live.setdefault(c["name"], f"{c['name']} (read {c['idle'] / 1000:.0f} s ago)")
    finally:
        r.close()
    return [text for name, text in live.items() if name not in stopped]


def leftovers(url: str, keys: Keys, *, reset: bool, timeout: float) -> int:
    """Requests still pending under ``keys.prefix`` from an earlier run (their messages lived
    in that run's local Slack, which is gone); with ``reset``, every key of the prefix is
    deleted first and the answer is 0."""
    r = redis.Redis.from_url(url, socket_timeout=timeout)
    try:
        if reset:
            batch: list[bytes] = []
            for key in r.scan_iter(match=f"{keys.prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    r.delete(*batch)
                    batch.clear()
            if batch:
                r.delete(*batch)
        return int(r.zcard(keys.pending))
    finally:
        r.close()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _local_slack() -> LocalSlack:
    """The local Slack, peopled with the playground's workspace."""
    slack = LocalSlack()
    channels = {c.id: c.name for c in workspace.CHANNELS}
    dms = {workspace.dm_of(p.id): workspace.BOT_NAME for p in workspace.PEOPLE}
    slack.known_channels = set(channels) | set(dms)
    slack.channel_names = channels | dms
    slack.usergroups = {g.id: list(g.members) for g in workspace.GROUPS}
    slack.users = {
        p.id: {
            "name": p.name.lower(),
            "real_name": p.name,
            "profile": {
                "display_name": p.name,
                "real_name": p.name,
                "title": p.title,
                "email": workspace.email_of(p),  # requested_by may name them by email
            },
        }
        for p in workspace.PEOPLE
    }
    return slack


class Playground:
    """What ``dev`` started, so that stopping undoes it in reverse order."""

    def __init__(self, settings: Settings, *, port: int, say: Say, reset: bool = False) -> None:
        self.settings = settings
        self.port = port
        self.reset = reset
        self.say = say
        self.redis: RedisServer | None = None
        self.bot: BotProcess | None = None
        self.page: Page | None = None
        self.runner: web.AppRunner | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="hitl-dev-"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _redis_url(self) -> str:
        """The Redis to use: ``REDIS_URL``'s if it answers, else one started here.

        Raises:
            StoreUnavailable: none answers and ``redis-server`` is not on PATH (how to get it).
        """
        url = self.settings.redis_url.get_secret_value()
        if answers(url, min(self.settings.hitl_redis_connect_timeout, 2.0)):
            return url
        if redis_server_path() is None:
            raise StoreUnavailable(
                f"no Redis answers at {where(url)} (REDIS_URL) and redis-server is not on "
                "PATH: install Redis (Debian/Ubuntu: apt install redis-server; macOS: brew "
                "install redis) or set REDIS_URL to a Redis that answers"
            )
        self.redis = RedisServer().start()
        self.say(
            f"  redis:  nothing answers at {where(url)}: started redis-server (pid "
            f"{self.redis.pid}) on 127.0.0.1:{self.redis.port}; it stops with the playground"
        )
        return self.redis.url

    async def start(self) -> None:
        """Start everything; raises what stops it (and what started is stopped by :meth:`stop`).

        Raises:
            ConfigError: the prefix, the port, another bot on the prefix, the bot's start.
            StoreUnavailable: no Redis and none to start.
        """
        keys = Keys(dev_prefix(self.settings))
        if not _port_free(self.port):
            raise ConfigError(
                f"port {self.port} of 127.0.0.1 is in use (another playground?): stop it, or "
                "choose another with --port or HITL_DEV_PORT"
            )
        self.say("hitl-slack dev: the local playground, no Slack workspace needed")
        url = await asyncio.to_thread(self._redis_url)
        if self.redis is None:
            self.say(f"  redis:  {where(url)} (REDIS_URL), key prefix {keys.prefix}")
        if live := await asyncio.to_thread(live_bots, url, keys, 2.0):
            raise ConfigError(
                f"another bot serves the key prefix {keys.prefix} on {where(url)}: "
                f"{', '.join(live)}. Stop it, or set HITL_KEY_PREFIX to another prefix "
                f"(a bot killed without a stop counts as live for {heartbeat.BEAT_TTL:g} s)"
            )
        if old := await asyncio.to_thread(leftovers, url, keys, reset=self.reset, timeout=2.0):
            self.say(
                f"  note:   {old} request(s) from an earlier run are still pending under "
                f"{keys.prefix}; their messages were in that run's page (--reset deletes the "
                "prefix's keys at start)"
            )
        elif self.reset:
            self.say(f"  reset:  deleted every key under {keys.prefix}")
        await self._serve_page(url, keys)
        await self._start_bot(url, keys)

    async def _serve_page(self, url: str, keys: Keys) -> None:
        slack = _local_slack()
        slack.permalink_base = self.url + "/"
        secret = secrets.token_hex(16)
        bot_port = free_port()
        interactions = Interactions(
            slack, bot_url=f"http://127.0.0.1:{bot_port}/slack/events", secret=secret
        )
        changes = Changes()
        agent = AgentPanel(
            AsyncHITLClient(url, keys.prefix),
            changed=changes.bump,
            last_sent=lambda: interactions.last_sent,
        )
        loop = asyncio.get_running_loop()

        def changed() -> None:  # under the local Slack's lock: only schedule
            loop.call_soon_threadsafe(changes.bump)

        slack.on_change(changed)
        self.page = Page(slack, interactions, agent, changes, keys, url)
        app = web.Application()
        slack.add_routes(app, self.port)
        add_page_routes(app, self.page, self.port)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        try:
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror}") from None
        self._secret, self._bot_port = secret, bot_port

    async def _start_bot(self, url: str, keys: Keys) -> None:
        assert self.page is not None
        routes = self.workdir / "routes.toml"
        routes.write_text(workspace.ROUTES)
        env = {
            "REDIS_URL": url,
            "HITL_KEY_PREFIX": keys.prefix,
            "SLACK_BOT_TOKEN": self.page.slack.bot_token,
            "SLACK_SIGNING_SECRET": self._secret,
            "SLACK_API_URL": self.page.slack.api_url,
            "HITL_DEFAULT_CHANNEL": workspace.DEFAULT_CHANNEL,
            "HITL_ROUTES_FILE": str(routes),
            "HITL_CONSUMER_NAME": f"playground-{socket.gethostname()}-{os.getpid()}"[:200],
            "LOG_FORMAT": "console",
            "LOG_LEVEL": self.settings.log_level,
        }
        self.bot = BotProcess(env, port=self._bot_port, workdir=self.workdir)
        await self.bot.start()
        self.say(
            f"  bot:    hitl-slack serve --http (pid {self.bot.pid}) on 127.0.0.1:"
            f"{self.bot.port}, log {self.bot.log_path}"
        )
        self.say(f"  routes: {routes}")
        for line in workspace.ROUTES.splitlines():
            self.say(f"          {line}")
        self.say(f"  agents: REDIS_URL={url} HITL_KEY_PREFIX={keys.prefix} reach this bot too")
        self.say(f"open {self.url} (Ctrl-C stops the playground and what it started)")

    async def watch(self, stop: asyncio.Event) -> int:
        """Wait for ``stop``; 1 if the bot exited by itself first (its last lines said)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if self.bot is not None and not self.bot.running():
                self.say(f"the bot exited by itself; its last lines:\n{self.bot.log_tail()}")
                return 1
        return 0

    async def stop(self) -> None:
        """Stop what was started, newest first."""
        if self.page is not None:
            await self.page.agent.aclose()
        if self.bot is not None:
            await self.bot.stop()
        if self.page is not None:
            await self.page.interactions.aclose()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        """A second signal: kill the children at once."""
        if self.bot is not None:
            self.bot.kill()
        if self.redis is not None:
            self.redis.kill()


def run_dev(settings: Settings, *, port: int, say: Say = print, reset: bool = False) -> int:
    """Run the playground until SIGINT / SIGTERM; the exit code.

    Raises:
        ConfigError: see :meth:`Playground.start`.
        StoreUnavailable: no Redis answers and ``redis-server`` is not on PATH.
    """

    async def main() -> int:
        playground = Playground(settings, port=port, say=say, reset=reset)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                playground.kill()
                os._exit(128 + signum)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, int(sig))
        try:
            starting = asyncio.create_task(playground.start())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                return 0
            stopped.cancel()
            starting.result()
            code = await playground.watch(stop)
            say("stopping the playground")
            return code
        finally:
            await playground.stop()

    return asyncio.run(main())
