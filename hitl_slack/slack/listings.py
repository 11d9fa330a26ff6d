"""The Bolt side of listings: ``/hitl pending``, its "next page", and the App Home tab.

Ack first, then list (the listing reads Redis and maybe Slack). The approver filter runs on
everything :func:`hitl_slack.lifecycle.listing.scan` read, then the page is cut: an approver whose
requests come after many others' still sees them, with the true count. Each page's links to
the requests' messages are fetched once (``chat.getPermalink``) and cached on the request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncRespond

from hitl_slack.errors import SlackError, StoreUnavailable
from hitl_slack.lifecycle import listing
from hitl_slack.models import RequestState
from hitl_slack.slack import mrkdwn, payloads, views
from hitl_slack.slack.guard import Tell, guarded, responder
from hitl_slack.slack.payloads import BadPayload

if TYPE_CHECKING:
    from hitl_slack.slack.app import Bot, GroupCache

__all__ = ["Listings"]

log = logging.getLogger("hitl_slack.slack.listeners")


class Listings:
    """The listing listeners, over the :class:`~hitl_slack.slack.app.Bot` they serve."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        """``/hitl``: ``help`` answers in the ack; ``pending`` acks, then lists."""
        words = str(command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub != "pending":
            prefix = "" if sub == "help" else f"Unknown command `{mrkdwn.escape(sub[:50])}`.\n"
            await ack(text=prefix + views.HELP_TEXT)
            return
        await ack()  # the listing reads Redis and Slack: answer through response_url
        async with guarded("listing", command, responder(respond)):
            user, _ = payloads.who(command)
            if user is None:
                raise BadPayload("the command names no valid user (user_id)")
            page = await self.page(user, 0)
            await respond(
                text=views.headline(page),
                blocks=views.pending_blocks(page),
                response_type="ephemeral",
            )

    async def pending_page(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        """ "Next page" under ``/hitl pending``: the listing's reply is replaced."""
        await ack()
        async with guarded("listing", body, responder(respond)):
            click = payloads.page_click(body)
            page = await self.page(click.user, click.offset)
            await respond(
                text=views.headline(page), blocks=views.pending_blocks(page), replace_original=True
            )

    async def home_page(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """ "Next page" on the App Home tab."""
        await ack()
        user, _ = payloads.who(body)
        async with guarded("listing", body, self._home_notice(user)):
            click = payloads.page_click(body)
            await self._publish_home(click.user, click.offset)

    async def home(self, event: dict[str, Any]) -> None:
        """``app_home_opened`` (acked by Bolt before this runs): publish the first page."""
        if event.get("tab", "home") != "home":
            return
        user, _ = payloads.who(event)
        async with guarded("listing", event, self._home_notice(user)):
            if user is None:
                raise BadPayload("the event names no valid user")
            await self._publish_home(user, 0)

    def _home_notice(self, user: str | None) -> Tell:
        async def tell(text: str) -> None:
            if user is not None:
                await self.bot.slack.publish_home(
                    user, views.home_view(views.Page([]), notice=text)
                )

        return tell

    async def _publish_home(self, user: str, offset: int) -> None:
        page = await self.page(user, offset)
        await self.bot.slack.publish_home(user, views.home_view(page))

    async def page(self, user: str, offset: int) -> views.Page:
        """One page of the pending requests ``user`` may decide.

        The approver filter runs on everything the scan read, then the page is cut, so an
        approver whose requests come after many others' still sees them and the true count.
        """
        scan = await self.bot.store.run(listing.scan(self.bot.store.config))
        groups: GroupCache = {}
        mine = []
        for i, item in enumerate(scan.items):
            if i % listing.CHUNK == 0:
                await asyncio.sleep(0)  # let the loop breathe: clicks, and this listing's ack
            if await self._may(item.state, user, groups):
                mine.append(item)
        if offset >= len(mine):
            offset = 0  # a stale "next page" after requests were decided: start again
        items = await self._linked(mine[offset : offset + views.PAGE_SIZE])
        return views.Page(items, offset=offset, visible=len(mine), read=scan.read, total=scan.total)

    async def _may(self, state: RequestState, user: str, groups: GroupCache) -> bool:
        try:
            return await self.bot.allowed(state, user, groups)
        except SlackError:
            return False  # a group Slack could not list hides its requests, nothing more

    async def _linked(self, items: list[listing.Listed]) -> list[listing.Listed]:
        """Fill in the missing permalinks of one page (one Slack call each, then cached)."""
        missing = [
            i
            for i, item in enumerate(items)
            if item.permalink is None and item.state.message is not None
        ]
        found = await asyncio.gather(*(self._permalink(items[i].state) for i in missing))
        out = list(items)
        for i, link in zip(missing, found, strict=True):
            out[i] = listing.Listed(items[i].state, link)
        return out

    async def _permalink(self, state: RequestState) -> str | None:
        message = state.message
        assert message is not None
        try:
            link = await self.bot.slack.permalink(message.channel, message.ts)
            if link:
                await self.bot.store.run(
                    listing.cache_permalink(self.bot.store.config, state.request.id, link)
                )
        except (SlackError, StoreUnavailable) as exc:  # shown without a link this time
            log.debug("permalink_unavailable", extra={"id": state.request.id, "error": str(exc)})
            return None
        return link or None
