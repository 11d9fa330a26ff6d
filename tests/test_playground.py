"""``hitl-slack dev`` and ``make run`` as a new user runs them: what starts, what it refuses,
what stops on Ctrl-C, and the page's API (the browser drives it in test_playground_browser.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devproc import ROOT, DevProcess, clean_env, pid_alive
from fakeslack import FakeSlack
from harness import BotProcess

from hitl_slack import HITLClient
from hitl_slack.playground.redisproc import free_port


def _post(url: str, body: object, **headers: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text.startswith("{") else {"text": text}


@pytest.fixture
def dev(redis_url: str, prefix: str) -> Iterator[DevProcess]:
    """A running playground on the tests' Redis, under the test's prefix."""
    proc = DevProcess(clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX=prefix)).start()
    try:
        yield proc.ready()
    finally:
        proc.stop()


def test_make_run_without_tokens_starts_redis_bot_and_page_and_ctrl_c_stops_them() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    if (ROOT / ".env").exists():
        pytest.skip(".env exists in the checkout: make run would read its tokens")
    nothing = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    started = time.monotonic()
    proc = DevProcess(clean_env(REDIS_URL=nothing), args=["make", "-s", "run"]).start()
    try:
        proc.wait_for("no Slack tokens are configured: starting the local playground")
        proc.ready(timeout=30)
        status, page = proc.get("/")
        assert status == 200
        assert "<html" in page.lower()
        assert time.monotonic() - started < 30
        bot, redis_pid = proc.pids()
        assert redis_pid is not None, proc.output()
        assert pid_alive(bot)
        assert pid_alive(redis_pid)
        assert "key prefix" not in proc.output() or "hitl-dev" in proc.output()
        # make, interrupted, waits for its child and then dies of the SIGINT itself
        assert proc.interrupt() in (0, -signal.SIGINT), proc.output()
        deadline = time.monotonic() + 5
        while (pid_alive(bot) or pid_alive(redis_pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(bot), "the bot outlived the playground"
        assert not pid_alive(redis_pid), "the Redis it started outlived the playground"
        assert "stopping the playground" in proc.output()
    finally:
        proc.stop()


def test_no_redis_and_no_redis_server_says_how_to_get_one(tmp_path: Path) -> None:
    nothing = f"redis://127.0.0.1:{free_port()}/0"
    env = clean_env(REDIS_URL=nothing, PATH=str(tmp_path))  # no redis-server on this PATH
    proc = DevProcess(env, args=[sys.executable, "-m", "hitl_slack.cli", "dev"]).start()
    assert proc.wait(20) == 3
    out = proc.output().strip().splitlines()
    assert out[-1].startswith(f"no Redis answers at 127.0.0.1:{nothing.split(':')[2]}"), out
    assert "install Redis" in out[-1]
    assert "REDIS_URL" in out[-1]


def test_the_production_prefix_is_refused(redis_url: str) -> None:
    proc = DevProcess(clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX="hitl")).start()
    assert proc.wait(20) == 2
    assert "HITL_KEY_PREFIX=hitl is the production default" in proc.output()


def test_a_prefix_served_by_another_bot_is_refused(redis_url: str, prefix: str) -> None:
    with FakeSlack() as fake:
        bot = BotProcess(fake, prefix, redis_url, consumer="the-real-bot").start()
        try:
            proc = DevProcess(clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX=prefix)).start()
            assert proc.wait(20) == 2
            out = proc.output()
            assert f"another bot serves the key prefix {prefix}" in out
            assert "the-real-bot" in out
            assert "HITL_KEY_PREFIX" in out
        finally:
            bot.stop()
    # Once that bot has stopped (its last heartbeat says so), the prefix is free.
    proc = DevProcess(clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX=prefix)).start()
    try:
        proc.ready()
    finally:
        proc.stop()


def test_a_port_in_use_is_refused(dev: DevProcess, redis_url: str, prefix: str) -> None:
    env = clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX=prefix + "-2")
    proc = DevProcess(env | {"HITL_DEV_PORT": str(dev.port)}).start()
    assert proc.wait(20) == 2
    assert f"port {dev.port} of 127.0.0.1 is in use" in proc.output()


def test_up_with_a_token_serves_slack_instead(redis_url: str) -> None:
    env = clean_env(REDIS_URL=redis_url, SLACK_BOT_TOKEN="xoxb-your-token")
    proc = DevProcess(env, args=[sys.executable, "-m", "hitl_slack.cli", "up"]).start()
    assert proc.wait(20) == 2
    out = proc.output()
    assert "Slack tokens are configured: serving your workspace" in out
    assert "SLACK_BOT_TOKEN looks like a placeholder" in out


def test_everything_listens_on_loopback_only(dev: DevProcess) -> None:
    bot, _ = dev.pids()
    listening = _listening_ports(dev.proc.pid if dev.proc else 0) | _listening_ports(bot)
    assert dev.port in {port for _, port in listening}
    assert all(host == "127.0.0.1" for host, _ in listening), listening


def _listening_ports(pid: int) -> set[tuple[str, int]]:
    """(host, port) of the TCP sockets ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                host_hex, port_hex = cols[1].split(":")
                host = (
                    ".".join(str(int(host_hex[i : i + 2], 16)) for i in (6, 4, 2, 0))
                    if len(host_hex) == 8
                    else "ipv6:" + host_hex
                )
                found.add((host, int(port_hex, 16)))
    return found


def test_the_api_refuses_other_origins_and_non_json(dev: DevProcess) -> None:
    status, _ = _post(dev.url + "/play/home", {"user": "U0ALICE"}, Origin="http://evil.example")
    assert status == 403
    request = urllib.request.Request(
        dev.url + "/play/home", data=b'{"user": "U0ALICE"}', method="POST"
    )
    request.add_header("Content-Type", "text/plain")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 415
    status, body = _post(dev.url + "/play/click", {"user": "U0NOBODY", "container": {}})
    assert status == 400
    assert "unknown person" in str(body)


def test_a_bad_test_request_names_the_field(dev: DevProcess) -> None:
    status, body = _post(
        dev.url + "/play/request",
        {"summary": "Refund", "action": "refund_order", "payload": [1, 2], "risk": "high"},
    )
    assert status == 400
    assert "payload: must be a dict (a JSON object), not list" in str(body["error"])
    status, body = _post(dev.url + "/play/request", {"summary": "x", "action": "a", "risk": "?"})
    assert status == 400
    assert "risk" in str(body["error"])


def test_the_whole_loop_through_the_api(dev: DevProcess) -> None:
    """Send a request, a refused click, a rejection with a reason: the agent gets it, and the
    explain panel lists its keys and audit events."""
    _, sent = _post(
        dev.url + "/play/request",
        {"summary": "Refund A-1", "action": "refund_order", "payload": {"amount": 5}},
    )
    request_id = str(sent["request_id"])

    def state(user: str) -> dict[str, object]:
        return json.loads(dev.get(f"/play/state?user={user}")[1])

    def wait(check: object, user: str = "U0ALICE", timeout: float = 10) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            s = state(user)
            if check(s):  # type: ignore[operator]
                return s
            assert time.monotonic() < deadline, s
            time.sleep(0.05)

    s = wait(lambda s: s["messages"]["C0FINANCE"])
    ts = s["messages"]["C0FINANCE"][0]["ts"]  # type: ignore[index]
    here = {"type": "message", "channel": "C0FINANCE", "ts": ts}
    _post(
        dev.url + "/play/click",
        {"user": "U0MALLORY", "container": here, "action_id": "hitl.approve"},
    )
    wait(lambda s: any(m["ephemeral"] for m in s["messages"]["C0FINANCE"]), "U0MALLORY")
    assert not any(m["ephemeral"] for m in state("U0ALICE")["messages"]["C0FINANCE"])  # type: ignore[index]
    _post(
        dev.url + "/play/click", {"user": "U0ALICE", "container": here, "action_id": "hitl.reject"}
    )
    s = wait(lambda s: s["views"])
    view = s["views"][-1]  # type: ignore[index]
    assert state("U0BOB")["views"] == []  # the modal opened on Alice's screen only
    _, answer = _post(
        dev.url + "/play/submit", {"user": "U0ALICE", "view_id": view["id"], "values": {}}
    )
    assert answer["ok"] is False
    assert "reason" in answer["errors"]
    reason = {"reason": {"reason_input": {"type": "plain_text_input", "value": "too much"}}}
    _, answer = _post(
        dev.url + "/play/submit", {"user": "U0ALICE", "view_id": view["id"], "values": reason}
    )
    assert answer == {"ok": True, "errors": {}}
    s = wait(lambda s: s["agent"][0]["status"] == "rejected")  # type: ignore[index]
    entry = s["agent"][0]  # type: ignore[index]
    assert entry["decision"]["reason"] == "too much"
    assert entry["decision"]["decided_by"] == ["U0ALICE"]
    assert entry["latency_ms"] is not None
    assert entry["latency_ms"] >= 0
    assert s["views"] == []
    explained = json.loads(dev.get(f"/play/explain/{request_id}")[1])
    events = [e["event"] for e in explained["audit"]]
    assert events[:2] == ["created", "queued"]
    assert "rejected" in events
    assert any(k["key"].endswith(f":req:{request_id}") for k in explained["keys"])


def test_a_wire_transfer_needs_two_of_finance_and_not_the_requester(dev: DevProcess) -> None:
    """The playground's payments route: two of @finance, and the person the agent acts for
    (named by email, looked up as Slack would) may not approve."""
    _, sent = _post(
        dev.url + "/play/request",
        {
            "summary": "Wire EUR 900",
            "action": "wire_transfer",
            "payload": {"eur": 900},
            "requested_by": "alice@example.com",
        },
    )
    request_id = str(sent["request_id"])

    def state(user: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(dev.get(f"/play/state?user={user}")[1])
        return found

    def wait(check: Any, user: str = "U0ALICE", timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            s = state(user)
            if check(s):
                return s
            assert time.monotonic() < deadline, s
            time.sleep(0.05)

    def mine(s: dict[str, Any]) -> list[dict[str, Any]]:
        return [m for m in s["messages"]["C0FINANCE"] if request_id in json.dumps(m)]

    s = wait(lambda s: mine(s))
    here = {"type": "message", "channel": "C0FINANCE", "ts": mine(s)[0]["ts"]}
    for user in ("U0ALICE", "U0BOB"):
        _post(
            dev.url + "/play/click", {"user": user, "container": here, "action_id": "hitl.approve"}
        )
    refused = wait(lambda s: any(m["ephemeral"] for m in s["messages"]["C0FINANCE"]))
    assert "on your behalf" in json.dumps(refused["messages"]["C0FINANCE"])
    wait(lambda s: "1 of 2 approvals" in json.dumps(mine(s)), "U0BOB")
    _post(
        dev.url + "/play/click", {"user": "U0CAROL", "container": here, "action_id": "hitl.approve"}
    )
    s = wait(lambda s: s["agent"][0]["status"] == "approved")
    assert s["agent"][0]["decision"]["decided_by"] == ["U0BOB", "U0CAROL"]


def test_requests_left_from_an_earlier_run_are_noted_and_reset_deletes_them(
    redis_url: str, prefix: str, client: HITLClient
) -> None:
    client.submit("Left over", "refund_order", {"amount": 1}, timeout=600)
    env = clean_env(REDIS_URL=redis_url, HITL_KEY_PREFIX=prefix)
    proc = DevProcess(env).start()
    try:
        proc.ready()
        assert f"1 request(s) from an earlier run are still pending under {prefix}" in (
            proc.output()
        )
    finally:
        proc.stop()
    proc = DevProcess(env, args=[sys.executable, "-m", "hitl_slack.cli", "dev", "--reset"])
    try:
        proc.start().ready()
        assert f"deleted every key under {prefix}" in proc.output()
        assert client.store.redis.zcard(f"{prefix}:pending") == 0
    finally:
        proc.stop()
