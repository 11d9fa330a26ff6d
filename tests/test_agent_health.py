"""The agent reads the bot's settings (environment, then .env) and is told when no bot serves
its prefix: ``health()`` lists the replicas' heartbeats, and submit warns once when none beats."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hitl_slack import AsyncHITLClient, HITLClient, NoBotWarning
from hitl_slack.lifecycle.heartbeat import Heartbeat, beat
from hitl_slack.lifecycle.store import Store

_VARS = ("REDIS_URL", "HITL_KEY_PREFIX", "HITL_REDIS_GRACE", "HITL_REDIS_CONNECT_TIMEOUT")


@pytest.fixture
def in_tmp_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def team_prefix(raw: redis.Redis) -> Iterator[str]:
    name = f"team-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(raw.scan_iter(match=f"{name}:*"))
    if keys:
        raw.delete(*keys)


def test_from_env_reads_the_prefix_from_dot_env_like_the_bot(
    in_tmp_dir: Path, redis_url: str, raw: redis.Redis, team_prefix: str
):
    (in_tmp_dir / ".env").write_text(
        f"REDIS_URL={redis_url}\nHITL_KEY_PREFIX={team_prefix}\nHITL_REDIS_GRACE=7.5\n"
    )
    client = HITLClient.from_env()
    ticket = client.submit("s", "act", timeout=30)
    assert raw.exists(f"{team_prefix}:req:{ticket.request_id}")
    assert client._hub._grace == 7.5
    client.close()


def test_the_environment_wins_over_dot_env(
    in_tmp_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    raw: redis.Redis,
    team_prefix: str,
):
    (in_tmp_dir / ".env").write_text(f"REDIS_URL={redis_url}\nHITL_KEY_PREFIX=not-this-one\n")
    monkeypatch.setenv("HITL_KEY_PREFIX", team_prefix)
    client = HITLClient.from_env()
    ticket = client.submit("s", "act", timeout=30)
    assert raw.exists(f"{team_prefix}:req:{ticket.request_id}")
    client.close()


def test_submit_warns_once_when_no_bot_serves_the_prefix(client: HITLClient, prefix: str):
    with pytest.warns(NoBotWarning, match=f"key prefix '{prefix}'"):
        client.submit("s", "act", timeout=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoBotWarning)
        client._next_bot_check = 0  # even when it looks again, it has said it once
        client.submit("s", "act", timeout=30)
    assert client.health() == []


async def test_async_submit_warns_when_no_bot_serves_the_prefix(aclient: AsyncHITLClient):
    with pytest.warns(NoBotWarning):
        await aclient.submit("s", "act", timeout=30)
    assert await aclient.health() == []


def test_no_warning_and_health_lists_the_replica_while_a_bot_beats(
    client: HITLClient, store: Store
):
    hb = Heartbeat(name="bot-1", version="0.1.0", mode="socket")
    store.run(beat(store.config.keys, hb))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoBotWarning)
        client.submit("s", "act", timeout=30)
    assert client.health() == [hb]


async def test_health_reports_a_replica_that_stopped_taking_work(
    aclient: AsyncHITLClient, store: Store
):
    hb = Heartbeat(
        name="bot-2",
        ready=True,
        accepting=False,
        slack_auth="token_revoked",
        reason="Slack says token_revoked: SLACK_BOT_TOKEN was revoked",
    )
    store.run(beat(store.config.keys, hb))
    [seen] = await aclient.health()
    assert (seen.accepting, seen.slack_auth, seen.reason) == (
        False,
        "token_revoked",
        "Slack says token_revoked: SLACK_BOT_TOKEN was revoked",
    )


def test_a_pool_too_small_for_the_pub_sub_connection_is_refused(redis_url: str):
    from hitl_slack import ConfigError

    with pytest.raises(ConfigError, match="max_connections must be at least 2"):
        HITLClient(redis_url, "x", max_connections=1)
    with pytest.raises(ConfigError, match="max_connections must be at least 2"):
        AsyncHITLClient(redis_url, "x", max_connections=1)
