"""An OpenAI Agents SDK agent whose refunds above $100 wait for a human in Slack, and which
can be stopped while it waits and resumed later, in another process.

No API key needed: the agent's model is the SDK's scripted test model playing the LLM's part
(it calls the tool as the prompt asks, then reports what the tool answered). Give the agent
``model="gpt-5"`` for a real one; nothing else changes.

Start the playground (``make run``), then::

    export REDIS_URL=redis://localhost:6379/0 HITL_KEY_PREFIX=hitl-dev
    python examples/openai_agents_refund.py ACME 420     # waits for #finance
    # Ctrl-C while it waits, then, even after deciding in the playground meanwhile:
    python examples/openai_agents_refund.py --resume     # the same Slack request, found again

A refund of $100 or less runs without asking. Needs ``pip install 'hitl-slack[openai-agents]'``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from agents import Agent, function_tool, set_tracing_disabled
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

from hitl_slack import AsyncHITLClient
from hitl_slack.integrations.common import ToolCall
from hitl_slack.integrations.openai_agents import (
    ApprovalPolicy,
    require_approval,
    resume_with_approvals,
    run_with_approvals,
)

CHECKPOINT = Path("refund-run.json")  # where the paused run is kept between processes


def call_the_tool(call: ModelCall) -> Any:
    amount, customer = re.findall(r"\$(\d+) to ([\w.-]+)", str(call.input))[0]
    args = {"customer": customer, "amount": int(amount)}
    return [function_call("refund_payment", args, call_id=f"call_{uuid.uuid4().hex[:12]}")]


def report(call: ModelCall) -> Any:
    outputs = [i["output"] for i in call.input if isinstance(i, dict) and "output" in i]
    return [assistant_message(f"Done: {outputs[-1]}")]


def pretend_llm(first_turn: bool) -> ScriptedModel:
    """The model's turns: call the tool, then report (a resumed run has only the last left)."""
    turns = [ModelStep.respond(call_the_tool)] if first_turn else []
    return ScriptedModel([*turns, ModelStep.respond(report)])


@function_tool
def refund_payment(customer: str, amount: int) -> str:
    """Refund a customer."""
    # The real side effect goes here; it runs only once approved (or when no approval is
    # needed), with the arguments as the human left them.
    return f"refunded ${amount} to {customer}"


def describe(call: ToolCall) -> str:
    return f"Refund ${call.args['amount']} to {call.args['customer']}"


refund = require_approval(
    refund_payment,
    ApprovalPolicy(
        when=lambda call: call.args["amount"] > 100,
        summary=describe,
        risk=lambda call: "critical" if call.args["amount"] >= 10_000 else "high",
        timeout=600,
    ),
)


def billing_agent(first_turn: bool = True) -> Agent[Any]:
    return Agent(name="billing-agent", model=pretend_llm(first_turn), tools=[refund])


async def run(argv: list[str], stored: str | None) -> Any:
    set_tracing_disabled(True)  # no OpenAI key here, so no trace export
    async with AsyncHITLClient.from_env() as hitl:
        if stored is not None:
            return await resume_with_approvals(billing_agent(first_turn=False), stored, hitl)
        customer, amount = argv[0], int(argv[1])
        prompt = f"Please refund ${amount} to {customer}: the parcel never arrived."
        return await run_with_approvals(
            billing_agent(), prompt, hitl, checkpoint=CHECKPOINT.write_text
        )


def main(argv: list[str]) -> int:
    stored = CHECKPOINT.read_text() if argv[:1] == ["--resume"] else None
    result = asyncio.run(run(argv, stored))
    CHECKPOINT.unlink(missing_ok=True)
    print(result.final_output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
