"""Settings of the service, from the environment and ``.env`` (pydantic-settings).

Built once at the entry point and passed down; nothing reads the environment behind its back.
Every secret is a ``SecretStr``: never logged, never in an error message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from hitl_slack.agent.settings import AgentSettings, load
from hitl_slack.errors import ConfigError

__all__ = ["NO_TOKENS", "Settings", "load_settings"]

# Whole-word placeholder shapes only: a real token's random part must never trip it.
_PLACEHOLDER = re.compile(
    r"(\byour\b|\byour[-_]|change.?me|placeholder|\bexample\b|\.\.\.|<|>|-x{4,}\b|^x+$)", re.I
)
_PREFIXES = {"slack_bot_token": "xoxb-", "slack_app_token": "xapp-"}
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")

#: What ``serve`` says when no Slack credential is set at all.
NO_TOKENS = (
    "no Slack tokens are set. hitl-slack serve runs in one of two modes:\n"
    "  Socket Mode (no public URL; the default of manifest.yml): SLACK_BOT_TOKEN (xoxb-...) and "
    "SLACK_APP_TOKEN (xapp-..., an app-level token with connections:write)\n"
    "  HTTP mode (--http; Slack calls https://<your host>/slack/events): SLACK_BOT_TOKEN and "
    "SLACK_SIGNING_SECRET\n"
    "  Copy .env.example to .env and fill in one of the two sets (the README's Slack app "
    "section says where each value is).\n"
    "  To try it without Slack first: hitl-slack dev (or make run), the local playground."
)


class Settings(AgentSettings):
    """Every setting of the service: the agent's (Redis, prefix) and the bot's own.

    The environment variable is the upper-cased field name.
    """

    hitl_audit_maxlen: int = Field(1_000_000, ge=1000)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = Field("https://slack.com/api/", pattern=r"^https?://")
    hitl_slack_timeout: int = Field(10, ge=1, le=120, description="seconds per Web API call")
    hitl_default_channel: str | None = None
    hitl_routes_file: Path | None = None
    hitl_consumer_name: str | None = Field(
        None,
        max_length=200,
        description="this replica's name in the consumer groups and its heartbeat",
    )
    hitl_claim_idle: float = Field(
        60.0,
        gt=0,
        description="seconds before another replica takes over an unfinished queue entry",
    )
    port: int = Field(3000, ge=1, le=65535)
    hitl_health_port: int | None = Field(
        None, ge=1, le=65535, description="port of /healthz, /readyz and /metrics; default PORT"
    )

    hitl_dev_port: int = Field(
        3030, ge=1, le=65535, description="port of the local playground (hitl-slack dev)"
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("hitl_default_channel", mode="after")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is None or _CHANNEL_ID.match(value.strip()):
            return value.strip() if value else None
        text = value.strip()
        what = (
            "a channel name"
            if text.startswith("#") or not text[:1].isupper()
            else "not a channel id"
        )
        raise ValueError(
            f"{value.strip()[:40]!r} is {what}; give the channel's id (C... or G...): in Slack, "
            "open the channel, click its name and copy the Channel ID at the bottom of the "
            "About tab, or copy the channel's link (the id is its last part)"
        )

    @property
    def has_slack_tokens(self) -> bool:
        """Whether any Slack credential is configured (``up`` serves Slack then)."""
        return any(
            getattr(self, n) for n in ("slack_bot_token", "slack_app_token", "slack_signing_secret")
        )

    def require_slack(self, *, socket_mode: bool) -> None:
        """Fail at start, naming the variable, when a Slack secret is missing or a placeholder.

        Raises:
            ConfigError: names the variable and what is wrong (never its value); with no
                Slack credential at all, explains both modes and what each needs.
        """
        if not self.has_slack_tokens:
            raise ConfigError(NO_TOKENS)
        needed = ["slack_bot_token", "slack_app_token" if socket_mode else "slack_signing_secret"]
        problems = []
        for name in needed:
            value: SecretStr | None = getattr(self, name)
            secret = value.get_secret_value().strip() if value else ""
            var = name.upper()
            if not secret and name == "slack_signing_secret":
                problems.append(
                    f"{var} is not set (HTTP mode; for Socket Mode set SLACK_APP_TOKEN instead)"
                )
            elif not secret:
                problems.append(f"{var} is not set")
            elif _PLACEHOLDER.search(secret):
                problems.append(f"{var} looks like a placeholder; paste the real value")
            elif name in _PREFIXES and not secret.startswith(_PREFIXES[name]):
                problems.append(f"{var} must start with {_PREFIXES[name]!r}")
        if problems:
            raise ConfigError("; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into a :class:`ConfigError` naming each."""
    return load(Settings, **overrides)
