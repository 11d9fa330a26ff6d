"""Bot heartbeats: each replica says, under its prefix, that it is serving and how well.

A replica writes ``{p}:bot:{name}`` (JSON, TTL :data:`BEAT_TTL`) and scores itself in
``{p}:bots`` every :data:`BEAT_INTERVAL` seconds. Agents read them (``hitl.health()``, and a
warning at submit time when no replica has beaten recently): a request under a prefix no bot
serves would wait in a queue nobody reads. Pure generators of Redis commands, like
:mod:`hitl_slack.lifecycle.ops`, so the sync and the async client share them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitl_slack.keys import Keys
from hitl_slack.lifecycle.commands import Batch, Command, Gen

__all__ = ["BEAT_INTERVAL", "BEAT_TTL", "Heartbeat", "NoBotWarning", "beat", "read"]

#: Seconds between two beats of a replica.
BEAT_INTERVAL = 5.0
#: Seconds a beat is believed: a replica silent this long is taken for gone.
BEAT_TTL = 30.0


class NoBotWarning(UserWarning):
    """No bot replica has beaten under this key prefix within :data:`BEAT_TTL` seconds.

    Issued (with :func:`warnings.warn`) at most once per client, at submit time: the request
    is queued anyway, but it will wait until a bot serves this prefix (check ``REDIS_URL`` and
    ``HITL_KEY_PREFIX`` on both sides, and that ``hitl-slack serve`` is running). Silence it
    with ``warnings.filterwarnings("ignore", category=NoBotWarning)``.
    """


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Heartbeat(BaseModel):
    """What one bot replica says of itself.

    Attributes:
        name: the replica's consumer name (``HITL_CONSUMER_NAME`` or the host name).
        ready: Redis reachable and consumer groups present: it takes new work.
        slack_auth: ``"ok"``, or the Slack error that stopped it (``"invalid_auth"`` ...).
        accepting: False once the replica stopped taking new work (e.g. its token was revoked).
        reason: why it is not ready or not accepting, in words, if so.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1
    name: Annotated[str, Field(min_length=1, max_length=200)]
    version: str = ""
    mode: Literal["http", "socket"] = "http"
    started_at: datetime = Field(default_factory=_utcnow)
    beat_at: datetime = Field(default_factory=_utcnow)
    ready: bool = True
    accepting: bool = True
    slack_auth: str = "ok"
    reason: str | None = None


def beat(keys: Keys, hb: Heartbeat) -> Gen[None]:
    """Publish ``hb`` for its replica (one round trip)."""
    now_ms = int(hb.beat_at.timestamp() * 1000)
    ttl_ms = int(BEAT_TTL * 1000)
    yield Batch(
        (
            Command(("SET", keys.bot(hb.name), hb.model_dump_json(), "PX", ttl_ms)),
            Command(("ZADD", keys.bots, now_ms, hb.name)),
            Command(("ZREMRANGEBYSCORE", keys.bots, "-inf", now_ms - 10 * ttl_ms)),
            Command(("PEXPIRE", keys.bots, 10 * ttl_ms)),
        )
    )


def read(keys: Keys) -> Gen[list[Heartbeat]]:
    """The replicas that have beaten within :data:`BEAT_TTL` (newest first); unreadable
    entries (a newer writer's, or garbage) are skipped."""
    names = yield Command(("ZREVRANGE", keys.bots, 0, 99))
    if not names:
        return []
    texts = yield Command(("MGET", *(keys.bot(n) for n in names)))
    beats = []
    for text in texts:
        if not text:
            continue  # its TTL ran out: gone
        try:
            beats.append(Heartbeat.model_validate(json.loads(text)))
        except (ValidationError, ValueError):
            continue
    return beats
