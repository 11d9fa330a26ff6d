"""Tests for hitl_slack.slack.blocks: pure Block Kit builders, checked against Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from hitl_slack.lifecycle.listing import Listed
from hitl_slack.models import ApprovalRequest, Decision, RequestState, Risk, Status, Vote
from hitl_slack.policy import Policy
from hitl_slack.slack import blocks as B
from hitl_slack.slack import mrkdwn as M
from hitl_slack.slack import views as V

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = T0 + timedelta(seconds=60)
EVIL = ("<!channel>", "<@U1>", "<http://evil|click>")
EVIL_TEXT = "hi <!channel> <@U1> <http://evil|click> & co"


def make_request(**kwargs: Any) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "id": "req_1",
        "summary": "Deploy web",
        "action": "deploy.prod",
        "created_at": T0,
        "timeout": 300,
    }
    return ApprovalRequest(**(fields | kwargs))


def pending(**kwargs: Any) -> RequestState:
    return RequestState(request=make_request(**kwargs), status=Status.PENDING)


def decided(status: Status, request: ApprovalRequest | None = None, **kwargs: Any) -> RequestState:
    req = request or make_request(payload={"n": 1, "s": "a"})
    decision = Decision.model_validate(
        {"request_id": req.id, "status": status, "decided_at": T0, **kwargs}
    )
    return RequestState(request=req, status=status, decision=decision)


def texts(value: Any, kind: str | None = None) -> list[str]:
    """Every text object's text in a JSON tree, optionally only those of one type."""
    if isinstance(value, list):
        return [t for v in value for t in texts(v, kind)]
    if not isinstance(value, dict):
        return []
    own = value.get("type") in ("mrkdwn", "plain_text") and kind in (None, value["type"])
    return ([value["text"]] if own else []) + [t for v in value.values() for t in texts(v, kind)]


def check_blocks(blocks: list[dict[str, Any]], max_blocks: int = 50) -> None:
    """Slack's limits that the SDK does not check (it checks the rest in to_dict)."""
    assert 1 <= len(blocks) <= max_blocks
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or block["fields"]
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert all(e["text"] for e in block["elements"])


def check_message(message: B.Message) -> dict[str, Any]:
    kwargs = message.to_kwargs()
    check_blocks(kwargs["blocks"])
    assert sum(map(len, texts(kwargs["blocks"]))) < 11_000
    compact = json.dumps(kwargs["blocks"], ensure_ascii=False, separators=(",", ":"))
    assert len(compact) < 11_000
    assert 0 < len(kwargs["text"]) <= 3000 + len("Approval needed: ")
    return kwargs


def check_view(view: View) -> dict[str, Any]:
    data = view.to_dict()
    check_blocks(data["blocks"], max_blocks=100)
    return data


def mrkdwn_dump(kwargs: dict[str, Any]) -> str:
    """The fallback text and every mrkdwn text: where Slack parses control sequences."""
    return json.dumps([kwargs["text"], *texts(kwargs["blocks"], "mrkdwn")])


def block_types(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["type"] for b in blocks]


# --- escape / truncate -------------------------------------------------------------------------


def test_escape_replaces_only_the_three_control_characters_ampersand_first() -> None:
    assert M.escape("<!channel> & <@U1> *b* `c`") == "&lt;!channel&gt; &amp; &lt;@U1&gt; *b* `c`"
    assert M.escape("&lt;") == "&amp;lt;"


def test_truncate_keeps_short_text_and_marks_cut_text_within_limit() -> None:
    assert M.truncate("hello", 5) == "hello"
    cut = M.truncate("x" * 100, 20)
    assert cut == "x" * 7 + "… [truncated]"
    assert len(cut) == 20
    assert M.truncate("abcdef", 4, marker="…") == "abc…"


def test_clip_never_cuts_an_entity_in_two() -> None:
    clipped = M.clip("&" * 50, 30)
    assert len(clipped) <= 30
    assert clipped.endswith("… [truncated]")
    assert clipped.removesuffix("… [truncated]") == "&amp;" * 3


# --- approval message --------------------------------------------------------------------------


def test_approval_message_has_header_facts_payload_context_and_three_buttons() -> None:
    state = pending(
        payload={"count": 3, "env": "prod", "dry_run": False},
        agent="ops-bot",
        risk=Risk.HIGH,
        tags=("deploy", "web"),
    )
    kwargs = check_message(B.approval_message(state, now=NOW))
    blocks = kwargs["blocks"]
    assert kwargs["text"] == "Approval needed: Deploy web"
    assert block_types(blocks) == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "Deploy web", "emoji": True}
    epoch = int((T0 + timedelta(seconds=300)).timestamp())
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Action*\n`deploy.prod`",
        "*Agent*\nops-bot",
        "*Risk*\n🟠 high",
        f"*Deadline*\n<!date^{epoch}^{{date_short_pretty}} {{time}}|2025-01-02 03:09 UTC>"
        " (in 4 min)",
    ]
    assert [f["text"] for f in blocks[2]["fields"]] == [
        "*count*\n3",
        "*env*\nprod",
        "*dry_run*\nfalse",
    ]  # the agent's key order
    assert blocks[3]["elements"][0]["text"] == "Request `req_1` · Tags: deploy, web"
    assert blocks[4]["elements"] == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Approve", "emoji": True},
            "action_id": "hitl.approve",
            "value": "req_1",
            "style": "primary",
        },
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Reject", "emoji": True},
            "action_id": "hitl.reject",
            "value": "req_1",
            "style": "danger",
        },
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Edit", "emoji": True},
            "action_id": "hitl.edit",
            "value": "req_1",
        },
    ]


@pytest.mark.parametrize(
    ("risk", "emoji"),
    [(Risk.LOW, "🟢"), (Risk.MEDIUM, "🟡"), (Risk.HIGH, "🟠"), (Risk.CRITICAL, "🔴")],
)
def test_risk_is_shown_with_its_emoji(risk: Risk, emoji: str) -> None:
    blocks = B.approval_message(pending(risk=risk)).to_kwargs()["blocks"]
    assert f"*Risk*\n{emoji} {risk.value}" in texts(blocks)


def test_deadline_shown_is_the_one_in_force_after_a_route_capped_it() -> None:
    capped = T0 + timedelta(seconds=120)  # the request asked for 300 s; its route allows 120
    state = RequestState(request=make_request(), status=Status.PENDING, deadline=capped)
    blocks = B.approval_message(state, now=NOW).to_kwargs()["blocks"]
    assert blocks[1]["fields"][-1]["text"] == (
        f"*Deadline*\n<!date^{int(capped.timestamp())}^{{date_short_pretty}} {{time}}|"
        "2025-01-02 03:06 UTC> (in 60 s)"
    )


def test_deadline_says_passed_once_the_deadline_is_over() -> None:
    blocks = B.approval_message(pending(), now=T0 + timedelta(hours=1)).to_kwargs()["blocks"]
    assert blocks[1]["fields"][-1]["text"].endswith("UTC> (passed)")


def test_untrusted_text_is_escaped_everywhere_slack_parses_it() -> None:
    state = pending(
        summary=EVIL_TEXT,
        agent=EVIL_TEXT,
        tags=(EVIL_TEXT,),
        details=EVIL_TEXT,
        payload={EVIL_TEXT: EVIL_TEXT, "nested": {"k": EVIL_TEXT}},
    )
    kwargs = check_message(B.approval_message(state, note=EVIL_TEXT))
    parsed = mrkdwn_dump(kwargs)
    for raw in EVIL:
        assert raw not in parsed
    assert "&lt;!channel&gt;" in kwargs["text"]
    assert parsed.count("&lt;http://evil|click&gt;") >= 6  # text, agent, tags, details, key, value
    assert "&amp; co" in parsed
    # The header is plain_text, which Slack does not parse: it shows the summary as typed.
    assert kwargs["blocks"][0]["text"]["text"] == EVIL_TEXT


def test_untrusted_text_outside_the_summary_appears_raw_nowhere() -> None:
    state = pending(
        agent=EVIL_TEXT,
        tags=(EVIL_TEXT,),
        details=EVIL_TEXT,
        payload={EVIL_TEXT: EVIL_TEXT, "long": EVIL_TEXT * 10, "deep": [EVIL_TEXT]},
    )
    dumped = json.dumps(B.approval_message(state, note=EVIL_TEXT).to_kwargs())
    for raw in (*EVIL, " & co"):
        assert raw not in dumped
    assert "&lt;!channel&gt;" in dumped


def test_code_fence_in_a_value_cannot_close_the_code_block() -> None:
    state = pending(payload={"cmd": "echo ```\n<!channel>\n```" + "x" * 80})
    text = B.approval_message(state).to_kwargs()["blocks"][2]["text"]["text"]
    fence = "\u02bc" * 3  # a look-alike of ```
    assert text.startswith(f"*cmd*\n```echo {fence}\n&lt;!channel&gt;\n{fence}x")
    assert text.endswith("```")
    assert text.count("```") == 2


def test_long_and_nested_values_go_in_code_blocks_as_pretty_json() -> None:
    state = pending(payload={"a": 1, "cfg": {"k": [1, 2]}, "z": "y" * 61})
    blocks = check_message(B.approval_message(state))["blocks"]
    assert [b.get("text", {}).get("text") for b in blocks[2:5]] == [
        None,
        '*cfg*\n```{\n  "k": [\n    1,\n    2\n  ]\n}```',
        "*z*\n```" + "y" * 61 + "```",
    ]
    assert blocks[2]["fields"] == [{"type": "mrkdwn", "text": "*a*\n1"}]


def test_many_short_fields_are_split_into_sections_of_ten() -> None:
    state = pending(payload={f"k{i:02}": i for i in range(25)})
    blocks = check_message(B.approval_message(state))["blocks"]
    assert [len(b.get("fields", [])) for b in blocks[2:5]] == [10, 10, 5]


def test_huge_string_is_truncated_with_a_visible_marker() -> None:
    state = pending(payload={"blob": "x" * 60_000}, summary="s" * 400)
    kwargs = check_message(B.approval_message(state))
    assert len(kwargs["blocks"][0]["text"]["text"]) == 150
    assert kwargs["blocks"][0]["text"]["text"].endswith("… [truncated]")
    assert kwargs["blocks"][2]["text"]["text"].endswith("… [truncated]```")


def test_payload_with_500_keys_stays_within_limits_and_counts_the_rest() -> None:
    state = pending(
        payload={f"key_{i:03}": f"value {i}" for i in range(500)},
        details="d" * 20_000,
        agent="a" * 200,
        tags=tuple("t" * 64 for _ in range(20)),
    )
    kwargs = check_message(B.approval_message(state, note="n" * 5000))
    last_body = kwargs["blocks"][-5]["elements"][0]["text"]
    assert last_body.startswith("… and ")
    assert last_body.endswith(" more fields (see the Edit dialog)")
    shown = sum(len(b.get("fields", [])) for b in kwargs["blocks"][2:])
    assert f"… and {500 - shown} more fields" in last_body
    assert kwargs["blocks"][-4]["text"]["text"].endswith("… [truncated]")  # details


def test_deep_and_wide_payloads_render_to_valid_blocks() -> None:
    deep: Any = "bottom"
    for _ in range(60):
        deep = {"level": deep}
    payloads = [
        {"deep": deep},
        {f"obj{i}": {"a": "b" * 200, "list": list(range(50))} for i in range(60)},
        {f"s{i}": "é&<" * 300 for i in range(40)},
        {"k" * 5000: 1, "v": "\n" * 3000},
    ]
    for payload in payloads:
        check_message(B.approval_message(pending(payload=payload, details="<d>" * 6000)))


def test_an_empty_payload_shows_no_payload_section() -> None:
    blocks = check_message(B.approval_message(pending()))["blocks"]
    assert block_types(blocks) == ["header", "section", "context", "actions"]


def test_note_is_a_warning_context_above_the_request_line() -> None:
    blocks = B.approval_message(pending(), note="Reminder: <b>").to_kwargs()["blocks"]
    assert blocks[-3]["elements"][0]["text"] == "⚠️ Reminder: &lt;b&gt;"


# --- decided message ---------------------------------------------------------------------------


def test_approved_with_edits_shows_outcome_who_reason_changes_and_no_buttons() -> None:
    req = make_request(payload={"n": 1, "s": "a", "gone": True})
    state = decided(
        Status.APPROVED,
        req,
        payload={"n": 2, "s": "a", "new": [1]},
        edited=True,
        decided_by=("U123",),
        reason="ok <!here>",
    )
    kwargs = check_message(B.decided_message(state))
    blocks = kwargs["blocks"]
    assert kwargs["text"] == "Approved: Deploy web"
    assert "actions" not in block_types(blocks)
    epoch = int(T0.timestamp())
    assert blocks[-2]["text"]["text"] == (
        f"✅ *Approved* by <@U123> · <!date^{epoch}^{{date_short_pretty}} {{time}}|"
        "2025-01-02 03:04 UTC>\n> ok &lt;!here&gt;"
    )
    assert blocks[-1]["text"]["text"] == (
        "*Edited before approval:*\n• *n*: 1 → 2\n• *gone*: true → (absent)\n"
        "• *new*: (absent) → [1]"
    )
    assert [b.get("fields") or b["text"] for b in blocks[2:4]] == [  # the final payload
        [{"type": "mrkdwn", "text": "*n*\n2"}, {"type": "mrkdwn", "text": "*s*\na"}],
        {"type": "mrkdwn", "text": "*new*\n```[\n  1\n]```"},
    ]


@pytest.mark.parametrize(
    ("status", "start"),
    [
        (Status.REJECTED, "❌ *Rejected* by <@W9AB>"),
        (Status.EXPIRED, "⌛ *Expired* (no decision before the deadline)"),
        (Status.CANCELLED, "🚫 *Cancelled* by <@W9AB>"),
    ],
)
def test_each_outcome_has_its_line(status: Status, start: str) -> None:
    by = () if status is Status.EXPIRED else ("W9AB",)
    kwargs = check_message(B.decided_message(decided(status, decided_by=by)))
    assert kwargs["blocks"][-1]["text"]["text"].startswith(start + " · <!date^")
    assert kwargs["text"] == f"{status.value.capitalize()}: Deploy web"


def test_decided_message_shows_the_deadline_without_time_left() -> None:
    blocks = B.decided_message(decided(Status.APPROVED), now=NOW).to_kwargs()["blocks"]
    assert blocks[1]["fields"][-1]["text"].endswith("|2025-01-02 03:09 UTC>")


def test_rejection_without_payload_shows_the_requested_payload() -> None:
    blocks = B.decided_message(decided(Status.REJECTED)).to_kwargs()["blocks"]
    assert [f["text"] for f in blocks[2]["fields"]] == ["*n*\n1", "*s*\na"]


def test_decided_by_that_is_not_a_user_id_is_escaped_text() -> None:
    state = decided(Status.REJECTED, decided_by=("<!channel>", "u123", "U1"), reason=EVIL_TEXT)
    kwargs = check_message(B.decided_message(state))
    outcome = kwargs["blocks"][-1]["text"]["text"]
    assert outcome.startswith("❌ *Rejected* by &lt;!channel&gt;, u123, U1 · ")
    assert outcome.endswith(
        "\n> hi &lt;!channel&gt; &lt;@U1&gt; &lt;http://evil|click&gt; &amp; co"
    )
    for raw in EVIL:
        assert raw not in json.dumps(kwargs)


def test_policy_approval_without_a_person_says_automatically() -> None:
    text = B.decided_message(decided(Status.APPROVED)).to_kwargs()["blocks"][-1]["text"]["text"]
    assert text.startswith("✅ *Approved* automatically · ")


def test_multiline_reason_is_quoted_line_by_line_and_truncated() -> None:
    state = decided(Status.REJECTED, reason="one\ntwo " + "x" * 2990)
    text = B.decided_message(state).to_kwargs()["blocks"][-1]["text"]["text"]
    assert "\n> one\n> two xxx" in text
    assert text.endswith("… [truncated]")


def test_huge_edit_of_a_huge_payload_stays_within_limits() -> None:
    req = make_request(payload={f"k{i}": "<v>" * 40 for i in range(300)}, details="d" * 9000)
    new = {f"k{i}": "<w>" * 40 for i in range(300)}
    state = decided(
        Status.APPROVED, req, payload=new, edited=True, decided_by=("U1",) * 30, reason="r" * 3000
    )
    kwargs = check_message(B.decided_message(state, note="<!here>" * 200))
    changes = kwargs["blocks"][-1]["text"]["text"]
    assert changes.startswith('*Edited before approval:*\n• *k0*: "&lt;v&gt;')
    assert changes.endswith(" more changes")
    assert "<!here>" not in json.dumps(kwargs)


def test_decided_message_needs_a_decision() -> None:
    with pytest.raises(ValueError, match="not decided"):
        B.decided_message(pending())


# --- payload_changes ---------------------------------------------------------------------------


def test_payload_changes_lists_changed_removed_then_added_keys() -> None:
    old = {"a": 1, "b": "x", "c": {"k": 1}, "d": True}
    new = {"new": None, "d": 1, "c": {"k": 1}, "b": "y"}
    assert B.payload_changes(old, new) == [
        ("a", 1, B.MISSING),
        ("b", "x", "y"),
        ("d", True, 1),
        ("new", B.MISSING, None),
    ]
    assert B.payload_changes(old, dict(old)) == []


# --- reject modal ------------------------------------------------------------------------------


@pytest.mark.parametrize("required", [True, False])
def test_reject_modal_asks_a_reason_required_or_optional(required: bool) -> None:
    view = check_view(
        V.reject_modal(
            make_request(summary="Drop <!channel>\ntable"),
            reason_required=required,
            private_metadata="req_1",
        )
    )
    assert view == {
        "type": "modal",
        "callback_id": "hitl.reject_modal",
        "private_metadata": "req_1",
        "title": {"type": "plain_text", "text": "Reject request", "emoji": True},
        "submit": {"type": "plain_text", "text": "Reject", "emoji": True},
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "> Drop &lt;!channel&gt;\n> table"},
            },
            {
                "type": "input",
                "block_id": "reason",
                "optional": not required,
                "label": {"type": "plain_text", "text": "Reason", "emoji": True},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason_input",
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }


# --- edit modal --------------------------------------------------------------------------------


def test_edit_modal_prefills_strings_as_is_and_other_values_as_json() -> None:
    req = make_request(
        payload={"a": "x\ny", "b": 5, "c": True, "d": {"k": [1, "é"]}, "e": None, "f": "z" * 81}
    )
    view = check_view(V.edit_modal(req, private_metadata="req_1"))
    assert view["callback_id"] == "hitl.edit_modal"
    assert view["title"]["text"] == "Edit and approve"
    assert view["submit"]["text"] == "Approve"
    inputs = view["blocks"][1:]
    assert [b["block_id"] for b in inputs] == [f"field:{i}" for i in range(6)]
    assert [b["label"]["text"] for b in inputs] == list("abcdef")
    assert [b["element"].get("initial_value") for b in inputs] == [
        "x\ny",
        "5",
        "true",
        '{"k":[1,"é"]}',
        "null",
        "z" * 81,
    ]
    assert [b["element"].get("multiline", False) for b in inputs] == [
        True,
        False,
        False,
        False,
        False,
        True,
    ]
    assert [b.get("hint", {}).get("text") for b in inputs] == [
        None,
        "JSON value (number)",
        "JSON value (boolean)",
        "JSON value (object)",
        "JSON value (any type)",
        None,
    ]
    assert {b["element"]["action_id"] for b in inputs} == {"value"}
    assert all(b["optional"] for b in inputs)


def test_edit_modal_keeps_too_long_fields_out_of_inputs() -> None:
    req = make_request(payload={"big": "x" * 3001, "ok": "y" * 3000})
    blocks = check_view(V.edit_modal(req, private_metadata=""))["blocks"]
    assert blocks[1] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "`big` is too long to edit here and is kept as is"}
        ],
    }
    assert blocks[2]["block_id"] == "field:1"


def test_edit_modal_with_more_fields_than_blocks_counts_the_kept_ones() -> None:
    req = make_request(payload={f"k{i:03}": i for i in range(150)})
    blocks = check_view(V.edit_modal(req, private_metadata=""))["blocks"]
    assert len(blocks) == 100
    assert blocks[-2]["block_id"] == "field:97"
    assert blocks[-1]["elements"][0]["text"] == (
        "52 more fields can't be shown here and are kept unchanged."
    )


def test_edit_modal_uses_all_100_blocks_when_the_last_field_fits() -> None:
    blocks = check_view(
        V.edit_modal(make_request(payload={f"k{i:02}": i for i in range(99)}), private_metadata="")
    )["blocks"]
    assert len(blocks) == 100
    assert blocks[-1]["block_id"] == "field:98"


def test_edit_modal_for_an_empty_payload_says_so() -> None:
    blocks = check_view(V.edit_modal(make_request(), private_metadata=""))["blocks"]
    assert blocks[-1] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "This request has no arguments to edit."},
    }


def test_edit_modal_escapes_the_summary_but_not_plain_text_labels() -> None:
    req = make_request(summary="<!channel>", payload={"<@U1>": 1})
    blocks = check_view(V.edit_modal(req, private_metadata=""))["blocks"]
    assert blocks[0]["elements"][0]["text"].endswith("&lt;!channel&gt;")
    assert blocks[1]["label"]["text"] == "<@U1>"


# --- parse_edit_submission ---------------------------------------------------------------------


EDITABLE = make_request(payload={"f": 1.5, "n": 5, "o": {"k": 1}, "s": "text", "z": None})


def submitted(**by_key: str | None) -> dict[str, dict[str, dict[str, Any]]]:
    """state.values with the prefilled text, overridden per key."""
    values = {}
    for i, (key, value) in enumerate(EDITABLE.payload.items()):
        text = by_key.get(key, value if isinstance(value, str) else json.dumps(value))
        values[f"field:{i}"] = {"value": {"type": "plain_text_input", "value": text}}
    return values


def test_unchanged_submission_gives_the_original_payload() -> None:
    payload, errors = V.parse_edit_submission(EDITABLE, submitted())
    assert (payload, errors) == (EDITABLE.payload, {})
    assert list(payload) == list(EDITABLE.payload)


def test_edited_string_number_and_object_are_read_back() -> None:
    payload, errors = V.parse_edit_submission(
        EDITABLE, submitted(s='"quoted" <b>', n="7", o='{"k": 2, "new": [true]}', f="3")
    )
    assert errors == {}
    assert payload == {"f": 3, "n": 7, "o": {"k": 2, "new": [True]}, "s": '"quoted" <b>', "z": None}


def test_invalid_json_is_an_error_under_its_block() -> None:
    payload, errors = V.parse_edit_submission(EDITABLE, submitted(n="seven"))
    assert errors == {"field:1": "Not valid JSON: Expecting value. Strings need double quotes."}
    assert payload["n"] == 5


def test_nan_is_not_valid_json() -> None:
    _, errors = V.parse_edit_submission(EDITABLE, submitted(n="NaN"))
    assert errors == {"field:1": "Not valid JSON: NaN is not allowed. Strings need double quotes."}


def test_type_change_is_an_error() -> None:
    _, errors = V.parse_edit_submission(EDITABLE, submitted(n='"7"', o="[1]", f="true"))
    assert errors == {
        "field:1": "Was a number, now a string: keep the type",
        "field:2": "Was an object, now an array: keep the type",
        "field:0": "Was a number, now a boolean: keep the type",
    }


def test_null_original_accepts_any_type() -> None:
    for text, value in (('"s"', "s"), ("[1]", [1]), ("null", None), ("{}", {})):
        payload, errors = V.parse_edit_submission(EDITABLE, submitted(z=text))
        assert (payload["z"], errors) == (value, {})


def test_missing_block_keeps_the_original_value() -> None:
    values = submitted(n="9")
    del values["field:3"]  # "s"
    payload, errors = V.parse_edit_submission(EDITABLE, values)
    assert (payload, errors) == ({**EDITABLE.payload, "n": 9}, {})


def test_empty_input_is_an_empty_string_or_an_error_for_non_strings() -> None:
    payload, errors = V.parse_edit_submission(EDITABLE, submitted(s=None, n=None, o="  "))
    assert payload["s"] == ""
    assert errors == {"field:1": "Enter a JSON value", "field:2": "Enter a JSON value"}


# --- pending list, App Home, help --------------------------------------------------------------


def listed(*states: RequestState, link: str | None = None) -> list[Listed]:
    return [Listed(s, link) for s in states]


def block_text(blocks: list[Block]) -> str:
    return "\n".join(texts([b.to_dict() for b in blocks]))


def test_pending_blocks_says_so_when_empty() -> None:
    assert [b.to_dict() for b in V.pending_blocks(V.Page([]))] == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "No pending requests you can decide."},
        }
    ]


def test_pending_blocks_show_the_true_count_one_page_and_a_next_button() -> None:
    states = [pending(id=f"req_{i}", summary=f"Task {i} <!here>", risk=Risk.LOW) for i in range(20)]
    page = V.Page(listed(*states), offset=20, visible=600, read=700, total=700)
    blocks = [b.to_dict() for b in V.pending_blocks(page, now=NOW)]
    check_blocks(blocks)
    assert blocks[0]["text"]["text"] == "600 pending requests you can decide"
    assert blocks[1]["text"]["text"].startswith(
        "*Task 0 &lt;!here&gt;*\n🟢 low · `deploy.prod` · due <!date^"
    )
    assert blocks[1]["text"]["text"].endswith("UTC> (in 4 min)")
    assert blocks[-2]["elements"][0]["text"] == "Showing 21 to 40 of 600"
    assert blocks[-1]["elements"] == [
        {
            "type": "button",
            "action_id": V.ACTION_PENDING_PAGE,
            "text": {"type": "plain_text", "text": "Next page", "emoji": True},
            "value": "40",
        }
    ]
    assert len(blocks) == 23


def test_pending_blocks_say_at_least_when_not_every_request_was_read() -> None:
    page = V.Page(listed(pending()), visible=1, read=2000, total=2500)
    assert V.headline(page) == (
        "At least 1 pending request you can decide (the 2000 soonest of 2500 pending were checked)"
    )


def test_an_empty_page_of_an_incomplete_read_does_not_claim_there_is_nothing() -> None:
    page = V.Page([], visible=0, read=2000, total=2500)
    assert V.pending_blocks(page)[0].to_dict()["text"]["text"] == (
        "None of the 2000 soonest of 2500 pending requests are yours to decide."
    )


def test_the_last_page_offers_the_first_page_and_a_single_page_no_button() -> None:
    last = V.Page(listed(pending()), offset=40, visible=41, read=41, total=41)
    assert V.pending_blocks(last, now=NOW)[-1].to_dict()["elements"][0]["value"] == "0"
    only = V.Page(listed(pending()), visible=1, read=1, total=1)
    assert [b.type for b in V.pending_blocks(only, now=NOW)] == ["section", "section", "context"]


def test_a_listed_request_links_to_its_message_and_odd_links_are_dropped() -> None:
    good = V.Page(
        listed(pending(), link="https://x.slack.com/archives/C1/p1"), visible=1, read=1, total=1
    )
    assert "· <https://x.slack.com/archives/C1/p1|Open message>" in block_text(
        V.pending_blocks(good, now=NOW)
    )
    for bad in (
        "http://evil",
        "https://a|<!channel>",
        "javascript:x",
        "http://127.0.0.1.evil.example/",  # not the loopback address
        "http://localhost.evil:1/",
    ):
        page = V.Page(listed(pending(), link=bad), visible=1, read=1, total=1)
        assert "Open message" not in block_text(V.pending_blocks(page, now=NOW))
    # The playground's local Slack hands out permalinks to its page on the loopback address.
    local = V.Page(
        listed(pending(), link="http://127.0.0.1:3030/archives/C1/p1"), visible=1, read=1, total=1
    )
    assert "<http://127.0.0.1:3030/archives/C1/p1|Open message>" in block_text(
        V.pending_blocks(local, now=NOW)
    )


def test_home_view_is_a_home_tab_with_one_page() -> None:
    states = [pending(id=f"req_{i}") for i in range(20)]
    page = V.Page(listed(*states), visible=150, read=150, total=150)
    view = check_view(V.home_view(page, now=NOW))
    assert view["type"] == "home"
    assert view["blocks"][0]["text"]["text"] == "Pending approvals"
    assert view["blocks"][-1]["elements"][0]["action_id"] == V.ACTION_HOME_PAGE
    assert len(view["blocks"]) == 24
    notice = check_view(V.home_view(V.Page([]), notice="Redis is down"))
    assert notice["blocks"][1]["text"]["text"] == "Redis is down"


def test_notice_modal_has_no_inputs_and_a_short_title() -> None:
    view = check_view(V.notice_modal("A title longer than twenty-four", "Nothing decided."))
    assert (view["type"], len(view["title"]["text"]), view["blocks"][0]["text"]["text"]) == (
        "modal",
        24,
        "Nothing decided.",
    )
    assert "submit" not in view


def test_help_text_names_the_commands() -> None:
    assert "/hitl pending" in V.HELP_TEXT
    assert "/hitl help" in V.HELP_TEXT


def test_ids_are_namespaced_constants() -> None:
    assert (B.ACTION_APPROVE, B.ACTION_REJECT, B.ACTION_EDIT) == (
        "hitl.approve",
        "hitl.reject",
        "hitl.edit",
    )
    assert (V.VIEW_REJECT, V.VIEW_EDIT, V.REASON_BLOCK, V.REASON_ACTION) == (
        "hitl.reject_modal",
        "hitl.edit_modal",
        "reason",
        "reason_input",
    )


def test_a_pending_line_says_how_many_approvals_a_quorum_request_has() -> None:
    state = pending(payload={"n": 1})
    vote = Vote(who="U0A", what="approve", args_digest=state.args_digest)
    quorum = Policy(channel="C0FIN", approvers=("U0A", "U0B"), quorum=2)
    voted = state.model_copy(update={"policy": quorum, "votes": (vote,)})
    shown = block_text(V.pending_blocks(V.Page(listed(voted, state))))
    assert shown.count("`deploy.prod` · 1 of 2 approvals · due") == 1
    assert shown.count("`deploy.prod` · due") == 1  # one approver decides: nothing to count
