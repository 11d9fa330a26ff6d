"""Every argument an agent passes is validated totally: odd values of any type end in an
InvalidRequest naming the field, never a TypeError, RecursionError or a serialiser's error;
tags are never split into characters."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from hitl_slack import HITLClient, InvalidRequest
from hitl_slack.agent.client import build_request
from hitl_slack.integrations.common import ToolCall, tool_approval
from hitl_slack.models import MAX_PAYLOAD_DEPTH, normalize_tags
from hitl_slack.routing import RouteMatch


def _nested(depth: int, container: str) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value} if container == "dict" else [value]
    return value


class _Weird:
    def __repr__(self) -> str:
        raise RuntimeError("a repr that fails")


ODD: dict[str, Any] = {
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "true": True,
    "false": False,
    "bytes": b"secret",
    "huge_int": 10**400,
    "-huge_int": -(10**400),
    "zero": 0,
    "negative": -1,
    "empty_list": [],
    "empty_dict": {},
    "object": object(),
    "weird_repr": _Weird(),
    "non_str_keys": {1: "x", (2, 3): "y"},
    "deep_dict": _nested(10_000, "dict"),
    "deep_list": _nested(10_000, "list"),
    "empty_str": "",
    "blank_str": "   ",
    "lone_surrogate": "\ud800",
    "long_str": "x" * 100_000,
    "set": {"a", 1},
    "empty_set": set(),
}

FIELDS = [
    "summary",
    "action",
    "payload",
    "details",
    "agent",
    "risk",
    "tags",
    "route",
    "channel",
    "timeout",
    "idempotency_key",
]

#: The only odd values that are fine for a field (all others must be refused).
VALID = {
    ("payload", "empty_dict"),
    ("details", "empty_str"),
    ("details", "blank_str"),
    ("agent", "empty_str"),
    ("agent", "blank_str"),
    ("tags", "empty_list"),
    ("tags", "empty_set"),
}


def _args(field: str, value: Any) -> dict[str, Any]:
    return {"summary": "ok", "action": "act", "payload": {"a": 1}} | {field: value}


@pytest.mark.parametrize("name", sorted(ODD))
@pytest.mark.parametrize("field", FIELDS)
def test_every_odd_value_of_every_argument_is_refused_naming_the_field(field: str, name: str):
    args = _args(field, ODD[name])
    if (field, name) in VALID:
        build_request(**args)
        return
    with pytest.raises(InvalidRequest) as info:
        build_request(**args)
    assert info.value.errors, str(info.value)
    assert {loc.split(".")[0] for loc, _ in info.value.errors} == {field}
    assert str(info.value).startswith(f"invalid approval request: {field}")


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"a": {"b": [1, {"c": float("nan")}]}}, "at a.b[1].c"),
        ({"a": [b"raw"]}, "a bytes at a[0]"),
        ({"x": {1: "one"}}, "key of type int at x"),
        ({"n": 2**64}, "does not fit in 64 bits at n"),
        ({"s": {"set"}}, "a set at s"),
        ({"t": "\udcff"}, "not valid Unicode"),
    ],
)
def test_payload_errors_say_where(payload: dict[str, Any], where: str):
    with pytest.raises(InvalidRequest, match="payload: ") as info:
        build_request("s", "act", payload)
    assert where in str(info.value)


def test_payload_depth_limit_is_documented_and_exact():
    ok = _nested(MAX_PAYLOAD_DEPTH - 1, "dict")
    assert build_request("s", "act", {"k": ok}).payload == {"k": ok}
    with pytest.raises(InvalidRequest, match=f"nested deeper than {MAX_PAYLOAD_DEPTH} levels"):
        build_request("s", "act", {"k": _nested(MAX_PAYLOAD_DEPTH, "dict")})


def test_a_payload_that_is_not_a_dict_is_refused():
    for value in ([1, 2], "text", 0, (), b"{}"):
        with pytest.raises(InvalidRequest, match="payload: must be a dict"):
            build_request("s", "act", value)  # type: ignore[arg-type]


def test_a_bare_string_tag_is_one_tag_and_still_matches_its_route():
    request = build_request("s", "refund", {}, tags="secret")
    assert request.tags == ("secret",)
    assert RouteMatch(tags=["secret"]).matches(request)
    assert not RouteMatch(tags=["s"]).matches(request)
    assert normalize_tags("secret") == ("secret",)
    assert build_request("s", "act", tags=("a", "b")).tags == ("a", "b")
    assert build_request("s", "act", tags={"b", "a"}).tags == ("a", "b")


@pytest.mark.parametrize("tags", [5, 1.5, b"secret", {"a": 1}, ["ok", 5], ("ok", None)])
def test_tags_of_the_wrong_type_are_refused_naming_tags(tags: Any):
    with pytest.raises(InvalidRequest, match=r"tags(\.\d)?: ") as info:
        build_request("s", "act", tags=tags)
    assert info.value.errors[0][0].split(".")[0] == "tags"


def test_the_decorator_takes_a_bare_string_tag_whole_and_refuses_bad_tags(
    client: HITLClient, raw: redis.Redis, prefix: str
):
    @client.require_approval(tags="secret", timeout=0.2, on_denied=None)
    def rotate_keys() -> str:
        return "rotated"

    assert rotate_keys() is None  # expired: no bot in this test
    stored = [
        client.get(rid).request.tags for rid in (e[1]["id"] for e in raw.xrange(f"{prefix}:queue"))
    ]
    assert stored == [("secret",)]
    with pytest.raises(InvalidRequest, match="tags"):
        client.require_approval(tags=5)  # type: ignore[arg-type]


def test_bad_input_writes_nothing(client: HITLClient, raw: redis.Redis, prefix: str):
    for field in FIELDS:
        with pytest.raises(InvalidRequest):
            client.submit(**_args(field, ODD["deep_dict"] if field == "payload" else 10**400))
    assert list(raw.scan_iter(match=f"{prefix}:*")) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"risk": "extreme"}, "risk"),
        ({"timeout": -1}, "timeout"),
        ({"channel": "#ops"}, "channel"),
        ({"tags": [1]}, "tags.0"),
        ({"route": ""}, "route"),
    ],
)
def test_the_decorator_refuses_bad_fixed_arguments_when_applied(
    client: HITLClient, kwargs: dict[str, Any], field: str
):
    with pytest.raises(InvalidRequest) as info:
        client.require_approval(**kwargs)
    assert field in [loc for loc, _ in info.value.errors]


def test_a_tool_approval_may_say_per_call_on_whose_behalf_and_what_to_type() -> None:
    approval = tool_approval(
        requested_by=lambda call: call.args["user"], confirm_text=lambda call: call.args["db"]
    )
    fields = approval.request(ToolCall("c1", "drop_db", {"user": "U0ALICE", "db": "prod"}), None)
    assert (fields["requested_by"], fields["confirm_text"]) == ("U0ALICE", "prod")
    assert build_request(**fields).requested_by == "U0ALICE"
