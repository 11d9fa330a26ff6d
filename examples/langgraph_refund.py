"""A LangChain agent whose refunds wait for a human in Slack (``HumanInTheLoopMiddleware``).

Needs the extra: ``pip install 'hitl-slack[langgraph]'``. Start the playground (``make run``),
then, with the ``REDIS_URL`` and ``HITL_KEY_PREFIX`` it prints::

    REDIS_URL=redis://localhost:6379/0 HITL_KEY_PREFIX=hitl-dev \\
        python examples/langgraph_refund.py ACME 420

and decide the request in #finance: approve it, edit the amount, or reject it with a reason.
The model is scripted, so no LLM key is needed: it asks to refund, then reports what happened.
With a real model, pass it to ``create_agent`` instead; nothing else changes.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from hitl_slack import HITLClient
from hitl_slack.integrations.langgraph import run_with_approvals


@tool
def refund_payment(customer: str, amount: int) -> str:
    """Refund a customer's payment."""
    # The real side effect goes here; it runs only once a human approved,
    # with the arguments as they approved them (possibly edited).
    return f"refunded ${amount} to {customer}"


class RefundModel(BaseChatModel):
    """Stands in for an LLM: asks for one refund, then reports the tool's answer."""

    customer: str
    amount: int

    @property
    def _llm_type(self) -> str:
        return "scripted-refund"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> RefundModel:
        return self

    def _generate(self, messages: list[BaseMessage], *_: Any, **__: Any) -> ChatResult:
        result = next((m for m in reversed(messages) if isinstance(m, ToolMessage)), None)
        if result is None:
            args = {"customer": self.customer, "amount": self.amount}
            reply = AIMessage("", tool_calls=[{"name": "refund_payment", "args": args, "id": "1"}])
        else:
            reply = AIMessage(f"Done. The refund tool said: {result.content}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def main() -> int:
    customer, amount = sys.argv[1], int(sys.argv[2])
    agent = create_agent(
        RefundModel(customer=customer, amount=amount),
        tools=[refund_payment],
        middleware=[
            HumanInTheLoopMiddleware(
                {
                    "refund_payment": {
                        "allowed_decisions": ["approve", "edit", "reject"],
                        "description": "Customer says the parcel never arrived.",
                    }
                }
            )
        ],
        checkpointer=InMemorySaver(),  # a SQLite or Postgres one survives a restart
    )
    with HITLClient.from_env() as hitl:
        result = run_with_approvals(
            agent,
            {"messages": [{"role": "user", "content": f"Refund ${amount} to {customer}"}]},
            hitl,
            config={"configurable": {"thread_id": f"refund-{customer}-{uuid.uuid4().hex[:8]}"}},
            summary=lambda tool, args: f"Refund ${args['amount']} to {args['customer']}",
            agent="billing-agent",
            risk="high",
            timeout=600,
        )
    print(result["messages"][-1].content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
