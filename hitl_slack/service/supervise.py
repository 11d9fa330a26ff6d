"""The service's tasks: workers restarted when they die of a bug, and bounded waits to stop.

A dead worker would silently stop posting or expiring, so :func:`supervised` logs the crash
(with its traceback: it is a bug) and starts the worker again a second later. Shutting down
waits for tasks within a deadline and cancels what is left (:func:`within`); starting up can
be cut short by a signal (:func:`unless_stopped`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from hitl_slack.logs import get_logger

__all__ = ["supervised", "unless_stopped", "within"]

log = get_logger(__name__)

#: A worker: runs until the event is set.
Work = Callable[[asyncio.Event], Awaitable[None]]


async def supervised(name: str, work: Work, stop: asyncio.Event) -> None:
    """Run a worker until ``stop``; if it dies of a bug, log it and start it again."""
    while not stop.is_set():
        try:
            await work(stop)
        except Exception:  # a dead worker would silently stop posting or expiring
            log.exception("worker_crashed", worker=name)  # restarted below
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def within(tasks: Sequence[asyncio.Future[None]], timeout: float) -> bool:
    """Wait for ``tasks`` up to ``timeout`` seconds, cancel the rest; True if any was."""
    if not tasks:
        return False
    done, unfinished = await asyncio.wait(tasks, timeout=timeout)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.debug("shutdown_step_failed", exc_info=task.exception())
    return bool(unfinished)


async def unless_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it); True if it finished."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False
