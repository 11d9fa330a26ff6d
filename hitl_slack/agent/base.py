"""What the blocking and the asyncio client share: building requests, the configuration, the
no-bot warning, and the decision logic of a wait as a sans-I/O flow.

A wait is :func:`wait_flow`, a generator of :data:`WaitStep` values (wait on the decision hub,
or apply the deadline) that receives their results; each client drives it with its own hub and
store (:meth:`HITLClient.wait <hitl_slack.agent.client.HITLClient.wait>`, its async twin). A
read that expires a request past its deadline is one store step
(:func:`hitl_slack.lifecycle.transition.current`). Nothing here does I/O.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from hitl_slack.agent.gate import Gate
from hitl_slack.agent.settings import AgentSettings, load
from hitl_slack.agent.waiting import EXPIRY_SLACK
from hitl_slack.errors import ConfigError, InvalidRequest, WaitTimeout
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.config import DEFAULT_RETENTION, StoreConfig
from hitl_slack.lifecycle.heartbeat import BEAT_INTERVAL, BEAT_TTL, Heartbeat, NoBotWarning
from hitl_slack.lifecycle.transition import NotDue
from hitl_slack.models import ApprovalRequest, Decision, normalize_tags, validation_message

__all__ = [
    "DEFAULT_REDIS_URL",
    "ClientBase",
    "ExpireNow",
    "WaitFor",
    "WaitStep",
    "build_request",
    "checked_gate",
    "utcnow",
    "wait_flow",
]

DEFAULT_REDIS_URL = "redis://localhost:6379/0"


def utcnow() -> datetime:
    """The agent's clock (only to tell whether a deadline looks passed: Redis judges)."""
    return datetime.now(UTC)


def build_request(
    summary: str, action: str, payload: dict[str, Any] | None = None, **fields: Any
) -> ApprovalRequest:
    """Validate an approval request's arguments; nothing is written.

    Every argument is checked (see :class:`~hitl_slack.models.ApprovalRequest`): whatever is
    passed, the only error raised is :class:`InvalidRequest`.

    Raises:
        InvalidRequest: names each field that is wrong and why.
    """
    data = {k: v for k, v in fields.items() if v is not None}
    try:
        return ApprovalRequest(
            summary=summary, action=action, payload={} if payload is None else payload, **data
        )
    except ValidationError as exc:
        raise validation_message(exc, "approval request") from None


def _names(value: Any, field: str) -> tuple[str, ...]:
    """A bare string is one name; otherwise an iterable of strings."""
    items = (value,) if isinstance(value, str) else value
    try:
        names = tuple(items)
    except TypeError:
        names = (items,)
    wrong = [n for n in names if not isinstance(n, str) or not n]
    if wrong:
        msg = f"must be a parameter name or a list of them, not {wrong[0]!r}"
        raise InvalidRequest(f"invalid approval request: {field}: {msg}", [(field, msg)])
    return names


def _text_or_function(value: Any, field: str) -> None:
    if value is not None and not isinstance(value, str) and not callable(value):
        msg = f"must be a string or a function of the call's arguments, not {type(value).__name__}"
        raise InvalidRequest(f"invalid approval request: {field}: {msg}", [(field, msg)])


def checked_gate(**options: Any) -> Gate:
    """A :class:`Gate` whose fixed arguments are checked now: a bad one fails at decoration
    time, naming it. ``options`` are the decorator's keyword arguments.

    Raises:
        InvalidRequest: an argument is invalid.
    """
    options["tags"] = normalize_tags(options.get("tags", ()))
    options["exclude"] = _names(options.get("exclude", ()), "exclude")
    texts = ("details", "idempotency_key", "requested_by", "confirm_text")
    for field in ("summary", *texts):
        _text_or_function(options.get(field), field)
    gate = Gate(**options)
    fixed = {f: v for f in texts if isinstance(v := options.get(f), str)}
    build_request(
        gate.summary if isinstance(gate.summary, str) else "check",
        "check",
        {},
        route=gate.route,
        channel=gate.channel,
        risk=gate.risk,
        tags=gate.tags,
        timeout=gate.timeout,
        agent=gate.agent,
        **fixed,
    )
    return gate


@dataclass(frozen=True, slots=True)
class WaitFor:
    """Wait on the hub up to ``timeout`` seconds (None: to the request's deadline).

    Its result: ``(decision or None, whether the wait ended at the deadline)``.
    """

    timeout: float | None


@dataclass(frozen=True, slots=True)
class ExpireNow:
    """Apply the request's deadline. Its result: the decision that stands, or the
    :class:`~hitl_slack.lifecycle.transition.NotDue` the store raised."""


WaitStep = WaitFor | ExpireNow


def wait_flow(request_id: str, timeout: float | None) -> Generator[WaitStep, Any, Decision]:
    """The decisions of a wait: wait; at the deadline, expire; if Redis says it is not due
    yet (this host's clock is ahead of Redis'), wait for what is left and try again.

    Raises:
        WaitTimeout: ``timeout`` passed before the deadline; the request stays pending.
    """
    waited: tuple[Decision | None, bool] = yield WaitFor(timeout)
    decision, at_deadline = waited
    while decision is None:
        if not at_deadline:
            raise WaitTimeout(request_id, timeout or 0.0)
        expired: Decision | NotDue = yield ExpireNow()
        if isinstance(expired, Decision):
            return expired
        waited = yield WaitFor(expired.remaining + EXPIRY_SLACK)
        decision = waited[0]
    return decision


class ClientBase:
    """The configuration and the no-bot warning of both clients."""

    def __init__(
        self,
        key_prefix: str,
        retention: float | None,
        queue_maxlen: int,
        max_connections: int,
        min_replicas: int,
        replica_timeout: float,
    ) -> None:
        if max_connections < 2:  # the pub/sub connection holds one for good
            raise ConfigError(f"max_connections must be at least 2, not {max_connections}")
        # Agents never trim the audit trail: the bot does, by its HITL_AUDIT_MAXLEN.
        self.config = StoreConfig(
            keys=Keys(key_prefix),
            audit_maxlen=0,
            retention=retention or DEFAULT_RETENTION,
            queue_maxlen=queue_maxlen,
            min_replicas=min_replicas,
            replica_timeout=replica_timeout,
        )
        self._bot_warned = False
        self._next_bot_check = 0.0
        self._bot_lock = threading.Lock()  # submits from many threads warn once

    def _check_for_bot(self) -> bool:
        """Whether to look for bot heartbeats now (at most every beat interval, until warned)."""
        now = time.monotonic()
        if self._bot_warned or now < self._next_bot_check:
            return False
        self._next_bot_check = now + BEAT_INTERVAL
        return True

    def _warn_if_no_bot(self, beats: list[Heartbeat]) -> None:
        with self._bot_lock:
            if beats or self._bot_warned:
                return
            self._bot_warned = True
        warnings.warn(
            NoBotWarning(
                f"no hitl-slack bot has served key prefix {self.config.keys.prefix!r} in the last "
                f"{BEAT_TTL:g}s: requests wait until one does (check REDIS_URL and HITL_KEY_PREFIX "
                "on both sides, and that `hitl-slack serve` runs)"
            ),
            stacklevel=4,
        )

    @staticmethod
    def _env() -> dict[str, Any]:
        s = load(AgentSettings)
        return {
            "redis_url": s.redis_url.get_secret_value(),
            "key_prefix": s.hitl_key_prefix,
            "connect_timeout": s.hitl_redis_connect_timeout,
            "retention": s.hitl_retention,
            "queue_maxlen": s.hitl_queue_maxlen,
            "redis_grace": s.hitl_redis_grace,
            "min_replicas": s.hitl_redis_min_replicas,
            "replica_timeout": s.hitl_redis_replica_timeout,
        }
