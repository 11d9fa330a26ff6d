"""The service's log lines as ``hitl-slack serve`` writes them: one JSON object per line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from hitl_slack.logs import bound, configure, get_logger


@pytest.fixture
def lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Logging configured as ``serve`` does, into a buffer; the lines logged so far, parsed.

    The test configuration (tests/conftest.py) and the root logger are restored after.
    """
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure("INFO", "json", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    structlog.configure(**saved)
    root.handlers[:], root.level = handlers, level


def _name() -> str:
    """A logger name of this test only (structlog caches a logger on its first use)."""
    return f"test_logs.{uuid.uuid4().hex[:8]}"


def test_each_event_is_one_json_line_with_its_fields_as_keys(lines):
    name = _name()
    get_logger(name).info("request_posted", request_id="req_1", channel="C0APPROVALS", tries=2)
    get_logger(name).debug("below_the_level", request_id="req_1")
    [line] = lines()
    assert line.pop("timestamp").endswith("Z")
    assert line == {
        "event": "request_posted",
        "request_id": "req_1",
        "channel": "C0APPROVALS",
        "tries": 2,
        "level": "info",
        "logger": name,
    }


def test_bound_request_id_is_on_every_line_inside_the_block_and_gone_after(lines):
    ours, bolt = get_logger(_name()), logging.getLogger("slack_bolt.test_logs")
    with bound(request_id="req_7"):
        ours.info("decision_recorded", status="approved")
        bolt.warning("Bolt says something")  # a third-party stdlib logger
        bolt.info("with extra", extra={"channel": "C1"})
    ours.info("after_the_block")
    bolt.warning("Bolt again")
    assert [(line["event"], line.get("request_id")) for line in lines()] == [
        ("decision_recorded", "req_7"),
        ("Bolt says something", "req_7"),
        ("with extra", "req_7"),
        ("after_the_block", None),
        ("Bolt again", None),
    ]
    assert lines()[2]["channel"] == "C1"


def test_bound_context_follows_the_work_into_tasks_it_starts(lines):
    bolt = logging.getLogger("slack_sdk.test_logs")

    async def listener() -> None:
        bolt.info("inside a task")

    async def main() -> None:
        with bound(request_id="req_9"):
            task = asyncio.create_task(listener())
        await task
        bolt.info("outside")

    asyncio.run(main())
    assert [line.get("request_id") for line in lines()] == ["req_9", None]


def test_secrets_are_never_printed(lines):
    token = SecretStr("xoxb-1234-real-token")
    get_logger(_name()).info("settings_loaded", token=token)
    logging.getLogger("slack_sdk.test_logs").info("token %s", token, extra={"token": token})
    assert len(lines()) == 2
    assert "xoxb-1234-real-token" not in json.dumps(lines())


def test_a_traceback_only_when_asked_for(lines):
    log = get_logger(_name())
    try:
        raise ConnectionError("refused")
    except ConnectionError as exc:
        log.warning("redis_lost", exc_info=None, error=str(exc))
        log.error("worker_crashed", exc_info=exc)
    quiet, loud = lines()
    assert "exception" not in quiet
    assert "ConnectionError: refused" in loud["exception"]
