"""The Redis side of ``/hitl pending`` and the App Home: the pending index, read once per listing.

Sans-I/O generators like :mod:`hitl_slack.lifecycle.ops`, run by :meth:`AsyncStore.run`. The
count comes from the pending index (``{p}:pending``: every step that decides a request takes it
out), not from a page; members found decided or gone among those read (an agent older than the
index decided them, or the retention ended meanwhile) are not counted. A listing reads at most
:data:`SCAN_BUDGET` requests, soonest deadline first, so the approver filter runs before paging
on everything it read; beyond the budget the listing says "at least" instead of reading every
pending request each time.

A request's permalink is fetched from Slack the first time a listing shows it and cached in its
hash (field ``permalink``), so a listing makes no Slack call for requests already linked.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitl_slack.errors import InvalidRequest
from hitl_slack.lifecycle.commands import Batch, Command, Eval, Gen, LuaScript
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.reading import parse_state
from hitl_slack.models import RequestState

__all__ = [
    "CACHE_PERMALINK",
    "CHUNK",
    "SCAN_BUDGET",
    "Listed",
    "Scan",
    "cache_permalink",
    "pending",
    "scan",
]

#: Most pending requests one listing reads (and filters by approver).
SCAN_BUDGET = 2000
#: Requests read (and parsed) per round trip: parsing one takes ~40 us of the bot's only
#: thread, so a chunk keeps the event loop free for clicks (and the listing's own ack) every
#: few milliseconds.
CHUNK = 100
_PERMALINK_FIELD = "permalink"

# KEYS[1] = request hash
# ARGV[1] = permalink
# Only on a request that still exists: an HSET on an expired hash would recreate it, TTL-less.
CACHE_PERMALINK = LuaScript(
    "cache_permalink",
    """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'permalink', ARGV[1])
  return 1
end
return 0
""",
)


@dataclass(frozen=True, slots=True)
class Listed:
    """A pending request as a listing shows it."""

    state: RequestState
    permalink: str | None


@dataclass(frozen=True, slots=True)
class Scan:
    """What one listing read.

    Attributes:
        total: pending requests in the index (less those read and found decided or gone).
        items: the first of them by deadline (at most the budget); unreadable ones skipped.
        read: how many ids were read from the index (``read < total``: not all were read).
    """

    total: int
    items: list[Listed]
    read: int


def scan(cfg: StoreConfig, budget: int = SCAN_BUDGET) -> Gen[Scan]:
    """Read the pending index and up to ``budget`` requests, soonest deadline first."""
    index = cfg.keys.pending
    total, ids = yield Batch((Command(("ZCARD", index)), Command(("ZRANGE", index, 0, budget - 1))))
    items: list[Listed] = []
    stale = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = yield Batch(tuple(Command(("HGETALL", cfg.keys.request(i))) for i in chunk))
        listed, gone = _parsed(chunk, rows)
        items += listed
        stale += gone
    return Scan(int(total) - stale, items, read=len(ids))


def _parsed(ids: list[str], rows: list[dict[str, str]]) -> tuple[list[Listed], int]:
    """The pending requests among ``rows``, and how many were decided or gone."""
    items = []
    stale = 0
    for rid, fields in zip(ids, rows, strict=True):
        if not fields:
            stale += 1  # retention ended since the ZRANGE: gone, nothing to list
            continue
        try:
            state = parse_state(rid, fields)
        except InvalidRequest:
            continue  # a malformed entry must not hide every other request
        if state.pending:
            items.append(Listed(state, fields.get(_PERMALINK_FIELD) or None))
        elif fields.get("status") != "pending":
            stale += 1  # decided by an agent older than the index (unconfirmed ones stay)
    return items, stale


def pending(cfg: StoreConfig, limit: int = 50) -> Gen[list[RequestState]]:
    """Pending requests, soonest deadline first; entries that fail to parse are skipped."""
    ids = yield Command(("ZRANGE", cfg.keys.pending, 0, limit - 1))
    if not ids:
        return []
    rows = yield Batch(tuple(Command(("HGETALL", cfg.keys.request(i))) for i in ids))
    return [listed.state for listed in _parsed(ids, rows)[0]]


def cache_permalink(cfg: StoreConfig, request_id: str, permalink: str) -> Gen[None]:
    """Keep a request's permalink in its hash, if the request still exists."""
    yield Eval(CACHE_PERMALINK, (cfg.keys.request(request_id),), (permalink,))
