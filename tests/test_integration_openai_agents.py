"""The OpenAI Agents SDK adapter, driven for real: an agent on the SDK's own scripted test
model (a tool call, then a final message made from the tool's output; no network, no API
key), the real bot, the fake Slack, and a person clicking in it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunContextWrapper, function_tool, set_tracing_disabled
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from approver import approve, bot_fixtures, edit, marker, message_with, messages_with, reject
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_actions_body, block_text, find_button
from harness import BotProcess

from hitl_slack import AsyncHITLClient, InvalidRequest
from hitl_slack.integrations.common import ToolCall
from hitl_slack.integrations.openai_agents import (
    ApprovalPolicy,
    require_approval,
    resume_with_approvals,
    run_with_approvals,
)

set_tracing_disabled(True)  # no trace export attempts (no API key, no network)

fake, module_prefix, bot = bot_fixtures("openai-agents")
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
async def hitl(bot: BotProcess) -> AsyncIterator[AsyncHITLClient]:
    c = AsyncHITLClient(bot.redis_url, bot.prefix)
    yield c
    await c.aclose()


def _tool_outputs(call: ModelCall) -> str:
    """What the model was told by the tools (the outputs in its input), as an LLM would
    summarise it in its final message."""
    items = call.input if isinstance(call.input, list) else []
    return " | ".join(
        str(item["output"])
        for item in items
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    )


def final_step() -> ModelStep:
    return ModelStep.respond(lambda call: [assistant_message(_tool_outputs(call))])


def refund_model(customer: str, amount: int, call_id: str | None = None) -> ScriptedModel:
    """The model's two turns: call ``refund_payment``, then answer with what it returned."""
    call = function_call(
        "refund_payment",
        {"customer": customer, "amount": amount},
        call_id=call_id or f"call_{uuid.uuid4().hex[:12]}",
    )
    return ScriptedModel([[call], final_step()])


def refund_tool(ran: list[tuple[str, int]], **tool_kw: Any) -> FunctionTool:
    @function_tool(**tool_kw)
    def refund_payment(ctx: RunContextWrapper[Any], customer: str, amount: int) -> str:
        """Refund a customer."""
        ran.append((customer, amount))
        return f"refunded ${amount} to {customer}"

    return refund_payment


def _summary(call: ToolCall) -> str:
    return f"Refund ${call.args['amount']} to {call.args['customer']}"


POLICY = ApprovalPolicy(summary=_summary, risk="high")


def billing_agent(model: ScriptedModel, tool: FunctionTool) -> Agent[Any]:
    return Agent(name="billing", model=model, tools=[tool])


async def test_approved_call_runs_the_tool_with_the_models_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = billing_agent(refund_model(who, 420), require_approval(refund_tool(ran), POLICY))
    run = asyncio.create_task(run_with_approvals(agent, "Refund ACME", hitl))
    msg = await asyncio.to_thread(message_with, fake, who)
    assert msg.channel == "C0FINANCE"
    assert f"Refund $420 to {who}" in block_text(msg.blocks)
    assert ran == []  # interrupted: nothing runs before the human decides
    await asyncio.to_thread(approve, bot, msg)

    result = await asyncio.wait_for(run, 15)
    assert ran == [(who, 420)]
    assert result.final_output == f"refunded $420 to {who}"
    assert result.interruptions == []


async def test_edited_call_runs_the_tool_with_the_edited_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = billing_agent(refund_model(who, 420), require_approval(refund_tool(ran), POLICY))
    run = asyncio.create_task(run_with_approvals(agent, "Refund ACME", hitl))
    msg = await asyncio.to_thread(message_with, fake, who)
    assert find_button(msg.blocks, "hitl.edit") is not None
    await asyncio.to_thread(edit, bot, fake, msg, {"amount": "400"})

    result = await asyncio.wait_for(run, 15)
    assert ran == [(who, 400)]
    assert result.final_output == f"refunded $400 to {who}"


async def test_rejected_call_does_not_run_and_the_model_is_told_the_reason(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = billing_agent(refund_model(who, 420), require_approval(refund_tool(ran), POLICY))
    run = asyncio.create_task(run_with_approvals(agent, "Refund ACME", hitl))
    msg = await asyncio.to_thread(message_with, fake, who)
    await asyncio.to_thread(reject, bot, fake, msg, "duplicate of last week's refund")

    result = await asyncio.wait_for(run, 15)
    assert ran == []
    assert result.final_output == (
        "A human reviewer rejected this tool call: duplicate of last week's refund."
    )


async def test_a_tool_that_cannot_take_edits_offers_no_edit_and_a_forged_one_decides_nothing(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    plain = refund_tool(ran, needs_approval=POLICY)  # the policy alone, no require_approval()
    run = asyncio.create_task(
        run_with_approvals(billing_agent(refund_model(who, 420), plain), "Refund", hitl)
    )
    msg = await asyncio.to_thread(message_with, fake, who)
    assert find_button(msg.blocks, "hitl.edit") is None
    forged = block_actions_body(msg, "hitl.approve", user_id="U0ALICE")
    forged["actions"][0]["action_id"] = "hitl.edit"
    await asyncio.to_thread(bot.send, forged)
    await fake.async_wait_until(
        lambda: any("cannot be edited" in (e.text or "") for e in fake.ephemerals("U0ALICE"))
    )
    assert not run.done()
    await asyncio.to_thread(reject, bot, fake, msg, "no")

    result = await asyncio.wait_for(run, 15)
    assert ran == []  # never with arguments the human changed, nor without a decision
    assert result.final_output == "A human reviewer rejected this tool call: no."


async def test_the_policy_asks_only_about_the_calls_it_selects(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    small, large, ran = marker("Small"), marker("Large"), []
    policy = ApprovalPolicy(
        risk=lambda call: "high" if call.args["amount"] >= 1000 else "low",
        min_risk="high",
        when=lambda call: call.name == "refund_payment",
    )
    model = ScriptedModel(
        [
            [
                function_call("refund_payment", {"customer": small, "amount": 5}, call_id="c1"),
                function_call("refund_payment", {"customer": large, "amount": 5000}, call_id="c2"),
            ],
            final_step(),
        ]
    )
    agent = billing_agent(model, require_approval(refund_tool(ran), policy))
    run = asyncio.create_task(
        run_with_approvals(agent, "Refund both", hitl, scope=uuid.uuid4().hex)
    )
    msg = await asyncio.to_thread(message_with, fake, large)
    await asyncio.to_thread(approve, bot, msg)
    result = await asyncio.wait_for(run, 15)
    assert sorted(ran) == sorted([(small, 5), (large, 5000)])
    assert messages_with(fake, small) == []  # a low-risk refund needed nobody
    assert result.final_output == f"refunded $5 to {small} | refunded $5000 to {large}"


async def test_a_restarted_process_resumes_from_the_checkpoint_with_the_same_request(
    bot: BotProcess, fake: FakeSlack, module_prefix: str
):
    who, ran, stored = marker(), [], []
    tool = require_approval(refund_tool(ran), POLICY)
    first = AsyncHITLClient(REDIS_URL, module_prefix)
    run = asyncio.create_task(
        run_with_approvals(
            billing_agent(refund_model(who, 420), tool), "Refund", first, checkpoint=stored.append
        )
    )
    msg = await asyncio.to_thread(message_with, fake, who)
    run.cancel()  # the process dies while the request waits in Slack
    with contextlib.suppress(asyncio.CancelledError):
        await run
    await first.aclose()
    await asyncio.to_thread(edit, bot, fake, msg, {"amount": "400"})  # decided meanwhile

    # A new process: a new client, the agent built again; only the model's last turn is left.
    second = AsyncHITLClient(REDIS_URL, module_prefix)
    try:
        agent = billing_agent(ScriptedModel([final_step()]), tool)
        result = await asyncio.wait_for(resume_with_approvals(agent, stored[-1], second), 15)
    finally:
        await second.aclose()
    assert ran == [(who, 400)]  # the edit survived the restart
    assert result.final_output == f"refunded $400 to {who}"
    assert len(messages_with(fake, who)) == 1  # the same Slack request, found again
    assert json.loads(stored[-1])["run_state"]["current_agent"]["name"] == "billing"


async def test_resuming_something_that_is_not_a_checkpoint_says_so(aclient: AsyncHITLClient):
    agent = billing_agent(ScriptedModel([]), require_approval(refund_tool([])))
    with pytest.raises(InvalidRequest, match="is not a checkpoint of run_with_approvals"):
        await resume_with_approvals(agent, '{"current_turn": 1}', aclient)


def test_a_policy_with_an_unknown_risk_floor_is_refused():
    with pytest.raises(InvalidRequest, match="min_risk: must be 'low', 'medium'"):
        ApprovalPolicy(min_risk="severe")


def test_the_example_killed_while_waiting_resumes_in_a_new_process(
    bot: BotProcess, fake: FakeSlack, tmp_path: Path
):
    who = marker()
    env = os.environ | {"REDIS_URL": bot.redis_url, "HITL_KEY_PREFIX": bot.prefix}

    def example(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / "openai_agents_refund.py"), *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = example(who, "420")
    msg = message_with(fake, who, timeout=30)
    assert (tmp_path / "refund-run.json").exists()  # the checkpoint, written before the wait
    first.kill()  # kill -9 while it waits
    first.communicate(timeout=10)
    edit(bot, fake, msg, {"amount": "400"})  # decided while no process waits

    second = example("--resume")
    out, err = second.communicate(timeout=30)
    assert (second.returncode, out) == (0, f"Done: refunded $400 to {who}\n"), err
    assert len(messages_with(fake, who)) == 1
    assert not (tmp_path / "refund-run.json").exists()
