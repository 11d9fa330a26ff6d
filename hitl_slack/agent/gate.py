"""``require_approval``: a function call becomes a request; it runs only once approved.

The action is the function's name and the payload its bound arguments, except those that pass
through unseen (:mod:`hitl_slack.agent.passthrough`: the ones named in ``exclude=`` and
framework contexts such as PydanticAI's ``RunContext``), which the message lists by name.
Approved: the function runs with the arguments as the human left them (possibly edited), the
passed-through ones as the caller gave them. Otherwise
:class:`~hitl_slack.errors.ApprovalDenied` is raised, or ``on_denied`` is returned (called with
the decision if it is callable) — handy in LLM tool loops, where a tool must return.

``summary``, ``details``, ``idempotency_key``, ``requested_by`` and ``confirm_text`` may be
functions of the call: they receive the same arguments as the gated function (defaults
applied), e.g.
``idempotency_key=lambda ctx, customer, amount: f"refund-{ctx.tool_call_id}"``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hitl_slack.agent.passthrough import SILENT, hidden_parameters
from hitl_slack.errors import ApprovalDenied, InvalidRequest
from hitl_slack.models import Decision

__all__ = ["RAISE", "Gate", "GatedFunction", "gate_async", "gate_sync"]

#: ``on_denied`` default: a gated call that is not approved raises :class:`ApprovalDenied`.
RAISE: Any = object()

#: Text or a function of the gated call's arguments that returns it.
CallText = str | Callable[..., str] | None


@dataclass(frozen=True)
class Gate:
    """How calls of one gated function are asked about (the decorator's arguments)."""

    route: str | None = None
    channel: str | None = None
    summary: CallText = None
    risk: str = "medium"
    tags: tuple[str, ...] = ()
    timeout: float = 300
    agent: str | None = None
    on_denied: Any = RAISE
    details: CallText = None
    exclude: tuple[str, ...] = ()
    idempotency_key: CallText = None
    requested_by: CallText = None
    confirm_text: CallText = None

    def denied(self, decision: Decision) -> Any:
        """What a call that was not approved gives back (or raises)."""
        if self.on_denied is RAISE:
            raise ApprovalDenied(decision)
        return self.on_denied(decision) if callable(self.on_denied) else self.on_denied


@dataclass(frozen=True)
class GatedFunction:
    """One gated function: its signature and which parameters pass through, read once."""

    fn: Callable[..., Any]
    gate: Gate
    signature: inspect.Signature
    hidden: tuple[str, ...]

    @classmethod
    def of(cls, fn: Callable[..., Any], gate: Gate) -> GatedFunction:
        """Read ``fn``'s signature and find its passed-through parameters.

        Raises:
            InvalidRequest: ``exclude`` names a parameter ``fn`` does not have.
        """
        signature = inspect.signature(fn)
        unknown = [name for name in gate.exclude if name not in signature.parameters]
        if unknown:
            msg = f"{', '.join(map(repr, unknown))} is not a parameter of {fn.__name__}{signature}"
            raise InvalidRequest(f"invalid approval request: exclude: {msg}", [("exclude", msg)])
        return cls(fn, gate, signature, hidden_parameters(fn, signature, gate.exclude))

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        """The call's arguments by name, defaults applied."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound

    def fields(self, bound: inspect.BoundArguments) -> dict[str, Any]:
        """The request fields for one call (validated later, by the client).

        Raises:
            InvalidRequest: ``summary``, ``details`` or ``idempotency_key`` is a function that
                does not take the gated function's arguments.
        """
        gate = self.gate
        payload = {
            k: v for k, v in bound.arguments.items() if k not in SILENT and k not in self.hidden
        }
        summary = self._text("summary", bound)
        return {
            "summary": f"Run {self.fn.__name__}" if summary is None else summary,
            "action": self.fn.__name__,
            "payload": payload,
            "details": self._details(bound),
            "idempotency_key": self._text("idempotency_key", bound),
            "route": gate.route,
            "channel": gate.channel,
            "risk": gate.risk,
            "tags": gate.tags,
            "timeout": gate.timeout,
            "agent": gate.agent,
            "requested_by": self._text("requested_by", bound),
            "confirm_text": self._text("confirm_text", bound),
        }

    def _details(self, bound: inspect.BoundArguments) -> Any:
        details = self._text("details", bound)
        if not self.hidden:
            return details
        note = f"Not shown (passed through unseen): {', '.join(self.hidden)}"
        return f"{details}\n\n{note}" if isinstance(details, str) and details else note

    def _text(self, name: str, bound: inspect.BoundArguments) -> Any:
        option = getattr(self.gate, name)
        if not callable(option):
            return option
        try:
            inspect.signature(option).bind(*bound.args, **bound.kwargs)
        except TypeError as exc:
            msg = (
                f"must be a string or a function taking the arguments of "
                f"{self.fn.__name__}{self.signature} ({exc})"
            )
            error = f"invalid approval request: {name}: {msg}"
            raise InvalidRequest(error, [(name, msg)]) from None
        except ValueError:  # no signature to check (a builtin): call it and see
            pass
        return option(*bound.args, **bound.kwargs)

    def approved_call(
        self, bound: inspect.BoundArguments, decision: Decision
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments to run with: the decision's payload, merged with the passed-through
        arguments (which a decision can never replace)."""
        for name, value in decision.payload.items():
            if name in bound.arguments and name not in SILENT and name not in self.hidden:
                bound.arguments[name] = value
        return bound.args, bound.kwargs


def gate_sync(ask: Callable[..., Decision], fn: Callable[..., Any], gate: Gate) -> Any:
    """Wrap ``fn`` for a blocking client; an async ``fn`` asks from a worker thread.

    Raises:
        InvalidRequest: ``exclude`` names a parameter ``fn`` does not have.
    """
    if inspect.iscoroutinefunction(fn):
        return gate_async(functools.partial(asyncio.to_thread, ask), fn, gate)
    gated_fn = GatedFunction.of(fn, gate)

    @functools.wraps(fn)
    def gated(*args: Any, **kwargs: Any) -> Any:
        bound = gated_fn.bind(args, kwargs)
        decision = ask(**gated_fn.fields(bound))
        if not decision.approved:
            return gate.denied(decision)
        call_args, call_kwargs = gated_fn.approved_call(bound, decision)
        return fn(*call_args, **call_kwargs)

    return gated


def gate_async(ask: Callable[..., Awaitable[Decision]], fn: Callable[..., Any], gate: Gate) -> Any:
    """Wrap ``fn`` for an asyncio client: the wrapper is a coroutine function either way (a
    plain ``fn`` is called as it is once approved).

    Raises:
        InvalidRequest: ``exclude`` names a parameter ``fn`` does not have.
    """
    gated_fn = GatedFunction.of(fn, gate)

    @functools.wraps(fn)
    async def gated(*args: Any, **kwargs: Any) -> Any:
        bound = gated_fn.bind(args, kwargs)
        decision = await ask(**gated_fn.fields(bound))
        if not decision.approved:
            return gate.denied(decision)
        call_args, call_kwargs = gated_fn.approved_call(bound, decision)
        result = fn(*call_args, **call_kwargs)
        return await result if inspect.isawaitable(result) else result

    return gated
