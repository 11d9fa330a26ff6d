"""A Slack Web API client that reports every call's outcome to the service.

Every Slack call of the bot (the relay's, the listeners', Bolt's own, Socket Mode's
``apps.connections.open``) goes through one :class:`WatchedWebClient`, so a revoked token,
a rate limit or an unreachable Slack is noticed wherever it happens, without each caller
having to report it. The watcher counts them (``/metrics``) and reacts to the permanent
auth errors (:data:`AUTH_ERRORS`).
"""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

__all__ = ["AUTH_ERRORS", "SlackWatcher", "WatchedWebClient", "token_variable"]

#: Errors meaning the token itself is refused: retrying cannot help.
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive"})


def token_variable(method: str) -> str:
    """The setting holding the token a Web API method is called with."""
    return "SLACK_APP_TOKEN" if method == "apps.connections.open" else "SLACK_BOT_TOKEN"


class SlackWatcher(Protocol):
    """What is told of each call."""

    def slack_ok(self, method: str) -> None:
        """The call succeeded."""

    def slack_failed(self, method: str, status: int, error: str) -> None:
        """Slack answered with an error (``status`` 429 for a rate limit)."""

    def slack_unreachable(self, method: str, exc: BaseException) -> None:
        """No answer: a connection error or a timeout."""


class WatchedWebClient(AsyncWebClient):
    """``AsyncWebClient`` telling ``watcher`` how each call went (then behaving as usual)."""

    def __init__(self, *args: Any, watcher: SlackWatcher, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watcher = watcher

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        """See ``AsyncWebClient.api_call``."""
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            status = int(exc.response.status_code)
            self.watcher.slack_failed(
                api_method, status, str(data.get("error") or f"http_{status}")
            )
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.watcher.slack_unreachable(api_method, exc)
            raise
        self.watcher.slack_ok(api_method)
        return response
