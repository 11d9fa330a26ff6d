"""Settings of ``hitl-slack mcp-gateway``: the agent's (Redis, prefix) and the gateway's own.

From the environment, then ``.env``, like every other setting (an MCP client's server entry
sets them in its ``env``). What a request says about who asks (agent, tags, route) comes from
here or from the gate, never from the model's arguments; so does whom the calls are made for
(``HITL_MCP_REQUESTED_BY``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from hitl_slack.agent.settings import AgentSettings
from hitl_slack.requests import is_person

__all__ = ["GatewaySettings", "upstream_environment"]

_MAX_TAGS = 20


class GatewaySettings(AgentSettings):
    """Every setting of the gateway; the environment variable is the upper-cased field name."""

    hitl_mcp_hold: float = Field(
        50.0,
        gt=0,
        le=3600,
        description="seconds a held call waits for its decision before answering 'pending'",
    )
    hitl_mcp_agent: str | None = Field(
        None, min_length=1, max_length=200, description="the requests' agent (default: upstream)"
    )
    hitl_mcp_requested_by: str | None = Field(
        None,
        max_length=254,
        description="whom the calls are made for: a Slack user id or an email (self_approval)",
    )
    hitl_mcp_tags: str | None = Field(None, description="comma-separated tags of every request")
    hitl_mcp_route: str | None = Field(
        None, min_length=1, max_length=100, description="the route every request asks for"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("hitl_mcp_requested_by", mode="after")
    @classmethod
    def _person(cls, value: str | None) -> str | None:
        if value is not None and not is_person(value.strip()):
            raise ValueError("must be a Slack user id (e.g. U0123ABCD) or an email address")
        return value.strip() if value else None

    @field_validator("hitl_mcp_tags", mode="after")
    @classmethod
    def _tags(cls, value: str | None) -> str | None:
        tags = _split(value)
        if len(tags) > _MAX_TAGS:
            raise ValueError(f"at most {_MAX_TAGS} tags, not {len(tags)}")
        if too_long := next((t for t in tags if len(t) > 64), None):
            raise ValueError(f"tag {too_long[:20]!r}... is longer than 64 characters")
        return value

    @property
    def tags(self) -> tuple[str, ...]:
        """``HITL_MCP_TAGS`` as a tuple (``"a, b"`` is ``("a", "b")``)."""
        return _split(self.hitl_mcp_tags)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~hitl_slack.AsyncHITLClient` from these settings."""
        return {
            "redis_url": self.redis_url.get_secret_value(),
            "key_prefix": self.hitl_key_prefix,
            "connect_timeout": self.hitl_redis_connect_timeout,
            "retention": self.hitl_retention,
            "queue_maxlen": self.hitl_queue_maxlen,
            "redis_grace": self.hitl_redis_grace,
            "min_replicas": self.hitl_redis_min_replicas,
            "replica_timeout": self.hitl_redis_replica_timeout,
        }


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (value or "").split(",") if t.strip())


#: The gateway's own variables: the wrapped server has no business with them (the Redis URL
#: may carry a password). LOG_LEVEL and LOG_FORMAT are too common a spelling to take away.
_OWN = ("REDIS_URL", "HITL_")


def upstream_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The wrapped server's environment: the gateway's, less the gateway's own variables.

    An MCP client gives the gateway the environment its server entry sets (an API token for
    the wrapped server, say); the wrapped server gets all of it except ``REDIS_URL`` and
    ``HITL_*``.
    """
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if not k.startswith(_OWN)}
