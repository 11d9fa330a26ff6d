"""Which policy a request is decided by: the routes file applied to one request.

Pure: no Redis, no Slack. The bot calls :func:`resolve` once, when it posts a request, and
stores the :class:`~hitl_slack.policy.Policy` it returns with the request; clicks, timers and
listings read that snapshot, never the routes file again. The file itself (its schema and how
it is read) is :mod:`hitl_slack.routesfile`; its names are re-exported here.

The agent's arguments are untrusted (an agent driven by a language model controls its own), so
the operator who writes the routes file decides what an agent may choose. Precedence, as
:func:`resolve` applies it:

1. The agent's ``route=`` picks that rule only if it is marked ``selectable = true``. An
   unknown or unselectable name is routed by the rules and :attr:`Routed.note` says so: the
   request must still reach a human, and naming a route cannot lower the bar.
2. The first rule whose ``match`` fits: every given key must fit (globs as
   :func:`fnmatch.fnmatchcase`; ``tags`` fits when any tag fits any glob); no keys fit all.
3. The default channel: ``[defaults] channel``, else ``HITL_DEFAULT_CHANNEL`` (the file wins).

The agent's ``channel=`` then moves the message, nothing more, and only where the channel does
not decide who may click: when the route that applies lists approvers (they apply wherever the
message is), or sets ``channel_selectable = true`` (inherited from ``[defaults]``). Otherwise
the message goes to the route's channel and the note says so.

The rest of the policy (quorum, veto, self-approval, reminders, escalation, the deadline's
outcome, notification, confirmation) is the route's keys, each one it leaves unset taken from
``[defaults]`` (:meth:`~hitl_slack.routesfile.Defaults.for_route`). Who the agent acts for
(``requested_by``) is not the file's to say: the bot resolves it when it posts.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitl_slack.authz import is_user_id, is_usergroup_id
from hitl_slack.errors import ConfigError
from hitl_slack.models import RequestBase
from hitl_slack.policy import Policy
from hitl_slack.routepolicy import threshold
from hitl_slack.routesfile import (
    NO_CHANNEL,
    Defaults,
    Route,
    RouteMatch,
    RoutesConfig,
    RuleSettings,
    load_routes,
    parse_duration,
    parse_routes,
)

__all__ = [
    "Defaults",
    "Route",
    "RouteMatch",
    "Routed",
    "RoutesConfig",
    "RuleSettings",
    "is_user_id",
    "is_usergroup_id",
    "load_routes",
    "parse_duration",
    "parse_routes",
    "resolve",
    "selectable_summary",
]


@dataclass(frozen=True, slots=True)
class Routed:
    """A request routed: the policy it is decided by, and what to tell about the routing.

    Attributes:
        policy: the snapshot to store with the request when it is posted.
        note: shown in the message, e.g. that the requested route is unknown.
    """

    policy: Policy
    note: str | None = None


def _chosen_route(config: RoutesConfig, request: RequestBase) -> tuple[Route | None, str | None]:
    """The route an explicit ``route=`` picks, if the operator lets agents pick it, and a note."""
    if request.route is None:
        return None, None
    route = config.route(request.route)
    if route is None:
        return None, f"unknown route {request.route!r}: routed by rules"
    if not route.selectable:
        return None, f"route {request.route!r} cannot be chosen by the agent: routed by rules"
    return route, None


def _channel(
    request: RequestBase, route: Route | None, settings: Defaults, notes: list[str]
) -> str:
    home = settings.channel
    if home is None:  # unreachable: RoutesConfig checks that every request has a channel
        raise ConfigError(NO_CHANNEL)
    wanted = request.channel
    if wanted is None or wanted == home:
        return home
    if (route is not None and route.approvers) or settings.channel_selectable:
        return wanted
    notes.append(
        f"channel {wanted} cannot be chosen for this request (its route names no "
        f"approvers, so the channel decides who may click): posted in {home}"
    )
    return home


def resolve(config: RoutesConfig, request: RequestBase) -> Routed:
    """Route ``request``: a selectable ``route=``, the first matching rule, the defaults.

    Args:
        config: the routes configuration.
        request: the request to route; its ``route=`` and ``channel=`` are honoured only as far
            as the routes file allows (see the module docstring).

    Returns:
        The policy, each key the route's else the defaults', and a note. A ``route=`` or
        ``channel=`` that is not honoured is not an error: the request is routed by the rules
        and the note says so. The policy's ``requested_by`` is left ``None``: the bot fills it
        in when it posts.
    """
    route, note = _chosen_route(config, request)
    notes = [note] if note else []
    if route is None:
        route = next((r for r in config.routes if r.match.matches(request)), None)
    settings = config.defaults.for_route(route)
    policy = Policy(
        route=route.name if route is not None else None,
        channel=_channel(request, route, settings, notes),
        approvers=route.approvers if route is not None else (),
        reject_reason_required=settings.reject_reason == "required",
        timeout_cap=settings.timeout,
        quorum=settings.quorum,
        veto=settings.veto,
        self_approval=settings.self_approval,
        reminders=settings.reminders,
        escalate=tuple(level.to_policy() for level in settings.escalate),
        on_timeout=settings.on_timeout,
        notify=settings.notify,
        confirm=threshold(settings.confirm),
        typed_confirm=threshold(settings.typed_confirm),
    )
    return Routed(policy, "; ".join(notes) or None)


def selectable_summary(config: RoutesConfig) -> dict[str, list[str]]:
    """What agents may choose, for the start-up log line.

    Returns:
        ``{"route": names an agent may pick with route=, "channel": names of routes whose
        message an agent may move with channel=}``; ``"(defaults)"`` stands for requests that
        match no rule.
    """
    defaults = config.defaults
    movable = [
        r.name for r in config.routes if r.approvers or defaults.for_route(r).channel_selectable
    ]
    if defaults.channel_selectable:
        movable.append("(defaults)")
    return {"route": [r.name for r in config.routes if r.selectable], "channel": movable}
