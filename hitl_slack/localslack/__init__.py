"""A Slack workspace on localhost, for the playground and the tests: one fake, not two.

:class:`LocalSlack` serves the Web API methods the bot calls and the ``response_url`` hooks,
recording messages, ephemerals and views; :mod:`~hitl_slack.localslack.payloads` builds what
Slack sends an app when a person clicks, submits or types a command, and signs it.
"""

from hitl_slack.localslack.records import Call, Ephemeral, PostedMessage
from hitl_slack.localslack.server import LocalSlack

__all__ = ["Call", "Ephemeral", "LocalSlack", "PostedMessage"]
