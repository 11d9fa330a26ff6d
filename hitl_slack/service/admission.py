"""Before a request is posted: whom it is for, and whether its approvers can reach its quorum.

The relay runs :func:`admit` once per post, after routing:

* ``requested_by`` given as an email is looked up (``users.lookupByEmail``, scope
  ``users:read.email``); a user id is kept as is. The id goes into the policy snapshot
  (:attr:`~hitl_slack.policy.Policy.requested_by`), which separation of duties reads from then
  on. An email Slack does not know cancels the request when the route forbids self-approval:
  the bot could not tell who may not approve. With self-approval allowed it is posted anyway.
* A quorum the route's approvers cannot reach (user groups expanded, the person the agent acts
  for left out when self-approval is off) escalates at once when the route has an escalation
  level, and otherwise cancels the request: nobody could ever approve it. A user group that
  cannot be read does not stop the post (it is logged).

The approvers it expanded are kept (:attr:`Admitted.people`): they are whom the request is
sent to by DM under ``notify = ["dm"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hitl_slack import authz
from hitl_slack.errors import SlackError
from hitl_slack.logs import get_logger
from hitl_slack.policy import Policy
from hitl_slack.requests import RequestBase
from hitl_slack.service.audience import Audience, audience
from hitl_slack.service.consumer import Retry
from hitl_slack.slack.gateway import SlackGateway

__all__ = ["Admitted", "NotAdmitted", "admit", "unreachable_reason"]

log = get_logger(__name__)

#: Slack's answers that a later try may not get (anything else it answers is final).
_TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})
_SLACK_CODE = re.compile(r"[a-z_.]+")


@dataclass(frozen=True, slots=True)
class Admitted:
    """The request may be posted.

    Attributes:
        policy: the policy to snapshot, ``requested_by`` resolved to a user id (or None).
        people: who may approve at first, as people; read only when needed (a quorum, DMs),
            else empty, as when the route lists no approvers.
        escalate_now: the first escalation level is due at once (the quorum is out of reach
            of the route's own approvers).
    """

    policy: Policy
    people: Audience
    escalate_now: bool = False


@dataclass(frozen=True, slots=True)
class NotAdmitted:
    """The request cannot be decided as routed: it is cancelled with ``reason``."""

    reason: str


async def admit(
    slack: SlackGateway, request: RequestBase, policy: Policy
) -> Admitted | NotAdmitted:
    """Resolve whom the request is for and check its quorum (see the module docstring).

    Raises:
        Retry: Slack could not be asked for now (the queue entry is tried again later).
    """
    requester = await _requester(slack, request.requested_by)
    if isinstance(requester, NotAdmitted):
        if not policy.self_approval:
            return requester
        log.warning("requested_by_unresolved", request_id=request.id, reason=requester.reason)
        requester = None
    policy = policy.model_copy(update={"requested_by": requester})
    listed = Audience()
    if policy.approvers and (policy.quorum > 1 or "dm" in policy.notify):
        listed = await audience(slack, policy.approvers, retry=True)
    people = listed.who_may_approve(policy)
    if policy.quorum > 1 and policy.approvers:
        if not people.complete:
            log.warning("quorum_reach_unknown", request_id=request.id, groups=people.unread)
        elif len(people.users) < policy.quorum:
            if not policy.escalate:
                left_out = next((u for u in listed.users if u not in people.users), None)
                return NotAdmitted(unreachable_reason(policy, people, left_out))
            log.info("quorum_escalated_at_once", request_id=request.id, people=len(people.users))
            return Admitted(policy, people, escalate_now=True)
    return Admitted(policy, people)


async def _requester(slack: SlackGateway, given: str | None) -> str | NotAdmitted | None:
    """The user id ``requested_by`` names (None: not given), or why it names nobody."""
    if given is None or authz.is_user_id(given):
        return given
    try:
        return await slack.lookup_email(given)
    except SlackError as exc:
        if exc.error in _TRANSIENT or not _SLACK_CODE.fullmatch(exc.error):
            raise Retry(f"users.lookupByEmail: {exc.error}") from None
        return NotAdmitted(
            f"requested_by {given} is not a Slack user the bot can find ({exc.error}), and "
            "this route does not allow self-approval: the bot cannot tell who may not approve"
        )


def unreachable_reason(policy: Policy, people: Audience, left_out: str | None = None) -> str:
    """Why a quorum cannot be reached: ``"quorum of 2 cannot be reached: only 1 person may
    approve (U0ALICE; U0BOB requested it)"``.

    Args:
        people: who may approve.
        left_out: an approver left out as the person the agent acts for.
    """
    count = len(people.users)
    who = "person" if count == 1 else "people"
    named = ", ".join(people.users[:10]) or "nobody"
    if left_out:
        named += f"; {left_out} requested it"
    return f"quorum of {policy.quorum} cannot be reached: only {count} {who} may approve ({named})"
