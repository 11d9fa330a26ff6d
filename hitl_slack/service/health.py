"""What a replica knows of its own health: ``/healthz``, ``/readyz``, ``/metrics``, heartbeats.

* ``/healthz``: liveness. 200 while the process runs its event loop; nothing else.
* ``/readyz``: 200 when this replica takes work: started, not stopping, Redis reachable and
  taking writes, its consumer groups present, and its Slack token not refused. A slow or
  failing Slack does not count (it would pull every replica out of a load balancer at once);
  it is in the JSON body with the Slack auth state, the age of each loop's last turn and the last
  errors.
* ``/metrics``: see :mod:`hitl_slack.service.metrics`.
* Heartbeat: every :data:`~hitl_slack.lifecycle.heartbeat.BEAT_INTERVAL` seconds the same facts
  go to ``{p}:bot:{name}`` so agents can tell whether a bot serves their prefix, and why not.

:class:`Health` is also the :class:`~hitl_slack.slack.watch.SlackWatcher` of the service's
Slack client: a token refused at run time (``invalid_auth``, ``token_revoked``...) makes the
replica stop taking new work, fail ``/readyz`` and say why in its heartbeat; work in flight
is not cancelled and queued entries stay for a healthy replica. It re-checks a refused bot
token every :data:`AUTH_RECHECK` seconds, and resumes as soon as any call with the refused
token succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import redis.asyncio as aredis
from aiohttp import web
from redis.exceptions import RedisError

from hitl_slack.errors import StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.lifecycle import heartbeat
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.logs import get_logger
from hitl_slack.service.metrics import CONTENT_TYPE, Metrics
from hitl_slack.service.outage import Outage
from hitl_slack.slack.watch import AUTH_ERRORS, token_variable

__all__ = ["AUTH_RECHECK", "Health", "add_health_routes"]

log = get_logger(__name__)

#: Seconds between two checks of a refused bot token.
AUTH_RECHECK = 30.0
#: Seconds a readiness probe may take before Redis counts as unreachable.
PROBE_TIMEOUT = 2.0


@dataclass
class Health:
    """The replica's own view of its health (one per service).

    Attributes:
        loops: name -> function returning the ``time.monotonic()`` of that loop's last turn.
        groups: the (stream, group) pairs that must exist for the replica to work.
    """

    name: str
    keys: Keys
    mode: Literal["http", "socket"]
    version: str
    metrics: Metrics = field(default_factory=Metrics)
    groups: list[tuple[str, str]] = field(default_factory=list)
    loops: dict[str, Callable[[], float]] = field(default_factory=dict)
    started: bool = False
    stopping: bool = False
    auth_error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    slack_outage: Outage = field(default_factory=lambda: Outage(log, "slack", "slack"))

    def accepting(self) -> bool:
        """Whether this replica takes new work."""
        return self.auth_error is None and not self.stopping

    # -- SlackWatcher ----------------------------------------------------------------------
    def slack_ok(self, method: str) -> None:
        """A Slack call succeeded: Slack is reachable, and so is the token it used."""
        self.slack_outage.restored()
        if method == "chat.postMessage":
            self.metrics.requests.labels(status="posted").inc()
        if self.auth_error is not None and self.auth_error.startswith(token_variable(method)):
            log.info("slack_auth_restored", variable=token_variable(method))
            self.auth_error = None

    def slack_failed(self, method: str, status: int, error: str) -> None:
        """Slack answered with an error: count it; a refused token stops new work."""
        if status == 429:
            self.metrics.rate_limited.labels(method=method).inc()
            return
        self.metrics.slack_errors.labels(method=method, error=error).inc()
        self._error(f"slack {method}: {error}")
        if status >= 500:
            self.slack_outage.lost(RuntimeError(f"{method}: HTTP {status} {error}"))
        # Before start, serve itself reports a refused token (exit 2, one line).
        if error in AUTH_ERRORS and self.started and self.auth_error is None:
            self.auth_error = f"{token_variable(method)}: {error}"
            log.error(  # once: the reason is in /readyz after
                "slack_auth_failed",
                variable=token_variable(method),
                error=error,
                method=method,
                action="this replica takes no new work until Slack accepts the token; "
                "queued requests stay for another replica",
            )

    def slack_unreachable(self, method: str, exc: BaseException) -> None:
        """No answer from Slack."""
        self.metrics.slack_errors.labels(method=method, error="unreachable").inc()
        self._error(f"slack {method}: {type(exc).__name__}")
        self.slack_outage.lost(exc)

    def _error(self, what: str) -> None:
        self.last_errors.append(f"{datetime.now(UTC).isoformat(timespec='seconds')} {what}")

    # -- readiness -------------------------------------------------------------------------
    async def probe(self, r: aredis.Redis) -> dict[str, Any]:
        """The readiness report; ``report["ready"]`` is what ``/readyz`` answers."""
        redis_state, present = await self._redis_state(r)
        now = time.monotonic()
        ready = (
            self.started
            and not self.stopping
            and redis_state == "ok"
            and all(present.values())
            and self.auth_error is None
        )
        return {
            "ready": ready,
            "started": self.started,
            "stopping": self.stopping,
            "redis": redis_state,
            "groups": present,
            "slack_auth": self.auth_error or "ok",
            "accepting": self.accepting(),
            "slack_reachable": not self.slack_outage.down,
            "loops": {n: round(now - ticked(), 1) for n, ticked in self.loops.items()},
            "last_errors": list(self.last_errors),
            "mode": self.mode,
            "name": self.name,
        }

    async def _redis_state(self, r: aredis.Redis) -> tuple[str, dict[str, bool]]:
        """(``ok``, or why Redis cannot serve; whether each consumer group exists)."""
        redis_state, present = "ok", dict.fromkeys((f"{s} {g}" for s, g in self.groups), False)
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                pipe = r.pipeline(transaction=False)
                pipe.ping()
                # A write: a Redis that answers but refuses writes (a replica after a failover,
                # out of memory) cannot take a click or a post either.
                pipe.set(f"{self.keys.prefix}:probe:{self.name}", "1", px=10_000)
                for stream, _ in self.groups:
                    pipe.xinfo_groups(stream)
                results = await pipe.execute(raise_on_error=False)
            if isinstance(results[0], Exception):
                raise results[0]
            if isinstance(results[1], Exception):
                redis_state = f"refuses writes: {type(results[1]).__name__}: {results[1]}"[:300]
            for (stream, group), rows in zip(self.groups, results[2:], strict=True):
                present[f"{stream} {group}"] = isinstance(rows, list) and any(
                    isinstance(row, dict) and row.get("name") == group for row in rows
                )
        except (RedisError, OSError, TimeoutError) as exc:
            redis_state = f"unreachable: {type(exc).__name__}: {exc}"[:300]
        return redis_state, present

    def beat_of(self, report: dict[str, Any]) -> heartbeat.Heartbeat:
        """The heartbeat saying what ``report`` says."""
        reason = None
        if not report["ready"]:
            reason = self._reason(report)
        return heartbeat.Heartbeat(
            name=self.name,
            version=self.version,
            mode=self.mode,
            started_at=self.started_at,
            ready=report["ready"],
            accepting=self.accepting(),
            slack_auth=self.auth_error.split(": ", 1)[1] if self.auth_error else "ok",
            reason=reason,
        )

    def _reason(self, report: dict[str, Any]) -> str:
        if self.stopping:
            return "stopping"
        if self.auth_error:
            return f"Slack refused {self.auth_error.replace(': ', ' (')}); it takes no new work"
        if report["redis"] != "ok":
            return f"Redis {report['redis']}"
        missing = [k for k, ok in report["groups"].items() if not ok]
        return f"consumer groups missing: {', '.join(missing)}" if missing else "starting"

    # -- loops -----------------------------------------------------------------------------
    async def publish(
        self, store: AsyncStore, stop: asyncio.Event, recheck: Callable[[], Awaitable[object]]
    ) -> None:
        """Publish heartbeats until ``stop``; re-check a refused bot token meanwhile."""
        outage = Outage(log, "heartbeat")
        last_check = time.monotonic()
        while not stop.is_set():
            if (
                self.auth_error
                and self.auth_error.startswith("SLACK_BOT_TOKEN")
                and time.monotonic() - last_check > AUTH_RECHECK
            ):
                last_check = time.monotonic()
                with contextlib.suppress(Exception):  # the watcher records the outcome
                    await recheck()
            report = await self.probe(store.redis)
            try:
                await store.run(heartbeat.beat(self.keys, self.beat_of(report)))
                outage.restored()
            except StoreUnavailable as exc:
                outage.lost(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=heartbeat.BEAT_INTERVAL)

    async def last_beat(self, store: AsyncStore) -> None:
        """Say, as the replica stops, that it no longer takes work (best effort)."""
        report = await self.probe(store.redis)
        with contextlib.suppress(StoreUnavailable):
            await store.run(heartbeat.beat(self.keys, self.beat_of(report)))


def add_health_routes(app: web.Application, health: Health, r: aredis.Redis) -> None:
    """Add ``/healthz``, ``/readyz`` and ``/metrics`` to an aiohttp application."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        report = await health.probe(r)
        return web.json_response(report, status=200 if report["ready"] else 503)

    async def metrics(_: web.Request) -> web.Response:
        report = await health.probe(r)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(PROBE_TIMEOUT):
                await health.metrics.refresh(r, health.keys, ready=report["ready"])
        return web.Response(body=health.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
