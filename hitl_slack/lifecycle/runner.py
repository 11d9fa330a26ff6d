"""The two runners: drive a lifecycle generator with a sync or an asyncio Redis client.

The only place commands are sent. A script is called by its SHA (``EVALSHA``) and loaded on
first use (``NOSCRIPT``: a restarted Redis forgot it). Connection failures become
:class:`~hitl_slack.errors.StoreUnavailable`, whose message names what failed, never the URL
(it may carry a password).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
from redis.exceptions import NoScriptError, RedisError

from hitl_slack.errors import StoreUnavailable
from hitl_slack.lifecycle.commands import Batch, Command, Gen, Op

__all__ = ["run_async", "run_sync"]

T = TypeVar("T")


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except NoScriptError:
        raise
    except RedisError as exc:
        raise StoreUnavailable(f"Redis error: {type(exc).__name__}: {exc}") from None
    except OSError as exc:
        raise StoreUnavailable(f"Redis unreachable: {exc}") from None


def run_sync(r: redis.Redis, gen: Gen[T]) -> T:
    """Drive ``gen`` to its end against ``r``; returns its value."""
    try:
        op = next(gen)
        while True:
            with _unavailable():
                result = _exec_sync(r, op)
            op = gen.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def _exec_sync(r: redis.Redis, op: Op) -> Any:
    if isinstance(op, Command):
        return r.execute_command(*op.args)  # type: ignore[no-untyped-call]
    if isinstance(op, Batch):
        pipe = r.pipeline(transaction=False)
        for cmd in op.commands:
            pipe.execute_command(*cmd.args)  # type: ignore[no-untyped-call]
        return pipe.execute()
    try:
        return r.evalsha(op.script.sha, len(op.keys), *op.keys, *op.args)
    except NoScriptError:
        return r.eval(op.script.source, len(op.keys), *op.keys, *op.args)


async def run_async(r: aredis.Redis, gen: Gen[T]) -> T:
    """Drive ``gen`` to its end against ``r``; returns its value."""
    try:
        op = next(gen)
        while True:
            with _unavailable():
                result = await _exec_async(r, op)
            op = gen.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def _exec_async(r: aredis.Redis, op: Op) -> Any:
    if isinstance(op, Command):
        return await r.execute_command(*op.args)  # type: ignore[no-untyped-call]
    if isinstance(op, Batch):
        pipe = r.pipeline(transaction=False)
        for cmd in op.commands:
            pipe.execute_command(*cmd.args)
        return await pipe.execute()
    try:
        return await r.evalsha(op.script.sha, len(op.keys), *op.keys, *op.args)
    except NoScriptError:
        return await r.eval(op.script.source, len(op.keys), *op.keys, *op.args)
