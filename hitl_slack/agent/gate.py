"""``require_approval``: a function call becomes a request; it runs only once approved.

The action is the function's name and the payload its bound arguments. Approved: the function
runs with the arguments as the human left them (possibly edited). Otherwise
:class:`~hitl_slack.errors.ApprovalDenied` is raised, or ``on_denied`` is returned (called
with the decision if it is callable) — handy in LLM tool loops, where a tool must return.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hitl_slack.errors import ApprovalDenied
from hitl_slack.models import Decision

__all__ = ["RAISE", "Gate"]

#: ``on_denied`` default: a gated call that is not approved raises :class:`ApprovalDenied`.
RAISE: Any = object()


@dataclass(frozen=True)
class Gate:
    """How calls of one gated function are asked about."""

    route: str | None = None
    channel: str | None = None
    summary: str | Callable[..., str] | None = None
    risk: str = "medium"
    tags: tuple[str, ...] = ()
    timeout: float = 300
    agent: str | None = None
    on_denied: Any = RAISE

    def request(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[inspect.BoundArguments, dict[str, Any]]:
        """The bound call and the request fields for it."""
        bound = inspect.signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
        payload = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
        if callable(self.summary):
            summary = self.summary(**payload)
        else:
            summary = self.summary or f"Run {fn.__name__}"
        return bound, {
            "summary": summary,
            "action": fn.__name__,
            "payload": payload,
            "route": self.route,
            "channel": self.channel,
            "risk": self.risk,
            "tags": self.tags,
            "timeout": self.timeout,
            "agent": self.agent,
        }

    def denied(self, decision: Decision) -> Any:
        """What a call that was not approved gives back (or raises)."""
        if self.on_denied is RAISE:
            raise ApprovalDenied(decision)
        return self.on_denied(decision) if callable(self.on_denied) else self.on_denied


def _approved_call(
    bound: inspect.BoundArguments, decision: Decision
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    for name, value in decision.payload.items():
        if name in bound.arguments:
            bound.arguments[name] = value
    return bound.args, bound.kwargs


def gate_sync(ask: Callable[..., Decision], fn: Callable[..., Any], gate: Gate) -> Any:
    """Wrap ``fn`` for a blocking client; an async ``fn`` asks from a worker thread."""
    if inspect.iscoroutinefunction(fn):
        return gate_async(functools.partial(asyncio.to_thread, ask), fn, gate)

    @functools.wraps(fn)
    def gated(*args: Any, **kwargs: Any) -> Any:
        bound, fields = gate.request(fn, args, kwargs)
        decision = ask(**fields)
        if not decision.approved:
            return gate.denied(decision)
        call_args, call_kwargs = _approved_call(bound, decision)
        return fn(*call_args, **call_kwargs)

    return gated


def gate_async(ask: Callable[..., Awaitable[Decision]], fn: Callable[..., Any], gate: Gate) -> Any:
    """Wrap ``fn`` for an asyncio client: the wrapper is a coroutine function either way (a
    plain ``fn`` is called as it is once approved)."""

    @functools.wraps(fn)
    async def gated(*args: Any, **kwargs: Any) -> Any:
        bound, fields = gate.request(fn, args, kwargs)
        decision = await ask(**fields)
        if not decision.approved:
            return gate.denied(decision)
        call_args, call_kwargs = _approved_call(bound, decision)
        result = fn(*call_args, **call_kwargs)
        return await result if inspect.isawaitable(result) else result

    return gated
