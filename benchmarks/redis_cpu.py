"""Redis CPU per create and per decision (INFO commandstats), next to a trivial script.

Run: ``python benchmarks/redis_cpu.py [N] [OLD_REV]``. Starts its own ``redis-server`` on a free
port (so other clients' load does not count), resets the statistics before each phase and
prints Redis' own ``usec_per_call`` for each script, plus the top-level commands per operation
(a decision reads the request before its script). With ``OLD_REV`` (default: the parent of the
commit that moved hashing out of Lua, if git can find it), the scripts of that version, which
computed the sha256 chain in Lua, are measured in the same run. The sealer's cost, paid once per
batch of entries by the bot, is printed per entry.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
import uuid
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from redisproc import RedisServer

from hitl_slack.keys import Keys
from hitl_slack.lifecycle.lua import LuaScript
from hitl_slack.lifecycle.ops import StoreConfig
from hitl_slack.lifecycle.store import Store, async_redis
from hitl_slack.models import ApprovalRequest, AuditEvent, Status
from hitl_slack.service.sealer import Sealer

TOP_LEVEL = ("evalsha", "eval", "hgetall")
TRIVIAL = LuaScript("trivial", "return 1")


def stats(r: redis.Redis) -> dict[str, dict[str, float]]:
    raw: Any = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): v for k, v in raw.items()}


def phase(r: redis.Redis, label: str, n: int, run: Any, *, baseline: float | None = None) -> float:
    r.config_resetstat()
    run()
    s = stats(r)
    script = s.get("evalsha", {}).get("usec_per_call", 0.0)
    per_op = sum(s.get(c, {}).get("usec", 0.0) for c in TOP_LEVEL) / n
    ratio = f"  ({script / baseline:5.1f}x trivial)" if baseline else ""
    print(f"{label:<42} script {script:7.2f} µs{ratio}   all commands {per_op:7.2f} µs/op")
    return script


def new_version(r: redis.Redis, url: str, n: int, baseline: float) -> None:
    store = Store(
        redis.Redis.from_url(url, decode_responses=True),
        StoreConfig(keys=Keys(f"bench-{uuid.uuid4().hex[:8]}")),
    )
    ids = [f"req_{uuid.uuid4().hex}" for _ in range(n)]
    reqs = [
        ApprovalRequest(
            id=i,
            summary="Refund",
            action="refund",
            payload={"amount": 42},
            agent="billing",
            timeout=600,
        )
        for i in ids
    ]
    phase(r, "create (this version)", n, lambda: [store.create(q) for q in reqs], baseline=baseline)
    phase(
        r,
        "decision (this version)",
        n,
        lambda: [store.decide(i, Status.APPROVED, decided_by=("U0ALICE",)) for i in ids],
        baseline=baseline,
    )
    r.config_resetstat()
    sealed = asyncio.run(_seal(url, store.config.keys))
    s = stats(r)
    usec = sum(
        v.get("usec", 0.0)
        for k, v in s.items()
        if k in ("evalsha", "eval", "xrange", "hgetall", "set", "get", "xrevrange", "pexpire")
    )
    print(
        f"{'sealer (bot, once per batch)':<42} {usec / max(sealed, 1):7.2f} µs per entry "
        f"({sealed} entries; hashing runs in the bot, not in Redis)"
    )


async def _seal(url: str, keys: Keys) -> int:
    ar = async_redis(url)
    sealer = Sealer(ar, keys, maxlen=1_000_000, owner="bench")
    total = 0
    while count := await sealer.seal_once():
        total += count
    await ar.aclose()
    return total


def old_scripts(rev: str) -> dict[str, Any] | None:
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:hitl_slack/lua.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("old_lua")
    sys.modules["old_lua"] = module  # dataclasses look their module up
    exec(compile(src, f"{rev}:lua.py", "exec"), module.__dict__)
    return module.__dict__


def old_version(r: redis.Redis, n: int, baseline: float, lua: dict[str, Any]) -> None:
    import hashlib

    k = Keys(f"bench-{uuid.uuid4().hex[:8]}")
    create, transition = lua["CREATE"], lua["TRANSITION"]

    def entries(*events: AuditEvent) -> list[str]:
        out: list[str] = []
        for e in events:
            body = e.body()
            out += [body, hashlib.sha256(body.encode()).hexdigest()]
        return out

    ids = [f"req_{uuid.uuid4().hex}" for _ in range(n)]

    def creates() -> None:
        for i in ids:
            req = ApprovalRequest(
                id=i,
                summary="Refund",
                action="refund",
                payload={"amount": 42},
                agent="billing",
                timeout=600,
            )
            r.evalsha(
                create.sha,
                6,
                k.request(i),
                k.request(i),
                k.queue,
                k.deadlines,
                k.audit,
                k.audit_head,
                i,
                req.model_dump_json(),
                600_000,
                700_000,
                100_000,
                1_000_000,
                "0",
                *entries(
                    AuditEvent(
                        event="created",
                        request_id=i,
                        actor="agent:billing",
                        data={"payload": {"amount": 42}},
                    ),
                    AuditEvent(event="queued", request_id=i, actor="agent:billing"),
                ),
            )

    def decisions() -> None:
        for i in ids:
            r.hgetall(k.request(i))
            r.evalsha(
                transition.sha,
                6,
                k.request(i),
                k.deadlines,
                k.outcomes,
                k.audit,
                k.audit_head,
                k.decided_channel(i),
                i,
                "approved",
                '{"status":"approved"}',
                "decide",
                100_000,
                1_000_000,
                *entries(
                    AuditEvent(
                        event="approved",
                        request_id=i,
                        actor="slack:U0ALICE",
                        data={"payload": {"amount": 42}, "edited": False},
                    )
                ),
            )

    r.script_load(create.source)
    r.script_load(transition.source)
    phase(r, "create (old: sha256 chain in Lua)", n, creates, baseline=baseline)
    phase(r, "decision (old: sha256 chain in Lua)", n, decisions, baseline=baseline)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rev = sys.argv[2] if len(sys.argv) > 2 else "fdf3d14"
    with RedisServer() as server:
        r = redis.Redis(port=server.port, decode_responses=True)
        r.script_load(TRIVIAL.source)
        baseline = phase(
            r,
            "baseline: trivial script (return 1)",
            n,
            lambda: [r.evalsha(TRIVIAL.sha, 0) for _ in range(n)],
        )
        new_version(r, server.url, n, baseline)
        lua = old_scripts(rev)
        if lua is None:
            print(f"(old version {rev} not found by git: skipped)")
        else:
            old_version(r, n, baseline, lua)
        r.close()


if __name__ == "__main__":
    main()
