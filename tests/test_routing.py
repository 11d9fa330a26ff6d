"""Unit tests for hitl_slack.routing and hitl_slack.routesfile: durations, the routes file,
resolution into a policy. Who may decide is tested in test_decisions.py."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hitl_slack.authz import may_decide
from hitl_slack.errors import ConfigError
from hitl_slack.models import ApprovalRequest, Risk
from hitl_slack.policy import Policy
from hitl_slack.routing import (
    Defaults,
    Route,
    Routed,
    RouteMatch,
    RoutesConfig,
    is_user_id,
    is_usergroup_id,
    load_routes,
    parse_duration,
    parse_routes,
    resolve,
    selectable_summary,
)

ROUTES = """
[defaults]
channel = "C0APPROVALS"
timeout = "1h"

[[routes]]
name = "finance"
match = { action = "refund_*", risk = ["high", "critical"], tags = ["fin*"], agent = "billing-*" }
channel = "C0FINANCE"
approvers = ["U0ALICE", "S0FINANCE"]
timeout = "30m"
reject_reason = "required"
selectable = true

[[routes]]
name = "risky"
match = { risk = "critical" }
channel = "C0RISK"

[[routes]]
name = "deploys"
match = { action = ["deploy_*", "rollback_*"] }
channel = "C0DEPLOY"
approvers = ["W0BOB"]
selectable = true

[[routes]]
name = "lenient"
match = { action = "noop_*" }
channel = "C0LENIENT"
"""


def _request(**changes: Any) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "summary": "s",
        "action": "refund_payment",
        "risk": "high",
        "tags": ("finance",),
        "agent": "billing-agent",
    }
    return ApprovalRequest(**(fields | changes))


def _config(text: str = ROUTES, default_channel: str | None = None) -> RoutesConfig:
    return parse_routes(text, source="routes.toml", default_channel=default_channel)


def _error(text: str, default_channel: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        _config(text, default_channel)
    return str(info.value)


def _routed(
    name: str | None,
    channel: str,
    approvers: tuple[str, ...] = (),
    timeout_cap: float | None = None,
    reject_reason_required: bool = False,
    note: str | None = None,
) -> Routed:
    """What resolve() returns: the policy to snapshot, and the routing note."""
    policy = Policy(
        route=name,
        channel=channel,
        approvers=approvers,
        timeout_cap=timeout_cap,
        reject_reason_required=reject_reason_required,
    )
    return Routed(policy, note)


FINANCE = _routed(
    name="finance",
    channel="C0FINANCE",
    approvers=("U0ALICE", "S0FINANCE"),
    timeout_cap=1800.0,
    reject_reason_required=True,
    note=None,
)
DEFAULT = _routed(
    name=None,
    channel="C0APPROVALS",
    approvers=(),
    timeout_cap=3600.0,
    reject_reason_required=False,
    note=None,
)


# Durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (2.5, 2.5),
        ("45", 45.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("2h30m", 9000.0),
        ("1d", 86400.0),
        ("1d12h", 129600.0),
        ("1h0m5s", 3605.0),
        ("1.5h", 5400.0),
        (" 10m ", 600.0),
    ],
)
def test_parse_duration_reads_numbers_and_unit_strings(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["", " ", "abc", "1x", "1.5.3m", "30m2h", "h", "-5", "1h 30m", "inf", "nan"],
)
def test_parse_duration_rejects_malformed_text_and_names_the_format(value: str) -> None:
    with pytest.raises(ValueError, match=r"invalid duration .* \(use e\.g\. 90s, 30m, 1h, 1d\)"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["0s", "0", 0, -5, -0.5, "0d0h"])
def test_parse_duration_rejects_zero_and_negative(value: str | int) -> None:
    with pytest.raises(ValueError, match=r"must be more than zero; use e\.g\. 90s"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, float("inf"), float("nan"), None, ["1h"]])
def test_parse_duration_rejects_non_durations(value: Any) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


# Matching


def test_first_matching_rule_wins() -> None:
    assert resolve(_config(), _request(risk="critical")) == FINANCE


def test_later_rule_matches_when_earlier_ones_do_not() -> None:
    assert resolve(_config(), _request(action="delete_db", risk="critical")) == _routed(
        name="risky",
        channel="C0RISK",
        approvers=(),
        timeout_cap=3600.0,
        reject_reason_required=False,
        note=None,
    )


def test_request_matching_no_rule_goes_to_the_default_channel() -> None:
    assert resolve(_config(), _request(action="send_email", risk="low")) == DEFAULT


def test_action_matches_any_glob_in_a_list() -> None:
    config = _config()
    assert resolve(config, _request(action="rollback_api")).policy.route == "deploys"
    assert resolve(config, _request(action="deploy_web")).policy.route == "deploys"
    assert resolve(config, _request(action="redeploy_web")).policy.route is None


def test_action_glob_is_case_sensitive() -> None:
    assert resolve(_config(), _request(action="Refund_payment")).policy.route is None


@pytest.mark.parametrize(
    ("changes", "matched"),
    [
        ({}, True),
        ({"action": "charge_card"}, False),
        ({"risk": "medium"}, False),
        ({"risk": "critical"}, True),
        ({"agent": "support-agent"}, False),
        ({"agent": None}, False),
        ({"tags": ()}, False),
        ({"tags": ("urgent", "finance")}, True),
        ({"tags": ("finances",)}, False),
    ],
)
def test_every_given_match_key_must_fit(changes: dict[str, Any], matched: bool) -> None:
    match = RouteMatch(
        action="refund_*", risk=["high", "critical"], tags=["finance"], agent="billing-*"
    )
    assert match.matches(_request(**changes)) is matched


def test_tags_match_when_any_tag_fits_any_glob() -> None:
    match = RouteMatch(tags=["pay*", "finance"])
    assert match.matches(_request(tags=("ops", "payments")))
    assert match.matches(_request(tags=("finance",)))
    assert not match.matches(_request(tags=("ops",)))


def test_single_values_are_read_as_one_element_lists() -> None:
    assert RouteMatch(action="a*", agent="b", risk="low", tags="t") == RouteMatch(
        action=("a*",),
        agent=("b",),
        risk=(Risk.LOW,),
        tags=("t",),
    )


def test_empty_match_matches_every_request() -> None:
    config = _config('[[routes]]\nname = "all"\nchannel = "C0ALL"\n')
    for request in (_request(), _request(agent=None, tags=(), risk="low", action="x")):
        assert resolve(config, request) == _routed(
            name="all",
            channel="C0ALL",
            approvers=(),
            timeout_cap=None,
            reject_reason_required=False,
            note=None,
        )


# Explicit route= and channel=


def test_explicit_route_wins_over_matching() -> None:
    assert resolve(_config(), _request(route="deploys")) == _routed(
        name="deploys",
        channel="C0DEPLOY",
        approvers=("W0BOB",),
        timeout_cap=3600.0,
        reject_reason_required=False,
        note=None,
    )


def test_explicit_channel_moves_the_message_but_the_matched_rule_keeps_its_approvers() -> None:
    # An agent naming a channel must not escape the approvers its request would get.
    assert resolve(_config(), _request(channel="C0ELSEWHERE")) == _routed(
        name="finance",
        channel="C0ELSEWHERE",
        approvers=("U0ALICE", "S0FINANCE"),
        timeout_cap=1800.0,
        reject_reason_required=True,
        note=None,
    )


def test_explicit_channel_is_refused_where_no_approvers_are_named_and_the_note_says_so() -> None:
    # On an approver-less route the channel decides who may click: the agent must not pick it.
    assert resolve(
        _config(), _request(channel="C0ELSEWHERE", action="send_email", risk="low")
    ) == _routed(
        name=None,
        channel="C0APPROVALS",
        approvers=(),
        timeout_cap=3600.0,
        reject_reason_required=False,
        note="channel C0ELSEWHERE cannot be chosen for this request (its route names no "
        "approvers, so the channel decides who may click): posted in C0APPROVALS",
    )
    assert resolve(_config(), _request(channel="C0ELSEWHERE", action="noop_x")).policy.channel == (
        "C0LENIENT"
    )


def test_channel_selectable_lets_the_agent_move_the_message_and_routes_inherit_it() -> None:
    text = """
    [defaults]
    channel = "C0DEF"
    channel_selectable = true
    [[routes]]
    name = "inherits"
    match = { risk = "low" }
    [[routes]]
    name = "strict"
    match = { risk = "high" }
    channel_selectable = false
    """
    config = _config(text)
    assert resolve(config, _request(channel="C0MINE", risk="medium")).policy.channel == "C0MINE"
    assert resolve(config, _request(channel="C0MINE", risk="low")).policy.channel == "C0MINE"
    strict = resolve(config, _request(channel="C0MINE", risk="high"))
    assert (strict.policy.channel, strict.note is not None) == ("C0DEF", True)


def test_a_route_that_is_not_selectable_cannot_be_named_to_lower_the_bar() -> None:
    # A refund matches "finance" (two approvers); naming the approver-less route changes nothing.
    assert resolve(_config(), _request(route="lenient")) == _routed(
        name="finance",
        channel="C0FINANCE",
        approvers=("U0ALICE", "S0FINANCE"),
        timeout_cap=1800.0,
        reject_reason_required=True,
        note="route 'lenient' cannot be chosen by the agent: routed by rules",
    )


def test_a_tag_matched_route_keeps_its_approver_whatever_route_or_channel_is_named() -> None:
    text = """
    [defaults]
    channel = "C0DEF"
    [[routes]]
    name = "secret"
    match = { tags = "secret" }
    approvers = ["U0ALICE"]
    [[routes]]
    name = "default"
    match = {}
    """
    config = _config(text)
    for extra in (
        {"route": "default"},
        {"channel": "C0OPEN"},
        {"route": "default", "channel": "C0OPEN"},
    ):
        resolved = resolve(config, _request(tags=("secret",), **extra))
        assert (resolved.policy.route, resolved.policy.approvers) == ("secret", ("U0ALICE",))
        assert not may_decide(resolved.policy.approvers, "U0MALLORY", {})


def test_selectable_summary_names_what_agents_may_choose() -> None:
    assert selectable_summary(_config()) == {
        "route": ["finance", "deploys"],
        "channel": ["finance", "deploys"],
    }
    text = '[defaults]\nchannel = "C0D"\nchannel_selectable = true\n'
    assert selectable_summary(_config(text)) == {"route": [], "channel": ["(defaults)"]}


def test_explicit_channel_with_route_uses_that_routes_policy() -> None:
    request = _request(channel="C0ELSEWHERE", route="finance", action="other")
    assert resolve(_config(), request) == _routed(
        name="finance",
        channel="C0ELSEWHERE",
        approvers=("U0ALICE", "S0FINANCE"),
        timeout_cap=1800.0,
        reject_reason_required=True,
        note=None,
    )


def test_explicit_channel_with_unknown_route_uses_the_matched_policy_and_notes_it() -> None:
    request = _request(channel="C0ELSEWHERE", route="nope")
    assert resolve(_config(), request) == _routed(
        name="finance",
        channel="C0ELSEWHERE",
        approvers=("U0ALICE", "S0FINANCE"),
        timeout_cap=1800.0,
        reject_reason_required=True,
        note="unknown route 'nope': routed by rules",
    )


def test_unknown_route_falls_back_to_rules_with_a_note() -> None:
    assert resolve(_config(), _request(route="nope")) == _routed(
        name="finance",
        channel="C0FINANCE",
        approvers=("U0ALICE", "S0FINANCE"),
        timeout_cap=1800.0,
        reject_reason_required=True,
        note="unknown route 'nope': routed by rules",
    )


def test_unknown_route_matching_no_rule_goes_to_the_default_with_a_note() -> None:
    request = _request(route="nope", action="send_email", risk="low")
    assert resolve(_config(), request) == _routed(
        name=None,
        channel="C0APPROVALS",
        approvers=(),
        timeout_cap=3600.0,
        reject_reason_required=False,
        note="unknown route 'nope': routed by rules",
    )


# Defaults: channel, timeout cap, reject reason


def test_default_channel_from_the_environment_when_the_file_has_none() -> None:
    config = _config('[[routes]]\nname = "a"\nmatch = { risk = "low" }\n', "C0ENV")
    assert config.defaults == Defaults(channel="C0ENV")
    assert resolve(config, _request()) == _routed(name=None, channel="C0ENV")
    assert resolve(config, _request(risk="low")) == _routed(name="a", channel="C0ENV")


def test_default_channel_in_the_file_wins_over_the_environment() -> None:
    config = _config(ROUTES, "C0ENV")
    assert config.defaults.channel == "C0APPROVALS"
    assert resolve(config, _request(action="send_email")) == DEFAULT


def test_timeout_cap_comes_from_the_route_else_the_defaults_else_none() -> None:
    text = """
    [defaults]
    channel = "C0DEF"
    timeout = "2h"
    [[routes]]
    name = "own"
    match = { risk = "low" }
    timeout = 600
    [[routes]]
    name = "inherits"
    match = { risk = "high" }
    """
    config = _config(text)
    assert resolve(config, _request(risk="low")).policy.timeout_cap == 600.0
    assert resolve(config, _request(risk="high")).policy.timeout_cap == 7200.0
    assert (
        resolve(_config('[defaults]\nchannel = "C0DEF"\n'), _request()).policy.timeout_cap is None
    )


def test_reject_reason_is_inherited_from_defaults_unless_the_route_sets_it() -> None:
    text = """
    [defaults]
    channel = "C0DEF"
    reject_reason = "required"
    [[routes]]
    name = "lenient"
    match = { risk = "low" }
    reject_reason = "optional"
    [[routes]]
    name = "inherits"
    match = { risk = "high" }
    """
    config = _config(text)
    assert resolve(config, _request(risk="low")).policy.reject_reason_required is False
    assert resolve(config, _request(risk="high")).policy.reject_reason_required is True
    assert resolve(config, _request(risk="medium")).policy.reject_reason_required is True


def test_id_helpers_tell_users_from_groups() -> None:
    assert [is_user_id(s) for s in ("U0ALICE", "W0BOB", "S0FIN", "u0alice", "U0")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [is_usergroup_id(s) for s in ("S0FIN", "U0ALICE", "S0")] == [True, False, False]


# Config errors


def test_invalid_toml_names_the_file() -> None:
    message = _error("[[routes]\nname = ")
    assert message.startswith("invalid routes file routes.toml: not valid TOML: ")
    assert "line 1" in message


def test_bad_duration_names_the_rule_and_field() -> None:
    message = _error(
        '[defaults]\nchannel = "C0D"\n[[routes]]\nname = "a"\n'
        '[[routes]]\nname = "finance"\ntimeout = "abc"\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        "  routes[1] \"finance\": timeout: invalid duration 'abc' (use e.g. 90s, 30m, 1h, 1d)"
    )


def test_unknown_keys_are_errors_listing_the_allowed_keys() -> None:
    message = _error(
        'foo = 1\n[defaults]\nchanel = "C0D"\n'
        '[[routes]]\nname = "a"\nchannel = "C0A"\napprover = []\n'
        'match = { acton = "x" }\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        "  foo: unknown top-level key (allowed: defaults, routes)\n"
        "  defaults: chanel: unknown key (allowed: channel, channel_selectable, confirm, "
        "escalate, notify, on_timeout, quorum, reject_reason, reminders, self_approval, "
        "timeout, typed_confirm, veto)\n"
        '  routes[0] "a": match.acton: unknown key (allowed: action, agent, kind, risk, tags)\n'
        '  routes[0] "a": approver: unknown key '
        "(allowed: approvers, channel, channel_selectable, confirm, escalate, match, name, "
        "notify, on_timeout, quorum, reject_reason, reminders, selectable, self_approval, "
        "timeout, typed_confirm, veto)"
    )


def test_malformed_ids_are_errors() -> None:
    message = _error(
        '[defaults]\nchannel = "general"\n'
        '[[routes]]\nname = "a"\nchannel = "C0A"\napprovers = ["U0ALICE", "alice"]\n',
        "C0ENV",
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        "  defaults: channel: invalid channel id 'general' (use the channel's id, e.g. C0123ABCD)\n"
        "  routes[0] \"a\": approvers[1]: invalid approver id 'alice' "
        "(user ids start with U or W, user group ids with S, e.g. U0123ABCD)"
    )


def test_malformed_default_channel_from_the_environment_is_an_error() -> None:
    assert "HITL_DEFAULT_CHANNEL: invalid channel id '#ops'" in _error("", "#ops")


def test_bad_values_in_match_and_policy_are_errors() -> None:
    message = _error(
        '[defaults]\nchannel = "C0D"\n[[routes]]\nname = "a"\n'
        'match = { risk = ["high", "huge"], tags = [], agent = 3, action = [""] }\n'
        'reject_reason = "maybe"\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        "  routes[0] \"a\": reject_reason: Input should be 'required' or 'optional'\n"
        '  routes[0] "a": match.action[0]: String should have at least 1 character\n'
        '  routes[0] "a": match.agent: must be a string or a non-empty list of strings\n'
        '  routes[0] "a": match.risk[1]: '
        "Input should be 'low', 'medium', 'high' or 'critical'\n"
        '  routes[0] "a": match.tags: must be a string or a non-empty list of strings'
    )


def test_duplicate_route_name_is_an_error() -> None:
    message = _error(
        '[defaults]\nchannel = "C0D"\n[[routes]]\nname = "a"\n'
        '[[routes]]\nname = "b"\n[[routes]]\nname = "a"\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        '  routes[2] "a": name: duplicate route name (already used by routes[0])'
    )


def test_route_without_name_and_non_table_route_are_errors() -> None:
    message = _error('routes = [{ channel = "C0A" }, 5]\n', "C0D")
    assert message == (
        "invalid routes file routes.toml:\n"
        "  routes[0]: name: required\n"
        "  routes[1]: must be a table"
    )


def test_routes_as_a_single_table_is_an_error() -> None:
    assert "routes: must be an array of tables, written [[routes]]" in _error(
        '[routes]\nname = "a"\n',
        "C0D",
    )


def test_route_without_channel_and_no_default_channel_is_an_error() -> None:
    message = _error(
        '[[routes]]\nname = "a"\nmatch = { risk = "low" }\n'
        '[[routes]]\nname = "all"\nchannel = "C0ALL"\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        '  routes[0] "a": channel: not set and no default channel: '
        "set it here, [defaults] channel or HITL_DEFAULT_CHANNEL"
    )


def test_no_default_channel_for_unmatched_requests_is_an_error() -> None:
    message = _error('[[routes]]\nname = "a"\nmatch = { risk = "low" }\nchannel = "C0A"\n')
    assert message == (
        "invalid routes file routes.toml:\n"
        "  no channel configured: set HITL_DEFAULT_CHANNEL or [defaults] channel "
        "in the routes file (for requests that match no rule)"
    )


def test_catch_all_route_with_a_channel_needs_no_default_channel() -> None:
    config = _config('[[routes]]\nname = "all"\nchannel = "C0ALL"\n')
    assert config == RoutesConfig(routes=(Route(name="all", channel="C0ALL"),))


def test_every_problem_is_reported_together() -> None:
    message = _error(
        '[defaults]\ntimeout = "0s"\n'
        '[[routes]]\nname = "finance"\ntimeout = "1x"\nchannel = "nope"\n'
        '[[routes]]\nname = "finance"\nmatch = { risk = "low" }\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        "  defaults: timeout: invalid duration '0s' (must be more than zero; "
        "use e.g. 90s, 30m, 1h, 1d)\n"
        "  routes[0] \"finance\": timeout: invalid duration '1x' (use e.g. 90s, 30m, 1h, 1d)\n"
        "  routes[0] \"finance\": channel: invalid channel id 'nope' "
        "(use the channel's id, e.g. C0123ABCD)\n"
        '  routes[1] "finance": name: duplicate route name (already used by routes[0])'
    )


def test_routes_config_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="duplicate route name"):
        RoutesConfig(defaults=Defaults(channel="C0D"), routes=(Route(name="a"), Route(name="a")))
    with pytest.raises(ValidationError, match="no channel configured"):
        RoutesConfig()


# Loading


def test_load_routes_reads_the_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "routes.toml"
        path.write_text(ROUTES)
        assert load_routes(path, default_channel=None) == _config()
        assert load_routes(str(path), default_channel="C0ENV") == _config()


def test_load_routes_names_the_file_in_errors() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "routes.toml"
        path.write_text('[[routes]]\nname = "a"\ntimeout = "abc"\n')
        with pytest.raises(ConfigError, match=f"invalid routes file {path}:"):
            load_routes(path, default_channel="C0D")


def test_missing_routes_file_is_an_error_naming_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        load_routes("/nonexistent/routes.toml", default_channel="C0D")
    assert str(info.value) == "routes file not found: /nonexistent/routes.toml (HITL_ROUTES_FILE)"


def test_unreadable_or_non_utf8_routes_file_is_an_error() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with pytest.raises(ConfigError, match=f"cannot read routes file {tmp}: "):
            load_routes(tmp, default_channel="C0D")
        path = Path(tmp) / "routes.toml"
        path.write_bytes(b"\xff\xfe")
        with pytest.raises(ConfigError, match=f"invalid routes file {path}: not UTF-8 text"):
            load_routes(path, default_channel="C0D")


def test_unknown_key_named_match_in_defaults_lists_the_defaults_keys() -> None:
    assert (
        "defaults: match: unknown key (allowed: channel, channel_selectable, confirm, "
        "escalate, notify, on_timeout, quorum, reject_reason, reminders, self_approval, "
        "timeout, typed_confirm, veto)"
    ) in _error(
        '[defaults]\nchannel = "C0D"\nmatch = { risk = "low" }\n',
    )


def test_no_routes_file_sends_everything_to_the_default_channel() -> None:
    config = load_routes(None, default_channel="C0ENV")
    assert config == RoutesConfig(defaults=Defaults(channel="C0ENV"))
    assert resolve(config, _request()) == _routed(name=None, channel="C0ENV")


def test_no_routes_file_and_no_default_channel_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_routes(None, default_channel=None)
    assert str(info.value) == (
        "no channel configured: set HITL_DEFAULT_CHANNEL or [defaults] channel in the routes file"
    )


def test_no_routes_file_with_malformed_default_channel_is_an_error() -> None:
    with pytest.raises(ConfigError, match="HITL_DEFAULT_CHANNEL: invalid channel id 'ops'"):
        load_routes(None, default_channel="ops")
