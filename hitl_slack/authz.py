"""Who may decide a request: one rule, pure (no Slack, no Redis).

Approvers are Slack ids: users (``U…``/``W…``) and user groups (``S…``). A person is compared
with user ids only, and a group id is only ever resolved as a group (its members, read by the
caller from Slack): so a click whose user id happens to equal a listed group id (``S0FIN``)
is not authorized, and a user id listed among the approvers grants nothing to anyone else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

__all__ = ["approver_groups", "is_user_id", "is_usergroup_id", "may_decide"]


def is_user_id(value: str) -> bool:
    """Whether ``value`` looks like a Slack user id (``U…`` or ``W…``)."""
    return re.fullmatch(r"[UW][A-Z0-9]{2,30}", value) is not None


def is_usergroup_id(value: str) -> bool:
    """Whether ``value`` looks like a Slack user group id (``S…``)."""
    return re.fullmatch(r"S[A-Z0-9]{2,30}", value) is not None


def approver_groups(approvers: Iterable[str]) -> tuple[str, ...]:
    """The user group ids among ``approvers``, in order: the only ids to resolve as groups."""
    return tuple(a for a in approvers if is_usergroup_id(a))


def may_decide(
    approvers: Collection[str], user_id: str, members: Mapping[str, Collection[str]]
) -> bool:
    """Whether ``user_id`` may decide a request with these approvers.

    Args:
        approvers: the request's approvers; empty means anyone who sees the message.
        user_id: the person who clicked (from a signed Slack payload).
        members: members of the approver groups the caller could read, by group id; a group
            missing here admits no one.

    Returns:
        True when no approvers are listed, when ``user_id`` is a user id listed among them,
        or when it is a member of a listed group.
    """
    if not approvers:
        return True
    if not is_user_id(user_id):
        return False
    if user_id in approvers:
        return True
    return any(user_id in members.get(group, ()) for group in approver_groups(approvers))
