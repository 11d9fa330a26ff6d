"""The routes file: its schema, and reading it.

Pure: no Redis, no Slack. The routes file (TOML, at ``HITL_ROUTES_FILE``)::

    [defaults]
    channel = "C0APPROVALS"               # where requests that match no rule go
    timeout = "1h"                        # cap on every wait, unless the route sets its own
    notify = ["channel", "dm"]            # and any other key of a route's policy, below
    [[routes]]
    name = "finance"
    match = { action = "refund_*", risk = ["high", "critical"], tags = ["fin*"], agent = "bill-*" }
    channel = "C0FINANCE"
    approvers = ["U0ALICE", "S0FINANCE"]  # U/W users, S user groups; none: anyone may decide
    timeout = "30m"                       # the agent may ask for less, not more
    reject_reason = "required"            # or "optional"
    selectable = true                     # an agent may pick it with route="finance"
    channel_selectable = false            # whether channel= may move its message
    quorum = 2                            # distinct approvers needed to approve (default 1)
    veto = true                           # one approver's rejection rejects at once (default)
    self_approval = false                 # who the agent acts for may not approve (default)
    reminders = ["10m", "80%"]            # after posting, or a share of the time to the deadline
    escalate = [                          # levels in order, each after posting, no decision yet
      { after = "15m", channel = "C0OPS", approvers = ["S0OPS"] },
      { after = "25m", approvers = ["U0CFO"] },         # channel or approvers, or both
    ]
    on_timeout = "reject"                 # or "expire" (default); "approve": never if critical
    notify = ["channel"]                  # the default; "dm": a copy to each approver's DM
    confirm = "high"                      # lowest risk whose Approve asks "are you sure?"
    typed_confirm = "critical"            # lowest risk whose approval needs a typed value

``confirm`` and ``typed_confirm`` take ``"off"`` (``typed_confirm``'s default). A route inherits
from ``[defaults]`` each key from ``timeout`` on that it leaves unset: they live on
:class:`RuleSettings`, the base of :class:`Route` and :class:`Defaults`, and
:meth:`Defaults.for_route` gives the settings in force for a route. The policy keys' values and
the checks across them (a reminder after the timeout, a quorum nobody can reach) are
:mod:`hitl_slack.routepolicy`; how a request is routed by the file is :mod:`hitl_slack.routing`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from hitl_slack.errors import ConfigError
from hitl_slack.models import RequestBase
from hitl_slack.policy import OnTimeout
from hitl_slack.routepolicy import (
    EscalationLevel,
    NotifyTo,
    Quorum,
    Reminder,
    Threshold,
    policy_problems,
)
from hitl_slack.routevalues import (
    ApproverId,
    ChannelId,
    Duration,
    Globs,
    Risks,
    TableModel,
    channel_id,
    parse_duration,
)

__all__ = [
    "NO_CHANNEL",
    "Defaults",
    "Route",
    "RouteMatch",
    "RoutesConfig",
    "RuleSettings",
    "load_routes",
    "parse_duration",
    "parse_routes",
]

#: The error when no channel is configured for requests that match no rule.
NO_CHANNEL = (
    "no channel configured: set HITL_DEFAULT_CHANNEL or [defaults] channel in the routes file"
)
RejectReason = Literal["required", "optional"]


class RouteMatch(TableModel):
    """What a request must look like for a route to apply; a key left out fits anything."""

    kind: Globs | None = None
    action: Globs | None = None
    agent: Globs | None = None
    risk: Risks | None = None
    tags: Globs | None = None

    def matches(self, request: RequestBase) -> bool:
        """Whether every given key fits ``request`` (an empty match fits every request).

        ``action`` globs fit approvals only: a question's action is always ``question``, so
        questions are routed by ``kind`` (or by agent, risk and tags).
        """
        agents = (request.agent,) if request.agent is not None else ()
        acts = (request.action,) if request.kind == "approval" else ()
        return (
            _fits(self.kind, (request.kind,))
            and _fits(self.action, acts)
            and _fits(self.agent, agents)
            and (self.risk is None or request.risk in self.risk)
            and _fits(self.tags, request.tags)
        )


def _fits(globs: tuple[str, ...] | None, values: Iterable[str]) -> bool:
    return globs is None or any(fnmatchcase(v, g) for v in values for g in globs)


class RuleSettings(TableModel):
    """How a request is decided (the keys in the module docstring); a route inherits from
    ``[defaults]`` what it leaves unset (``None``)."""

    timeout: Duration | None = None
    reject_reason: RejectReason | None = None
    channel_selectable: bool | None = None
    quorum: Quorum | None = None
    veto: bool | None = None
    self_approval: bool | None = None
    reminders: tuple[Reminder, ...] | None = None
    escalate: tuple[EscalationLevel, ...] | None = None
    on_timeout: OnTimeout | None = None
    notify: NotifyTo | None = None
    confirm: Threshold | None = None
    typed_confirm: Threshold | None = None


class Defaults(RuleSettings):
    """The ``[defaults]`` table: the fallback channel and the policy routes inherit."""

    channel: ChannelId | None = None
    reject_reason: RejectReason = "optional"
    channel_selectable: bool = False
    quorum: Quorum = 1
    veto: bool = True
    self_approval: bool = False
    reminders: tuple[Reminder, ...] = ()
    escalate: tuple[EscalationLevel, ...] = ()
    on_timeout: OnTimeout = "expire"
    notify: NotifyTo = ("channel",)
    confirm: Threshold = "high"
    typed_confirm: Threshold = "off"

    def for_route(self, route: Route | None) -> Defaults:
        """The settings in force for ``route`` (``None``: no rule matched): each key the route
        sets, its channel included, else this table's."""
        if route is None:
            return self
        keys = (*RuleSettings.model_fields, "channel")
        own = {key: value for key in keys if (value := getattr(route, key)) is not None}
        return self.model_copy(update=own)


class Route(RuleSettings):
    """One ``[[routes]]`` rule: which requests, which channel, who decides."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    match: RouteMatch = RouteMatch()
    channel: ChannelId | None = None
    approvers: tuple[ApproverId, ...] = ()
    selectable: bool = False


class RoutesConfig(TableModel):
    """The routes file, its default channel filled in from ``HITL_DEFAULT_CHANNEL`` if unset."""

    defaults: Defaults = Defaults()
    routes: tuple[Route, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> RoutesConfig:
        problems = _duplicates(enumerate(r.name for r in self.routes))
        problems += _uncovered(self.defaults.channel, list(enumerate(self.routes)))
        problems += policy_problems(self.defaults, _labelled(enumerate(self.routes)))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def route(self, name: str) -> Route | None:
        """The route called ``name``, if there is one."""
        return next((route for route in self.routes if route.name == name), None)


def _label(index: int, name: object) -> str:
    return f'routes[{index}] "{name}"' if isinstance(name, str) else f"routes[{index}]"


def _labelled(routes: Iterable[tuple[int, Route]]) -> list[tuple[str, Route]]:
    return [(_label(i, route.name), route) for i, route in routes]


def _duplicates(names: Iterable[tuple[int, object]]) -> list[str]:
    first: dict[str, int] = {}
    problems = []
    for i, name in names:
        if not isinstance(name, str):
            continue
        if name.strip() in first:
            problems.append(
                f"{_label(i, name)}: name: duplicate route name "
                f"(already used by routes[{first[name.strip()]}])"
            )
        else:
            first[name.strip()] = i
    return problems


def _uncovered(channel: str | None, routes: Sequence[tuple[int, Route]]) -> list[str]:
    if channel is not None:
        return []
    problems = [
        f"{_label(i, r.name)}: channel: not set and no default channel: "
        "set it here, [defaults] channel or HITL_DEFAULT_CHANNEL"
        for i, r in routes
        if r.channel is None
    ]
    if not any(r.match == RouteMatch() for _, r in routes):
        problems.append(NO_CHANNEL + " (for requests that match no rule)")
    return problems


_M = TypeVar("_M", bound=BaseModel)
#: The tables inside a route or ``[defaults]``, whose unknown keys list their own.
_SUBTABLES: dict[str, type[BaseModel]] = {"match": RouteMatch, "escalate": EscalationLevel}


def _describe(model: type[BaseModel], err: ErrorDetails) -> str:
    loc = err["loc"]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if err["type"] == "missing":
        return f"{path}: required"
    if err["type"] == "model_type":
        return f"{path}: must be a table"
    if err["type"] != "extra_forbidden":
        return f"{path}: {err['msg'].removeprefix('Value error, ')}"
    table = _SUBTABLES.get(str(loc[0])) if len(loc) > 1 else None
    keys = (table or model).model_fields
    return f"{path}: unknown key (allowed: {', '.join(sorted(keys))})"


def _validate(model: type[_M], raw: object, label: str, problems: list[str]) -> _M | None:
    if not isinstance(raw, dict):
        problems.append(f"{label}: must be a table")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(f"{label}: {_describe(model, e)}" for e in exc.errors(include_url=False))
        return None


def _env_channel(value: str | None, problems: list[str]) -> str | None:
    try:
        return channel_id(value.strip()) if value and value.strip() else None
    except ValueError as exc:
        problems.append(f"HITL_DEFAULT_CHANNEL: {exc}")
        return None


def _rules(raw_routes: object, problems: list[str]) -> list[tuple[int, Route]]:
    """The valid ``[[routes]]``, with their index; every problem (duplicate names too) noted."""
    if not isinstance(raw_routes, list):
        problems.append("routes: must be an array of tables, written [[routes]]")
        raw_routes = []
    names = [
        (i, raw.get("name") if isinstance(raw, dict) else None) for i, raw in enumerate(raw_routes)
    ]
    routes = [
        (i, route)
        for (i, name), raw in zip(names, raw_routes, strict=True)
        if (route := _validate(Route, raw, _label(i, name), problems)) is not None
    ]
    problems += _duplicates(names)
    return routes


def parse_routes(text: str, *, source: str, default_channel: str | None) -> RoutesConfig:
    """Parse and check the text of a routes file.

    Args:
        text: the TOML text.
        source: where it came from, named in error messages.
        default_channel: ``HITL_DEFAULT_CHANNEL``, used if the file has no ``[defaults] channel``.

    Returns:
        The configuration, with the default channel filled in.

    Raises:
        ConfigError: listing every problem, one a line, each naming the rule and the field
            (a malformed ``default_channel`` is one, even when the file sets its own).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid routes file {source}: not valid TOML: {exc}") from None
    problems: list[str] = []
    env_channel = _env_channel(default_channel, problems)
    problems += [
        f"{key}: unknown top-level key (allowed: defaults, routes)"
        for key in data
        if key not in ("defaults", "routes")
    ]
    defaults = _validate(Defaults, data.get("defaults", {}), "defaults", problems)
    routes = _rules(data.get("routes", []), problems)
    if defaults is not None and defaults.channel is None and env_channel is not None:
        defaults = defaults.model_copy(update={"channel": env_channel})
    if defaults is not None:
        problems += _uncovered(defaults.channel, routes)
        problems += policy_problems(defaults, _labelled(routes))
    if problems or defaults is None:
        lines = "".join(f"\n  {problem}" for problem in problems)
        raise ConfigError(f"invalid routes file {source}:{lines}")
    return RoutesConfig(defaults=defaults, routes=tuple(route for _, route in routes))


def load_routes(path: str | Path | None, *, default_channel: str | None) -> RoutesConfig:
    """Read the routes file (``HITL_ROUTES_FILE``); with none, everything goes to the default.

    Args:
        path: the TOML file, or ``None`` when there is no routes file.
        default_channel: ``HITL_DEFAULT_CHANNEL``, used if the file has no ``[defaults] channel``.

    Returns:
        The configuration.

    Raises:
        ConfigError: the file is missing, unreadable or invalid, or no channel is configured.
    """
    if path is None:
        problems: list[str] = []
        channel = _env_channel(default_channel, problems)
        if problems or channel is None:
            raise ConfigError(problems[0] if problems else NO_CHANNEL)
        return RoutesConfig(defaults=Defaults(channel=channel))
    try:
        text = Path(path).read_bytes().decode()
    except FileNotFoundError:
        raise ConfigError(f"routes file not found: {path} (HITL_ROUTES_FILE)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read routes file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"invalid routes file {path}: not UTF-8 text") from None
    return parse_routes(text, source=str(path), default_channel=default_channel)
