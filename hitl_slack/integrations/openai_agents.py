"""OpenAI Agents SDK: function tools whose calls a human approves, edits or rejects in Slack.

Three pieces:

* :class:`ApprovalPolicy` — usable as a function tool's ``needs_approval=``: decides per call
  whether a human must approve (``when=``, ``min_risk=``) and says how the request reads
  (``summary``, ``risk``, ``route``... each fixed or a function of the
  :class:`~hitl_slack.integrations.common.ToolCall`).
* :func:`require_approval` — a copy of a function tool that asks by such a policy and, once
  approved, runs with the arguments as the human left them. ``RunState.approve`` cannot carry
  edited arguments, so the copy's invoker swaps them in when the tool runs (validated by the
  tool's own schema). A tool not wrapped this way cannot take an edit: an edited approval of it
  is turned into a rejection (it never runs with the arguments the human changed), and its
  Slack message says so.
* :func:`run_with_approvals` / :func:`resume_with_approvals` — run an agent; each time the run
  stops with ``result.interruptions``, every pending call becomes one Slack request (posted
  together, then waited for), is approved with ``state.approve(item)`` or rejected with
  ``state.reject(item, rejection_message=<the reviewer's reason>)`` — expiry and cancellation
  reject too (fail closed) — and the run resumes. ``always_approve`` / ``always_reject`` are
  never used: each call is its own decision.

Surviving a restart: pass ``checkpoint=`` to get, before each wait, a JSON text holding the
serialised ``RunState`` and this run's scope; store it. After a crash, in any process,
:func:`resume_with_approvals` with the same agent and that text finds the same Slack requests
(their idempotency key is ``openai-agents:<scope>:<tool call id>``) and their decisions, if
made meanwhile, and continues.

Example::

    refund = require_approval(refund_payment, ApprovalPolicy(
        when=lambda call: call.args["amount"] > 100,
        summary=lambda call: f"Refund ${call.args['amount']} to {call.args['customer']}",
        risk="high",
    ))
    agent = Agent(name="billing", tools=[refund])
    async with AsyncHITLClient.from_env() as hitl:
        result = await run_with_approvals(agent, "Refund ACME $420", hitl)

Needs the ``[openai-agents]`` extra.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents import (
    Agent,
    FunctionTool,
    RunContextWrapper,
    Runner,
    RunResult,
    RunState,
    ToolApprovalItem,
)
from agents.tool_context import ToolContext

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
from hitl_slack.models import Decision, Risk

__all__ = [
    "FRAMEWORK",
    "ApprovalPolicy",
    "EditedArguments",
    "require_approval",
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
_NO_EDIT_NOTE = "Edits cannot be applied to this tool: an edited approval will not run it."

#: Tool call id -> the arguments a human edited, for the tools of the run being resumed.
_EDITS: contextvars.ContextVar[dict[str, dict[str, Any]]] = contextvars.ContextVar("hitl_edits")

#: Called with the checkpoint text before a round's wait (its result awaited if awaitable).
Checkpoint = Callable[[str], object]


def _risk_rank(value: str) -> int:
    return list(Risk).index(Risk(value))


@dataclass(frozen=True)
class ApprovalPolicy(ToolApproval):
    """A ``needs_approval`` policy for a function tool, and how its requests read.

    A call needs a human when ``when(call)`` is true (default: always) and its risk is at
    least ``min_risk`` (default: any). The other fields are those of
    :class:`~hitl_slack.integrations.common.ToolApproval`. ``tool_name`` is set by
    :func:`require_approval`; used directly as ``needs_approval=``, the policy's callables see
    an empty ``call.name`` (the SDK does not tell a policy which tool it guards).

    Raises:
        InvalidRequest: ``min_risk`` is not ``low``, ``medium``, ``high`` or ``critical``.
    """

    when: Callable[[ToolCall], bool] | None = None
    min_risk: str | None = None
    tool_name: str = ""

    def __post_init__(self) -> None:
        if self.min_risk is not None and self.min_risk not in set(Risk):
            msg = "must be 'low', 'medium', 'high' or 'critical'"
            raise InvalidRequest(f"invalid approval policy: min_risk: {msg}", [("min_risk", msg)])

    def needs_human(self, call: ToolCall) -> bool:
        """Whether ``call`` must be approved by a human before it runs."""
        if self.when is not None and not self.when(call):
            return False
        if self.min_risk is None:
            return True
        risk = self.risk(call) if callable(self.risk) else self.risk
        return _risk_rank(risk) >= _risk_rank(self.min_risk)

    async def __call__(
        self, context: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str
    ) -> bool:
        """The SDK's ``needs_approval`` signature."""
        return self.needs_human(ToolCall(call_id, self.tool_name, arguments))


class EditedArguments:
    """A function tool's invoker that runs it with the arguments a human edited, if any.

    Set by :func:`require_approval`; the edited arguments come from the decisions
    :func:`run_with_approvals` applied to the run it resumes.
    """

    def __init__(self, invoke: Callable[[ToolContext[Any], str], Any]) -> None:
        self._invoke = invoke

    async def __call__(self, context: ToolContext[Any], arguments: str) -> Any:
        """Invoke the tool, with the edited arguments in place of the model's."""
        edited = _EDITS.get({}).get(context.tool_call_id)
        result = self._invoke(context, arguments if edited is None else json.dumps(edited))
        return await result if inspect.isawaitable(result) else result


def require_approval(tool: FunctionTool, policy: ApprovalPolicy | None = None) -> FunctionTool:
    """A copy of ``tool`` that asks a human by ``policy`` and can run with edited arguments.

    Args:
        tool: a function tool (``@function_tool``).
        policy: when to ask and how; default: the tool's own ``needs_approval`` if it is an
            :class:`ApprovalPolicy`, else :class:`ApprovalPolicy()` (every call).
    """
    if policy is None:
        own = tool.needs_approval
        policy = own if isinstance(own, ApprovalPolicy) else ApprovalPolicy()
    gated = copy.copy(tool)
    gated.needs_approval = dataclasses.replace(policy, tool_name=tool.name)
    gated.on_invoke_tool = EditedArguments(tool.on_invoke_tool)
    return gated


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
        if not self.editable:
            details = request.get("details")
            request["details"] = f"{details}\n\n{_NO_EDIT_NOTE}" if details else _NO_EDIT_NOTE
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
        token = _EDITS.set(await _decide(state, self.client, self.scope, self.default))
        try:
            return await Runner.run(self.agent, state, **self.run_kwargs)
        finally:
            _EDITS.reset(token)

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
