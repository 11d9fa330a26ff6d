"""Runs the real bot (``hitl-slack serve`` in a subprocess) against the fake Slack and Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from fakeslack import FakeSlack, PostedMessage, block_text, form_body, post_signed

from hitl_slack.playground.redisproc import free_port

SECRET = "3f1c9a7be2d54a6f8e0b1c2d3e4f5a6b"
APP_TOKEN = "xapp-1-A111-test-token"
FORM = "application/x-www-form-urlencoded"

ROUTES = """
[defaults]
channel = "C0APPROVALS"

[[routes]]
name = "finance"
match = { action = "refund_*" }
channel = "C0FINANCE"
approvers = ["U0ALICE", "S0FIN"]
reject_reason = "required"

[[routes]]
name = "ops"
match = { action = "ops_*" }
approvers = ["S0OPS"]

[[routes]]
name = "slow"
match = { action = "slow_*" }
channel = "C0SLOW"

[[routes]]
name = "doomed"
match = { action = "doomed_*" }
channel = "C0DOOMED"

[[routes]]
name = "lost"
match = { action = "lost_*" }
channel = "C0MISSING"
"""


#: Bots started and not stopped: :func:`posted` waits for their record of what they posted.
_RUNNING: list[BotProcess] = []


@dataclass
class BotProcess:
    """A running ``hitl-slack serve``."""

    fake: FakeSlack
    prefix: str
    redis_url: str
    mode: str = "http"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    consumer: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    health_port: int | None = None
    #: The routes file's text (a test of policies gives its own).
    routes: str = ROUTES
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def env(self) -> dict[str, str]:
        routes = Path(tempfile.mkstemp(suffix=".toml")[1])
        routes.write_text(self.routes)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
        env |= {
            "REDIS_URL": self.redis_url,
            "HITL_KEY_PREFIX": self.prefix,
            "SLACK_BOT_TOKEN": self.fake.bot_token,
            "SLACK_API_URL": self.fake.api_url,
            "SLACK_SIGNING_SECRET": SECRET,
            "HITL_DEFAULT_CHANNEL": "C0APPROVALS",
            "HITL_ROUTES_FILE": str(routes),
            "HITL_CLAIM_IDLE": "1",
            "HITL_SLACK_TIMEOUT": "1",
            "HITL_CONSUMER_NAME": self.consumer or f"bot-{self.prefix}",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PORT": str(self.port),
        }
        if self.mode == "socket":
            env["SLACK_APP_TOKEN"] = self.fake.app_token
        if self.health_port:
            env["HITL_HEALTH_PORT"] = str(self.health_port)
        return env | self.extra_env

    def launch(self) -> BotProcess:
        """Start the process without waiting for it to be ready."""
        args = [
            sys.executable,
            "-m",
            "hitl_slack.cli",
            "serve",
            "--socket" if self.mode == "socket" else "--http",
        ]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=log, stderr=log)
        return self

    def start(self) -> BotProcess:
        _RUNNING.append(self)
        self.launch()
        assert self.proc is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bot exited {self.proc.returncode}:\n{self.logs()}")
            if '"service_ready"' in self.logs():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"bot did not start:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown at all."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def recorded(self, request_id: str, timeout: float = 10.0) -> None:
        """Wait until the bot recorded the message it posted for ``request_id`` (a click on it
        is judged by the policy stored with that record), or the request is gone."""
        r = redis.Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=2)
        key = f"{self.prefix}:req:{request_id}"
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not r.exists(key) or r.hexists(key, "message"):
                    return
                time.sleep(0.005)
        except redis.RedisError:
            return  # the test took Redis away: nothing to wait for
        finally:
            r.close()

    def stop(self) -> int:
        if self in _RUNNING:
            _RUNNING.remove(self)
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode or 0)

    def health(self) -> int:
        return self.get("/healthz")[0]

    def get(self, path: str) -> tuple[int, str]:
        """GET a path of the health server (``HITL_HEALTH_PORT``, default ``PORT``)."""
        url = f"http://127.0.0.1:{self.health_port or self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def readyz(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/readyz")
        return status, json.loads(body)

    def wait_readyz(self, status: int, timeout: float = 20.0) -> dict[str, Any]:
        """Poll /readyz until it answers ``status``; returns its JSON body."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, body = self.readyz()
            except OSError:
                got, body = 0, {}
            if got == status or time.monotonic() > deadline:
                assert got == status, (got, body, self.logs()[-3000:])
                return body
            time.sleep(0.1)

    def wait_log(self, text: str, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``text`` appears ``count`` times in the bot's log."""
        deadline = time.monotonic() + timeout
        while self.logs().count(text) < count:
            assert time.monotonic() < deadline, f"{text!r} x{count} not logged:\n{self.logs()}"
            time.sleep(0.05)

    def send(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        """A signed interactivity request, as Slack sends it."""
        return post_signed(self.url, form_body(payload), secret=SECRET, content_type=FORM, **kw)


def posted(fake: FakeSlack, request_id: str, timeout: float = 10.0) -> PostedMessage:
    """The message the bot posted for this request (waits for it)."""

    def find() -> PostedMessage | None:
        for m in fake.messages():
            if request_id in json.dumps(m.blocks):
                return m
        return None

    fake.wait_until(lambda: find() is not None, timeout=timeout)
    found = find()
    assert found is not None
    for bot in list(_RUNNING):  # the bot records the message right after Slack's answer
        if bot.fake is fake:
            bot.recorded(request_id, timeout)
    return found


def current(fake: FakeSlack, message: PostedMessage) -> PostedMessage:
    return fake.message(message.channel, message.ts)


def wait_updated(
    fake: FakeSlack, message: PostedMessage, contains: str, timeout: float = 10.0
) -> PostedMessage:
    """Wait until the message was updated and its text shows ``contains``."""
    fake.wait_until(
        lambda: (
            current(fake, message).updates >= 1
            and contains in block_text(current(fake, message).blocks)
        ),
        timeout=timeout,
    )
    return current(fake, message)


def ephemeral_texts(fake: FakeSlack, user: str) -> list[str]:
    return [e.text or "" for e in fake.ephemerals(user)]
