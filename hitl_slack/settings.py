"""Settings of the service, from the environment and ``.env`` (pydantic-settings).

Built once at the entry point and passed down; nothing reads the environment behind its back.
Every secret is a ``SecretStr``: never logged, never in an error message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from hitl_slack.agent_settings import AgentSettings, load
from hitl_slack.errors import ConfigError

__all__ = ["Settings", "load_settings"]

# Whole-word placeholder shapes only: a real token's random part must never trip it.
_PLACEHOLDER = re.compile(
    r"(\byour\b|\byour[-_]|change.?me|placeholder|\bexample\b|\.\.\.|<|>|-x{4,}\b|^x+$)", re.I)
_PREFIXES = {"slack_bot_token": "xoxb-", "slack_app_token": "xapp-"}


class Settings(AgentSettings):
    """Every setting of the service: the agent's (Redis, prefix) and the bot's own.

    The environment variable is the upper-cased field name.
    """

    hitl_audit_maxlen: int = Field(1_000_000, ge=1000)
    hitl_redis_min_replicas: int = Field(0, ge=0, le=16, description="replicas that must "
                                         "confirm a decision (WAIT) before it is announced")
    hitl_redis_replica_timeout: float = Field(1.0, gt=0, le=30, description="seconds WAIT may "
                                              "take before a decision counts as unconfirmed")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = Field("https://slack.com/api/", pattern=r"^https?://")
    hitl_slack_timeout: int = Field(10, ge=1, le=120, description="seconds per Web API call")
    hitl_default_channel: str | None = Field(None, pattern=r"^[CG][A-Z0-9]{2,30}$")
    hitl_routes_file: Path | None = None
    hitl_consumer_name: str | None = None
    hitl_claim_idle: float = Field(60.0, gt=0, description="seconds before another replica "
                                   "takes over an unfinished queue entry")
    port: int = Field(3000, ge=1, le=65535)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    def require_slack(self, *, socket_mode: bool) -> None:
        """Fail at start, naming the variable, when a Slack secret is missing or a placeholder.

        Raises:
            ConfigError: names the variable and what is wrong (never its value).
        """
        needed = ["slack_bot_token", "slack_app_token" if socket_mode else "slack_signing_secret"]
        problems = []
        for name in needed:
            value: SecretStr | None = getattr(self, name)
            secret = value.get_secret_value().strip() if value else ""
            var = name.upper()
            if not secret:
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
