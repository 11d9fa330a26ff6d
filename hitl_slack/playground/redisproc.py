"""A throwaway ``redis-server``: a child process on 127.0.0.1 and a free port, with its data in
a temporary directory, stopped (and the directory removed) by its own PID, never by name.

The playground starts one when nothing answers at ``REDIS_URL``; the tests' fault harness
(``tests/redisproc.py``) adds kill -9 and restarts to it::

    with RedisServer() as srv:
        client = HITLClient(srv.url, prefix)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from hitl_slack.errors import ConfigError

__all__ = ["RedisServer", "free_port", "redis_server_path"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_path() -> str | None:
    """Where ``redis-server`` is on PATH, if it is."""
    return shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1 and a free port."""

    def __init__(self, *, aof: bool = False, port: int | None = None) -> None:
        self.aof = aof
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hitl-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start it and wait until it answers PING.

        Raises:
            ConfigError: ``redis-server`` is not on PATH, exited, or did not answer in time.
        """
        binary = redis_server_path()
        if binary is None:
            raise ConfigError("redis-server is not on PATH")
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            "always",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        # A session of its own: a Ctrl-C in the terminal reaches its owner, which stops it
        # after whatever still uses it.
        self.proc = subprocess.Popen(  # noqa: S603 (our own arguments)
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"redis-server exited {self.proc.returncode}: {self.log()}")
            try:
                r = redis.Redis(port=self.port, socket_connect_timeout=0.2)
                if r.ping():
                    r.close()
                    return self
            except redis.RedisError:
                time.sleep(0.02)
        self.stop()
        raise ConfigError(f"redis-server did not answer on port {self.port} in {timeout:g} s")

    def kill(self) -> None:
        """kill -9 by PID: no shutdown, no final save."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID (kill -9 after ``timeout``), then remove its data directory."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
