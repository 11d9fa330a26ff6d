"""``hitl-slack serve``: the process; the Bolt app, the relay and the scheduler in one event loop.

Socket Mode when ``SLACK_APP_TOKEN`` is set (or ``--socket``), else HTTP (``--http``) on
``$PORT`` at ``/slack/events`` on aiohttp's production server. ``/healthz``, ``/readyz`` and
``/metrics`` (:mod:`hitl_slack.service.health`) are served on ``HITL_HEALTH_PORT`` (default
``PORT``), in both modes. What runs, and how it starts and stops, is
:class:`~hitl_slack.service.service.Service`.

SIGTERM / SIGINT, in any state (starting, connecting, serving): stop reading new work, finish
the work in hand for up to :data:`GRACE` seconds, close, exit 0. A second signal stops at once
(exit 128 + the signal). A wrong setting, a port that cannot be used or a refused token raises
:class:`~hitl_slack.errors.ConfigError` naming the variable (the CLI exits with code 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from hitl_slack.logs import get_logger
from hitl_slack.routing import load_routes
from hitl_slack.service.service import GRACE, Service
from hitl_slack.settings import Settings

__all__ = ["GRACE", "Service", "serve"]

log = get_logger(__name__)


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


def _on_signals(stop: asyncio.Event) -> None:
    """First SIGTERM / SIGINT: stop gracefully. A second one: stop at once."""
    loop = asyncio.get_running_loop()

    def handler(signum: int) -> None:
        if stop.is_set():
            log.warning("second_signal_stopping_now", signal=signum)
            os._exit(128 + signum)
        log.info("signal_received", signal=signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, handler, int(sig))
