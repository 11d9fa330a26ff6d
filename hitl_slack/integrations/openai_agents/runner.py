"""The run side of the OpenAI Agents SDK adapter: resolve a run's interruptions in Slack,
resume it, and keep a checkpoint to resume from after a restart. See
:mod:`hitl_slack.integrations.openai_agents`.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents import Agent, FunctionTool, Runner, RunResult, RunState, ToolApprovalItem

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.errors import InvalidRequest
from hitl_slack.integrations.common import (
    ToolApproval,
    ToolCall,
    ask_all,
    call_key,
    denial_message,
    tool_approval,
)
from hitl_slack.integrations.openai_agents.tools import EDITS, EditedArguments
from hitl_slack.models import Decision

__all__ = [
    "EDIT_NOT_APPLIED",
    "FRAMEWORK",
    "UNREADABLE",
    "Checkpoint",
    "resume_with_approvals",
    "run_with_approvals",
]

#: First part of every idempotency key this adapter makes; also the checkpoint's format tag.
FRAMEWORK = "openai-agents"
_CHECKPOINT_FORMAT = f"hitl-slack/{FRAMEWORK}/1"

EDIT_NOT_APPLIED = (
    "A human reviewer approved this tool call with changed arguments, which this tool cannot "
    "take, so it was not run."
)
UNREADABLE = "The tool call's arguments are not a JSON object, so it was not run."

#: Called with the checkpoint text before a round's wait (its result awaited if awaitable).
Checkpoint = Callable[[str], object]


def _function_tool(item: ToolApprovalItem) -> FunctionTool | None:
    for tool in getattr(item.agent, "tools", ()):
        if isinstance(tool, FunctionTool) and tool.name == item.tool_name:
            return tool
    return None


def _arguments(item: ToolApprovalItem) -> dict[str, Any] | None:
    """The call's arguments as a JSON object, or None if they are not one."""
    try:
        args = json.loads(item.arguments or "{}")
    except ValueError:
        return None
    return args if isinstance(args, dict) else None


@dataclass
class _Pending:
    """One interruption: the call, how to ask about it, and whether it can take an edit."""

    item: ToolApprovalItem
    call: ToolCall
    readable: bool
    approval: ToolApproval
    editable: bool

    @classmethod
    def of(cls, item: ToolApprovalItem, default: ToolApproval) -> _Pending:
        tool = _function_tool(item)
        own = tool.needs_approval if tool is not None else None
        args = _arguments(item)
        return cls(
            item=item,
            call=ToolCall(item.call_id or "", item.tool_name or "tool", args or {}),
            readable=args is not None,
            approval=own if isinstance(own, ToolApproval) else default,
            editable=tool is not None and isinstance(tool.on_invoke_tool, EditedArguments),
        )

    def request(self, scope: str) -> dict[str, Any]:
        """The Slack request for this call (no idempotency key for a call without an id)."""
        key = call_key(FRAMEWORK, self.call.call_id, scope) if self.call.call_id else None
        request = self.approval.request(self.call, key)
        # Edit is offered only where an edit can be applied (a require_approval() tool);
        # elsewhere the button is hidden and a forged edit decides nothing.
        request["editable"] = self.editable
        return request


async def _decide(
    state: RunState[Any, Any], client: AsyncHITLClient, scope: str, default: ToolApproval
) -> dict[str, dict[str, Any]]:
    """Ask about every interruption, apply the decisions to ``state``; the edited arguments."""
    pending = [_Pending.of(item, default) for item in state.get_interruptions()]
    for p in pending:
        if not p.readable:  # nothing a human could judge: fail closed
            state.reject(p.item, rejection_message=UNREADABLE)
    asked = [p for p in pending if p.readable]
    decisions = await ask_all(client, [p.request(scope) for p in asked])
    edits: dict[str, dict[str, Any]] = {}
    for p, decision in zip(asked, decisions, strict=True):
        _apply(state, p, decision, edits)
    return edits


def _apply(
    state: RunState[Any, Any], p: _Pending, decision: Decision, edits: dict[str, dict[str, Any]]
) -> None:
    if not decision.approved:
        state.reject(p.item, rejection_message=denial_message(decision))
    elif decision.edited and not p.editable:
        state.reject(p.item, rejection_message=EDIT_NOT_APPLIED)
    else:
        if decision.edited:
            edits[p.call.call_id] = dict(decision.payload)
        state.approve(p.item)


def _checkpoint_text(scope: str, state: RunState[Any, Any]) -> str:
    return json.dumps(
        {"format": _CHECKPOINT_FORMAT, "scope": scope, "run_state": state.to_json()},
        ensure_ascii=False,
    )


@dataclass
class _Run:
    """What every round of one run shares."""

    agent: Agent[Any]
    client: AsyncHITLClient
    scope: str
    default: ToolApproval
    checkpoint: Checkpoint | None
    run_kwargs: dict[str, Any]

    async def resolve(self, state: RunState[Any, Any]) -> RunResult:
        """Store the checkpoint, decide the interruptions, resume the run."""
        if self.checkpoint is not None:
            stored = self.checkpoint(_checkpoint_text(self.scope, state))
            if inspect.isawaitable(stored):
                await stored
        token = EDITS.set(await _decide(state, self.client, self.scope, self.default))
        try:
            return await Runner.run(self.agent, state, **self.run_kwargs)
        finally:
            EDITS.reset(token)

    async def finish(self, result: RunResult) -> RunResult:
        """Resolve interruptions until the run ends without any."""
        while result.interruptions:
            result = await self.resolve(result.to_state())
        return result


async def run_with_approvals(
    agent: Agent[Any],
    input: str | list[Any],
    client: AsyncHITLClient,
    *,
    checkpoint: Checkpoint | None = None,
    scope: str | None = None,
    request_fields: dict[str, Any] | None = None,
    **run_kwargs: Any,
) -> RunResult:
    """Run ``agent`` to its end, deciding in Slack every tool call it stops for.

    Args:
        input: the run's input.
        client: the asyncio client.
        checkpoint: called with a JSON text (the ``RunState`` and this run's scope) before each
            wait; store it to :func:`resume_with_approvals` after a restart. A non-mapping
            ``context`` needs the SDK's context serialisation, so pass a mapping or none.
        scope: this run's id in the idempotency keys (default: a new random one), so that a
            model that reuses call ids never finds another run's decision.
        request_fields: how calls of tools without an :class:`ApprovalPolicy` are asked about
            (``summary``, ``risk``, ``route``...); ``agent`` defaults to the agent's name.
        **run_kwargs: passed to ``Runner.run`` (``context``, ``run_config``, ``max_turns``...).

    Raises:
        InvalidRequest: a request field is invalid, or a call's arguments are not plain JSON.
        StoreUnavailable: Redis is unreachable.
    """
    run = _Run(
        agent,
        client,
        scope or uuid.uuid4().hex,
        tool_approval(**{"agent": agent.name} | (request_fields or {})),
        checkpoint,
        dict(run_kwargs),
    )
    result = await Runner.run(agent, input, **run_kwargs)
    run.run_kwargs.pop("context", None)  # the state carries it from now on
    return await run.finish(result)


def _read_checkpoint(text: str) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != _CHECKPOINT_FORMAT:
        msg = f"is not a checkpoint of run_with_approvals ({_CHECKPOINT_FORMAT})"
        raise InvalidRequest(f"invalid checkpoint: {msg}", [("checkpoint", msg)])
    return str(data["scope"]), data["run_state"]


async def resume_with_approvals(
    agent: Agent[Any],
    checkpoint_text: str,
    client: AsyncHITLClient,
    *,
    checkpoint: Checkpoint | None = None,
    context_override: Any = None,
    request_fields: dict[str, Any] | None = None,
    **run_kwargs: Any,
) -> RunResult:
    """Continue a run from a stored checkpoint (see :func:`run_with_approvals`), in any process.

    The pending calls find their Slack requests by idempotency key: a decision made while no
    process waited is taken at once; otherwise this waits for it. Then the run goes on as
    :func:`run_with_approvals` does.

    Args:
        agent: the same agent (the tools are found by name).
        checkpoint_text: the text a ``checkpoint`` callback received.
        context_override: passed to ``RunState.from_json`` (a context to use instead of the
            stored one).

    Raises:
        InvalidRequest: the text is not such a checkpoint.
    """
    scope, state_json = _read_checkpoint(checkpoint_text)
    state = await RunState.from_json(agent, state_json, context_override=context_override)
    default = tool_approval(**{"agent": agent.name} | (request_fields or {}))
    run = _Run(agent, client, scope, default, checkpoint, dict(run_kwargs))
    return await run.finish(await run.resolve(state))
