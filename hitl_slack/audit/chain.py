"""The audit hash chain: what it covers and the shapes it is stored in (pure, no I/O).

The atomic steps append each event's body to ``{prefix}:audit``; nothing is hashed inside
Redis. The bot's sealer (:mod:`hitl_slack.service.sealer`) reads the new entries in stream
order, recomputes every body's digest itself and extends the chain::

    hash(entry) = sha256(bytes.fromhex(hash(entry before)) + sha256(body))  # first: after 0*64

then records a checkpoint (entry id, chain hash, count) in ``{prefix}:audit:seals`` and the
newest one as the sealed head ``{prefix}:audit:sealed``. Versions that hashed in Lua stored
``prev`` and ``hash`` in each entry and the head in ``{prefix}:audit:head``; the formula is the
same, so a trail that switches format mid-way is one chain.

How a trail is checked against its checkpoints is :mod:`hitl_slack.audit.verification`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from hitl_slack.models import AuditEvent, lenient

__all__ = [
    "GENESIS",
    "AuditEntry",
    "Checkpoint",
    "Trail",
    "UnreadableEntry",
    "entry_hash",
    "stream_id",
]

#: The chain hash before the first entry.
GENESIS = "0" * 64


def entry_hash(prev: str, body: str) -> str:
    """The chain hash of an entry with this body after an entry whose chain hash is ``prev``."""
    return hashlib.sha256(bytes.fromhex(prev) + hashlib.sha256(body.encode()).digest()).hexdigest()


def stream_id(text: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair (``"1700000000000-3"`` -> ``(1700000000000, 3)``)."""
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class AuditEntry:
    """One stream entry of the audit trail, as stored (``prev``/``hash`` only in legacy ones)."""

    id: str
    body: str
    prev: str = ""
    hash: str = ""

    @property
    def legacy(self) -> bool:
        """Written by a version that hashed the chain in Lua."""
        return bool(self.hash)

    def event(self) -> AuditEvent:
        """The event recorded, ignoring fields a newer version added.

        Raises:
            UnreadableEntry: the body is not an audit event at all.
        """
        try:
            return lenient(AuditEvent, self.body)
        except (ValueError, RecursionError) as exc:  # pydantic's ValidationError included
            problem = str(exc).splitlines()[0][:200]
            raise UnreadableEntry(
                f"audit entry {self.id} is not an audit event: {problem}"
            ) from None


class UnreadableEntry(ValueError):
    """An audit entry whose body is not an audit event (written by something else)."""


@dataclass(frozen=True)
class Checkpoint:
    """A seal: the chain hash through ``entry`` and how many entries it covers (trimmed too)."""

    entry: str
    hash: str
    n: int = 0


@dataclass
class Trail:
    """Everything verify reads. ``head`` and ``newest`` (the newest checkpoint) are read
    together, before the rest: checkpoints sealed after the head are ignored (their entries are
    an unsealed tail, never a false break), so the head must be the newest checkpoint then."""

    prefix: str
    head: Checkpoint | None
    legacy_head: str | None
    checkpoints: Iterable[Checkpoint]
    entries: Iterable[AuditEntry]
    checkpoint_count: int = 0
    length: int = 0
    max_deleted: str = "0-0"
    last_entry: str = "0-0"
    requests_exist: bool = False
    newest: Checkpoint | None = None
