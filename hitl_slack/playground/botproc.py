"""The playground's bot: the real ``hitl-slack serve --http``, as a child process.

The production code path, no shortcuts: the same command an operator runs, pointed at the local
Slack by ``SLACK_API_URL`` and given tokens and a signing secret that only the local Slack
knows. It runs in a directory of its own (so no ``.env`` of the caller's leaks into it) and in a
session of its own (a Ctrl-C in the terminal reaches the playground, which stops it in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

import hitl_slack
from hitl_slack.errors import ConfigError

__all__ = ["BotProcess"]


class BotProcess:
    """``hitl-slack serve --http`` on 127.0.0.1:``port``, logging to ``log_path``."""

    def __init__(self, env: dict[str, str], *, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        package_root = str(Path(hitl_slack.__file__).resolve().parent.parent)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
        path = os.pathsep.join(p for p in (package_root, inherited.get("PYTHONPATH")) if p)
        self.env = inherited | {"PYTHONPATH": path} | env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where Slack (here: the playground) sends events, clicks and commands."""
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def start(self, timeout: float = 30.0) -> None:
        """Start it and wait until its ``/readyz`` says it takes work.

        Raises:
            ConfigError: it exited, or was not ready within ``timeout`` (its last log lines).
        """
        args = [sys.executable, "-m", "hitl_slack.cli", "serve", "--http"]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            # Popen forks and returns: it does not wait for the child. Our own arguments only.
            self.proc = subprocess.Popen(  # noqa: ASYNC220, S603
                args,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not self.running():
                    raise ConfigError(f"the bot exited at start:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.1)
        await self.stop()
        raise ConfigError(f"the bot was not ready within {timeout:g} s:\n{self.log_tail()}")

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (it finishes the work in hand), kill -9 after ``timeout``; its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)
        return proc.returncode

    def kill(self) -> None:
        """kill -9 at once (a second Ctrl-C)."""
        if self.running():
            assert self.proc is not None
            self.proc.kill()
