"""PydanticAI: tool calls that need approval are decided by a human in Slack.

Mark a tool ``requires_approval=True`` (or raise ``ApprovalRequired`` in it, for some calls
only). PydanticAI then ends the run with ``DeferredToolRequests`` instead of running the tool;
:func:`resolve_deferred` asks about each call in ``approvals`` (one Slack request per call,
action = the tool's name, payload = its arguments) and returns the ``DeferredToolResults`` to
continue with:

* approved as proposed: ``ToolApproved()``;
* approved with edited arguments: ``ToolApproved(override_args=<the edited arguments>)``;
* rejected: ``ToolDenied(<"A human reviewer rejected this tool call: <reason>.">)``, and on
  expiry or cancellation a denial too (fail closed): the model is told, the tool does not run.

Each request's idempotency key is derived from the tool call's id and the id of the run that
made the call (read from the message history), so running the agent again on the same history
— after a crash, in another process — finds the same Slack requests and their decisions
instead of asking twice. :func:`run_with_approvals` runs an agent to completion that way; pass
``checkpoint=`` to store the history before each wait. :func:`approval_handler` resolves the
calls inline instead, with PydanticAI's ``HandleDeferredToolCalls`` capability (simpler, but
the run holds its place in memory while the human decides).

Example::

    agent = Agent(model, output_type=[str, DeferredToolRequests])

    @agent.tool(requires_approval=True)
    def refund_payment(ctx: RunContext[None], customer: str, amount: int) -> str: ...

    async with AsyncHITLClient.from_env() as hitl:
        result = await run_with_approvals(agent, "Refund ACME $420", hitl, risk="high")
        print(result.output)

Needs the ``[pydantic-ai]`` extra (``pydantic-ai-slim``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic_ai import (
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDenied,
)
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart

from hitl_slack.integrations.common import (
    ToolApproval,
    ToolCall,
    ask_all,
    ask_all_sync,
    call_key,
    denial_message,
    tool_approval,
)
from hitl_slack.models import Decision

if TYPE_CHECKING:
    from pydantic_ai.agent import AbstractAgent
    from pydantic_ai.run import AgentRunResult

    from hitl_slack.agent.async_client import AsyncHITLClient
    from hitl_slack.agent.client import HITLClient

__all__ = [
    "FRAMEWORK",
    "approval_handler",
    "resolve_deferred",
    "resolve_deferred_sync",
    "results_for",
    "run_with_approvals",
    "run_with_approvals_sync",
]

#: First part of every idempotency key this adapter makes.
FRAMEWORK = "pydantic-ai"

#: Called with the message history before the approvals of a round are waited for.
Checkpoint = Callable[[list[ModelMessage]], object]


def _run_ids(messages: Sequence[ModelMessage] | None) -> dict[str, str]:
    """Tool call id -> id of the run whose model response made the call."""
    found: dict[str, str] = {}
    for message in messages or ():
        if isinstance(message, ModelResponse) and message.run_id:
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    found[part.tool_call_id] = message.run_id
    return found


def _asks(
    requests: DeferredToolRequests,
    messages: Sequence[ModelMessage] | None,
    approval: ToolApproval,
) -> tuple[list[ToolCall], list[dict[str, Any]]]:
    run_ids = _run_ids(messages)
    calls = [
        ToolCall(part.tool_call_id, part.tool_name, part.args_as_dict())
        for part in requests.approvals
    ]
    asks = [
        approval.request(call, call_key(FRAMEWORK, call.call_id, run_ids.get(call.call_id)))
        for call in calls
    ]
    return calls, asks


def _result(decision: Decision) -> ToolApproved | ToolDenied:
    if not decision.approved:
        return ToolDenied(denial_message(decision))
    return ToolApproved(override_args=dict(decision.payload)) if decision.edited else ToolApproved()


def results_for(calls: Sequence[ToolCall], decisions: Sequence[Decision]) -> DeferredToolResults:
    """The ``DeferredToolResults`` for these calls' decisions (in the same order).

    Each approved tool sees its request in ``ctx.tool_call_metadata["hitl_slack"]``
    (``request_id``, ``edited``, ``decided_by``); ``answered_by`` names the Slack users.
    """
    results = DeferredToolResults()
    for call, decision in zip(calls, decisions, strict=True):
        results.approvals[call.call_id] = _result(decision)
        results.metadata[call.call_id] = {
            "hitl_slack": {
                "request_id": decision.request_id,
                "status": decision.status.value,
                "edited": decision.edited,
                "decided_by": list(decision.decided_by),
            }
        }
        if decision.decided_by:
            results.answered_by[call.call_id] = ",".join(decision.decided_by)
    return results


async def resolve_deferred(
    client: AsyncHITLClient,
    requests: DeferredToolRequests,
    *,
    messages: Sequence[ModelMessage] | None = None,
    **request_fields: Any,
) -> DeferredToolResults:
    """Ask a human about every call in ``requests.approvals``; their decisions as results.

    All the calls are posted first, then waited for together. Calls in ``requests.calls``
    (external tools, questions) are not this function's: they are left out of the results.

    Args:
        client: the asyncio client.
        requests: the ``DeferredToolRequests`` a run ended with.
        messages: the run's history (``result.all_messages()``): scopes each idempotency key
            to the run that made the call, so a model that reuses call ids cannot pick up
            another run's decision. Without it the key is the call id alone.
        **request_fields: ``summary``, ``details``, ``risk`` (each a value or a function of
            the :class:`~hitl_slack.integrations.common.ToolCall`), ``route``, ``channel``,
            ``tags``, ``timeout`` (seconds, default 300), ``agent``.

    Raises:
        InvalidRequest: a request field is not valid, or a call's arguments are not plain JSON.
        StoreUnavailable: Redis is unreachable.
    """
    calls, asks = _asks(requests, messages, tool_approval(**request_fields))
    return results_for(calls, await ask_all(client, asks))


def resolve_deferred_sync(
    client: HITLClient,
    requests: DeferredToolRequests,
    *,
    messages: Sequence[ModelMessage] | None = None,
    **request_fields: Any,
) -> DeferredToolResults:
    """:func:`resolve_deferred` with the blocking client."""
    calls, asks = _asks(requests, messages, tool_approval(**request_fields))
    return results_for(calls, ask_all_sync(client, asks))


def _pending(output: object) -> DeferredToolRequests | None:
    """The approvals to resolve, if the run stopped for approvals only."""
    if isinstance(output, DeferredToolRequests) and output.approvals and not output.calls:
        return output
    return None


def _prepare(
    agent: AbstractAgent[Any, Any],
    request_fields: dict[str, Any] | None,
    run_kwargs: dict[str, Any],
) -> ToolApproval:
    """The request options (checked before the first model call); adds
    ``DeferredToolRequests`` to the run's output type unless one is given."""
    run_kwargs.setdefault("output_type", [agent.output_type, DeferredToolRequests])
    return tool_approval(**{"agent": agent.name} | (request_fields or {}))


async def run_with_approvals(
    agent: AbstractAgent[Any, Any],
    prompt: Any,
    client: AsyncHITLClient,
    *,
    message_history: Sequence[ModelMessage] | None = None,
    checkpoint: Checkpoint | None = None,
    request_fields: dict[str, Any] | None = None,
    **run_kwargs: Any,
) -> AgentRunResult[Any]:
    """Run ``agent`` to completion, resolving its approvals in Slack each time it stops.

    The run's output type gets ``DeferredToolRequests`` added if it lacks it. The loop ends
    when the output is anything else — or ``DeferredToolRequests`` with external calls, which
    are returned for your code to resolve.

    Args:
        prompt: the user prompt (None to continue ``message_history``).
        message_history: a stored history to continue; after a restart, pass the one
            ``checkpoint`` received: the pending calls find their Slack requests again.
        checkpoint: called (and awaited, if it returns an awaitable) with the history before
            each round's wait, to store it.
        request_fields: as for :func:`resolve_deferred`; ``agent`` defaults to the agent's name.
        **run_kwargs: passed to every ``agent.run`` (``deps``, ``usage_limits``...).

    Raises:
        InvalidRequest, StoreUnavailable: as :func:`resolve_deferred`.
    """
    approval = _prepare(agent, request_fields, run_kwargs)
    result = await agent.run(prompt, message_history=message_history, **run_kwargs)
    while (requests := _pending(result.output)) is not None:
        messages = result.all_messages()
        if checkpoint is not None:
            stored = checkpoint(messages)
            if inspect.isawaitable(stored):
                await stored
        calls, asks = _asks(requests, messages, approval)
        results = results_for(calls, await ask_all(client, asks))
        result = await agent.run(
            message_history=messages, deferred_tool_results=results, **run_kwargs
        )
    return result


def run_with_approvals_sync(
    agent: AbstractAgent[Any, Any],
    prompt: Any,
    client: HITLClient,
    *,
    message_history: Sequence[ModelMessage] | None = None,
    checkpoint: Checkpoint | None = None,
    request_fields: dict[str, Any] | None = None,
    **run_kwargs: Any,
) -> AgentRunResult[Any]:
    """:func:`run_with_approvals` with the blocking client and ``agent.run_sync``."""
    approval = _prepare(agent, request_fields, run_kwargs)
    result = agent.run_sync(prompt, message_history=message_history, **run_kwargs)
    while (requests := _pending(result.output)) is not None:
        messages = result.all_messages()
        if checkpoint is not None:
            checkpoint(messages)
        calls, asks = _asks(requests, messages, approval)
        results = results_for(calls, ask_all_sync(client, asks))
        result = agent.run_sync(
            message_history=messages, deferred_tool_results=results, **run_kwargs
        )
    return result


def approval_handler(
    client: AsyncHITLClient, **request_fields: Any
) -> Callable[[RunContext[Any], DeferredToolRequests], Awaitable[DeferredToolResults | None]]:
    """A handler for PydanticAI's ``HandleDeferredToolCalls`` capability: approvals are
    resolved in Slack while the run waits, and the run goes on by itself.

    ``Agent(model, capabilities=[HandleDeferredToolCalls(handler=approval_handler(hitl))])``.
    Other deferred calls are left to the next capability (or the run's output).

    Raises:
        InvalidRequest: a request field is not valid (now, not at the first call).
    """
    approval = tool_approval(**request_fields)

    async def handle(
        ctx: RunContext[Any], requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        if not requests.approvals:
            return None
        calls, asks = _asks(requests, ctx.messages, approval)
        return results_for(calls, await ask_all(client, asks))

    return handle
