"""Audit entries outside a state change, and the sealer's checkpoint step.

Every script that changes a request appends its own audit entries in the same atomic step
(:data:`~hitl_slack.lifecycle.commands.AUDIT_LUA`), so a decision and its entry are never apart
and concurrent writers (bot replicas, agents) share one order. The step fixes the ORDER only;
the hash chain over that order is computed outside Redis' single thread by the bot's sealer
(:mod:`hitl_slack.service.sealer`), which records checkpoints with :data:`SEAL`. See
:mod:`hitl_slack.audit.chain`.
"""

from __future__ import annotations

from collections.abc import Iterable

from hitl_slack.keys import Keys
from hitl_slack.lifecycle.commands import AUDIT_LUA, Eval, Gen, LuaScript
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.models import AuditEvent

__all__ = ["AUDIT_APPEND", "SEAL", "audit", "audit_args", "seal"]

AUDIT_APPEND = LuaScript(
    "audit_append",
    """
-- KEYS[1] = audit stream       ARGV[1..] = audit entries (canonical JSON bodies)
-- returns 1
"""
    + AUDIT_LUA
    + """
audit_all(KEYS[1], 1)
return 1
""",
)

SEAL = LuaScript(
    "seal",
    """
-- Records a checkpoint of the audit chain, if nobody sealed further meanwhile (compare and set,
-- so several bot replicas may seal at once: the first wins, the others re-read and go on).
-- KEYS[1] = seals stream       KEYS[2] = sealed head (hash: entry, hash, n)
-- ARGV[1] = entry id of the sealed head the caller started from ("" when none)
-- ARGV[2] = newest entry sealed    ARGV[3] = chain hash through it
-- ARGV[4] = count of entries chained through it (trimmed ones included)
-- returns 1 when recorded | 0 when the head moved (another sealer won)
local current = redis.call('HGET', KEYS[2], 'entry') or ''
if current ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[1], '*', 'entry', ARGV[2], 'hash', ARGV[3], 'n', ARGV[4])
redis.call('HSET', KEYS[2], 'entry', ARGV[2], 'hash', ARGV[3], 'n', ARGV[4])
return 1
""",
)


def audit_args(events: Iterable[AuditEvent]) -> tuple[str, ...]:
    """The ARGV tail of a step that appends ``events``: their bodies, in order."""
    # Bodies only: the chain hash is the sealer's job (a digest from an agent proves nothing).
    return tuple(event.body() for event in events)


def audit(cfg: StoreConfig, *events: AuditEvent) -> Gen[None]:
    """Append events (not tied to a state change) to the audit trail."""
    yield Eval(AUDIT_APPEND, (cfg.keys.audit,), audit_args(events))


def seal(keys: Keys, started_from: str, entry: str, chain_hash: str, n: int) -> Gen[bool]:
    """Record a checkpoint through ``entry``; False when another sealer moved the head first.

    Args:
        started_from: the sealed head's entry id the caller chained from ("" when none).
        entry: the newest entry sealed; ``chain_hash`` is the chain through it.
        n: how many entries are chained through it (trimmed ones included).
    """
    recorded = yield Eval(
        SEAL, (keys.audit_seals, keys.audit_sealed), (started_from, entry, chain_hash, n)
    )
    return int(recorded) == 1
