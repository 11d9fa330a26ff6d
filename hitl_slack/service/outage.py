"""Quiet outages: one warning when a dependency is lost, one info line when it is back.

A worker that loses Redis retries every few seconds; logging each failure (with a traceback)
buries the one fact an operator needs. :class:`Outage` remembers whether its component is
down: the first failure is a warning naming the error, repeats go to DEBUG (with the
traceback, for whoever turns DEBUG on), and the first success after that is one info line
saying how long it lasted.
"""

from __future__ import annotations

import logging
import time

import structlog

__all__ = ["Outage"]


class Outage:
    """The up/down state of one dependency as seen by one component.

    Args:
        log: the component's structlog logger.
        component: what lost it (``consumer:hitl:queue``, ``scheduler``...).
        dependency: what was lost (``redis``, ``slack``).
    """

    def __init__(
        self,
        log: structlog.stdlib.BoundLogger,
        component: str,
        dependency: str = "redis",
    ) -> None:
        self.log = log
        self.component = component
        self.dependency = dependency
        self.since: float | None = None

    @property
    def down(self) -> bool:
        """Whether the dependency is currently lost."""
        return self.since is not None

    def lost(self, exc: BaseException) -> None:
        """Record a failure: a warning the first time, DEBUG after that."""
        fields = {
            "component": self.component,
            "dependency": self.dependency,
            "error": f"{type(exc).__name__}: {exc}",
        }
        debug = self.log.isEnabledFor(logging.DEBUG)
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning(f"{self.dependency}_lost", exc_info=exc if debug else None, **fields)
        elif debug:
            self.log.debug(f"{self.dependency}_still_lost", exc_info=exc, **fields)

    def restored(self) -> None:
        """Record a success: one info line if it was lost."""
        if self.since is None:
            return
        down_for = round(time.monotonic() - self.since, 1)
        self.since = None
        self.log.info(
            f"{self.dependency}_restored",
            component=self.component,
            dependency=self.dependency,
            down_for=down_for,
        )
