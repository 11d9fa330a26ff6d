"""Request kinds: the registry, the approval kind, and a toy second kind added without edits.

The toy ``survey`` kind below is everything a new kind needs: a request model, a class with
the pure parts (:class:`hitl_slack.kinds.Kind`) and one with the Slack parts
(:class:`hitl_slack.slack.kinds.SlackKind`), each registered once. It is then parsed, stored,
rendered, edited and exported by the same entry points as an approval.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pytest
import redis
from pydantic import Field, ValidationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from hitl_slack import HITLClient, InvalidRequest, kinds
from hitl_slack.audit.chain import AuditEntry
from hitl_slack.audit.trail import DATASET_FIELDS, dataset_csv, dataset_rows, read_entries
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import Store
from hitl_slack.models import (
    OUTCOME_WORDS,
    ApprovalRequest,
    AuditEvent,
    Decision,
    RequestBase,
    RequestState,
    Status,
)
from hitl_slack.slack import blocks, layout, views
from hitl_slack.slack import kinds as slack_kinds
from hitl_slack.slack.editing import FormValues
from hitl_slack.slack.mrkdwn import escape, md, plain, truncate

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- a toy second kind: the whole of it ------------------------------------------------------


class QuestionRequest(RequestBase):
    """A question with suggested answers; the human's answer is the decision's payload."""

    kind: Literal["survey"] = "survey"
    question: Annotated[str, Field(min_length=1, max_length=500)]
    options: tuple[str, ...] = ()


class Question:
    name = "survey"
    request = QuestionRequest

    def settle(
        self, request: QuestionRequest, status: Status, payload: dict[str, Any] | None
    ) -> kinds.Settled:
        return kinds.Settled(payload or {}, False)

    def audit_data(self, request: QuestionRequest) -> dict[str, Any]:
        return {
            "kind": "survey",
            "summary": request.summary,
            "action": request.action,
            "agent": request.agent,
            "question": request.question,
            "options": list(request.options),
        }

    def dataset_row(self, created: Mapping[str, Any], decided: AuditEvent) -> dict[str, Any]:
        asked = {"question": created.get("question"), "options": created.get("options")}
        return {
            "request_id": decided.request_id,
            "action": created.get("action"),
            "agent": created.get("agent"),
            "summary": created.get("summary"),
            "original_payload": asked,
            "final_payload": decided.data.get("payload"),
            "edited": False,
            "decision": decided.event,
            "reason": decided.reason,
            "decided_by": decided.actor,
            "decided_at": decided.ts.isoformat(),
        }


class QuestionFace:
    name = "survey"

    def message(self, state: RequestState, *, note: str | None, now: datetime) -> layout.Message:
        request = state.request
        assert isinstance(request, QuestionRequest)
        answers = ActionsBlock(
            elements=[
                ButtonElement(text=plain(o), action_id=f"hitl.answer:{i}", value=request.id)
                for i, o in enumerate(request.options)
            ]
        )
        asked = SectionBlock(text=md("*Question*\n" + escape(request.question)))
        blocks = layout.request_blocks(state, {}, [asked, answers], note, now, "")
        return layout.Message("Question: " + escape(request.summary), blocks)

    def decided_message(self, state: RequestState, *, note: str | None) -> layout.Message:
        assert state.decision is not None
        answer = SectionBlock(text=md("*Answer*\n" + escape(state.decision.payload["answer"])))
        tail = [SectionBlock(text=md(layout.outcome_text(state))), answer]
        word = OUTCOME_WORDS[state.decision.status].word
        return layout.Message(
            f"{word}: {escape(state.request.summary)}",
            layout.request_blocks(state, {}, tail, note, None, ""),
        )

    def modal(self, request: QuestionRequest, *, private_metadata: str) -> View:
        answer = InputBlock(
            block_id="answer",
            label=plain(truncate(request.question, 2000)),
            element=PlainTextInputElement(action_id="value"),
        )
        return View(
            type="modal",
            callback_id="hitl.answer_modal",
            title=plain("Answer"),
            submit=plain("Answer"),
            private_metadata=private_metadata,
            blocks=[answer],
        )

    def parse_submission(
        self, request: QuestionRequest, values: FormValues
    ) -> tuple[dict[str, Any], dict[str, str]]:
        text = (values.get("answer", {}).get("value", {}).get("value") or "").strip()
        return {"answer": text}, ({} if text else {"answer": "Enter an answer"})


@pytest.fixture
def question() -> Iterator[None]:
    kinds.register(Question())
    slack_kinds.register(QuestionFace())
    yield
    slack_kinds.unregister("survey")
    kinds.unregister("survey")


def ask(**changes: Any) -> QuestionRequest:
    fields: dict[str, Any] = {
        "id": "req_q1",
        "summary": "Which region?",
        "action": "pick_region",
        "question": "Deploy to which region?",
        "options": ("eu-west-1", "us-east-1"),
        "created_at": T0,
    }
    return QuestionRequest(**(fields | changes))


def answered(request: RequestBase, answer: str) -> RequestState:
    decision = Decision(
        request_id=request.id,
        status=Status.APPROVED,
        payload={"answer": answer},
        decided_by=("U0ALICE",),
        decided_at=T0,
    )
    return RequestState(request=request, status=Status.APPROVED, decision=decision)


# --- the toy kind goes through every entry point ---------------------------------------------


def test_a_registered_kind_is_parsed_by_its_own_model(question: None):
    stored = ask().model_dump_json()
    parsed = kinds.parse_request(json.dumps(json.loads(stored) | {"from_a_newer_version": 1}))
    assert (type(parsed), parsed) == (QuestionRequest, ask())
    state = RequestState.model_validate({"request": json.loads(stored), "status": "pending"})
    assert state.request == ask()
    assert kinds.names() == ("approval", "question", "survey")


def test_a_registered_kind_is_stored_by_the_store_and_read_back_by_the_registry(
    question: None, store: Store, raw: redis.Redis, keys: Keys
):
    # The store writes any kind (what ops.create needs is shared by every kind).
    state, created = store.create(ask(id="req_q_stored"))  # type: ignore[arg-type]
    assert (created, state.request) == (True, ask(id="req_q_stored"))
    assert kinds.parse_request(raw.hget(keys.request("req_q_stored"), "request") or "") == ask(
        id="req_q_stored"
    )


def test_a_registered_kind_renders_through_blocks_and_views(question: None):
    state = RequestState(request=ask(), status=Status.PENDING)
    message = blocks.approval_message(state, now=T0)
    rendered = json.dumps(message.to_kwargs())
    assert message.text == "Question: Which region?"
    assert "Deploy to which region?" in rendered
    assert [b["action_id"] for b in message.to_kwargs()["blocks"][-1]["elements"]] == [
        "hitl.answer:0",
        "hitl.answer:1",
    ]
    assert "hitl.approve" not in rendered

    done = blocks.decided_message(answered(ask(), "eu-west-1"))
    assert done.text == "Approved: Which region?"
    assert "*Answer*\\neu-west-1" in json.dumps(done.to_kwargs())

    modal = views.edit_modal(ask(), private_metadata="m")  # type: ignore[arg-type]
    assert modal.callback_id == "hitl.answer_modal"
    values = {"answer": {"value": {"value": " eu-west-1 "}}}
    assert views.parse_edit_submission(ask(), values) == ({"answer": "eu-west-1"}, {})  # type: ignore[arg-type]
    assert views.parse_edit_submission(ask(), {}) == (  # type: ignore[arg-type]
        {"answer": ""},
        {"answer": "Enter an answer"},
    )


def test_a_registered_kind_is_exported_by_its_own_row_beside_approvals(question: None):
    approval = ApprovalRequest(id="req_a1", summary="Refund", action="refund", payload={"n": 1})

    def entry(n: int, event: AuditEvent) -> AuditEntry:
        return AuditEntry(f"{n}-0", event.body())

    created = [
        AuditEvent(
            event="created",
            request_id="req_q1",
            actor="agent",
            data=kinds.of(ask()).audit_data(ask()),
        ),
        AuditEvent(
            event="created",
            request_id="req_a1",
            actor="agent",
            data=kinds.APPROVAL.audit_data(approval),
        ),
    ]
    decided = [
        AuditEvent(
            ts=T0,
            event="approved",
            request_id="req_q1",
            actor="slack:U0ALICE",
            data={"payload": {"answer": "eu"}},
        ),
        AuditEvent(ts=T0, event="rejected", request_id="req_a1", actor="slack:U0BOB", reason="no"),
    ]
    rows = list(dataset_rows(entry(i, e) for i, e in enumerate(created + decided)))
    assert rows == [
        {
            "request_id": "req_q1",
            "action": "pick_region",
            "agent": None,
            "summary": "Which region?",
            "original_payload": {
                "question": "Deploy to which region?",
                "options": ["eu-west-1", "us-east-1"],
            },
            "final_payload": {"answer": "eu"},
            "edited": False,
            "decision": "approved",
            "reason": None,
            "decided_by": "slack:U0ALICE",
            "decided_at": T0.isoformat(),
            "votes": [],  # a kind's row written before votes existed: filled in
        },
        {
            "request_id": "req_a1",
            "action": "refund",
            "agent": None,
            "summary": "Refund",
            "original_payload": {"n": 1},
            "final_payload": {"n": 1},
            "edited": False,
            "decision": "rejected",
            "reason": "no",
            "decided_by": "slack:U0BOB",
            "decided_at": T0.isoformat(),
            "votes": [],
        },
    ]
    assert all(list(row) == DATASET_FIELDS for row in rows)
    assert "".join(dataset_csv(rows)).splitlines()[0] == ",".join(DATASET_FIELDS)


def test_a_state_holding_a_registered_kind_serialises_as_that_kind(question: None):
    state = answered(ask(), "eu-west-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic warns when it serialises a field as another type
        dumped = state.model_dump(mode="json")
    assert dumped["request"]["question"] == "Deploy to which region?"
    assert RequestState.model_validate(dumped) == state


def test_once_unregistered_a_kind_is_unknown_again(question: None):
    kinds.unregister("survey")
    with pytest.raises(
        InvalidRequest, match="unknown request kind 'survey' \\(known: 'approval', 'question'\\)"
    ):
        kinds.parse_request(ask().model_dump_json())
    with pytest.raises(ValidationError, match="unknown request kind 'survey'"):
        RequestState(request=ask(), status=Status.PENDING)
    kinds.register(Question())  # for the fixture's clean-up, as it expects


# --- the registry ----------------------------------------------------------------------------


def test_stored_requests_of_any_version_parse_as_approvals():
    stored = {
        "id": "req_old",
        "summary": "Deploy",
        "action": "deploy",
        "created_at": T0.isoformat(),
    }
    expected = ApprovalRequest(id="req_old", summary="Deploy", action="deploy", created_at=T0)
    assert kinds.parse_request(json.dumps(stored)) == expected  # no kind: written before kinds
    newer = stored | {"kind": "approval", "field_of_a_newer_version": [1]}
    assert kinds.parse_request(newer) == expected


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (
            '{"kind": "poll", "summary": "x"}',
            "unknown request kind 'poll' (known: 'approval', 'question')",
        ),
        ('{"kind": 3}', "request kind must be a string, not int"),
        ("[1, 2]", "invalid stored request: not a JSON object"),
        ("{", "invalid stored request: not JSON"),
        ('{"summary": "x"}', "invalid stored request: action: Field required"),
    ],
)
def test_an_unreadable_stored_request_is_an_invalid_request_naming_the_problem(
    stored: str, message: str
):
    with pytest.raises(InvalidRequest) as caught:
        kinds.parse_request(stored)
    assert str(caught.value).startswith(message)


def test_a_request_state_refuses_an_unknown_kind_and_names_it():
    with pytest.raises(ValidationError) as caught:
        RequestState.model_validate({"request": {"kind": "poll"}, "status": "pending"})
    assert caught.value.errors()[0]["loc"] == ("request",)
    assert "unknown request kind 'poll'" in caught.value.errors()[0]["msg"]


def test_a_request_state_validates_a_dict_as_strictly_as_before():
    with pytest.raises(ValidationError) as caught:
        RequestState.model_validate(
            {"request": {"summary": "x", "action": "a", "surprise": 1}, "status": "pending"}
        )
    assert [e["loc"] for e in caught.value.errors()] == [("request", "surprise")]


def test_a_kind_must_carry_its_own_tag_and_a_free_name():
    class Misnamed(Question):
        name = "poll"

    with pytest.raises(ValueError, match=r"QuestionRequest\.kind must default to 'poll'"):
        kinds.register(Misnamed())
    with pytest.raises(ValueError, match="'approval' is already registered"):
        kinds.register(type("Other", (kinds.Approval,), {})())
    kinds.register(kinds.APPROVAL)  # the same kind again changes nothing
    assert kinds.names() == ("approval", "question")


def test_a_slack_face_needs_its_kind_registered_first():
    with pytest.raises(InvalidRequest, match="unknown request kind 'survey'"):
        slack_kinds.register(QuestionFace())


def test_a_kind_without_a_slack_face_says_so_instead_of_rendering_wrong():
    kinds.register(Question())
    try:
        state = RequestState(request=ask(), status=Status.PENDING)
        with pytest.raises(InvalidRequest, match="of kind 'survey', which this bot cannot show"):
            blocks.approval_message(state)
    finally:
        kinds.unregister("survey")


def test_a_row_of_a_kind_this_version_does_not_know_has_the_shared_columns():
    created = {"kind": "poll", "summary": "Lunch?", "action": "ask", "payload": {"a": 1}}
    row = kinds.dataset_row(
        created, AuditEvent(ts=T0, event="cancelled", request_id="req_p", actor="agent")
    )
    assert (row["summary"], row["original_payload"], row["decision"]) == (
        "Lunch?",
        {"a": 1},
        "cancelled",
    )


def test_the_pure_kinds_core_imports_no_slack_code():
    slack = ("slack_sdk", "slack_bolt", "hitl_slack.slack")
    code = f"import sys, hitl_slack.kinds; print([m for m in sys.modules if m.startswith({slack})])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the approval kind: what a decision means, what the audit records ------------------------


def test_an_approval_request_keeps_its_fields_in_the_order_it_always_stored():
    assert list(ApprovalRequest.model_fields) == [
        "v",
        "kind",
        "id",
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
        "created_at",
        "requested_by",  # added after, at the end: the fields before keep their order
        "editable",
        "respond",
        "confirm_text",
    ]
    request = ApprovalRequest(
        id="req_1", summary="S", action="a", payload={"b": 1, "a": 2}, created_at=T0
    )
    assert request.model_dump_json() == (
        '{"v":1,"kind":"approval","id":"req_1","summary":"S","action":"a","payload":{"b":1,"a":2},'
        '"details":null,"agent":null,"risk":"medium","tags":[],"route":null,"channel":null,'
        '"timeout":300.0,"idempotency_key":null,"created_at":"2025-01-02T03:04:05Z",'
        '"requested_by":null,"editable":true,"respond":false,"confirm_text":null}'
    )


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (Status.APPROVED, None),
        (Status.APPROVED, {"amount": 420}),
        (Status.APPROVED, {"amount": 400}),
        (Status.REJECTED, None),
        (Status.CANCELLED, None),
    ],
)
def test_settle_says_what_the_store_records_for_a_decision(
    client: HITLClient, store: Store, status: Status, payload: dict[str, Any] | None
):
    ticket = client.submit("Refund", "refund", {"amount": 420}, timeout=30)
    request = store.get(ticket.request_id).request
    decision = store.decide(ticket.request_id, status, payload=payload, decided_by=("U0ALICE",))
    assert kinds.APPROVAL.settle(request, status, payload) == (decision.payload, decision.edited)


def test_audit_data_is_what_the_created_entry_records(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    ticket = client.submit("Refund", "refund", {"amount": 420}, agent="billing", risk="high")
    request = store.get(ticket.request_id).request
    created = next(e.event() for e in read_entries(raw, keys))
    assert created.data == kinds.of(request).audit_data(request)


# --- one status-to-words table ----------------------------------------------------------------


def test_every_final_status_has_its_words_in_the_one_table():
    assert blocks.OUTCOME_WORDS is OUTCOME_WORDS
    assert {s: (o.emoji, o.word, o.verb) for s, o in OUTCOME_WORDS.items()} == {
        Status.APPROVED: ("✅", "Approved", "approved"),
        Status.REJECTED: ("❌", "Rejected", "rejected"),
        Status.EXPIRED: ("⌛", "Expired", "expired"),
        Status.CANCELLED: ("🚫", "Cancelled", "cancelled"),
        Status.ANSWERED: ("💬", "Answered", "answered"),
    }
