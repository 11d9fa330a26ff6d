"""The gateway's gate rules, pure: predicates, which gate a call meets, summaries, the file's
errors, and what the model is told of a decision. No MCP, no Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hitl_slack.errors import ConfigError
from hitl_slack.mcpgateway.holds import Pending, duration_text, refusal_text
from hitl_slack.mcpgateway.predicates import ABSENT, Condition, json_equal, lookup
from hitl_slack.mcpgateway.rules import (
    HOLD_EVERYTHING,
    GatesConfig,
    load_gates,
    parse_gates,
)
from hitl_slack.mcpgateway.settings import GatewaySettings, upstream_environment
from hitl_slack.mcpgateway.summaries import render_summary
from hitl_slack.models import Decision, Risk, Status


def holds(condition: dict[str, Any], value: Any) -> bool:
    return Condition.model_validate(condition).holds(value)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"eq": 5}, 5, True),
        ({"eq": 5}, 5.0, True),
        ({"eq": 1}, True, False),  # a boolean is not a number
        ({"eq": "5"}, 5, False),
        ({"eq": [1, "a"]}, [1.0, "a"], True),
        ({"eq": {"k": 1}}, {"k": 1, "x": 2}, False),
        ({"ne": "prod"}, "dev", True),
        ({"ne": "prod"}, "prod", False),
        ({"ne": "prod"}, 3, False),  # another type: no match
        ({"gt": 1000}, 5000, True),
        ({"gt": 1000}, 1000, False),
        ({"ge": 1000}, 1000, True),
        ({"lt": 10}, 9.5, True),
        ({"le": 10}, 10, True),
        ({"gt": 1000}, "5000", False),  # a string is not a number: no match
        ({"gt": 1000}, True, False),
        ({"gt": 1000}, None, False),
        ({"lt": "2026-01-01"}, "2025-12-31", True),  # strings compare as strings
        ({"lt": "2026-01-01"}, 20251231, False),
        ({"gt": 0, "lt": 10}, 5, True),  # every operator must hold
        ({"gt": 0, "lt": 10}, 50, False),
        ({"in": ["eu", "us"]}, "us", True),
        ({"in": ["eu", "us"]}, "apac", False),
        ({"in": [1, 2]}, True, False),
        ({"glob": "/etc/*"}, "/etc/passwd", True),
        ({"glob": "/etc/*"}, "/etc/ssh/sshd_config", True),  # * also matches /
        ({"glob": ["*.pem", "*.key"]}, "id.key", True),
        ({"glob": "*.PEM"}, "id.pem", False),  # case sensitive
        ({"glob": "*"}, 5, False),
        ({"exists": True}, None, True),  # present, even as null
        ({"exists": False}, None, False),
    ],
)
def test_each_operator_on_a_present_argument(condition: dict[str, Any], value: Any, expected: bool):
    assert holds(condition, value) is expected


@pytest.mark.parametrize(
    "condition",
    [{"eq": 1}, {"ne": 1}, {"gt": 1}, {"le": 1}, {"in": [1]}, {"glob": "*"}, {"exists": True}],
)
def test_a_missing_argument_satisfies_nothing_but_exists_false(condition: dict[str, Any]):
    assert holds(condition, ABSENT) is False
    assert holds({"exists": False}, ABSENT) is True


def test_arguments_are_named_by_key_or_dotted_path_into_objects_and_arrays():
    arguments = {"to": {"iban": "DE02"}, "items": [{"price": 3}], "a.b": 1}
    assert lookup(arguments, "to.iban") == "DE02"
    assert lookup(arguments, "items.0.price") == 3
    assert lookup(arguments, "items.1.price") is ABSENT
    assert lookup(arguments, "to.iban.x") is ABSENT
    assert lookup(arguments, "a.b") is ABSENT  # a dot always separates levels
    assert lookup(arguments, "missing") is ABSENT


def test_json_equality_never_crosses_types():
    assert json_equal(0, 0.0)
    assert not json_equal(0, False)
    assert not json_equal(None, 0)
    assert not json_equal([1], (1, 2))
    assert json_equal({"a": [True]}, {"a": [True]})


RULES = """
[defaults]
risk = "low"
timeout = "10m"
summary = "Call {tool} on {path}"

[[gates]]
name = "small-payments"
tools = "pay"
when = { amount = { le = 100 } }
hold = false

[[gates]]
name = "payments"
tools = ["pay", "refund_*"]
risk = "high"
timeout = "1h"
summary = "Pay {amount} to {to.name}"
route = "finance"
tags = "payments"

[[gates]]
name = "writes"
tools = ["write_*", "delete_*"]
when = { path = { glob = "/etc/*" } }
"""


def test_the_first_gate_that_fits_decides_and_an_allow_rule_passes_its_calls():
    gates = parse_gates(RULES, source="gates.toml")
    small = gates.gate_for("pay", {"amount": 50})
    assert small is not None
    assert (small.name, small.hold) == ("small-payments", False)
    big = gates.gate_for("pay", {"amount": 500})
    assert big is not None
    assert (big.name, big.hold) == ("payments", True)
    # A string amount does not fit the allow rule: it falls through to the holding one.
    as_text = gates.gate_for("pay", {"amount": "50"})
    assert as_text is not None
    assert as_text.name == "payments"
    assert gates.gate_for("refund_card", {}) == big
    assert gates.gate_for("write_file", {"path": "/etc/hosts"}) is not None
    assert gates.gate_for("write_file", {"path": "/tmp/x"}) is None
    assert gates.gate_for("write_file", {}) is None
    assert gates.gate_for("read_file", {"path": "/etc/hosts"}) is None


def test_a_held_requests_fields_come_from_the_gate_then_the_defaults():
    gates = parse_gates(RULES, source="gates.toml")
    payments, writes = gates.gates[1], gates.gates[2]
    assert (gates.risk(payments), gates.timeout(payments)) == (Risk.HIGH, 3600)
    assert (gates.risk(writes), gates.timeout(writes)) == (Risk.LOW, 600)
    assert (payments.route, payments.tags) == ("finance", ("payments",))
    assert gates.summary(payments, "pay", {"amount": 42, "to": {"name": "ACME"}}) == (
        "Pay 42 to ACME"
    )
    assert gates.summary(writes, "write_file", {"path": "/etc/hosts"}) == (
        "Call write_file on /etc/hosts"
    )


def test_summaries_show_values_as_text_cut_and_on_one_line():
    assert render_summary("Pay {amount} to {to}", "pay", {"amount": 5}) == "Pay 5 to ?"
    assert render_summary("{tool}: {q}", "sql", {"q": "select\n  1"}) == "sql: select 1"
    assert render_summary("{x}", "t", {"x": {"b": [1, 2]}}) == '{"b":[1,2]}'
    long = render_summary("{x}", "t", {"x": "y" * 1000})
    assert len(long) == 200
    assert long.endswith("…")
    assert len(render_summary("{a} {b} {c}", "t", {k: "z" * 300 for k in "abc"})) <= 500
    assert render_summary("{{literal}} {tool}", "t", {}) == "{literal} t"


def test_without_a_rules_file_every_call_is_held():
    gates = load_gates(None)
    assert gates.gates == (HOLD_EVERYTHING,)
    assert gates.gate_for("anything", {"x": 1}) == HOLD_EVERYTHING
    assert gates.summary(HOLD_EVERYTHING, "anything", {}) == "Call anything"


def test_globs_that_match_no_tool_are_reported():
    gates = parse_gates(RULES, source="gates.toml")
    assert gates.unmatched_globs(["pay", "write_file"]) == [
        ("payments", "refund_*"),
        ("writes", "delete_*"),
    ]


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_gates(text, source="gates.toml")
    head, *lines = str(caught.value).splitlines()
    assert head == "invalid rules file gates.toml:"
    return [line.strip() for line in lines]


def test_every_problem_of_the_rules_file_names_the_rule_and_the_field():
    assert _errors(
        """
[defaults]
risk = "extreme"
wat = 1

[[gates]]
name = "big-payments"
tools = ["pay"]
when = { amount = { gt = true }, to = { gte = 1 }, note = {}, memo = 5, "a..b" = { eq = 1 } }
timeout = "soon"

[[gates]]
name = "no-tools"
tools = []
summary = "Pay {0} {amount!r} {x:>5}"

[[gates]]
tools = "x"

[[gates]]
name = "allow"
tools = "pay"
hold = false
risk = "high"

[[gates]]
name = "dates"
tools = "x"
when = { at = { eq = 1979-05-27, in = [] }, n = { lt = nan } }

[[gates]]
name = "allow"
tools = "y"
"""
    ) == [
        "defaults: risk: Input should be 'low', 'medium', 'high' or 'critical'",
        "defaults: wat: unknown key (allowed: risk, summary, timeout)",
        'gates[0] "big-payments": when.amount.gt: must be a number or a string, not boolean',
        'gates[0] "big-payments": when.to.gte: unknown key (allowed: eq, ne, gt, ge, lt, le, '
        "in, glob, exists)",
        'gates[0] "big-payments": when.note: needs at least one operator (eq, ne, gt, ge, lt, '
        "le, in, glob, exists)",
        'gates[0] "big-payments": when.memo: must be a table of operators, e.g. { gt = 1000 }',
        "gates[0] \"big-payments\": when.a..b: 'a..b' is not an argument name or a dotted "
        "path (to.iban)",
        "gates[0] \"big-payments\": timeout: invalid duration 'soon' (use e.g. 90s, 30m, 1h, 1d)",
        'gates[1] "no-tools": tools: must be a string or a non-empty list of strings',
        'gates[1] "no-tools": summary: placeholder {0} must name {tool} or an argument, '
        "e.g. {amount}",
        "gates[2]: name: required",
        'gates[3] "allow": risk: no effect on a rule with hold = false (its calls pass '
        "straight through)",
        'gates[4] "dates": when.at.eq: must be a JSON value (a string, number, boolean, array '
        "or table), not date",
        'gates[4] "dates": when.at.in: must be a non-empty list of values',
        'gates[4] "dates": when.n.lt: must be a finite number',
        'gates[5] "allow": name: duplicate gate name (already used by gates[3])',
    ]


def test_a_rules_file_that_is_not_toml_or_not_tables_is_refused():
    assert _errors("gates = 3\nother = 1") == [
        "other: unknown top-level key (allowed: defaults, gates)",
        "gates: must be an array of tables, written [[gates]]",
    ]
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_gates("[[gates]\n", source="gates.toml")
    with pytest.raises(ConfigError, match=r"rules file not found: /no/such\.toml"):
        load_gates("/no/such.toml")


def test_an_empty_rules_file_holds_nothing():
    assert parse_gates("", source="gates.toml") == GatesConfig()
    assert GatesConfig().gate_for("pay", {"amount": 10**9}) is None


def _decision(status: Status, **kw: Any) -> Decision:
    return Decision(request_id="req_1", status=status, decided_at=datetime.now(UTC), **kw)


def test_what_the_model_is_told_of_each_outcome():
    rejected = _decision(Status.REJECTED, reason="too much", decided_by=("U0BOB",))
    assert refusal_text(rejected, 600) == (
        "Not approved: U0BOB rejected this call in Slack: too much. The call was not made. "
        "Retrying it unchanged gets the same answer; change the call or ask the user."
    )
    assert "a reviewer rejected this call in Slack (no reason given)" in refusal_text(
        _decision(Status.REJECTED), 600
    )
    assert refusal_text(_decision(Status.EXPIRED), 600) == (
        "Not approved: no one decided in Slack within 10m, so the request expired. The call "
        "was not made; retrying it asks again."
    )
    assert refusal_text(_decision(Status.CANCELLED, reason="bot down"), 60) == (
        "Not approved: the approval request was cancelled (bot down). The call was not made."
    )
    assert "Retry the same call" in Pending("req_9").text
    assert [duration_text(s) for s in (90, 600, 7200, 86400, 1.5)] == [
        "90s",
        "10m",
        "2h",
        "1d",
        "1.5s",
    ]


def test_the_wrapped_server_gets_the_environment_less_the_gateways_own():
    env = {
        "PATH": "/bin",
        "GITHUB_TOKEN": "t",
        "REDIS_URL": "redis://:secret@h",
        "HITL_KEY_PREFIX": "p",
        "LOG_LEVEL": "DEBUG",
    }
    assert upstream_environment(env) == {"PATH": "/bin", "GITHUB_TOKEN": "t", "LOG_LEVEL": "DEBUG"}


def test_tags_are_a_comma_separated_list():
    settings = GatewaySettings(hitl_mcp_tags=" mcp, files ,,")
    assert settings.tags == ("mcp", "files")
    with pytest.raises(ValueError, match="at most 20 tags"):
        GatewaySettings(hitl_mcp_tags=",".join(f"t{i}" for i in range(21)))
