"""The PydanticAI adapter, driven for real: a PydanticAI agent on a FunctionModel (no LLM) whose
tool needs approval, the real bot, the fake Slack, and a person clicking in it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from approver import approve, bot_fixtures, edit, marker, message_with, messages_with, reject
from conftest import REDIS_URL
from fakeslack import FakeSlack, block_text
from harness import BotProcess
from pydantic_ai import (
    Agent,
    ApprovalRequired,
    DeferredToolRequests,
    ModelMessagesTypeAdapter,
    RunContext,
)
from pydantic_ai.capabilities import HandleDeferredToolCalls
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from hitl_slack import AsyncHITLClient, HITLClient, InvalidRequest
from hitl_slack.integrations.pydantic_ai import (
    approval_handler,
    run_with_approvals,
    run_with_approvals_sync,
)

fake, module_prefix, bot = bot_fixtures("pydantic-ai")
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
async def hitl(bot: BotProcess) -> AsyncIterator[AsyncHITLClient]:
    c = AsyncHITLClient(bot.redis_url, bot.prefix)
    yield c
    await c.aclose()


@pytest.fixture
def hitl_sync(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


class RefundModel:
    """A model that asks for refunds, then repeats what the tools answered (as an LLM would
    summarise them): the run's output shows what the model was told."""

    def __init__(self, *refunds: tuple[str, int], call_id: str | None = None) -> None:
        self.refunds = refunds
        self.call_id = call_id
        self.requests = 0

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests += 1
        last = messages[-1]
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and returns:
            return ModelResponse(parts=[TextPart(" | ".join(str(p.content) for p in returns))])
        return ModelResponse(
            parts=[
                ToolCallPart(
                    "refund_payment",
                    {"customer": customer, "amount": amount},
                    tool_call_id=self.call_id or f"call_{uuid.uuid4().hex[:12]}",
                )
                for customer, amount in self.refunds
            ]
        )


def refund_agent(model: RefundModel, ran: list[Any], **agent_kw: Any) -> Agent[None, Any]:
    """An agent whose ``refund_payment`` tool needs approval and records every run."""
    agent_kw.setdefault("output_type", [str, DeferredToolRequests])
    agent: Agent[None, Any] = Agent(FunctionModel(model), name="billing", **agent_kw)

    @agent.tool(requires_approval=True)
    def refund_payment(ctx: RunContext[None], customer: str, amount: int) -> str:
        ran.append((customer, amount, ctx.tool_call_metadata))
        return f"refunded ${amount} to {customer}"

    return agent


def _summary(call: Any) -> str:
    return f"Refund ${call.args['amount']} to {call.args['customer']}"


async def test_approved_call_runs_the_tool_with_the_models_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = refund_agent(RefundModel((who, 420)), ran)
    run = asyncio.create_task(
        run_with_approvals(
            agent, "Refund ACME", hitl, request_fields={"risk": "high", "summary": _summary}
        )
    )
    msg = await asyncio.to_thread(message_with, fake, who)
    assert msg.channel == "C0FINANCE"  # action = the tool's name: refund_* routes to finance
    assert f"Refund $420 to {who}" in block_text(msg.blocks)
    await asyncio.to_thread(approve, bot, msg)

    result = await asyncio.wait_for(run, 15)
    assert result.output == f"refunded $420 to {who}"
    [(customer, amount, metadata)] = ran
    assert (customer, amount) == (who, 420)
    assert metadata["hitl_slack"]["decided_by"] == ["U0ALICE"]
    assert metadata["hitl_slack"]["edited"] is False


async def test_edited_call_runs_the_tool_with_the_edited_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = refund_agent(RefundModel((who, 420)), ran)
    run = asyncio.create_task(run_with_approvals(agent, "Refund ACME", hitl))
    msg = await asyncio.to_thread(message_with, fake, who)
    await asyncio.to_thread(edit, bot, fake, msg, {"amount": "400"})

    result = await asyncio.wait_for(run, 15)
    assert [(c, a) for c, a, _ in ran] == [(who, 400)]
    assert result.output == f"refunded $400 to {who}"


async def test_rejected_call_does_not_run_and_the_model_is_told_the_reason(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = refund_agent(RefundModel((who, 420)), ran)
    run = asyncio.create_task(run_with_approvals(agent, "Refund ACME", hitl))
    msg = await asyncio.to_thread(message_with, fake, who)
    await asyncio.to_thread(reject, bot, fake, msg, "already refunded last week")

    result = await asyncio.wait_for(run, 15)
    assert ran == []
    assert result.output == (
        "A human reviewer rejected this tool call: already refunded last week."
    )


async def test_a_call_nobody_decides_in_time_is_denied(fake: FakeSlack, hitl: AsyncHITLClient):
    who, ran = marker(), []
    agent = refund_agent(RefundModel((who, 420)), ran)
    result = await run_with_approvals(agent, "Refund", hitl, request_fields={"timeout": 1})
    assert ran == []
    assert result.output == "No human approved this tool call in time, so it was not run."


async def test_each_call_is_its_own_request_and_all_are_posted_before_any_decision(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    first, second, ran = marker("ACME"), marker("Globex"), []
    agent = refund_agent(RefundModel((first, 10), (second, 20)), ran)
    run = asyncio.create_task(run_with_approvals(agent, "Refund both", hitl))
    msg_first = await asyncio.to_thread(message_with, fake, first)
    msg_second = await asyncio.to_thread(message_with, fake, second)  # both, nothing decided
    assert msg_first.ts != msg_second.ts
    await asyncio.to_thread(reject, bot, fake, msg_second, "not a customer")
    await asyncio.to_thread(approve, bot, msg_first)

    result = await asyncio.wait_for(run, 15)
    assert [(c, a) for c, a, _ in ran] == [(first, 10)]
    assert result.output == (
        f"refunded $10 to {first} | A human reviewer rejected this tool call: not a customer."
    )


async def test_a_rerun_from_the_stored_history_finds_the_same_request(
    bot: BotProcess, fake: FakeSlack, module_prefix: str
):
    who, ran, stored = marker(), [], []
    model = RefundModel((who, 420))
    first = AsyncHITLClient(REDIS_URL, module_prefix)
    run = asyncio.create_task(
        run_with_approvals(
            refund_agent(model, ran),
            "Refund ACME",
            first,
            checkpoint=lambda messages: stored.append(ModelMessagesTypeAdapter.dump_json(messages)),
        )
    )
    msg = await asyncio.to_thread(message_with, fake, who)
    run.cancel()  # the process dies while the request waits in Slack
    with contextlib.suppress(asyncio.CancelledError):
        await run
    await first.aclose()
    await asyncio.to_thread(approve, bot, msg)  # decided while no process waits

    second = AsyncHITLClient(REDIS_URL, module_prefix)
    try:
        history = ModelMessagesTypeAdapter.validate_json(stored[-1])
        result = await asyncio.wait_for(
            run_with_approvals(refund_agent(model, ran), None, second, message_history=history),
            15,
        )
    finally:
        await second.aclose()
    assert [(c, a) for c, a, _ in ran] == [(who, 420)]
    assert result.output == f"refunded $420 to {who}"
    assert len(messages_with(fake, who)) == 1  # the same request, not a second one
    assert model.requests == 2  # the model was not asked again for the call


async def test_a_model_that_reuses_call_ids_gets_a_new_request_in_each_run(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = refund_agent(RefundModel((who, 420), call_id="call_1"), ran)
    run = asyncio.create_task(run_with_approvals(agent, "Refund ACME", hitl))
    await asyncio.to_thread(approve, bot, await asyncio.to_thread(message_with, fake, who))
    await asyncio.wait_for(run, 15)

    again = asyncio.create_task(run_with_approvals(agent, "Refund ACME again", hitl))
    await asyncio.to_thread(fake.wait_until, lambda: len(messages_with(fake, who)) == 2, 15)
    newest = messages_with(fake, who)[-1]
    await asyncio.to_thread(reject, bot, fake, newest, "once is enough")
    result = await asyncio.wait_for(again, 15)
    assert len(ran) == 1  # yesterday's approval did not approve today's call
    assert result.output == "A human reviewer rejected this tool call: once is enough."


def test_sync_run_asks_only_about_the_calls_the_tool_defers(
    bot: BotProcess, fake: FakeSlack, hitl_sync: HITLClient
):
    who, ran = marker(), []
    agent: Agent[None, Any] = Agent(
        FunctionModel(RefundModel((who, 50), (who, 5000))),
        name="billing",
        output_type=[str, DeferredToolRequests],
    )

    @agent.tool
    def refund_payment(ctx: RunContext[None], customer: str, amount: int) -> str:
        if amount > 100 and not ctx.tool_call_approved:
            raise ApprovalRequired
        ran.append((customer, amount))
        return f"refunded ${amount} to {customer}"

    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(run_with_approvals_sync, agent, "Refund", hitl_sync)
        msg = message_with(fake, who)
        assert "5000" in block_text(msg.blocks)
        assert ran == [(who, 50)]  # the small refund needed nobody
        approve(bot, msg)
        result = run.result(15)
    assert ran == [(who, 50), (who, 5000)]
    assert result.output == f"refunded $50 to {who} | refunded $5000 to {who}"
    assert len(messages_with(fake, who)) == 1


async def test_inline_handler_decides_while_the_run_waits(
    bot: BotProcess, fake: FakeSlack, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = refund_agent(
        RefundModel((who, 420)),
        ran,
        output_type=str,  # no DeferredToolRequests: the capability resolves them inline
        capabilities=[HandleDeferredToolCalls(handler=approval_handler(hitl, risk="high"))],
    )
    run = asyncio.create_task(agent.run("Refund ACME"))
    msg = await asyncio.to_thread(message_with, fake, who)
    await asyncio.to_thread(edit, bot, fake, msg, {"amount": "99"})
    result = await asyncio.wait_for(run, 15)
    assert [(c, a) for c, a, _ in ran] == [(who, 99)]
    assert result.output == f"refunded $99 to {who}"


async def test_a_wrong_request_field_fails_before_the_model_is_asked(aclient: AsyncHITLClient):
    model = RefundModel(("ACME", 1))
    with pytest.raises(InvalidRequest, match="payload: not a request option here"):
        await run_with_approvals(
            refund_agent(model, []), "Refund", aclient, request_fields={"payload": {}}
        )
    assert model.requests == 0


def test_the_example_refunds_once_a_human_approves(
    bot: BotProcess, fake: FakeSlack, tmp_path: Path
):
    who = marker()
    env = os.environ | {"REDIS_URL": bot.redis_url, "HITL_KEY_PREFIX": bot.prefix}
    example = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "pydantic_ai_refund.py"), who, "420"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        msg = message_with(fake, who, timeout=30)
        assert f"Refund $420 to {who}" in block_text(msg.blocks)
        approve(bot, msg)
        out, err = example.communicate(timeout=30)
    finally:
        example.kill()
    assert (example.returncode, out) == (0, f"Done: refunded $420 to {who}\n"), err


async def test_one_call_that_cannot_be_shown_leaves_no_request_of_its_batch_waiting(
    bot: BotProcess, hitl: AsyncHITLClient
):
    who, ran = marker(), []
    agent = refund_agent(RefundModel((who, 10), (who, 2**70)), ran)  # 2**70: not 64-bit JSON
    with pytest.raises(InvalidRequest, match="payload: has an integer that does not fit"):
        await run_with_approvals(agent, "Refund", hitl)
    r = redis.Redis.from_url(bot.redis_url, decode_responses=True)
    try:
        stored = [r.hget(key, "request") or "" for key in r.scan_iter(f"{bot.prefix}:req:*")]
    finally:
        r.close()
    assert [s for s in stored if who in s] == []
    assert ran == []
