"""Start-up checks that turn a wrong setting into a :class:`ConfigError` naming the variable.

``serve`` listens on its ports and has Slack accept its tokens before it says ready: a port in
use, an address of another machine, a refused token or an ``SLACK_API_URL`` that is not the Web
API stop it with exit code 2 and one line saying what to change. A Slack that is down or slow
is waited for instead (a start during a Slack incident must not exit).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from hitl_slack.errors import ConfigError
from hitl_slack.slack.watch import AUTH_ERRORS

__all__ = ["accepted", "unusable"]


def unusable(exc: OSError, var: str, host: str, port: int) -> str:
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


async def accepted(call: Callable[[], Awaitable[Any]], var: str, what: str) -> Any:
    """Call Slack until it answers; returns the answer's data.

    Slack unreachable or failing (5xx, 429) is retried with a growing pause, up to 30 s. The
    outage is logged once, by the client's watcher (:class:`~hitl_slack.service.health.Health`).

    Args:
        call: the Web API call (``auth.test``, ``apps.connections.open``).
        var: the variable holding the token it is made with.
        what: where that token is found, for the error message.

    Raises:
        ConfigError: Slack refused the token, or answered as something else than the Web API
            (names ``var``, or ``SLACK_API_URL``).
    """
    pause = 1.0
    while True:
        try:
            return (await call()).data
        except SlackApiError as exc:
            _refused(exc, var, what)
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        await asyncio.sleep(pause)
        pause = min(pause * 2, 30.0)


def _refused(exc: SlackApiError, var: str, what: str) -> None:
    """Raise the :class:`ConfigError` a Slack error means, unless it is worth waiting out."""
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
