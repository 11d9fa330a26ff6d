"""LangChain agents for the LangGraph adapter's tests: a scripted chat model, no LLM.

The model emits the tool calls it is given when the last message is the user's, and a final
answer listing the tool results once they are in. It decides from the conversation alone, so a
restarted agent (a new model object, the same checkpoint) carries on where the first stopped.

Run as a script, it is the agent process the restart test kills::

    python tests/lgagents.py DB REDIS_URL PREFIX THREAD CUSTOMER
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from hitl_slack import HITLClient
from hitl_slack.integrations.langgraph import Graph, run_with_approvals


class ScriptedModel(BaseChatModel):
    """Answers a user message with ``calls``, and tool results with a summary of them."""

    calls: list[dict[str, Any]]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:
        return self  # the script names the tools itself

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, HumanMessage):
            message = AIMessage(
                content="",
                tool_calls=[
                    {"name": c["name"], "args": c["args"], "id": f"call_{i}"}
                    for i, c in enumerate(self.calls)
                ],
            )
        else:
            results = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
            message = AIMessage(content="done: " + " | ".join(results))
        return ChatResult(generations=[ChatGeneration(message=message)])


@dataclass
class Ledger:
    """What the tools really did, in order."""

    ran: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tools(self) -> list[BaseTool]:
        @tool
        def refund_payment(customer: str, amount: int) -> str:
            """Refund a customer."""
            with self.lock:
                self.ran.append(("refund_payment", {"customer": customer, "amount": amount}))
            return f"refunded {amount} to {customer}"

        @tool
        def send_email(to: str, body: str) -> str:
            """Send an email."""
            with self.lock:
                self.ran.append(("send_email", {"to": to, "body": body}))
            return f"emailed {to}"

        return [refund_payment, send_email]


#: Refunds allow every decision; emails may be approved or rejected, not edited.
INTERRUPT_ON: dict[str, Any] = {
    "refund_payment": True,
    "send_email": {"allowed_decisions": ["approve", "reject"]},
}


def agent(
    calls: list[dict[str, Any]],
    ledger: Ledger,
    checkpointer: BaseCheckpointSaver[Any],
    mode: str = "batched",
) -> Graph:
    """A ``create_agent`` agent with the real ``HumanInTheLoopMiddleware``."""
    middleware = HumanInTheLoopMiddleware(INTERRUPT_ON, interrupt_mode=mode)  # type: ignore[arg-type]
    return create_agent(
        ScriptedModel(calls=calls),
        tools=ledger.tools(),
        middleware=[middleware],
        checkpointer=checkpointer,
    )


def refund(customer: str, amount: int = 420) -> dict[str, Any]:
    return {"name": "refund_payment", "args": {"customer": customer, "amount": amount}}


def email(to: str, body: str = "Your refund is on its way") -> dict[str, Any]:
    return {"name": "send_email", "args": {"to": to, "body": body}}


def sqlite_saver(path: str) -> SqliteSaver:
    """A checkpointer in a file: another process, or another object, reads what it wrote."""
    return SqliteSaver(sqlite3.connect(path, check_same_thread=False))


def main(db: str, redis_url: str, prefix: str, thread: str, customer: str) -> int:
    graph = agent([refund(customer)], Ledger(), sqlite_saver(db))
    with HITLClient(redis_url, prefix) as hitl:
        result = run_with_approvals(
            graph,
            {"messages": [{"role": "user", "content": f"Refund {customer}"}]},
            hitl,
            config={"configurable": {"thread_id": thread}},
        )
    print(result["messages"][-1].content)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
