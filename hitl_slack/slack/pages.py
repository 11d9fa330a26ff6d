"""Lists of pending requests: one page for ``/hitl pending`` and the App Home tab.

Pure, like :mod:`hitl_slack.slack.layout`: ``slack_sdk.models`` objects, untrusted text escaped.
A line shows what every kind shares (summary, risk, action, deadline), so a list mixes kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock, SectionBlock
from slack_sdk.models.views import View

from hitl_slack.lifecycle.listing import Listed
from hitl_slack.models import RequestState
from hitl_slack.slack.mrkdwn import clip, context, date, inline, md, plain, plural, risk

__all__ = [
    "ACTION_HOME_PAGE",
    "ACTION_PENDING_PAGE",
    "PAGE_SIZE",
    "Page",
    "headline",
    "home_view",
    "pending_blocks",
]

ACTION_PENDING_PAGE: Final = "hitl.pending_page"
ACTION_HOME_PAGE: Final = "hitl.home_page"
#: Requests per listing page: a page stays far under a message's 50 blocks.
PAGE_SIZE: Final = 20


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the pending requests a person may decide.

    Attributes:
        items: this page's requests, with their message links when known.
        offset: how many of the person's requests come before this page.
        visible: how many of the requests read the person may decide.
        read: how many pending requests were read (and filtered) for this listing.
        total: pending requests in the index.
    """

    items: list[Listed]
    offset: int = 0
    visible: int = 0
    read: int = 0
    total: int = 0

    @property
    def complete(self) -> bool:
        """Whether every pending request was read, so ``visible`` is exact."""
        return self.read >= self.total

    @property
    def has_next(self) -> bool:
        """Whether more of the person's requests follow this page."""
        return self.offset + len(self.items) < self.visible


def headline(page: Page) -> str:
    """The count line: exact when every pending request was read, else "at least"."""
    if page.complete:
        return f"{plural(page.visible, 'pending request')} you can decide"
    if not page.visible:
        return (
            f"None of the {page.read} soonest of {page.total} pending requests are yours to decide"
        )
    return (
        f"At least {plural(page.visible, 'pending request')} you can decide (the "
        f"{page.read} soonest of {page.total} pending were checked)"
    )


def _pending_line(item: Listed, now: datetime) -> SectionBlock:
    request, state = item.state.request, item.state
    link = f" · <{item.permalink}|Open message>" if _safe_link(item.permalink) else ""
    return SectionBlock(
        text=md(
            f"*{clip(request.summary, 150)}*\n{risk(request.risk)} · "
            f"{inline(request.action, 60)}{_votes(state)} · due "
            f"{date(state.effective_deadline, now)}{link}"
        )
    )


def _votes(state: RequestState) -> str:
    """`` · 1 of 2 approvals`` for a request several must approve; nothing otherwise."""
    policy = state.policy
    if policy is None or policy.quorum < 2:
        return ""
    return f" · {len(state.approvals())} of {policy.quorum} approvals"


#: Where a permalink may point: Slack's (https), or a local Slack on this machine (the
#: playground's, http on the loopback address).
_LINK_SCHEMES = ("https://", "http://127.0.0.1:", "http://localhost:")


def _safe_link(url: str | None) -> bool:
    # Slack's own permalinks; anything else (or a character that would end the link) is dropped.
    return url is not None and url.startswith(_LINK_SCHEMES) and not any(c in url for c in "<>| \n")


def _pager(page: Page, action_id: str) -> list[Block]:
    shown = f"Showing {page.offset + 1} to {page.offset + len(page.items)} of {page.visible}"
    # One button at a time: action ids must be unique within a block.
    if page.has_next:
        button = ButtonElement(
            text=plain("Next page"), action_id=action_id, value=str(page.offset + len(page.items))
        )
    elif page.offset > 0:
        button = ButtonElement(text=plain("First page"), action_id=action_id, value="0")
    else:
        return [context(shown)]
    return [context(shown), ActionsBlock(block_id="pager", elements=[button])]


def pending_blocks(
    page: Page, *, action_id: str = ACTION_PENDING_PAGE, now: datetime | None = None
) -> list[Block]:
    """One page of pending requests, for ``/hitl pending`` and the App Home.

    Args:
        page: the page (at most :data:`PAGE_SIZE` items keeps it under 50 blocks).
        action_id: the action id of the page buttons, so the listener knows where to answer.
        now: the current time, for the time left.

    Returns:
        The count line, one section per request (with a link to its message when known),
        then "Showing a to b of n" and a "Next page" button ("First page" on the last page).
    """
    if not page.items:
        text = "No pending requests you can decide." if page.complete else headline(page) + "."
        return [SectionBlock(text=md(text))]
    now = now or datetime.now(UTC)
    blocks: list[Block] = [SectionBlock(text=md(headline(page)))]
    blocks += [_pending_line(item, now) for item in page.items]
    return blocks + _pager(page, action_id)


def home_view(page: Page, *, now: datetime | None = None, notice: str | None = None) -> View:
    """The App Home tab: a header and one page of pending requests.

    Args:
        page: the page to show.
        now: the current time.
        notice: shown instead of the list, e.g. why it could not be read.

    Returns:
        A ``home`` view for ``views.publish``.
    """
    header = HeaderBlock(text=plain("Pending approvals"))
    body = (
        [SectionBlock(text=md(notice))]
        if notice
        else pending_blocks(page, action_id=ACTION_HOME_PAGE, now=now)
    )
    return View(type="home", blocks=[header, *body])
