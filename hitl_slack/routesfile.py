"""The routes file: its schema, and reading it.

Pure: no Redis, no Slack. The routes file (TOML, at ``HITL_ROUTES_FILE``)::

    [defaults]
    channel = "C0APPROVALS"               # where requests that match no rule go
    timeout = "1h"                        # cap on every wait, unless the route sets its own
    [[routes]]
    name = "finance"
    match = { action = "refund_*", risk = ["high", "critical"], tags = ["fin*"], agent = "bill-*" }
    channel = "C0FINANCE"
    approvers = ["U0ALICE", "S0FINANCE"]  # U/W users, S user groups; none: anyone may decide
    timeout = "30m"                       # the agent may ask for less, not more
    reject_reason = "required"            # or "optional"
    selectable = true                     # an agent may pick it with route="finance"
    channel_selectable = false            # whether channel= may move its message

A route inherits ``timeout``, ``reject_reason`` and ``channel_selectable`` from ``[defaults]``:
all live on :class:`RuleSettings`, the base of :class:`Route` and :class:`Defaults`. Later
policy settings (``escalation``, ``reminders``, ``quorum``, ``auto_approve``) go there as
optional fields or sub-models, and into :class:`hitl_slack.policy.Policy` as fields with
defaults. How a request is routed by the file is :mod:`hitl_slack.routing`.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from hitl_slack.authz import is_user_id, is_usergroup_id
from hitl_slack.errors import ConfigError
from hitl_slack.models import RequestBase, Risk

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

_NUM = r"\d+(?:\.\d+)?"
_DURATION_RE = re.compile(rf"(?:({_NUM})d)?(?:({_NUM})h)?(?:({_NUM})m)?(?:({_NUM})s)?")
_UNIT_SECONDS = (86400, 3600, 60, 1)
_DURATION_HINT = "use e.g. 90s, 30m, 1h, 1d"
#: The error when no channel is configured for requests that match no rule.
NO_CHANNEL = (
    "no channel configured: set HITL_DEFAULT_CHANNEL or [defaults] channel in the routes file"
)


def parse_duration(value: str | int | float) -> float:
    """Read a duration: seconds as a number, or ``d h m s`` units in that order (``"2h30m"``).

    Args:
        value: e.g. ``90``, ``"90"``, ``"90s"``, ``"30m"``, ``"1h"``, ``"1d12h"``, ``"1.5h"``.

    Returns:
        The duration in seconds, more than zero.

    Raises:
        ValueError: not a duration, or not more than zero; the message shows the format.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(_NUM, text := value.strip()):
        seconds = float(text)
    elif isinstance(value, str) and text and (found := _DURATION_RE.fullmatch(text)):
        parts = zip(found.groups(), _UNIT_SECONDS, strict=True)
        seconds = sum(float(num) * unit for num, unit in parts if num is not None)
    if seconds is None or not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r} ({_DURATION_HINT})")
    if seconds <= 0:
        raise ValueError(f"invalid duration {value!r} (must be more than zero; {_DURATION_HINT})")
    return seconds


def _channel_id(value: str) -> str:
    if re.fullmatch(r"[CG][A-Z0-9]{2,30}", value) is None:
        raise ValueError(f"invalid channel id {value!r} (use the channel's id, e.g. C0123ABCD)")
    return value


def _approver_id(value: str) -> str:
    if not (is_user_id(value) or is_usergroup_id(value)):
        raise ValueError(
            f"invalid approver id {value!r} (user ids start with U or W, "
            "user group ids with S, e.g. U0123ABCD)"
        )
    return value


def listed(value: object) -> object:
    """One string, or a non-empty list of them, as a tuple (a key that takes either)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("must be a string or a non-empty list of strings")
    return tuple(items)


Globs = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(listed)]
Risks = Annotated[tuple[Risk, ...], BeforeValidator(listed)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
ChannelId = Annotated[str, AfterValidator(_channel_id)]
ApproverId = Annotated[str, AfterValidator(_approver_id)]
RejectReason = Literal["required", "optional"]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class RouteMatch(_Config):
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


class RuleSettings(_Config):
    """How a request is decided; a route inherits from ``[defaults]`` what it leaves unset."""

    timeout: Duration | None = None
    reject_reason: RejectReason | None = None
    channel_selectable: bool | None = None


class Defaults(RuleSettings):
    """The ``[defaults]`` table: the fallback channel and the policy routes inherit."""

    channel: ChannelId | None = None
    reject_reason: RejectReason = "optional"
    channel_selectable: bool = False


class Route(RuleSettings):
    """One ``[[routes]]`` rule: which requests, which channel, who decides."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    match: RouteMatch = RouteMatch()
    channel: ChannelId | None = None
    approvers: tuple[ApproverId, ...] = ()
    selectable: bool = False


class RoutesConfig(_Config):
    """The routes file, its default channel filled in from ``HITL_DEFAULT_CHANNEL`` if unset."""

    defaults: Defaults = Defaults()
    routes: tuple[Route, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> RoutesConfig:
        problems = _duplicates(enumerate(r.name for r in self.routes))
        problems += _uncovered(self.defaults.channel, list(enumerate(self.routes)))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def route(self, name: str) -> Route | None:
        """The route called ``name``, if there is one."""
        return next((route for route in self.routes if route.name == name), None)


def _label(index: int, name: object) -> str:
    return f'routes[{index}] "{name}"' if isinstance(name, str) else f"routes[{index}]"


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


def _describe(model: type[BaseModel], err: ErrorDetails) -> str:
    loc = err["loc"]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if err["type"] == "missing":
        return f"{path}: required"
    if err["type"] != "extra_forbidden":
        return f"{path}: {err['msg'].removeprefix('Value error, ')}"
    keys = RouteMatch.model_fields if loc[:-1] == ("match",) else model.model_fields
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
        return _channel_id(value.strip()) if value and value.strip() else None
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
