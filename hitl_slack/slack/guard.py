"""Failures after ``ack()``: told to the person, logged once, never a 404 to Slack.

In Bolt's asyncio runner an exception raised after ``ack()`` resets the response: Slack sees a
404 after 3 seconds and the person is told nothing; an ``@app.error`` handler cannot prevent
it. So every listener runs its work after the ack inside :func:`guarded`, which turns any
failure into a message to the person (ephemeral, the listing's reply, the App Home, or the
modal itself) and one log line. :class:`RejectMalformed` answers 400 to a signed interaction
whose shape Bolt itself could not route.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from hitl_slack.errors import InvalidRequest, RequestNotFound, SlackError, StoreUnavailable
from hitl_slack.logs import get_logger
from hitl_slack.slack import mrkdwn, payloads
from hitl_slack.slack.gateway import SlackGateway
from hitl_slack.slack.payloads import BadPayload

__all__ = [
    "RejectMalformed",
    "Tell",
    "failure_text",
    "guarded",
    "log_failure",
    "responder",
    "teller",
]

log = get_logger("hitl_slack.slack.listeners")  # the listeners' lines, one logger

#: Says something to the person a listener serves.
Tell = Callable[[str], Awaitable[None]]

_AGAIN = "Try again in a moment; if it was recorded, you will be told the decision that stands."
_GONE = (
    "This request no longer exists (its retention ended, or the approval store lost it), so "
    "nothing was decided."
)
_UNREADABLE = (
    "This request's stored data could not be read, so nothing was decided. Tell the bot's operator."
)


def failure_text(exc: Exception, what: str) -> tuple[str, int]:
    """What to tell the person about a failure, and the level to log it at.

    Args:
        exc: what went wrong after (or instead of) the ack.
        what: the person's action, e.g. ``"click"``, ``"form"``, ``"listing"``.

    Returns:
        ``(mrkdwn text, logging level)``: expected outages log a warning, bugs an error.
    """
    if isinstance(exc, BadPayload):
        return _unreadable_payload(exc, what), logging.WARNING
    if isinstance(exc, RequestNotFound):
        return _GONE, logging.INFO
    if isinstance(exc, StoreUnavailable):
        return (
            f"The approval store could not be reached, so your {what} may not have been "
            f"recorded. {_AGAIN}",
            logging.WARNING,
        )
    if isinstance(exc, SlackError):
        return (
            f"Slack did not answer ({mrkdwn.escape(exc.error)}), so your {what} may not "
            f"have been handled. {_AGAIN}",
            logging.WARNING,
        )
    if isinstance(exc, InvalidRequest):
        return _UNREADABLE, logging.ERROR
    return (
        f"Something went wrong with your {what}, so it may not have been recorded. "
        f"{_AGAIN} If it keeps failing, tell the bot's operator.",
        logging.ERROR,
    )


def _unreadable_payload(exc: BadPayload, what: str) -> str:
    again = (
        "Run `/hitl pending` again."
        if what == "listing"
        else "Use the buttons on the request's message again."
    )
    return (
        f"Your {what} could not be read ({mrkdwn.escape(str(exc))}), so nothing was "
        f"decided. {again}"
    )


def log_failure(exc: Exception, what: str, level: int, body: Any) -> None:
    """Log one line for a failure: a traceback only for bugs, or at DEBUG."""
    user, channel = payloads.who(body)
    show_trace = level >= logging.ERROR or log.isEnabledFor(logging.DEBUG)
    log.log(
        level,
        "listener_failed",
        what=what,
        error=f"{type(exc).__name__}: {exc}",
        user=user,
        channel=channel,
        exc_info=exc if show_trace else None,
    )


@asynccontextmanager
async def guarded(what: str, body: Any, tell: Tell) -> AsyncIterator[None]:
    """Run a listener's work after its ack: any failure is told to the person and logged once.

    Args:
        what: the person's action, named in the message (``"click"``, ``"listing"``...).
        body: the payload, to name the person and channel in the log line.
        tell: how to reach the person.
    """
    try:
        yield
    except Exception as exc:  # after ack(), an escaping error becomes a 404 to Slack
        text, level = failure_text(exc, what)
        log_failure(exc, what, level, body)
        try:
            await tell(text)
        except Exception:  # already logged above: telling is best effort
            log.debug("tell_failed", exc_info=True)


def teller(slack: SlackGateway, body: Any, respond: AsyncRespond | None) -> Tell:
    """Reach the person of an interaction: ephemeral in its channel, else its response_url.

    The response_url is also the way when the ephemeral fails (the bot was removed from the
    channel, or Slack refused it): the person is told either way.
    """
    user, channel = payloads.who(body)
    url = (
        respond
        if respond is not None and isinstance(body, dict) and body.get("response_url")
        else None
    )

    async def tell(text: str) -> None:
        if channel and user:
            try:
                await slack.ephemeral(channel, user, text)
            except SlackError as exc:
                log.warning(
                    "ephemeral_failed", error=exc.error, user=user, response_url=url is not None
                )
            else:
                return
        if url is not None:
            await url(text=text, response_type="ephemeral", replace_original=False)

    return tell


def responder(respond: AsyncRespond) -> Tell:
    """Reach the person through a command's or a listing's response_url."""

    async def tell(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    return tell


class RejectMalformed(AsyncMiddleware):
    """Answer 400 to a signed interaction whose shape Bolt cannot route (see
    :func:`hitl_slack.slack.payloads.malformed`); it runs after Bolt's signature check.

    A class, not a function: Bolt builds a function middleware's arguments from the payload
    (``actions[0]`` and the like), which is exactly what fails on such a body.
    """

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        problem = payloads.malformed(req.body)
        if problem is None:
            return await next()
        log.warning("payload_malformed", problem=problem)
        return BoltResponse(status=400, body=f"malformed payload: {problem}")
