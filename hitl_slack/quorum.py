"""Several people deciding one request: who counts, and when their votes decide.

Pure, except :func:`people`, which reads user groups through a
:class:`~hitl_slack.decisions.Directory`. The votes themselves are recorded by
:mod:`hitl_slack.lifecycle.voting`; the decision they make is written by the one step every
decision goes through. Rules, for a policy with ``quorum = M``:

* **Approval**: the first M distinct approvers whose approval is for the current arguments
  (an edit makes the edited ones current) approve; :attr:`Decision.decided_by` names them in
  the order they voted.
* **Rejection with veto** (the default): one approver's rejection rejects at once.
* **Rejection without veto**: rejections reject once M approvals can no longer be reached:
  ``N - M + 1`` rejections of the N people who may approve now (user groups expanded, the
  person the agent acts for left out when ``self_approval = false``), and only after the last
  escalation level (a level may add approvers). With no approvers listed (anyone in the
  channel may decide) N is unknown: M rejections reject.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitl_slack import authz, errors
from hitl_slack.logs import get_logger
from hitl_slack.models import RequestState, Status, Vote
from hitl_slack.policy import Policy

if TYPE_CHECKING:
    from hitl_slack.decisions import Directory

__all__ = ["Settlement", "people", "reject_threshold", "settlement", "who_may_approve"]

log = get_logger(__name__)

#: Most people a request's approvers are expanded to (DMs, reminders, the rejection count).
MAX_PEOPLE = 25


@dataclass(frozen=True, slots=True)
class Settlement:
    """The decision votes make: its status, who made it, their votes and the reason."""

    status: Status
    decided_by: tuple[str, ...]
    votes: tuple[Vote, ...]
    reason: str | None = None


def settlement(state: RequestState, reject_at: int) -> Settlement | None:
    """The decision the votes standing make, if they make one.

    Args:
        state: the request with its votes.
        reject_at: counted rejections that reject (0: rejections never decide).
    """
    policy = state.policy
    if policy is None:
        return None
    approvals = state.approvals()
    if len(approvals) >= policy.quorum:
        counted = approvals[: policy.quorum]
        return Settlement(Status.APPROVED, tuple(v.who for v in counted), counted)
    rejections = state.rejections()
    if reject_at and len(rejections) >= reject_at:
        counted = rejections[:reject_at]
        reasons = "; ".join(v.reason for v in counted if v.reason)
        return Settlement(
            Status.REJECTED, tuple(v.who for v in counted), counted, reasons[:3000] or None
        )
    return None


def reject_threshold(policy: Policy, level: int, allowed: frozenset[str] | None) -> int:
    """How many counted rejections reject a request without veto (0: none can yet).

    Args:
        level: the escalation levels reached.
        allowed: the people who may approve now (:func:`who_may_approve`); None when not known
            (anyone may decide, or a group could not be read).
    """
    if level < len(policy.escalate):
        return 0  # a later level may add approvers: a rejection is final only after the last
    if allowed is None:
        return policy.quorum
    return max(1, len(allowed) - policy.quorum + 1)


def who_may_approve(policy: Policy, members: frozenset[str]) -> frozenset[str]:
    """``members`` without the person the agent acts for, unless they may approve."""
    if policy.self_approval or policy.requested_by is None:
        return members
    return members - {policy.requested_by}


async def people(
    directory: Directory, approvers: Iterable[str], *, retry: bool
) -> frozenset[str] | None:
    """The user ids among ``approvers`` and in their user groups, at most :data:`MAX_PEOPLE`.

    Returns:
        None when there are no approvers (anyone may decide) or a group could not be read.
    """
    listed = tuple(approvers)
    if not listed:
        return None
    found = [a for a in listed if authz.is_user_id(a)]
    for group in authz.approver_groups(listed):
        try:
            found += sorted(await directory.group_members(group, retry=retry))
        except errors.SlackError as exc:
            log.warning("user_group_lookup_failed", group=group, error=exc.error)
            return None
    return frozenset(list(dict.fromkeys(found))[:MAX_PEOPLE])
