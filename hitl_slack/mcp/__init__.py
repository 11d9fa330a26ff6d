"""``hitl-slack mcp``: an MCP server through which any MCP client asks a human in Slack.

The ``[mcp]`` extra (``pip install 'hitl-slack[mcp]'``). Importing this package, its settings or
its command loads nothing of the SDK. Modules:

* :mod:`~hitl_slack.mcp.settings`: the configuration (what a model may not choose);
* :mod:`~hitl_slack.mcp.trust`: what a tool call may choose, and which requests it reaches;
* :mod:`~hitl_slack.mcp.results`: the tools' output, and its text;
* :mod:`~hitl_slack.mcp.hold`: holding a call within the client's patience;
* :mod:`~hitl_slack.mcp.tools`: what the tools do, over the agent client;
* :mod:`~hitl_slack.mcp.server`: the tools on the SDK's ``MCPServer``;
* :mod:`~hitl_slack.mcp.http`: ``--http`` (token, protocol revision, DNS-rebinding checks);
* :mod:`~hitl_slack.mcp.serve` and :mod:`~hitl_slack.mcp.command`: ``hitl-slack mcp``.
"""
