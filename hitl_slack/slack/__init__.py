"""The Slack edge: the Web API gateway, Bolt listeners, Block Kit rendering and payload parsing."""
