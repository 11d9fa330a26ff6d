"""The Bolt side of listings: ``/hitl pending``, its "next page", and the App Home tab.

Top-level listeners, registered by :func:`register` (called by
:func:`hitl_slack.slack.listeners.register`), each given the
:class:`~hitl_slack.slack.app.Deps` as its ``hitl`` argument. Ack first, then list (the listing
reads Redis and maybe Slack). Who sees a request is the decision core's
:meth:`~hitl_slack.decisions.Decisions.may_decide`, judged by the request's stored policy; it
runs on everything :func:`hitl_slack.lifecycle.listing.scan` read, then the page is cut: an
approver whose requests come after many others' still sees them, with the true count. Each
page's links to the requests' messages are fetched once (``chat.getPermalink``) and cached on
the request.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from hitl_slack.decisions import GroupCache
from hitl_slack.errors import SlackError, StoreUnavailable
from hitl_slack.lifecycle import listing
from hitl_slack.logs import get_logger
from hitl_slack.models import RequestState
from hitl_slack.slack import mrkdwn, payloads, views
from hitl_slack.slack.guard import guarded, responder
from hitl_slack.slack.payloads import BadPayload

if TYPE_CHECKING:
    from hitl_slack.slack.app import Deps

__all__ = ["home", "home_page", "page", "pending_page", "register", "slash_command"]

log = get_logger(__name__)


async def slash_command(
    ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
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
        shown = await page(hitl, user, 0)
        await respond(
            text=views.headline(shown),
            blocks=views.pending_blocks(shown),
            response_type="ephemeral",
        )


async def pending_page(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, hitl: Deps
) -> None:
    """ "Next page" under ``/hitl pending``: the listing's reply is replaced."""
    await ack()
    async with guarded("listing", body, responder(respond)):
        click = payloads.page_click(body)
        shown = await page(hitl, click.user, click.offset)
        await respond(
            text=views.headline(shown), blocks=views.pending_blocks(shown), replace_original=True
        )


async def home_page(ack: AsyncAck, body: dict[str, Any], hitl: Deps) -> None:
    """ "Next page" on the App Home tab."""
    await ack()
    user, _ = payloads.who(body)
    async with guarded("listing", body, functools.partial(_home_notice, hitl, user)):
        click = payloads.page_click(body)
        await _publish_home(hitl, click.user, click.offset)


async def home(event: dict[str, Any], hitl: Deps) -> None:
    """``app_home_opened`` (acked by Bolt before this runs): publish the first page."""
    if event.get("tab", "home") != "home":
        return
    user, _ = payloads.who(event)
    async with guarded("listing", event, functools.partial(_home_notice, hitl, user)):
        if user is None:
            raise BadPayload("the event names no valid user")
        await _publish_home(hitl, user, 0)


async def _home_notice(hitl: Deps, user: str | None, text: str) -> None:
    """Tell ``user`` about a failed listing on their App Home tab."""
    if user is not None:
        await hitl.slack.publish_home(user, views.home_view(views.Page([]), notice=text))


async def _publish_home(hitl: Deps, user: str, offset: int) -> None:
    shown = await page(hitl, user, offset)
    await hitl.slack.publish_home(user, views.home_view(shown))


async def page(hitl: Deps, user: str, offset: int) -> views.Page:
    """One page of the pending requests ``user`` may decide.

    The approver filter runs on everything the scan read, then the page is cut, so an
    approver whose requests come after many others' still sees them and the true count.
    """
    scan = await hitl.store.run(listing.scan(hitl.store.config))
    groups: GroupCache = {}
    mine = []
    for i, item in enumerate(scan.items):
        if i % listing.CHUNK == 0:
            await asyncio.sleep(0)  # let the loop breathe: clicks, and this listing's ack
        # A group Slack could not list hides its requests, nothing more.
        if await hitl.decisions.may_decide(item.state, user, groups):
            mine.append(item)
    if offset >= len(mine):
        offset = 0  # a stale "next page" after requests were decided: start again
    items = await _linked(hitl, mine[offset : offset + views.PAGE_SIZE])
    return views.Page(items, offset=offset, visible=len(mine), read=scan.read, total=scan.total)


async def _linked(hitl: Deps, items: list[listing.Listed]) -> list[listing.Listed]:
    """Fill in the missing permalinks of one page (one Slack call each, then cached)."""
    missing = [
        i
        for i, item in enumerate(items)
        if item.permalink is None and item.state.message is not None
    ]
    found = await asyncio.gather(*(_permalink(hitl, items[i].state) for i in missing))
    out = list(items)
    for i, link in zip(missing, found, strict=True):
        out[i] = listing.Listed(items[i].state, link)
    return out


async def _permalink(hitl: Deps, state: RequestState) -> str | None:
    message = state.message
    assert message is not None
    try:
        link = await hitl.slack.permalink(message.channel, message.ts)
        if link:
            await hitl.store.run(listing.cache_permalink(hitl.store.config, state.request.id, link))
    except (SlackError, StoreUnavailable) as exc:  # shown without a link this time
        log.debug("permalink_unavailable", request_id=state.request.id, error=str(exc))
        return None
    return link or None


def register(app: AsyncApp) -> None:
    """Register the listing listeners on ``app`` (their ``hitl`` argument is set up by
    :func:`hitl_slack.slack.listeners.register`)."""
    app.action(views.ACTION_PENDING_PAGE)(pending_page)
    app.action(views.ACTION_HOME_PAGE)(home_page)
    app.command("/hitl")(slash_command)
    app.event("app_home_opened")(home)
