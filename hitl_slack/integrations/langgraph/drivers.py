"""Run a graph and decide its interrupts in Slack: the blocking and the asyncio drivers.

The requests of a round of interrupts are posted first and then waited for, so the humans see
them together; the decisions become the values to resume with
(:mod:`hitl_slack.integrations.langgraph.reading`,
:mod:`hitl_slack.integrations.langgraph.answers`). Both drivers share that pure part; only
the awaited I/O differs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import Command, Interrupt, StateSnapshot

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.agent.client import HITLClient
from hitl_slack.errors import HITLError, InvalidRequest
from hitl_slack.integrations.langgraph.answers import thread_id
from hitl_slack.integrations.langgraph.reading import Summary, read_interrupts

__all__ = [
    "Graph",
    "ThreadPaused",
    "aresolve_interrupt",
    "aresolve_interrupts",
    "arun_with_approvals",
    "pending_interrupts",
    "resolve_interrupt",
    "resolve_interrupts",
    "run_with_approvals",
]

#: A compiled graph: ``StateGraph.compile()`` or ``create_agent(...)``.
Graph = Pregel[Any, Any, Any, Any]


class ThreadPaused(HITLError):
    """New input for a thread that is paused at interrupts; nothing was run.

    Sending it would abandon the pending approvals (their Slack requests would stay open) and
    ask again. To continue the thread, pass ``input=None``.
    """


def resolve_interrupts(
    client: HITLClient,
    interrupts: Sequence[Interrupt[Any]],
    *,
    config: RunnableConfig,
    summary: Summary = None,
    wait_timeout: float | None = None,
    **request_fields: Any,
) -> dict[str, Any]:
    """Ask Slack about every request of these interrupts and return the values to resume with.

    All requests are posted first, then waited for, so the humans see them together.

    Args:
        client: where the requests go.
        interrupts: what the graph stopped at (``result["__interrupt__"]``).
        config: the run's config; its ``configurable.thread_id`` is part of each key.
        summary: each tool request's one line (a string, or a function of the tool's name
            and arguments); default ``Run <tool>``, with ``(i of n)`` in a batch.
        wait_timeout: seconds to wait for all of them (default: until their deadlines, where
            they expire and the tools are rejected).
        **request_fields: ``details`` (default: the middleware's description), ``agent``,
            ``risk``, ``tags``, ``route``, ``channel``, ``timeout`` (the request's deadline).

    Returns:
        ``{interrupt id: resume value}``: resume with ``Command(resume=...)`` of it.

    Raises:
        InterruptNotSupported: an interrupt cannot be answered safely (nothing is posted).
        InvalidRequest: a request field is invalid, or the config has no thread id.
        WaitTimeout: ``wait_timeout`` passed; the requests stay pending in Slack, and the
            same call later finds them again.

    Example::

        resume = resolve_interrupts(hitl, result["__interrupt__"], config=config)
        result = agent.invoke(Command(resume=resume), config)
    """
    batch = read_interrupts(interrupts, thread_id(config), summary, request_fields)
    tickets = [client.submit(**ask.request()) for ask in batch.asks]
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    return batch.resume([t.wait(_left(deadline)) for t in tickets])


def resolve_interrupt(
    client: HITLClient,
    interrupt: Interrupt[Any],
    *,
    config: RunnableConfig,
    summary: Summary = None,
    wait_timeout: float | None = None,
    **request_fields: Any,
) -> Any:
    """:func:`resolve_interrupts` for one interrupt: its resume value alone.

    ``{"decisions": [...]}`` for a batched interrupt, one decision for a per-call one, the
    :class:`Decision` as JSON for :func:`interrupt_for_approval`. When it is the only pending
    interrupt: ``agent.invoke(Command(resume=value), config)``.
    """
    resumes = resolve_interrupts(
        client,
        [interrupt],
        config=config,
        summary=summary,
        wait_timeout=wait_timeout,
        **request_fields,
    )
    return resumes[interrupt.id]


async def aresolve_interrupts(
    client: AsyncHITLClient,
    interrupts: Sequence[Interrupt[Any]],
    *,
    config: RunnableConfig,
    summary: Summary = None,
    wait_timeout: float | None = None,
    **request_fields: Any,
) -> dict[str, Any]:
    """See :func:`resolve_interrupts`; the requests are waited for concurrently."""
    batch = read_interrupts(interrupts, thread_id(config), summary, request_fields)
    tickets = [await client.submit(**ask.request()) for ask in batch.asks]
    waited = await asyncio.gather(*(t.wait(wait_timeout) for t in tickets), return_exceptions=True)
    decisions = []
    for outcome in waited:
        if isinstance(outcome, BaseException):
            raise outcome
        decisions.append(outcome)
    return batch.resume(decisions)


async def aresolve_interrupt(
    client: AsyncHITLClient,
    interrupt: Interrupt[Any],
    *,
    config: RunnableConfig,
    summary: Summary = None,
    wait_timeout: float | None = None,
    **request_fields: Any,
) -> Any:
    """See :func:`resolve_interrupt`."""
    resumes = await aresolve_interrupts(
        client,
        [interrupt],
        config=config,
        summary=summary,
        wait_timeout=wait_timeout,
        **request_fields,
    )
    return resumes[interrupt.id]


def run_with_approvals(
    graph: Graph,
    input: Any,
    client: HITLClient,
    *,
    config: RunnableConfig,
    context: Any = None,
    summary: Summary = None,
    wait_timeout: float | None = None,
    **request_fields: Any,
) -> Any:
    """Invoke the graph; while it stops at interrupts, decide them in Slack and resume.

    Args:
        graph: a compiled graph or ``create_agent`` agent, with a checkpointer.
        input: the run's input; ``None`` continues the thread from its checkpoint (after a
            restart: the pending interrupts come back and their Slack requests are found).
        client: where the requests go.
        config: the run's config, with ``configurable.thread_id``.
        context: the run's context (``create_agent(context_schema=...)``), passed on.
        summary, wait_timeout, **request_fields: as for :func:`resolve_interrupts`
            (``wait_timeout`` applies to each round of interrupts).

    Returns:
        The graph's final output (``invoke``'s value).

    Raises:
        ThreadPaused: ``input`` is new input but the thread is paused at interrupts.
        InterruptNotSupported, InvalidRequest, WaitTimeout: see :func:`resolve_interrupts`.
    """
    thread_id(config)  # refused before anything runs
    _refuse_new_input(_state(graph, config), input)
    result = graph.invoke(input, config, context=context)
    while interrupts := pending_interrupts(result):
        resume = resolve_interrupts(
            client,
            interrupts,
            config=config,
            summary=summary,
            wait_timeout=wait_timeout,
            **request_fields,
        )
        result = graph.invoke(Command(resume=resume), config, context=context)
    return result


async def arun_with_approvals(
    graph: Graph,
    input: Any,
    client: AsyncHITLClient,
    *,
    config: RunnableConfig,
    context: Any = None,
    summary: Summary = None,
    wait_timeout: float | None = None,
    **request_fields: Any,
) -> Any:
    """See :func:`run_with_approvals`; the graph runs with ``ainvoke``."""
    thread_id(config)
    try:
        state = await graph.aget_state(config)
    except ValueError as exc:
        raise _no_checkpointer(exc) from None
    _refuse_new_input(state, input)
    result = await graph.ainvoke(input, config, context=context)
    while interrupts := pending_interrupts(result):
        resume = await aresolve_interrupts(
            client,
            interrupts,
            config=config,
            summary=summary,
            wait_timeout=wait_timeout,
            **request_fields,
        )
        result = await graph.ainvoke(Command(resume=resume), config, context=context)
    return result


def pending_interrupts(result: Any) -> list[Interrupt[Any]]:
    """The interrupts an ``invoke`` result stopped at (``__interrupt__``, or ``.interrupts``
    of a ``version="v2"`` result); empty when the run ended."""
    if isinstance(result, Mapping):
        return list(result.get("__interrupt__") or ())
    return list(getattr(result, "interrupts", None) or ())


def _state(graph: Graph, config: RunnableConfig) -> StateSnapshot:
    try:
        return graph.get_state(config)
    except ValueError as exc:
        raise _no_checkpointer(exc) from None


def _no_checkpointer(exc: ValueError) -> Exception:
    if "checkpointer" not in str(exc):
        return exc
    return InvalidRequest(
        f"invalid graph: {exc}: an interrupt can only be resumed from a checkpoint; compile "
        "the graph (or create_agent) with a checkpointer",
        [("graph", "has no checkpointer")],
    )


def _refuse_new_input(state: StateSnapshot, input: Any) -> None:
    if input is None or isinstance(input, Command) or not state.interrupts:
        return
    thread = state.config.get("configurable", {}).get("thread_id")
    raise ThreadPaused(
        f"thread {thread!r} is paused at {len(state.interrupts)} interrupt(s) waiting for "
        "approval: call again with input=None to continue it (new input would abandon them)"
    )


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
