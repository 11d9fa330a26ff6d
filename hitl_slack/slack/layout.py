"""The layout every request's message shares, kept under Slack's limits whatever its kind.

Pure: builds ``slack_sdk.models`` objects, so the SDK checks Slack's limits when ``.to_dict()``
runs; it never talks to Slack or Redis. Untrusted text is escaped by :mod:`hitl_slack.slack.mrkdwn`
before it reaches any ``mrkdwn`` text; ``plain_text`` is not parsed by Slack.

A message is kept under every limit Slack enforces: 50 blocks, 3000 characters per section,
2000 per field, 150 per header, and a total (``msg_blocks_too_long``, undocumented, seen near
13k characters) that :data:`MESSAGE_BUDGET` keeps the compact JSON of all blocks under. A kind
(:mod:`hitl_slack.slack.approval`) gives :func:`request_blocks` the payload to show and its own
blocks (buttons, the outcome) for the tail; the header, facts, payload and details are fitted
around them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from slack_sdk.models.blocks import Block, HeaderBlock, SectionBlock

from hitl_slack.models import OUTCOME_WORDS, RequestState, Status
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
from hitl_slack.slack.policyface import requested_by

__all__ = [
    "MESSAGE_BUDGET",
    "Message",
    "outcome_text",
    "request_blocks",
]

#: Most characters of compact JSON for all blocks of one message (Slack fails near 13k).
MESSAGE_BUDGET: Final = 10_500

_MAX_MESSAGE_BLOCKS = 50
_SHORT_VALUE = 60
_LONG_VALUE = 1500  # JSON characters a code block may take when others wait, so none starves
_DETAILS_RESERVE = 1500


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
    # A question's action is always "question": the header says what it is.
    fields = ["*Action*\n" + inline(request.action, 200)] if request.kind != "question" else []
    if request.agent:
        fields.append(f"*Agent*\n{clip(request.agent, 200)}")
    asked = requested_by(state)
    if asked:
        fields.append(asked)
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


def request_blocks(
    state: RequestState,
    payload: dict[str, Any],
    tail: list[Block],
    note: str | None,
    now: datetime | None,
    more: str,
) -> list[Block]:
    """Header, facts, payload and details of a request, then ``tail``, within every limit.

    Args:
        state: the request.
        payload: the arguments to show (the decided ones once decided), in key order.
        tail: the kind's own blocks, shown last and never cut (buttons, the outcome).
        note: a warning shown above the tail (escaped).
        now: the current time, for the time left; ``None`` shows the deadline alone.
        more: how the "… and N more fields" line ends (where to see the rest).

    Returns:
        The blocks: what does not fit is cut visibly, the tail always kept.
    """
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


def outcome_text(state: RequestState) -> str:
    """The outcome line of a decided request: what, by whom, when, and the reason quoted.

    Raises:
        ValueError: if the request has no decision yet.
    """
    decision = state.decision
    if decision is None:
        raise ValueError(f"request {state.request.id} is not decided")
    emoji, word = OUTCOME_WORDS[decision.status]
    if decision.status is Status.EXPIRED:
        who = " (no decision before the deadline)"
    elif decision.decided_by:
        who = " by " + ", ".join(user(u) for u in decision.decided_by[:10])
    elif decision.status is Status.ANSWERED:  # e.g. by the MCP client's user: the reason says
        who = " outside Slack"
    else:
        who = "" if decision.status is Status.CANCELLED else " automatically"
    text = f"{emoji} *{word}*{who} · {date(decision.decided_at)}"
    return text + ("\n" + quote(clip(decision.reason, 1000)) if decision.reason else "")
