"""Dead letters: what could not be handled, kept with why, in ``{p}:dead``.

The one writer of dead letters, for every source: queue and outcome entries the consumer gave
up on, timers the scheduler set aside, malformed Slack bodies. Each record has the fields
``stream`` (where it came from), ``entry_id`` (its id there), ``error`` and ``fields`` (what
it carried, as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hitl_slack.lifecycle.commands import Command, Gen
from hitl_slack.lifecycle.config import DEFAULT_DEAD_MAXLEN, StoreConfig

__all__ = ["MAX_ERROR", "DeadLetter", "dead_letter", "write"]

#: Characters of an error kept.
MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something that could not be handled.

    Attributes:
        source: where it came from (a stream key, ``/slack/events``, ``socket_mode``).
        entry_id: its id there (``-`` if none).
        error: what is wrong with it (cut to :data:`MAX_ERROR` characters).
        fields: what it carried.
    """

    source: str
    entry_id: str
    error: str
    fields: Mapping[str, Any]

    def command(self, stream: str, maxlen: int = DEFAULT_DEAD_MAXLEN) -> Command:
        """The ``XADD`` that keeps it in ``stream`` (capped at about ``maxlen``)."""
        return Command(
            (
                "XADD",
                stream,
                "MAXLEN",
                "~",
                maxlen,
                "*",
                "stream",
                self.source,
                "entry_id",
                self.entry_id,
                "error",
                self.error[:MAX_ERROR],
                "fields",
                json.dumps(dict(self.fields), ensure_ascii=False),
            )
        )


def write(stream: str, letter: DeadLetter, maxlen: int = DEFAULT_DEAD_MAXLEN) -> Gen[None]:
    """Keep ``letter`` in the dead-letter stream ``stream``."""
    yield letter.command(stream, maxlen)


def dead_letter(cfg: StoreConfig, letter: DeadLetter) -> Gen[None]:
    """Keep ``letter`` in the deployment's dead-letter stream."""
    yield from write(cfg.keys.dead_letters, letter, cfg.dead_maxlen)
