"""The LangGraph adapter: LangChain's real ``create_agent`` + ``HumanInTheLoopMiddleware``,
decided in Slack through the real bot.

The model is scripted (tests/lgagents.py: no LLM, no network); the bot is ``hitl-slack serve``
in a subprocess against the fake Slack; clicks and modal submissions are signed requests built
from the messages the bot posted, as in tests/test_bot_http.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict

import lgagents
import pytest
import redis
from fakeslack import (
    FakeSlack,
    PostedMessage,
    block_actions_body,
    block_text,
    find_button,
    view_submission_body,
)
from harness import BotProcess, posted, wait_updated
from langchain_core.messages import ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command, Interrupt

from hitl_slack import AsyncHITLClient, Decision, HITLClient, InvalidRequest, Status, WaitTimeout
from hitl_slack.integrations.langgraph import (
    InterruptNotSupported,
    ThreadPaused,
    answers,
    arun_with_approvals,
    interrupt_for_approval,
    pending_interrupts,
    reading,
    resolve_interrupt,
    resolve_interrupts,
    run_with_approvals,
)
from hitl_slack.keys import Keys


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        f.usergroups["S0FIN"] = ["U0CAROL"]
        yield f


@pytest.fixture(scope="module")
def module_prefix() -> Iterator[str]:
    name = f"test-lg-{uuid.uuid4().hex[:10]}"
    yield name
    r = redis.Redis.from_url(_redis_url())
    for key in r.scan_iter(match=f"{name}:*", count=1000):
        r.delete(key)
    r.close()


def _redis_url() -> str:
    from conftest import REDIS_URL

    return REDIS_URL


@pytest.fixture(scope="module")
def bot(fake: FakeSlack, module_prefix: str) -> Iterator[BotProcess]:
    b = BotProcess(fake, module_prefix, _redis_url()).start()
    yield b
    assert b.stop() == 0, b.logs()


@pytest.fixture
def hitl(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


@pytest.fixture
def marker() -> str:
    """A customer name no other test uses: finds this test's messages in the shared Slack."""
    return f"ACME-{uuid.uuid4().hex[:8]}"


def config(thread: str | None = None) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread or uuid.uuid4().hex}}


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


class Run:
    """``run_with_approvals`` (or any call) in a thread, as the agent process would block."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 15) -> Any:
        self._t.join(timeout)
        assert not self._t.is_alive(), "the agent is still waiting"
        if self.error is not None:
            raise self.error
        return self.result


def all_with(fake: FakeSlack, marker: str) -> list[PostedMessage]:
    """Every message whose text shows ``marker``, decided or not, in the order posted."""
    return [m for m in fake.messages() if marker in block_text(m.blocks)]


def messages_with(fake: FakeSlack, marker: str, count: int) -> list[PostedMessage]:
    """The ``count`` pending requests whose text shows ``marker``, in the order posted."""
    fake.wait_until(lambda: len(all_with(fake, marker)) >= count, timeout=10)
    got = all_with(fake, marker)
    assert len(got) == count, [block_text(m.blocks) for m in got]
    for m in got:
        posted(fake, request_id(m))  # and recorded by the bot: a click on it is judged
    return got


def request_id(message: PostedMessage) -> str:
    button = find_button(message.blocks, "hitl.approve") or {}
    return str(button.get("value"))


def opened_view(fake: FakeSlack, rid: str) -> dict[str, Any]:
    call = fake.wait_for_call("views.open", lambda c: rid in json.dumps(c.params))
    view: dict[str, Any] = call.response["view"]
    return view


def approve(bot: BotProcess, message: PostedMessage) -> None:
    assert bot.send(block_actions_body(message, "hitl.approve", user_id="U0ALICE"))[0] == 200


def reject(bot: BotProcess, fake: FakeSlack, message: PostedMessage, reason: str | None) -> None:
    bot.send(block_actions_body(message, "hitl.reject", user_id="U0ALICE"))
    view = opened_view(fake, request_id(message))
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
    assert bot.send(view_submission_body(view, values, user_id="U0ALICE")) == (200, "")


def edit(bot: BotProcess, fake: FakeSlack, message: PostedMessage, fields: list[str]) -> None:
    """Edit through the modal: ``fields`` are the inputs' new texts, in payload order."""
    bot.send(block_actions_body(message, "hitl.edit", user_id="U0ALICE"))
    view = opened_view(fake, request_id(message))
    values = {
        f"field:{i}": {"value": {"type": "plain_text_input", "value": text}}
        for i, text in enumerate(fields)
    }
    assert bot.send(view_submission_body(view, values, user_id="U0ALICE")) == (200, "")


def tool_messages(result: dict[str, Any]) -> list[str]:
    return [str(m.content) for m in result["messages"] if isinstance(m, ToolMessage)]


# --- the middleware's interrupts, decided in Slack -------------------------------------------


def test_approved_tool_call_runs_with_its_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, InMemorySaver())
    run = Run(lambda: run_with_approvals(graph, user("refund"), hitl, config=config()))

    [msg] = messages_with(fake, marker, 1)
    assert msg.channel == "C0FINANCE"  # the action is the tool's name: refund_* is routed
    assert "Run refund_payment" in msg.text
    assert ledger.ran == []  # nothing runs before the human decides
    approve(bot, msg)

    result = run.join()
    assert ledger.ran == [("refund_payment", {"customer": marker, "amount": 420})]
    assert result["messages"][-1].content == f"done: refunded 420 to {marker}"


def test_edited_tool_call_runs_with_the_edited_arguments(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, InMemorySaver())
    run = Run(lambda: run_with_approvals(graph, user("refund"), hitl, config=config()))

    [msg] = messages_with(fake, marker, 1)
    edit(bot, fake, msg, [marker, "100"])

    result = run.join()
    assert ledger.ran == [("refund_payment", {"customer": marker, "amount": 100})]
    [said] = tool_messages(result)
    assert "a human reviewer replaced this tool call" in said  # the middleware tells the model
    assert said.endswith(f"refunded 100 to {marker}")
    assert "420 → 100" in block_text(wait_updated(fake, msg, "Edited").blocks)


def test_rejected_tool_call_does_not_run_and_the_agent_gets_the_reason(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, InMemorySaver())
    run = Run(lambda: run_with_approvals(graph, user("refund"), hitl, config=config()))

    [msg] = messages_with(fake, marker, 1)
    reject(bot, fake, msg, "already refunded last week")

    result = run.join()
    assert ledger.ran == []
    assert tool_messages(result) == [
        "User rejected the tool call for `refund_payment` with reason: already refunded last week"
    ]
    assert result["messages"][-1].content.startswith("done: User rejected")  # the agent went on


def test_batched_interrupt_asks_once_per_call_and_answers_in_order(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    calls = [lgagents.refund(marker), lgagents.email(f"{marker}@example.com")]
    graph = lgagents.agent(calls, ledger, InMemorySaver())
    cfg = config()
    first = graph.invoke(user("refund and tell them"), cfg)
    [pause] = pending_interrupts(first)  # batched: ONE interrupt carrying both tool calls
    assert [a["name"] for a in pause.value["action_requests"]] == ["refund_payment", "send_email"]
    run = Run(lambda: resolve_interrupts(hitl, [pause], config=cfg))

    email_msg, refund_msg = sorted(messages_with(fake, marker, 2), key=lambda m: m.channel)
    assert (refund_msg.channel, email_msg.channel) == ("C0FINANCE", "C0APPROVALS")
    assert "Run refund_payment (1 of 2)" in refund_msg.text
    assert "Run send_email (2 of 2)" in email_msg.text
    assert find_button(email_msg.blocks, "hitl.edit") is None  # send_email allows no edits
    assert find_button(refund_msg.blocks, "hitl.edit") is not None
    approve(bot, email_msg)  # the second first: the order of the answers is the calls'
    reject(bot, fake, refund_msg, "wrong customer")

    resume = run.join()
    assert resume == {
        pause.id: {
            "decisions": [
                {"type": "reject", "message": "wrong customer"},
                {"type": "approve"},
            ]
        }
    }
    result = graph.invoke(Command(resume=resume), cfg)
    assert ledger.ran == [("send_email", calls[1]["args"])]
    assert tool_messages(result) == [
        "User rejected the tool call for `refund_payment` with reason: wrong customer",
        f"emailed {marker}@example.com",
    ]


def test_per_call_interrupts_are_answered_one_by_one(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    calls = [lgagents.refund(marker), lgagents.email(f"{marker}@example.com")]
    graph = lgagents.agent(calls, ledger, InMemorySaver(), mode="per_call")
    run = Run(
        lambda: run_with_approvals(graph, user("refund and tell them"), hitl, config=config())
    )

    email_msg, refund_msg = sorted(messages_with(fake, marker, 2), key=lambda m: m.channel)
    assert "Run refund_payment" in refund_msg.text  # one interrupt each: no "(1 of 2)"
    assert "(1 of 2)" not in refund_msg.text
    edit(bot, fake, refund_msg, [marker, "300"])
    reject(bot, fake, email_msg, None)  # #approvals: a reason is optional

    result = run.join()
    assert ledger.ran == [("refund_payment", {"customer": marker, "amount": 300})]
    said = tool_messages(result)
    assert said[0].endswith(f"refunded 300 to {marker}")
    assert said[1].startswith("User rejected the tool call for `send_email` with id call_1.")


def test_a_tool_that_allows_no_edits_shows_no_edit_and_a_forged_edit_decides_nothing(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.email(f"{marker}@example.com")], ledger, InMemorySaver())
    run = Run(lambda: run_with_approvals(graph, user("tell them"), hitl, config=config()))

    [msg] = messages_with(fake, marker, 1)
    assert find_button(msg.blocks, "hitl.edit") is None
    assert find_button(msg.blocks, "hitl.respond") is None  # respond not allowed either
    forged = block_actions_body(msg, "hitl.approve", user_id="U0ALICE")
    forged["actions"][0]["action_id"] = "hitl.edit"
    bot.send(forged)
    fake.wait_until(
        lambda: any("cannot be edited" in (e.text or "") for e in fake.ephemerals("U0ALICE"))
    )
    reject(bot, fake, msg, "not now")

    result = run.join()
    assert ledger.ran == []
    assert tool_messages(result) == [
        "User rejected the tool call for `send_email` with reason: not now"
    ]


def test_respond_answers_in_the_tools_place(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, InMemorySaver())
    run = Run(lambda: run_with_approvals(graph, user("refund"), hitl, config=config()))

    [msg] = messages_with(fake, marker, 1)
    bot.send(block_actions_body(msg, "hitl.respond", user_id="U0ALICE"))
    view = opened_view(fake, request_id(msg))
    values = {"answer": {"value": {"type": "plain_text_input", "value": "Refunded by hand"}}}
    assert bot.send(view_submission_body(view, values, user_id="U0ALICE")) == (200, "")

    result = run.join()
    assert ledger.ran == []  # the tool did not run: the human answered in its place
    assert tool_messages(result) == ["Refunded by hand"]


def test_an_expired_request_rejects_the_tool(bot: BotProcess, hitl: HITLClient, marker: str):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, InMemorySaver())

    result = run_with_approvals(graph, user("refund"), hitl, config=config(), timeout=0.5)

    assert ledger.ran == []
    assert tool_messages(result) == [
        f"User rejected the tool call for `refund_payment` with reason: {answers.EXPIRED}"
    ]


async def test_async_agent_is_decided_the_same_way(bot: BotProcess, fake: FakeSlack, marker: str):
    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, InMemorySaver())
    async with AsyncHITLClient(bot.redis_url, bot.prefix) as ahitl:
        run = asyncio.create_task(
            arun_with_approvals(graph, user("refund"), ahitl, config=config())
        )
        [msg] = await asyncio.to_thread(messages_with, fake, marker, 1)
        await asyncio.to_thread(approve, bot, msg)
        result = await asyncio.wait_for(run, 15)
    assert ledger.ran == [("refund_payment", {"customer": marker, "amount": 420})]
    assert result["messages"][-1].content == f"done: refunded 420 to {marker}"


# --- restarts: the same Slack request, never a second one ------------------------------------


def test_a_restarted_agent_finds_the_request_it_made_before_it_died(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str, tmp_path: Path
):
    db, thread = str(tmp_path / "checkpoints.sqlite"), uuid.uuid4().hex
    script = Path(__file__).with_name("lgagents.py")
    first = subprocess.Popen(
        [sys.executable, str(script), db, bot.redis_url, bot.prefix, thread, marker],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        [msg] = messages_with(fake, marker, 1)  # the first process asked, and waits
    finally:
        first.kill()
        _, err = first.communicate(timeout=10)
    assert first.returncode != 0, err.decode()
    approve(bot, msg)  # decided while no agent runs

    ledger = lgagents.Ledger()
    graph = lgagents.agent([lgagents.refund(marker)], ledger, lgagents.sqlite_saver(db))
    result = run_with_approvals(graph, None, hitl, config=config(thread), wait_timeout=5)

    assert ledger.ran == [("refund_payment", {"customer": marker, "amount": 420})]
    assert result["messages"][-1].content == f"done: refunded 420 to {marker}"
    assert len(all_with(fake, marker)) == 1  # never asked twice


def test_the_example_runs_against_the_bot(
    bot: BotProcess, fake: FakeSlack, marker: str, tmp_path: Path
):
    example = Path(__file__).parents[1] / "examples" / "langgraph_refund.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "REDIS_"))}
    env |= {"REDIS_URL": bot.redis_url, "HITL_KEY_PREFIX": bot.prefix}
    proc = subprocess.Popen(
        [sys.executable, str(example), marker, "420"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [msg] = messages_with(fake, marker, 1)
        assert msg.channel == "C0FINANCE"
        assert f"Refund $420 to {marker}" in msg.text
        assert "the parcel never arrived" in block_text(msg.blocks)
        edit(bot, fake, msg, [marker, "400"])
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("Done. The refund tool said: Note: a human reviewer replaced")
    assert out.rstrip().endswith(f"refunded $400 to {marker}")


class RefundState(TypedDict, total=False):
    customer: str
    amount: int
    outcome: str


def refund_graph(checkpointer: Any, paid: list[dict[str, Any]]) -> Any:
    """A graph whose own node asks (interrupt_for_approval), then pays what was approved."""

    def refund(state: RefundState) -> RefundState:
        d = interrupt_for_approval(
            f"Refund ${state['amount']} to {state['customer']}",
            "refund_payment",
            {"customer": state["customer"], "amount": state["amount"]},
            risk="high",
        )
        if not d.approved:
            return {"outcome": f"not refunded: {d.status} ({d.reason})"}
        paid.append(d.payload)  # the side effect comes after the interrupt
        return {"outcome": f"refunded {d.payload['amount']} (by {', '.join(d.decided_by)})"}

    builder = StateGraph(RefundState)
    builder.add_node("refund", refund)
    builder.add_edge(START, "refund")
    return builder.compile(checkpointer=checkpointer)


def test_a_node_approval_survives_a_restart_with_one_slack_message(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str, tmp_path: Path
):
    db, cfg = str(tmp_path / "checkpoints.sqlite"), config()
    paid: list[dict[str, Any]] = []
    state = {"customer": marker, "amount": 420}
    first = refund_graph(lgagents.sqlite_saver(db), paid)
    with pytest.raises(WaitTimeout):  # the first worker gives up waiting (or dies)
        run_with_approvals(first, state, hitl, config=cfg, wait_timeout=0.2)
    [msg] = messages_with(fake, marker, 1)
    assert msg.channel == "C0FINANCE"
    assert f"Refund $420 to {marker}" in msg.text

    again = refund_graph(lgagents.sqlite_saver(db), paid)  # a new graph, the same checkpoints
    with pytest.raises(ThreadPaused, match="input=None"):
        run_with_approvals(again, state, hitl, config=cfg)  # new input would ask again
    run = Run(lambda: run_with_approvals(again, None, hitl, config=cfg))
    edit(bot, fake, msg, [marker, "400"])

    assert run.join()["outcome"] == "refunded 400 (by U0ALICE)"
    assert paid == [{"customer": marker, "amount": 400}]
    assert len(all_with(fake, marker)) == 1


def test_a_node_that_asks_twice_posts_two_requests_not_three(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    class State(TypedDict, total=False):
        done: list[str]

    def node(state: State) -> State:
        # LangGraph runs this node again from the top when it resumes: the first approval is
        # then answered from the checkpoint, not asked again.
        first = interrupt_for_approval(f"Stop {marker}-web", "stop_service", {"svc": "web"})
        second = interrupt_for_approval(f"Stop {marker}-db", "stop_service", {"svc": "db"})
        return {"done": [d.payload["svc"] for d in (first, second) if d.approved]}

    builder = StateGraph(State)
    builder.add_node("stop", node)
    builder.add_edge(START, "stop")
    graph = builder.compile(checkpointer=InMemorySaver())
    run = Run(lambda: run_with_approvals(graph, {}, hitl, config=config()))

    [web] = messages_with(fake, f"{marker}-web", 1)
    bot.send(block_actions_body(web, "hitl.approve", user_id="U0ANYONE"))
    [db] = messages_with(fake, f"{marker}-db", 1)
    bot.send(block_actions_body(db, "hitl.approve", user_id="U0ANYONE"))

    assert run.join() == {"done": ["web", "db"]}
    assert len(all_with(fake, marker)) == 2


def test_resolve_interrupt_returns_a_decision_for_a_node(
    bot: BotProcess, fake: FakeSlack, hitl: HITLClient, marker: str
):
    paid: list[dict[str, Any]] = []
    graph, cfg = refund_graph(InMemorySaver(), paid), config()
    [pause] = pending_interrupts(graph.invoke({"customer": marker, "amount": 5}, cfg))
    run = Run(lambda: resolve_interrupt(hitl, pause, config=cfg))
    reject(bot, fake, messages_with(fake, marker, 1)[0], "not eligible")

    resume = run.join()
    decision = Decision.model_validate(resume)
    assert (decision.status, decision.reason, decision.decided_by) == (
        Status.REJECTED,
        "not eligible",
        ("U0ALICE",),
    )
    assert graph.invoke(Command(resume=resume), cfg)["outcome"] == (
        "not refunded: rejected (not eligible)"
    )
    assert paid == []


# --- refused before anything is posted --------------------------------------------------------


def test_a_tool_that_cannot_be_rejected_is_refused_and_nothing_is_posted(
    hitl: HITLClient, marker: str
):
    interrupt = Interrupt(
        value={
            "action_requests": [
                {"name": "refund_payment", "args": {"customer": marker}},
                {"name": "ask_user", "args": {"question": "Which one?"}},
            ],
            "review_configs": [
                {"action_name": "refund_payment", "allowed_decisions": ["approve", "reject"]},
                {"action_name": "ask_user", "allowed_decisions": ["respond"]},
            ],
        },
        id="i1",
    )
    cfg = config()
    with pytest.raises(InterruptNotSupported, match="'ask_user' allows \\['respond'\\]"):
        resolve_interrupts(hitl, [interrupt], config=cfg)
    key = answers.idempotency_key(cfg["configurable"]["thread_id"], "i1", 0)
    assert not hitl.store.redis.exists(Keys(hitl.config.keys.prefix).idempotency(key))


def test_an_interrupt_the_adapter_does_not_know_is_refused(hitl: HITLClient):
    with pytest.raises(InterruptNotSupported, match="its value is a str"):
        resolve_interrupts(hitl, [Interrupt(value="what is your age?", id="i2")], config=config())


def test_a_graph_without_checkpointer_or_thread_is_refused(hitl: HITLClient):
    graph = refund_graph(None, [])
    with pytest.raises(InvalidRequest, match="checkpointer"):
        run_with_approvals(graph, {"customer": "x", "amount": 1}, hitl, config=config())
    with pytest.raises(InvalidRequest, match=r"configurable\.thread_id"):
        run_with_approvals(graph, {"customer": "x", "amount": 1}, hitl, config={})


def test_interrupt_for_approval_checks_its_request_in_the_node():
    class State(TypedDict, total=False):
        action: str

    def node(state: State) -> State:
        interrupt_for_approval("Deploy web", state["action"], {"version": "1.2"})
        return {}

    builder = StateGraph(State)
    builder.add_node("deploy", node)
    builder.add_edge(START, "deploy")
    graph = builder.compile(checkpointer=InMemorySaver())
    with pytest.raises(InvalidRequest, match="action"):
        graph.invoke({"action": "deploy now"}, config())  # no spaces in an action
    assert pending_interrupts(graph.invoke({"action": "deploy_web"}, config()))


# --- the mapping, without Redis ----------------------------------------------------------------

ALL = frozenset({"approve", "edit", "reject", "respond"})
NO_EDIT = frozenset({"approve", "reject"})
ARGS = {"customer": "ACME", "amount": 420}


def decision(status: Status, **kw: Any) -> Decision:
    return Decision(request_id="r1", status=status, payload=kw.pop("payload", ARGS), **kw)


@pytest.mark.parametrize(
    ("made", "allowed", "expected"),
    [
        (decision(Status.APPROVED), ALL, {"type": "approve"}),
        (
            decision(Status.APPROVED, payload={"customer": "ACME", "amount": 1}, edited=True),
            ALL,
            {
                "type": "edit",
                "edited_action": {"name": "refund", "args": {"customer": "ACME", "amount": 1}},
            },
        ),
        (
            decision(Status.APPROVED, payload={"customer": "ACME", "amount": 1}, edited=True),
            NO_EDIT,
            {"type": "reject", "message": answers.EDIT_NOT_ALLOWED.format(name="refund")},
        ),
        (
            decision(Status.APPROVED),
            frozenset({"edit", "reject"}),
            {"type": "edit", "edited_action": {"name": "refund", "args": ARGS}},
        ),
        (decision(Status.REJECTED, reason="no"), ALL, {"type": "reject", "message": "no"}),
        (decision(Status.REJECTED), ALL, {"type": "reject"}),
        (decision(Status.EXPIRED), ALL, {"type": "reject", "message": answers.EXPIRED}),
        (
            decision(Status.CANCELLED, reason="superseded"),
            ALL,
            {"type": "reject", "message": answers.CANCELLED.format(why=" (superseded)")},
        ),
        (
            decision(Status.CANCELLED),
            ALL,
            {"type": "reject", "message": answers.CANCELLED.format(why="")},
        ),
    ],
)
def test_each_decision_maps_to_the_middlewares_decision(
    made: Decision, allowed: frozenset[str], expected: dict[str, Any]
):
    assert answers.tool_decision(made, "refund", ARGS, allowed) == expected


def test_idempotency_keys_are_per_thread_interrupt_and_position_and_fit():
    assert answers.idempotency_key("t1", "abc", 2) == "langgraph:t1:abc:2"
    long = answers.idempotency_key("t" * 300, "abc", 0)
    assert len(long) <= 200
    assert (
        long
        == answers.idempotency_key("t" * 300, "abc", 0)
        != answers.idempotency_key("u" * 300, "abc", 0)
    )


def test_per_call_schema_tells_which_decisions_are_allowed():
    graph = lgagents.agent(
        [lgagents.refund("ACME"), lgagents.email("a@example.com")],
        lgagents.Ledger(),
        InMemorySaver(),
        mode="per_call",
    )
    pauses = pending_interrupts(graph.invoke(user("go"), config()))
    batch = reading.read_interrupts(pauses, "t1")
    by_tool = {a.action: a for a in batch.asks}
    assert by_tool["refund_payment"].fields["editable"] is True
    assert by_tool["refund_payment"].fields["respond"] is True
    assert by_tool["send_email"].fields["editable"] is False
    assert by_tool["send_email"].fields["respond"] is False
    edited = decision(Status.APPROVED, payload={"to": "b@example.com", "body": "x"}, edited=True)
    resumed = batch.resume([edited, edited])
    tools = {p.id: p.value["name"] for p in pauses}
    assert {tools[i]: a["type"] for i, a in resumed.items()} == {
        "refund_payment": "edit",
        "send_email": "reject",
    }


def test_request_fields_the_adapter_sets_are_refused():
    with pytest.raises(InvalidRequest, match="idempotency_key"):
        reading.read_interrupts([], "t1", request_fields={"idempotency_key": "mine"})
