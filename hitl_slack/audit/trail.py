"""The audit trail in Redis: read it, export it, and load it for verification.

Entries are appended by the Lua scripts in :mod:`hitl_slack.lifecycle.lua`, in the same atomic
step as the state change they record; each stream entry holds ``body`` (canonical JSON of an
:class:`~hitl_slack.models.AuditEvent`). The hash chain over them and its checkpoints are in
:mod:`hitl_slack.audit.chain`, how a trail is verified in :mod:`hitl_slack.audit.verification`
(re-exported here with its verdicts, for the CLI); the bot's :mod:`hitl_slack.service.sealer`
seals it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import redis

from hitl_slack import kinds
from hitl_slack.audit.chain import AuditEntry, Checkpoint, Trail, entry_hash
from hitl_slack.audit.verdict import Verdict, VerifyResult
from hitl_slack.audit.verification import verify
from hitl_slack.keys import Keys

__all__ = [
    "AuditEntry",
    "Checkpoint",
    "Trail",
    "Verdict",
    "VerifyResult",
    "dataset_csv",
    "dataset_rows",
    "entry_hash",
    "load_trail",
    "read_checkpoints",
    "read_entries",
    "to_csv",
    "to_jsonl",
    "verify",
]


Rows = list[tuple[str, dict[str, str]]]


def _rows(
    r: redis.Redis, key: str, start: str, page: int, first: Rows | None = None
) -> Iterator[tuple[str, dict[str, str]]]:
    """A stream's entries from ``start``, read in pages (``first``: the first page, read)."""
    rows = first
    while True:
        if rows is None:
            rows = r.xrange(key, min=start, count=page)  # type: ignore[assignment]
            assert rows is not None
        yield from rows
        if len(rows) < page:
            return
        start, rows = "(" + rows[-1][0], None


def _entry(entry_id: str, fields: dict[str, str]) -> AuditEntry:
    return AuditEntry(
        entry_id, fields.get("body", ""), fields.get("prev", ""), fields.get("hash", "")
    )


def _checkpoint(seal_id: str, fields: dict[str, str]) -> Checkpoint:
    n = fields.get("n") or "0"  # only the sealer counts on it; verify checks ids and hashes
    return Checkpoint(
        fields.get("entry", seal_id), fields.get("hash", ""), int(n) if n.isdigit() else -1
    )


def read_entries(
    r: redis.Redis,
    keys: Keys,
    *,
    since: datetime | None = None,
    page: int = 1000,
    first: Rows | None = None,
) -> Iterator[AuditEntry]:
    """Every audit entry, oldest first, read in pages (``since`` by stream time)."""
    start = f"{int(since.timestamp() * 1000)}-0" if since else "-"
    return (_entry(*row) for row in _rows(r, keys.audit, start, page, first))


def read_checkpoints(
    r: redis.Redis, keys: Keys, *, page: int = 1000, first: Rows | None = None
) -> Iterator[Checkpoint]:
    """Every checkpoint of the chain, oldest first, read in pages."""
    return (_checkpoint(*row) for row in _rows(r, keys.audit_seals, "-", page, first))


def _requests_exist(r: redis.Redis, keys: Keys) -> bool:
    # Pending requests (the bot's streams exist without any): the pending index, or the
    # deadline set agents older than it write.
    if r.exists(keys.pending, keys.deadlines):
        return True
    # Stops at the first request found; SCAN walks the keyspace only when there is none.
    return next(iter(r.scan_iter(match=keys.request("*"), count=1000)), None) is not None


def load_trail(r: redis.Redis, keys: Keys, *, page: int = 1000) -> Trail:
    """What :func:`~hitl_slack.audit.chain.verify` needs.

    The head and the first pages of entries and checkpoints are read in one transaction: the
    bot seals and trims while verify reads, and a head read before a trim moved the start of
    the trail past it would look like a deleted checkpoint. Later pages are read lazily (a
    trim only removes entries before them); entries appended meanwhile are an unsealed tail.
    """
    pipe = r.pipeline(transaction=True)
    pipe.hgetall(keys.audit_sealed)
    pipe.get(keys.audit_head)
    pipe.xlen(keys.audit_seals)
    pipe.xrange(keys.audit, count=page)
    pipe.xrange(keys.audit_seals, count=page)
    pipe.xrevrange(keys.audit_seals, count=1)
    head, legacy, count, entries, seals, newest = pipe.execute()
    length, max_deleted, last = 0, "0-0", "0-0"
    if r.exists(keys.audit):
        info: dict[str, Any] = r.xinfo_stream(keys.audit)
        length, max_deleted = int(info["length"]), str(info.get("max-deleted-entry-id", "0-0"))
        last = str(info["last-entry"][0]) if info.get("last-entry") else "0-0"
    return Trail(
        prefix=keys.prefix,
        head=_checkpoint("", head) if head.get("entry") else None,
        legacy_head=legacy or None,
        checkpoints=read_checkpoints(r, keys, page=page, first=seals),
        entries=read_entries(r, keys, page=page, first=entries),
        checkpoint_count=int(count),
        length=length,
        max_deleted=max_deleted,
        last_entry=last,
        requests_exist=_requests_exist(r, keys),
        newest=_checkpoint(*newest[0]) if newest else None,
    )


def _flat(entry: AuditEntry) -> dict[str, Any]:
    event = entry.event()
    return {"entry_id": entry.id, "hash": entry.hash, **event.model_dump(mode="json")}


def to_jsonl(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """One JSON line per event."""
    for entry in entries:
        yield json.dumps(_flat(entry), ensure_ascii=False, sort_keys=True)


CSV_FIELDS = [
    "entry_id",
    "ts",
    "event",
    "request_id",
    "actor",
    "args_digest",
    "reason",
    "data",
    "hash",
]


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


#: The feedback data set's columns, the same for every request kind.
DATASET_FIELDS = list(kinds.DATASET_FIELDS)


def dataset_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The feedback data set as CSV (payloads and votes as JSON)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=DATASET_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: json.dumps(v, ensure_ascii=False, sort_keys=True)
                if k.endswith("payload") or k == "votes"
                else v
                for k, v in row.items()
            }
        )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def dataset_rows(entries: Iterable[AuditEntry]) -> Iterator[dict[str, Any]]:
    """Feedback data set: one row per decided request (original and final payload, outcome).

    Rows come out in decision order; requests still pending are left out. Each row is written
    by the request's kind (:func:`hitl_slack.kinds.dataset_row`).
    """
    created: dict[str, dict[str, Any]] = {}
    for entry in entries:
        event = entry.event()
        if event.event == "created":
            created[event.request_id] = event.data
        elif event.event in ("approved", "rejected", "expired", "cancelled", "answered"):
            yield kinds.dataset_row(created.pop(event.request_id, {}), event)
