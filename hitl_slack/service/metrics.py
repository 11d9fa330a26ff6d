"""``/metrics``: the service in Prometheus' text format (``prometheus-client``).

Counters are this replica's (sum them over replicas); gauges read from Redis at scrape time
describe the shared queue, so every replica reports the same value for them.

========================================= =====================================================
metric                                    meaning
========================================= =====================================================
``hitl_requests_total{status}``           requests this replica posted (``posted``) and
                                          decisions it showed (``approved``, ``rejected``,
                                          ``expired``, ``cancelled``)
``hitl_decision_seconds``                 histogram: from the Slack message's post to the
                                          decision
``hitl_policy_events_total{event}``       ``voted`` (votes this replica recorded),
                                          ``reminded`` and ``escalated`` (reminders and
                                          escalation levels it sent)
``hitl_queue_lag``                        queue entries no replica has read yet
``hitl_queue_pending``                    queue entries read by a replica, not yet handled
``hitl_queue_oldest_age_seconds``         age of the oldest unhandled queue entry
``hitl_slack_rate_limited_total{method}`` Slack 429 answers
``hitl_slack_errors_total{method,error}`` other Slack errors (``unreachable`` for no answer)
``hitl_dead_letters``                     entries in the dead-letter stream ``{p}:dead``
``hitl_waiting_requests``                 requests at least one agent is blocked on: pub/sub
                                          channels ``{p}:decided:*`` with a subscriber
                                          (``PUBSUB CHANNELS``; an agent waiting twice on one
                                          request counts once)
``hitl_ready``                            1 when ``/readyz`` would answer 200
========================================= =====================================================
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis.asyncio as aredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hitl_slack.keys import RELAY_GROUP, Keys

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_DECISION_BUCKETS = (
    10,
    30,
    60,
    300,
    900,
    1800,
    3600,
    4 * 3600,
    12 * 3600,
    24 * 3600,
    7 * 24 * 3600,
)


class Metrics:
    """The instruments of one service (own registry: tests build several services)."""

    def __init__(self) -> None:
        reg = self.registry = CollectorRegistry()
        self.requests = Counter(
            "hitl_requests",
            "Requests posted and decisions shown, by status",
            ["status"],
            registry=reg,
        )
        self.decision_seconds = Histogram(
            "hitl_decision_seconds",
            "Seconds from posting a request's message to its decision",
            buckets=_DECISION_BUCKETS,
            registry=reg,
        )
        self.policy_events = Counter(
            "hitl_policy_events",
            "Votes recorded, reminders sent and escalation levels reached, by event",
            ["event"],
            registry=reg,
        )
        self.rate_limited = Counter(
            "hitl_slack_rate_limited", "Slack 429 answers", ["method"], registry=reg
        )
        self.slack_errors = Counter(
            "hitl_slack_errors", "Slack errors other than 429", ["method", "error"], registry=reg
        )
        self.queue_lag = Gauge(
            "hitl_queue_lag", "Queue entries no replica has read yet", registry=reg
        )
        self.queue_pending = Gauge(
            "hitl_queue_pending", "Queue entries read, not yet handled", registry=reg
        )
        self.queue_age = Gauge(
            "hitl_queue_oldest_age_seconds", "Age of the oldest unhandled queue entry", registry=reg
        )
        self.dead_letters = Gauge(
            "hitl_dead_letters", "Entries in the dead-letter stream", registry=reg
        )
        self.waiting = Gauge(
            "hitl_waiting_requests", "Requests at least one agent is waiting on", registry=reg
        )
        self.ready = Gauge("hitl_ready", "1 if this replica is ready", registry=reg)

    def decided(self, status: str, posted_ts: str | None, decided_at: float) -> None:
        """Count a decision shown in Slack; ``posted_ts`` is the message's Slack ``ts``."""
        self.requests.labels(status=status).inc()
        if posted_ts:
            with contextlib.suppress(ValueError):  # not a Slack ts: no latency to tell
                self.decision_seconds.observe(max(0.0, decided_at - float(posted_ts)))

    def policy_event(self, event: str) -> None:
        """Count a vote recorded (``voted``), a reminder sent or a level reached."""
        self.policy_events.labels(event=event).inc()

    async def refresh(self, r: aredis.Redis, keys: Keys, *, ready: bool) -> None:
        """Read the queue's gauges from Redis (raises the Redis error if unreachable)."""
        self.ready.set(1 if ready else 0)
        pipe = r.pipeline(transaction=False)
        pipe.xinfo_groups(keys.queue)
        pipe.xrange(keys.queue, count=1)
        pipe.xlen(keys.dead_letters)
        pipe.pubsub_channels(keys.decided_channel("*"))
        groups, first, dead, channels = await pipe.execute(raise_on_error=False)
        relay = _group(groups, RELAY_GROUP)
        self.queue_lag.set(float(relay.get("lag") or 0))
        self.queue_pending.set(float(relay.get("pending") or 0))
        oldest = int(str(first[0][0]).split("-")[0]) if isinstance(first, list) and first else None
        self.queue_age.set(time.time() - oldest / 1000 if oldest else 0)
        self.dead_letters.set(float(dead) if isinstance(dead, int) else 0)
        self.waiting.set(len(channels) if isinstance(channels, list) else 0)

    def render(self) -> bytes:
        """The exposition text."""
        return bytes(generate_latest(self.registry))


def _group(groups: Any, name: str) -> dict[str, Any]:
    if isinstance(groups, list):
        for group in groups:
            if isinstance(group, dict) and group.get("name") == name:
                return group
    return {}
