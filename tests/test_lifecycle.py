"""The request lifecycle against a real Redis: create, wait, decide, expire, cancel."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from hitl_slack import (
    AlreadyDecided,
    ApprovalDenied,
    AsyncHITLClient,
    HITLClient,
    InvalidRequest,
    RequestNotFound,
    Status,
    StoreUnavailable,
    WaitTimeout,
)
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import AsyncStore, Store
from hitl_slack.lifecycle.timers import Timer

_threads: list[threading.Thread] = []


@pytest.fixture(autouse=True)
def _join_helpers(client: HITLClient, store: Store) -> Iterator[None]:
    """Helper threads finish before the clients they use are closed."""
    yield
    while _threads:
        _threads.pop().join(10)


def _later(delay: float, fn: Any, *args: Any, **kwargs: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        fn(*args, **kwargs)

    t = threading.Thread(target=run, daemon=True)
    _threads.append(t)
    t.start()
    return t


def test_sync_waiter_gets_the_decision_written_by_the_store(client: HITLClient, store: Store):
    ticket = client.submit(
        "Refund $420 to ACME",
        "refund_payment",
        {"customer": "ACME", "amount": 420},
        risk="high",
        timeout=10,
    )
    _later(
        0.2,
        store.decide,
        ticket.request_id,
        Status.APPROVED,
        decided_by=("U0ALICE",),
        reason="looks right",
    )
    started = time.monotonic()
    decision = ticket.wait()
    assert time.monotonic() - started < 5
    assert decision.status is Status.APPROVED
    assert decision.approved
    assert (decision.payload, decision.edited, decision.reason, decision.decided_by) == (
        {"customer": "ACME", "amount": 420},
        False,
        "looks right",
        ("U0ALICE",),
    )


async def test_async_waiter_gets_an_edited_approval(aclient: AsyncHITLClient, astore: AsyncStore):
    ticket = await aclient.submit("Refund", "refund_payment", {"amount": 420}, timeout=10)

    async def decide() -> None:
        await asyncio.sleep(0.1)
        await astore.decide(
            ticket.request_id, Status.APPROVED, payload={"amount": 400}, decided_by=("U0BOB",)
        )

    task = asyncio.create_task(decide())
    decision = await ticket.wait()
    await task
    assert (decision.status, decision.payload, decision.edited) == (
        Status.APPROVED,
        {"amount": 400},
        True,
    )


def test_request_approval_blocks_until_rejected(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    def reject_first_queued() -> None:
        entries = raw.xrange(keys.queue)
        store.decide(
            entries[0][1]["id"], Status.REJECTED, reason="not today", decided_by=("U0ALICE",)
        )

    _later(0.2, reject_first_queued)
    decision = client.request_approval("Drop table", "drop_table", {"table": "users"}, timeout=10)
    assert (decision.status, decision.approved, decision.reason) == (
        Status.REJECTED,
        False,
        "not today",
    )


def test_late_waiter_gets_the_stored_decision_at_once(client: HITLClient, store: Store):
    ticket = client.submit("s", "act", timeout=30)
    store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
    started = time.monotonic()
    assert ticket.wait().status is Status.APPROVED
    assert time.monotonic() - started < 1


def test_reattach_by_id_from_another_process(
    client: HITLClient, store: Store, redis_url: str, prefix: str
):
    ticket = client.submit("s", "act", timeout=30)
    other = HITLClient(redis_url, prefix)  # a restarted agent knows only the id
    _later(0.2, store.decide, ticket.request_id, Status.APPROVED)
    assert other.wait(ticket.request_id).status is Status.APPROVED
    assert other.get(ticket.request_id).status is Status.APPROVED
    other.close()


def test_idempotency_key_reattaches_to_the_same_request(client: HITLClient, store: Store):
    first = client.submit("s", "deploy", {"v": 1}, idempotency_key="deploy-42", timeout=30)
    again = client.submit("s", "deploy", {"v": 1}, idempotency_key="deploy-42", timeout=30)
    assert again.request_id == first.request_id
    store.decide(first.request_id, Status.APPROVED)
    # After the decision, a restarted agent re-asking gets the decision, not a new request.
    assert (
        client.request_approval(
            "s", "deploy", {"v": 1}, idempotency_key="deploy-42", timeout=30
        ).status
        is Status.APPROVED
    )


def test_idempotency_key_with_other_arguments_is_refused(client: HITLClient):
    client.submit("s", "deploy", {"v": 1}, idempotency_key="k1", timeout=30)
    with pytest.raises(InvalidRequest, match="idempotency_key 'k1' is already used"):
        client.submit("s", "deploy", {"v": 2}, idempotency_key="k1", timeout=30)


def test_submit_returns_at_once_and_the_ticket_polls(client: HITLClient, store: Store):
    started = time.monotonic()
    ticket = client.submit("s", "act", timeout=30)
    assert time.monotonic() - started < 0.5
    assert ticket.poll() is None
    assert client.get(ticket.request_id).status is Status.PENDING
    with pytest.raises(WaitTimeout):
        ticket.wait(timeout=0.2)
    store.decide(ticket.request_id, Status.REJECTED, reason="no")
    polled = ticket.poll()
    assert polled is not None
    assert polled.status is Status.REJECTED


def test_cancel_wakes_the_waiter_and_cannot_be_repeated(client: HITLClient):
    ticket = client.submit("s", "act", timeout=30)
    _later(0.2, client.cancel, ticket.request_id, reason="agent gave up")
    decision = ticket.wait()
    assert (decision.status, decision.reason, decision.decided_by) == (
        Status.CANCELLED,
        "agent gave up",
        (),
    )
    with pytest.raises(AlreadyDecided, match="already cancelled"):
        client.cancel(ticket.request_id)


def test_waiting_agent_gets_expired_at_its_timeout_without_a_bot(client: HITLClient):
    started = time.monotonic()
    decision = client.request_approval("s", "act", timeout=0.5)
    elapsed = time.monotonic() - started
    assert decision.status is Status.EXPIRED
    assert 0.4 < elapsed < 3


def test_expiry_applies_with_no_bot_and_no_waiter(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    ticket = client.submit("s", "act", timeout=0.3)
    time.sleep(0.4)
    assert store.due_timers() == [Timer.expire(ticket.request_id)]
    assert raw.zrange(keys.pending, 0, -1) == [ticket.request_id]
    assert store.expire(ticket.request_id).status is Status.EXPIRED
    assert store.due_timers() == []
    assert (raw.zcard(keys.timers), raw.zcard(keys.pending)) == (0, 0)
    assert client.get(ticket.request_id).status is Status.EXPIRED
    # A click that comes after expiry finds the expiry standing.
    with pytest.raises(AlreadyDecided, match="already expired"):
        store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))


def test_get_expires_a_request_past_its_deadline(client: HITLClient):
    ticket = client.submit("s", "act", timeout=0.2)
    time.sleep(0.3)
    assert client.get(ticket.request_id).status is Status.EXPIRED


def test_click_after_deadline_before_scheduler_ran_is_refused(client: HITLClient, store: Store):
    ticket = client.submit("s", "act", timeout=0.2)
    time.sleep(0.3)
    with pytest.raises(AlreadyDecided) as info:
        store.decide(ticket.request_id, Status.APPROVED, decided_by=("U1",))
    assert info.value.decision.status is Status.EXPIRED


def test_first_decision_wins_under_50_concurrent_attempts(client: HITLClient, store: Store):
    ticket = client.submit("s", "act", timeout=30)

    def attempt(i: int) -> tuple[str, Any]:
        status = Status.APPROVED if i % 2 else Status.REJECTED
        try:
            return "won", store.decide(ticket.request_id, status, decided_by=(f"U{i:03d}",))
        except AlreadyDecided as exc:
            return "lost", exc.decision

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    winners = [d for outcome, d in results if outcome == "won"]
    assert len(winners) == 1
    assert all(d == winners[0] for _, d in results)  # every loser is told the winner
    assert ticket.wait() == winners[0]


def test_decide_racing_expire_has_exactly_one_outcome(client: HITLClient, store: Store):
    for _ in range(10):
        ticket = client.submit("s", "act", timeout=0.15)
        time.sleep(0.14)

        def attempt(i: int, rid: str = ticket.request_id) -> Any:
            if i % 2:
                return _expire(store, rid)
            try:
                return store.decide(rid, Status.APPROVED, decided_by=("U1",))
            except AlreadyDecided as exc:
                return exc.decision

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = [r for r in pool.map(attempt, range(50)) if r is not None]
        final = client.wait(ticket.request_id)
        assert {d.status for d in results} == {final.status}
        assert final.status in (Status.APPROVED, Status.EXPIRED)


def _expire(store: Store, rid: str) -> Any:
    from hitl_slack.lifecycle.ops import NotDue

    try:
        return store.expire(rid)
    except NotDue:
        return None


def test_gated_function_runs_with_edited_arguments(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    calls: list[tuple[str, int]] = []

    @client.require_approval(route="finance", risk="high", timeout=10)
    def refund(customer: str, amount: int) -> str:
        calls.append((customer, amount))
        return f"refunded {amount}"

    def approve_edited() -> None:
        rid = raw.xrange(keys.queue)[0][1]["id"]
        state = store.get(rid)
        assert (state.request.action, state.request.payload, state.request.route) == (
            "refund",
            {"customer": "ACME", "amount": 420},
            "finance",
        )
        store.decide(rid, Status.APPROVED, payload={"customer": "ACME", "amount": 400})

    _later(0.2, approve_edited)
    assert refund("ACME", amount=420) == "refunded 400"
    assert calls == [("ACME", 400)]


def test_gated_function_rejected_raises_with_the_reason(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    ran = []

    @client.require_approval(timeout=10)
    def delete_everything() -> None:
        ran.append(True)

    _later(
        0.2,
        lambda: store.decide(
            raw.xrange(keys.queue)[0][1]["id"], Status.REJECTED, reason="absolutely not"
        ),
    )
    with pytest.raises(ApprovalDenied, match="absolutely not") as info:
        delete_everything()
    assert info.value.reason == "absolutely not"
    assert ran == []


def test_gated_function_can_return_a_value_instead_of_raising(client: HITLClient):
    @client.require_approval(timeout=0.2, on_denied=lambda d: f"not run: {d.status}")
    def risky() -> str:
        return "ran"

    assert risky() == "not run: expired"


async def test_async_gated_function_approved_and_rejected(
    aclient: AsyncHITLClient, astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    @aclient.require_approval(timeout=10)
    async def scale(service: str, replicas: int) -> int:
        return replicas

    async def decide(status: Status, **kw: Any) -> None:
        while not raw.xlen(keys.queue):
            await asyncio.sleep(0.01)
        rid = raw.xrange(keys.queue)[-1][1]["id"]
        raw.xdel(keys.queue, raw.xrange(keys.queue)[-1][0])
        await astore.decide(rid, status, **kw)

    task = asyncio.create_task(decide(Status.APPROVED, payload={"service": "api", "replicas": 3}))
    assert await scale("api", 30) == 3
    await task
    task = asyncio.create_task(decide(Status.REJECTED, reason="too many"))
    with pytest.raises(ApprovalDenied, match="too many"):
        await scale("api", 300)
    await task


def test_sync_client_gates_async_functions_too(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    @client.require_approval(timeout=10)
    async def notify(user: str) -> str:
        return f"hi {user}"

    _later(
        0.2,
        lambda: store.decide(
            raw.xrange(keys.queue)[0][1]["id"], Status.APPROVED, payload={"user": "bob"}
        ),
    )
    assert asyncio.run(notify("alice")) == "hi bob"


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"summary": ""}, "summary", "at least 1 character"),
        ({"summary": "   "}, "summary", "at least 1 character"),
        ({"payload": {"when": object()}}, "payload", "must be JSON-serialisable"),
        ({"payload": {"x": float("nan")}}, "payload", "must be JSON-serialisable"),
        ({"payload": {"blob": "x" * 70_000}}, "payload", "the limit is 65536"),
        ({"timeout": 0}, "timeout", "must be a positive number"),
        ({"timeout": -5}, "timeout", "must be a positive number"),
        ({"timeout": 10**9}, "timeout", "at most 604800 seconds"),
        ({"risk": "extreme"}, "risk", "'low', 'medium', 'high' or 'critical'"),
        ({"channel": "#general"}, "channel", "should match pattern"),
        ({"action": "two words"}, "action", "should match pattern"),
        ({"tags": ["ok", ""]}, "tags.1", "at least 1 character"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags", "at most 20 items"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    client: HITLClient,
    raw: redis.Redis,
    prefix: str,
    kwargs: dict[str, Any],
    field: str,
    message: str,
):
    args: dict[str, Any] = {"summary": "ok", "action": "act", "payload": {}} | kwargs
    with pytest.raises(InvalidRequest) as info:
        client.submit(**args)
    assert f"{field}: " in str(info.value)
    assert message in str(info.value)
    assert field in [loc for loc, _ in info.value.errors]
    assert list(raw.scan_iter(match=f"{prefix}:*")) == []


def test_unknown_request_is_not_found(client: HITLClient):
    with pytest.raises(RequestNotFound, match="req_nope"):
        client.get("req_nope")
    with pytest.raises(RequestNotFound):
        client.wait("req_nope", timeout=0.1)


def test_unreachable_redis_raises_promptly():
    c = HITLClient("redis://127.0.0.1:1/0", "x", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        c.submit("s", "act")
    assert time.monotonic() - started < 3
    assert "redis://" not in str(info.value)


async def test_unreachable_redis_raises_promptly_async():
    c = AsyncHITLClient("redis://:hunter2@127.0.0.1:1/0", "x", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        await c.submit("s", "act")
    assert time.monotonic() - started < 3
    assert "hunter2" not in str(info.value)
    await c.aclose()


def test_entry_written_by_an_older_version_gets_a_clear_error(
    client: HITLClient, raw: redis.Redis, keys: Keys
):
    raw.hset(
        keys.request("req_old"), mapping={"request": '{"v": 0, "title": "x"}', "status": "pending"}
    )
    with pytest.raises(InvalidRequest, match="stored request req_old"):
        client.get("req_old")


def test_every_key_has_a_ttl_or_is_bounded(
    client: HITLClient, store: Store, raw: redis.Redis, prefix: str, keys: Keys
):
    t = client.submit("s", "act", idempotency_key="k", timeout=30)
    store.decide(t.request_id, Status.APPROVED)
    for key in raw.scan_iter(match=f"{prefix}:*"):
        kind = raw.type(key)
        if kind == "stream" or key == keys.audit_head or kind == "zset":
            continue  # streams are capped by MAXLEN; the head is one value; the zsets empty
        assert raw.pttl(key) > 0, key
    assert (raw.zcard(keys.timers), raw.zcard(keys.pending)) == (0, 0)


async def test_async_wait_with_a_zero_or_tiny_timeout_returns_promptly(aclient: AsyncHITLClient):
    ticket = await aclient.submit("s", "act", timeout=60)
    for timeout in (0, 0.0001, 0.001):
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            await aclient.wait(ticket.request_id, timeout=timeout)
        assert time.monotonic() - started < 1


async def test_cancelled_waits_do_not_break_later_waits(
    aclient: AsyncHITLClient, astore: AsyncStore
):
    ticket = await aclient.submit("s", "act", timeout=60)
    given_up = []
    for i in range(30):  # agents giving up on waits, at every stage of the subscription
        task = asyncio.create_task(aclient.wait(ticket.request_id))
        for _ in range(i % 6):
            await asyncio.sleep(0)
        task.cancel()
        given_up.append(task)
    # (On Python 3.11 redis-py may swallow a cancellation now and then; such a wait simply
    # goes on waiting, which must not disturb the others either.)
    await asyncio.sleep(0.1)
    waiter = asyncio.create_task(aclient.wait(ticket.request_id))
    await asyncio.sleep(0.1)
    await astore.decide(ticket.request_id, Status.APPROVED)
    decision = await asyncio.wait_for(waiter, timeout=2)
    assert decision.status is Status.APPROVED
    await asyncio.wait_for(asyncio.gather(*given_up, return_exceptions=True), timeout=2)


async def test_a_garbled_or_newer_message_does_not_stop_wake_ups(
    aclient: AsyncHITLClient, astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    first = await aclient.submit("s", "act", timeout=60)
    second = await aclient.submit("s", "act", timeout=60)
    waits = [asyncio.create_task(aclient.wait(t.request_id)) for t in (first, second)]
    while aclient._hub.channels < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    raw.publish(keys.decided_channel(first.request_id), "{not json")
    await astore.decide(first.request_id, Status.APPROVED)  # re-read after the bad message
    assert (await asyncio.wait_for(waits[0], 2)).status is Status.APPROVED
    newer = {"v": 1, "request_id": second.request_id, "status": "rejected", "answer": "42"}
    raw.publish(keys.decided_channel(second.request_id), json.dumps(newer))
    assert (await asyncio.wait_for(waits[1], 2)).status is Status.REJECTED


async def test_a_wait_giving_up_early_does_not_strand_others_on_the_same_request(
    aclient: AsyncHITLClient, astore: AsyncStore
):
    ticket = await aclient.submit("s", "act", timeout=60)
    impatient = [
        asyncio.create_task(aclient.wait(ticket.request_id, timeout=0.0005)) for _ in range(10)
    ]  # the first of these starts the subscription
    patient = asyncio.create_task(aclient.wait(ticket.request_id))
    results = await asyncio.gather(*impatient, return_exceptions=True)
    assert all(isinstance(r, WaitTimeout) for r in results)
    await asyncio.sleep(0.1)
    await astore.decide(ticket.request_id, Status.APPROVED)
    assert (await asyncio.wait_for(patient, timeout=2)).status is Status.APPROVED


def test_deadline_is_set_by_redis_not_by_a_skewed_agent_clock(client: HITLClient, store: Store):
    from datetime import UTC, datetime, timedelta

    behind = datetime.now(UTC) - timedelta(minutes=11)  # an agent whose clock is 11 min slow
    ticket = client.submit("s", "act", timeout=600, created_at=behind)
    state = client.get(ticket.request_id)
    assert state.status is Status.PENDING
    remaining = (state.effective_deadline - datetime.now(UTC)).total_seconds()
    assert 590 < remaining <= 600
    assert store.decide(ticket.request_id, Status.APPROVED).status is Status.APPROVED


async def test_async_client_gates_plain_functions_too(
    aclient: AsyncHITLClient, astore: AsyncStore, raw: redis.Redis, keys: Keys
):
    ran: list[str] = []

    @aclient.require_approval(timeout=10)
    def archive(name: str) -> str:
        ran.append(name)
        return f"archived {name}"

    async def approve() -> None:
        while not raw.xlen(keys.queue):
            await asyncio.sleep(0.01)
        await astore.decide(
            raw.xrange(keys.queue)[0][1]["id"], Status.APPROVED, payload={"name": "logs-2024"}
        )

    task = asyncio.create_task(approve())
    assert await archive("logs") == "archived logs-2024"
    await task
    assert ran == ["logs-2024"]
