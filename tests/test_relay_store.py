"""The post-attempt mark in Redis: written before a post, read back by the next try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from hitl_slack import HITLClient, RequestNotFound, Status
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import Store
from hitl_slack.models import MessageRef
from hitl_slack.policy import Policy

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_the_first_attempt_is_marked_and_later_tries_see_it(client: HITLClient, store: Store):
    ticket = client.submit("Deploy", "deploy", {"v": 1}, timeout=60)
    state, earlier = store.read_posting(ticket.request_id, T0)
    assert (state.request.id, state.status, earlier) == (ticket.request_id, Status.PENDING, None)
    _, earlier = store.read_posting(ticket.request_id, T0 + timedelta(seconds=5))
    assert earlier == T0  # the first attempt stands: copies may date from it
    assert store.read_posting(ticket.request_id)[1] == T0


def test_reading_only_marks_nothing(client: HITLClient, store: Store):
    ticket = client.submit("Deploy", "deploy", {"v": 1}, timeout=60)
    assert store.read_posting(ticket.request_id)[1] is None
    assert store.read_posting(ticket.request_id)[1] is None


def test_a_posted_or_decided_request_is_not_marked(client: HITLClient, store: Store):
    posted = client.submit("Posted", "deploy", {}, timeout=60)
    store.mark_posted(
        store.get(posted.request_id),
        MessageRef(channel="C0APPROVALS", ts="1.000001"),
        Policy(channel="C0APPROVALS"),
    )
    decided = client.submit("Decided", "deploy", {}, timeout=60)
    client.cancel(decided.request_id)
    for ticket in (posted, decided):
        store.read_posting(ticket.request_id, T0)
        assert store.read_posting(ticket.request_id)[1] is None


def test_a_missing_request_is_not_created_by_the_mark(store: Store, raw: redis.Redis, keys: Keys):
    with pytest.raises(RequestNotFound):
        store.read_posting("req_gone", T0)
    assert not raw.exists(keys.request("req_gone"))
