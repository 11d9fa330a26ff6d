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

from hitl_slack.integrations.openai_agents.runner import (
    EDIT_NOT_APPLIED,
    FRAMEWORK,
    UNREADABLE,
    Checkpoint,
    resume_with_approvals,
    run_with_approvals,
)
from hitl_slack.integrations.openai_agents.tools import (
    ApprovalPolicy,
    EditedArguments,
    require_approval,
)

__all__ = [
    "EDIT_NOT_APPLIED",
    "FRAMEWORK",
    "UNREADABLE",
    "ApprovalPolicy",
    "Checkpoint",
    "EditedArguments",
    "require_approval",
    "resume_with_approvals",
    "run_with_approvals",
]
