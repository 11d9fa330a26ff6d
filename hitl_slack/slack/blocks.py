"""Block Kit for the approval message: pending (with buttons) and decided.

Pure: builds ``slack_sdk.models`` objects, so the SDK checks Slack's limits when ``.to_dict()``
runs; it never talks to Slack or Redis. Untrusted text is escaped by :mod:`hitl_slack.slack.mrkdwn`
before it reaches any ``mrkdwn`` text; ``plain_text`` is not parsed by Slack. Modals and lists
are in :mod:`hitl_slack.slack.views`.

A message is kept under every limit Slack enforces: 50 blocks, 3000 characters per section,
2000 per field, 150 per header, and a total (``msg_blocks_too_long``, undocumented, seen near
13k characters) that :data:`MESSAGE_BUDGET` keeps the compact JSON of all blocks under.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock, SectionBlock

from hitl_slack.models import RequestState, Status, canonical_json
from hitl_slack.slack.mrkdwn import (
    clip,
    code,
    compact,
    context,
    date,
    escape,
    inline,
    md,
    plain,
    plural,
    quote,
    risk,
    truncate,
    user,
)

__all__ = [
    "ACTION_APPROVE",
    "ACTION_EDIT",
    "ACTION_REJECT",
    "MESSAGE_BUDGET",
    "MISSING",
    "Message",
    "approval_message",
    "decided_message",
    "payload_changes",
]

ACTION_APPROVE: Final = "hitl.approve"
ACTION_REJECT: Final = "hitl.reject"
ACTION_EDIT: Final = "hitl.edit"
#: Most characters of compact JSON for all blocks of one message (Slack fails near 13k).
MESSAGE_BUDGET: Final = 10_500

_MAX_MESSAGE_BLOCKS = 50
_SHORT_VALUE = 60
_LONG_VALUE = 1500  # JSON characters a code block may take when others wait, so none starves
_DETAILS_RESERVE = 1500
_OUTCOME = {
    Status.APPROVED: ("✅", "Approved"),
    Status.REJECTED: ("❌", "Rejected"),
    Status.EXPIRED: ("⌛", "Expired"),
    Status.CANCELLED: ("🚫", "Cancelled"),
}


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Stands for a key absent on one side in :func:`payload_changes`.
MISSING: Final = _Missing()


@dataclass(frozen=True)
class Message:
    """A message to post or update: the notification fallback and the blocks.

    Attributes:
        text: mrkdwn fallback for notifications and screen readers (already escaped).
        blocks: the Block Kit blocks.
    """

    text: str
    blocks: list[Block]

    def to_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``chat.postMessage`` / ``chat.update`` (validates the blocks)."""
        return {"text": self.text, "blocks": [_as_dict(b) for b in self.blocks]}


def _as_dict(block: Block) -> dict[str, Any]:
    """``block.to_dict()``, computed once per block and kept on it.

    ``to_dict`` validates every element (the costly part of rendering); the message budget and
    the Web API call both need it. Blocks are never changed once built.
    """
    cached: dict[str, Any] | None = block.__dict__.get("_hitl_dict")
    if cached is None:
        cached = block.__dict__["_hitl_dict"] = block.to_dict()
    return cached


def _cost(block: Block) -> int:
    """Characters of compact JSON for ``block`` and its comma: what the message budget counts."""
    cost: int | None = block.__dict__.get("_hitl_cost")
    if cost is None:
        cost = block.__dict__["_hitl_cost"] = len(compact(_as_dict(block))) + 1
    return cost


def _fit(build: Callable[[int], Block], budget: int, limit: int = 3000) -> Block | None:
    """``build(n)`` clips its text to ``n``; shrink ``n`` until the block costs <= ``budget``."""
    limit = min(limit, budget)
    while limit >= 20:
        block = build(limit)
        over = _cost(block) - budget
        if over <= 0:
            return block
        limit -= over
    return None


def _meta(state: RequestState, now: datetime | None) -> SectionBlock:
    request = state.request
    fields = ["*Action*\n" + inline(request.action, 200)]
    if request.agent:
        fields.append(f"*Agent*\n{clip(request.agent, 200)}")
    deadline = date(state.effective_deadline, now)
    fields += [f"*Risk*\n{risk(request.risk)}", f"*Deadline*\n{deadline}"]
    return SectionBlock(fields=[md(f) for f in fields])


def _short_field(key: str, value: Any) -> str | None:
    """``*key*\\nvalue`` for a short scalar, ``None`` for a value that needs a code block."""
    if isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else compact(value)
    if len(text) > _SHORT_VALUE or "\n" in text:
        return None
    return f"*{clip(key, 100)}*\n{escape(text)}"


def _code_section(key: str, value: Any, budget: int) -> Block | None:
    text = code(
        value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    )
    head = f"*{clip(key, 100)}*\n```"
    if budget < len(head) + 100:
        return None
    return _fit(
        lambda n: SectionBlock(text=md(f"{head}{clip(text, n - len(head) - 3)}```")), budget
    )


def _groups(payload: dict[str, Any]) -> list[list[str] | tuple[str, Any]]:
    """Payload items in order: runs of up to 10 short fields, or one (key, long value)."""
    groups: list[list[str] | tuple[str, Any]] = []
    for key, value in payload.items():
        field = _short_field(key, value)
        if field is None:
            groups.append((key, value))
        elif groups and isinstance(groups[-1], list) and len(groups[-1]) < 10:
            groups[-1].append(field)
        else:
            groups.append([field])
    return groups


def _fields_section(fields: list[str], budget: int) -> tuple[Block | None, int]:
    """A section with the most of ``fields`` that fit ``budget``, and how many it holds."""
    used, count = len('{"type":"section","fields":[]},'), 0
    for field in fields:
        used += len(compact(md(field).to_dict())) + 1
        if used > budget:
            break
        count += 1
    return (SectionBlock(fields=[md(f) for f in fields[:count]]) if count else None), count


def _payload_blocks(payload: dict[str, Any], budget: int, room: int, more: str) -> list[Block]:
    """Sections for ``payload`` in key order, within ``budget`` characters and ``room`` blocks."""
    blocks: list[Block] = []
    shown = 0
    budget, room = budget - 120, room - 1  # keep space for the "… and N more" line
    groups = _groups(payload)
    longs = sum(isinstance(g, tuple) for g in groups)
    for group in groups:
        if len(blocks) >= room:
            break
        if isinstance(group, tuple):
            share = max(_LONG_VALUE, budget // longs)  # a lone long value may take a whole section
            block, count, size, longs = _code_section(*group, min(budget, share)), 1, 1, longs - 1
        else:
            (block, count), size = _fields_section(group, budget), len(group)
        if block is None:
            break
        blocks.append(block)
        budget -= _cost(block)
        shown += count
        if count < size:
            break
    if shown < len(payload):
        blocks.append(context(f"… and {plural(len(payload) - shown, 'more field')} {more}"))
    return blocks


def _details(details: str, budget: int) -> Block | None:
    head = "*Details*\n"
    return _fit(lambda n: SectionBlock(text=md(head + clip(details, n - len(head)))), budget)


def _request_blocks(
    state: RequestState,
    payload: dict[str, Any],
    tail: list[Block],
    note: str | None,
    now: datetime | None,
    more: str,
) -> list[Block]:
    """Header, facts, payload and details of a request, then ``tail``, within every limit."""
    request = state.request
    head: list[Block] = [
        HeaderBlock(text=plain(truncate(" ".join(request.summary.split()), 150))),
        _meta(state, now),
    ]
    line = f"Request `{clip(request.id, 128)}`"
    if request.tags:
        line += " · Tags: " + clip(", ".join(request.tags), 300)
    notes = [context(f"⚠️ {clip(note, 500)}")] if note else []
    tail = [*notes, context(line), *tail]
    budget = MESSAGE_BUDGET - sum(_cost(b) for b in head + tail)
    room = _MAX_MESSAGE_BLOCKS - len(head) - len(tail) - (1 if request.details else 0)
    reserve = min(len(request.details or "") + 40, _DETAILS_RESERVE)
    body = _payload_blocks(payload, budget - reserve, room, more) if payload else []
    details = _details(request.details, budget - sum(map(_cost, body))) if request.details else None
    return [*head, *body, *([details] if details else []), *tail]


def approval_message(
    state: RequestState, *, note: str | None = None, now: datetime | None = None
) -> Message:
    """The message asking for a decision, with Approve / Reject / Edit buttons.

    Args:
        state: the pending request.
        note: a warning shown above the buttons (escaped), e.g. a reminder.
        now: the current time, for the time left before the deadline.

    Returns:
        The message; its buttons carry the request id as ``value``.
    """
    request_id = state.request.id
    actions = ActionsBlock(
        elements=[
            ButtonElement(
                text=plain("Approve"), action_id=ACTION_APPROVE, value=request_id, style="primary"
            ),
            ButtonElement(
                text=plain("Reject"), action_id=ACTION_REJECT, value=request_id, style="danger"
            ),
            ButtonElement(text=plain("Edit"), action_id=ACTION_EDIT, value=request_id),
        ]
    )
    blocks = _request_blocks(
        state,
        state.request.payload,
        [actions],
        note,
        now or datetime.now(UTC),
        "(see the Edit dialog)",
    )
    return Message("Approval needed: " + clip(state.request.summary, 3000), blocks)


def _outcome(state: RequestState) -> str:
    decision = state.decision
    assert decision is not None
    emoji, word = _OUTCOME[decision.status]
    if decision.status is Status.EXPIRED:
        who = " (no decision before the deadline)"
    elif decision.decided_by:
        who = " by " + ", ".join(user(u) for u in decision.decided_by[:10])
    else:
        who = "" if decision.status is Status.CANCELLED else " automatically"
    text = f"{emoji} *{word}*{who} · {date(decision.decided_at)}"
    return text + ("\n" + quote(clip(decision.reason, 1000)) if decision.reason else "")


def _changes_text(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = ["*Edited before approval:*"]
    changes = payload_changes(old, new)
    for i, (key, before, after) in enumerate(changes):
        show = [("(absent)" if v is MISSING else clip(compact(v), 200)) for v in (before, after)]
        line = f"• *{clip(key, 100)}*: {show[0]} → {show[1]}"
        if sum(map(len, lines)) + len(line) > 1900:
            lines.append(f"… and {plural(len(changes) - i, 'more change')}")
            break
        lines.append(line)
    return "\n".join(lines) if changes else lines[0] + " no field changed"


def decided_message(
    state: RequestState, *, note: str | None = None, now: datetime | None = None
) -> Message:
    """The message once a request is decided: no buttons, the outcome, who, why, what changed.

    Args:
        state: the decided request (``state.decision`` set).
        note: a warning shown under the request (escaped).
        now: accepted like :func:`approval_message`'s; a decided message shows no time left.

    Returns:
        The message showing the final payload (the edited one after an edit).

    Raises:
        ValueError: if the request has no decision yet.
    """
    decision = state.decision
    if decision is None:
        raise ValueError(f"request {state.request.id} is not decided")
    tail: list[Block] = [SectionBlock(text=md(_outcome(state)))]
    if decision.edited:
        tail.append(SectionBlock(text=md(_changes_text(state.request.payload, decision.payload))))
    # A rejection or expiry may carry no payload; then the request's own is the final one.
    payload = decision.payload if decision.approved or decision.edited else state.request.payload
    blocks = _request_blocks(state, payload, tail, note, None, "not shown")
    word = _OUTCOME[decision.status][1]
    return Message(f"{word}: " + clip(state.request.summary, 3000), blocks)


def payload_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Top-level fields that differ between two payloads.

    Args:
        old: the payload as requested.
        new: the payload as decided.

    Returns:
        ``(key, old value or MISSING, new value or MISSING)``: old keys in order, then new ones.
        Values compare as JSON, so ``1`` and ``true`` differ.
    """
    changes = [
        (k, v, new.get(k, MISSING))
        for k, v in old.items()
        if k not in new or canonical_json(v) != canonical_json(new[k])
    ]
    return changes + [(k, MISSING, v) for k, v in new.items() if k not in old]
