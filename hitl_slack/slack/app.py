"""The Bolt app: what the listeners need (:class:`Bot`) and :func:`build_app`.

The listeners themselves are in :mod:`hitl_slack.slack.listeners`; who may decide is the one rule of
:mod:`hitl_slack.authz`, fed here with user-group members read from Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.authz import approver_groups, is_user_id, may_decide
from hitl_slack.errors import SlackError
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.models import RequestState
from hitl_slack.routing import RoutesConfig, resolve, selectable_summary
from hitl_slack.slack.gateway import SlackGateway
from hitl_slack.slack.listeners import register

__all__ = ["Bot", "GroupCache", "build_app"]

log = logging.getLogger(__name__)

#: User-group lookups made so far in one listing: each group is asked about once.
GroupCache = dict[str, frozenset[str] | SlackError]


@dataclass
class Bot:
    """What the listeners need."""

    store: AsyncStore
    slack: SlackGateway
    routes: RoutesConfig

    def approvers(self, state: RequestState) -> tuple[str, ...]:
        """Approvers in force: those recorded when posted, else the current routes'."""
        if state.policy is not None:
            return state.policy.approvers
        return resolve(self.routes, state.request).policy.approvers

    def reason_required(self, state: RequestState) -> bool:
        """Whether rejecting needs a reason: the policy posted with it, else the routes'."""
        if state.policy is not None:
            return state.policy.reject_reason_required
        return resolve(self.routes, state.request).policy.reject_reason_required

    async def allowed(
        self, state: RequestState, user_id: str, groups: GroupCache | None = None
    ) -> bool:
        """Whether the user may decide (see :func:`hitl_slack.authz.may_decide`).

        Args:
            groups: lookups already made (filled in as it goes): one listing of many requests
                asks Slack about each group once.

        Raises:
            SlackError: a user group could not be read, and no other listing admits the user.
        """
        approvers = self.approvers(state)
        if may_decide(approvers, user_id, {}):
            return True
        if not is_user_id(user_id):
            return False  # nothing but a user id is ever looked up in a group
        members: dict[str, frozenset[str]] = {}
        failure: SlackError | None = None
        for group in approver_groups(approvers):
            found = await self._members(group, groups)
            if isinstance(found, SlackError):
                failure = found
                continue
            members[group] = found
            if may_decide(approvers, user_id, members):
                return True
        if failure is not None:
            raise failure
        return False

    async def _members(self, group: str, groups: GroupCache | None) -> frozenset[str] | SlackError:
        cached = groups.get(group) if groups is not None else None
        if cached is not None:
            return cached
        try:
            found: frozenset[str] | SlackError = await self.slack.group_members(group, retry=False)
        except SlackError as exc:
            log.warning("user_group_lookup_failed", extra={"group": group, "error": exc.error})
            found = exc
        if groups is not None:
            groups[group] = found
        return found


def build_app(bot: Bot, client: AsyncWebClient, signing_secret: str | None) -> AsyncApp:
    """A fresh Bolt app with every listener registered; logs what agents may choose."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "socket-mode",
        request_verification_enabled=signing_secret is not None,
        raise_error_for_unhandled_request=False,
    )
    register(app, bot)
    chosen = selectable_summary(bot.routes)
    log.info(
        "routes_selectable",
        extra={"route_selectable": chosen["route"], "channel_selectable": chosen["channel"]},
    )
    return app
