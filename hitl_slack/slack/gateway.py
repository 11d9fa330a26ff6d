"""The Slack Web API edge: retries, rate limits and the few calls the bot makes.

* 429: wait ``Retry-After`` seconds, then retry. Calls to one channel go through its lane: at
  most ``channel_concurrency`` at once, and every call of a rate-limited channel waits until its
  ``Retry-After`` has passed, while the other channels keep flowing.
* 5xx, connection errors and timeouts: retry with exponential backoff.
* Any other error (``channel_not_found``, ``invalid_auth``...) is final: :class:`SlackError`
  carries Slack's error code for the caller to act on.
* ``chat.postMessage`` is not idempotent: a post that may have reached Slack (a timeout, a
  dropped connection, a 5xx) is never repeated here. It raises :class:`SlackOutcomeUnknown` and
  the relay decides, after looking for the message in the channel's history, whether to post
  again (:meth:`SlackGateway.find_tagged`).

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
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.errors import SlackError
from hitl_slack.logs import get_logger
from hitl_slack.slack.blocks import Message
from hitl_slack.slack.watch import SlackWatcher, WatchedWebClient

__all__ = ["SlackGateway", "SlackOutcomeUnknown", "Tagged", "web_client"]

log = get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_HISTORY_PAGE = 200  # messages per conversations.history page (Slack allows up to 999)


class SlackOutcomeUnknown(SlackError):
    """A non-idempotent call (a post) may or may not have taken effect: no answer came back."""


@dataclass(frozen=True)
class Tagged:
    """A message of this bot found in a channel's history by its metadata.

    Attributes:
        channel: the channel id.
        ts: the message's timestamp (its id in the channel).
        payload: the metadata's ``event_payload``.
    """

    channel: str
    ts: str
    payload: dict[str, Any]


def web_client(
    token: str | None, base_url: str, timeout: float, *, watcher: SlackWatcher | None = None
) -> AsyncWebClient:
    """The bot's Web API client, over one keep-alive session shared by every call.

    Must be called inside the running event loop (aiohttp binds the session to it). The session
    timeout is only a ceiling: :class:`SlackGateway` times each call itself. Close it with
    :meth:`SlackGateway.aclose`. With a ``watcher``, every call's outcome is reported to it
    (:class:`~hitl_slack.slack.watch.WatchedWebClient`).
    """
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_patient(timeout)))
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


def _patient(timeout: float) -> float:
    """The timeout of a post retried after an unknown outcome: long enough for a slow Slack."""
    return max(30.0, 3 * timeout)


class SlackGateway:
    """The bot's Slack calls, with the retry policy above.

    Args:
        client: the Web API client (its ``base_url`` may point at GovSlack or a test fake).
        attempts: tries for 5xx / network failures before giving up.
        rate_limit_attempts: 429 answers tolerated for one call.
        group_cache_ttl: seconds user-group members are cached (usergroups.users.list is Tier 2).
        timeout: seconds per call (default: the client's); a post retried after an unknown
            outcome gets ``max(30, 3 * timeout)``.
        channel_concurrency: calls to one channel in flight at once (Slack allows about one
            post per second per channel with short bursts; a few at once keep a backlog moving
            without a burst of 429s, and roughly in order).
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        attempts: int = 5,
        rate_limit_attempts: int = 10,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        group_cache_ttl: float = 300.0,
        sleep: Sleep = asyncio.sleep,
        timeout: float | None = None,
        channel_concurrency: int = 4,
    ) -> None:
        self.client = client
        self.timeout = float(timeout if timeout is not None else client.timeout)
        self._bot_id: str | None = None
        self._attempts = attempts
        self._rate_limit_attempts = rate_limit_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}
        self._lane_width = channel_concurrency
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._group_ttl = group_cache_ttl

    async def aclose(self) -> None:
        """Close the HTTP session (its keep-alive connections)."""
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    async def _call(
        self,
        method: str,
        lock_key: str | None,
        *,
        retry: bool = True,
        once: bool = False,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        call = _Call(method, retry, once, timeout or self.timeout, kwargs)
        if lock_key is None:
            return await self._attempt(call, None)
        lane = self._lanes.get(lock_key)
        if lane is None:
            lane = self._lanes[lock_key] = _Lane(asyncio.Semaphore(self._lane_width))
        async with lane.slots:
            return await self._attempt(call, lane)

    async def _attempt(self, call: _Call, lane: _Lane | None) -> dict[str, Any]:
        failures = limited = 0
        method, retry = call.method, call.retry
        fn = getattr(self.client, method.replace(".", "_"))
        while True:
            if lane is not None and (wait := lane.until - time.monotonic()) > 0:
                await self._sleep(wait)  # the channel is rate limited: wait with the others
            try:
                response = await self._send(fn, call)
                return dict(response.data) if isinstance(response.data, dict) else {}
            except SlackApiError as exc:
                status = exc.response.status_code
                error = (
                    str(exc.response.get("error", ""))
                    if isinstance(exc.response.data, dict)
                    else ""
                )
                if status == 429 and retry and limited < self._rate_limit_attempts:
                    limited += 1
                    wait = _retry_after(exc.response.headers)
                    log.warning("slack_rate_limited", method=method, wait=wait)
                    if lane is None:
                        await self._sleep(wait)
                    else:
                        lane.until = max(lane.until, time.monotonic() + wait)
                    continue
                if status >= 500 and call.once:
                    raise SlackOutcomeUnknown(method, error or f"HTTP {status}") from None
                if status >= 500 and retry and failures + 1 < self._attempts:
                    failures += 1
                    await self._sleep(self._delay(failures))
                    continue
                raise SlackError(method, error or f"HTTP {status}") from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                # A refused connection never reached Slack: even a post may be sent again.
                sent = not isinstance(exc, aiohttp.ClientConnectorError)
                if call.once and sent:
                    raise SlackOutcomeUnknown(method, _describe(exc, call.timeout)) from None
                if retry and failures + 1 < self._attempts:
                    failures += 1
                    await self._sleep(self._delay(failures))
                    continue
                raise SlackError(method, _describe(exc, call.timeout)) from None

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

    def _delay(self, failures: int) -> float:
        return float(min(self._max_backoff, self._backoff * 2 ** (failures - 1)))

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        metadata: dict[str, Any] | None = None,
        patient: bool = False,
    ) -> tuple[str, str]:
        """Post a message; returns (channel id, ts).

        Args:
            channel: the channel id.
            message: the text and blocks.
            metadata: Slack message metadata (``event_type``, ``event_payload``), by which
                :meth:`find_tagged` finds the message again.
            patient: use the long timeout (a retry after an unknown outcome).

        Raises:
            SlackOutcomeUnknown: no answer (timeout, dropped connection, 5xx): the message may
                have been posted. Not retried here: posting again could show it twice.
            SlackError: Slack refused the post (its error code in ``error``).
        """
        extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
        data = await self._call(
            "chat.postMessage",
            channel,
            once=True,
            timeout=_patient(self.timeout) if patient else None,
            channel=channel,
            **message.to_kwargs(),
            **extra,
        )
        return str(data.get("channel", channel)), str(data["ts"])

    async def update(
        self, channel: str, ts: str, message: Message, *, metadata: dict[str, Any] | None = None
    ) -> None:
        """Replace a message the bot posted (its metadata is kept unless ``metadata`` is given)."""
        extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
        await self._call(
            "chat.update", channel, channel=channel, ts=ts, **message.to_kwargs(), **extra
        )

    async def find_tagged(
        self, channel: str, event_type: str, oldest: float, *, pages: int = 5
    ) -> list[Tagged]:
        """This bot's messages in ``channel`` since ``oldest`` whose metadata is ``event_type``.

        Reads ``conversations.history`` with ``include_all_metadata`` (bot scopes
        ``channels:history`` / ``groups:history``), newest first, at most ``pages`` pages of
        200 messages. Slack has no filter by metadata, so a busy channel costs more pages.

        Args:
            channel: the channel id.
            event_type: the metadata ``event_type`` to match.
            oldest: Unix time; older messages are not read.
            pages: the most pages read.

        Raises:
            SlackError: the history could not be read (``missing_scope``, ``not_in_channel``...).
        """
        bot_id = await self.bot_id()
        found: list[Tagged] = []
        cursor: str | None = None
        for _ in range(pages):
            data = await self._call(
                "conversations.history",
                None,
                channel=channel,
                oldest=f"{oldest:.6f}",
                limit=_HISTORY_PAGE,
                include_all_metadata="true",
                cursor=cursor,
            )
            found += [m for m in map(_tagged(channel, event_type, bot_id), data["messages"]) if m]
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not data.get("has_more") or not cursor:
                break
        return found

    async def bot_id(self) -> str:
        """This bot's ``bot_id`` (``auth.test``, asked once)."""
        if self._bot_id is None:
            data = await self._call("auth.test", None)
            self._bot_id = str(data.get("bot_id", ""))
        return self._bot_id

    async def delete(self, channel: str, ts: str) -> None:
        """Delete a message the bot posted."""
        await self._call("chat.delete", channel, channel=channel, ts=ts)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Tell one user something, in the channel, visible only to them (one try).

        Raises:
            SlackError: Slack refused it (the caller may try the interaction's response_url).
        """
        await self._call(
            "chat.postEphemeral", None, retry=False, channel=channel, user=user, text=text
        )

    async def open_view(self, trigger_id: str, view: View) -> None:
        """Open a modal; no retries: the trigger id lives 3 seconds."""
        await self._call("views.open", None, retry=False, trigger_id=trigger_id, view=view)

    async def permalink(self, channel: str, ts: str) -> str:
        """A message's link (``chat.getPermalink``); no retries: a listing shows it without."""
        data = await self._call(
            "chat.getPermalink", None, retry=False, channel=channel, message_ts=ts
        )
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


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def _tagged(
    channel: str, event_type: str, bot_id: str
) -> Callable[[dict[str, Any]], Tagged | None]:
    def match(message: dict[str, Any]) -> Tagged | None:
        meta = message.get("metadata")
        if not isinstance(meta, dict) or meta.get("event_type") != event_type:
            return None
        if bot_id and message.get("bot_id") != bot_id:
            return None  # metadata can be set by any app in the channel
        payload = meta.get("event_payload")
        return Tagged(channel, str(message["ts"]), payload if isinstance(payload, dict) else {})

    return match


def _retry_after(headers: Any) -> float:
    value = None
    if headers:
        value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
