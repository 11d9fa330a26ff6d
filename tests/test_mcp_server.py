"""``hitl-slack mcp``, driven by the MCP SDK's own client, with the real bot and the fake Slack.

The server runs as MCP clients run it: ``python -m hitl_slack.cli mcp`` spawned by the SDK's
stdio client (or ``--http`` on a free port, reached with the SDK's streamable-HTTP client).
Clicks are signed requests built from the messages the real bot (``hitl-slack serve``) posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, TextIO

import httpx2
import pytest
import redis
from fakeslack import FakeSlack, PostedMessage, block_actions_body, block_text, view_submission_body
from harness import BotProcess, posted, wait_updated
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ElicitResult
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from hitl_slack import AsyncHITLClient, Status
from hitl_slack.playground.redisproc import free_port

TOKEN = "mcp-test-token-" + "k" * 24
_REQUEST_ID = re.compile(r"req_[0-9a-f]{26}")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture(scope="module")
def module_prefix() -> Iterator[str]:
    from conftest import REDIS_URL

    name = f"test-mcp-{uuid.uuid4().hex[:10]}"
    yield name
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(match=f"{name}:*", count=1000):
        r.delete(key)
    r.close()


@pytest.fixture(scope="module")
def bot(fake: FakeSlack, module_prefix: str) -> Iterator[BotProcess]:
    from conftest import REDIS_URL

    b = BotProcess(fake, module_prefix, REDIS_URL).start()
    yield b
    assert b.stop() == 0, b.logs()


@pytest.fixture
async def agent(bot: BotProcess) -> AsyncIterator[AsyncHITLClient]:
    """A plain agent on the bot's prefix: reads what the MCP server stored."""
    c = AsyncHITLClient(bot.redis_url, bot.prefix)
    yield c
    await c.aclose()


def server_env(bot: BotProcess, **extra: str) -> dict[str, str]:
    env = {
        "REDIS_URL": bot.redis_url,
        "HITL_KEY_PREFIX": bot.prefix,
        "HITL_MCP_HOLD": "1",
        "LOG_FORMAT": "json",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return env | extra


@contextlib.asynccontextmanager
async def stdio(
    bot: BotProcess, errlog: TextIO | None = None, elicit: Any = None, **extra: str
) -> AsyncIterator[Client]:
    """An MCP client session over stdio with a fresh ``hitl-slack mcp`` process (``elicit``:
    the client's elicitation callback; the client then offers elicitation)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "hitl_slack.cli", "mcp"], env=server_env(bot, **extra)
    )
    with contextlib.ExitStack() as stack:
        log = errlog or stack.enter_context(tempfile.TemporaryFile("w+"))
        # Elicitation needs a back-channel: the handshake protocol (as Claude Code speaks it).
        options = {"elicitation_callback": elicit, "mode": "legacy"} if elicit else {}
        async with Client(stdio_client(params, errlog=log), **options) as client:
            yield client


async def call(client: Client, tool: str, **arguments: Any) -> tuple[dict[str, Any], str]:
    """A tool call: (structured result, text), checking that the text tells the same story."""
    result: CallToolResult = await client.call_tool(tool, arguments)
    assert result.structured_content is not None, result
    text = result.content[0].text  # type: ignore[union-attr]
    structured: dict[str, Any] = result.structured_content
    assert text.startswith(structured["status"].upper()), text
    assert result.is_error is (structured["status"] == "error")
    return structured, text


def message_for(fake: FakeSlack, summary: str) -> tuple[PostedMessage, str]:
    """The bot's message whose text shows ``summary``, and its request id (waits for it)."""

    def find() -> PostedMessage | None:
        return next((m for m in fake.messages() if summary in (m.text or "")), None)

    fake.wait_until(lambda: find() is not None, timeout=10)
    found = find()
    assert found is not None
    match = _REQUEST_ID.search(json.dumps(found.blocks))
    assert match is not None
    return posted(fake, match.group()), match.group()


def reject(bot: BotProcess, fake: FakeSlack, msg: PostedMessage, rid: str, reason: str) -> None:
    bot.send(block_actions_body(msg, "hitl.reject", user_id="U0BOB"))
    call_ = fake.wait_for_call("views.open", lambda c: rid in json.dumps(c.params))
    value = {"type": "plain_text_input", "value": reason}
    bot.send(
        view_submission_body(
            call_.response["view"], {"reason": {"reason_input": value}}, user_id="U0BOB"
        )
    )


def edit(bot: BotProcess, fake: FakeSlack, msg: PostedMessage, rid: str, values: list[str]) -> None:
    bot.send(block_actions_body(msg, "hitl.edit", user_id="U0CAROL"))
    call_ = fake.wait_for_call("views.open", lambda c: rid in json.dumps(c.params))
    fields = {
        f"field:{i}": {"value": {"type": "plain_text_input", "value": v}}
        for i, v in enumerate(values)
    }
    status, body = bot.send(view_submission_body(call_.response["view"], fields, user_id="U0CAROL"))
    assert (status, body) == (200, "")


def unique(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


# --- stdio ---------------------------------------------------------------------------------------


async def test_an_approval_made_while_the_call_holds_is_returned_at_once(
    bot: BotProcess, fake: FakeSlack
):
    summary = unique("Deploy web 1.2")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with stdio(bot, HITL_MCP_HOLD="30") as client:
        task = asyncio.create_task(
            client.call_tool(
                "request_approval",
                {"summary": summary, "action": "deploy", "arguments": {"version": "1.2"}},
                progress_callback=on_progress,
            )
        )
        msg, rid = await asyncio.to_thread(message_for, fake, summary)
        clicked = time.monotonic()
        bot.send(block_actions_body(msg, "hitl.approve", user_id="U0ALICE"))
        result = await asyncio.wait_for(task, 10)
    assert time.monotonic() - clicked < 5  # woken by the decision, not by the end of the hold
    assert result.structured_content == {
        "status": "approved",
        "approved": True,
        "request_id": rid,
        "arguments": {"version": "1.2"},
        "edited": False,
        "answer": None,
        "reason": None,
        "decided_by": ["U0ALICE"],
        "deadline": None,
        "message": "A human approved. Perform the action with exactly these arguments, as "
        "proposed.",
    }
    assert result.content[0].text.splitlines() == [  # type: ignore[union-attr]
        f"APPROVED ({rid}) by U0ALICE",
        "A human approved. Perform the action with exactly these arguments, as proposed.",
        'Arguments: {"version": "1.2"}',
    ]
    assert progress[0] == (0.0, 30.0, f"waiting for a human to decide {rid}")


async def test_a_rejection_reaches_await_decision_with_its_reason(bot: BotProcess, fake: FakeSlack):
    summary = unique("Delete bucket logs")
    async with stdio(bot) as client:
        first, _ = await call(client, "request_approval", summary=summary, action="delete_bucket")
        assert first["status"] == "pending"
        msg = await asyncio.to_thread(posted, fake, first["request_id"])
        await asyncio.to_thread(reject, bot, fake, msg, first["request_id"], "keep the logs")
        result, text = await call(client, "await_decision", request_id=first["request_id"])
    assert (result["status"], result["approved"], result["reason"], result["decided_by"]) == (
        "rejected",
        False,
        "keep the logs",
        ["U0BOB"],
    )
    assert "keep the logs" in text
    assert "This is not an approval: do not perform the action." in text


async def test_an_edit_returns_the_arguments_as_the_human_left_them(
    bot: BotProcess, fake: FakeSlack
):
    summary = unique("Scale api")
    async with stdio(bot) as client:
        first, _ = await call(
            client,
            "request_approval",
            summary=summary,
            action="scale",
            arguments={"service": "api", "replicas": 30},
        )
        msg = await asyncio.to_thread(posted, fake, first["request_id"])
        await asyncio.to_thread(edit, bot, fake, msg, first["request_id"], ["api", "3"])
        result, text = await call(client, "await_decision", request_id=first["request_id"])
    assert (result["status"], result["arguments"], result["edited"]) == (
        "approved",
        {"service": "api", "replicas": 3},
        True,
    )
    assert "as the reviewer edited them" in text
    assert 'Arguments: {"service": "api", "replicas": 3}' in text


async def test_a_call_holds_then_says_pending_and_await_decision_holds_again(
    bot: BotProcess, fake: FakeSlack, agent: AsyncHITLClient
):
    async with stdio(bot, HITL_MCP_HOLD="1.5") as client:
        started = time.monotonic()
        first, text = await call(
            client, "request_approval", summary=unique("Rotate keys"), action="rotate_keys"
        )
        held = time.monotonic() - started
        rid = first["request_id"]
        assert 1.4 < held < 6
        state = await agent.get(rid)
        assert first == {
            "status": "pending",
            "approved": False,
            "request_id": rid,
            "arguments": None,
            "edited": False,
            "answer": None,
            "reason": None,
            "decided_by": [],
            "deadline": state.effective_deadline.isoformat().replace("+00:00", "Z"),
            "message": first["message"],
        }
        assert f"Call await_decision with request_id {rid!r}" in text
        assert "Do not act yet." in text
        again, _ = await call(client, "await_decision", request_id=rid)
        assert again["status"] == "pending"
        msg = await asyncio.to_thread(posted, fake, rid)
        bot.send(block_actions_body(msg, "hitl.approve", user_id="U0ALICE"))
        final, _ = await call(client, "await_decision", request_id=rid)
    assert (final["status"], final["approved"]) == ("approved", True)


async def test_await_decision_finds_the_request_after_the_server_was_killed(
    bot: BotProcess, fake: FakeSlack
):
    with tempfile.TemporaryFile("w+") as log:
        async with stdio(bot, errlog=log) as client:
            first, _ = await call(
                client,
                "request_approval",
                summary=unique("Purge cache"),
                action="purge_cache",
                idempotency_key="purge-1",
            )
            log.seek(0)
            pid = next(json.loads(line)["pid"] for line in log if '"mcp_ready"' in line)
            os.kill(pid, signal.SIGKILL)  # no shutdown at all
    rid = first["request_id"]
    msg = await asyncio.to_thread(posted, fake, rid)
    bot.send(block_actions_body(msg, "hitl.approve", user_id="U0ALICE"))  # while no server runs
    await asyncio.to_thread(wait_updated, fake, msg, "Approved")
    async with stdio(bot) as client:  # a new process, a new client session
        result, _ = await call(client, "await_decision", request_id=rid)
        again, _ = await call(
            client,
            "request_approval",
            summary="Purge cache",
            action="purge_cache",
            idempotency_key="purge-1",
        )
    assert (result["status"], result["decided_by"]) == ("approved", ["U0ALICE"])
    assert (again["status"], again["request_id"]) == ("approved", rid)  # re-attached, not new


async def test_expiry_is_not_an_approval(bot: BotProcess, fake: FakeSlack):
    async with stdio(bot, HITL_MCP_HOLD="10") as client:
        result, text = await call(
            client, "request_approval", summary=unique("Drop table"), action="drop", timeout_s=1
        )
    assert (result["status"], result["approved"]) == ("expired", False)
    assert "expired" in text
    assert "This is not an approval: do not perform the action." in text


async def test_cancel_withdraws_the_request_and_it_stays_cancelled(
    bot: BotProcess, fake: FakeSlack
):
    async with stdio(bot) as client:
        first, _ = await call(client, "request_approval", summary=unique("Resize"), action="resize")
        rid = first["request_id"]
        msg = await asyncio.to_thread(posted, fake, rid)
        cancelled, text = await call(
            client, "cancel_request", request_id=rid, reason="no longer needed"
        )
        later, _ = await call(client, "await_decision", request_id=rid)
        twice, twice_text = await call(client, "cancel_request", request_id=rid)
    assert (cancelled["status"], cancelled["approved"], cancelled["reason"]) == (
        "cancelled",
        False,
        "no longer needed",
    )
    assert "This is not an approval" in text
    assert later["status"] == "cancelled"
    assert (twice["status"], twice["request_id"]) == ("error", rid)
    assert f"request {rid} was already cancelled; nothing was cancelled" in twice_text
    shown = await asyncio.to_thread(wait_updated, fake, msg, "Cancelled")
    assert "no longer needed" in block_text(shown.blocks)


async def test_an_unknown_id_and_another_agents_request_are_errors(
    bot: BotProcess, agent: AsyncHITLClient
):
    theirs = await agent.submit("Refund $5", "refund_payment", {"amount": 5}, timeout=60)
    async with stdio(bot) as client:
        unknown, text = await call(client, "await_decision", request_id="req_" + "0" * 26)
        other, other_text = await call(client, "await_decision", request_id=theirs.request_id)
        cancel, _ = await call(client, "cancel_request", request_id=theirs.request_id)
    assert (unknown["status"], unknown["approved"]) == ("error", False)
    assert f"no request 'req_{'0' * 26}' was filed through this MCP server" in text
    assert "This is not an approval" in text
    assert (other["status"], cancel["status"]) == ("error", "error")
    assert "was filed through this MCP server" in other_text  # the same words: nothing leaks
    assert (await agent.get(theirs.request_id)).status is Status.PENDING  # not cancelled


async def test_agent_route_tags_and_the_risk_floor_come_from_the_configuration(
    bot: BotProcess, fake: FakeSlack, agent: AsyncHITLClient
):
    configured = {
        "HITL_MCP_AGENT": "claude-code",
        "HITL_MCP_REQUESTED_BY": "dana",
        "HITL_MCP_TAGS": "mcp, deploys",
        "HITL_MCP_ROUTE": "ops",
        "HITL_MCP_MIN_RISK": "high",
    }
    async with stdio(bot, **configured) as client:
        lowered, _ = await call(
            client,
            "request_approval",
            summary=unique("Restart"),
            action="restart",
            risk="low",
            # Not parameters of the tool: a model writing them changes nothing.
            agent="trusted-admin",
            route="finance",
            tags=["preapproved"],
            channel="C0FINANCE",
            requested_by="the CEO",
        )
        raised, _ = await call(
            client, "request_approval", summary=unique("Restart"), action="restart", risk="critical"
        )
    stored = (await agent.get(lowered["request_id"])).request
    assert (stored.agent, stored.route, stored.tags, stored.channel, stored.risk) == (
        "claude-code for dana",
        "ops",
        ("mcp", "deploys"),
        None,
        "high",
    )
    assert (await agent.get(raised["request_id"])).request.risk == "critical"
    msg = await asyncio.to_thread(posted, fake, lowered["request_id"])
    assert msg.channel == "C0APPROVALS"  # routed by the bot's rules, not by an argument
    assert "claude-code for dana" in block_text(msg.blocks)


async def test_requested_by_comes_from_the_configuration_never_from_the_model(
    bot: BotProcess, agent: AsyncHITLClient
):
    # A user id (or an email) is the request's requested_by: the route's self_approval applies.
    configured = {"HITL_MCP_AGENT": "claude-code", "HITL_MCP_REQUESTED_BY": "U0DANA"}
    async with stdio(bot, **configured) as client:
        filed, _ = await call(
            client,
            "request_approval",
            summary=unique("Restart"),
            action="restart",
            requested_by="U0CEO",  # not a parameter of the tool
        )
    stored = (await agent.get(filed["request_id"])).request
    assert (stored.agent, stored.requested_by) == ("claude-code", "U0DANA")


async def test_a_models_idempotency_key_cannot_reach_another_agents_request(
    bot: BotProcess, agent: AsyncHITLClient
):
    theirs = await agent.submit(
        "Refund $7", "refund_payment", {"amount": 7}, timeout=60, idempotency_key="refund-7"
    )
    await agent.cancel(theirs.request_id)  # decided: a re-attach would return this decision
    async with stdio(bot) as client:
        mine, _ = await call(
            client,
            "request_approval",
            summary="Refund $7",
            action="refund_payment",
            arguments={"amount": 7},
            idempotency_key="refund-7",
        )
    assert mine["status"] == "pending"
    assert mine["request_id"] != theirs.request_id


def test_mcp_without_the_sdk_says_how_to_install_it():
    blocked = (
        "import sys; sys.modules['mcp'] = None; from hitl_slack.cli import main; "
        "sys.exit(main(['mcp']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stderr, done.stdout) == (
        2,
        "hitl-slack mcp needs the MCP SDK: pip install 'hitl-slack[mcp]'\n",
        "",
    )


# --- streamable HTTP -----------------------------------------------------------------------------


class HttpServer:
    """``hitl-slack mcp --http`` on a free port."""

    def __init__(self, bot: BotProcess, **extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
        env |= server_env(bot, HITL_MCP_PORT=str(self.port), **extra)
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hitl_slack.cli", "mcp", "--http"],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )

    def wait(self) -> int | None:
        """Until it listens (None), or its exit status if it stopped."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self.proc.returncode
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return None
            time.sleep(0.05)
        raise AssertionError(f"mcp --http did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self.log.close()


@pytest.fixture
def http_server(bot: BotProcess) -> Iterator[HttpServer]:
    server = HttpServer(bot, HITL_MCP_TOKEN=TOKEN)
    assert server.wait() is None, server.output()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def http_session(url: str, token: str = TOKEN, **kw: Any) -> AsyncIterator[Client]:
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http), **kw) as client,
    ):
        yield client


def test_http_refuses_to_start_without_a_good_token(bot: BotProcess):
    missing = HttpServer(bot)
    weak = HttpServer(bot, HITL_MCP_TOKEN="hunter2")
    assert (missing.wait(), weak.wait()) == (2, 2)
    said = (missing.output(), weak.output())
    missing.stop()
    weak.stop()
    assert said[0].splitlines() == [
        "configuration error: HITL_MCP_TOKEN is not set: --http requires a bearer token that "
        "every client sends (make one with python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))')"
    ]
    assert "HITL_MCP_TOKEN: must be at least 24 characters" in said[1]
    assert "hunter2" not in said[1]


async def test_http_refuses_a_wrong_token_and_foreign_hosts(http_server: HttpServer):
    with pytest.raises(ExceptionGroup) as refused:
        async with http_session(http_server.url, token="not-" + TOKEN):
            pass
    assert refused.group_contains(MCPError, match="unauthorized")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as http:
        bare = await http.post(http_server.url, json=body, headers=accept)
        wrong = await http.post(
            http_server.url, json=body, headers=accept | {"Authorization": "Bearer nope"}
        )
        good = accept | {"Authorization": f"Bearer {TOKEN}"}
        rebound = await http.post(http_server.url, json=body, headers=good | {"Host": "evil.test"})
        foreign = await http.post(
            http_server.url, json=body, headers=good | {"Origin": "http://evil.test"}
        )
    assert (bare.status_code, wrong.status_code) == (401, 401)
    assert (rebound.status_code, foreign.status_code) == (421, 403)
    assert TOKEN not in http_server.output()


async def test_http_a_session_reaches_only_the_requests_it_filed(
    http_server: HttpServer, bot: BotProcess, fake: FakeSlack, agent: AsyncHITLClient
):
    async with http_session(http_server.url) as alice:
        assert alice.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS  # sessions exist there
        mine, _ = await call(
            alice, "request_approval", summary=unique("Migrate db"), action="migrate"
        )
        rid = mine["request_id"]
        async with http_session(http_server.url) as mallory:
            peek, text = await call(mallory, "await_decision", request_id=rid)
            cancel, _ = await call(mallory, "cancel_request", request_id=rid)
        assert (peek["status"], cancel["status"]) == ("error", "error")
        assert f"no request {rid!r} was filed through this MCP session" in text
        assert (await agent.get(rid)).status is Status.PENDING
        msg = await asyncio.to_thread(posted, fake, rid)
        bot.send(block_actions_body(msg, "hitl.approve", user_id="U0ALICE"))
        result, _ = await call(alice, "await_decision", request_id=rid)
    assert (result["status"], result["decided_by"]) == ("approved", ["U0ALICE"])


async def test_http_refuses_the_sessionless_protocol_revision(http_server: HttpServer):
    with pytest.raises(ExceptionGroup) as refused:
        async with http_session(http_server.url, mode="2026-07-28") as client:
            await client.call_tool("await_decision", {"request_id": "req_x"})
    assert refused.group_contains(MCPError, match="scopes requests per MCP session")


# --- ask_human ---------------------------------------------------------------------------------


async def test_ask_human_options_are_answered_in_slack(bot: BotProcess, fake: FakeSlack):
    question = unique("Which region should I deploy to?")
    async with stdio(bot, HITL_MCP_HOLD="30") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "ask_human" in tools
        task = asyncio.create_task(
            call(client, "ask_human", question=question, options=["eu-west-1", "us-east-1"])
        )
        msg, rid = await asyncio.to_thread(message_for, fake, question)
        bot.send(block_actions_body(msg, "hitl.answer.option:1", user_id="U0ALICE"))
        result, text = await asyncio.wait_for(task, 10)
    assert (result["status"], result["answer"], result["approved"]) == (
        "answered",
        "us-east-1",
        False,
    )
    assert result["decided_by"] == ["U0ALICE"]
    assert result["request_id"] == rid
    assert text.splitlines()[-1] == 'Answer: "us-east-1"'


async def test_ask_human_a_form_then_pending_then_await_decision(bot: BotProcess, fake: FakeSlack):
    question = unique("Shipping details")
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "qty": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["name", "qty"],
    }
    async with stdio(bot) as client:
        first, _ = await call(client, "ask_human", question=question, schema=schema)
        assert first["status"] == "pending"
        rid = first["request_id"]
        msg, _ = await asyncio.to_thread(message_for, fake, question)
        bot.send(block_actions_body(msg, "hitl.answer", user_id="U0ALICE"))
        opened = await asyncio.to_thread(
            fake.wait_for_call, "views.open", lambda c: rid in json.dumps(c.params)
        )
        values = {
            "field:name": {"value": {"type": "plain_text_input", "value": "Ada"}},
            "field:qty": {"value": {"type": "number_input", "value": "3"}},
        }
        view = opened.response["view"]
        assert bot.send(view_submission_body(view, values, user_id="U0ALICE")) == (200, "")
        done, _ = await call(client, "await_decision", request_id=rid)
    assert (done["status"], done["answer"]) == ("answered", {"name": "Ada", "qty": 3})


async def test_ask_human_declined_and_a_bad_schema_are_not_answers(
    bot: BotProcess, fake: FakeSlack
):
    question = unique("What should the subject line say?")
    async with stdio(bot, HITL_MCP_HOLD="30") as client:
        bad, text = await call(
            client,
            "ask_human",
            question="Where?",
            schema={"type": "object", "properties": {"addr": {"type": "object"}}},
        )
        assert bad["status"] == "error"
        assert "schema.addr" in text
        task = asyncio.create_task(call(client, "ask_human", question=question))
        msg, rid = await asyncio.to_thread(message_for, fake, question)
        reject(bot, fake, msg, rid, "ask someone else")
        result, text = await asyncio.wait_for(task, 10)
    assert (result["status"], result["answer"], result["reason"]) == (
        "declined",
        None,
        "ask someone else",
    )
    assert "There is no answer." in text


def _answering(content: dict[str, Any] | None, action: str = "accept", delay: float = 0) -> Any:
    """An elicitation callback: the client's user answers ``content`` after ``delay`` s."""
    asked: list[Any] = []

    async def callback(context: Any, params: Any) -> ElicitResult:
        asked.append(params)
        await asyncio.sleep(delay)
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    callback.asked = asked  # type: ignore[attr-defined]
    return callback


async def test_ask_human_in_client_mode_asks_the_person_at_the_keyboard(
    bot: BotProcess, fake: FakeSlack, agent: AsyncHITLClient
):
    question = unique("Which region?")
    elicit = _answering({"answer": "us-east-1"})
    async with stdio(bot, elicit=elicit, HITL_MCP_ASK="client") as client:
        result, _ = await call(
            client, "ask_human", question=question, options=["eu-west-1", "us-east-1"]
        )
    assert (result["status"], result["answer"]) == ("answered", "us-east-1")
    assert elicit.asked[0].message == question
    schema = elicit.asked[0].requested_schema
    assert [c["const"] for c in schema["properties"]["answer"]["oneOf"]] == [
        "eu-west-1",
        "us-east-1",
    ]
    state = await agent.get(result["request_id"])  # filed for the trail, decided by the answer
    assert state.decision is not None
    assert state.decision.reason == "answered in the MCP client (elicitation)"
    # No one is asked in Slack: if the bot shows the question, it shows it answered.
    await asyncio.sleep(0.5)
    assert not any(m.live and question in (m.text or "") for m in fake.messages())


async def test_ask_human_in_both_modes_the_first_answer_wins(bot: BotProcess, fake: FakeSlack):
    slow = unique("Proceed with the migration?")
    never = _answering({"answer": "no"}, delay=60)  # the person at the keyboard is away
    async with stdio(bot, elicit=never, HITL_MCP_ASK="both", HITL_MCP_HOLD="30") as client:
        task = asyncio.create_task(call(client, "ask_human", question=slow, options=["yes", "no"]))
        msg, _ = await asyncio.to_thread(message_for, fake, slow)
        bot.send(block_actions_body(msg, "hitl.answer.option:0", user_id="U0ALICE"))
        result, _ = await asyncio.wait_for(task, 10)
    assert (result["status"], result["answer"], result["decided_by"]) == (
        "answered",
        "yes",
        ["U0ALICE"],
    )

    quick = unique("Proceed with the cleanup?")
    at_once = _answering({"answer": "no"})
    async with stdio(bot, elicit=at_once, HITL_MCP_ASK="both", HITL_MCP_HOLD="30") as client:
        result, _ = await call(client, "ask_human", question=quick, options=["yes", "no"])
        msg, _ = await asyncio.to_thread(message_for, fake, quick)
        shown = await asyncio.to_thread(wait_updated, fake, msg, "Answered")
    assert (result["status"], result["answer"], result["decided_by"]) == ("answered", "no", [])
    assert not shown.live  # the Slack copy is closed: answered in the client
    text = block_text(shown.blocks)
    assert "*Answered* outside Slack" in text
    assert "answered in the MCP client" in text


async def test_client_mode_without_elicitation_asks_in_slack(bot: BotProcess, fake: FakeSlack):
    question = unique("Subject line?")
    async with stdio(bot, HITL_MCP_ASK="client") as client:  # this client offers no elicitation
        first, _ = await call(client, "ask_human", question=question)
    assert first["status"] == "pending"
    await asyncio.to_thread(message_for, fake, question)  # asked in Slack instead
