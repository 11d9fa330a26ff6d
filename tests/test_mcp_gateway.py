"""``hitl-slack mcp-gateway`` as an MCP client sees it, through the whole loop.

The gateway runs as its client starts it: the SDK's stdio client spawns
``python -m hitl_slack.cli mcp-gateway --routes-file X -- python tests/mcp_upstream.py``, and the
gateway spawns the small MCP server of ``tests/mcp_upstream.py``, which records every call it
really receives. Requests go through Redis to the real bot (``hitl-slack serve``) and the fake
Slack; clicks and modal submissions are built from what the bot posted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, PostedMessage, block_actions_body, block_text, view_submission_body
from harness import BotProcess, posted, wait_updated
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp import types as mcp_types
from mcp.shared.exceptions import MCPError

from hitl_slack import Answer, Decision, HITLClient, Status
from hitl_slack.answers import answer_of
from hitl_slack.cli import MCP_INSTALL
from hitl_slack.keys import Keys
from hitl_slack.mcpgateway.elicit import ACCEPT, result_of

UPSTREAM = str(Path(__file__).with_name("mcp_upstream.py"))

RULES = """
[defaults]
risk = "medium"
timeout = "10m"

[[gates]]
name = "writes"
tools = ["write_*", "delete_*"]
risk = "high"
summary = "Write {path}"

[[gates]]
name = "big-payments"
tools = ["pay"]
when = { amount = { gt = 1000 } }
summary = "Pay {amount} to {to}"
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture(scope="module")
def bot(fake: FakeSlack) -> Iterator[BotProcess]:
    prefix = f"test-gw-{uuid.uuid4().hex[:10]}"
    b = BotProcess(fake, prefix, REDIS_URL).start()
    yield b
    assert b.stop() == 0, b.logs()
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(match=f"{prefix}:*", count=1000):
        r.delete(key)
    r.close()


@pytest.fixture
def agent(bot: BotProcess) -> Iterator[HITLClient]:
    c = HITLClient(bot.redis_url, bot.prefix)
    yield c
    c.close()


class Upstream:
    """What the wrapped server received, read from its record file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        calls = [json.loads(line) for line in lines if line.strip()]
        return [c["arguments"] for c in calls if tool is None or c["tool"] == tool]


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "received.jsonl")


def _env(bot: BotProcess, upstream: Upstream, hold: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "SLACK_"))}
    return env | {
        "REDIS_URL": bot.redis_url,
        "HITL_KEY_PREFIX": bot.prefix,
        "HITL_MCP_HOLD": str(hold),
        "HITL_MCP_AGENT": "claude-code",
        "HITL_MCP_REQUESTED_BY": "U0DANA",
        "HITL_MCP_TAGS": "mcp, files",
        "UPSTREAM_RECORD": str(upstream.path),
        "LOG_FORMAT": "json",
    }


def _stored_request(bot: BotProcess, message: Any) -> dict[str, Any]:
    """The request a message is about, as stored in Redis."""
    rid = message.metadata["event_payload"]["request_id"]
    r = redis.Redis.from_url(bot.redis_url, decode_responses=True)
    try:
        stored: dict[str, Any] = json.loads(r.hget(f"{bot.prefix}:req:{rid}", "request") or "{}")
    finally:
        r.close()
    return stored


def _gateway_args(rules_file: Path | None, *command: str) -> list[str]:
    rules = ["--routes-file", str(rules_file)] if rules_file else []
    return ["-m", "hitl_slack.cli", "mcp-gateway", *rules, "--", *command]


@asynccontextmanager
async def connect(
    bot: BotProcess, upstream: Upstream, *, rules: str = RULES, hold: float = 8.0
) -> AsyncIterator[ClientSession]:
    """An MCP client session with the gateway, started as an MCP client starts it."""
    rules_file = upstream.path.with_name("gates.toml")
    rules_file.write_text(rules)
    params = StdioServerParameters(
        command=sys.executable,
        args=_gateway_args(rules_file, sys.executable, UPSTREAM),
        env=_env(bot, upstream, hold),
    )
    with upstream.path.with_name("gateway.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run a blocking step (waiting for Slack, clicking) without stalling the MCP session."""
    return await anyio.to_thread.run_sync(fn)


def _message_with(fake: FakeSlack, text: str, timeout: float = 10.0) -> PostedMessage:
    def find() -> PostedMessage | None:
        found = [m for m in fake.messages() if text in block_text(m.blocks)]
        return found[-1] if found else None

    fake.wait_until(lambda: find() is not None, timeout=timeout)
    message = find()
    assert message is not None
    return posted(fake, _request_id(message))


def _request_id(message: PostedMessage) -> str:
    assert message.metadata is not None
    request_id: str = message.metadata["event_payload"]["request_id"]
    return request_id


def _count(fake: FakeSlack, text: str) -> int:
    return sum(text in block_text(m.blocks) for m in fake.messages())


def _text(result: mcp_types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, mcp_types.TextContent))


def _modal(fake: FakeSlack, bot: BotProcess, message: PostedMessage, action: str) -> Any:
    before = len(fake.opened_views())
    assert bot.send(block_actions_body(message, action, user_id="U0ALICE"))[0] == 200
    fake.wait_until(lambda: len(fake.opened_views()) > before)
    return fake.opened_views()[-1]


def _submit(bot: BotProcess, view: Any, values: dict[str, Any], user: str = "U0ALICE") -> None:
    status, body = bot.send(view_submission_body(view, values, user_id=user))
    assert (status, body) == (200, ""), body


async def test_the_tools_are_the_wrapped_servers_unchanged(
    bot: BotProcess, upstream: Upstream
) -> None:
    params = StdioServerParameters(command=sys.executable, args=[UPSTREAM], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as direct:
        first = await direct.initialize()
        expected = await direct.list_tools()
    async with connect(bot, upstream) as gateway:
        listed = await gateway.list_tools()
    assert listed.model_dump() == expected.model_dump()
    assert [t.name for t in listed.tools] == [
        "read_file",
        "write_file",
        "pay",
        "confirm_delete",
        "wide_form",
        "count",
        "crash",
    ]
    pay = next(t for t in listed.tools if t.name == "pay")
    assert pay.input_schema["properties"]["amount"]["exclusiveMinimum"] == 0
    assert first.instructions == "Files and payments, for the gateway's tests."


async def test_an_approved_call_reaches_the_server_with_the_edited_arguments(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream
) -> None:
    async with connect(bot, upstream) as gateway:
        call = asyncio.create_task(
            gateway.call_tool("write_file", {"path": "/srv/edit.txt", "text": "hello"})
        )
        message = await in_thread(lambda: _message_with(fake, "Write /srv/edit.txt"))
        assert message.channel == "C0APPROVALS"
        assert upstream.calls() == []  # held: the server has not seen it
        shown = block_text(message.blocks)
        assert "claude-code" in shown  # HITL_MCP_AGENT, not the model
        stored = _stored_request(bot, message)
        assert stored["requested_by"] == "U0DANA"  # HITL_MCP_REQUESTED_BY
        view = await in_thread(lambda: _modal(fake, bot, message, "hitl.edit"))
        edited = {
            "field:0": {"value": {"type": "plain_text_input", "value": "/srv/edit.txt"}},
            "field:1": {"value": {"type": "plain_text_input", "value": "hello, edited"}},
        }
        await in_thread(lambda: _submit(bot, view, edited))
        result = await asyncio.wait_for(call, 15)
    assert not result.is_error
    assert upstream.calls("write_file") == [{"path": "/srv/edit.txt", "text": "hello, edited"}]
    assert result.structured_content == {"result": "wrote 13 characters to /srv/edit.txt"}
    assert "U0ALICE edited the arguments in Slack before approving" in _text(result)
    assert '"text": "hello, edited"' in _text(result)


async def test_a_rejected_call_is_a_tool_error_with_the_reason_and_never_reaches_the_server(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream, agent: HITLClient
) -> None:
    async with connect(bot, upstream) as gateway:
        call = asyncio.create_task(
            gateway.call_tool("write_file", {"path": "/etc/passwd", "text": "x"})
        )
        message = await in_thread(lambda: _message_with(fake, "Write /etc/passwd"))
        state = agent.get(_request_id(message))
        assert (state.request.action, state.request.payload) == (
            "write_file",
            {"path": "/etc/passwd", "text": "x"},
        )
        assert (state.request.risk, state.request.tags) == ("high", ("mcp", "files"))
        view = await in_thread(lambda: _modal(fake, bot, message, "hitl.reject"))
        reason = {"reason": {"reason_input": {"type": "plain_text_input", "value": "not there"}}}
        await in_thread(lambda: _submit(bot, view, reason, user="U0BOB"))
        result = await asyncio.wait_for(call, 15)
        assert result.is_error
        assert "U0BOB rejected this call in Slack: not there" in _text(result)
        assert "The call was not made" in _text(result)

        again = await gateway.call_tool("write_file", {"path": "/etc/passwd", "text": "x"})
    assert _text(again) == _text(result)  # the same answer, no second message
    assert _count(fake, "Write /etc/passwd") == 1
    assert upstream.calls() == []


async def test_an_ungated_call_passes_straight_through_without_a_slack_message(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream, agent: HITLClient
) -> None:
    queue = Keys(bot.prefix).queue
    queued = agent.store.redis.xlen(queue)
    posts = len(fake.calls("chat.postMessage"))
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with connect(bot, upstream) as gateway:
        result = await gateway.call_tool("read_file", {"path": "/srv/readme"})
        counted = await gateway.call_tool("count", {"n": 2}, progress_callback=on_progress)
    assert (result.is_error, result.structured_content) == (
        False,
        {"result": "contents of /srv/readme"},
    )
    assert _text(counted) == "counted to 2"
    assert progress == [(1, 2, "step 1"), (2, 2, "step 2")]  # relayed as they came
    assert upstream.calls("read_file") == [{"path": "/srv/readme"}]
    assert agent.store.redis.xlen(queue) == queued
    assert len(fake.calls("chat.postMessage")) == posts


async def test_a_predicate_gate_holds_the_big_payment_only(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream
) -> None:
    async with connect(bot, upstream) as gateway:
        small = await gateway.call_tool("pay", {"amount": 50, "to": "bob"})
        assert small.structured_content == {"amount": 50.0, "to": "bob"}
        assert _count(fake, "Pay 50 to bob") == 0
        big = asyncio.create_task(gateway.call_tool("pay", {"amount": 5000, "to": "bob"}))
        message = await in_thread(lambda: _message_with(fake, "Pay 5000 to bob"))
        assert upstream.calls("pay") == [{"amount": 50.0, "to": "bob"}]
        await in_thread(lambda: bot.send(block_actions_body(message, "hitl.approve")))
        result = await asyncio.wait_for(big, 15)
    assert result.structured_content == {"amount": 5000.0, "to": "bob"}  # passed through as is
    assert upstream.calls("pay") == [{"amount": 50.0, "to": "bob"}, {"amount": 5000.0, "to": "bob"}]


def _checked(view: Any, block_id: str) -> dict[str, Any]:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    return {"value": {"selected_options": block["element"]["options"][:1]}}


async def test_an_elicitation_of_the_wrapped_server_is_answered_in_slack(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream
) -> None:
    async with connect(bot, upstream) as gateway:
        call = asyncio.create_task(gateway.call_tool("confirm_delete", {"path": "/tmp/old"}))
        message = await in_thread(lambda: _message_with(fake, "Delete /tmp/old?"))
        assert "test-upstream" in block_text(message.blocks)
        view = await in_thread(lambda: _modal(fake, bot, message, "hitl.answer"))
        answer = {
            "field:confirm": _checked(view, "field:confirm"),
            "field:note": {"value": {"type": "plain_text_input", "value": "stale"}},
        }
        await in_thread(lambda: _submit(bot, view, answer))
        result = await asyncio.wait_for(call, 15)
        assert _text(result) == "deleted /tmp/old (note: stale)"

        declined = asyncio.create_task(gateway.call_tool("confirm_delete", {"path": "/tmp/new"}))
        message = await in_thread(lambda: _message_with(fake, "Delete /tmp/new?"))
        view = await in_thread(lambda: _modal(fake, bot, message, "hitl.reject"))
        reason = {"reason": {"reason_input": {"type": "plain_text_input", "value": None}}}
        await in_thread(lambda: _submit(bot, view, reason))
        assert _text(await asyncio.wait_for(declined, 15)) == "kept /tmp/new (decline)"
    assert upstream.calls("confirm_delete") == [
        {"path": "/tmp/old", "action": "accept"},
        {"path": "/tmp/new", "action": "decline"},
    ]


async def test_a_question_is_cancelled_when_the_call_that_asked_it_is(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream, agent: HITLClient
) -> None:
    async with connect(bot, upstream) as gateway:
        call = asyncio.create_task(gateway.call_tool("confirm_delete", {"path": "/tmp/gone"}))
        message = await in_thread(lambda: _message_with(fake, "Delete /tmp/gone?"))
        call.cancel()
        await in_thread(lambda: wait_updated(fake, message, "Cancelled"))
    decision = agent.get(_request_id(message)).decision
    assert decision is not None
    assert (decision.status, decision.reason) == (
        Status.CANCELLED,
        "the MCP server stopped waiting",
    )
    assert upstream.calls("confirm_delete") == []


def _answer(status: Status, payload: dict[str, Any] | None = None) -> Answer[Any]:
    decision = Decision(
        request_id="req_1", status=status, payload=payload or {}, decided_at=datetime.now(UTC)
    )
    return answer_of(decision)


def test_each_answer_maps_to_its_elicitation_result() -> None:
    form = {"answer": {"confirm": True, "note": None, "n": 3}}
    assert result_of(_answer(Status.ANSWERED, form)) == mcp_types.ElicitResult(
        action="accept", content={"confirm": True, "n": 3}
    )
    assert result_of(_answer(Status.ANSWERED, {"answer": ACCEPT})) == mcp_types.ElicitResult(
        action="accept", content={}
    )
    assert result_of(_answer(Status.REJECTED)).action == "decline"
    assert result_of(_answer(Status.EXPIRED)).action == "cancel"
    assert result_of(_answer(Status.CANCELLED)).action == "cancel"


async def test_an_elicitation_slack_cannot_show_is_declined_at_once(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream
) -> None:
    posts = len(fake.calls("chat.postMessage"))
    async with connect(bot, upstream) as gateway:
        result = await asyncio.wait_for(gateway.call_tool("wide_form", {}), 10)
    assert _text(result) == "elicitation decline"
    assert len(fake.calls("chat.postMessage")) == posts
    log = upstream.path.with_name("gateway.log").read_text()
    assert "elicitation_declined" in log
    assert "schema.address" in log


async def test_a_hold_that_runs_out_tells_the_client_to_retry_and_the_retry_reattaches(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream
) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    arguments = {"amount": 7000, "to": "carol"}
    async with connect(bot, upstream, hold=1.5) as gateway:
        first = await gateway.call_tool("pay", arguments, progress_callback=on_progress)
        assert first.is_error
        message = await in_thread(lambda: _message_with(fake, "Pay 7000 to carol"))
        request_id = _request_id(message)
        pending = f"waiting for a human decision in Slack (request {request_id})"
        assert _text(first).startswith("Approval pending: this call is " + pending)
        assert "Retry the same call" in _text(first)
        assert progress[0] == (0.0, "Waiting for approval in Slack")

        retry = await gateway.call_tool("pay", arguments)
        assert request_id in _text(retry)  # the same request: not asked again
        await in_thread(lambda: bot.send(block_actions_body(message, "hitl.approve")))
        await in_thread(lambda: wait_updated(fake, message, "Approved"))
        after = await gateway.call_tool("pay", arguments)
        assert after.structured_content == {"amount": 7000.0, "to": "carol"}
        assert _count(fake, "Pay 7000 to carol") == 1
        assert upstream.calls("pay") == [{"amount": 7000.0, "to": "carol"}]

        once_more = await gateway.call_tool("pay", arguments)  # one approval, one call
        assert once_more.is_error
        assert request_id not in _text(once_more)
    assert _count(fake, "Pay 7000 to carol") == 2
    assert len(upstream.calls("pay")) == 1


async def test_the_client_cancelling_a_held_call_cancels_the_slack_request(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream, agent: HITLClient
) -> None:
    async with connect(bot, upstream) as gateway:
        call = asyncio.create_task(
            gateway.call_tool("write_file", {"path": "/srv/cancel.txt", "text": "x"})
        )
        message = await in_thread(lambda: _message_with(fake, "Write /srv/cancel.txt"))
        call.cancel()
        shown = await in_thread(lambda: wait_updated(fake, message, "Cancelled"))
        decision = agent.get(_request_id(message)).decision
        assert decision is not None
        assert (decision.status, decision.reason) == (
            Status.CANCELLED,
            "the MCP client cancelled the call",
        )
        assert not shown.live
        await in_thread(lambda: bot.send(block_actions_body(message, "hitl.approve")))
        assert (await gateway.call_tool("read_file", {"path": "/ping"})).structured_content
    assert upstream.calls("write_file") == []


async def test_a_request_still_pending_when_the_client_leaves_is_cancelled(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream, agent: HITLClient
) -> None:
    async with connect(bot, upstream, hold=0.5) as gateway:
        result = await gateway.call_tool("write_file", {"path": "/srv/left.txt", "text": "x"})
        assert result.is_error
        message = await in_thread(lambda: _message_with(fake, "Write /srv/left.txt"))
    await in_thread(lambda: wait_updated(fake, message, "Cancelled"))
    decision = agent.get(_request_id(message)).decision
    assert decision is not None
    assert decision.reason == "the MCP client disconnected"


async def test_arguments_too_large_to_ask_about_are_refused_and_not_forwarded(
    bot: BotProcess, upstream: Upstream
) -> None:
    async with connect(bot, upstream) as gateway:
        result = await gateway.call_tool("write_file", {"path": "/big", "text": "x" * 70_000})
    assert result.is_error
    assert _text(result).startswith("Not made: the call could not be sent for approval: ")
    assert "payload: is 70025 bytes as JSON; the limit is 65536" in _text(result)
    assert upstream.calls() == []


async def test_when_the_wrapped_server_exits_held_requests_are_cancelled_and_the_gateway_exits(
    bot: BotProcess, fake: FakeSlack, upstream: Upstream, agent: HITLClient
) -> None:
    async with connect(bot, upstream) as gateway:
        held = asyncio.create_task(
            gateway.call_tool("write_file", {"path": "/srv/crash.txt", "text": "x"})
        )
        message = await in_thread(lambda: _message_with(fake, "Write /srv/crash.txt"))
        with pytest.raises(MCPError):
            await gateway.call_tool("crash", {})
        with pytest.raises(MCPError):
            await held
    await in_thread(lambda: wait_updated(fake, message, "Cancelled"))
    decision = agent.get(_request_id(message)).decision
    assert decision is not None
    assert decision.reason == "the wrapped MCP server exited"
    log = upstream.path.with_name("gateway.log").read_text()
    assert "hitl-slack mcp-gateway: the wrapped MCP server exited" in log.splitlines()
    assert upstream.calls() == []


def _run_gateway(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_a_bad_rules_file_is_refused_at_start_naming_the_rule_and_the_field(
    bot: BotProcess, upstream: Upstream
) -> None:
    rules = upstream.path.with_name("bad.toml")
    rules.write_text(
        RULES
        + """
[[gates]]
name = "typo"
tools = ["pay"]
when = { amount = { gte = 10 }, to = { gt = true } }
"""
    )
    done = _run_gateway(_gateway_args(rules, sys.executable, UPSTREAM), _env(bot, upstream, 5))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"configuration error: invalid rules file {rules}:",
        '  gates[2] "typo": when.amount.gte: unknown key (allowed: eq, ne, gt, ge, lt, le, in, '
        "glob, exists)",
        '  gates[2] "typo": when.to.gt: must be a number or a string, not boolean',
    ]
    assert done.stdout == ""
    missing = _run_gateway(
        _gateway_args(rules.with_name("none.toml"), "true"), _env(bot, upstream, 5)
    )
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"configuration error: rules file not found: {rules.with_name('none.toml')}",
    )


def test_a_wrapped_server_that_cannot_start_is_an_exit_1_saying_so(
    bot: BotProcess, upstream: Upstream
) -> None:
    done = _run_gateway(_gateway_args(None, "/nonexistent/mcp-server"), _env(bot, upstream, 5))
    assert done.returncode == 1
    assert "cannot start '/nonexistent/mcp-server'" in done.stderr


def test_without_the_mcp_sdk_it_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['mcp'] = None\n"
        "from hitl_slack.cli import main\n"
        "sys.exit(main(['mcp-gateway', '--', 'true']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stderr) == (2, MCP_INSTALL + "\n")
    assert MCP_INSTALL == "hitl-slack mcp-gateway needs the MCP SDK: pip install 'hitl-slack[mcp]'"
