"""Typed confirmation: the approver of a risky request types a value to approve it.

Pure, like :mod:`hitl_slack.slack.layout`. Whether a request needs it is read from the policy
STORED with it (:func:`required`), never from a payload, so a forged click or submission cannot
skip it: an Approve click opens :func:`confirm_modal` instead of approving, and an edit modal
carries :func:`typed_input` too; each submission is checked with :func:`mismatch` before
anything is recorded. The value is :attr:`ApprovalRequest.confirmation` (``confirm_text``, else
the action), shown on the message (:func:`typed_line`) so the approver knows what to type.
"""

from __future__ import annotations

from typing import Final

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement, SectionBlock
from slack_sdk.models.views import View

from hitl_slack.models import ApprovalRequest, RequestState
from hitl_slack.policy import at_or_above
from hitl_slack.slack.editing import FormValues
from hitl_slack.slack.mrkdwn import clip, inline, md, plain, quote, truncate
from hitl_slack.slack.policyface import dialog_text

__all__ = [
    "CONFIRM_ACTION",
    "CONFIRM_BLOCK",
    "VIEW_CONFIRM",
    "confirm_modal",
    "mismatch",
    "required",
    "typed_input",
    "typed_line",
]

VIEW_CONFIRM: Final = "hitl.confirm"
#: The typed value's input (block and action ids), in the confirm modal and the edit modal.
CONFIRM_BLOCK: Final = "hitl.typed"
CONFIRM_ACTION: Final = "value"


def required(state: RequestState) -> bool:
    """Whether approving this pending request needs the typed value (its stored policy's
    ``typed_confirm`` at its risk); False for a request with no policy yet, or decided."""
    policy = state.policy
    return (
        state.pending
        and policy is not None
        and isinstance(state.request, ApprovalRequest)
        and at_or_above(state.request.risk, policy.typed_confirm)
    )


def typed_line(state: RequestState) -> str | None:
    """The message's line saying what to type to approve; None when nothing is typed."""
    if not required(state):
        return None
    assert isinstance(state.request, ApprovalRequest)
    return "🔐 To approve, type " + inline(state.request.confirmation, 100)


def typed_input(request: ApprovalRequest) -> InputBlock:
    """The input asking for the value (block :data:`CONFIRM_BLOCK`)."""
    return InputBlock(
        block_id=CONFIRM_BLOCK,
        label=plain(truncate(f"Type {request.confirmation} to approve", 2000)),
        element=PlainTextInputElement(action_id=CONFIRM_ACTION, max_length=300),
        hint=plain("Exactly as shown: it confirms you mean to approve this action."),
    )


def confirm_modal(state: RequestState, *, private_metadata: str) -> View:
    """The modal an Approve click opens when the value must be typed.

    Args:
        state: the pending approval (its arguments as they stand are summed up).
        private_metadata: carried back in the ``view_submission`` (:func:`payloads.metadata`,
            with the digest of the arguments the approver saw).

    Returns:
        A modal with callback id :data:`VIEW_CONFIRM`.
    """
    request = state.request
    assert isinstance(request, ApprovalRequest)
    blocks: list[Block] = [
        SectionBlock(text=md(quote(clip(request.summary, 2500)))),
        SectionBlock(text=md(dialog_text(request, state.arguments))),
        typed_input(request),
    ]
    return View(
        type="modal",
        callback_id=VIEW_CONFIRM,
        title=plain("Confirm approval"),
        submit=plain("Approve"),
        close=plain("Cancel"),
        private_metadata=private_metadata,
        blocks=blocks,
    )


def mismatch(state: RequestState, values: FormValues) -> str | None:
    """The error to show under the input when the value typed is not the one required (None
    when it is, or when the request needs none).

    The value is compared stripped and exactly: no case folding, no look-alikes.
    """
    if not required(state):
        return None
    assert isinstance(state.request, ApprovalRequest)
    typed = values.get(CONFIRM_BLOCK, {}).get(CONFIRM_ACTION, {}).get("value")
    expected = state.request.confirmation
    if isinstance(typed, str) and typed.strip() == expected:
        return None
    return truncate(f"That is not `{expected}`: nothing was approved", 2000)
