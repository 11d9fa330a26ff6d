"""Ask from inside a graph's own node: :func:`interrupt_for_approval`.

Why an interrupt rather than waiting for the decision in the node: LangGraph re-executes a
node from the top when it resumes, and matches each ``interrupt()`` of the node to its answer
by order, keeping the answers in the checkpoint. So an approval already decided is answered
from the checkpoint on every later re-execution of the node (a second approval further down,
a crash after it) and is never asked again; a pending one has the same interrupt id after a
restart, hence the same idempotency key and the same Slack request. Nothing holds a worker
while the human thinks, and any process with the checkpointer can resolve it (the drivers in
:mod:`hitl_slack.integrations.langgraph.drivers`, or LangGraph's own tooling showing the
interrupt's value).
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt
from pydantic import ValidationError

from hitl_slack.agent.base import build_request
from hitl_slack.errors import InvalidRequest
from hitl_slack.integrations.langgraph.reading import NODE_APPROVAL
from hitl_slack.models import Decision

__all__ = ["interrupt_for_approval"]


def interrupt_for_approval(
    summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
) -> Decision:
    """Inside a graph node: pause the graph until a human decides, then return the decision.

    The node calls ``langgraph.types.interrupt`` with a value describing the request; the
    driver (``run_with_approvals``, or ``resolve_interrupt`` and ``Command(resume=...)``)
    posts it, once however often the node runs again (see the module's docstring), and
    resumes with the :class:`Decision`. As with any interrupt, code before the call runs
    again on resume, so keep side effects after it; the graph needs a checkpointer.

    Args:
        summary, action, payload, **fields: as for ``HITLClient.request_approval``
            (``details``, ``agent``, ``risk``, ``tags``, ``route``, ``channel``, ``timeout``);
            validated here, in the node. ``idempotency_key`` is derived, not given.

    Returns:
        The decision: ``approved`` (``payload`` possibly edited), ``rejected``, ``expired``
        or ``cancelled``.

    Raises:
        InvalidRequest: an argument is invalid (names it), or the graph was resumed with a
            value that is not a decision.

    Example::

        def refund(state: State) -> dict[str, Any]:
            d = interrupt_for_approval(f"Refund ${state['amount']}", "refund_payment",
                                       {"customer": state["customer"], "amount": state["amount"]})
            if not d.approved:
                return {"outcome": f"not refunded: {d.status}"}
            return {"outcome": pay(**d.payload)}
    """
    if "idempotency_key" in fields:
        raise InvalidRequest(
            "invalid approval request: idempotency_key: is derived from the thread and the "
            "interrupt, not given",
            [("idempotency_key", "is derived")],
        )
    request = build_request(summary, action, payload, **fields)
    given = {name for name, value in fields.items() if value is not None}
    value = {
        "type": NODE_APPROVAL,
        "summary": request.summary,
        "action": request.action,
        "payload": request.payload,
        "fields": request.model_dump(mode="json", include=given),
    }
    answer = interrupt(value)
    try:
        return Decision.model_validate(answer)
    except ValidationError as exc:
        raise InvalidRequest(
            f"interrupt_for_approval was resumed with {type(answer).__name__}, not a decision: "
            f"{exc.errors()[0]['msg']}"
        ) from None
