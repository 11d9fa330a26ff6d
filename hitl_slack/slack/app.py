"""The Bolt app: what its listeners need (:class:`Deps`) and :func:`build_app`.

The listeners are top-level functions in :mod:`hitl_slack.slack.listeners` and
:mod:`hitl_slack.slack.listings`, registered by :func:`hitl_slack.slack.listeners.register`;
what a click means is :mod:`hitl_slack.decisions`. Each listener receives the :class:`Deps`
as its ``hitl`` argument: a middleware puts them in Bolt's ``context["hitl"]``, and Bolt
injects context entries into listeners by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from hitl_slack.decisions import Decisions
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.logs import get_logger
from hitl_slack.routesfile import RoutesConfig
from hitl_slack.routing import selectable_summary
from hitl_slack.slack.gateway import SlackGateway
from hitl_slack.slack.listeners import register

__all__ = ["Deps", "build_app"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Deps:
    """What the listeners need.

    Attributes:
        store: the requests (listings read and cache through it).
        decisions: the decision core every click and form goes through.
        slack: the Web API gateway (modals, ephemerals, the App Home, permalinks).
    """

    store: AsyncStore
    decisions: Decisions
    slack: SlackGateway

    @classmethod
    def over(
        cls,
        store: AsyncStore,
        slack: SlackGateway,
        *,
        observe: Callable[[str], None] | None = None,
    ) -> Deps:
        """The listeners' needs over one store and gateway (the gateway reads user groups);
        ``observe`` is told of each vote recorded (the service's metrics)."""
        return cls(store, Decisions(store, slack, observe), slack)


def build_app(
    deps: Deps, client: AsyncWebClient, signing_secret: str | None, *, routes: RoutesConfig
) -> AsyncApp:
    """A fresh Bolt app with every listener registered; logs what agents may choose.

    Args:
        deps: what the listeners need.
        client: the Web API client Bolt answers through.
        signing_secret: HTTP mode's secret; ``None`` in Socket Mode (nothing to verify).
        routes: the routes file, only for the start-up line naming what agents may choose.
    """
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "socket-mode",
        request_verification_enabled=signing_secret is not None,
        raise_error_for_unhandled_request=False,
    )
    register(app, deps)
    chosen = selectable_summary(routes)
    log.info(
        "routes_selectable",
        route_selectable=chosen["route"],
        channel_selectable=chosen["channel"],
    )
    return app
