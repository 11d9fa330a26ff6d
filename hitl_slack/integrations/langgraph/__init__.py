"""LangGraph / LangChain v1: an agent's human-in-the-loop interrupts, decided in Slack.

``pip install 'hitl-slack[langgraph]'``. LangChain's ``HumanInTheLoopMiddleware`` pauses an
agent (a LangGraph ``interrupt``) before the tools it guards; :func:`run_with_approvals` runs
the graph, posts one Slack request per tool call it paused for (the action is the tool's
name, the payload its arguments), waits for the humans and resumes with the decisions the
middleware expects, until the run ends::

    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langgraph.checkpoint.memory import InMemorySaver

    from hitl_slack import HITLClient
    from hitl_slack.integrations.langgraph import run_with_approvals

    agent = create_agent(model, tools=[refund_payment],
                         middleware=[HumanInTheLoopMiddleware({"refund_payment": True})],
                         checkpointer=InMemorySaver())
    result = run_with_approvals(agent, {"messages": [("user", "Refund ACME")]},
                                HITLClient.from_env(),
                                config={"configurable": {"thread_id": "ticket-4711"}},
                                risk="high", timeout=600)

Approved: ``approve``; approved with edited arguments: ``edit`` (the same tool, the edited
arguments); rejected: ``reject`` with the reason; expired or cancelled: ``reject`` saying so
(:func:`~hitl_slack.integrations.langgraph.answers.tool_decision`). Both ``interrupt_mode``
values are answered: ``batched``, ``{"decisions": [...]}`` in order; ``per_call``, one
decision per interrupt. What is refused before anything is posted:
:mod:`hitl_slack.integrations.langgraph.reading`.

Idempotent across restarts: each request's key is the thread id, the interrupt id and the
position in it, and LangGraph gives a paused task the same interrupt id every time it runs
again from its checkpoint. With a checkpointer that outlives the process (SQLite, Postgres),
a restarted worker calls ``run_with_approvals(agent, None, ...)`` on the thread: the graph
stops at the same interrupt, the same Slack requests are found (decided meanwhile, or still
waiting) and nothing is asked twice.

A graph's own node asks with :func:`interrupt_for_approval`, which pauses the graph the same
way; the drivers answer it with the :class:`~hitl_slack.models.Decision`.
"""

from hitl_slack.integrations.langgraph.drivers import (
    Graph,
    ThreadPaused,
    aresolve_interrupt,
    aresolve_interrupts,
    arun_with_approvals,
    pending_interrupts,
    resolve_interrupt,
    resolve_interrupts,
    run_with_approvals,
)
from hitl_slack.integrations.langgraph.node import interrupt_for_approval
from hitl_slack.integrations.langgraph.reading import InterruptNotSupported

__all__ = [
    "Graph",
    "InterruptNotSupported",
    "ThreadPaused",
    "aresolve_interrupt",
    "aresolve_interrupts",
    "arun_with_approvals",
    "interrupt_for_approval",
    "pending_interrupts",
    "resolve_interrupt",
    "resolve_interrupts",
    "run_with_approvals",
]
