"""The tool side of the OpenAI Agents SDK adapter: :class:`ApprovalPolicy` (a function tool's
``needs_approval=``) and :func:`require_approval` (a copy of a tool that runs with the arguments
a human edited). See :mod:`hitl_slack.integrations.openai_agents`.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents import FunctionTool, RunContextWrapper
from agents.tool_context import ToolContext

from hitl_slack.errors import InvalidRequest
from hitl_slack.integrations.common import ToolApproval, ToolCall
from hitl_slack.models import Risk

__all__ = ["EDITS", "ApprovalPolicy", "EditedArguments", "require_approval"]

#: Tool call id -> the arguments a human edited, for the tools of the run being resumed (set
#: by the runner around ``Runner.run``; the tools' tasks inherit it).
EDITS: contextvars.ContextVar[dict[str, dict[str, Any]]] = contextvars.ContextVar("hitl_edits")


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
        edited = EDITS.get({}).get(context.tool_call_id)
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
