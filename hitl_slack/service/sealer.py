"""The audit sealer: extends the hash chain outside Redis' single thread, and trims the trail.

The atomic steps only append bodies, in order, to ``{prefix}:audit``. This worker (one per bot
replica, started by ``serve``) reads the entries after the sealed head in stream order,
recomputes each body's digest itself (never trusting a digest an agent could have written),
extends the chain (:func:`hitl_slack.audit.chain.entry_hash`) and records a checkpoint with the
:data:`~hitl_slack.lifecycle.auditing.SEAL` script, which is a compare-and-set on the sealed head:
replicas sealing at once cannot fork the checkpoints, the loser re-reads and goes on. A short lease
(``{prefix}:audit:sealer``) keeps the others from repeating the hashing meanwhile.

Retention (``HITL_AUDIT_MAXLEN``) is applied here, and only at a checkpoint: the kept trail
always starts right after an entry a checkpoint vouches for, so ``audit verify`` can check it
from that hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aredis
from redis.exceptions import RedisError

from hitl_slack.audit.chain import GENESIS, entry_hash
from hitl_slack.errors import StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.auditing import seal
from hitl_slack.lifecycle.runner import run_async
from hitl_slack.lifecycle.store import AsyncStore
from hitl_slack.logs import get_logger
from hitl_slack.service.outage import Outage

__all__ = ["Sealer"]

log = get_logger(__name__)

Rows = list[tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class _Seal:
    seal_id: str
    entry: str
    hash: str
    n: int


def _next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class Sealer:
    """Seals the audit chain of one prefix.

    Args:
        redis: the bot's async client (``decode_responses=True``).
        keys: key names under the prefix.
        maxlen: audit entries to keep (``HITL_AUDIT_MAXLEN``).
        owner: this replica's name (holds the lease while sealing).
        interval: seconds between rounds when there is nothing to seal.
        batch: entries sealed per checkpoint at most.
        lease: seconds the lease lasts if this replica dies holding it.
    """

    def __init__(
        self,
        redis: aredis.Redis,
        keys: Keys,
        *,
        maxlen: int,
        owner: str,
        interval: float = 1.0,
        batch: int = 1000,
        lease: float = 10.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.maxlen = maxlen
        self.owner = owner
        self.interval = interval
        self.batch = batch
        self.lease_ms = int(lease * 1000)

    @classmethod
    def of(cls, store: AsyncStore, owner: str | None = None) -> Sealer:
        """A sealer over the bot's store, keeping its ``audit_maxlen`` entries."""
        name = owner or f"{socket.gethostname()}:{os.getpid()}"
        return cls(store.redis, store.config.keys, maxlen=store.config.audit_maxlen, owner=name)

    async def _xrange(self, key: str, low: str = "-", count: int | None = None) -> Rows:
        rows: Any = await self.redis.xrange(key, min=low, count=count)
        return cast(Rows, rows)

    async def _head(self) -> dict[str, str]:
        head: Any = await self.redis.hgetall(self.keys.audit_sealed)
        return cast(dict[str, str], head)

    async def _take_lease(self) -> bool:
        k = self.keys.audit_sealer
        if await self.redis.set(k, self.owner, nx=True, px=self.lease_ms):
            return True
        if await self.redis.get(k) == self.owner:
            await self.redis.pexpire(k, self.lease_ms)
            return True
        return False

    async def _start(self) -> tuple[str, _Seal | None]:
        """(the sealed head's entry as the SEAL compare value, where to continue from)."""
        head = await self._head()
        if head.get("entry"):
            return head["entry"], _Seal("", head["entry"], head["hash"], int(head.get("n") or 0))
        rows: Rows = cast(Rows, await self.redis.xrevrange(self.keys.audit_seals, count=1))
        if rows:  # the head is gone but checkpoints remain: continue from the newest
            seal_id, f = rows[0]
            return "", _Seal(seal_id, f["entry"], f["hash"], int(f.get("n") or 0))
        return "", None

    async def seal_once(self) -> int:
        """Seal the entries after the sealed head (at most ``batch``); returns how many."""
        if not await self._take_lease():
            return 0
        expected, start = await self._start()
        low = "(" + start.entry if start else "-"
        rows = await self._xrange(self.keys.audit, low, self.batch)
        if not rows:
            return 0
        running, n = (start.hash, start.n) if start else (rows[0][1].get("prev") or GENESIS, 0)
        for _, fields in rows:
            running = entry_hash(running, fields.get("body", ""))
        n += len(rows)
        last = rows[-1][0]
        won = await run_async(self.redis, seal(self.keys, expected, last, running, n))
        if not won:
            log.info("audit_seal_lost_race", entry=last)
            return 0
        log.debug("audit_sealed", entry=last, count=len(rows), n=n)
        return len(rows)

    async def trim(self) -> int:
        """Apply the retention at the newest checkpoint that keeps ``maxlen`` entries; returns
        how many entries were removed."""
        length = int(await self.redis.xlen(self.keys.audit))
        head = await self._head()
        if length <= self.maxlen or not head.get("entry"):
            return 0
        unsealed = len(await self._xrange(self.keys.audit, "(" + head["entry"]))
        # Entries are numbered by the checkpoints' counts; drop those up to cut (incl.).
        cut = int(head.get("n") or 0) - (length - unsealed) + (length - self.maxlen)
        anchor = await self._anchor(cut)
        if anchor is None:
            return 0
        # Exact trims (redis-py defaults to "~", which cuts only whole nodes, anywhere), both
        # in one transaction: a reader between them would see two checkpoints before the kept
        # start, which is what cutting entries without a trim looks like.
        pipe = self.redis.pipeline(transaction=True)
        pipe.xtrim(self.keys.audit, minid=_next_id(anchor.entry), approximate=False)
        pipe.xtrim(self.keys.audit_seals, minid=anchor.seal_id, approximate=False)
        removed = int((await pipe.execute())[0])
        if removed:
            log.info("audit_trimmed", removed=removed, after=anchor.entry)
        return removed

    async def _anchor(self, cut: int) -> _Seal | None:
        """The newest checkpoint numbered at most ``cut``."""
        best: _Seal | None = None
        low = "-"
        while True:
            rows = await self._xrange(self.keys.audit_seals, low, 100)
            for seal_id, f in rows:
                seal = _Seal(seal_id, f["entry"], f["hash"], int(f.get("n") or 0))
                if seal.n > cut:
                    return best
                best = seal
            if len(rows) < 100:
                return best
            low = "(" + rows[-1][0]

    async def run(self, stop: asyncio.Event) -> None:
        """Seal and trim until ``stop`` is set.

        A Redis outage is one ``redis_lost`` warning and one ``redis_restored`` line. Stored
        chain state that does not parse (a tampered head or checkpoint) stops sealing until it
        is repaired, which ``audit verify`` then reports; it is logged once, not every round.
        """
        outage = Outage(log, "sealer")
        unreadable = False
        while not stop.is_set():
            wait = self.interval
            try:
                if await self.seal_once() >= self.batch:
                    wait = 0  # a backlog: keep sealing
                else:
                    await self.trim()
                outage.restored()
                unreadable = False
            except (RedisError, OSError, StoreUnavailable) as exc:
                outage.lost(exc)
            except (KeyError, ValueError) as exc:
                if not unreadable:
                    log.error(  # noqa: TRY400 (no traceback: data)
                        "audit_chain_unreadable",
                        error=f"{type(exc).__name__}: {exc}",
                        hint="run hitl-slack audit verify",
                    )
                unreadable = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
