"""hitl-slack: a human in the loop of AI agents, inside Slack.

The agent-facing API::

    from hitl_slack import HITLClient, AsyncHITLClient, Decision, Answer

Importing this package loads no Slack or Bolt code: the bot's workers live in
:mod:`hitl_slack.service`, its Slack edge in :mod:`hitl_slack.slack`, and it is started with
``hitl-slack serve``.
"""

from hitl_slack.agent.client import RAISE, AsyncHITLClient, AsyncTicket, HITLClient, Ticket
from hitl_slack.agent.questions import AsyncQuestionTicket, QuestionTicket
from hitl_slack.answers import Answer
from hitl_slack.errors import (
    AlreadyDecided,
    ApprovalDenied,
    ConfigError,
    HITLError,
    InvalidRequest,
    RequestNotFound,
    SlackError,
    StoreUnavailable,
    WaitTimeout,
)
from hitl_slack.lifecycle.heartbeat import Heartbeat, NoBotWarning
from hitl_slack.models import (
    ApprovalRequest,
    Decision,
    QuestionRequest,
    RequestState,
    Risk,
    Status,
)

__all__ = [
    "RAISE",
    "AlreadyDecided",
    "Answer",
    "ApprovalDenied",
    "ApprovalRequest",
    "AsyncHITLClient",
    "AsyncQuestionTicket",
    "AsyncTicket",
    "ConfigError",
    "Decision",
    "HITLClient",
    "HITLError",
    "Heartbeat",
    "InvalidRequest",
    "NoBotWarning",
    "QuestionRequest",
    "QuestionTicket",
    "RequestNotFound",
    "RequestState",
    "Risk",
    "SlackError",
    "Status",
    "StoreUnavailable",
    "Ticket",
    "WaitTimeout",
]

__version__ = "0.1.0"
