"""Who a request's approvers are as people: the user ids to DM, mention, and count.

The approvers of a route are user ids and user group ids; :func:`audience` expands the groups
(``usergroups.users.list``, through :func:`hitl_slack.quorum.people`) one by one, so a group
that cannot be read (no ``usergroups:read``, a free plan) is kept aside as a group, to be
mentioned as such, instead of hiding everyone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hitl_slack import quorum
from hitl_slack.decisions import Directory
from hitl_slack.policy import Policy

__all__ = ["Audience", "audience"]


@dataclass(frozen=True, slots=True)
class Audience:
    """Approvers as people.

    Attributes:
        users: the user ids, in the order listed (a group's members sorted), each once, at
            most :data:`hitl_slack.quorum.MAX_PEOPLE`.
        unread: the user groups that could not be read.
    """

    users: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every group was read (``users`` is everyone)."""
        return not self.unread

    def without(self, *people: Iterable[str]) -> Audience:
        """The same audience without ``people``."""
        gone = {p for group in people for p in group}
        return Audience(tuple(u for u in self.users if u not in gone), self.unread)

    def who_may_approve(self, policy: Policy) -> Audience:
        """Without the person the agent acts for, unless the policy lets them approve."""
        kept = quorum.who_may_approve(policy, frozenset(self.users))
        return Audience(tuple(u for u in self.users if u in kept), self.unread)


async def audience(directory: Directory, approvers: Iterable[str], *, retry: bool) -> Audience:
    """The people among ``approvers`` and in their user groups (see :class:`Audience`)."""
    users: list[str] = []
    unread: list[str] = []
    for approver in dict.fromkeys(approvers):
        found = await quorum.people(directory, (approver,), retry=retry)
        if found is None:
            unread.append(approver)
        else:
            users += sorted(found)
    return Audience(tuple(dict.fromkeys(users))[: quorum.MAX_PEOPLE], tuple(unread))
