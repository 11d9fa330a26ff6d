"""Block Kit for approvals: the channel message, the reject and edit modals, pending lists.

Pure: builds ``slack_sdk.models`` objects, so the SDK checks Slack's limits when ``.to_dict()``
runs; it never talks to Slack or Redis. Everything that comes from an agent or a reviewer is
untrusted: it is escaped (``& < >``) before it goes into any ``mrkdwn`` text, so ``<!channel>``
or ``<http://evil|click>`` shows as text. ``plain_text`` is not parsed by Slack and is left as is.

A message is kept under every limit Slack enforces: 50 blocks, 3000 characters per section,
2000 per field, 150 per header, and a total (``msg_blocks_too_long``, undocumented, seen near
13k characters) that :data:`MESSAGE_BUDGET` keeps the compact JSON of all blocks under.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from hitl_slack.models import ApprovalRequest, RequestState, Risk, Status, canonical_json

__all__ = [
    "ACTION_APPROVE", "ACTION_EDIT", "ACTION_REJECT", "HELP_TEXT", "MESSAGE_BUDGET", "MISSING",
    "REASON_ACTION", "REASON_BLOCK", "VIEW_EDIT", "VIEW_REJECT", "Message", "approval_message",
    "decided_message", "edit_modal", "escape", "home_view", "parse_edit_submission",
    "payload_changes", "pending_blocks", "reject_modal", "truncate",
]

ACTION_APPROVE: Final = "hitl.approve"
ACTION_REJECT: Final = "hitl.reject"
ACTION_EDIT: Final = "hitl.edit"
VIEW_REJECT: Final = "hitl.reject_modal"
VIEW_EDIT: Final = "hitl.edit_modal"
REASON_BLOCK: Final = "reason"
REASON_ACTION: Final = "reason_input"
#: Most characters of compact JSON for all blocks of one message (Slack fails near 13k).
MESSAGE_BUDGET: Final = 10_500

HELP_TEXT: Final = (
    "*hitl-slack* puts a human in the loop of AI agents.\n"
    "• `/hitl pending`: list the requests waiting for a decision\n"
    "• `/hitl help`: show this help\n"
    "Approve, reject or edit a request with the buttons on its message."
)

_MARKER = "… [truncated]"
_MAX_MESSAGE_BLOCKS = 50
_MAX_VIEW_BLOCKS = 100
_INPUT_MAX = 3000
_SHORT_VALUE = 60
_LONG_VALUE = 1500  # JSON characters a code block may take when others wait, so none starves
_DETAILS_RESERVE = 1500
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_RISK_EMOJI = {Risk.LOW: "🟢", Risk.MEDIUM: "🟡", Risk.HIGH: "🟠", Risk.CRITICAL: "🔴"}
_OUTCOME = {
    Status.APPROVED: ("✅", "Approved"), Status.REJECTED: ("❌", "Rejected"),
    Status.EXPIRED: ("⌛", "Expired"), Status.CANCELLED: ("🚫", "Cancelled"),
}
_TYPE_NAMES = {"null": "null", "boolean": "a boolean", "number": "a number",
               "string": "a string", "array": "an array", "object": "an object"}


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
        return {"text": self.text, "blocks": [b.to_dict() for b in self.blocks]}


def escape(text: str) -> str:
    """Escape Slack's mrkdwn control characters (``&`` first, then ``<`` and ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, marker: str = _MARKER) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``marker`` when cut.

    Args:
        text: the text to shorten.
        limit: the most characters the result may have, marker included.
        marker: what shows that text was cut.

    Returns:
        ``text`` itself if short enough, else its start followed by ``marker``.
    """
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker[:limit]
    return text[: limit - len(marker)] + marker


def _clip(text: str, limit: int) -> str:
    """Escape and truncate to ``limit`` characters without cutting an ``&amp;`` in two."""
    out = escape(text)
    if len(out) <= limit:
        return out
    room, size, pieces = limit - len(_MARKER), 0, []
    for char in text:
        piece = escape(char)
        size += len(piece)
        if size > room:
            break
        pieces.append(piece)
    return "".join(pieces) + _MARKER if room >= 0 else _MARKER[: max(limit, 0)]


def _code(text: str) -> str:
    """Neutralise backtick fences so untrusted text can't close a code block."""
    return text.replace("```", "\u02bc" * 3)


def _inline(text: str, limit: int) -> str:
    """Escaped, truncated text for inline code: backticks become a look-alike."""
    return "`" + _clip(text, limit).replace("`", "\u02cb") + "`"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=True)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_md(text)])


def _cost(block: Block) -> int:
    """Characters of compact JSON for ``block`` and its comma: what the message budget counts."""
    return len(_compact(block.to_dict())) + 1


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


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _date(when: datetime, now: datetime | None = None) -> str:
    """Slack's date token (our own control sequence), with time left if ``now`` is given."""
    fallback = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    token = f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
    if now is None:
        return token
    left = int((when - now).total_seconds())
    if left <= 0:
        return f"{token} (passed)"
    for unit, size, cap in (("s", 1, 90), ("min", 60, 5400), ("h", 3600, 129_600)):
        if left < cap:
            return f"{token} (in {round(left / size)} {unit})"
    return f"{token} (in {round(left / 86_400)} d)"


def _user(user_id: str) -> str:
    return f"<@{user_id}>" if _USER_ID.match(user_id) else _clip(user_id, 100)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


def _risk(risk: Risk) -> str:
    return f"{_RISK_EMOJI[risk]} {risk.value}"


def _meta(state: RequestState, now: datetime | None) -> SectionBlock:
    request = state.request
    fields = ["*Action*\n" + _inline(request.action, 200)]
    if request.agent:
        fields.append(f"*Agent*\n{_clip(request.agent, 200)}")
    deadline = _date(state.effective_deadline, now)
    fields += [f"*Risk*\n{_risk(request.risk)}", f"*Deadline*\n{deadline}"]
    return SectionBlock(fields=[_md(f) for f in fields])


def _short_field(key: str, value: Any) -> str | None:
    """``*key*\\nvalue`` for a short scalar, ``None`` for a value that needs a code block."""
    if isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else _compact(value)
    if len(text) > _SHORT_VALUE or "\n" in text:
        return None
    return f"*{_clip(key, 100)}*\n{escape(text)}"


def _code_section(key: str, value: Any, budget: int) -> Block | None:
    text = _code(value if isinstance(value, str) else json.dumps(value, indent=2,
                                                                  ensure_ascii=False))
    head = f"*{_clip(key, 100)}*\n```"
    if budget < len(head) + 100:
        return None
    return _fit(lambda n: SectionBlock(text=_md(f"{head}{_clip(text, n - len(head) - 3)}```")),
                budget)


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
        used += len(_compact(_md(field).to_dict())) + 1
        if used > budget:
            break
        count += 1
    return (SectionBlock(fields=[_md(f) for f in fields[:count]]) if count else None), count


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
        blocks.append(_context(f"… and {_plural(len(payload) - shown, 'more field')} {more}"))
    return blocks


def _details(details: str, budget: int) -> Block | None:
    head = "*Details*\n"
    return _fit(lambda n: SectionBlock(text=_md(head + _clip(details, n - len(head)))), budget)


def _request_blocks(state: RequestState, payload: dict[str, Any], tail: list[Block],
                    note: str | None, now: datetime | None, more: str) -> list[Block]:
    """Header, facts, payload and details of a request, then ``tail``, within every limit."""
    request = state.request
    head: list[Block] = [HeaderBlock(text=_plain(truncate(" ".join(request.summary.split()), 150))),
                         _meta(state, now)]
    context = f"Request `{_clip(request.id, 128)}`"
    if request.tags:
        context += " · Tags: " + _clip(", ".join(request.tags), 300)
    notes = [_context(f"⚠️ {_clip(note, 500)}")] if note else []
    tail = [*notes, _context(context), *tail]
    budget = MESSAGE_BUDGET - sum(_cost(b) for b in head + tail)
    room = _MAX_MESSAGE_BLOCKS - len(head) - len(tail) - (1 if request.details else 0)
    reserve = min(len(request.details or "") + 40, _DETAILS_RESERVE)
    body = _payload_blocks(payload, budget - reserve, room, more) if payload else []
    details = _details(request.details, budget - sum(map(_cost, body))) if request.details else None
    return [*head, *body, *([details] if details else []), *tail]


def approval_message(state: RequestState, *, note: str | None = None,
                     now: datetime | None = None) -> Message:
    """The message asking for a decision, with Approve / Reject / Edit buttons.

    Args:
        state: the pending request.
        note: a warning shown above the buttons (escaped), e.g. a reminder.
        now: the current time, for the time left before the deadline.

    Returns:
        The message; its buttons carry the request id as ``value``.
    """
    request_id = state.request.id
    actions = ActionsBlock(elements=[
        ButtonElement(text=_plain("Approve"), action_id=ACTION_APPROVE, value=request_id,
                      style="primary"),
        ButtonElement(text=_plain("Reject"), action_id=ACTION_REJECT, value=request_id,
                      style="danger"),
        ButtonElement(text=_plain("Edit"), action_id=ACTION_EDIT, value=request_id),
    ])
    blocks = _request_blocks(state, state.request.payload, [actions], note,
                             now or datetime.now(UTC), "(see the Edit dialog)")
    return Message("Approval needed: " + _clip(state.request.summary, 3000), blocks)


def _outcome(state: RequestState) -> str:
    decision = state.decision
    assert decision is not None
    emoji, word = _OUTCOME[decision.status]
    if decision.status is Status.EXPIRED:
        who = " (no decision before the deadline)"
    elif decision.decided_by:
        who = " by " + ", ".join(_user(u) for u in decision.decided_by[:10])
    else:
        who = "" if decision.status is Status.CANCELLED else " automatically"
    text = f"{emoji} *{word}*{who} · {_date(decision.decided_at)}"
    return text + ("\n" + _quote(_clip(decision.reason, 1000)) if decision.reason else "")


def _changes_text(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = ["*Edited before approval:*"]
    changes = payload_changes(old, new)
    for i, (key, before, after) in enumerate(changes):
        show = [("(absent)" if v is MISSING else _clip(_compact(v), 200)) for v in (before, after)]
        line = f"• *{_clip(key, 100)}*: {show[0]} → {show[1]}"
        if sum(map(len, lines)) + len(line) > 1900:
            lines.append(f"… and {_plural(len(changes) - i, 'more change')}")
            break
        lines.append(line)
    return "\n".join(lines) if changes else lines[0] + " no field changed"


def decided_message(state: RequestState, *, note: str | None = None,
                    now: datetime | None = None) -> Message:
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
    tail: list[Block] = [SectionBlock(text=_md(_outcome(state)))]
    if decision.edited:
        tail.append(SectionBlock(text=_md(_changes_text(state.request.payload, decision.payload))))
    # A rejection or expiry may carry no payload; then the request's own is the final one.
    payload = decision.payload if decision.approved or decision.edited else state.request.payload
    blocks = _request_blocks(state, payload, tail, note, None, "not shown")
    word = _OUTCOME[decision.status][1]
    return Message(f"{word}: " + _clip(state.request.summary, 3000), blocks)


def payload_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Top-level fields that differ between two payloads.

    Args:
        old: the payload as requested.
        new: the payload as decided.

    Returns:
        ``(key, old value or MISSING, new value or MISSING)``: old keys in order, then new ones.
        Values compare as JSON, so ``1`` and ``true`` differ.
    """
    changes = [(k, v, new.get(k, MISSING)) for k, v in old.items()
               if k not in new or canonical_json(v) != canonical_json(new[k])]
    return changes + [(k, MISSING, v) for k, v in new.items() if k not in old]


def reject_modal(request: ApprovalRequest, *, reason_required: bool,
                 private_metadata: str) -> View:
    """The modal asking why a request is rejected.

    Args:
        request: the request being rejected.
        reason_required: whether the reason input may be left empty.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).

    Returns:
        A modal with callback id :data:`VIEW_REJECT`.
    """
    reason = InputBlock(
        block_id=REASON_BLOCK, label=_plain("Reason"), optional=not reason_required,
        element=PlainTextInputElement(action_id=REASON_ACTION, multiline=True,
                                      max_length=_INPUT_MAX),
    )
    return View(type="modal", callback_id=VIEW_REJECT, title=_plain("Reject request"),
                submit=_plain("Reject"), close=_plain("Cancel"),
                private_metadata=private_metadata,
                blocks=[SectionBlock(text=_md(_quote(_clip(request.summary, 2900)))), reason])


def _edit_input(index: int, key: str, value: Any) -> InputBlock | None:
    text = value if isinstance(value, str) else _compact(value)
    if len(text) > _INPUT_MAX:
        return None
    kind = _json_type(value)
    hint = None if kind == "string" else f"JSON value ({'any type' if kind == 'null' else kind})"
    element = PlainTextInputElement(action_id="value", initial_value=text, max_length=_INPUT_MAX,
                                    multiline=len(text) > 80 or "\n" in text)
    return InputBlock(block_id=f"field:{index}", label=_plain(truncate(key, 2000) or "(no name)"),
                      element=element, hint=_plain(hint) if hint else None, optional=True)


def edit_modal(request: ApprovalRequest, *, private_metadata: str) -> View:
    """The modal to edit a request's arguments before approving them.

    One input per top-level field (block id ``field:<index>``, action id ``value``): strings as
    typed, other values as JSON. Fields too long to edit, or beyond the modal's 100 blocks, are
    listed and kept unchanged.

    Args:
        request: the request to edit.
        private_metadata: carried back in the ``view_submission`` (at most 3000 characters).

    Returns:
        A modal with callback id :data:`VIEW_EDIT`.
    """
    blocks: list[Block] = [_context("Edit the arguments, then approve: " +
                                    _clip(request.summary, 500))]
    items = list(request.payload.items())
    for i, (key, value) in enumerate(items):
        if len(blocks) == _MAX_VIEW_BLOCKS - 1 and i < len(items) - 1:
            kept = _plural(len(items) - i, "more field")
            blocks.append(_context(f"{kept} can't be shown here and are kept unchanged."))
            break
        block = _edit_input(i, key, value)
        blocks.append(block or _context(
            f"{_inline(key, 100)} is too long to edit here and is kept as is"))
    if not items:
        blocks.append(SectionBlock(text=_md("This request has no arguments to edit.")))
    return View(type="modal", callback_id=VIEW_EDIT, title=_plain("Edit and approve"),
                submit=_plain("Approve"), close=_plain("Cancel"),
                private_metadata=private_metadata, blocks=blocks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _parse_field(original: Any, text: str) -> tuple[Any, str | None]:
    """The edited value of one field, or the error to show under its input."""
    if isinstance(original, str):
        return text, None
    if not text.strip():
        return original, "Enter a JSON value"
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return original, f"Not valid JSON: {exc.msg}. Strings need double quotes."
    except ValueError as exc:
        return original, f"Not valid JSON: {exc}. Strings need double quotes."
    was, now = _json_type(original), _json_type(value)
    if original is not None and was != now:
        return original, f"Was {_TYPE_NAMES[was]}, now {_TYPE_NAMES[now]}: keep the type"
    return value, None


def parse_edit_submission(
    request: ApprovalRequest, values: dict[str, dict[str, dict[str, Any]]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the edit modal's submission back into a payload.

    Args:
        request: the request whose payload was edited.
        values: ``view["state"]["values"]`` of the submission.

    Returns:
        ``(new_payload, errors)``: the payload in the original key order (fields without an
        input keep their value) and error messages keyed by block id, for
        ``ack(response_action="errors", errors=...)``. Errors empty means the edit is valid.
    """
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for i, (key, original) in enumerate(request.payload.items()):
        state = values.get(f"field:{i}", {}).get("value")
        if state is None:
            payload[key] = original
            continue
        payload[key], error = _parse_field(original, state.get("value") or "")
        if error:
            errors[f"field:{i}"] = error
    return payload, errors


def _pending_line(state: RequestState, now: datetime) -> SectionBlock:
    request = state.request
    return SectionBlock(text=_md(
        f"*{_clip(request.summary, 150)}*\n{_risk(request.risk)} · "
        f"{_inline(request.action, 60)} · due {_date(state.effective_deadline, now)}"
    ))


def pending_blocks(states: list[RequestState], *, now: datetime | None = None,
                   limit: int = 20) -> list[Block]:
    """A compact list of pending requests, for ``/hitl pending`` and the App Home.

    Args:
        states: the pending requests, in the order to show.
        now: the current time, for the time left.
        limit: the most requests to list; the rest are counted.

    Returns:
        One section per request (at most ``limit``), then "… and N more" if some are left out.
    """
    if not states:
        return [SectionBlock(text=_md("No pending requests."))]
    now = now or datetime.now(UTC)
    blocks: list[Block] = [_pending_line(s, now) for s in states[:limit]]
    if len(states) > limit:
        blocks.append(_context(f"… and {len(states) - limit} more"))
    return blocks


def home_view(states: list[RequestState], *, now: datetime | None = None) -> View:
    """The App Home tab: a header and the pending list (within a view's 100 blocks).

    Args:
        states: the pending requests.
        now: the current time.

    Returns:
        A ``home`` view for ``views.publish``.
    """
    header = HeaderBlock(text=_plain("Pending approvals"))
    listed = pending_blocks(states, now=now, limit=_MAX_VIEW_BLOCKS - 2)
    return View(type="home", blocks=[header, *listed])
