"""The audit trail: every event chained, exported, and tampering detected."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import random
import subprocess
import sys

import pytest
import redis

from hitl_slack import HITLClient, Status
from hitl_slack.audit import entry_hash, read_entries, verify
from hitl_slack.keys import Keys
from hitl_slack.lua import SHA256_PROBE
from hitl_slack.models import digest
from hitl_slack.store import Store


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000])
def test_lua_sha256_matches_hashlib(raw: redis.Redis, size: int):
    text = "".join(random.choice("aé\n{}\"\x00z") for _ in range(size))
    assert raw.eval(SHA256_PROBE.source, 0, text) == hashlib.sha256(text.encode()).hexdigest()


def _decided_pair(client: HITLClient, store: Store) -> tuple[str, str]:
    a = client.submit("Refund", "refund", {"amount": 420}, agent="billing", timeout=30)
    store.decide(a.request_id, Status.APPROVED, payload={"amount": 400}, decided_by=("U0ALICE",),
                 reason="partial")
    b = client.submit("Drop", "drop_table", {"table": "users"}, timeout=30)
    store.decide(b.request_id, Status.REJECTED, reason="never", decided_by=("U0BOB",))
    return a.request_id, b.request_id


def test_every_step_is_recorded_in_order_with_digests(client: HITLClient, store: Store,
                                                      raw: redis.Redis, keys: Keys):
    a, _ = _decided_pair(client, store)
    events = [e.event() for e in read_entries(raw, keys) if e.event().request_id == a]
    assert [e.event for e in events] == ["created", "queued", "edited", "approved"]
    assert events[0].args_digest == digest({"amount": 420})
    assert events[-1].args_digest == digest({"amount": 400})
    assert (events[-1].actor, events[-1].reason) == ("slack:U0ALICE", "partial")


def test_chain_verifies_and_links_to_the_head(client: HITLClient, store: Store, raw: redis.Redis,
                                              keys: Keys):
    _decided_pair(client, store)
    entries = list(read_entries(raw, keys))
    assert len(entries) == 7  # created, queued, edited, approved; created, queued, rejected
    result = verify(entries, raw.get(keys.audit_head))
    assert (result.ok, result.checked) == (True, len(entries))
    for before, after in itertools.pairwise(entries):
        assert after.prev == before.hash == entry_hash(before.prev, before.body)


def _rewrite(raw: redis.Redis, keys: Keys, index: int, new_body: str | None) -> str:
    """Rewrite the audit stream as an attacker with Redis access would: same ids, one changed."""
    entries = raw.xrange(keys.audit)
    tmp = keys.audit + ":tmp"
    for i, (entry_id, fields) in enumerate(entries):
        if i == index:
            if new_body is None:
                continue
            fields = fields | {"body": new_body}
        raw.xadd(tmp, fields, id=entry_id)
    raw.rename(tmp, keys.audit)
    return entries[index][0]


def test_edited_entry_is_detected(client: HITLClient, store: Store, raw: redis.Redis, keys: Keys):
    _decided_pair(client, store)
    entries = raw.xrange(keys.audit)
    body = json.loads(entries[3][1]["body"])
    body["reason"] = "approved after all"
    tampered = _rewrite(raw, keys, 3, json.dumps(body, sort_keys=True, separators=(",", ":")))
    result = verify(read_entries(raw, keys), raw.get(keys.audit_head))
    assert (result.ok, result.broken_at, result.checked) == (False, tampered, 3)
    assert "edited" in (result.problem or "")


def test_deleted_entry_and_deleted_tail_are_detected(client: HITLClient, store: Store,
                                                     raw: redis.Redis, keys: Keys):
    _decided_pair(client, store)
    entries = raw.xrange(keys.audit)
    raw.xdel(keys.audit, entries[3][0])
    result = verify(read_entries(raw, keys), raw.get(keys.audit_head))
    assert (result.ok, result.broken_at) == (False, entries[4][0])
    assert "removed" in (result.problem or "")
    raw.delete(keys.audit)  # put it back ...
    for entry_id, fields in entries:
        raw.xadd(keys.audit, fields, id=entry_id)
    assert verify(read_entries(raw, keys), raw.get(keys.audit_head)).ok
    raw.xdel(keys.audit, entries[-1][0])  # ... and remove the newest instead
    result = verify(read_entries(raw, keys), raw.get(keys.audit_head))
    assert (result.ok, result.broken_at) == (False, entries[-2][0])


def _cli(prefix: str, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"REDIS_URL": redis_url, "HITL_KEY_PREFIX": prefix, "LOG_FORMAT": "console"}
    return subprocess.run([sys.executable, "-m", "hitl_slack.cli", "audit", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_verify_export_and_show(client: HITLClient, store: Store, raw: redis.Redis,
                                    keys: Keys, prefix: str, redis_url: str):
    a, b = _decided_pair(client, store)
    ok = _cli(prefix, redis_url, "verify")
    assert (ok.returncode, ok.stdout.splitlines()) == (
        0, ["ok: 7 entries, chain intact", f"head: {raw.get(keys.audit_head)}"])

    lines = _cli(prefix, redis_url, "export").stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "created", "queued", "edited", "approved", "created", "queued", "rejected"]
    rows = list(csv.DictReader(io.StringIO(_cli(prefix, redis_url, "export", "--format",
                                                 "csv").stdout)))
    assert [r["event"] for r in rows] == [json.loads(line)["event"] for line in lines]

    dataset = [json.loads(line) for line in
               _cli(prefix, redis_url, "export", "--dataset").stdout.splitlines()]
    assert [(d["request_id"], d["original_payload"], d["final_payload"], d["edited"],
             d["decision"], d["reason"]) for d in dataset] == [
        (a, {"amount": 420}, {"amount": 400}, True, "approved", "partial"),
        (b, {"table": "users"}, {"table": "users"}, False, "rejected", "never"),
    ]

    rows = list(csv.DictReader(io.StringIO(_cli(prefix, redis_url, "export", "--dataset",
                                                 "--format", "csv").stdout)))
    assert [(r["request_id"], json.loads(r["final_payload"]), r["decision"]) for r in rows] == [
        (a, {"amount": 400}, "approved"), (b, {"table": "users"}, "rejected")]
    assert _cli(prefix, redis_url, "show", "req_unknown").returncode == 4

    shown = _cli(prefix, redis_url, "show", b)
    assert [line.split()[1] for line in shown.stdout.splitlines()] == [
        "created", "queued", "rejected"]

    entries = raw.xrange(keys.audit)
    raw.xdel(keys.audit, entries[2][0])
    broken = _cli(prefix, redis_url, "verify")
    assert broken.returncode == 1
    assert f"BROKEN at entry {entries[3][0]}" in broken.stderr


def test_entries_appended_after_the_head_was_read_are_not_a_break(
        client: HITLClient, store: Store, raw: redis.Redis, keys: Keys):
    _decided_pair(client, store)
    head = raw.get(keys.audit_head)  # verify reads the head first ...
    client.submit("Meanwhile", "later", {}, timeout=30)  # ... while agents keep writing
    result = verify(read_entries(raw, keys), head)
    assert (result.ok, result.checked) == (True, 7)


def test_deleting_the_oldest_entries_is_not_mistaken_for_retention(
        client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str,
        redis_url: str):
    _decided_pair(client, store)
    for entry_id, _ in raw.xrange(keys.audit)[:2]:
        raw.xdel(keys.audit, entry_id)
    entries = list(read_entries(raw, keys))
    result = verify(entries, raw.get(keys.audit_head), length=len(entries), maxlen=1000)
    assert (result.ok, result.broken_at) == (False, entries[0].id)
    assert "oldest entries were deleted" in (result.problem or "")
    assert _cli(prefix, redis_url, "verify").returncode == 1
    # A full stream that starts mid-way is retention at work.
    trimmed = verify(entries, raw.get(keys.audit_head), length=len(entries), maxlen=5)
    assert (trimmed.ok, trimmed.trimmed) == (True, True)


def test_cli_export_since_keeps_only_later_events(client: HITLClient, store: Store, prefix: str,
                                                  redis_url: str):
    import time
    from datetime import UTC, datetime

    _decided_pair(client, store)
    time.sleep(0.01)
    since = datetime.now(UTC)
    time.sleep(0.01)
    late = client.submit("Late", "later", {}, timeout=30)
    client.cancel(late.request_id, reason="not needed")
    out = _cli(prefix, redis_url, "export", "--since", since.isoformat())
    assert [(json.loads(line)["event"], json.loads(line)["request_id"])
            for line in out.stdout.splitlines()] == [
        ("created", late.request_id), ("queued", late.request_id),
        ("cancelled", late.request_id)]
