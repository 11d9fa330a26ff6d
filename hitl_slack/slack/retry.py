"""How one Slack Web API call is made: the bot's retry policy, over one keep-alive session.

* 429: wait ``Retry-After`` seconds, then retry. A call made in a channel's lane (the gateway's
  posts, updates and deletes) shares it with the channel's other calls: at most
  ``channel_concurrency`` at once, and every call of a rate-limited channel waits until its
  ``Retry-After`` has passed, while the other channels keep flowing.
* 5xx, connection errors and timeouts: retry with exponential backoff.
* Any other error (``channel_not_found``, ``invalid_auth``...) is final: :class:`SlackError`
  carries Slack's error code for the caller to act on.
* A call that is not idempotent (``once``: a post) and may have reached Slack (a timeout, a
  dropped connection, a 5xx) is never repeated: it raises :class:`SlackOutcomeUnknown`.

Every call goes through one keep-alive ``aiohttp`` session (:func:`web_client`): no TCP or TLS
handshake per call. The SDK's own retry handlers are off; this module owns the retry policy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.errors import SlackError
from hitl_slack.logs import get_logger
from hitl_slack.slack.watch import SlackWatcher, WatchedWebClient

__all__ = ["Caller", "SlackOutcomeUnknown", "Sleep", "patient_timeout", "web_client"]

log = get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class SlackOutcomeUnknown(SlackError):
    """A non-idempotent call (a post) may or may not have taken effect: no answer came back."""


def web_client(
    token: str | None, base_url: str, timeout: float, *, watcher: SlackWatcher | None = None
) -> AsyncWebClient:
    """The bot's Web API client, over one keep-alive session shared by every call.

    Must be called inside the running event loop (aiohttp binds the session to it). The session
    timeout is only a ceiling: :class:`Caller` times each call itself. Close it with
    :meth:`~hitl_slack.slack.gateway.SlackGateway.aclose`. With a ``watcher``, every call's
    outcome is reported to it (:class:`~hitl_slack.slack.watch.WatchedWebClient`).
    """
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=patient_timeout(timeout)))
    kwargs: dict[str, Any] = {
        "token": token,
        "base_url": base_url,
        "timeout": int(timeout),
        "session": session,
        "retry_handlers": [],
    }
    if watcher is not None:
        return WatchedWebClient(watcher=watcher, **kwargs)
    return AsyncWebClient(**kwargs)


def patient_timeout(timeout: float) -> float:
    """The timeout of a post retried after an unknown outcome: long enough for a slow Slack."""
    return max(30.0, 3 * timeout)


class Caller:
    """Makes Web API calls with the retry policy above (see ``SlackGateway`` for the args)."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        attempts: int,
        rate_limit_attempts: int,
        backoff: float,
        max_backoff: float,
        sleep: Sleep,
        timeout: float,
        channel_concurrency: int,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self._attempts = attempts
        self._rate_limit_attempts = rate_limit_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}
        self._lane_width = channel_concurrency

    async def call(
        self,
        method: str,
        lock_key: str | None,
        *,
        retry: bool = True,
        once: bool = False,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call ``method`` (``chat.postMessage``) with ``kwargs``; returns Slack's answer.

        Args:
            lock_key: the channel whose lane the call goes through (None: no lane).
            retry: retry 429s, 5xx and network failures.
            once: not idempotent: never repeat a call that may have reached Slack.
            timeout: seconds for this call (default: the caller's).

        Raises:
            SlackOutcomeUnknown: a ``once`` call got no answer.
            SlackError: Slack refused the call, or failed every try.
        """
        call = _Call(method, retry, once, timeout or self.timeout, kwargs)
        if lock_key is None:
            return await self._attempt(call, None)
        lane = self._lanes.get(lock_key)
        if lane is None:
            lane = self._lanes[lock_key] = _Lane(asyncio.Semaphore(self._lane_width))
        async with lane.slots:
            return await self._attempt(call, lane)

    async def _attempt(self, call: _Call, lane: _Lane | None) -> dict[str, Any]:
        fn = getattr(self.client, call.method.replace(".", "_"))
        tries = _Tries()
        while True:
            if lane is not None and (wait := lane.until - time.monotonic()) > 0:
                await self._sleep(wait)  # the channel is rate limited: wait with the others
            try:
                response = await self._send(fn, call)
            except SlackApiError as exc:
                await self._answered(call, lane, tries, exc)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                await self._unanswered(call, tries, exc)
            else:
                return dict(response.data) if isinstance(response.data, dict) else {}

    async def _send(self, fn: Callable[..., Awaitable[Any]], call: _Call) -> Any:
        """One try of ``call``, within its timeout."""
        deadline = asyncio.timeout(call.timeout)
        try:
            async with deadline:
                return await fn(**call.kwargs)
        except TimeoutError:
            # The client saw only a cancellation: tell its watcher that Slack did not answer
            # (a Slack slower than the timeout is an outage to /readyz, /metrics and the log).
            if deadline.expired() and isinstance(self.client, WatchedWebClient):
                self.client.watcher.slack_unreachable(
                    call.method, TimeoutError(f"no answer within {call.timeout:g} s")
                )
            raise

    async def _answered(
        self, call: _Call, lane: _Lane | None, tries: _Tries, exc: SlackApiError
    ) -> None:
        """Slack answered with an error: wait before the next try, or raise."""
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if status == 429 and call.retry and tries.limited < self._rate_limit_attempts:
            tries.limited += 1
            wait = _retry_after(exc.response.headers)
            log.warning("slack_rate_limited", method=call.method, wait=wait)
            if lane is None:
                await self._sleep(wait)
            else:
                lane.until = max(lane.until, time.monotonic() + wait)
            return
        if status >= 500 and call.once:
            raise SlackOutcomeUnknown(call.method, error or f"HTTP {status}") from None
        failed = SlackError(call.method, error or f"HTTP {status}")
        if status < 500:
            raise failed from None
        await self._back_off(call, tries, failed)

    async def _unanswered(self, call: _Call, tries: _Tries, exc: BaseException) -> None:
        """No answer: wait before the next try, or raise."""
        described = _describe(exc, call.timeout)
        # A refused connection never reached Slack: even a post may be sent again.
        if call.once and not isinstance(exc, aiohttp.ClientConnectorError):
            raise SlackOutcomeUnknown(call.method, described) from None
        await self._back_off(call, tries, SlackError(call.method, described))

    async def _back_off(self, call: _Call, tries: _Tries, failed: SlackError) -> None:
        """Wait before the next try of a failed call, or raise ``failed`` after the last."""
        if not call.retry or tries.failures + 1 >= self._attempts:
            raise failed from None
        tries.failures += 1
        await self._sleep(min(self._max_backoff, self._backoff * 2 ** (tries.failures - 1)))


@dataclass
class _Lane:
    """One channel's calls: a bounded number at once, all held while it is rate limited."""

    slots: asyncio.Semaphore
    until: float = 0.0  # monotonic time before which no call starts (Retry-After)


@dataclass(frozen=True)
class _Call:
    method: str
    retry: bool  # retry 429s, 5xx and network failures
    once: bool  # not idempotent: never repeat a call that may have reached Slack
    timeout: float
    kwargs: dict[str, Any]


@dataclass
class _Tries:
    """What one call has used up: failures (5xx, network) and 429 answers."""

    failures: int = 0
    limited: int = 0


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def _retry_after(headers: Any) -> float:
    value = None
    if headers:
        value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
