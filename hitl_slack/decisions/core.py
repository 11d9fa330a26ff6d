"""The decision core's acts: :class:`Decisions`, over a store and a directory of groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hitl_slack import authz, errors, quorum
from hitl_slack.decisions.outcomes import (
    AlreadyDecided,
    Decided,
    Directory,
    GroupCache,
    Invalid,
    NeedsReason,
    Permitted,
    Refused,
    Voted,
    Why,
)
from hitl_slack.decisions.screens import (
    cast_vote,
    clean_reason,
    not_of_kind,
    policy_of,
    screen_answer,
    screen_edit,
    screen_rejection,
    standing,
)
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.logs import get_logger
from hitl_slack.models import AuditEvent, RequestState, Status, Vote

__all__ = ["Decisions"]

log = get_logger(__name__)

#: The reasons of refusals recorded in the audit trail (``unauthorized``).
_AUDITED = {
    Why.NOT_APPROVER: "not an approver for this request",
    Why.SELF_APPROVAL: "may not approve a request made on their behalf (self_approval = false)",
}


@dataclass
class Decisions:
    """The entry points of every human act, over a store and a directory of groups.

    Every method raises :class:`~hitl_slack.errors.RequestNotFound` for no such request and
    :class:`~hitl_slack.errors.StoreUnavailable` when Redis fails (a decision being written
    may then stand or not: the next act is told which).
    """

    store: AsyncStore
    directory: Directory
    #: Told of each vote recorded (``"voted"``): the service counts them in its metrics.
    observe: Callable[[str], None] | None = None

    async def read(self, request_id: str) -> RequestState:
        """The request as stored (what a form needs before its ack)."""
        return await self.store.get(request_id)

    async def check(
        self, request_id: str, actor: str, *, approving: bool = False
    ) -> Permitted | Refused | AlreadyDecided:
        """Whether ``actor`` may decide the request now (before opening a form for it).

        Args:
            approving: the form approves (an edit): the person the agent acts for may not.

        A refusal of a non-approver is recorded (``unauthorized`` audit entry), as for an act.
        """
        state = await self.store.get(request_id)
        stop = standing(state)
        if stop is not None:
            return stop
        refused = await self._authorize(state, actor, approving=approving)
        return refused or Permitted(state, policy_of(state))

    async def approve(
        self, request_id: str, actor: str, *, seen: str | None = None
    ) -> Decided | Voted | Refused | AlreadyDecided | Invalid:
        """Approve the arguments as they stand (a vote, when the policy needs several).

        Args:
            seen: the digest of the arguments the approver was shown (the message's), if
                known: a vote is only for those.
        """
        state = await self.store.get(request_id)
        stop = standing(state) or not_of_kind(state, "approval")
        if stop is not None:
            return stop
        if policy_of(state).counts_votes:
            return await self._vote(state, actor, "approve", seen=seen)
        return await self._apply(state, actor, Status.APPROVED)

    async def answer(
        self, request_id: str, actor: str, answer: Any
    ) -> Decided | Refused | AlreadyDecided | Invalid:
        """Answer a question (the text, the option's value, the options' values, or the form),
        or respond to an approval that offers it, in the action's place (text)."""
        state = await self.store.get(request_id)
        stop = screen_answer(state, answer)
        if stop is not None:
            return stop
        return await self._apply(state, actor, Status.ANSWERED, payload={"answer": answer})

    async def reject(
        self, request_id: str, actor: str, reason: str | None
    ) -> Decided | Voted | Refused | AlreadyDecided | NeedsReason:
        """Reject, with a reason (kept as :func:`clean_reason` says) the policy may require;
        without veto, a vote (:mod:`hitl_slack.quorum`)."""
        state = await self.store.get(request_id)
        stop = screen_rejection(state, reason)
        if stop is not None:
            return stop
        reason = clean_reason(reason)
        if not policy_of(state).veto and state.request.kind == "approval":
            # Votes are on an approval's arguments; a question is declined by one person.
            return await self._vote(state, actor, "reject", seen=None, reason=reason)
        return await self._apply(state, actor, Status.REJECTED, reason=reason)

    async def approve_edited(
        self, request_id: str, actor: str, payload: dict[str, Any]
    ) -> Decided | Voted | Refused | AlreadyDecided | Invalid:
        """Approve with the arguments as the person left them (marked edited if they differ);
        when the policy needs several votes, the editor's vote for the edited arguments,
        which become the ones voted on."""
        state = await self.store.get(request_id)
        stop = screen_edit(state, payload)
        if stop is not None:
            return stop
        if policy_of(state).counts_votes:
            edited = payload if payload != state.arguments else None
            return await self._vote(state, actor, "approve", seen=None, payload=edited)
        return await self._apply(state, actor, Status.APPROVED, payload=payload)

    async def may_decide(self, state: RequestState, actor: str, groups: GroupCache) -> bool:
        """Whether a listing shows ``actor`` this request (nothing is recorded).

        Args:
            state: a request as read by the listing.
            actor: the person listing.
            groups: lookups made so far in this listing, filled in as it goes.

        Returns:
            False for a request with no policy yet, or whose approver groups could not be read.
        """
        if state.policy is None:
            return False
        return await self._admits(state.policy.approvers_at(state.level), actor, groups) is True

    async def _apply(
        self,
        state: RequestState,
        actor: str,
        status: Status,
        *,
        reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Decided | Refused | AlreadyDecided:
        refused = await self._authorize(state, actor, approving=status is Status.APPROVED)
        if refused is not None:
            return refused
        request_id = state.request.id
        votes: tuple[Vote, ...] = ()
        if status is Status.REJECTED and state.votes:  # a veto: what it overrode, too
            votes = (*state.counted(), cast_vote(state, actor, "reject", reason=reason))
        try:
            decision = await self.store.decide(
                request_id,
                status,
                decided_by=(actor,),
                reason=reason,
                payload=payload,
                votes=votes,
            )
        except errors.AlreadyDecided as exc:
            return AlreadyDecided(exc.decision)
        log.info(
            "decision_recorded",
            request_id=request_id,
            status=decision.status.value,
            user=actor,
            edited=decision.edited,
        )
        return Decided(decision)

    async def _vote(
        self,
        state: RequestState,
        actor: str,
        what: Literal["approve", "reject"],
        *,
        seen: str | None,
        payload: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Decided | Voted | Refused | AlreadyDecided:
        """Record a vote (:mod:`hitl_slack.lifecycle.voting`); write the decision it makes."""
        refused = await self._authorize(state, actor, approving=what == "approve")
        if refused is not None:
            return refused
        policy = policy_of(state)
        reject_at = await self._reject_at(state) if what == "reject" else 0
        cast = cast_vote(state, actor, what, reason=reason, payload=payload)
        try:
            tally = await self.store.vote(
                state, cast, seen=seen, payload=payload, reject_at=reject_at
            )
        except errors.AlreadyDecided as exc:
            return AlreadyDecided(exc.decision)
        if tally.outcome == "already":
            return Refused(Why.ALREADY_VOTED)
        if tally.outcome == "stale":
            return Refused(Why.STALE_ARGUMENTS)
        log.info("vote_recorded", request_id=state.request.id, user=actor, vote=what)
        if self.observe is not None:
            self.observe("voted")
        settled = await self._settle(state.request.id, actor, reject_at)
        return settled or Voted(what, tally.approvals, tally.rejections, policy.quorum)

    async def _settle(
        self, request_id: str, actor: str, reject_at: int
    ) -> Decided | AlreadyDecided | None:
        """Write the decision the votes make, if they make one (every voter who finds them
        enough tries; the first write wins and all name the same voters)."""
        state = await self.store.get(request_id)
        if state.decision is not None:
            return AlreadyDecided(state.decision)
        settled = quorum.settlement(state, reject_at)
        if settled is None:
            return None
        try:
            decision = await self.store.decide(
                request_id,
                settled.status,
                payload=state.arguments,
                reason=settled.reason,
                decided_by=settled.decided_by,
                votes=settled.votes,
            )
        except errors.AlreadyDecided as exc:
            mine = exc.decision.status is settled.status and actor in exc.decision.decided_by
            return Decided(exc.decision) if mine else AlreadyDecided(exc.decision)
        log.info(
            "decision_recorded",
            request_id=request_id,
            status=decision.status.value,
            users=list(decision.decided_by),
            edited=decision.edited,
        )
        return Decided(decision)

    async def _reject_at(self, state: RequestState) -> int:
        """Counted rejections that reject this request now (:func:`quorum.reject_threshold`)."""
        policy = policy_of(state)
        if state.level < len(policy.escalate):
            return 0
        approvers = policy.approvers_at(state.level)
        found = await quorum.people(self.directory, approvers, retry=False)
        allowed = quorum.who_may_approve(policy, found) if found is not None else None
        return quorum.reject_threshold(policy, state.level, allowed)

    async def _authorize(
        self, state: RequestState, actor: str, *, approving: bool = False
    ) -> Refused | None:
        """None if ``actor`` may decide (approve, with ``approving``); else the refusal, a
        non-approver's and a self-approval's recorded."""
        policy = policy_of(state)
        admitted = await self._admits(policy.approvers_at(state.level), actor, None)
        if admitted is None:
            return Refused(Why.GROUPS_UNAVAILABLE)
        why = None
        if not admitted:
            why = Why.NOT_APPROVER
        elif approving and not policy.may_approve(actor):
            why = Why.SELF_APPROVAL
        if why is None:
            return None
        request_id = state.request.id
        await self.store.audit(
            AuditEvent(
                event="unauthorized",
                request_id=request_id,
                actor=f"slack:{actor}",
                reason=_AUDITED[why],
                args_digest=state.args_digest,
                policy_digest=policy.digest(),
            )
        )
        log.warning("unauthorized_decision_attempt", request_id=request_id, user=actor, why=why)
        return Refused(why)

    async def _admits(
        self, approvers: tuple[str, ...], actor: str, groups: GroupCache | None
    ) -> bool | None:
        """:func:`hitl_slack.authz.may_decide` with the groups it needs read, one at a time.

        Returns:
            True or False; None when not admitted and a group could not be read.
        """
        if authz.may_decide(approvers, actor, {}):
            return True
        if not authz.is_user_id(actor):
            return False  # nothing but a user id is ever looked up in a group
        members: dict[str, frozenset[str]] = {}
        failed = False
        for group in authz.approver_groups(approvers):
            found = await self._members(group, groups)
            if found is None:
                failed = True
                continue
            members[group] = found
            if authz.may_decide(approvers, actor, members):
                return True
        return None if failed else False

    async def _members(self, group: str, groups: GroupCache | None) -> frozenset[str] | None:
        if groups is not None and group in groups:
            return groups[group]
        found: frozenset[str] | None
        try:
            found = await self.directory.group_members(group, retry=False)
        except errors.SlackError as exc:
            log.warning("user_group_lookup_failed", group=group, error=exc.error)
            found = None
        if groups is not None:
            groups[group] = found
        return found
