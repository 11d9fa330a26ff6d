"""The audit trail: every event chained, sealed by the bot, exported, and tampering detected."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import redis

from hitl_slack import HITLClient, Status
from hitl_slack.audit.chain import GENESIS, stream_id
from hitl_slack.audit.trail import (
    Verdict,
    entry_hash,
    load_trail,
    read_checkpoints,
    read_entries,
    verify,
)
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import Store, async_redis
from hitl_slack.models import AuditEvent, digest
from hitl_slack.service.sealer import Sealer

REDIS_URL = os.environ.get("HITL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def seal(prefix: str, *, maxlen: int = 1_000_000, batch: int = 1000, trim: bool = False) -> int:
    """Run the bot's sealer until nothing is left to seal (as ``serve`` does every second)."""

    async def go() -> int:
        r = async_redis(REDIS_URL)
        sealer = Sealer(r, Keys(prefix), maxlen=maxlen, owner="test", batch=batch)
        try:
            total = 0
            while count := await sealer.seal_once():
                total += count
            if trim:
                await sealer.trim()
            return total
        finally:
            await r.aclose()

    return asyncio.run(go())


def check(raw: redis.Redis, keys: Keys, **kw: object):  # type: ignore[no-untyped-def]
    return verify(load_trail(raw, keys), **kw)  # type: ignore[arg-type]


def _decided_pair(client: HITLClient, store: Store) -> tuple[str, str]:
    a = client.submit("Refund", "refund", {"amount": 420}, agent="billing", timeout=30)
    store.decide(
        a.request_id,
        Status.APPROVED,
        payload={"amount": 400},
        decided_by=("U0ALICE",),
        reason="partial",
    )
    b = client.submit("Drop", "drop_table", {"table": "users"}, timeout=30)
    store.decide(b.request_id, Status.REJECTED, reason="never", decided_by=("U0BOB",))
    return a.request_id, b.request_id


def test_every_step_is_recorded_in_order_with_digests(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys
):
    a, _ = _decided_pair(client, store)
    events = [e.event() for e in read_entries(raw, keys) if e.event().request_id == a]
    assert [e.event for e in events] == ["created", "queued", "edited", "approved"]
    assert events[0].args_digest == digest({"amount": 420})
    assert events[-1].args_digest == digest({"amount": 400})
    assert (events[-1].actor, events[-1].reason) == ("slack:U0ALICE", "partial")


def test_the_atomic_step_stores_bodies_only_and_the_sealer_chains_them(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    _decided_pair(client, store)
    stored = raw.xrange(keys.audit)
    assert {tuple(fields) for _, fields in stored} == {("body",)}  # no hash computed in Redis
    assert seal(prefix) == 7
    entries = list(read_entries(raw, keys))
    running = GENESIS
    for entry in entries:
        running = entry_hash(running, entry.body)
    assert [(c.entry, c.hash, c.n) for c in read_checkpoints(raw, keys)] == [
        (entries[-1].id, running, 7)
    ]
    result = check(raw, keys)
    assert (result.verdict, result.checked, result.unsealed, result.head) == (
        Verdict.OK,
        7,
        0,
        running,
    )


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


def test_an_edited_sealed_entry_is_detected(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    _decided_pair(client, store)
    seal(prefix)
    body = json.loads(raw.xrange(keys.audit)[3][1]["body"])
    body["reason"] = "approved after all"
    _rewrite(raw, keys, 3, json.dumps(body, sort_keys=True, separators=(",", ":")))
    result = check(raw, keys)
    assert (result.verdict, result.broken_at) == (Verdict.BROKEN, raw.xrange(keys.audit)[-1][0])
    assert "differs from the checkpoint" in result.message


def test_a_removed_entry_and_a_removed_tail_are_detected(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    _decided_pair(client, store)
    seal(prefix)
    entries = raw.xrange(keys.audit)
    _rewrite(raw, keys, 3, None)  # a middle entry gone, without a trace in the stream's counters
    result = check(raw, keys)
    assert result.verdict is Verdict.BROKEN
    assert "removed" in result.message
    raw.delete(keys.audit)  # put it back ...
    for entry_id, fields in entries:
        raw.xadd(keys.audit, fields, id=entry_id)
    assert check(raw, keys).ok
    _rewrite(raw, keys, len(entries) - 1, None)  # ... and remove the newest instead
    result = check(raw, keys)
    assert (result.verdict, result.broken_at) == (Verdict.TRUNCATED, entries[-2][0])
    assert "newest entries were deleted" in result.message


def test_xdel_of_unsealed_entries_is_detected(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    _decided_pair(client, store)
    seal(prefix)
    extra = client.submit("Later", "later", {}, timeout=30)
    client.cancel(extra.request_id)
    tail = raw.xrange(keys.audit)[-3:]
    raw.xdel(keys.audit, tail[-1][0])  # the newest, never sealed
    assert check(raw, keys).verdict is Verdict.TRUNCATED
    raw.xdel(keys.audit, tail[0][0])  # and one in the middle of the unsealed tail
    assert check(raw, keys).verdict in (Verdict.BROKEN, Verdict.TRUNCATED)


def _cli(prefix: str, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"REDIS_URL": redis_url, "HITL_KEY_PREFIX": prefix, "LOG_FORMAT": "console"}
    return subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "audit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_verify_export_and_show(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    a, b = _decided_pair(client, store)
    seal(prefix)
    ok = _cli(prefix, redis_url, "verify")
    assert (ok.returncode, ok.stdout.splitlines()) == (
        0,
        ["ok: 7 entries sealed, chain intact", f"head: {raw.hget(keys.audit_sealed, 'hash')}"],
    )

    lines = _cli(prefix, redis_url, "export").stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "created",
        "queued",
        "edited",
        "approved",
        "created",
        "queued",
        "rejected",
    ]
    rows = list(
        csv.DictReader(io.StringIO(_cli(prefix, redis_url, "export", "--format", "csv").stdout))
    )
    assert [r["event"] for r in rows] == [json.loads(line)["event"] for line in lines]

    dataset = [
        json.loads(line)
        for line in _cli(prefix, redis_url, "export", "--dataset").stdout.splitlines()
    ]
    assert [
        (
            d["request_id"],
            d["original_payload"],
            d["final_payload"],
            d["edited"],
            d["decision"],
            d["reason"],
        )
        for d in dataset
    ] == [
        (a, {"amount": 420}, {"amount": 400}, True, "approved", "partial"),
        (b, {"table": "users"}, {"table": "users"}, False, "rejected", "never"),
    ]

    rows = list(
        csv.DictReader(
            io.StringIO(_cli(prefix, redis_url, "export", "--dataset", "--format", "csv").stdout)
        )
    )
    assert [(r["request_id"], json.loads(r["final_payload"]), r["decision"]) for r in rows] == [
        (a, {"amount": 400}, "approved"),
        (b, {"table": "users"}, "rejected"),
    ]
    assert _cli(prefix, redis_url, "show", "req_unknown").returncode == 4

    shown = _cli(prefix, redis_url, "show", b)
    assert [line.split()[1] for line in shown.stdout.splitlines()] == [
        "created",
        "queued",
        "rejected",
    ]

    entries = raw.xrange(keys.audit)
    raw.xdel(keys.audit, entries[2][0])
    broken = _cli(prefix, redis_url, "verify")
    assert broken.returncode == 5
    assert f"FAILED at entry {entries[2][0]}: entry {entries[2][0]} was removed" in broken.stderr


def test_cli_help_lists_the_exit_codes_of_verify(prefix: str, redis_url: str):
    shown = _cli(prefix, redis_url, "verify", "--help").stdout
    for line in (
        "0   chain intact",
        "1   nothing to verify",
        "6   entries exist but the sealed",
        "7   tail truncated",
        "8   the trail is empty",
        "9   --expect-head is not",
        "10  --expect-head is not in the kept chain",
    ):
        assert line in shown


def test_entries_after_the_sealed_head_are_an_unsealed_tail_not_a_break(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    seal(prefix)
    client.submit("Meanwhile", "later", {}, timeout=30)  # agents keep writing
    result = check(raw, keys)
    assert (result.verdict, result.checked, result.unsealed) == (Verdict.OK, 9, 2)
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode == 0
    assert out.stdout.splitlines()[:2] == [
        "ok: 7 entries sealed, chain intact",
        "unsealed tail: 2 newest entries not sealed yet (the bot seals within seconds; until "
        "then they are only as safe as Redis)",
    ]
    seal(prefix)
    assert (check(raw, keys).checked, check(raw, keys).unsealed) == (9, 0)


def test_sealing_while_verify_reads_is_not_a_truncation(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    _decided_pair(client, store)
    seal(prefix)
    # verify reads the head, then entries and checkpoints in turn, page by page: here the
    # entries' page was read, then agents wrote and the bot sealed, then the checkpoints read.
    trail = load_trail(raw, keys)
    trail.entries = list(trail.entries)
    client.submit("Meanwhile", "later", {}, timeout=30)
    assert seal(prefix) == 2
    result = verify(trail)
    assert (result.verdict, result.checked, result.unsealed) == (Verdict.OK, 7, 0), result.message


def test_a_head_rolled_back_over_a_truncated_tail_is_caught(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    seal(prefix)
    older = raw.hgetall(keys.audit_sealed)
    client.submit("Later", "later", {}, timeout=30)
    seal(prefix)
    # Drop the newest sealed entries without a trace (XDEL would leave one), and put the head
    # back where it was before they were sealed: no hash to compute, no checkpoint to forge.
    kept = raw.xrange(keys.audit)[:-2]
    raw.delete(keys.audit)
    for entry_id, fields in kept:
        raw.xadd(keys.audit, fields, id=entry_id)
    raw.hset(keys.audit_sealed, mapping=older)
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode != 0
    assert "the head was rewritten" in out.stderr


def test_deleting_the_head_fails_closed(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    seal(prefix)
    raw.delete(keys.audit_sealed)
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode == Verdict.NO_HEAD == 6
    assert "sealed head under prefix" in out.stderr
    assert "is missing" in out.stderr


def test_deleting_the_last_entries_and_the_head_fails_closed(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    seal(prefix)
    for entry_id, _ in raw.xrange(keys.audit)[-3:]:
        raw.xdel(keys.audit, entry_id)
    raw.delete(keys.audit_sealed, keys.audit_seals)
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode == Verdict.NO_HEAD
    assert "no sealed head" in out.stderr


def _rewrite_entry(raw: redis.Redis, keys: Keys, index: int, fields: dict[str, str]) -> None:
    rows = raw.xrange(keys.audit)
    raw.delete(keys.audit)
    for i, (entry_id, kept) in enumerate(rows):
        raw.xadd(keys.audit, fields if i == index else kept, id=entry_id)


@pytest.mark.parametrize(
    ("field", "verdict", "said"),
    [
        ("checkpoint entry", Verdict.BROKEN, "malformed field"),
        ("head entry", Verdict.NO_HEAD, "the head was rewritten"),
        ("legacy prev", Verdict.BROKEN, "malformed field"),
    ],
)
def test_a_malformed_checkpoint_head_or_entry_field_is_a_failure_not_a_crash(
    client: HITLClient,
    store: Store,
    raw: redis.Redis,
    keys: Keys,
    prefix: str,
    redis_url: str,
    field: str,
    verdict: Verdict,
    said: str,
):
    _decided_pair(client, store)
    seal(prefix)
    if field == "checkpoint entry":
        seals = raw.xrange(keys.audit_seals)
        raw.delete(keys.audit_seals)
        raw.xadd(keys.audit_seals, {"entry": "garbage", "hash": "ab" * 32, "n": "1"})
        for _, fields in seals:  # the real ones after it: the head is still the newest
            raw.xadd(keys.audit_seals, fields)
    elif field == "head entry":
        raw.hset(keys.audit_sealed, "entry", "garbage")
    else:
        body = raw.xrange(keys.audit)[3][1]["body"]
        _rewrite_entry(raw, keys, 3, {"body": body, "prev": "zz", "hash": "00" * 32})
    out = _cli(prefix, redis_url, "verify")
    # Not a traceback with exit 1, which the help says means "nothing to verify".
    assert out.returncode == verdict
    assert said in out.stderr
    assert "Traceback" not in out.stderr


def test_show_and_export_name_an_unreadable_entry_instead_of_a_traceback(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    a, _ = _decided_pair(client, store)
    seal(prefix)
    bad = raw.xrange(keys.audit)[3][0]
    _rewrite_entry(raw, keys, 3, {"body": "{not json"})
    for args in (("show", a), ("export",), ("export", "--dataset", "--format", "csv")):
        out = _cli(prefix, redis_url, *args)
        assert out.returncode == 5, args
        assert f"audit entry {bad} is not an audit event" in out.stderr
        assert "Traceback" not in out.stderr
    verified = _cli(prefix, redis_url, "verify")
    assert verified.returncode == Verdict.BROKEN
    assert f"FAILED at entry {bad}: audit entry {bad} is not an audit event" in verified.stderr


def test_a_trail_never_sealed_is_not_called_intact(client: HITLClient, prefix: str, redis_url: str):
    client.submit("s", "act", timeout=30)  # agents wrote, but no bot ever sealed
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode == Verdict.NO_HEAD
    assert "no bot has sealed" in out.stderr


def test_a_wrong_or_empty_prefix_has_nothing_to_verify(prefix: str, redis_url: str):
    out = _cli(prefix, redis_url, "verify")
    assert (out.returncode, out.stdout) == (1, "")
    assert f"nothing to verify under prefix '{prefix}'" in out.stderr
    allowed = _cli(prefix, redis_url, "verify", "--allow-empty")
    assert allowed.returncode == 0
    assert "nothing to verify" in allowed.stdout


def test_an_empty_trail_where_requests_or_a_head_exist_fails(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    client.submit("s", "act", timeout=30)
    raw.delete(keys.audit)
    out = _cli(prefix, redis_url, "verify")
    assert out.returncode == Verdict.EMPTY_TRAIL == 8
    assert "is empty but requests exist" in out.stderr
    _decided_pair(client, store)
    seal(prefix)
    raw.delete(keys.audit)
    out = _cli(prefix, redis_url, "verify", "--allow-empty")
    assert out.returncode == Verdict.EMPTY_TRAIL
    assert "is empty but a sealed head is recorded" in out.stderr


def test_expect_head_passes_for_an_earlier_head_and_fails_for_an_unknown_one(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    seal(prefix)
    kept = _cli(prefix, redis_url, "verify").stdout.splitlines()[-1].removeprefix("head: ")
    _decided_pair(client, store)  # more work after the operator kept the head
    seal(prefix)
    assert _cli(prefix, redis_url, "verify", "--expect-head", kept).returncode == 0
    unknown = _cli(prefix, redis_url, "verify", "--expect-head", "ab" * 32)
    assert unknown.returncode == Verdict.HEAD_UNKNOWN == 9
    assert "is not in the chain" in unknown.stderr
    bad = _cli(prefix, redis_url, "verify", "--expect-head", "nothex")
    assert bad.returncode == 2
    assert "64-character hex" in bad.stderr


def test_a_chain_rewritten_from_scratch_fails_expect_head(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    _decided_pair(client, store)
    seal(prefix)
    kept = check(raw, keys).head
    body = json.loads(raw.xrange(keys.audit)[0][1]["body"])
    body["actor"] = "agent:someone-else"
    _rewrite(raw, keys, 0, json.dumps(body, sort_keys=True, separators=(",", ":")))
    raw.delete(keys.audit_sealed, keys.audit_seals)
    seal(prefix)  # the attacker reseals: Redis alone cannot tell ...
    assert check(raw, keys).ok
    result = check(raw, keys, expect_head=kept)  # ... the head kept outside it can
    assert result.verdict is Verdict.HEAD_UNKNOWN


def test_retention_trims_at_a_checkpoint_and_the_rest_still_verifies(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    first = client.submit("s", "act", timeout=30)
    seal(prefix, batch=2)
    early = check(raw, keys).head
    for _ in range(6):
        client.submit("s", "act", timeout=30)
        seal(prefix, batch=2)
    assert raw.xlen(keys.audit) == 14
    seal(prefix, maxlen=5, trim=True)
    kept = raw.xlen(keys.audit)
    assert 5 <= kept < 14
    assert first.request_id not in {e.event().request_id for e in read_entries(raw, keys)}
    result = check(raw, keys, maxlen=5)
    assert (result.verdict, result.trimmed, result.checked) == (Verdict.OK, True, kept)
    assert check(raw, keys, maxlen=5, expect_head=result.head).ok
    trimmed = check(raw, keys, maxlen=5, expect_head=early)
    assert trimmed.verdict is Verdict.HEAD_TRIMMED == 10
    assert "retention removed it" in trimmed.message
    # The same start with fewer entries than the retention keeps: someone cut it.
    cut = check(raw, keys, maxlen=1000)
    assert cut.verdict is Verdict.BROKEN
    assert "oldest entries were deleted" in cut.message


def test_deleting_the_oldest_entries_is_not_mistaken_for_retention(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    seal(prefix)
    for entry_id, _ in raw.xrange(keys.audit)[:2]:
        raw.xdel(keys.audit, entry_id)
    result = check(raw, keys)
    assert result.verdict is Verdict.BROKEN
    assert _cli(prefix, redis_url, "verify").returncode == Verdict.BROKEN


def test_oldest_entries_cut_without_a_trace_are_caught_by_the_checkpoints(
    client: HITLClient, raw: redis.Redis, keys: Keys, prefix: str
):
    for _ in range(4):
        client.submit("s", "act", timeout=30)
        seal(prefix)  # a checkpoint after every 2 entries
    for _ in range(4):  # rewritten without the first 4 (no XDEL counters left)
        _rewrite(raw, keys, 0, None)
    result = check(raw, keys)
    assert result.verdict is Verdict.BROKEN
    assert "the oldest entries were removed" in result.message


def _legacy_entry(raw: redis.Redis, keys: Keys, prev: str, event: AuditEvent) -> str:
    """An entry as versions that hashed in Lua stored it: body, prev, hash; and their head."""
    body = event.body()
    h = entry_hash(prev, body)
    raw.xadd(keys.audit, {"body": body, "prev": prev, "hash": h})
    raw.set(keys.audit_head, h)
    return h


def test_a_trail_written_by_the_lua_hashing_version_still_verifies_and_continues(
    client: HITLClient, store: Store, raw: redis.Redis, keys: Keys, prefix: str
):
    prev = GENESIS
    for i in range(3):
        prev = _legacy_entry(
            raw, keys, prev, AuditEvent(event="created", request_id=f"old{i}", actor="agent")
        )
    legacy = check(raw, keys)  # before the upgrade: the Lua head vouches for it
    assert (legacy.verdict, legacy.checked, legacy.unsealed, legacy.head) == (
        Verdict.OK,
        3,
        0,
        prev,
    )
    _decided_pair(client, store)  # the new version appends bodies only
    seal(prefix)
    result = check(raw, keys, expect_head=prev)
    assert (result.verdict, result.checked, result.unsealed) == (Verdict.OK, 10, 0)
    # Editing a legacy entry still breaks it.
    body = json.loads(raw.xrange(keys.audit)[1][1]["body"])
    body["actor"] = "someone"
    _rewrite(raw, keys, 1, json.dumps(body, sort_keys=True, separators=(",", ":")))
    broken = check(raw, keys)
    assert (broken.verdict, broken.broken_at) == (Verdict.BROKEN, raw.xrange(keys.audit)[1][0])
    assert "edited" in broken.message


def test_an_older_writer_during_a_rolling_upgrade_does_not_break_the_chain(
    client: HITLClient, raw: redis.Redis, keys: Keys, prefix: str
):
    prev = _legacy_entry(
        raw, keys, GENESIS, AuditEvent(event="created", request_id="o1", actor="agent")
    )
    client.submit("new", "act", timeout=30)
    _legacy_entry(raw, keys, prev, AuditEvent(event="created", request_id="o2", actor="agent"))
    seal(prefix)
    assert check(raw, keys).ok


def test_many_writers_keep_one_order_while_replicas_seal(prefix: str, raw: redis.Redis, keys: Keys):
    writers, per_writer = 8, 15
    stop = threading.Event()

    def write(n: int) -> None:
        c = HITLClient(REDIS_URL, prefix)
        try:
            for i in range(per_writer):
                t = c.submit(f"w{n}-{i}", "act", timeout=30)
                c.cancel(t.request_id, reason=f"w{n}")
        finally:
            c.close()

    async def sealers() -> None:
        r = async_redis(REDIS_URL)
        replicas = [
            Sealer(r, keys, maxlen=1_000_000, owner=f"bot{i}", batch=7, lease=0.05)
            for i in range(3)
        ]
        while not stop.is_set():
            await asyncio.gather(*(s.seal_once() for s in replicas))
        for s in replicas:
            while await s.seal_once():
                pass
        await r.aclose()

    sealing = threading.Thread(target=asyncio.run, args=(sealers(),))
    sealing.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sealing.join()
    seal(prefix)
    result = check(raw, keys)
    total = writers * per_writer * 3
    assert (result.verdict, result.checked, result.unsealed) == (Verdict.OK, total, 0)
    checkpoints = list(read_checkpoints(raw, keys))
    assert [c.n for c in checkpoints] == sorted({c.n for c in checkpoints})  # no fork, no repeat
    steps: dict[str, list[str]] = {}
    for entry in read_entries(raw, keys):
        event = entry.event()
        steps.setdefault(event.request_id, []).append(event.event)
    assert len(steps) == writers * per_writer
    assert set(map(tuple, steps.values())) == {("created", "queued", "cancelled")}


def test_cli_export_since_keeps_only_later_events(
    client: HITLClient, store: Store, prefix: str, redis_url: str
):
    _decided_pair(client, store)
    time.sleep(0.01)
    since = datetime.now(UTC)
    time.sleep(0.01)
    late = client.submit("Late", "later", {}, timeout=30)
    client.cancel(late.request_id, reason="not needed")
    out = _cli(prefix, redis_url, "export", "--since", since.isoformat())
    assert [
        (json.loads(line)["event"], json.loads(line)["request_id"])
        for line in out.stdout.splitlines()
    ] == [("created", late.request_id), ("queued", late.request_id), ("cancelled", late.request_id)]


def test_checkpoints_follow_the_chain_hash_formula(
    client: HITLClient, raw: redis.Redis, keys: Keys, prefix: str
):
    for _ in range(3):
        client.submit("s", "act", timeout=30)
        seal(prefix)
    entries = list(read_entries(raw, keys))
    hashes = list(itertools.accumulate((e.body for e in entries), entry_hash, initial=GENESIS))
    assert [c.hash for c in read_checkpoints(raw, keys)] == [hashes[2], hashes[4], hashes[6]]


def test_a_trim_while_verify_reads_is_not_a_break(prefix: str, raw: redis.Redis, keys: Keys):
    body = AuditEvent(event="created", request_id="req_busy", actor="agent:a").model_dump_json()
    for _ in range(30):
        raw.xadd(keys.audit, {"body": body})
    seal(prefix)
    trail = load_trail(raw, keys)  # verify has begun reading
    for _ in range(300):  # agents keep writing; the bot seals, then trims past that head
        raw.xadd(keys.audit, {"body": body})
    seal(prefix, maxlen=200, batch=20, trim=True)
    assert trail.head is not None
    assert stream_id(raw.xrange(keys.audit, count=1)[0][0]) > stream_id(trail.head.entry)
    result = verify(trail, maxlen=200)
    assert (result.verdict, result.checked) == (Verdict.OK, 30), result.message


def test_a_tampered_head_stops_sealing_with_one_error_line_not_a_crash_loop(
    client: HITLClient, prefix: str, caplog: pytest.LogCaptureFixture
):
    client.submit("Refund", "refund", {"amount": 1})
    seal(prefix)
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.hset(Keys(prefix).audit_sealed, "n", "not-a-number")  # someone edits the head
    client.submit("Refund", "refund", {"amount": 2})  # an entry that would be sealed next

    async def run_briefly() -> None:
        ar = async_redis(REDIS_URL)
        stop = asyncio.Event()
        task = asyncio.create_task(
            Sealer(ar, Keys(prefix), maxlen=1_000_000, owner="test", interval=0.02).run(stop)
        )
        await asyncio.sleep(0.5)  # many rounds
        stop.set()
        await task  # it kept running: no exception escaped to the supervisor
        await ar.aclose()

    with caplog.at_level("INFO", logger="hitl_slack.service.sealer"):
        asyncio.run(run_briefly())
    events = [rec.getMessage() for rec in caplog.records if rec.name == "hitl_slack.service.sealer"]
    assert events == ["audit_chain_unreadable"]
    assert [rec.levelname for rec in caplog.records if rec.name == "hitl_slack.service.sealer"] == [
        "ERROR"
    ]
    r.close()
