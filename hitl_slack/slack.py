"""The Slack Web API edge: retries, rate limits and the few calls the bot makes.

* 429: wait ``Retry-After`` seconds, then retry. Calls are serialised per channel, so a channel
  that is rate limited waits alone while the others keep flowing.
* 5xx, connection errors and timeouts: retry with exponential backoff.
* Any other error (``channel_not_found``, ``invalid_auth``...) is final: :class:`SlackError`
  carries Slack's error code for the caller to act on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.blocks import Message
from hitl_slack.errors import SlackError

__all__ = ["SlackGateway"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class SlackGateway:
    """The bot's Slack calls, with the retry policy above.

    Args:
        client: the Web API client (its ``base_url`` may point at GovSlack or a test fake).
        attempts: tries for 5xx / network failures before giving up.
        rate_limit_attempts: 429 answers tolerated for one call.
        group_cache_ttl: seconds user-group members are cached (usergroups.users.list is Tier 2).
    """

    def __init__(self, client: AsyncWebClient, *, attempts: int = 5,
                 rate_limit_attempts: int = 10, backoff: float = 0.5, max_backoff: float = 30.0,
                 group_cache_ttl: float = 300.0, sleep: Sleep = asyncio.sleep) -> None:
        self.client = client
        self._attempts = attempts
        self._rate_limit_attempts = rate_limit_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._locks: dict[str, asyncio.Lock] = {}
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._group_ttl = group_cache_ttl

    async def _call(self, method: str, lock_key: str | None, *, retry: bool = True,
                    **kwargs: Any) -> dict[str, Any]:
        if lock_key is None:
            return await self._attempt(method, retry, kwargs)
        lock = self._locks.setdefault(lock_key, asyncio.Lock())
        async with lock:
            return await self._attempt(method, retry, kwargs)

    async def _attempt(self, method: str, retry: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
        failures = limited = 0
        fn = getattr(self.client, method.replace(".", "_"))
        while True:
            try:
                response = await fn(**kwargs)
                return dict(response.data) if isinstance(response.data, dict) else {}
            except SlackApiError as exc:
                status = exc.response.status_code
                error = str(exc.response.get("error", "")) if isinstance(
                    exc.response.data, dict) else ""
                if status == 429 and retry and limited < self._rate_limit_attempts:
                    limited += 1
                    wait = _retry_after(exc.response.headers)
                    log.warning("slack rate limited", extra={"method": method, "wait": wait})
                    await self._sleep(wait)
                    continue
                if status >= 500 and retry and failures + 1 < self._attempts:
                    failures += 1
                    await self._sleep(self._delay(failures))
                    continue
                raise SlackError(method, error or f"HTTP {status}") from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if retry and failures + 1 < self._attempts:
                    failures += 1
                    await self._sleep(self._delay(failures))
                    continue
                raise SlackError(method, f"{type(exc).__name__}: {exc}") from None

    def _delay(self, failures: int) -> float:
        return float(min(self._max_backoff, self._backoff * 2 ** (failures - 1)))

    async def post(self, channel: str, message: Message) -> tuple[str, str]:
        """Post a message; returns (channel id, ts)."""
        data = await self._call("chat.postMessage", channel, channel=channel,
                                **message.to_kwargs())
        return str(data.get("channel", channel)), str(data["ts"])

    async def update(self, channel: str, ts: str, message: Message) -> None:
        """Replace a message the bot posted."""
        await self._call("chat.update", channel, channel=channel, ts=ts, **message.to_kwargs())

    async def delete(self, channel: str, ts: str) -> None:
        """Delete a message the bot posted."""
        await self._call("chat.delete", channel, channel=channel, ts=ts)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Tell one user something, in the channel, visible only to them (best effort)."""
        try:
            await self._call("chat.postEphemeral", None, retry=False, channel=channel, user=user,
                             text=text)
        except SlackError:
            log.warning("ephemeral message failed", exc_info=True)

    async def open_view(self, trigger_id: str, view: View) -> None:
        """Open a modal; no retries: the trigger id lives 3 seconds."""
        await self._call("views.open", None, retry=False, trigger_id=trigger_id, view=view)

    async def permalink(self, channel: str, ts: str) -> str:
        """A message's link (``chat.getPermalink``); no retries: a listing shows it without."""
        data = await self._call("chat.getPermalink", None, retry=False, channel=channel,
                                message_ts=ts)
        return str(data.get("permalink") or "")

    async def publish_home(self, user_id: str, view: View) -> None:
        """Publish a user's App Home tab."""
        await self._call("views.publish", None, user_id=user_id, view=view)

    async def group_members(self, group_id: str, *, retry: bool = True) -> frozenset[str]:
        """Members of a user group (cached for ``group_cache_ttl`` seconds).

        ``retry=False`` on a user's click path: a rate limit must not hold the click past
        Slack's 3-second trigger.
        """
        now = time.monotonic()
        cached = self._groups.get(group_id)
        if cached and now - cached[0] < self._group_ttl:
            return cached[1]
        data = await self._call("usergroups.users.list", None, retry=retry, usergroup=group_id)
        members = frozenset(str(u) for u in data.get("users", []))
        self._groups[group_id] = (now, members)
        return members


def _retry_after(headers: Any) -> float:
    value = None
    if headers:
        value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
