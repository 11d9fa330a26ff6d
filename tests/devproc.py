"""Runs ``hitl-slack dev`` (or ``make run``) as a user would, in a process group of its own, and
reads what it prints: the URL, and the PIDs of the bot and of a Redis it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from hitl_slack.playground.redisproc import free_port

ROOT = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus every Slack and hitl setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.pop("REDIS_URL", None)
    return env | extra


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped by its parent yet) is gone for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class DevProcess:
    """``args`` (default ``hitl-slack dev``) started with ``env``; its output collected."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        self.port = int(env.get("HITL_DEV_PORT") or free_port())
        self.env = env | {"HITL_DEV_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.args = args or [sys.executable, "-m", "hitl_slack.cli", "dev"]
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DevProcess:
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own group: a Ctrl-C goes to it alone
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first output line matching ``pattern`` (waits for it)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if m := regex.search(line):
                        return m
                left = deadline - time.monotonic()
                exited = self.proc is not None and self.proc.poll() is not None
                if left <= 0 or exited:
                    raise AssertionError(f"no line matching {pattern!r}:\n{self.output()}")
                self._cond.wait(min(left, 0.2))

    def ready(self, timeout: float = 30.0) -> DevProcess:
        self.wait_for(r"^open http://127\.0\.0\.1:\d+", timeout)
        return self

    def pids(self) -> tuple[int, int | None]:
        """The bot's PID and, when it started one, the Redis server's."""
        bot = int(self.wait_for(r"bot: .*\(pid (\d+)\)", 1).group(1))
        out = self.output()
        redis = re.search(r"started redis-server \(pid (\d+)\)", out)
        return bot, int(redis.group(1)) if redis else None

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return int(r.status), r.read().decode()

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the process group; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Whatever state it is in: interrupt, then kill the group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.interrupt()
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
