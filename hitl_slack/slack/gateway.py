"""The Slack Web API edge: the few calls the bot makes, with the retry policy of :mod:`retry`.

* Retries, rate limits (per channel lanes, ``Retry-After``) and timeouts:
  :mod:`hitl_slack.slack.retry`. Any error Slack answers that retrying cannot fix
  (``channel_not_found``, ``invalid_auth``...) is a :class:`~hitl_slack.errors.SlackError`
  carrying Slack's error code for the caller to act on.
* ``chat.postMessage`` is not idempotent: a post that may have reached Slack (a timeout, a
  dropped connection, a 5xx) is never repeated here. It raises :class:`SlackOutcomeUnknown` and
  the relay decides, after looking for the message in the channel's history, whether to post
  again (:meth:`SlackGateway.find_tagged`).
* Direct messages go to the ``D…`` channel :meth:`SlackGateway.open_dm` opens
  (``conversations.open``, scope ``im:write``); the app's Messages tab must be on, or Slack
  refuses them with ``messages_tab_disabled``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.slack.blocks import Message
from hitl_slack.slack.retry import Caller, SlackOutcomeUnknown, Sleep, patient_timeout, web_client

__all__ = ["SlackGateway", "SlackOutcomeUnknown", "Tagged", "web_client"]

_HISTORY_PAGE = 200  # messages per conversations.history page (Slack allows up to 999)


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


class SlackGateway:
    """The bot's Slack calls, with the retry policy of :mod:`hitl_slack.slack.retry`.

    Args:
        client: the Web API client (its ``base_url`` may point at GovSlack or a test fake).
        attempts: tries for 5xx / network failures before giving up.
        rate_limit_attempts: 429 answers tolerated for one call.
        backoff: seconds before the first retry of a failure, doubled for each next one.
        max_backoff: the longest pause between two tries.
        group_cache_ttl: seconds user-group members are cached (usergroups.users.list is Tier 2).
        sleep: how to wait (tests pass one that does not).
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
        self._call = Caller(
            client,
            attempts=attempts,
            rate_limit_attempts=rate_limit_attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            sleep=sleep,
            timeout=self.timeout,
            channel_concurrency=channel_concurrency,
        ).call
        self._bot_id: str | None = None
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._dms: dict[str, str] = {}
        self._group_ttl = group_cache_ttl

    async def aclose(self) -> None:
        """Close the HTTP session (its keep-alive connections)."""
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        metadata: dict[str, Any] | None = None,
        patient: bool = False,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        """Post a message; returns (channel id, ts).

        Args:
            channel: the channel id.
            message: the text and blocks (a message without blocks is sent as text only).
            metadata: Slack message metadata (``event_type``, ``event_payload``), by which
                :meth:`find_tagged` finds the message again.
            patient: use the long timeout (a retry after an unknown outcome).
            thread_ts: post as a reply in the thread of this message (the parent's ts).

        Raises:
            SlackOutcomeUnknown: no answer (timeout, dropped connection, 5xx): the message may
                have been posted. Not retried here: posting again could show it twice.
            SlackError: Slack refused the post (its error code in ``error``).
        """
        extra: dict[str, Any] = {"metadata": metadata} if metadata else {}
        if thread_ts is not None:
            extra["thread_ts"] = thread_ts
        content = message.to_kwargs()
        if not content["blocks"]:
            del content["blocks"]
        data = await self._call(
            "chat.postMessage",
            channel,
            once=True,
            timeout=patient_timeout(self.timeout) if patient else None,
            channel=channel,
            **content,
            **extra,
        )
        return str(data.get("channel", channel)), str(data["ts"])

    async def open_dm(self, user_id: str) -> str:
        """The ``D…`` channel of the app's direct messages with a user (``conversations.open``,
        scope ``im:write``), asked once per user: the channel never changes.

        Raises:
            SlackError: Slack refused (``user_not_found``, ``user_disabled``, ``missing_scope``).
        """
        channel = self._dms.get(user_id)
        if channel is None:
            data = await self._call("conversations.open", None, users=user_id)
            channel = self._dms[user_id] = str(data["channel"]["id"])
        return channel

    async def lookup_email(self, email: str) -> str:
        """The user id of the person with this email (``users.lookupByEmail``, scope
        ``users:read.email``).

        Raises:
            SlackError: no such user (``users_not_found``), or the lookup failed.
        """
        data = await self._call("users.lookupByEmail", None, email=email)
        return str(data["user"]["id"])

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
