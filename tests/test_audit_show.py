"""``hitl-slack audit show``: a request's events, then the policy its decisions were judged by."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import redis

from hitl_slack import HITLClient, Status
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import Store
from hitl_slack.models import AuditEvent, MessageRef, Vote
from hitl_slack.policy import Offset, Policy

FINANCE = Policy(
    route="finance",
    channel="C0FINANCE",
    approvers=("U0ALICE", "S0FINANCE"),
    reject_reason_required=True,
    timeout_cap=1800,
)


def show(prefix: str, redis_url: str, request_id: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"REDIS_URL": redis_url, "HITL_KEY_PREFIX": prefix, "LOG_FORMAT": "console"}
    return subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "audit", "show", request_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_show_prints_the_posted_policy_after_the_events_and_which_one_judged_each(
    client: HITLClient, store: Store, prefix: str, redis_url: str
):
    ticket = client.submit("Refund", "refund", {"amount": 420}, timeout=3600)
    state = store.get(ticket.request_id)
    store.mark_posted(state, MessageRef(channel="C0FINANCE", ts="1.000100"), FINANCE)
    other = FINANCE.model_copy(update={"approvers": ("U0MALLORY",)})
    store.audit(  # an attempt judged by a policy that is not the posted one
        AuditEvent(
            event="unauthorized",
            request_id=ticket.request_id,
            actor="slack:U0MALLORY",
            policy_digest=other.digest(),
        )
    )
    store.decide(ticket.request_id, Status.REJECTED, reason="no", decided_by=("U0ALICE",))

    shown = show(prefix, redis_url, ticket.request_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    events = [line.split()[1] for line in lines[:5]]
    assert events == ["created", "queued", "posted", "unauthorized", "rejected"]
    short = FINANCE.digest()[:12]
    assert lines[2].endswith(f" policy={short}")
    assert lines[3].endswith(f" policy={other.digest()[:12]} (not the posted policy)")
    assert lines[4].endswith(f" policy={short}")  # the decision names the policy that judged it
    assert lines[5:] == [
        f"policy {FINANCE.digest()} (posted, entry {lines[2].split('entry=')[1].split()[0]}):",
        "  route:         finance",
        "  channel:       C0FINANCE",
        "  approvers:     U0ALICE, S0FINANCE",
        "  reject reason: required",
        "  deadline cap:  1800 s",
    ]


def test_show_reads_the_policy_a_message_record_held_before_snapshots(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    ticket = client.submit("Purge", "purge_cache", {}, timeout=60)
    old_posted = {  # what a bot without policy snapshots recorded
        "channel": "C0OPS",
        "ts": "1.000200",
        "approvers": [],
        "reject_reason_required": False,
        "route": None,
    }
    store.audit(
        AuditEvent(event="posted", request_id=ticket.request_id, actor="bot", data=old_posted)
    )
    store.decide(ticket.request_id, Status.APPROVED, decided_by=("U0BOB",))

    lines = show(prefix, redis_url, ticket.request_id).stdout.splitlines()
    assert [line.split()[1] for line in lines[:4]] == ["created", "queued", "posted", "approved"]
    assert "policy=" not in lines[2]
    assert lines[4].startswith("policy recorded with the message, before snapshots (entry ")
    assert lines[5:] == [
        "  route:         (none matched: the defaults)",
        "  channel:       C0OPS",
        "  approvers:     anyone in the channel",
        "  reject reason: optional",
        "  deadline cap:  none",
    ]
    assert json.loads(raw.xrange(keys.audit)[2][1]["body"])["data"] == old_posted


def test_show_prints_each_vote_and_the_policy_keys_that_are_not_defaults(
    client: HITLClient, store: Store, prefix: str, redis_url: str
):
    policy = Policy(
        route="payments",
        channel="C0FINANCE",
        approvers=("U0A", "U0B"),
        quorum=2,
        requested_by="U0ALICE",
        reminders=(Offset(after=600), Offset(share=0.8)),
        on_timeout="reject",
    )
    ticket = client.submit("Wire", "wire_transfer", {"eur": 900}, timeout=3600)
    state = store.get(ticket.request_id)
    store.mark_posted(state, MessageRef(channel="C0FINANCE", ts="1.000100"), policy)
    state = store.get(ticket.request_id)
    store.vote(state, Vote(who="U0A", what="approve", args_digest=state.args_digest), seen=None)

    shown = show(prefix, redis_url, ticket.request_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    voted = lines[3].split()
    assert (voted[1], voted[2], voted[3]) == ("voted", "slack:U0A", f"digest={state.args_digest}")
    assert "  quorum:        2" in lines
    assert "  requested by:  U0ALICE" in lines
    assert "  reminders:     600s, 80%" in lines
    assert "  on timeout:    reject" in lines
    assert not any(line.startswith("  veto:") for line in lines)  # the default: not shown
