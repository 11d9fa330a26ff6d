"""``hitl-slack mcp-gateway``: Slack approval in front of any MCP server, without code.

An MCP server (stdio) that spawns another one and serves its tools unchanged, holding each call
a gate rule fits until a human approves it in Slack. Modules, pure first:

* :mod:`~hitl_slack.mcpgateway.predicates`: the argument predicates of a rule (``when``);
* :mod:`~hitl_slack.mcpgateway.rules`: the rules file, which gate a call meets;
* :mod:`~hitl_slack.mcpgateway.summaries`: the Slack message header of a held call;
* :mod:`~hitl_slack.mcpgateway.settings`: ``HITL_MCP_*`` and the wrapped server's environment;
* :mod:`~hitl_slack.mcpgateway.holds`: one Slack request per distinct call, held, re-attached
  on retry, cancelled with the call; what the model is told;
* :mod:`~hitl_slack.mcpgateway.elicit`: the wrapped server's elicitations, asked in Slack;
* :mod:`~hitl_slack.mcpgateway.proxy`: the gateway's MCP server handlers;
* :mod:`~hitl_slack.mcpgateway.serve`: the process (both stdio ends, start and shutdown);
* :mod:`~hitl_slack.mcpgateway.main`: the command's entry point.

Importing this package loads nothing: the modules that need the ``mcp`` SDK (an optional
extra, ``pip install 'hitl-slack[mcp]'``) are imported by the command only.
"""
