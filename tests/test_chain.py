"""The audit chain's verification as a pure function: every verdict from hand-built trails."""

from __future__ import annotations

import itertools

import pytest

from hitl_slack.audit.chain import GENESIS, AuditEntry, Checkpoint, Trail, entry_hash, stream_id
from hitl_slack.audit.verdict import Verdict
from hitl_slack.audit.verification import verify
from hitl_slack.models import AuditEvent


def _entries(count: int, start: int = 1) -> list[AuditEntry]:
    return [
        AuditEntry(
            f"{1000 + i}-0", AuditEvent(event="created", request_id=f"r{i}", actor="agent").body()
        )
        for i in range(start, start + count)
    ]


def _hashes(entries: list[AuditEntry], prev: str = GENESIS) -> list[str]:
    return list(itertools.accumulate((e.body for e in entries), entry_hash, initial=prev))[1:]


def _trail(entries: list[AuditEntry], seals: list[int], **kw: object) -> Trail:
    hashes = _hashes(entries)
    cps = [Checkpoint(entries[i].id, hashes[i], i + 1) for i in seals]
    fields: dict[str, object] = {
        "prefix": "p",
        "head": cps[-1] if cps else None,
        "legacy_head": None,
        "checkpoints": cps,
        "entries": entries,
        "checkpoint_count": len(cps),
        "length": len(entries),
        "last_entry": entries[-1].id if entries else "0-0",
    } | kw
    return Trail(**fields)  # type: ignore[arg-type]


def test_a_sealed_chain_verifies_with_its_unsealed_tail_apart():
    entries = _entries(6)
    result = verify(_trail(entries, [1, 3]))
    assert (result.verdict, result.checked, result.unsealed, result.head) == (
        Verdict.OK,
        6,
        2,
        _hashes(entries)[-1],
    )


@pytest.mark.parametrize(
    ("change", "verdict"),
    [
        ("edit", Verdict.BROKEN),
        ("drop_middle", Verdict.BROKEN),
        ("swap", Verdict.BROKEN),
        ("drop_tail", Verdict.TRUNCATED),
        ("no_head", Verdict.NO_HEAD),
        ("no_checkpoints", Verdict.NO_HEAD),
        ("never_sealed", Verdict.NO_HEAD),
    ],
)
def test_each_kind_of_tampering_has_its_verdict(change: str, verdict: Verdict):
    entries = _entries(6)
    trail = _trail(entries, [1, 3, 5])
    if change == "edit":
        trail.entries = [
            *entries[:2],
            AuditEntry(entries[2].id, entries[2].body + " "),
            *entries[3:],
        ]
    elif change == "drop_middle":
        trail.entries = entries[:2] + entries[3:]
    elif change == "swap":
        trail.entries = [entries[0], entries[2], entries[1], *entries[3:]]
    elif change == "drop_tail":
        trail.entries = entries[:4]
        trail.last_entry = entries[3].id
    elif change == "no_head":
        trail.head = None
    elif change == "no_checkpoints":
        trail.checkpoints, trail.checkpoint_count = [], 0
    else:
        trail.head, trail.checkpoints, trail.checkpoint_count = None, [], 0
    assert verify(trail).verdict is verdict


def test_empty_trails():
    assert verify(_trail([], [])).verdict is Verdict.NOTHING
    assert verify(_trail([], []), allow_empty=True).verdict is Verdict.OK
    assert verify(_trail([], [], requests_exist=True)).verdict is Verdict.EMPTY_TRAIL
    sealed = Checkpoint("1001-0", "ab" * 32, 1)
    assert verify(_trail([], [], head=sealed), allow_empty=True).verdict is Verdict.EMPTY_TRAIL


def test_xdel_is_named_by_the_stream_counters():
    entries = _entries(4)
    trail = _trail(entries[:2] + entries[3:], [], max_deleted=entries[2].id)
    trail.head = Checkpoint(entries[3].id, "00" * 32, 4)
    trail.checkpoints, trail.checkpoint_count = [trail.head], 1
    result = verify(trail)
    assert (result.verdict, result.broken_at) == (Verdict.BROKEN, entries[2].id)
    tail = _trail(entries[:3], [2], max_deleted=entries[3].id)
    assert verify(tail).verdict is Verdict.TRUNCATED


def test_a_trimmed_trail_starts_from_the_checkpoint_before_it():
    entries = _entries(8)
    full = _trail(entries, [1, 3, 5, 7])
    kept = _trail(entries, [1, 3, 5, 7])
    kept.entries = entries[2:]
    kept.length = 6
    result = verify(kept, maxlen=6, expect_head=_hashes(entries)[4])
    assert (result.verdict, result.trimmed, result.checked) == (Verdict.OK, True, 6)
    assert verify(kept, maxlen=6, expect_head=_hashes(entries)[0]).verdict is Verdict.HEAD_TRIMMED
    assert verify(kept, maxlen=100).verdict is Verdict.BROKEN  # cut below the retention
    assert verify(full, expect_head="ab" * 32).verdict is Verdict.HEAD_UNKNOWN


def test_legacy_entries_then_new_ones_are_one_chain():
    old = _entries(3)
    hashes = _hashes(old)
    legacy = [
        AuditEntry(e.id, e.body, prev, h)
        for e, prev, h in zip(old, [GENESIS, *hashes[:-1]], hashes, strict=True)
    ]
    new = _entries(2, start=4)
    head_hash = _hashes(new, hashes[-1])[-1]
    trail = _trail(legacy + new, [], head=Checkpoint(new[-1].id, head_hash, 5))
    trail.checkpoints, trail.checkpoint_count = [trail.head], 1  # type: ignore[list-item]
    assert verify(trail, expect_head=hashes[1]).ok
    unsealed = _trail(legacy + new, [], legacy_head=hashes[-1])
    assert (verify(unsealed).verdict, verify(unsealed).unsealed) == (Verdict.OK, 2)


def test_stream_ids_compare_numerically():
    assert stream_id("999-10") < stream_id("1000-0") < stream_id("1000-2")
