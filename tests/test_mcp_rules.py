"""The MCP server's pure rules: the risk floor, scopes, results and their text, settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hitl_slack import ConfigError, Decision, Status
from hitl_slack.mcp.http import transport_security
from hitl_slack.mcp.results import decided, failed, pending, render
from hitl_slack.mcp.settings import load_mcp_settings
from hitl_slack.mcp.trust import RISK_ORDER, Identity, Scope, effective_risk
from hitl_slack.models import ApprovalRequest, Risk


@pytest.fixture(autouse=True)
def _no_settings_around(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come from the test alone: no .env of the working tree, no HITL_MCP_* set."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("HITL_", "REDIS_", "LOG_"))]:
        monkeypatch.delenv(name)


#: floor -> the risk filed for a call asking nothing, low, medium, high, critical.
FLOOR_TABLE = {
    Risk.LOW: ["medium", "low", "medium", "high", "critical"],
    Risk.MEDIUM: ["medium", "medium", "medium", "high", "critical"],
    Risk.HIGH: ["high", "high", "high", "high", "critical"],
    Risk.CRITICAL: ["critical"] * 5,
}


@pytest.mark.parametrize("floor", RISK_ORDER)
def test_a_call_may_raise_the_risk_but_never_below_the_floor(floor: Risk):
    assert [effective_risk(asked, floor) for asked in (None, *RISK_ORDER)] == FLOOR_TABLE[floor]


def test_identity_fields_are_the_configured_ones():
    identity = Identity("claude-code", ("mcp",), "ops", Risk.HIGH)
    assert identity.fields(risk="low", timeout=60.0, idempotency_key="k") == {
        "agent": "claude-code",
        "tags": ("mcp",),
        "route": "ops",
        "risk": Risk.HIGH,
        "timeout": 60.0,
        "idempotency_key": "k",
    }


def _request(key: str | None) -> ApprovalRequest:
    return ApprovalRequest(summary="s", action="a", idempotency_key=key)


def test_a_scope_owns_only_the_requests_filed_under_its_key():
    stdio, other_agent = Scope("claude-code"), Scope("cursor")
    alice, bob = Scope("claude-code", "session-a"), Scope("claude-code", "session-b")
    assert stdio.tag == Scope("claude-code").tag  # stable across restarts
    assert len({stdio.tag, other_agent.tag, alice.tag, bob.tag}) == 4
    assert "session-a" not in alice.tag
    mine = _request(alice.key("deploy-1"))
    assert mine.idempotency_key == f"{alice.tag}:deploy-1"
    assert [s.owns(mine) for s in (alice, bob, stdio, other_agent)] == [True, False, False, False]
    assert not alice.owns(_request("deploy-1"))  # an agent's own key, not an MCP scope's
    assert not alice.owns(_request(None))


def test_requests_without_a_key_get_distinct_keys_in_the_scope():
    scope = Scope("claude-code")
    first, second = scope.key(None), scope.key(None)
    assert first != second
    assert scope.owns(_request(first))


def _decision(status: Status, **kw: object) -> Decision:
    return Decision(request_id="req_1", status=status, payload={"n": 3}, **kw)  # type: ignore[arg-type]


def test_an_approval_is_the_only_result_that_approves():
    results = [decided(_decision(s)) for s in Status if s is not Status.PENDING]
    results += [pending("req_1", None), failed("Redis is down")]
    assert [(r.status, r.approved) for r in results] == [
        ("approved", True),
        ("rejected", False),
        ("expired", False),
        ("cancelled", False),
        ("answered", False),  # an approval's Respond: a text in the action's place
        ("pending", False),
        ("error", False),
    ]
    assert all("This is not an approval" in r.message for r in results[1:5] + results[6:])
    assert "Do not act yet" in results[5].message
    # A question's outcomes: only an answer carries one, and none approves anything.
    asked = [decided(_decision(s), question=True) for s in Status if s is not Status.PENDING]
    assert [(r.status, r.approved, r.answer) for r in asked] == [
        ("error", False, None),  # a question is never approved: not an answer
        ("declined", False, None),
        ("expired", False, None),
        ("cancelled", False, None),
        ("answered", False, None),  # _decision's payload has no "answer"
    ]
    answered = decided(
        Decision(request_id="q", status=Status.ANSWERED, payload={"answer": "eu"}), question=True
    )
    assert (answered.status, answered.answer) == ("answered", "eu")


def test_the_text_of_an_edited_approval_gives_the_edited_arguments():
    result = decided(_decision(Status.APPROVED, edited=True, decided_by=("U0ALICE",)))
    assert render(result).splitlines() == [
        "APPROVED (req_1) by U0ALICE",
        "A human approved. Perform the action with exactly these arguments, as the reviewer "
        "edited them (use these, not the ones you proposed).",
        'Arguments: {"n": 3}',
    ]


def test_the_text_of_a_rejection_gives_the_reason_and_no_arguments():
    result = decided(_decision(Status.REJECTED, reason="too big", decided_by=("U0BOB",)))
    assert render(result).splitlines() == [
        "REJECTED (req_1) by U0BOB",
        "A human rejected the request: too big. This is not an approval: do not perform the "
        "action.",
    ]


def test_an_error_says_what_went_wrong_and_that_it_is_not_an_approval():
    assert render(failed("no request 'x' was filed through this MCP server.", "x")) == (
        "ERROR (x)\nno request 'x' was filed through this MCP server. This is not an approval: "
        "do not perform the action."
    )


def test_settings_split_tags_and_name_the_requester_in_the_agent(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HITL_MCP_TAGS", " mcp, deploys ,")
    monkeypatch.setenv("HITL_MCP_AGENT", "claude-code")
    monkeypatch.setenv("HITL_MCP_REQUESTED_BY", "dana")
    settings = load_mcp_settings(hitl_mcp_hold=2.5, hitl_mcp_route=None)
    assert (settings.hitl_mcp_tags, settings.agent, settings.hitl_mcp_hold) == (
        ("mcp", "deploys"),
        "claude-code for dana",
        2.5,
    )
    assert load_mcp_settings(hitl_mcp_tags=["finance"]).hitl_mcp_tags == ("finance",)  # a flag


def test_bad_settings_name_the_variable_and_never_the_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HITL_MCP_TOKEN", "hunter2")
    monkeypatch.setenv("HITL_MCP_MIN_RISK", "extreme")
    monkeypatch.setenv("HITL_MCP_HOLD", "0")
    with pytest.raises(ConfigError) as caught:
        load_mcp_settings()
    message = str(caught.value)
    assert [line.split(":")[0].strip() for line in message.splitlines()[1:]] == [
        "HITL_MCP_MIN_RISK",
        "HITL_MCP_HOLD",
        "HITL_MCP_TOKEN",
    ]
    assert "hunter2" not in message


def test_http_mode_requires_a_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HITL_MCP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="HITL_MCP_TOKEN is not set"):
        load_mcp_settings().require_token()


def test_dns_rebinding_checks_allow_loopback_and_the_configured_hosts():
    local = transport_security(load_mcp_settings())
    proxied = transport_security(
        load_mcp_settings(hitl_mcp_host="10.0.0.5", hitl_mcp_allowed_hosts="hitl.example.com")
    )
    assert local.enable_dns_rebinding_protection
    assert local.allowed_hosts == ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    assert proxied.allowed_hosts == [*local.allowed_hosts, "10.0.0.5:*", "hitl.example.com"]
    assert proxied.allowed_origins[-2:] == ["https://hitl.example.com", "http://hitl.example.com"]
    with pytest.raises(ConfigError, match="HITL_MCP_ALLOWED_HOSTS"):
        load_mcp_settings(hitl_mcp_allowed_hosts="evil.test/path")


def test_the_env_example_as_copied_is_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path):
    example = Path(__file__).parent.parent / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    settings = load_mcp_settings()
    assert settings.model_dump() == type(settings)(_env_file=None).model_dump()
    assert (settings.agent, settings.hitl_mcp_token, settings.hitl_mcp_tags) == ("mcp", None, ())
