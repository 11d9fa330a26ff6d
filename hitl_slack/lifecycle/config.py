"""Where a store keeps things and for how long (shared by agents and the bot)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hitl_slack.keys import Keys

__all__ = ["DEFAULT_DEAD_MAXLEN", "DEFAULT_RETENTION", "StoreConfig"]

DEFAULT_RETENTION = 7 * 24 * 3600.0
DEFAULT_DEAD_MAXLEN = 100_000


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where and how long things are kept.

    Attributes:
        keys: key names under the deployment's prefix.
        retention: seconds a request and its decision are kept after its deadline.
        queue_maxlen: cap of the queue and outcome streams (entries are deleted once handled;
            the cap only bounds a backlog no bot is draining).
        audit_maxlen: how many audit entries the bot's sealer keeps (export them to keep
            more); the atomic steps never trim, so agents' value does not matter.
        min_replicas: ``HITL_REDIS_MIN_REPLICAS``: when > 0, a decision is published to waiting
            agents and returned to the decider only once ``WAIT`` confirms that many replicas
            have it (a failover can then no longer lose a decision an agent acted on).
        replica_timeout: seconds ``WAIT`` may take before the decision counts as unconfirmed.
        dead_maxlen: cap of the dead-letter stream.
    """

    keys: Keys = field(default_factory=Keys)
    retention: float = DEFAULT_RETENTION
    queue_maxlen: int = 100_000
    audit_maxlen: int = 1_000_000
    min_replicas: int = 0
    replica_timeout: float = 1.0
    dead_maxlen: int = DEFAULT_DEAD_MAXLEN
