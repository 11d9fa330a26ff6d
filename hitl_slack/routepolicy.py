"""The routes file's policy keys: quorum, reminders, escalation, the deadline's outcome,
notification and confirmation; their values, and the checks across them at start.

Pure: no Redis, no Slack. The keys live on :class:`hitl_slack.routesfile.RuleSettings` (a route
inherits each one it leaves unset from ``[defaults]``); :func:`hitl_slack.routing.resolve`
copies them into the :class:`~hitl_slack.policy.Policy` snapshot. What one key can refuse by
itself its type refuses (``reminders = ["120%"]``); :func:`policy_problems` refuses what only
shows across keys, such as a reminder after the route's timeout, a quorum larger than the
people who may approve, or ``on_timeout = "approve"`` where a critical request can arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from hitl_slack.authz import is_user_id
from hitl_slack.models import Risk
from hitl_slack.policy import OFF, Level, Notify, Offset
from hitl_slack.routevalues import (
    ApproverId,
    ChannelId,
    Duration,
    TableModel,
    format_duration,
    listed,
    parse_duration,
)

if TYPE_CHECKING:
    from hitl_slack.routesfile import Defaults, Route

__all__ = [
    "EscalationLevel",
    "NotifyTo",
    "Quorum",
    "Reminder",
    "Threshold",
    "parse_offset",
    "policy_problems",
    "threshold",
]

#: A risk threshold as the routes file writes it; ``"off"`` switches it off.
Threshold = Literal["low", "medium", "high", "critical", "off"]
Quorum = Annotated[int, Field(ge=1, strict=True)]
_OFFSET_HINT = (
    "a duration after posting, e.g. 10m, or a share of the time to the deadline, e.g. 80%"
)


def parse_offset(value: object) -> Offset:
    """Read a reminder: a duration after posting (``"10m"``, ``600``), or ``"80%"``.

    Raises:
        ValueError: neither, or a percentage not strictly between 0 and 100.
    """
    if isinstance(value, Offset):
        return value
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            share = 0.0
        if not 0 < share < 1:
            raise ValueError(
                f"invalid share {value!r} (a percentage of the time to the deadline, "
                "more than 0% and less than 100%, e.g. 80%)"
            )
        return Offset(share=share)
    after = None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        with suppress(ValueError):
            after = parse_duration(value)
    if after is None:
        raise ValueError(f"invalid reminder {value!r} ({_OFFSET_HINT})")
    return Offset(after=after)


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{', '.join(map(repr, repeated))} given more than once")
    return values


Reminder = Annotated[Offset, BeforeValidator(parse_offset)]
NotifyTo = Annotated[tuple[Notify, ...], BeforeValidator(listed), AfterValidator(_distinct)]


def threshold(value: Threshold) -> Risk | None:
    """The risk a threshold key names, or None for ``"off"``."""
    return None if value == OFF else Risk(value)


class EscalationLevel(TableModel):
    """One ``escalate`` level: ``after`` posting with no decision, ``approvers`` join the ones
    who may decide and the request is also posted in ``channel``; it gives one or both."""

    after: Duration
    channel: ChannelId | None = None
    approvers: tuple[ApproverId, ...] = ()

    @model_validator(mode="after")
    def _gives_someone(self) -> EscalationLevel:
        if self.channel is None and not self.approvers:
            raise ValueError("gives neither channel nor approvers (a level needs one or both)")
        return self

    def to_policy(self) -> Level:
        """The level as the policy snapshot keeps it."""
        return Level(after=self.after, channel=self.channel, approvers=self.approvers)


def policy_problems(defaults: Defaults, routes: Iterable[tuple[str, Route]]) -> list[str]:
    """What the policy keys get wrong together, one line each, naming the place and the key.

    Args:
        defaults: the ``[defaults]`` table.
        routes: each route with its label in messages (``routes[0] "payments"``).

    Returns:
        The problems, ``[defaults]``' first; empty when there are none.
    """
    places: list[tuple[str, Route | None]] = [("defaults", None), *routes]
    return [
        f"{label}: {problem}"
        for label, route in places
        for problem in _problems(route, defaults, defaults.for_route(route))
    ]


def _problems(route: Route | None, defaults: Defaults, settings: Defaults) -> list[str]:
    own = route if route is not None else defaults
    return [
        *_quorum(route, settings),
        *_auto_approve(route, settings),
        *_before_timeout(route, settings),
        *_in_order(own.escalate or ()),
        *_dm(route, settings),
    ]


def _inherited(route: Route | None, key: str) -> str:
    return " (from [defaults])" if route is not None and getattr(route, key) is None else ""


def _quorum(route: Route | None, settings: Defaults) -> list[str]:
    # Groups' members are known only to Slack, so the bot checks those at post time.
    if route is None or not route.approvers:
        return []
    people = (*route.approvers, *(a for level in settings.escalate for a in level.approvers))
    if not all(is_user_id(p) for p in people):
        return []
    distinct = tuple(dict.fromkeys(people))
    if settings.quorum <= len(distinct):
        return []
    count = "1 person" if len(distinct) == 1 else f"{len(distinct)} people"
    return [
        f"quorum: {settings.quorum}{_inherited(route, 'quorum')} is more than the {count} "
        f"who can approve ({', '.join(distinct)})"
    ]


def _critical_reach(route: Route) -> str | None:
    if route.selectable:
        return "is selectable (an agent may pick it with route= for a request of any risk)"
    if route.match.risk is None:
        return 'matches any risk (give it match risk without "critical")'
    if Risk.CRITICAL in route.match.risk:
        return "matches critical requests"
    return None


def _auto_approve(route: Route | None, settings: Defaults) -> list[str]:
    if settings.on_timeout != "approve":
        return []
    if route is None:
        return [
            'on_timeout: "approve" is refused in [defaults]: requests that match no rule can '
            "be critical (set it on routes whose match risk leaves critical out)"
        ]
    reach = _critical_reach(route)
    if reach is None:
        return []
    return [
        f'on_timeout: "approve"{_inherited(route, "on_timeout")} would approve critical '
        f"requests at the deadline: the route {reach}"
    ]


def _before_timeout(route: Route | None, settings: Defaults) -> list[str]:
    timeout = settings.timeout
    if timeout is None:
        return []
    offsets = [(f"reminders[{i}]", "reminders", r.after) for i, r in enumerate(settings.reminders)]
    offsets += [
        (f"escalate[{i}].after", "escalate", e.after) for i, e in enumerate(settings.escalate)
    ]
    whose = "the route's timeout" if route is not None else "the timeout"
    return [
        f"{path}: {format_duration(after)}{_inherited(route, key)} is not before {whose} of "
        f"{format_duration(timeout)}{_inherited(route, 'timeout')}"
        for path, key, after in offsets
        if after is not None
        and after >= timeout
        # Both from [defaults]: the same problem, told once there.
        and not (_inherited(route, key) and _inherited(route, "timeout"))
    ]


def _in_order(levels: tuple[EscalationLevel, ...]) -> list[str]:
    return [
        f"escalate[{i}].after: {format_duration(later.after)} is not after the level before "
        f"it ({format_duration(earlier.after)}): levels go in order, each later than the last"
        for i, (earlier, later) in enumerate(pairwise(levels), start=1)
        if later.after <= earlier.after
    ]


def _dm(route: Route | None, settings: Defaults) -> list[str]:
    if "dm" not in settings.notify or (route is not None and route.approvers):
        return []
    if route is None:
        if "channel" in settings.notify:
            return []  # a DM copy for the routes that inherit it and name approvers
        return [
            'notify: "dm" alone leaves requests that match no rule unseen: they have no '
            'approvers to send it to (add "channel")'
        ]
    if route.notify is None and "channel" in settings.notify:
        return []
    return [f'notify: "dm"{_inherited(route, "notify")} needs approvers: the route names none']
