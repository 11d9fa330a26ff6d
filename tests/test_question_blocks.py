"""A question's message and modal stay inside Block Kit's limits, cut visibly, whatever the
agent asked and the person answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hitl_slack.agent.questions import build_question
from hitl_slack.models import Decision, RequestState, Status
from hitl_slack.slack import blocks, views

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _limits(items: list[dict[str, Any]], most: int) -> None:
    assert len(items) <= most
    for b in items:
        text = b.get("text")
        if isinstance(text, dict):
            assert len(text["text"]) <= 3000
        for f in b.get("fields", []):
            assert len(f["text"]) <= 2000
        assert len(b.get("fields", [])) <= 10
        for e in b.get("elements", []):
            if e.get("type") == "button":
                assert len(e["text"]["text"]) <= 75
            assert len(e.get("text", "")) <= 3000 if isinstance(e.get("text"), str) else True


def _state(request: Any, answer: Any = None) -> RequestState:
    decision = (
        Decision(
            request_id=request.id,
            status=Status.ANSWERED,
            payload={"answer": answer},
            decided_by=("U0BOB",),
        )
        if answer is not None
        else None
    )
    return RequestState(
        request=request,
        status=Status.ANSWERED if decision else Status.PENDING,
        decision=decision,
    )


def test_a_fifty_field_form_with_long_titles_and_answers_fits() -> None:
    fields = {
        f"f{i}": {"type": "string", "title": "T" * 1500, "maxLength": 3000} for i in range(50)
    }
    request = build_question("Q" * 500, schema={"type": "object", "properties": fields})
    modal = views.edit_modal(request, private_metadata="{}").to_dict()
    _limits(modal["blocks"], 100)
    assert len(modal["title"]["text"]) <= 24
    answered = blocks.decided_message(_state(request, {f"f{i}": "x" * 3000 for i in range(50)}))
    _limits([b.to_dict() for b in answered.blocks], 50)
    text = json.dumps([b.to_dict() for b in answered.blocks])
    assert "30 more fields (in the agent" in text  # cut, visibly


def test_long_options_are_cut_on_buttons_and_in_menus() -> None:
    few = build_question(
        "Which?", options=[{"value": f"v{i}", "label": "L" * 300} for i in range(5)]
    )
    message = blocks.approval_message(_state(few), now=NOW)
    _limits([b.to_dict() for b in message.blocks], 50)
    assert "L" * 74 + "…" in json.dumps([b.to_dict() for b in message.blocks], ensure_ascii=False)
    many = build_question("Which?", options=[f"option-{i}-" + "x" * 140 for i in range(100)])
    modal = views.edit_modal(many, private_metadata="{}").to_dict()
    menu = next(b for b in modal["blocks"] if b["type"] == "input")["element"]
    assert menu["type"] == "static_select"
    assert len(menu["options"]) == 100
    assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150 for o in menu["options"])
    _limits([b.to_dict() for b in blocks.approval_message(_state(many), now=NOW).blocks], 50)
