"""The playground's make-believe workspace: its people, user group, channels and routes.

Plain data. Alice, Bob and Carol are in the finance group, which approves refunds in #finance;
Mallory is in no group, so she can try what an outsider's click does. Everything else goes to
#approvals, where anyone may decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "BOT_NAME",
    "CHANNELS",
    "DEFAULT_CHANNEL",
    "GROUPS",
    "PEOPLE",
    "ROUTES",
    "Channel",
    "Group",
    "Person",
    "dm_of",
    "email_of",
]


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    title: str


@dataclass(frozen=True)
class Group:
    id: str
    handle: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


BOT_NAME: Final = "hitl"

PEOPLE: Final = (
    Person("U0ALICE", "Alice", "Finance approver"),
    Person("U0BOB", "Bob", "Finance approver"),
    Person("U0CAROL", "Carol", "Finance approver"),
    Person("U0MALLORY", "Mallory", "In no group"),
)

GROUPS: Final = (Group("S0FINANCE", "finance", ("U0ALICE", "U0BOB", "U0CAROL")),)

DEFAULT_CHANNEL: Final = "C0APPROVALS"

CHANNELS: Final = (
    Channel(DEFAULT_CHANNEL, "approvals"),
    Channel("C0FINANCE", "finance"),
    Channel("C0DEPLOYS", "deploys"),
)

#: The routes file the playground's bot runs with (printed at start).
ROUTES: Final = f"""\
# The playground's routes: the first route whose match fits a request decides it.
[defaults]
channel = "{DEFAULT_CHANNEL}"          # #approvals: anyone in it may decide

[[routes]]
name = "finance"
match = {{ action = "refund_*" }}
channel = "C0FINANCE"            # #finance
approvers = ["S0FINANCE"]        # @finance: Alice, Bob, Carol (not Mallory)
reject_reason = "required"

[[routes]]
name = "payments"
match = {{ action = "wire_*" }}
channel = "C0FINANCE"            # #finance
approvers = ["S0FINANCE"]
quorum = 2                       # two of @finance must approve (try action wire_transfer)
reminders = ["50%"]              # halfway to the deadline: a nudge in the thread

[[routes]]
name = "deploys"
match = {{ action = "deploy_*" }}
channel = "C0DEPLOYS"            # #deploys: anyone in it may decide
"""


def email_of(person: Person) -> str:
    """The person's email in the playground (``alice@example.com``): ``requested_by`` may
    name them so."""
    return f"{person.name.lower()}@example.com"


def dm_of(user: str) -> str:
    """The id of the DM between ``user`` and the bot (as the local Slack names it)."""
    return "D" + user[1:]
