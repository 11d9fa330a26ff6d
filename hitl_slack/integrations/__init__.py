"""Adapters between agent frameworks and hitl-slack: a tool call that needs a human becomes one
Slack request, and the decision goes back to the framework in its own terms.

* :mod:`hitl_slack.integrations.langgraph` (extra ``[langgraph]``): resolves LangChain's
  ``HumanInTheLoopMiddleware`` interrupts (approve, edit, reject, respond) and runs a graph to
  completion that way; ``interrupt_for_approval`` for a graph's own nodes.
* :mod:`hitl_slack.integrations.pydantic_ai` (extra ``[pydantic-ai]``): resolves PydanticAI's
  ``DeferredToolRequests`` into ``DeferredToolResults`` (approved, approved with edited
  arguments, denied with the reason) and runs an agent to completion that way.
* :mod:`hitl_slack.integrations.openai_agents` (extra ``[openai-agents]``): a ``needs_approval``
  policy for function tools, a wrapper that runs a tool with the arguments a human edited, and a
  runner that resolves a run's interruptions and resumes it, across a process restart too.
* :mod:`hitl_slack.integrations.common`: what they share (no framework imported).

Importing this package imports no framework: each adapter imports its own when it is imported.
For a plain function, ``@hitl.require_approval`` is enough (it passes framework context
arguments through unseen).
"""
