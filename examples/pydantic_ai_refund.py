"""A PydanticAI agent that asks a human in Slack before it refunds, and goes on with the answer.

No LLM key needed: the agent's model is a ``FunctionModel`` playing the LLM's part (it asks for
the refund the prompt describes, then reports what the tool answered). Swap in a real one with
``Agent("openai:gpt-5", ...)``; nothing else changes.

Start the playground (``make run``), then::

    REDIS_URL=redis://localhost:6379/0 HITL_KEY_PREFIX=hitl-dev \\
        python examples/pydantic_ai_refund.py ACME 420

The request appears in #finance: as Alice, Approve it, Edit the amount first, or Reject it with
a reason; the agent prints what the model was told. Needs ``pip install 'hitl-slack[pydantic-ai]'``.
"""

from __future__ import annotations

import re
import sys

from pydantic_ai import Agent, DeferredToolRequests, RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from hitl_slack import HITLClient
from hitl_slack.integrations.common import ToolCall
from hitl_slack.integrations.pydantic_ai import run_with_approvals_sync


def pretend_llm(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Call ``refund_payment`` as the prompt asks; once it answered, report the answer."""
    last = messages[-1]
    answers = [p.content for p in last.parts if isinstance(p, ToolReturnPart)]
    if isinstance(last, ModelRequest) and answers:
        return ModelResponse(parts=[TextPart(f"Done: {answers[0]}")])
    prompt = next(p.content for p in last.parts if isinstance(p, UserPromptPart))
    amount, customer = re.findall(r"\$(\d+) to ([\w.-]+)", str(prompt))[0]
    args = {"customer": customer, "amount": int(amount)}
    return ModelResponse(parts=[ToolCallPart("refund_payment", args)])


agent = Agent(
    FunctionModel(pretend_llm), name="billing-agent", output_type=[str, DeferredToolRequests]
)


@agent.tool(requires_approval=True)  # the run stops here until a human decided
def refund_payment(ctx: RunContext[None], customer: str, amount: int) -> str:
    """Refund a customer."""
    # The real side effect goes here; it runs only once approved, with the arguments as the
    # human left them.
    return f"refunded ${amount} to {customer}"


def describe(call: ToolCall) -> str:
    return f"Refund ${call.args['amount']} to {call.args['customer']}"


def main() -> int:
    customer, amount = sys.argv[1], int(sys.argv[2])
    with HITLClient.from_env() as hitl:
        result = run_with_approvals_sync(
            agent,
            f"Please refund ${amount} to {customer}: the parcel never arrived.",
            hitl,
            request_fields={"summary": describe, "risk": "high", "timeout": 600},
        )
    print(result.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
