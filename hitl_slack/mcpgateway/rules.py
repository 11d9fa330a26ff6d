"""Gate rules of the MCP approval gateway: which tool calls wait for approval in Slack.

Pure: no MCP, no Redis. The rules file (TOML, ``--routes-file``)::

    [defaults]
    risk = "medium"                        # the request's risk unless the gate sets one
    timeout = "10m"                        # how long a request may wait for a decision
    summary = "Call {tool}"                # the message's header ({tool}, {<argument>})

    [[gates]]
    name = "small-payments"
    tools = ["pay"]
    when = { amount = { le = 100 } }       # argument predicates (hitl_slack.mcpgateway.predicates)
    hold = false                           # an allow rule: matching calls pass straight through

    [[gates]]
    name = "payments"
    tools = ["pay", "refund_*"]            # tool-name globs
    risk = "high"
    summary = "Pay {amount} to {to}"
    route = "finance"                      # a selectable route of the bot's routes file
    tags = ["payments"]                    # added to HITL_MCP_TAGS

The first gate whose ``tools`` and ``when`` fit a call decides it: held for approval (the
default), or passed straight through with ``hold = false``. No gate fits: passed straight
through. With no rules file at all, every call is held (:data:`HOLD_EVERYTHING`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Final

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

from hitl_slack.errors import ConfigError
from hitl_slack.mcpgateway.predicates import OPERATORS, Condition, lookup
from hitl_slack.mcpgateway.summaries import DEFAULT_SUMMARY, check_template, render_summary
from hitl_slack.models import Risk
from hitl_slack.routevalues import Duration, Globs, listed

__all__ = [
    "HOLD_EVERYTHING",
    "Gate",
    "GateDefaults",
    "GatesConfig",
    "load_gates",
    "parse_gates",
]


def _path(value: str) -> str:
    if not value or any(not part for part in value.split(".")):
        raise ValueError(f"{value!r} is not an argument name or a dotted path (to.iban)")
    return value


Summary = Annotated[str, Field(max_length=1000), AfterValidator(check_template)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
When = dict[Annotated[str, AfterValidator(_path)], Condition]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class GateDefaults(_Config):
    """The ``[defaults]`` table: what a holding gate leaves unset."""

    risk: Risk = Risk.MEDIUM
    timeout: Duration = 600.0
    summary: Summary = DEFAULT_SUMMARY


class Gate(_Config):
    """One ``[[gates]]`` rule: which calls it applies to, and how their requests look."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    tools: Globs
    when: When = Field(default_factory=dict)
    hold: bool = True
    risk: Risk | None = None
    timeout: Duration | None = None
    summary: Summary | None = None
    route: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    tags: Annotated[tuple[Tag, ...], BeforeValidator(listed), Field(max_length=20)] = ()

    @model_validator(mode="after")
    def _allow_rule_sets_no_request_field(self) -> Gate:
        if not self.hold:
            fields = ("risk", "timeout", "summary", "route", "tags")
            useless = [f for f in fields if f in self.model_fields_set]
            if useless:
                raise ValueError(
                    f"{', '.join(useless)}: no effect on a rule with hold = false (its calls "
                    "pass straight through)"
                )
        return self

    def fits(self, tool: str, arguments: Mapping[str, Any]) -> bool:
        """Whether the call matches a ``tools`` glob and every ``when`` condition holds."""
        return any(fnmatchcase(tool, glob) for glob in self.tools) and all(
            condition.holds(lookup(arguments, path)) for path, condition in self.when.items()
        )


#: The rule applied when no rules file is given: every call is held.
HOLD_EVERYTHING: Final = Gate(name="every-call", tools=("*",))


class GatesConfig(_Config):
    """The rules file: defaults, then the gates in order."""

    defaults: GateDefaults = GateDefaults()
    gates: tuple[Gate, ...] = ()

    def gate_for(self, tool: str, arguments: Mapping[str, Any]) -> Gate | None:
        """The first gate that fits the call, or None (the call passes straight through)."""
        return next((gate for gate in self.gates if gate.fits(tool, arguments)), None)

    def risk(self, gate: Gate) -> Risk:
        """The risk of a request held by ``gate``."""
        return gate.risk or self.defaults.risk

    def timeout(self, gate: Gate) -> float:
        """How long a request held by ``gate`` may wait for a decision, in seconds."""
        return gate.timeout or self.defaults.timeout

    def summary(self, gate: Gate, tool: str, arguments: Mapping[str, Any]) -> str:
        """The header of the Slack message for a call held by ``gate``."""
        return render_summary(gate.summary or self.defaults.summary, tool, arguments)

    def unmatched_globs(self, tools: Iterable[str]) -> list[tuple[str, str]]:
        """``(gate, glob)`` pairs that match none of ``tools`` (a typo, or a tool renamed)."""
        names = list(tools)
        return [
            (gate.name, glob)
            for gate in self.gates
            for glob in gate.tools
            if not any(fnmatchcase(name, glob) for name in names)
        ]


# -- reading the file ------------------------------------------------------------------------------

_KEYS = {
    "defaults": sorted(GateDefaults.model_fields),
    "gate": sorted(Gate.model_fields),
    "condition": list(OPERATORS),
}


def _label(index: int, raw: object) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f'gates[{index}] "{name}"' if isinstance(name, str) else f"gates[{index}]"


def _describe(err: ErrorDetails, table: str) -> str:
    loc = tuple(p for p in err["loc"] if p != "[key]")  # a bad key is named by the key itself
    path = ".".join(str(p) for p in loc)
    if err["type"] == "missing":
        return f"{path}: required"
    if err["type"] == "extra_forbidden":
        where = "condition" if len(loc) == 3 and loc[0] == "when" else table
        return f"{path}: unknown key (allowed: {', '.join(_KEYS[where])})"
    message = err["msg"].removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


def _validate(model: type[_Config], raw: object, label: str, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"{label}: must be a table")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        table = "defaults" if model is GateDefaults else "gate"
        problems.extend(f"{label}: {_describe(e, table)}" for e in exc.errors(include_url=False))
        return None


def _gates(raw: object, problems: list[str]) -> list[Gate]:
    if not isinstance(raw, list):
        problems.append("gates: must be an array of tables, written [[gates]]")
        return []
    gates: list[Gate] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        gate = _validate(Gate, entry, _label(i, entry), problems)
        if gate is not None:
            gates.append(gate)
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name.strip() in seen:
            problems.append(
                f"{_label(i, entry)}: name: duplicate gate name (already used by "
                f"gates[{seen[name.strip()]}])"
            )
        elif isinstance(name, str):
            seen[name.strip()] = i
    return gates


def parse_gates(text: str, *, source: str) -> GatesConfig:
    """Parse and check the text of a rules file.

    Raises:
        ConfigError: listing every problem, one a line, each naming the rule and the field
            (``gates[1] "big-payments": when.amount.gt: ...``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid rules file {source}: not valid TOML: {exc}") from None
    problems = [
        f"{key}: unknown top-level key (allowed: defaults, gates)"
        for key in data
        if key not in ("defaults", "gates")
    ]
    defaults = _validate(GateDefaults, data.get("defaults", {}), "defaults", problems)
    gates = _gates(data.get("gates", []), problems)
    if problems or defaults is None:
        raise ConfigError(f"invalid rules file {source}:" + "".join(f"\n  {p}" for p in problems))
    return GatesConfig(defaults=defaults, gates=tuple(gates))


def load_gates(path: str | Path | None) -> GatesConfig:
    """Read the rules file; with none, every call is held (:data:`HOLD_EVERYTHING`).

    Raises:
        ConfigError: the file is missing, unreadable or invalid.
    """
    if path is None:
        return GatesConfig(gates=(HOLD_EVERYTHING,))
    try:
        text = Path(path).read_bytes().decode()
    except FileNotFoundError:
        raise ConfigError(f"rules file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"invalid rules file {path}: not UTF-8 text") from None
    return parse_gates(text, source=str(path))
