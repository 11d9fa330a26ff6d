"""Unit tests for the routes file's policy keys (hitl_slack.routepolicy): quorum, veto,
self-approval, reminders, escalation, on_timeout, notify and confirmation; how they are read,
inherited from [defaults], checked across keys at start, and resolved into the Policy."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from hitl_slack import routesfile
from hitl_slack.errors import ConfigError
from hitl_slack.models import ApprovalRequest, Risk
from hitl_slack.policy import Level, Offset, Policy
from hitl_slack.routepolicy import EscalationLevel, Threshold, parse_offset, threshold
from hitl_slack.routevalues import format_duration
from hitl_slack.routing import (
    Defaults,
    Route,
    Routed,
    RouteMatch,
    RoutesConfig,
    parse_routes,
    resolve,
)

PAYMENTS = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "payments"
match = { action = "wire_*" }
channel = "C0FINANCE"
approvers = ["S0FINANCE", "U0CFO"]
quorum = 2
veto = false
self_approval = true
reminders = ["10m", "80%"]
escalate = [
  { after = "30m", channel = "C0OPS", approvers = ["S0OPS"] },
  { after = "2h", approvers = ["U0CFO"] },
]
on_timeout = "reject"
notify = ["channel", "dm"]
confirm = "medium"
typed_confirm = "critical"
"""

EVERY_DEFAULT = """
[defaults]
channel = "C0APPROVALS"
timeout = "4h"
quorum = 2
veto = false
self_approval = true
reminders = ["80%"]
escalate = [{ after = "1h", approvers = ["U0OPS"] }]
on_timeout = "reject"
notify = ["channel", "dm"]
confirm = "low"
typed_confirm = "high"

[[routes]]
name = "inherits"
match = { action = "inherit_*" }
approvers = ["U0A", "U0B"]

[[routes]]
name = "own"
match = { action = "own_*" }
approvers = ["U0A", "U0B"]
quorum = 1
veto = true
self_approval = false
reminders = []
escalate = []
on_timeout = "expire"
notify = "channel"
confirm = "off"
typed_confirm = "off"
"""


def _config(text: str) -> RoutesConfig:
    return parse_routes(text, source="routes.toml", default_channel=None)


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _config(text)
    return str(info.value)


def _problems(text: str) -> list[str]:
    """The problem lines of a refused routes file."""
    return [line.strip() for line in _error(text).splitlines()[1:]]


def _policy(config: RoutesConfig, action: str, risk: Risk = Risk.HIGH, **more: Any) -> Policy:
    request = ApprovalRequest(summary="s", action=action, risk=risk, **more)
    return resolve(config, request).policy


def _route(body: str, defaults: str = "", match: str = '{ action = "x_*" }') -> str:
    """A routes file with one route named "r" (channel C0R) and ``[defaults]`` channel C0D."""
    return (
        f'[defaults]\nchannel = "C0D"\n{defaults}\n'
        f'[[routes]]\nname = "r"\nchannel = "C0R"\nmatch = {match}\n{body}'
    )


# Reading the keys


def test_every_policy_key_is_read_from_a_route() -> None:
    route = _config(PAYMENTS).routes[0]
    assert route == Route(
        name="payments",
        match=RouteMatch(action=("wire_*",)),
        channel="C0FINANCE",
        approvers=("S0FINANCE", "U0CFO"),
        quorum=2,
        veto=False,
        self_approval=True,
        reminders=(Offset(after=600), Offset(share=0.8)),
        escalate=(
            EscalationLevel(after=1800, channel="C0OPS", approvers=("S0OPS",)),
            EscalationLevel(after=7200, approvers=("U0CFO",)),
        ),
        on_timeout="reject",
        notify=("channel", "dm"),
        confirm="medium",
        typed_confirm="critical",
    )


def test_resolve_fills_every_policy_field_and_leaves_requested_by_to_the_bot() -> None:
    routed = resolve(_config(PAYMENTS), ApprovalRequest(summary="s", action="wire_eur"))
    assert routed == Routed(
        Policy(
            route="payments",
            channel="C0FINANCE",
            approvers=("S0FINANCE", "U0CFO"),
            requested_by=None,
            quorum=2,
            veto=False,
            self_approval=True,
            reminders=(Offset(after=600), Offset(share=0.8)),
            escalate=(
                Level(after=1800, channel="C0OPS", approvers=("S0OPS",)),
                Level(after=7200, approvers=("U0CFO",)),
            ),
            on_timeout="reject",
            notify=("channel", "dm"),
            confirm=Risk.MEDIUM,
            typed_confirm=Risk.CRITICAL,
        )
    )


def test_unset_keys_resolve_to_the_defaults_that_mean_as_before() -> None:
    config = _config('[defaults]\nchannel = "C0D"\n[[routes]]\nname = "r"\napprovers = ["U0A"]\n')
    policy = _policy(config, "anything")
    assert policy == Policy(route="r", channel="C0D", approvers=("U0A",))
    assert policy.model_dump(exclude={"v", "route", "channel", "approvers"}) == {
        "reject_reason_required": False,
        "timeout_cap": None,
        "requested_by": None,
        "quorum": 1,
        "veto": True,
        "self_approval": False,
        "reminders": (),
        "escalate": (),
        "on_timeout": "expire",
        "notify": ("channel",),
        "confirm": Risk.HIGH,
        "typed_confirm": None,
    }


def test_a_route_inherits_each_unset_key_from_defaults_and_overrides_what_it_sets() -> None:
    config = _config(EVERY_DEFAULT)
    inherited: dict[str, Any] = {
        "timeout_cap": 14400.0,
        "quorum": 2,
        "veto": False,
        "self_approval": True,
        "reminders": (Offset(share=0.8),),
        "escalate": (Level(after=3600, approvers=("U0OPS",)),),
        "on_timeout": "reject",
        "notify": ("channel", "dm"),
        "confirm": Risk.LOW,
        "typed_confirm": Risk.HIGH,
    }
    base: dict[str, Any] = {"channel": "C0APPROVALS", "approvers": ("U0A", "U0B")}
    assert _policy(config, "inherit_x") == Policy(route="inherits", **base, **inherited)
    assert _policy(config, "other") == Policy(channel="C0APPROVALS", **inherited)
    # An explicit false, empty list or "off" overrides the defaults; it is not "unset".
    assert _policy(config, "own_x") == Policy(
        route="own", **base, timeout_cap=14400.0, confirm=None, typed_confirm=None
    )


def test_off_switches_confirmation_off_and_a_risk_turns_it_on_from_that_risk() -> None:
    policy = _policy(_config(_route('confirm = "off"\ntyped_confirm = "medium"\n')), "x_1")
    assert (policy.confirm, policy.typed_confirm) == (None, Risk.MEDIUM)
    assert [threshold(t) for t in get_args(Threshold)] == [*Risk, None]


@pytest.mark.parametrize(
    ("value", "offset"),
    [
        ("10m", Offset(after=600)),
        (600, Offset(after=600)),
        ("1h30m", Offset(after=5400)),
        ("80%", Offset(share=0.8)),
        (" 12.5% ", Offset(share=0.125)),
    ],
)
def test_reminders_are_a_duration_after_posting_or_a_share_of_the_wait(
    value: str | int, offset: Offset
) -> None:
    assert parse_offset(value) == offset


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0%", "invalid share '0%'"),
        ("100%", "invalid share '100%'"),
        ("120%", "invalid share '120%'"),
        ("-5%", "invalid share '-5%'"),
        ("lots%", "invalid share 'lots%'"),
        ("soon", "invalid reminder 'soon'"),
        ("0", "invalid reminder '0'"),
        (True, "invalid reminder True"),
        ({"after": 60}, "invalid reminder {'after': 60}"),
    ],
)
def test_bad_reminders_are_refused_naming_the_value(value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 80%") as info:
        parse_offset(value)
    assert str(info.value).startswith(problem)


def test_bad_values_of_single_keys_name_the_route_the_key_and_what_is_allowed() -> None:
    assert _problems(
        _route(
            'quorum = 0\nveto = "sometimes"\nnotify = ["dm", "dm"]\n'
            'escalate = [{ after = "5m", channel = "ops" }, { after = "9m" }, "1h",'
            ' { after = "8m", approvers = ["U0A"], to = "x" }, { channel = "C0OPS" }]\n'
            'on_timeout = "never"\nconfirm = "extreme"\ntyped_confirm = 3\n'
        )
    ) == [
        'routes[0] "r": quorum: Input should be greater than or equal to 1',
        'routes[0] "r": veto: Input should be a valid boolean, unable to interpret input',
        "routes[0] \"r\": escalate[0].channel: invalid channel id 'ops' "
        "(use the channel's id, e.g. C0123ABCD)",
        'routes[0] "r": escalate[1]: gives neither channel nor approvers '
        "(a level needs one or both)",
        'routes[0] "r": escalate[2]: must be a table',
        'routes[0] "r": escalate[3].to: unknown key (allowed: after, approvers, channel)',
        'routes[0] "r": escalate[4].after: required',
        "routes[0] \"r\": on_timeout: Input should be 'expire', 'reject' or 'approve'",
        "routes[0] \"r\": notify: 'dm' given more than once",
        "routes[0] \"r\": confirm: Input should be 'low', 'medium', 'high', 'critical' or 'off'",
        "routes[0] \"r\": typed_confirm: Input should be 'low', 'medium', 'high', "
        "'critical' or 'off'",
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("notify = []", "notify: must be a string or a non-empty list of strings"),
        ('notify = "sms"', "notify[0]: Input should be 'channel' or 'dm'"),
        ("quorum = 1.5", "quorum: Input should be a valid integer"),
        ("quorum = true", "quorum: Input should be a valid integer"),
        ('reminders = "10m"', "reminders: Input should be a valid tuple"),
    ],
)
def test_malformed_lists_and_numbers_are_refused(line: str, problem: str) -> None:
    assert _problems(_route(line)) == [f'routes[0] "r": {problem}']


# Checks across keys, at start


def test_a_file_with_every_bad_value_is_refused_with_one_line_for_each() -> None:
    message = _error(
        '[defaults]\nchannel = "C0D"\ntimeout = "1h"\n'
        '[[routes]]\nname = "payments"\nmatch = { action = "wire_*" }\n'
        'approvers = ["U0A", "U0B"]\nquorum = 3\nreminders = ["10m", "2h"]\n'
        'escalate = [{ after = "30m", channel = "C0OPS" }, { after = "20m", channel = "C0X" }]\n'
        '[[routes]]\nname = "auto"\nmatch = { action = "auto_*" }\non_timeout = "approve"\n'
        'notify = ["channel", "dm"]\n'
        '[[routes]]\nname = "typos"\non_timeout = "never"\nreminders = ["150%"]\n'
        'confirm = "extreme"\n'
    )
    assert message == (
        "invalid routes file routes.toml:\n"
        "  routes[2] \"typos\": reminders[0]: invalid share '150%' (a percentage of the time "
        "to the deadline, more than 0% and less than 100%, e.g. 80%)\n"
        "  routes[2] \"typos\": on_timeout: Input should be 'expire', 'reject' or 'approve'\n"
        "  routes[2] \"typos\": confirm: Input should be 'low', 'medium', 'high', 'critical' "
        "or 'off'\n"
        '  routes[0] "payments": quorum: 3 is more than the 2 people who can approve '
        "(U0A, U0B)\n"
        '  routes[0] "payments": reminders[1]: 2h is not before the route\'s timeout of 1h '
        "(from [defaults])\n"
        '  routes[0] "payments": escalate[1].after: 20m is not after the level before it '
        "(30m): levels go in order, each later than the last\n"
        '  routes[1] "auto": on_timeout: "approve" would approve critical requests at the '
        'deadline: the route matches any risk (give it match risk without "critical")\n'
        '  routes[1] "auto": notify: "dm" needs approvers: the route names none'
    )


def test_quorum_counts_the_distinct_users_of_the_route_and_its_escalation_levels() -> None:
    levels = (
        'escalate = [{ after = "1m", approvers = ["U0B", "U0C"] },'
        ' { after = "2m", approvers = ["U0A"] }]\n'
    )
    assert _config(_route(f'approvers = ["U0A", "U0B"]\nquorum = 3\n{levels}'))
    assert _problems(_route(f'approvers = ["U0A", "U0B"]\nquorum = 4\n{levels}')) == [
        'routes[0] "r": quorum: 4 is more than the 3 people who can approve (U0A, U0B, U0C)'
    ]
    assert _problems(_route('approvers = ["U0A"]', defaults="quorum = 2")) == [
        'routes[0] "r": quorum: 2 (from [defaults]) is more than the 1 person who can approve (U0A)'
    ]


@pytest.mark.parametrize(
    "body",
    [
        'approvers = ["U0A", "S0TEAM"]\nquorum = 5\n',  # a group's size is Slack's to know
        'approvers = ["U0A"]\nquorum = 5\nescalate = [{ after = "1m", approvers = ["S0OPS"] }]\n',
        "quorum = 5\n",  # no approvers: anyone who sees the message may decide
    ],
)
def test_quorum_is_not_checked_at_start_where_groups_or_anyone_may_approve(body: str) -> None:
    assert _config(_route(body)).routes[0].quorum == 5


@pytest.mark.parametrize(
    ("match", "selectable", "reason"),
    [
        ("{}", "false", 'matches any risk (give it match risk without "critical")'),
        ('{ risk = ["high", "critical"] }', "false", "matches critical requests"),
        (
            '{ risk = "low" }',
            "true",
            "is selectable (an agent may pick it with route= for a request of any risk)",
        ),
    ],
)
def test_approve_on_timeout_is_refused_where_a_critical_request_can_arrive(
    match: str, selectable: str, reason: str
) -> None:
    text = (
        '[defaults]\nchannel = "C0D"\n[[routes]]\nname = "r"\n'
        f'match = {match}\nselectable = {selectable}\non_timeout = "approve"\n'
    )
    assert _problems(text) == [
        f'routes[0] "r": on_timeout: "approve" would approve critical requests at the '
        f"deadline: the route {reason}"
    ]


def test_approve_on_timeout_is_allowed_on_a_route_that_never_sees_critical_requests() -> None:
    config = _config(_route('on_timeout = "approve"', match='{ risk = ["low", "medium"] }'))
    assert _policy(config, "x", risk=Risk.LOW).on_timeout == "approve"
    assert _policy(config, "x", risk=Risk.CRITICAL).on_timeout == "expire"  # the defaults


def test_approve_on_timeout_in_defaults_is_refused_and_so_is_each_route_inheriting_it() -> None:
    text = (
        '[defaults]\nchannel = "C0D"\non_timeout = "approve"\n'
        '[[routes]]\nname = "safe"\nmatch = { risk = "low" }\n'
        '[[routes]]\nname = "any"\nmatch = { action = "x" }\n'
    )
    assert _problems(text) == [
        'defaults: on_timeout: "approve" is refused in [defaults]: requests that match no '
        "rule can be critical (set it on routes whose match risk leaves critical out)",
        'routes[1] "any": on_timeout: "approve" (from [defaults]) would approve critical '
        "requests at the deadline: the route matches any risk "
        '(give it match risk without "critical")',
    ]


def test_reminders_and_escalation_must_come_before_the_effective_timeout() -> None:
    late = 'reminders = ["30m", "1h"]\nescalate = [{ after = "1h", channel = "C0OPS" }]\n'
    assert _problems(_route(late, defaults='timeout = "1h"')) == [
        'routes[0] "r": reminders[1]: 1h is not before the route\'s timeout of 1h '
        "(from [defaults])",
        'routes[0] "r": escalate[0].after: 1h is not before the route\'s timeout of 1h '
        "(from [defaults])",
    ]
    assert _problems(_route('timeout = "20m"', defaults=late + 'timeout = "2h"')) == [
        'routes[0] "r": reminders[0]: 30m (from [defaults]) is not before the route\'s '
        "timeout of 20m",
        'routes[0] "r": reminders[1]: 1h (from [defaults]) is not before the route\'s '
        "timeout of 20m",
        'routes[0] "r": escalate[0].after: 1h (from [defaults]) is not before the route\'s '
        "timeout of 20m",
    ]


def test_a_late_reminder_in_defaults_is_told_once_not_again_for_each_inheriting_route() -> None:
    assert _problems(_route("", defaults='timeout = "1h"\nreminders = ["2h"]')) == [
        "defaults: reminders[0]: 2h is not before the timeout of 1h"
    ]


@pytest.mark.parametrize(
    "body",
    [
        'reminders = ["5h", "99%"]\nescalate = [{ after = "6h", channel = "C0OPS" }]\n',
        'timeout = "1h"\nreminders = ["99%"]\n',
    ],
)
def test_without_a_timeout_or_with_shares_there_is_nothing_to_be_late_for(body: str) -> None:
    assert _config(_route(body)).routes[0].reminders


def test_escalation_levels_must_be_strictly_increasing() -> None:
    levels = (
        'escalate = [{ after = "10m", channel = "C0A" }, { after = "10m", channel = "C0B" },'
        ' { after = "5m", channel = "C0C" }]'
    )
    assert _problems(_route("", defaults=levels)) == [
        "defaults: escalate[1].after: 10m is not after the level before it (10m): levels go "
        "in order, each later than the last",
        "defaults: escalate[2].after: 5m is not after the level before it (10m): levels go "
        "in order, each later than the last",
    ]


def test_dm_needs_approvers_except_as_a_default_copy_beside_the_channel() -> None:
    config = _config(
        '[defaults]\nchannel = "C0D"\nnotify = ["channel", "dm"]\n'
        '[[routes]]\nname = "people"\nmatch = { action = "p" }\napprovers = ["U0A"]\n'
        '[[routes]]\nname = "anyone"\nmatch = { action = "a" }\n'
    )
    assert _policy(config, "p").notify == ("channel", "dm")
    assert _policy(config, "a").notify == ("channel", "dm")  # nobody to DM: the channel only
    assert _problems(_route('notify = "dm"')) == [
        'routes[0] "r": notify: "dm" needs approvers: the route names none'
    ]
    assert _problems(_route("", defaults='notify = "dm"')) == [
        'defaults: notify: "dm" alone leaves requests that match no rule unseen: they have '
        'no approvers to send it to (add "channel")',
        'routes[0] "r": notify: "dm" (from [defaults]) needs approvers: the route names none',
    ]


def test_routes_config_built_in_code_checks_the_policy_keys_too() -> None:
    with pytest.raises(ValidationError, match='"approve" is refused in \\[defaults\\]'):
        RoutesConfig(defaults=Defaults(channel="C0D", on_timeout="approve"))
    with pytest.raises(ValidationError, match="quorum: 2 is more than the 1 person"):
        RoutesConfig(
            defaults=Defaults(channel="C0D"),
            routes=(Route(name="r", approvers=("U0A",), quorum=2),),
        )


def test_the_example_in_the_routes_file_docstring_is_a_valid_routes_file() -> None:
    doc = routesfile.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n", 1)[1].split("\n\n", 1)[0])
    config = _config(example)
    policy = _policy(config, "refund_card", Risk.CRITICAL, tags=("finance",), agent="bill-1")
    assert policy.route == "finance"
    assert (policy.quorum, policy.on_timeout, policy.typed_confirm) == (2, "reject", Risk.CRITICAL)
    assert [level.after for level in policy.escalate] == [900, 1500]


# Offsets and durations


def test_a_duration_reminder_is_due_that_long_after_posting() -> None:
    assert Offset(after=600).due(posted_ms=1_000_000, deadline_ms=5_000_000) == 1_600_000


def test_a_share_reminder_is_due_that_share_of_the_way_to_the_deadline() -> None:
    assert Offset(share=0.8).due(posted_ms=1_000_000, deadline_ms=2_000_000) == 1_800_000


def test_a_reminder_at_or_past_the_deadline_is_not_due() -> None:
    assert Offset(after=600).due(posted_ms=0, deadline_ms=600_000) is None
    assert Offset(after=601).due(posted_ms=0, deadline_ms=600_000) is None
    assert Offset(after=599).due(posted_ms=0, deadline_ms=600_000) == 599_000


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(90, "1m30s"), (3600, "1h"), (5400, "1h30m"), (90061, "1d1h1m1s"), (0.5, "0.5s"), (0, "0s")],
)
def test_durations_are_told_as_the_routes_file_writes_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_readmes_worked_example_is_a_valid_routes_file() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Policies: several people and the clock") :]
    start = section.index("```toml") + len("```toml")
    example = section[start : section.index("```", start)]
    config = parse_routes(example, source="README.md", default_channel=None)
    wire = ApprovalRequest(summary="Wire", action="wire_transfer", risk="high")
    policy = resolve(config, wire).policy
    assert (policy.route, policy.quorum, policy.on_timeout) == ("payments", 2, "reject")
    assert [level.after for level in policy.escalate] == [3600, 7200]
