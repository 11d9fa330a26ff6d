"""``@require_approval`` on agent framework tools: framework context arguments pass through to
the function unseen (and are named in the message), everything else is the payload and must be
plain JSON; ``idempotency_key`` and ``summary`` are functions of the call.

The frameworks' tools are driven for real (PydanticAI on a FunctionModel, the OpenAI Agents SDK
on its scripted model, a LangChain tool invoked with a config) through the real bot and the fake
Slack; the rules themselves are also checked without a bot, deciding through the store.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Optional

import pytest
import redis
from agents import Agent, RunContextWrapper, Runner, function_tool, set_tracing_disabled
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext
from approver import approve, bot_fixtures, edit, marker, message_with, reject, request_id
from fakeslack import FakeSlack, block_text
from harness import BotProcess
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.prebuilt import InjectedState, ToolRuntime
from mcp.server.mcpserver import Context as MCPContext
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import FunctionModel

from hitl_slack import ApprovalDenied, AsyncHITLClient, HITLClient, InvalidRequest, Status
from hitl_slack.agent.passthrough import hidden_parameters, is_framework_context
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import Store

set_tracing_disabled(True)

fake, module_prefix, bot = bot_fixtures("gate")


@pytest.fixture
def hitl(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


class Context:  # a user's own class, named like MCP's: its arguments are payload
    pass


def _names(fn: Any, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    import inspect

    return hidden_parameters(fn, inspect.signature(fn), exclude)


# -- which arguments pass through (no bot) -------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [
        RunContext[None],
        RunContext,
        RunContextWrapper[Any],
        ToolContext[Any],
        RunnableConfig,
        Optional[RunnableConfig],  # noqa: UP045 (the old spelling is what some tools use)
        RunnableConfig | None,
        ToolRuntime,
        Annotated[str, InjectedToolCallId],
        Annotated[dict, InjectedState],
        Annotated[dict, InjectedState()],
        MCPContext,
    ],
)
def test_framework_contexts_are_recognised(annotation: Any):
    assert is_framework_context(annotation)


@pytest.mark.parametrize(
    "annotation", [str, int, Decimal, dict[str, Any], Context, int | None, Annotated[int, "x"]]
)
def test_plain_types_and_look_alikes_are_payload(annotation: Any):
    assert not is_framework_context(annotation)


def test_string_annotations_are_evaluated_in_the_functions_module():
    def tool_fn(ctx: RunContext[None], mine: Context, amount: int) -> None: ...

    assert isinstance(tool_fn.__annotations__["ctx"], str)  # from __future__ import annotations
    assert _names(tool_fn) == ("ctx",)  # and the user's own Context is payload
    assert _names(tool_fn, exclude=("mine",)) == ("ctx", "mine")


def test_annotations_that_cannot_be_evaluated_are_matched_by_distinctive_names_only():
    namespace: dict[str, Any] = {}  # a module that imported these under TYPE_CHECKING only
    exec(
        "def tool_fn(ctx: 'RunContext[Deps]', tc: 'agents.ToolContext[Any]',"
        " call_id: 'Annotated[str, InjectedToolCallId]', mcp: 'Context', amount: 'Money'): ...",
        namespace,
    )
    assert _names(namespace["tool_fn"]) == ("ctx", "tc", "call_id")


def test_a_pydantic_ai_tool_passes_its_run_context_through_and_names_it(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient
):
    """The use that failed before: ``payload: must be JSON-serialisable: a RunContext``."""
    who, seen = marker(), []
    call_id = f"call_{uuid.uuid4().hex[:10]}"

    def model(messages: list[Any], info: Any) -> ModelResponse:
        last = messages[-1]
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and returns:
            return ModelResponse(parts=[TextPart(str(returns[0].content))])
        args = {"customer": who, "amount": 420}
        return ModelResponse(parts=[ToolCallPart("refund_payment", args, tool_call_id=call_id)])

    agent: PydanticAgent[None, str] = PydanticAgent(FunctionModel(model))

    @agent.tool
    @hitl.require_approval(
        risk="high",
        summary=lambda ctx, customer, amount: f"Refund ${amount} to {customer}",
        idempotency_key=lambda ctx, customer, amount: f"refund:{ctx.tool_call_id}",
    )
    def refund_payment(ctx: RunContext[None], customer: str, amount: int) -> str:
        seen.append((ctx, customer, amount))
        return f"refunded ${amount} to {customer}"

    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(run=agent.run_sync("Refund ACME")))
    worker.start()
    msg = message_with(fake, who)
    shown = block_text(msg.blocks)
    assert f"Refund ${420} to {who}" in shown
    assert "Not shown (passed through unseen): ctx" in shown
    state = hitl.get(request_id(msg))
    assert state.request.payload == {"customer": who, "amount": 420}
    assert state.request.idempotency_key == f"refund:{call_id}"
    approve(bot, msg)
    worker.join(15)

    assert result["run"].output == f"refunded $420 to {who}"
    [(ctx, customer, amount)] = seen
    assert isinstance(ctx, RunContext)  # the framework's own, untouched
    assert ctx.tool_call_id == call_id
    assert (customer, amount) == (who, 420)


async def test_an_async_pydantic_ai_tool_runs_with_the_edit_and_the_same_context(
    bot: BotProcess, fake: FakeSlack
):
    who, seen = marker(), []

    def model(messages: list[Any], info: Any) -> ModelResponse:
        last = messages[-1]
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and returns:
            return ModelResponse(parts=[TextPart(str(returns[0].content))])
        args = {"customer": who, "amount": 420}
        return ModelResponse(parts=[ToolCallPart("refund_payment", args)])

    async with AsyncHITLClient(bot.redis_url, bot.prefix) as ahitl:
        agent: PydanticAgent[str, str] = PydanticAgent(FunctionModel(model), deps_type=str)

        @agent.tool
        @ahitl.require_approval()
        async def refund_payment(ctx: RunContext[str], customer: str, amount: int) -> str:
            seen.append((ctx.deps, customer, amount))
            return f"refunded ${amount} to {customer}"

        run = asyncio.create_task(agent.run("Refund ACME", deps="billing-db"))
        msg = await asyncio.to_thread(message_with, fake, who)
        await asyncio.to_thread(edit, bot, fake, msg, {"amount": "400"})
        result = await asyncio.wait_for(run, 15)
    assert seen == [("billing-db", who, 400)]
    assert result.output == f"refunded $400 to {who}"


def test_a_rejected_openai_agents_tool_does_not_run_and_the_model_reads_the_reason(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient
):
    who, ran = marker(), []

    @function_tool
    @hitl.require_approval(on_denied=lambda d: f"not refunded: {d.reason}")
    def refund_payment(ctx: RunContextWrapper[Any], customer: str, amount: int) -> str:
        """Refund a customer."""
        ran.append((customer, amount))
        return "refunded"

    model = ScriptedModel(
        [
            [function_call("refund_payment", {"customer": who, "amount": 420}, call_id="c1")],
            ModelStep.respond(lambda call: [assistant_message(str(call.input[-1]["output"]))]),
        ]
    )
    agent = Agent(name="billing", model=model, tools=[refund_payment])
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(run=Runner.run_sync(agent, "Refund")))
    worker.start()
    msg = message_with(fake, who)
    assert "Not shown (passed through unseen): ctx" in block_text(msg.blocks)
    reject(bot, fake, msg, "customer already refunded")
    worker.join(15)
    assert ran == []
    assert result["run"].final_output == "not refunded: customer already refunded"


def test_a_langchain_tool_gets_its_config_and_the_approved_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient
):
    who, seen = marker(), []

    @tool
    @hitl.require_approval()
    def refund_payment(customer: str, amount: int, config: RunnableConfig) -> str:
        """Refund a customer."""
        seen.append((customer, amount, config["configurable"]["tenant"]))
        return "refunded"

    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            out=refund_payment.invoke(
                {"customer": who, "amount": 7}, config={"configurable": {"tenant": "acme"}}
            )
        )
    )
    worker.start()
    msg = message_with(fake, who)
    assert "Not shown (passed through unseen): config" in block_text(msg.blocks)
    approve(bot, msg)
    worker.join(15)
    assert (result["out"], seen) == ("refunded", [(who, 7, "acme")])


# -- the rules, deciding through the store (no bot) ----------------------------------------


def _decide_next(store: Store, raw: redis.Redis, keys: Keys, **decision: Any) -> threading.Thread:
    """Decide the next queued request from another thread, as a person would, later."""

    def run() -> None:
        deadline = time.monotonic() + 10
        while not raw.xlen(keys.queue) and time.monotonic() < deadline:
            time.sleep(0.01)
        entry_id, fields = raw.xrange(keys.queue)[0]
        raw.xdel(keys.queue, entry_id)
        store.decide(fields["id"], **decision)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_decimal_amount_is_refused_and_nothing_is_asked(
    client: HITLClient, raw: redis.Redis, keys: Keys
):
    @client.require_approval()
    def refund_payment(ctx: RunContext[None], customer: str, amount: Decimal) -> None: ...

    with pytest.raises(
        InvalidRequest, match="payload: must be JSON-serialisable: a Decimal at amount"
    ):
        refund_payment(None, "ACME", Decimal("420.00"))  # type: ignore[arg-type]
    assert raw.xlen(keys.queue) == 0


def test_excluded_arguments_pass_through_and_a_decision_cannot_replace_them(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    db = object()
    seen = []

    @client.require_approval(exclude="db", timeout=10)
    def refund_payment(db: object, customer: str, amount: int) -> None:
        seen.append((db, customer, amount))

    # A payload naming the passed-through argument (it was never shown) changes nothing there.
    worker = _decide_next(
        store,
        raw,
        keys,
        status=Status.APPROVED,
        payload={"db": "evil", "customer": "X", "amount": 1},
    )
    refund_payment(db, "ACME", 420)
    worker.join()
    assert seen == [(db, "X", 1)]
    request = store.get(_only_request(raw, keys)).request
    assert request.payload == {"customer": "ACME", "amount": 420}
    assert request.details == "Not shown (passed through unseen): db"


def _only_request(raw: redis.Redis, keys: Keys) -> str:
    [rid] = [k.split(":req:")[1] for k in raw.scan_iter(match=keys.request("*"))]
    return str(rid)


def test_the_idempotency_key_makes_a_rerun_find_the_same_request_and_its_decision(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    runs = []

    @client.require_approval(
        idempotency_key=lambda ctx, customer, amount: f"refund:{ctx}",
        details=lambda ctx, customer, amount: f"Asked by run {ctx}",
        timeout=10,
    )
    def refund_payment(ctx: ToolContext[Any], customer: str, amount: int) -> int:
        runs.append(amount)
        return amount

    worker = _decide_next(store, raw, keys, status=Status.APPROVED)
    assert refund_payment("call-7", "ACME", 420) == 420  # type: ignore[arg-type]
    worker.join()
    assert refund_payment("call-7", "ACME", 420) == 420  # type: ignore[arg-type]  # no new ask
    assert raw.xlen(keys.queue) == 0
    request = store.get(_only_request(raw, keys)).request
    assert request.idempotency_key == "refund:call-7"
    assert request.details == "Asked by run call-7\n\nNot shown (passed through unseen): ctx"
    assert runs == [420, 420]


def test_requested_by_and_confirm_text_may_be_functions_of_the_call(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    @client.require_approval(
        requested_by=lambda user, table: user, confirm_text=lambda user, table: table, timeout=10
    )
    def drop_table(user: str, table: str) -> str:
        return table

    worker = _decide_next(store, raw, keys, status=Status.APPROVED)
    assert drop_table("alice@example.com", "users") == "users"
    worker.join()
    request = store.get(_only_request(raw, keys)).request
    assert (request.requested_by, getattr(request, "confirm_text", None)) == (
        "alice@example.com",
        "users",
    )


def test_a_summary_function_with_the_wrong_arguments_is_named(
    client: HITLClient, raw: redis.Redis, keys: Keys
):
    @client.require_approval(summary=lambda customer, amount: f"Refund {amount}")
    def refund_payment(ctx: RunContext[None], customer: str, amount: int) -> None: ...

    with pytest.raises(InvalidRequest, match="summary: must be a string or a function taking"):
        refund_payment(None, "ACME", 1)  # type: ignore[arg-type]
    assert raw.xlen(keys.queue) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exclude": ("ctxx",)}, "exclude: 'ctxx' is not a parameter of refund_payment"),
        ({"exclude": (1,)}, "exclude: must be a parameter name or a list of them"),
        ({"idempotency_key": 7}, "idempotency_key: must be a string or a function"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"details": ["x"]}, "details: must be a string or a function"),
        ({"requested_by": "<!channel>"}, "requested_by: must be a Slack user id"),
        ({"confirm_text": "a`b"}, "confirm_text"),
    ],
)
def test_bad_decorator_arguments_fail_at_decoration_naming_them(
    client: HITLClient, options: dict[str, Any], message: str
):
    with pytest.raises(InvalidRequest, match=message):

        @client.require_approval(**options)
        def refund_payment(ctx: RunContext[None], customer: str) -> None: ...


def test_a_denied_call_still_raises_by_default(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    @client.require_approval(timeout=10)
    def refund_payment(ctx: RunContext[None], amount: int) -> None: ...

    worker = _decide_next(store, raw, keys, status=Status.REJECTED, reason="no")
    with pytest.raises(ApprovalDenied, match="no"):
        refund_payment(None, 1)  # type: ignore[arg-type]
    worker.join()


def test_neither_the_client_nor_the_integrations_package_imports_a_framework():
    code = (
        "import sys, hitl_slack, hitl_slack.integrations, hitl_slack.integrations.common\n"
        "from hitl_slack import HITLClient\n"
        "@HITLClient().require_approval()\n"
        "def tool(ctx: 'RunContext[None]', amount: int) -> None: ...\n"
        "frameworks = {'pydantic_ai', 'agents', 'langchain', 'langchain_core', 'langgraph',"
        " 'mcp'}\n"
        "print(sorted(frameworks & {m.partition('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stderr
