"""HITL_REDIS_MIN_REPLICAS: a decision is announced only once replicas confirm it (WAIT)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redisproc import RedisServer

from hitl_slack import AlreadyDecided, HITLClient, Status, WaitTimeout
from hitl_slack.errors import NotReplicated, StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import Store
from hitl_slack.models import Decision

PREFIX = "repl"


def _follow(primary: RedisServer, replica: RedisServer) -> None:
    """Make ``replica`` replicate ``primary`` and wait until it is in sync."""
    p = redis.Redis(port=primary.port)
    p.config_set("repl-diskless-sync-delay", 0)  # sync now, not after the default 5 s
    r = redis.Redis(port=replica.port)
    r.execute_command("REPLICAOF", "127.0.0.1", str(primary.port))
    try:
        for _ in range(1000):
            if (
                p.info("replication").get("connected_slaves") == 1
                and r.info("replication").get("master_link_status") == "up"
            ):
                return
            time.sleep(0.01)
        raise RuntimeError("the replica never synced")
    finally:
        r.close()
        p.close()


@pytest.fixture
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and one replica following it (``REPLICAOF``), both killed by PID after."""
    with RedisServer() as primary, RedisServer() as replica:
        _follow(primary, replica)
        yield primary, replica


def _bot_store(url: str, *, min_replicas: int, timeout: float = 0.3) -> Store:
    config = StoreConfig(keys=Keys(PREFIX), min_replicas=min_replicas, replica_timeout=timeout)
    return Store(redis.Redis.from_url(url, decode_responses=True), config)


def _waiting(
    client: HITLClient, request_id: str, out: list[object], timeout: float = 1.0
) -> threading.Thread:
    def wait() -> None:
        try:
            out.append(client.wait(request_id, timeout=timeout))
        except (WaitTimeout, StoreUnavailable) as exc:
            out.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    channel = Keys(PREFIX).decided_channel(request_id)
    probe = client.store.redis
    end = time.monotonic() + 10
    while probe.pubsub_numsub(channel)[0][1] == 0:  # the agent is listening
        assert time.monotonic() < end, f"the wait never subscribed (it returned {out})"
        time.sleep(0.005)
    return t


def test_a_decision_is_on_the_replica_before_the_agent_hears_of_it(
    pair: tuple[RedisServer, RedisServer],
):
    primary, replica = pair
    client = HITLClient(primary.url, PREFIX)
    store = _bot_store(primary.url, min_replicas=1, timeout=10)  # a loaded machine is slow
    ticket = client.submit("Refund", "refund", {"amount": 5}, timeout=30)
    got: list[object] = []
    waiter = _waiting(client, ticket.request_id, got, timeout=20)
    decision = store.decide(ticket.request_id, Status.APPROVED, decided_by=("U0ALICE",))
    on_replica = redis.Redis(port=replica.port, decode_responses=True)
    assert on_replica.hget(Keys(PREFIX).request(ticket.request_id), "status") == "approved"
    waiter.join()
    assert isinstance(got[0], Decision)
    assert (got[0].status, got[0]) == (Status.APPROVED, decision)
    on_replica.close()
    client.close()


def test_an_unreplicated_decision_is_not_announced_until_a_retry_confirms_it(
    pair: tuple[RedisServer, RedisServer],
):
    primary, replica = pair
    client = HITLClient(primary.url, PREFIX)
    store = _bot_store(primary.url, min_replicas=1)
    keys = Keys(PREFIX)
    ticket = client.submit("Refund", "refund", {"amount": 5}, timeout=60)
    got: list[object] = []
    waiter = _waiting(client, ticket.request_id, got)
    replica.kill()  # the replica is gone: WAIT cannot be satisfied
    with pytest.raises(NotReplicated, match="reached 0 of 1 Redis replicas"):
        store.decide(ticket.request_id, Status.APPROVED, decided_by=("U0ALICE",))
    waiter.join()
    assert isinstance(got[0], WaitTimeout)  # the agent was not told ...
    assert client.get(ticket.request_id).pending  # ... and does not read it either
    assert store.redis.xlen(keys.outcomes) == 0  # nor is it shown in Slack

    replica.start()
    _follow(primary, replica)
    again: list[object] = []
    waiter = _waiting(client, ticket.request_id, again, timeout=20)
    slow = _bot_store(primary.url, min_replicas=1, timeout=10)
    with pytest.raises(AlreadyDecided) as exc:  # the person clicks again
        slow.decide(ticket.request_id, Status.REJECTED, decided_by=("U0BOB",))
    assert exc.value.decision.status is Status.APPROVED  # the first click stands, now confirmed
    waiter.join()
    assert isinstance(again[0], Decision)
    assert (again[0].status, again[0].decided_by) == (Status.APPROVED, ("U0ALICE",))
    assert store.redis.xlen(keys.outcomes) == 1
    client.close()


def test_without_min_replicas_the_decision_is_announced_at_once(
    pair: tuple[RedisServer, RedisServer],
):
    primary, replica = pair
    replica.kill()
    client = HITLClient(primary.url, PREFIX)
    store = _bot_store(primary.url, min_replicas=0)
    ticket = client.submit("Refund", "refund", {"amount": 5}, timeout=30)
    got: list[object] = []
    waiter = _waiting(client, ticket.request_id, got)
    store.decide(ticket.request_id, Status.REJECTED, reason="no")
    waiter.join()
    assert isinstance(got[0], Decision)
    assert got[0].status is Status.REJECTED
    client.close()


def test_an_agents_own_cancel_waits_for_the_replicas_too(pair: tuple[RedisServer, RedisServer]):
    primary, replica = pair
    agent = HITLClient(primary.url, PREFIX, min_replicas=1, replica_timeout=10)  # loaded machine
    first = agent.submit("Refund", "refund", {"amount": 5}, timeout=60)
    cancelled = agent.cancel(first.request_id, reason="changed my mind")
    on_replica = redis.Redis(port=replica.port, decode_responses=True)
    assert on_replica.hget(Keys(PREFIX).request(first.request_id), "status") == "cancelled"
    assert cancelled.status is Status.CANCELLED

    second = agent.submit("Refund", "refund", {"amount": 6}, timeout=60)
    replica.kill()
    hasty = HITLClient(primary.url, PREFIX, min_replicas=1, replica_timeout=0.3)
    with pytest.raises(NotReplicated):
        hasty.cancel(second.request_id)
    assert agent.get(second.request_id).pending  # not announced while unconfirmed
    on_replica.close()
    hasty.close()
    agent.close()
