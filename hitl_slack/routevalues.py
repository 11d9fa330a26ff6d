"""The values a routes file is written in: durations, ids, globs, and the tables' base model.

Pure: no Redis, no Slack. Shared by the routes file (:mod:`hitl_slack.routesfile`), its
policy keys (:mod:`hitl_slack.routepolicy`) and the gateway's rules
(:mod:`hitl_slack.mcpgateway.rules`), so each says a duration or an id the same way.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from hitl_slack.authz import is_user_id, is_usergroup_id
from hitl_slack.models import Risk

__all__ = [
    "ApproverId",
    "ChannelId",
    "Duration",
    "Globs",
    "Risks",
    "TableModel",
    "channel_id",
    "format_duration",
    "listed",
    "parse_duration",
]

_NUM = r"\d+(?:\.\d+)?"
_DURATION_RE = re.compile(rf"(?:({_NUM})d)?(?:({_NUM})h)?(?:({_NUM})m)?(?:({_NUM})s)?")
_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))
_DURATION_HINT = "use e.g. 90s, 30m, 1h, 1d"


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
        parts = zip(found.groups(), (unit for unit, _ in _UNITS), strict=True)
        seconds = sum(float(num) * unit for num, unit in parts if num is not None)
    if seconds is None or not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r} ({_DURATION_HINT})")
    if seconds <= 0:
        raise ValueError(f"invalid duration {value!r} (must be more than zero; {_DURATION_HINT})")
    return seconds


def format_duration(seconds: float) -> str:
    """A duration as the routes file writes it: ``3600`` is ``"1h"``, ``5400`` ``"1h30m"``."""
    parts = []
    rest = round(seconds, 3)
    for unit, name in _UNITS[:-1]:
        if rest >= unit:
            count = int(rest // unit)
            parts.append(f"{count}{name}")
            rest = round(rest - count * unit, 3)
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


def channel_id(value: str) -> str:
    """``value`` if it is a channel's id (``C0123ABCD``), else ValueError saying what is."""
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
ChannelId = Annotated[str, AfterValidator(channel_id)]
ApproverId = Annotated[str, AfterValidator(_approver_id)]


class TableModel(BaseModel):
    """A table of a configuration file: frozen, unknown keys refused, strings stripped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
