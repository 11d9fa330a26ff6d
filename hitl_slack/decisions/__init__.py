"""The decision core: what each human act means, whichever front it came through.

No Bolt, no Slack client: I/O only through the :class:`~hitl_slack.lifecycle.store.AsyncStore`
(its atomic steps) and a :class:`Directory` of user-group members (the Slack gateway is one).
One entry point per act (:meth:`Decisions.approve`, :meth:`~Decisions.reject`,
:meth:`~Decisions.approve_edited`, :meth:`~Decisions.answer`): it reads the request,
authorizes the actor against the request's STORED policy (:attr:`RequestState.policy`, never
the live routes file), applies the decision through the store's atomic step, and returns what
to tell the person::

    Decided(decision)         the act was recorded
    Voted(tally)              a vote was recorded; more are needed (a quorum, no veto)
    Refused(why)              nothing was recorded: not an approver, the person the agent acts
                              for approving, already voted on these arguments, the arguments
                              changed since the voter saw them, the approver groups could not
                              be read, or the request is not posted (has no policy) yet
    AlreadyDecided(decision)  another decision stands (the first one wins)
    NeedsReason()             a rejection without the reason its policy requires
    Invalid(errors)           edited arguments that cannot be stored

Outcomes are values; failures stay exceptions (:class:`~hitl_slack.errors.StoreUnavailable`,
:class:`~hitl_slack.errors.RequestNotFound`). Who may decide is the one rule
:func:`hitl_slack.authz.may_decide`; this module only reads the groups it needs.
"""

from __future__ import annotations

from hitl_slack.decisions.core import Decisions
from hitl_slack.decisions.outcomes import (
    AlreadyDecided,
    Answer,
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
    MAX_REASON_CHARS,
    clean_reason,
    payload_problem,
    screen_answer,
    screen_edit,
    screen_rejection,
    standing,
)

__all__ = [
    "MAX_REASON_CHARS",
    "AlreadyDecided",
    "Answer",
    "Decided",
    "Decisions",
    "Directory",
    "GroupCache",
    "Invalid",
    "NeedsReason",
    "Permitted",
    "Refused",
    "Voted",
    "Why",
    "clean_reason",
    "payload_problem",
    "screen_answer",
    "screen_edit",
    "screen_rejection",
    "standing",
]
