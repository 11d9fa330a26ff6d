"""Throwaway ``redis-server`` processes for fault tests: the package's
(:class:`hitl_slack.playground.redisproc.RedisServer`, started on a free port) plus restarts,
killed by their own PID (never by name), so a test can take Redis away under live traffic.

    with RedisServer(aof=True) as srv:
        client = HITLClient(srv.url, prefix)
        srv.restart()            # kill -9, start again on the same port (data kept with AOF)
        srv.restart(empty=True)  # ... with the data directory wiped: a failover to a fresh node
"""

from __future__ import annotations

import shutil
import time

from hitl_slack.playground import redisproc

__all__ = ["RedisServer"]


class RedisServer(redisproc.RedisServer):
    """One ``redis-server`` child process that a test may kill and restart."""

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

    def stop(self, timeout: float = 5.0) -> None:
        """kill -9 (tests need no graceful stop), then remove the data directory."""
        self.kill()
        super().stop(timeout)

    def __enter__(self) -> RedisServer:
        self.start()
        return self
