"""The approval kind in Slack: the message with Approve / Reject / Edit, and once decided.

Pure, like :mod:`hitl_slack.slack.layout` (whose shared layout it fills): ``slack_sdk.models``
objects, untrusted text escaped. Its edit modal is :mod:`hitl_slack.slack.editing`; what an
approval means apart from Slack is :mod:`hitl_slack.kinds.approval`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, SectionBlock
from slack_sdk.models.views import View

from hitl_slack.models import OUTCOME_WORDS, ApprovalRequest, RequestState, Status, canonical_json
from hitl_slack.slack import confirming, editing, policyface
from hitl_slack.slack.layout import Message, outcome_text, request_blocks
from hitl_slack.slack.mrkdwn import clip, compact, context, md, plain, plural

__all__ = [
    "ACTION_APPROVE",
    "ACTION_EDIT",
    "ACTION_REJECT",
    "ACTION_RESPOND",
    "APPROVAL",
    "MISSING",
    "Approval",
    "payload_changes",
    "policy_lines",
]

ACTION_APPROVE: Final = "hitl.approve"
ACTION_REJECT: Final = "hitl.reject"
ACTION_EDIT: Final = "hitl.edit"
#: Respond: a person answers in the action's place (when the request offers it).
ACTION_RESPOND: Final = "hitl.respond"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Stands for a key absent on one side in :func:`payload_changes`.
MISSING: Final = _Missing()


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


def policy_lines(state: RequestState) -> list[str]:
    """The lines a pending approval's policy adds above its buttons: an edit, the votes so
    far, an escalation, what to type to approve (none for a request with no policy)."""
    found = (
        policyface.edited_line(state),
        policyface.progress_line(state),
        policyface.escalated_line(state),
        confirming.typed_line(state),
    )
    return [line for line in found if line]


def _buttons(state: RequestState) -> list[ButtonElement]:
    request = state.request
    assert isinstance(request, ApprovalRequest)
    rid = request.id
    buttons = [
        ButtonElement(
            text=plain("Approve"),
            action_id=ACTION_APPROVE,
            value=rid,
            style="primary",
            confirm=policyface.confirm_dialog(state),
        ),
        ButtonElement(text=plain("Reject"), action_id=ACTION_REJECT, value=rid, style="danger"),
    ]
    if request.editable:
        buttons.append(ButtonElement(text=plain("Edit"), action_id=ACTION_EDIT, value=rid))
    if request.respond:
        buttons.append(ButtonElement(text=plain("Respond"), action_id=ACTION_RESPOND, value=rid))
    return buttons


class Approval:
    """The approval kind's Slack face: see :class:`hitl_slack.slack.kinds.SlackKind`."""

    name: Final = "approval"

    def message(self, state: RequestState, *, note: str | None, now: datetime) -> Message:
        """The message asking for a decision, with Approve / Reject / Edit buttons.

        Shows the arguments being decided (:attr:`RequestState.arguments`: the edited ones
        while votes are needed) and what the stored policy adds (:func:`policy_lines`); the
        Approve button asks "are you sure?" when the policy says so at this risk.

        Args:
            state: the pending request.
            note: a warning shown above the buttons (escaped), e.g. a reminder.
            now: the current time, for the time left before the deadline.

        Returns:
            The message; its buttons carry the request id as ``value``, and their block the
            digest of the arguments shown (:func:`policyface.args_block_id`).
        """
        request = state.request
        assert isinstance(request, ApprovalRequest)
        actions = ActionsBlock(block_id=policyface.args_block_id(state), elements=_buttons(state))
        lines = [context(line) for line in policy_lines(state)]
        blocks = request_blocks(
            state, state.arguments, [*lines, actions], note, now, "(see the Edit dialog)"
        )
        return Message("Approval needed: " + clip(request.summary, 3000), blocks)

    def decided_message(self, state: RequestState, *, note: str | None) -> Message:
        """The message once decided: no buttons, the outcome, who, why, what changed.

        Args:
            state: the decided request (``state.decision`` set).
            note: a warning shown under the request (escaped).

        Returns:
            The message showing the final payload (the edited one after an edit).

        Raises:
            ValueError: if the request has no decision yet.
        """
        decision = state.decision
        if decision is None:
            raise ValueError(f"request {state.request.id} is not decided")
        tail: list[Block] = [SectionBlock(text=md(outcome_text(state)))]
        if decision.status is Status.ANSWERED:  # responded in the action's place
            text = str(decision.payload.get("answer", ""))
            tail.append(
                SectionBlock(text=md("*Response* (the action was not run)\n" + clip(text, 2900)))
            )
        if decision.edited:
            changes = _changes_text(state.request.payload, decision.payload)
            tail.append(SectionBlock(text=md(changes)))
        # A rejection or expiry may carry no payload; then the request's own is the final one.
        shown = decision.payload if decision.approved or decision.edited else state.request.payload
        blocks = request_blocks(state, shown, tail, note, None, "not shown")
        word = OUTCOME_WORDS[decision.status].word
        return Message(f"{word}: " + clip(state.request.summary, 3000), blocks)

    def modal(self, request: ApprovalRequest, *, private_metadata: str) -> View:
        """The Edit button's modal: :func:`hitl_slack.slack.editing.edit_modal`."""
        return editing.edit_modal(request, private_metadata=private_metadata)

    def parse_submission(
        self, request: ApprovalRequest, values: editing.FormValues
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The edited arguments: :func:`hitl_slack.slack.editing.parse_edit_submission`."""
        return editing.parse_edit_submission(request, values)


#: The approval kind's face, registered by :mod:`hitl_slack.slack.kinds`.
APPROVAL: Final = Approval()
