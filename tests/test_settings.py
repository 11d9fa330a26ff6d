"""Settings: secrets refused when missing or placeholders, named without their values."""

from __future__ import annotations

import pytest

import hitl_slack
from hitl_slack import ConfigError
from hitl_slack.settings import Settings, load_settings


def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path, **env: str) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "HITL_DEFAULT_CHANNEL",
        "REDIS_URL",
        "HITL_KEY_PREFIX",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_defaults(monkeypatch, tmp_path):
    s = _settings(monkeypatch, tmp_path)
    assert (s.redis_url.get_secret_value(), s.hitl_key_prefix, s.slack_api_url, s.port) == (
        "redis://localhost:6379/0",
        "hitl",
        "https://slack.com/api/",
        3000,
    )


def test_http_mode_needs_the_bot_token_and_signing_secret(monkeypatch, tmp_path):
    s = _settings(monkeypatch, tmp_path, SLACK_BOT_TOKEN="xoxb-real-123")
    with pytest.raises(
        ConfigError,
        match=r"^SLACK_SIGNING_SECRET is not set \(HTTP mode; for "
        r"Socket Mode set SLACK_APP_TOKEN instead\)$",
    ):
        s.require_slack(socket_mode=False)


def test_socket_mode_needs_an_app_token_with_its_prefix(monkeypatch, tmp_path):
    s = _settings(
        monkeypatch, tmp_path, SLACK_BOT_TOKEN="xoxb-real-123", SLACK_APP_TOKEN="xoxb-wrong-kind"
    )
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN must start with 'xapp-'"):
        s.require_slack(socket_mode=True)


@pytest.mark.parametrize("value", ["xoxb-your-bot-token", "xoxb-...", "<paste here>", "changeme"])
def test_placeholders_are_refused_without_echoing_them(monkeypatch, tmp_path, value):
    s = _settings(monkeypatch, tmp_path, SLACK_BOT_TOKEN=value, SLACK_SIGNING_SECRET="a1b2c3")
    with pytest.raises(ConfigError) as info:
        s.require_slack(socket_mode=False)
    assert "SLACK_BOT_TOKEN" in str(info.value)
    assert value not in str(info.value)


def test_empty_lines_copied_from_env_example_mean_unset(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("HITL_DEFAULT_CHANNEL=\nHITL_ROUTES_FILE=\nSLACK_APP_TOKEN=\n")
    s = _settings(monkeypatch, tmp_path)
    assert (s.hitl_default_channel, s.hitl_routes_file, s.slack_app_token) == (None, None, None)


def test_invalid_values_name_the_variable(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="HITL_DEFAULT_CHANNEL") as info:
        _settings(monkeypatch, tmp_path, HITL_DEFAULT_CHANNEL="#general", PORT="70000")
    assert "PORT" in str(info.value)


def test_secrets_are_not_in_the_settings_repr(monkeypatch, tmp_path):
    s = _settings(
        monkeypatch,
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-very-secret",
        REDIS_URL="redis://:hunter2@db:6379/0",
    )
    assert "very-secret" not in repr(s)
    assert "hunter2" not in repr(s)


def test_public_api_names():
    assert sorted(hitl_slack.__all__) == sorted(
        [
            "RAISE",
            "AlreadyDecided",
            "Answer",
            "ApprovalDenied",
            "ApprovalRequest",
            "AsyncHITLClient",
            "AsyncQuestionTicket",
            "AsyncTicket",
            "ConfigError",
            "Decision",
            "HITLClient",
            "HITLError",
            "Heartbeat",
            "InvalidRequest",
            "NoBotWarning",
            "QuestionRequest",
            "QuestionTicket",
            "RequestNotFound",
            "RequestState",
            "Risk",
            "SlackError",
            "Status",
            "StoreUnavailable",
            "Ticket",
            "WaitTimeout",
        ]
    )
    for name in hitl_slack.__all__:
        assert getattr(hitl_slack, name) is not None
    assert issubclass(hitl_slack.InvalidRequest, hitl_slack.HITLError)


def test_agent_import_loads_no_slack_or_bolt():
    import subprocess
    import sys

    code = (
        "import sys, hitl_slack; "
        "print(sorted(m for m in sys.modules if m.startswith(('slack_bolt', 'slack_sdk', "
        "'aiohttp', 'structlog'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
