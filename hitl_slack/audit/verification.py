"""How ``hitl-slack audit verify`` checks a trail (pure, no I/O).

:func:`verify` first checks the trail's shape (empty, no sealed head, entries deleted with
``XDEL``), then recomputes the chain from the bodies (:func:`~hitl_slack.audit.chain.entry_hash`)
from the checkpoint the kept trail starts after, or from the genesis, and checks it against
every checkpoint, the sealed head and a head kept outside Redis (``--expect-head``). Entries
after the sealed head are an unsealed tail, counted apart (``VerifyResult.unsealed``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from hitl_slack.audit.chain import (
    GENESIS,
    AuditEntry,
    Checkpoint,
    Trail,
    UnreadableEntry,
    entry_hash,
    stream_id,
)
from hitl_slack.audit.verdict import Verdict, VerifyResult, failure

__all__ = ["verify"]


def verify(
    trail: Trail,
    *,
    maxlen: int | None = None,
    expect_head: str | None = None,
    allow_empty: bool = False,
) -> VerifyResult:
    """Recompute the chain over the kept entries and check it against every checkpoint.

    Args:
        trail: what was read from Redis (see :func:`hitl_slack.audit.trail.load_trail`).
        maxlen: the retention (``HITL_AUDIT_MAXLEN``): a trail starting mid-way while holding
            fewer entries was cut by someone, not by retention.
        expect_head: a head kept outside Redis; it must be the chain hash of a kept entry (or
            of the checkpoint the kept trail starts after).
        allow_empty: no entries, no head and no requests is fine (a fresh deployment).
    """
    try:
        return _verify(trail, maxlen, expect_head, allow_empty)
    except ValueError as exc:  # an id, count or hash the bot never writes: fail closed
        return failure(
            Verdict.BROKEN,
            "a checkpoint, the sealed head or an entry holds a "
            f"malformed field ({exc}): it was not written by the bot",
        )


def _verify(
    trail: Trail, maxlen: int | None, expect_head: str | None, allow_empty: bool
) -> VerifyResult:
    entries = iter(trail.entries)
    first = next(entries, None)
    if first is None:
        return _empty(trail, allow_empty)
    missing = _missing_head(trail, first)
    if missing is not None:
        return missing
    deleted = _xdel(trail, first)
    if deleted is not None:
        return deleted
    walk = _Walk(trail, first, expect_head)
    failure = walk.start(maxlen)
    for entry in _prepend(first, entries):
        if failure is not None:
            return failure
        failure = walk.step(entry)
    return failure or walk.finish()


def _prepend(first: AuditEntry, rest: Iterator[AuditEntry]) -> Iterator[AuditEntry]:
    yield first
    yield from rest


def _empty(trail: Trail, allow_empty: bool) -> VerifyResult:
    p = trail.prefix
    if trail.head is not None or trail.legacy_head:
        return failure(
            Verdict.EMPTY_TRAIL,
            f"the audit trail under prefix {p!r} is empty but a "
            "sealed head is recorded: its entries were deleted",
        )
    if trail.requests_exist:
        return failure(
            Verdict.EMPTY_TRAIL,
            f"the audit trail under prefix {p!r} is empty but "
            "requests exist under it: the trail was deleted",
        )
    if allow_empty:
        return VerifyResult(
            Verdict.OK,
            message=f"nothing to verify under prefix {p!r} (empty, allowed by --allow-empty)",
        )
    return failure(
        Verdict.NOTHING,
        f"nothing to verify under prefix {p!r}: no audit entries, no "
        "head, no requests (check HITL_KEY_PREFIX and REDIS_URL, or pass --allow-empty)",
    )


def _xdel(trail: Trail, first: AuditEntry) -> VerifyResult | None:
    """Redis remembers the newest id ever XDELed from a stream (trimming does not count)."""
    deleted = stream_id(trail.max_deleted)
    if deleted < stream_id(first.id):
        return None
    if deleted > stream_id(trail.last_entry):
        return failure(
            Verdict.TRUNCATED,
            f"the newest entries were deleted (XDEL up to "
            f"{trail.max_deleted}, after the last kept entry {trail.last_entry})",
            at=trail.max_deleted,
        )
    return failure(
        Verdict.BROKEN,
        f"entry {trail.max_deleted} was removed from the trail (XDEL)",
        at=trail.max_deleted,
    )


def _missing_head(trail: Trail, first: AuditEntry) -> VerifyResult | None:
    if trail.head is not None:
        newest = trail.newest
        if newest is not None and (newest.entry, newest.hash) != (
            trail.head.entry,
            trail.head.hash,
        ):
            return failure(
                Verdict.NO_HEAD,
                f"the sealed head names entry {trail.head.entry} but "
                f"the newest checkpoint is at {newest.entry}: the head was rewritten",
                at=trail.head.entry,
            )
        if trail.checkpoint_count:
            return None
        return failure(
            Verdict.NO_HEAD,
            f"a sealed head is recorded under prefix {trail.prefix!r} "
            "but its checkpoints are missing: they were deleted",
            at=first.id,
        )
    if trail.checkpoint_count:
        return failure(
            Verdict.NO_HEAD,
            f"the sealed head under prefix {trail.prefix!r} is missing "
            f"while {trail.checkpoint_count} checkpoints exist: it was deleted",
            at=first.id,
        )
    if trail.legacy_head:
        return None  # a trail hashed in Lua by an older version, not sealed yet
    return failure(
        Verdict.NO_HEAD,
        f"entries exist under prefix {trail.prefix!r} but no sealed "
        "head: it was deleted, or no bot has sealed this trail yet (a running bot "
        "seals within seconds)",
        at=first.id,
    )


@dataclass
class _Walk:
    """The running state of one verification, entry by entry."""

    trail: Trail
    first: AuditEntry
    expect_head: str | None
    running: str = GENESIS
    trimmed: bool = False
    checked: int = 0
    sealed: int = 0
    head_seen: bool = False
    seen_new_format: bool = False
    expect_found: bool = False
    last: AuditEntry | None = None
    pending: list[Checkpoint] = field(default_factory=list)
    _checkpoints: Iterator[Checkpoint] = field(default_factory=lambda: iter(()))

    def _next_checkpoint(self) -> Checkpoint | None:
        if not self.pending:
            nxt = next(self._checkpoints, None)
            if nxt is None or self._after_head(nxt):
                return None
            self.pending.append(nxt)
        return self.pending[0]

    def _after_head(self, cp: Checkpoint) -> bool:
        """A checkpoint sealed after the head was read: the bot kept sealing while verify read
        (entries and checkpoints are read in pages, in turn). Its entries count as the unsealed
        tail, as they were when the head was read, never as a truncated trail."""
        head = self.trail.head
        return head is not None and stream_id(cp.entry) > stream_id(head.entry)

    def start(self, maxlen: int | None) -> VerifyResult | None:
        """Find the hash the kept trail starts from: a checkpoint before it, or the genesis."""
        self._checkpoints = iter(self.trail.checkpoints)
        first_id = stream_id(self.first.id)
        anchor = None
        while (cp := self._next_checkpoint()) is not None and stream_id(cp.entry) < first_id:
            if anchor is not None:  # a second checkpoint before the kept start: entries cut
                return failure(
                    Verdict.BROKEN,
                    f"checkpoint names entry {cp.entry}, which is "
                    "missing: the oldest entries were removed",
                    at=self.first.id,
                )
            anchor = self.pending.pop(0)
        if anchor is not None:
            self.running, self.trimmed = anchor.hash, True
            self.head_seen = self.trail.head is not None and self.trail.head.entry == anchor.entry
        elif self.first.legacy:
            self.running, self.trimmed = self.first.prev, self.first.prev != GENESIS
        self.expect_found = self.trimmed and self.expect_head == self.running
        length = self.trail.length
        if self.trimmed and maxlen and length and length < maxlen:
            return failure(
                Verdict.BROKEN,
                f"the chain starts mid-way but the trail holds {length} "
                f"entries, under the retention of {maxlen}: the oldest entries were "
                "deleted",
                at=self.first.id,
            )
        return None

    def step(self, entry: AuditEntry) -> VerifyResult | None:
        """Extend the chain by one entry and check it against a checkpoint naming it."""
        if entry.legacy:
            if entry_hash(entry.prev, entry.body) != entry.hash:
                return self._broken(entry, "hash does not match the body (edited)")
            # Once new-format entries appear, an older writer's own prev may lag the chain.
            if entry.prev != self.running and not self.seen_new_format:
                return self._broken(
                    entry,
                    "prev does not match the entry before (an entry was removed or reordered)",
                )
        else:
            self.seen_new_format = True
        try:
            entry.event()
        except UnreadableEntry as exc:
            return self._broken(entry, str(exc))
        self.running = entry_hash(self.running, entry.body)
        self.checked += 1
        failure = self._checkpoint(entry)
        if failure is not None:
            return failure
        if self.running == self.expect_head:
            self.expect_found = True
        if self.trail.head is None and entry.hash and entry.hash == self.trail.legacy_head:
            self.head_seen, self.sealed = True, self.checked
        self.last = entry
        return None

    def _checkpoint(self, entry: AuditEntry) -> VerifyResult | None:
        here = stream_id(entry.id)
        while (cp := self._next_checkpoint()) is not None and stream_id(cp.entry) <= here:
            self.pending.pop(0)
            if cp.entry != entry.id:
                return self._broken(
                    entry, f"checkpoint names entry {cp.entry}, which is missing (removed)"
                )
            if cp.hash != self.running:
                return self._broken(
                    entry,
                    "the chain differs from the checkpoint sealed here "
                    "(this entry or one before it was edited, removed or "
                    "reordered)",
                )
            if self.trail.head is not None and cp.entry == self.trail.head.entry:
                if cp.hash != self.trail.head.hash:
                    return self._broken(entry, "the sealed head differs from its checkpoint")
                self.head_seen, self.sealed = True, self.checked
        return None

    def _broken(self, entry: AuditEntry, problem: str) -> VerifyResult:
        return failure(Verdict.BROKEN, problem, at=entry.id, checked=self.checked)

    def finish(self) -> VerifyResult:
        """After the last entry: nothing sealed may lie beyond it; then the expected head."""
        assert self.last is not None
        failed = self._end_unsealed(self.last)
        if failed is not None:
            return failed
        return self._expected(
            VerifyResult(
                Verdict.OK,
                self.checked,
                trimmed=self.trimmed,
                unsealed=self.checked - self.sealed,
                head=self.running,
            )
        )

    def _end_unsealed(self, last: AuditEntry) -> VerifyResult | None:
        """The sealed head or a checkpoint the walk never reached, by the trail's last entry."""
        beyond = self._next_checkpoint()
        head = self.trail.head
        if (
            head is not None
            and not self.head_seen
            and beyond is None
            and stream_id(head.entry) <= stream_id(last.id)
        ):
            return failure(
                Verdict.NO_HEAD,
                f"the sealed head names entry {head.entry} but no "
                "checkpoint there: checkpoints were deleted or the head was rewritten",
                at=head.entry,
                checked=self.checked,
            )
        if beyond is None and self.head_seen:
            return None
        named = beyond.entry if beyond else (head.entry if head else "the recorded head")
        return failure(
            Verdict.TRUNCATED,
            f"the newest entries were deleted: {named} was sealed but the trail ends at {last.id}",
            at=last.id,
            checked=self.checked,
        )

    def _expected(self, ok: VerifyResult) -> VerifyResult:
        if self.expect_head is None or self.expect_found:
            return ok
        if self.trimmed:
            return failure(
                Verdict.HEAD_TRIMMED,
                f"the expected head {self.expect_head} is not in "
                f"the kept chain, which starts after trimming at {self.first.id}: "
                "retention removed it (or it was never part of this chain)",
                checked=self.checked,
            )
        return failure(
            Verdict.HEAD_UNKNOWN,
            f"the expected head {self.expect_head} is not in the "
            "chain, which is kept whole from its first entry: the entries it sealed "
            "were removed or rewritten",
            checked=self.checked,
        )
