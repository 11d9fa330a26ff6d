"""Decisions confirmed by replicas before they are announced (``HITL_REDIS_MIN_REPLICAS``).

With ``min_replicas`` > 0 the transition step writes a decision marked ``unconfirmed`` and
sends ``WAIT`` in the same pipeline (``WAIT`` counts the writes of its own connection); only
once enough replicas have it is it announced: the mark removed, the outcome queued for Slack
and the decision published to waiting agents. A decision left unconfirmed is confirmed by
the next attempt to decide or expire the request (:func:`confirm`).
"""

from __future__ import annotations

from typing import Any

from hitl_slack.errors import NotReplicated
from hitl_slack.lifecycle.commands import Batch, Command, Eval, Gen
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.models import Decision

__all__ = ["announce", "check", "confirm", "eval_and_wait"]


def _wait(cfg: StoreConfig) -> Command:
    return Command(("WAIT", max(cfg.min_replicas, 1), int(cfg.replica_timeout * 1000)))


def eval_and_wait(cfg: StoreConfig, step: Eval) -> Gen[tuple[Any, int]]:
    """Run a script and ``WAIT`` in one pipeline; returns its reply and the replicas that
    acknowledged it."""
    result, acked = yield Batch(
        (Command(("EVAL", step.script.source, len(step.keys), *step.keys, *step.args)), _wait(cfg))
    )
    return result, int(acked)


def check(cfg: StoreConfig, request_id: str, acked: int) -> None:
    """Raise unless ``acked`` replicas are enough.

    Raises:
        NotReplicated: fewer replicas than ``min_replicas`` acknowledged the decision.
    """
    wanted = max(cfg.min_replicas, 1)
    if acked < wanted:
        raise NotReplicated(
            f"decision on {request_id} reached {acked} of {wanted} Redis "
            f"replicas within {cfg.replica_timeout:g} s (HITL_REDIS_MIN_REPLICAS); it is stored "
            "on the primary but not announced, and a failover now could lose it"
        )


def announce(cfg: StoreConfig, decision: Decision) -> Gen[None]:
    """Make a confirmed decision visible: readable, shown in Slack, published to waiters."""
    k = cfg.keys
    rid = decision.request_id
    outcome = ("id", rid, "status", decision.status.value)
    yield Batch(
        (
            Command(("HDEL", k.request(rid), "unconfirmed")),
            Command(("XADD", k.outcomes, "MAXLEN", "~", cfg.queue_maxlen, "*", *outcome)),
            Command(("PUBLISH", k.decided_channel(rid), decision.model_dump_json())),
        )
    )


def confirm(cfg: StoreConfig, decision: Decision) -> Gen[None]:
    """Confirm a decision a failed WAIT left unannounced: replication is in order, so once a
    later write of ours reached the replicas, so did the decision.

    Raises:
        NotReplicated: the replicas still do not acknowledge it.
    """
    key = cfg.keys.request(decision.request_id)
    _, acked = yield Batch((Command(("HSET", key, "unconfirmed", "1")), _wait(cfg)))
    check(cfg, decision.request_id, int(acked))
    yield from announce(cfg, decision)
