"""Timers: what the scheduler does when, named as members of the one timer set.

Pure: no Redis. The timer set ``{p}:timers`` is a sorted set of members scored by the moment
they are due (epoch ms, Redis' clock). A member names what to do and to which request:

=========================== =================================================================
member                      meaning
=========================== =================================================================
``expire:{id}``             apply the request's deadline (written by the create step)
``remind:{id}:{n}``         the n-th reminder of the request's policy (written when it is
                            posted, if due before the deadline)
``escalate:{id}:{level}``   escalation to the given level (written when it is posted)
=========================== =================================================================

Request ids may hold ``:`` (their pattern allows it): the id is everything between the kind
and, for numbered kinds, the last ``:``. A member of a kind this version does not know still
parses (its kind is what precedes the first ``:``), so the scheduler can set it aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["ESCALATE", "EXPIRE", "NUMBERED", "REMIND", "Timer", "kind_prefix"]

EXPIRE: Final = "expire"
REMIND: Final = "remind"
ESCALATE: Final = "escalate"
#: Kinds whose member ends with a number (the reminder's rank, the escalation's level).
NUMBERED: Final = frozenset({REMIND, ESCALATE})


def kind_prefix(kind: str) -> str:
    """What every member of ``kind`` starts with (a script building members gets this)."""
    return f"{kind}:"


@dataclass(frozen=True, slots=True)
class Timer:
    """One timer: a kind, the request it acts on and, for numbered kinds, its number.

    Attributes:
        kind: what to do (:data:`EXPIRE`, :data:`REMIND`, :data:`ESCALATE`, or a kind this
            version does not know); for a member that does not parse, the whole member.
        request_id: the request it acts on ("" when the member names none).
        n: the reminder's rank or the escalation's level; None for other kinds.
    """

    kind: str
    request_id: str
    n: int | None = None

    @classmethod
    def expire(cls, request_id: str) -> Timer:
        """The timer that applies a request's deadline."""
        return cls(EXPIRE, request_id)

    @property
    def member(self) -> str:
        """Its name in the timer set."""
        if not self.request_id:
            return self.kind  # a member that did not parse, as it was
        if self.n is None:
            return f"{self.kind}:{self.request_id}"
        return f"{self.kind}:{self.request_id}:{self.n}"

    @classmethod
    def parse(cls, member: str) -> Timer:
        """The timer a member names; one that does not parse keeps its text as the kind."""
        kind, _, rest = member.partition(":")
        if not rest:
            return cls(member, "")
        if kind in NUMBERED:
            request_id, _, number = rest.rpartition(":")
            if request_id and number.isdigit():
                return cls(kind, request_id, int(number))
            return cls(member, "")  # a numbered kind without its number: not one we can act on
        return cls(kind, rest)
