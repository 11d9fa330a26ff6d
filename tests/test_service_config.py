"""Configuration mistakes a newcomer makes: one clear line each, exit 2, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import REDIS_URL
from fakeslack import FakeSlack
from harness import BotProcess

from hitl_slack import __version__


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _serve(
    env: dict[str, str], *args: str, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def _problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_redis_url_without_scheme_is_one_line(fake: FakeSlack, prefix: str):
    env = BotProcess(fake, prefix, REDIS_URL).env() | {"REDIS_URL": "localhost:6379"}
    out = _serve(env, "--http")
    assert out.returncode == 2
    assert "REDIS_URL: must start with redis://, rediss:// or unix://" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://:s3cret@127.0.0.1:notaport/0", "Port could not be cast to integer value as ..."),
        ("redis://:s3cret@127.0.0.1:99999/0", "Port out of range 0-65535"),
    ],
)
def test_a_redis_url_that_cannot_be_parsed_is_one_line(
    fake: FakeSlack, prefix: str, url: str, reason: str
):
    env = BotProcess(fake, prefix, REDIS_URL).env() | {"REDIS_URL": url}
    out = _serve(env, "--http")
    assert (out.returncode, _problem_lines(out.stderr)) == (
        2,
        [
            "configuration error: invalid settings:",
            f"  REDIS_URL: is not a valid Redis URL ({reason}); the form is "
            "redis://[[user]:password@]host:port/db",
        ],
    )


def test_a_port_in_use_is_one_line(fake: FakeSlack, prefix: str):
    bot = BotProcess(fake, prefix, REDIS_URL)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", bot.port))  # serve binds all interfaces too
        taken.listen()
        out = _serve(bot.env(), "--http")
    assert out.returncode == 2, out.stderr
    assert f"PORT: port {bot.port} on 0.0.0.0 is already in use" in out.stderr
    assert "Traceback" not in out.stderr
    assert "service_ready" not in out.stderr


@pytest.mark.parametrize("port", ["70000", "0", "http"])
def test_a_port_out_of_range_is_one_line(fake: FakeSlack, prefix: str, port: str):
    out = _serve(BotProcess(fake, prefix, REDIS_URL).env(), "--http", "--port", port)
    assert out.returncode == 2
    assert _problem_lines(out.stderr) == [
        f"hitl-slack serve: argument --port: {port!r} is not a port number (1-65535) "
        "(see hitl-slack serve --help)"
    ]


def test_a_consumer_name_too_long_for_the_heartbeat_is_a_configuration_error(
    fake: FakeSlack, prefix: str
):
    # It used to start and serve without ever publishing a heartbeat (agents were told that no
    # bot serves their prefix) and without a word in the log.
    env = BotProcess(fake, prefix, REDIS_URL).env() | {"HITL_CONSUMER_NAME": "x" * 201}
    out = _serve(env, "--http")
    assert out.returncode == 2
    assert "HITL_CONSUMER_NAME: String should have at most 200 characters" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("host", ["999.1.1.1", "192.0.2.1"])
def test_a_host_that_cannot_be_listened_on_names_the_host_not_the_port(
    fake: FakeSlack, prefix: str, host: str
):
    out = _serve(BotProcess(fake, prefix, REDIS_URL).env(), "--http", "--host", host)
    assert out.returncode == 2
    problem = [line for line in out.stderr.splitlines() if "configuration error" in line]
    assert len(problem) == 1
    assert problem[0].startswith(f"configuration error: --host {host} cannot be used (")
    assert "give an address of this machine" in problem[0]
    assert "port" not in problem[0]


def test_a_slack_api_url_that_is_not_the_web_api_is_named_not_the_token(
    fake: FakeSlack, prefix: str
):
    url = fake.api_url.replace("/api/", "/")  # the base of the Web API without its /api/
    env = BotProcess(fake, prefix, REDIS_URL).env() | {"SLACK_API_URL": url}
    out = _serve(env, "--http")
    assert (out.returncode, _problem_lines(out.stderr)[-1]) == (
        2,
        f"configuration error: SLACK_API_URL: {url}auth.test answered HTTP 404, not the "
        "Slack Web API: is SLACK_API_URL its base URL (https://slack.com/api/)?",
    )


def test_a_channel_given_by_name_says_to_use_its_id_and_where_to_find_it(
    fake: FakeSlack, prefix: str
):
    env = BotProcess(fake, prefix, REDIS_URL).env() | {"HITL_DEFAULT_CHANNEL": "#approvals"}
    out = _serve(env, "--http")
    assert out.returncode == 2
    problem = [line for line in out.stderr.splitlines() if "HITL_DEFAULT_CHANNEL" in line]
    assert len(problem) == 1
    assert "'#approvals' is a channel name; give the channel's id (C... or G...)" in problem[0]
    assert "About tab" in problem[0]
    assert "channel's link" in problem[0]
    assert "pattern" not in out.stderr


def test_no_slack_tokens_explains_both_modes(fake: FakeSlack, prefix: str, tmp_path):
    env = {
        k: v
        for k, v in BotProcess(fake, prefix, REDIS_URL).env().items()
        if not k.startswith("SLACK_")
    }
    out = _serve(env, cwd=str(tmp_path))  # no .env there either
    assert out.returncode == 2
    text = out.stderr
    for words in (
        "Socket Mode",
        "SLACK_APP_TOKEN",
        "HTTP mode",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "Copy .env.example to .env",
    ):
        assert words in text
    assert "SLACK_BOT_TOKEN is not set; SLACK_SIGNING_SECRET is not set" not in text


def test_version():
    out = subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (out.returncode, out.stdout.strip()) == (0, f"hitl-slack {__version__}")


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_help_lists_the_environment_and_exit_codes_without_markup(args: list[str]):
    out = subprocess.run(
        [sys.executable, "-m", "hitl_slack.cli", *args], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0
    assert "``" not in out.stdout
    assert "::" not in out.stdout
    for variable in (
        "REDIS_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "HITL_HEALTH_PORT",
        "LOG_LEVEL",
    ):
        assert f"\n  {variable} " in out.stdout
    assert "exit codes:" in out.stdout
    assert "  2  bad usage or configuration" in out.stdout
    assert "  3  Redis unreachable" in out.stdout
