"""The settings an agent needs: where Redis is and the namespace it shares with the bot.

Read from the environment, then ``.env`` (pydantic-settings), exactly as the bot reads them:
the bot's :class:`hitl_slack.settings.Settings` extends this model, so an agent and a bot started
from the same directory agree on ``REDIS_URL`` and ``HITL_KEY_PREFIX``. No Slack, no Bolt.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.connection import parse_url

from hitl_slack.errors import ConfigError

__all__ = ["REDIS_SCHEMES", "AgentSettings", "load"]

#: URL schemes redis-py accepts.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

S = TypeVar("S", bound=BaseSettings)


class AgentSettings(BaseSettings):
    """Redis and the key namespace; the environment variable is the upper-cased field name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
    hitl_key_prefix: str = Field("hitl", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    hitl_redis_connect_timeout: float = Field(2.0, gt=0, le=60)
    hitl_retention: float = Field(7 * 24 * 3600, gt=0, description="seconds kept after deadline")
    hitl_queue_maxlen: int = Field(100_000, ge=100)
    hitl_redis_grace: float | None = Field(
        None, gt=0, le=86_400, description="seconds of outage a wait rides out"
    )
    hitl_redis_min_replicas: int = Field(
        0,
        ge=0,
        le=16,
        description="replicas that must confirm a decision (WAIT) before it is announced",
    )
    hitl_redis_replica_timeout: float = Field(
        1.0,
        gt=0,
        le=30,
        description="seconds WAIT may take before a decision counts as unconfirmed",
    )

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_scheme(cls, url: SecretStr) -> SecretStr:
        text = url.get_secret_value().strip()
        if not text.startswith(REDIS_SCHEMES):
            # Never echo the URL: it may carry a password.
            raise ValueError(
                "must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)"
            )
        try:
            parse_url(text)  # type: ignore[no-untyped-call]
        except ValueError as exc:  # redis-py would raise it, with a traceback, at first use
            reason = re.sub(r"'.*'", "...", str(exc))  # nothing of the URL itself
            raise ValueError(
                f"is not a valid Redis URL ({reason}); the form is "
                "redis://[[user]:password@]host:port/db"
            ) from None
        return SecretStr(text)


def load(model: type[S], **overrides: Any) -> S:
    """Read settings of ``model``, turning validation errors into one :class:`ConfigError`.

    The message has one line per problem, each naming the variable (never a secret's value).
    """
    try:
        return model(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False, include_input=False):
            var = ".".join(str(p) for p in err["loc"]).upper()
            parts.append(f"{var}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(parts)) from None
