"""Reminders, escalation, DM copies, the outcome's thread reply and the checks at the post,
through the real bot: ``hitl-slack serve`` in a subprocess with its own routes file, the fake
Slack at the network edge, signed clicks built from the messages the bot posted, real Redis.

Durations are short (reminders at ``50%`` of a few seconds, escalation after ``1s``); every
wait is for a condition the fake Slack announces, never for a fixed time.
"""

from __future__ import annotations

import time

import pytest
import redis
from conftest import REDIS_URL
from fakeslack import FakeSlack, PostedMessage, block_text
from harness import BotProcess, ephemeral_texts, posted
from policybot import click, counted, fixtures

from hitl_slack import HITLClient, Status
from hitl_slack.keys import UPDATER_GROUP as UPDATER
from hitl_slack.keys import Keys
from hitl_slack.models import MessageRef
from hitl_slack.policy import Level
from hitl_slack.slack import notices

ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "remind"
match = { action = "remind_*" }
channel = "C0REMIND"
approvers = ["U0A", "U0B"]
quorum = 2
reminders = ["50%"]
notify = ["channel", "dm"]

[[routes]]
name = "unread-group"
match = { action = "unread_*" }
channel = "C0UNREAD"
approvers = ["S0GONE"]
reminders = ["1s"]

[[routes]]
name = "team"
match = { action = "team_*" }
channel = "C0TEAM"
approvers = ["U0A", "S0TEAM"]
notify = ["channel", "dm"]

[[routes]]
name = "dm-only"
match = { action = "dmonly_*" }
channel = "C0DMONLY"
approvers = ["U0A", "U0B"]
notify = ["dm"]

[[routes]]
name = "escalating"
match = { action = "escalate_*" }
channel = "C0ESC"
approvers = ["U0A"]
escalate = [
  { after = "1s", channel = "C0OPS" },
  { after = "2s", approvers = ["U0CFO"] },
]

[[routes]]
name = "own"
match = { action = "own_*" }
channel = "C0OWN"
approvers = ["U0EVE", "U0A"]

[[routes]]
name = "pair"
match = { action = "pair_*" }
channel = "C0PAIR"
approvers = ["U0A", "U0B"]
quorum = 2

[[routes]]
name = "pair-escalating"
match = { action = "pairesc_*" }
channel = "C0PAIRESC"
approvers = ["U0A", "U0B"]
quorum = 2
escalate = [{ after = "1h", approvers = ["U0CFO"] }]
"""


fake, module_prefix, bot, agent = fixtures(
    "followups",
    ROUTES,
    groups={"S0TEAM": ["U0B", "U0C"]},
    users={"U0EVE": {"profile": {"email": "Eve@Example.com"}}},
)


def shown(fake: FakeSlack, rid: str, channel: str | None = None) -> list[PostedMessage]:
    """The request's messages (the recorded one and its copies), in ``channel`` if given."""
    return [
        m
        for m in fake.messages(channel)
        if m.metadata and m.metadata["event_payload"]["request_id"] == rid
    ]


def replies(fake: FakeSlack, parent: PostedMessage, text: str = "") -> list[str]:
    """The texts of the thread replies on ``parent`` that contain ``text``."""
    return [
        m.text or ""
        for m in fake.messages(parent.channel)
        if m.thread_ts == parent.ts and text in (m.text or "")
    ]


def reply(fake: FakeSlack, parent: PostedMessage, text: str, timeout: float = 15) -> str:
    """The first thread reply on ``parent`` containing ``text`` (waits for it)."""
    fake.wait_until(lambda: bool(replies(fake, parent, text)), timeout=timeout)
    return replies(fake, parent, text)[0]


def recorded_copies(agent: HITLClient, rid: str, count: int) -> tuple[MessageRef, ...]:
    """The request's copies once ``count`` are recorded (a Redis write nothing announces, each
    right after Slack's answer to its post: polled)."""
    deadline = time.monotonic() + 10
    while len(copies := agent.get(rid).copies) < count:
        assert time.monotonic() < deadline, f"{rid}: {len(copies)} copies recorded"
        time.sleep(0.02)
    return copies


def handled(prefix: str, fields: dict[str, str]) -> None:
    """Add an outcomes entry and wait until the bot has handled it (acknowledged it)."""
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        entry = r.xadd(Keys(prefix).outcomes, fields)
        deadline = time.monotonic() + 10
        while True:
            group = next(g for g in r.xinfo_groups(Keys(prefix).outcomes) if g["name"] == UPDATER)
            if _id(group["last-delivered-id"]) >= _id(entry) and group["pending"] == 0:
                return
            assert time.monotonic() < deadline, f"outcome entry {entry} not handled"
            time.sleep(0.02)
    finally:
        r.close()


def _id(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)


def dm_texts(fake: FakeSlack, user: str, text: str) -> list[str]:
    """The bot's text-only DMs to ``user`` containing ``text`` (the fake's DM of U0X is D0X)."""
    return [
        m.text or ""
        for m in fake.messages("D" + user[1:])
        if not m.blocks and text in (m.text or "")
    ]


def test_a_reminder_mentions_in_the_thread_and_by_dm_only_who_has_not_voted(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Rotate keys", "remind_rotate", {"env": "prod"}, timeout=10)
    msg = posted(fake, ticket.request_id)
    assert msg.channel == "C0REMIND"
    click(bot, msg, "U0A")  # one of the two votes needed, before the reminder at 5 s
    rid = ticket.request_id
    recorded_copies(agent, rid, 2)  # in the DMs of U0A and U0B
    # The vote is shown on every message (the channel's and both DM copies), all still live.
    fake.wait_until(lambda: all(m.updates >= 1 and m.live for m in shown(fake, rid)), timeout=10)

    text = reply(fake, msg, "left to decide")
    assert text.startswith("⏰ ")
    assert counted(bot, "reminded") >= 1
    assert "<@U0B>" in text
    assert "<@U0A>" not in text
    fake.wait_until(lambda: bool(dm_texts(fake, "U0B", "left to decide")), timeout=10)
    assert "Rotate keys" in dm_texts(fake, "U0B", "left to decide")[0]
    assert dm_texts(fake, "U0A", "left to decide") == []
    assert agent.get(ticket.request_id).reminded == 1


def test_a_reminder_mentions_a_group_it_cannot_read_as_the_group(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Renew the domain", "unread_renew", {}, timeout=20)
    text = reply(fake, posted(fake, ticket.request_id), "left to decide")
    assert text.endswith("left to decide: <!subteam^S0GONE>")


def test_no_reminder_once_the_request_is_decided(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    decided = agent.submit("Rotate certs", "remind_certs", {}, timeout=10)
    first = posted(fake, decided.request_id)
    click(bot, first, "U0A")
    click(bot, first, "U0B")
    assert decided.wait(timeout=10).status is Status.APPROVED
    # A later request on the same route: its reminder comes after the first one's would have.
    later = agent.submit("Rotate tokens", "remind_tokens", {}, timeout=10)
    reply(fake, posted(fake, later.request_id), "left to decide")
    assert replies(fake, first, "left to decide") == []
    assert agent.get(decided.request_id).reminded == 0


def test_dm_copies_decide_the_request_and_every_copy_shows_the_decision(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient, module_prefix: str
):
    ticket = agent.submit("Restart the cache", "team_restart", {"host": "c1"}, timeout=30)
    msg = posted(fake, ticket.request_id)
    rid = ticket.request_id
    # The channel's message, then a copy in the DM of each approver (the group expanded).
    fake.wait_until(lambda: len(shown(fake, rid)) == 4, timeout=10)
    copies = {m.channel: m for m in shown(fake, rid) if m.channel != msg.channel}
    assert sorted(copies) == ["D0A", "D0B", "D0C"]
    assert all(m.live for m in copies.values())
    assert [c.channel for c in recorded_copies(agent, rid, 3)] == ["D0A", "D0B", "D0C"]

    click(bot, copies["D0B"], "U0B")  # decided from a DM
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0B",))
    fake.wait_until(lambda: not any(m.live for m in shown(fake, rid)), timeout=10)
    assert all("Approved" in block_text(m.blocks) for m in shown(fake, rid))
    outcome = reply(fake, msg, "Approved")
    assert outcome.startswith("✅ *Approved* by <@U0B>")

    # The same outcome entry handled again (a retry, another replica): no second reply.
    updates = fake.message(msg.channel, msg.ts).updates
    handled(module_prefix, {"id": rid, "status": "approved"})
    assert fake.message(msg.channel, msg.ts).updates > updates  # shown again, all of it
    assert len(replies(fake, msg, "Approved")) == 1


def test_dm_only_records_the_first_dm_and_copies_the_rest(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Open the firewall", "dmonly_open", {"port": 22}, timeout=30)
    rid = ticket.request_id
    fake.wait_until(lambda: len(shown(fake, rid)) == 2, timeout=10)
    assert [c.channel for c in recorded_copies(agent, rid, 1)] == ["D0B"]
    state = agent.get(rid)
    assert state.message is not None
    assert state.message.channel == "D0A"
    assert shown(fake, rid, "C0DMONLY") == []


def test_two_escalation_levels_post_in_the_new_channel_and_widen_who_may_decide(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Drop the old table", "escalate_drop", {"table": "t1"}, timeout=30)
    rid = ticket.request_id
    msg = posted(fake, rid)
    assert msg.channel == "C0ESC"

    assert reply(fake, msg, "Escalated to") == "⬆️ Escalated to <#C0OPS>"
    assert counted(bot, "escalated") >= 1
    fake.wait_until(lambda: len(shown(fake, rid, "C0OPS")) == 1, timeout=10)
    ops = shown(fake, rid, "C0OPS")[0]
    assert ops.live
    assert ops.thread_ts is None

    assert reply(fake, msg, "can now decide") == "⬆️ Escalated: <@U0CFO> can now decide"
    assert [c.channel for c in recorded_copies(agent, rid, 1)] == ["C0OPS"]
    assert agent.get(rid).level == 2
    click(bot, ops, "U0CFO")  # a level-2 approver, on the escalation channel's copy
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0CFO",))
    fake.wait_until(lambda: not any(m.live for m in shown(fake, rid)), timeout=10)
    assert [("Approved" in block_text(m.blocks)) for m in shown(fake, rid)] == [True, True]
    assert reply(fake, msg, "Approved").startswith("✅ *Approved* by <@U0CFO>")


def test_requested_by_as_an_email_is_resolved_into_the_snapshot(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit(
        "Expense €80", "own_expense", {"eur": 80}, requested_by="eve@example.com", timeout=30
    )
    msg = posted(fake, ticket.request_id)
    state = agent.get(ticket.request_id)
    assert state.policy is not None
    assert state.policy.requested_by == "U0EVE"
    before = len(ephemeral_texts(fake, "U0EVE"))
    click(bot, msg, "U0EVE")  # the person the agent acts for may not approve
    fake.wait_until(lambda: len(ephemeral_texts(fake, "U0EVE")) > before, timeout=10)
    assert agent.get(ticket.request_id).status is Status.PENDING


def test_an_unknown_email_cancels_the_request_with_the_reason_unposted(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit(
        "Expense €90", "own_expense", {"eur": 90}, requested_by="nobody@example.com", timeout=30
    )
    decision = ticket.wait(timeout=15)
    assert decision.status is Status.CANCELLED
    assert decision.reason is not None
    assert "nobody@example.com" in decision.reason
    assert "users_not_found" in decision.reason
    assert shown(fake, ticket.request_id) == []


def test_an_unreachable_quorum_without_a_level_cancels_the_request(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    # Two approvers, a quorum of two, and one of them is the person the agent acts for.
    ticket = agent.submit("Pay invoice", "pair_pay", {"eur": 5}, requested_by="U0B", timeout=30)
    decision = ticket.wait(timeout=15)
    assert (decision.status, decision.reason) == (
        Status.CANCELLED,
        "quorum of 2 cannot be reached: only 1 person may approve (U0A; U0B requested it)",
    )
    assert shown(fake, ticket.request_id) == []


def test_an_unreachable_quorum_with_a_level_escalates_at_once(
    bot: BotProcess, fake: FakeSlack, agent: HITLClient
):
    ticket = agent.submit("Pay rent", "pairesc_pay", {"eur": 9}, requested_by="U0B", timeout=30)
    msg = posted(fake, ticket.request_id)
    # The level is due after an hour, past the 30 s deadline: only the check at the post fires it.
    assert reply(fake, msg, "Escalated") == "⬆️ Escalated: <@U0CFO> can now decide"
    assert agent.get(ticket.request_id).level == 1
    click(bot, msg, "U0A")
    click(bot, msg, "U0CFO")
    decision = ticket.wait(timeout=10)
    assert (decision.status, decision.decided_by) == (Status.APPROVED, ("U0A", "U0CFO"))


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.4, "0 seconds"),
        (1, "1 second"),
        (89, "89 seconds"),
        (600, "10 minutes"),
        (5400, "2 hours"),
        (129_600, "2 days"),
        (-5, "0 seconds"),
    ],
)
def test_time_left_is_said_in_the_largest_unit_that_reads_well(seconds: float, said: str):
    assert notices.time_left(seconds) == said


def test_mentions_are_built_from_ids_only():
    assert [notices.mention(w) for w in ("U0A", "S0OPS", "C0OPS", "<!channel>")] == [
        "<@U0A>",
        "<!subteam^S0OPS>",
        "<#C0OPS>",
        "&lt;!channel&gt;",
    ]


def test_an_escalation_says_where_and_who():
    assert [
        notices.escalation_text(level)
        for level in (
            Level(after=1, channel="C0OPS"),
            Level(after=1, approvers=("U0CFO", "S0FIN")),
            Level(after=1, channel="C0OPS", approvers=("U0CFO",)),
        )
    ] == [
        "⬆️ Escalated to <#C0OPS>",
        "⬆️ Escalated: <@U0CFO> <!subteam^S0FIN> can now decide",
        "⬆️ Escalated to <#C0OPS>: <@U0CFO> can now decide",
    ]


def test_two_replicas_remind_escalate_and_reply_once(fake: FakeSlack, module_prefix: str):
    """Both replicas' schedulers fire the same timers: the first step wins, so one reminder,
    one copy in the escalation channel, one outcome in the thread."""
    prefix = f"{module_prefix}-pair"
    routes = ROUTES + (
        '\n[[routes]]\nname = "twice"\nmatch = { action = "twice_*" }\nchannel = "C0TWICE"\n'
        'reminders = ["1s"]\nescalate = [{ after = "1s", channel = "C0OPS2" }]\n'
    )
    replicas = [
        BotProcess(fake, prefix, REDIS_URL, routes=routes, consumer=f"{prefix}-{n}").start()
        for n in (1, 2)
    ]
    agent = HITLClient(REDIS_URL, prefix)
    try:
        ticket = agent.submit("Twice?", "twice_check", {"n": 1}, timeout=30)
        rid = ticket.request_id
        msg = posted(fake, rid)
        reply(fake, msg, "left to decide")
        fake.wait_until(lambda: len(shown(fake, rid, "C0OPS2")) == 1, timeout=10)
        copy = shown(fake, rid, "C0OPS2")[0]
        click(replicas[1], copy, "U0ANYONE")  # no approvers listed: anyone who sees it
        assert ticket.wait(timeout=10).status is Status.APPROVED
        reply(fake, msg, "Approved")
        time.sleep(1.5)  # both replicas had time to act on every timer and outcome twice over
        assert len(replies(fake, msg, "left to decide")) == 1
        assert len(shown(fake, rid, "C0OPS2")) == 1
        assert len(replies(fake, msg, "Approved")) == 1
        assert [e for e in agent.get(rid).copies] == [MessageRef(channel="C0OPS2", ts=copy.ts)]
    finally:
        agent.close()
        for replica in replicas:
            assert replica.stop() == 0, replica.logs()
