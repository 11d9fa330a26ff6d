"""The only place Redis key names are spelled.

Every key starts with the configured prefix (``HITL_KEY_PREFIX``, default ``hitl``), so several
deployments, or test runs, share one Redis without seeing each other.

========================== ============ ==========================================================
key                        type         what, and how it is bounded
========================== ============ ==========================================================
``{p}:req:{id}``           hash         request JSON, status, decision, Slack message, deadline,
                                        policy snapshot, votes, escalation level, copies;
                                        TTL = timeout + retention, set at creation
``{p}:idem:{key}``         string       idempotency key -> request id; same TTL as the request
``{p}:decided:{id}``       pub/sub      a decision is published here the moment it is written
``{p}:queue``              stream       new requests for the bot (consumer group ``relay``);
                                        entries deleted once handled, capped by MAXLEN
``{p}:outcomes``           stream       decisions for the bot to show in Slack, and refreshes of a
                                        pending message (a vote, an escalation) (group ``updater``);
                                        deleted once handled, capped by MAXLEN
``{p}:timers``             sorted set   timer -> when it is due (ms, Redis' clock): ``expire:{id}``,
                                        ``remind:{id}:{n}``, ``escalate:{id}:{level}`` (see
                                        :mod:`hitl_slack.lifecycle.timers`); a member leaves when
                                        it fires (the expiry also when its request is decided)
``{p}:pending``            sorted set   pending request id -> deadline (ms): what listings count
                                        and page by; a member leaves on decision
``{p}:deadlines``          sorted set   legacy: pending id -> deadline, written by agents older
                                        than the timer set; the bot's scheduler moves its members
                                        into ``timers`` and ``pending`` (empty once they are gone)
``{p}:dead``               stream       entries that could not be parsed or handled, with the error;
                                        capped by MAXLEN
``{p}:audit``              stream       the audit trail, one entry per event in the order of the
                                        atomic steps; trimmed by the sealer to the audit retention
                                        (``HITL_AUDIT_MAXLEN``), only ever at a checkpoint
``{p}:audit:seals``        stream       checkpoints of the hash chain (entry id, chain hash,
                                        count), one per sealing round; trimmed with the trail
                                        (the checkpoint the kept trail starts after is kept)
``{p}:audit:sealed``       hash         the sealed head: the newest checkpoint (entry, hash, n);
                                        one value, no TTL (losing it is what verify must notice)
``{p}:audit:head``         string       legacy: chain head written by versions that hashed in
                                        Lua; read by ``audit verify``, never written any more
``{p}:audit:sealer``       string       lease of the replica sealing now; TTL a few seconds
``{p}:bots``               sorted set   bot replica name -> last heartbeat (epoch ms); PEXPIRE
                                        refreshed by every beat, stale members trimmed
``{p}:bot:{name}``         string       one replica's heartbeat (JSON: readiness, Slack auth,
                                        last errors); TTL of a few beats
========================== ============ ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RELAY_GROUP", "UPDATER_GROUP", "Keys"]

RELAY_GROUP = "relay"
UPDATER_GROUP = "updater"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix."""

    prefix: str = "hitl"

    def request(self, request_id: str) -> str:
        """Hash holding one request's state."""
        return f"{self.prefix}:req:{request_id}"

    def idempotency(self, key: str) -> str:
        """String mapping an idempotency key to its request id."""
        return f"{self.prefix}:idem:{key}"

    def decided_channel(self, request_id: str) -> str:
        """Pub/sub channel a request's decision is published on."""
        return f"{self.prefix}:decided:{request_id}"

    @property
    def queue(self) -> str:
        """Stream of requests waiting to be posted."""
        return f"{self.prefix}:queue"

    @property
    def outcomes(self) -> str:
        """Stream of decisions waiting to be shown in Slack."""
        return f"{self.prefix}:outcomes"

    @property
    def timers(self) -> str:
        """Sorted set of timers (``expire:{id}``...) by when they are due (epoch ms)."""
        return f"{self.prefix}:timers"

    @property
    def pending(self) -> str:
        """Sorted set of pending request ids by deadline (epoch ms): the pending index."""
        return f"{self.prefix}:pending"

    @property
    def deadlines(self) -> str:
        """Legacy: pending ids by deadline, as agents older than :attr:`timers` write them."""
        return f"{self.prefix}:deadlines"

    @property
    def dead_letters(self) -> str:
        """Stream of entries that failed, kept with their error."""
        return f"{self.prefix}:dead"

    @property
    def audit(self) -> str:
        """Stream holding the audit trail."""
        return f"{self.prefix}:audit"

    @property
    def audit_head(self) -> str:
        """Legacy head: hash of the newest entry hashed in Lua (older versions)."""
        return f"{self.prefix}:audit:head"

    @property
    def audit_seals(self) -> str:
        """Stream of checkpoints of the audit chain."""
        return f"{self.prefix}:audit:seals"

    @property
    def audit_sealed(self) -> str:
        """Hash holding the sealed head (the newest checkpoint)."""
        return f"{self.prefix}:audit:sealed"

    @property
    def audit_sealer(self) -> str:
        """Lease of the bot replica that seals the audit chain now."""
        return f"{self.prefix}:audit:sealer"

    @property
    def bots(self) -> str:
        """Sorted set of bot replicas by last heartbeat (epoch ms)."""
        return f"{self.prefix}:bots"

    def bot(self, name: str) -> str:
        """One bot replica's heartbeat (JSON)."""
        return f"{self.prefix}:bot:{name}"
