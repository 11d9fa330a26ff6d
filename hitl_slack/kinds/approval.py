"""The approval kind: a human approves an action's arguments, as proposed or edited, or not.

Pure: no Redis, no Slack. Its Slack face (the message with Approve / Reject / Edit, the edit
modal) is :mod:`hitl_slack.slack.approval`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hitl_slack.kinds.registry import Settled
from hitl_slack.models import AuditEvent, Status
from hitl_slack.requests import ApprovalRequest

__all__ = ["APPROVAL", "Approval"]


class Approval:
    """What an approval means: see :class:`hitl_slack.kinds.registry.Kind`."""

    name: Final = "approval"
    request: Final = ApprovalRequest

    def settle(
        self, request: ApprovalRequest, status: Status, payload: dict[str, Any] | None
    ) -> Settled:
        """The arguments as decided (the request's own without an edit); only an approval
        that changed them counts as edited."""
        final = request.payload if payload is None else payload
        return Settled(final, status is Status.APPROVED and final != request.payload)

    def audit_data(self, request: ApprovalRequest) -> dict[str, Any]:
        """What the trail has always recorded of a request (no ``kind``: the default one)."""
        return {
            "summary": request.summary,
            "action": request.action,
            "payload": request.payload,
            "risk": request.risk.value,
            "agent": request.agent,
        }

    def dataset_row(self, created: Mapping[str, Any], decided: AuditEvent) -> dict[str, Any]:
        """The arguments proposed and decided, the outcome and the votes that made it (a
        decision without arguments recorded leaves the proposed ones as the final ones)."""
        return {
            "request_id": decided.request_id,
            "action": created.get("action"),
            "agent": created.get("agent"),
            "summary": created.get("summary"),
            "original_payload": created.get("payload"),
            "final_payload": decided.data.get("payload", created.get("payload")),
            "edited": bool(decided.data.get("edited")),
            "decision": decided.event,
            "reason": decided.reason,
            "decided_by": decided.actor,
            "decided_at": decided.ts.isoformat(),
            # Under a quorum (or without veto): who voted what, when, on which arguments.
            "votes": decided.data.get("votes", []),
        }


#: The approval kind, registered by :mod:`hitl_slack.kinds`.
APPROVAL: Final = Approval()
