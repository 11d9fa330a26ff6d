"""What an act of the decision core answers, and the directory of user groups it reads.

Pure values: each outcome says what happened, for the front to tell the person (see
:mod:`hitl_slack.decisions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hitl_slack.models import Decision, RequestState
from hitl_slack.policy import Policy

__all__ = [
    "AlreadyDecided",
    "Answer",
    "Decided",
    "Directory",
    "GroupCache",
    "Invalid",
    "NeedsReason",
    "Permitted",
    "Refused",
    "Voted",
    "Why",
]


class Why(StrEnum):
    """Why an act was refused."""

    NOT_APPROVER = "not_approver"
    SELF_APPROVAL = "self_approval"
    ALREADY_VOTED = "already_voted"
    STALE_ARGUMENTS = "stale_arguments"
    GROUPS_UNAVAILABLE = "groups_unavailable"
    NOT_POSTED = "not_posted"


@dataclass(frozen=True, slots=True)
class Decided:
    """The act was recorded: this is the decision."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class Voted:
    """A vote was recorded and more are needed: the counts after it."""

    what: str
    approvals: int
    rejections: int
    quorum: int


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing was recorded, for this reason."""

    why: Why


@dataclass(frozen=True, slots=True)
class AlreadyDecided:
    """Another decision stands (not :class:`hitl_slack.errors.AlreadyDecided`: an outcome)."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class NeedsReason:
    """A rejection without the reason its policy requires."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """Edited arguments that cannot be stored: ``(location, message)`` pairs."""

    errors: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Permitted:
    """:meth:`Decisions.check`: the actor may decide this pending, posted request."""

    state: RequestState
    policy: Policy


#: What an act answers.
Answer = Decided | Voted | Refused | AlreadyDecided | NeedsReason | Invalid

#: User groups read so far in one listing, by id (``None``: the lookup failed): each is read
#: once, however many requests name it.
GroupCache = dict[str, frozenset[str] | None]


class Directory(Protocol):
    """Who is in a user group (the Slack gateway reads ``usergroups.users.list``)."""

    async def group_members(self, group_id: str, *, retry: bool) -> frozenset[str]:
        """The group's member user ids.

        Raises:
            SlackError: the group could not be read.
        """
        ...
