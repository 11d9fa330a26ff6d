"""The MCP server's settings: the agent's (Redis, prefix) and what the server decides itself.

Every field a language model must not choose lives here, set by whoever configures the server
(the environment, ``.env``, or ``hitl-slack mcp`` flags, which win): who is asking (``agent``,
``requested_by``), how the request is routed (``tags``, ``route``), the lowest risk it may claim,
and how long a tool call holds. The model writes every tool argument, so none of these is one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from hitl_slack.agent.settings import AgentSettings, load
from hitl_slack.errors import ConfigError
from hitl_slack.models import MAX_TIMEOUT_SECONDS, Risk
from hitl_slack.requests import is_person

__all__ = ["MIN_TOKEN_CHARS", "McpSettings", "load_mcp_settings"]

#: Shortest bearer token ``--http`` accepts: a guessable token is no protection.
MIN_TOKEN_CHARS = 24
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?$")


def _comma_list(value: Any) -> Any:
    """``a, b`` in the environment is the list ``["a", "b"]`` (empty items dropped)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class McpSettings(AgentSettings):
    """Settings of ``hitl-slack mcp``; the environment variable is the upper-cased field name."""

    hitl_mcp_agent: Annotated[str, Field(min_length=1, max_length=100)] = "mcp"
    hitl_mcp_requested_by: Annotated[str | None, Field(min_length=1, max_length=254)] = None
    hitl_mcp_tags: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=64)], ...],
        Field(max_length=20),
        NoDecode,
    ] = ()
    hitl_mcp_route: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    hitl_mcp_min_risk: Risk = Risk.LOW
    hitl_mcp_hold: float = Field(50.0, gt=0, le=3600, description="seconds one tool call holds")
    hitl_mcp_timeout: float = Field(300.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    hitl_mcp_max_timeout: float = Field(86_400.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    hitl_mcp_ask: Literal["slack", "client", "both"] = Field(
        "slack",
        description="who answers ask_human: slack (default), the MCP client's user "
        "(elicitation, where the client offers it), or both (the first answer wins)",
    )
    hitl_mcp_token: SecretStr | None = None
    hitl_mcp_host: str = "127.0.0.1"
    hitl_mcp_port: int = Field(8765, ge=1, le=65535)
    hitl_mcp_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("hitl_mcp_tags", "hitl_mcp_allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("hitl_mcp_agent", "hitl_mcp_requested_by", "hitl_mcp_route", mode="after")
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        return value.strip() if value else value

    @field_validator("hitl_mcp_allowed_hosts", mode="after")
    @classmethod
    def _host_headers(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if not _HOST_HEADER.match(host):
                raise ValueError(
                    f"{host[:60]!r} is not a Host header value (a name or address, optionally "
                    "with :port, e.g. hitl.example.com or hitl.example.com:8443)"
                )
        return hosts

    @field_validator("hitl_mcp_token", mode="after")
    @classmethod
    def _token_strength(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        text = token.get_secret_value().strip()
        if len(text) < MIN_TOKEN_CHARS or any(c.isspace() for c in text):
            # Never echo the token.
            raise ValueError(
                f"must be at least {MIN_TOKEN_CHARS} characters without spaces (make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return SecretStr(text)

    def require_token(self) -> SecretStr:
        """The bearer token ``--http`` requires.

        Raises:
            ConfigError: ``HITL_MCP_TOKEN`` is not set.
        """
        if self.hitl_mcp_token is None:
            raise ConfigError(
                "HITL_MCP_TOKEN is not set: --http requires a bearer token that every client "
                "sends (make one with python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return self.hitl_mcp_token

    @property
    def requested_by(self) -> str | None:
        """The requests' ``requested_by``, when ``HITL_MCP_REQUESTED_BY`` is a Slack user id or
        an email: the bot resolves it, shows it, and the route's ``self_approval`` applies."""
        who = self.hitl_mcp_requested_by
        return who if who and is_person(who) else None

    @property
    def agent(self) -> str:
        """The request's ``agent``: who asks, as Slack shows it and the audit records it.

        A ``requested_by`` that is neither a user id nor an email (a name, as earlier versions
        took) is part of it, ``agent for requested_by``, so a route matching
        ``agent = "claude-code*"`` still matches.
        """
        if self.hitl_mcp_requested_by and self.requested_by is None:
            return f"{self.hitl_mcp_agent} for {self.hitl_mcp_requested_by}"
        return self.hitl_mcp_agent


def load_mcp_settings(**overrides: Any) -> McpSettings:
    """Read the settings (flags given as ``overrides`` win over the environment).

    Raises:
        ConfigError: one line per invalid variable, naming it (never a secret's value).
    """
    return load(McpSettings, **{k: v for k, v in overrides.items() if v is not None})
