"""Throwaway ``redis-server`` processes for fault tests: started on a free port, killed and
restarted by their own PID (never by name), so a test can take Redis away under live traffic.

    with RedisServer(aof=True) as srv:
        client = HITLClient(srv.url, prefix)
        srv.restart()            # kill -9, start again on the same port (data kept with AOF)
        srv.restart(empty=True)  # ... with the data directory wiped: a failover to a fresh node
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` child process on 127.0.0.1 and a free port."""

    def __init__(self, *, aof: bool = False, port: int | None = None) -> None:
        self.aof = aof
        self.port = port or _free_port()
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
        args = [
            "redis-server",
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
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.proc.returncode}: {self.log()}")
            try:
                r = redis.Redis(port=self.port, socket_connect_timeout=0.2)
                if r.ping():
                    r.close()
                    return self
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on {self.port}: {self.log()}")

    def kill(self) -> None:
        """kill -9 by PID: no shutdown, no final save."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, *, empty: bool = False, down_for: float = 0.0) -> None:
        """Kill it, optionally wipe its data, wait ``down_for`` seconds, start it again."""
        self.kill()
        if empty:
            for child in self.dir.iterdir():
                if child.name != "redis.log":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        if down_for:
            time.sleep(down_for)
        self.start()

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
