"""The audit trail: read, verify and export the hash chain.

Entries are appended by the Lua scripts in :mod:`hitl_slack.lua`, in the same atomic step as
the state change they record. Each stream entry holds ``body`` (canonical JSON of an
:class:`~hitl_slack.models.AuditEvent`), ``prev`` (the hash of the entry before) and ``hash``::

    hash = sha256(bytes.fromhex(prev) + sha256(body))        # prev of the first entry: 64 zeros

so editing a body, deleting an entry or reordering entries breaks the chain at that point, and
``{prefix}:audit:head`` (the newest hash) reveals a deleted tail. When retention has trimmed
the oldest entries, verification starts from the oldest kept entry and says so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from pydantic import ValidationError

from hitl_slack.keys import Keys
from hitl_slack.lua import GENESIS
from hitl_slack.models import AuditEvent, lenient

__all__ = [
    "AuditEntry",
    "VerifyResult",
    "dataset_csv",
    "dataset_rows",
    "entry_hash",
    "read_entries",
    "to_csv",
    "to_jsonl",
    "verify",
]


def entry_hash(prev: str, body: str) -> str:
    """The chain hash of an entry with this ``prev`` and ``body``."""
    return hashlib.sha256(bytes.fromhex(prev) + hashlib.sha256(body.encode()).digest()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One stream entry of the audit trail, as stored."""

    id: str
    body: str
    prev: str
    hash: str

    def event(self) -> AuditEvent:
        """The event recorded, ignoring fields a newer version added (raises pydantic's
        ValidationError if the body is not an event at all)."""
        return lenient(AuditEvent, self.body)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`."""

    ok: bool
    checked: int
    broken_at: str | None = None
    problem: str | None = None
    trimmed: bool = False

    def describe(self) -> str:
        """One line for humans."""
        if self.ok:
            start = " (oldest entries trimmed by retention; chain checked from the oldest kept)"
            return f"ok: {self.checked} entries, chain intact" + (start if self.trimmed else "")
        return f"BROKEN at entry {self.broken_at}: {self.problem} ({self.checked} checked before)"


def verify(entries: Iterable[AuditEntry], head: str | None, *, length: int | None = None,
           maxlen: int | None = None) -> VerifyResult:
    """Check every link of the chain up to ``head`` (the head hash read BEFORE the entries).

    Entries appended after the head was read are left for the next run, so a busy system is
    not reported broken; a head that no entry carries means entries were removed at the end.
    A chain that does not start at the genesis counts as trimmed by retention only when the
    stream is full (``length`` >= ``maxlen``, as approximate trimming leaves it); otherwise
    its oldest entries were deleted.
    """
    expected_prev: str | None = None
    checked = 0
    trimmed = False
    last: AuditEntry | None = None
    for entry in entries:
        if expected_prev is None:
            trimmed = entry.prev != GENESIS
            if trimmed and length is not None and maxlen and length < maxlen:
                return VerifyResult(False, 0, entry.id,
                                    f"the chain starts mid-way but the stream holds {length} "
                                    f"entries, under the retention of {maxlen}: the oldest "
                                    "entries were deleted")
        elif entry.prev != expected_prev:
            return VerifyResult(False, checked, entry.id,
                                "prev does not match the entry before (an entry was removed "
                                "or reordered)")
        if entry_hash(entry.prev, entry.body) != entry.hash:
            return VerifyResult(False, checked, entry.id, "hash does not match the body (edited)")
        try:
            entry.event()
        except ValidationError as exc:
            return VerifyResult(False, checked, entry.id, f"body is not an audit event: {exc}")
        expected_prev = entry.hash
        checked += 1
        last = entry
        if head is not None and entry.hash == head:
            return VerifyResult(True, checked, trimmed=trimmed)
    if last is None:
        if head is not None:
            return VerifyResult(False, 0, "(none)", "the stream is empty but a head is recorded")
        return VerifyResult(True, 0)
    if head is not None and last.hash != head:
        return VerifyResult(False, checked, last.id,
                            "the newest entry is not the recorded head (entries after it were "
                            "removed)")
    return VerifyResult(True, checked, trimmed=trimmed)


def read_entries(r: redis.Redis, keys: Keys, *, since: datetime | None = None,
                 page: int = 1000) -> Iterator[AuditEntry]:
    """Every audit entry, oldest first, read in pages (``since`` by stream time)."""
    start = f"{int(since.timestamp() * 1000)}-0" if since else "-"
    while True:
        rows: list[tuple[str, dict[str, str]]] = r.xrange(  # type: ignore[assignment]
            keys.audit, min=start, count=page)
        for entry_id, fields in rows:
            yield AuditEntry(entry_id, fields.get("body", ""), fields.get("prev", ""),
                             fields.get("hash", ""))
        if len(rows) < page:
            return
        start = "(" + rows[-1][0]


def _flat(entry: AuditEntry) -> dict[str, Any]:
    event = entry.event()
    return {"entry_id": entry.id, "hash": entry.hash, **event.model_dump(mode="json")}


def to_jsonl(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """One JSON line per event."""
    for entry in entries:
        yield json.dumps(_flat(entry), ensure_ascii=False, sort_keys=True)


CSV_FIELDS = ["entry_id", "ts", "event", "request_id", "actor", "args_digest", "reason", "data",
              "hash"]


def to_csv(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """CSV with a header row; ``data`` as JSON."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for entry in entries:
        row = _flat(entry)
        row["data"] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
        writer.writerow(row)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


DATASET_FIELDS = ["request_id", "action", "agent", "summary", "original_payload",
                  "final_payload", "edited", "decision", "reason", "decided_by", "decided_at"]


def dataset_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The feedback data set as CSV (payloads as JSON)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=DATASET_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False, sort_keys=True)
                         if k.endswith("payload") else v for k, v in row.items()})
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def dataset_rows(entries: Iterable[AuditEntry]) -> Iterator[dict[str, Any]]:
    """Feedback data set: one row per decided request (original and final payload, outcome).

    Rows come out in decision order; requests still pending are left out.
    """
    created: dict[str, dict[str, Any]] = {}
    for entry in entries:
        event = entry.event()
        if event.event == "created":
            created[event.request_id] = event.data
        elif event.event in ("approved", "rejected", "expired", "cancelled"):
            start = created.pop(event.request_id, {})
            yield {
                "request_id": event.request_id,
                "action": start.get("action"),
                "agent": start.get("agent"),
                "summary": start.get("summary"),
                "original_payload": start.get("payload"),
                "final_payload": event.data.get("payload", start.get("payload")),
                "edited": bool(event.data.get("edited")),
                "decision": event.event,
                "reason": event.reason,
                "decided_by": event.actor,
                "decided_at": event.ts.isoformat(),
            }
