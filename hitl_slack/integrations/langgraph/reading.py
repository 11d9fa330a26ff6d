"""What LangGraph interrupts ask: one Slack request per action, checked before any is posted.

Pure, no I/O. :func:`read_interrupts` turns the interrupts a graph stopped at into
:class:`Ask` values (the arguments of one ``submit``) and a :class:`Batch` that maps their
decisions back to the values to resume with. Three kinds of interrupt are understood:

* ``HumanInTheLoopMiddleware``, ``batched`` mode (the default): one interrupt whose value
  lists ``action_requests`` (tool name, args, description) and ``review_configs`` (the
  decisions each tool allows); answered with ``{"decisions": [...]}``, in the same order.
* the same middleware, ``per_call`` mode: one ``tool_approval`` interrupt per tool call, whose
  ``response_schema`` lists the decisions that tool allows; answered with one decision.
* :func:`~hitl_slack.integrations.langgraph.interrupt_for_approval` in a graph's own node;
  answered with the :class:`~hitl_slack.models.Decision` as JSON.

A tool whose decisions cannot express both an approval (``approve`` or ``edit``) and a
refusal (``reject``: also what an expiry becomes) is refused with
:class:`InterruptNotSupported`, as is an interrupt of any other shape, before anything of the
batch is posted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from hitl_slack.agent.base import build_request
from hitl_slack.errors import HITLError, InvalidRequest
from hitl_slack.integrations.langgraph.answers import idempotency_key, tool_decision
from hitl_slack.models import Decision

__all__ = [
    "NODE_APPROVAL",
    "Ask",
    "Batch",
    "InterruptLike",
    "InterruptNotSupported",
    "Summary",
    "read_interrupts",
]

#: The ``type`` of the value :func:`~hitl_slack.integrations.langgraph.interrupt_for_approval`
#: interrupts with.
NODE_APPROVAL: Final = "hitl_slack.approval"

#: The request fields an adapter sets itself; a caller may not pass them.
_OWN_FIELDS: Final = frozenset({"summary", "action", "payload", "idempotency_key"})

#: A request's summary: fixed text, or built from the tool's name and arguments.
Summary = str | Callable[[str, dict[str, Any]], str] | None


class InterruptNotSupported(HITLError, ValueError):
    """An interrupt the adapter cannot answer safely; nothing was posted for any of them."""


class InterruptLike(Protocol):
    """What is read of a ``langgraph.types.Interrupt``."""

    @property
    def id(self) -> str: ...

    @property
    def value(self) -> Any: ...

    @property
    def response_schema(self) -> Any: ...


@dataclass(frozen=True)
class Ask:
    """One Slack request: its arguments for ``submit`` and how its decision answers."""

    summary: str
    action: str
    payload: dict[str, Any]
    fields: dict[str, Any]
    answer: Callable[[Decision], Any] = field(repr=False, compare=False)

    def request(self) -> dict[str, Any]:
        """Keyword arguments for ``HITLClient.submit``."""
        return {
            "summary": self.summary,
            "action": self.action,
            "payload": self.payload,
            **self.fields,
        }


@dataclass(frozen=True)
class _Plan:
    interrupt_id: str
    asks: tuple[Ask, ...]
    assemble: Callable[[list[Any]], Any]


@dataclass(frozen=True)
class Batch:
    """The requests for a set of interrupts, and the resume values made of their decisions."""

    plans: tuple[_Plan, ...]

    @property
    def asks(self) -> list[Ask]:
        """Every request, in order: interrupt by interrupt, action by action."""
        return [ask for plan in self.plans for ask in plan.asks]

    def resume(self, decisions: Sequence[Decision]) -> dict[str, Any]:
        """``{interrupt id: resume value}`` from one decision per :attr:`asks`, in order."""
        if len(decisions) != len(self.asks):
            raise ValueError(f"{len(decisions)} decisions for {len(self.asks)} requests")
        out: dict[str, Any] = {}
        rest = iter(decisions)
        for plan in self.plans:
            answers = [ask.answer(next(rest)) for ask in plan.asks]
            out[plan.interrupt_id] = plan.assemble(answers)
        return out


def read_interrupts(
    interrupts: Sequence[InterruptLike],
    thread: str,
    summary: Summary = None,
    request_fields: Mapping[str, Any] | None = None,
) -> Batch:
    """The Slack requests for these interrupts; every one is checked before any is posted.

    Args:
        interrupts: what the graph stopped at (``result["__interrupt__"]``).
        thread: the thread id (:func:`thread_id`), part of each idempotency key.
        summary: each tool request's summary (default ``Run <tool>``, ``(i of n)`` in a
            batch); a node's request keeps its own.
        request_fields: ``details``, ``agent``, ``risk``, ``tags``, ``route``, ``channel``,
            ``timeout`` for every request (a node's own fields win).

    Raises:
        InterruptNotSupported: an interrupt is not one of the three kinds, or a tool does not
            allow ``reject`` or allows neither ``approve`` nor ``edit``.
        InvalidRequest: a request field is invalid (names it).
    """
    fields = dict(request_fields or {})
    if own := sorted(_OWN_FIELDS & fields.keys()):
        raise InvalidRequest(
            f"invalid request fields: {', '.join(own)}: set by the adapter, not the caller",
            [(name, "set by the adapter") for name in own],
        )
    batch = Batch(tuple(_plan(i, thread, summary, fields) for i in interrupts))
    for ask in batch.asks:
        build_request(**ask.request())
    return batch


def _plan(interrupt: InterruptLike, thread: str, summary: Summary, fields: dict[str, Any]) -> _Plan:
    value = interrupt.value
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == NODE_APPROVAL:
        return _node_plan(interrupt, thread, fields)
    if kind == "tool_approval":
        call = _Call.of(value, _schema_decisions(interrupt.response_schema))
        ask = call.ask(idempotency_key(thread, interrupt.id, 0), summary, fields, None)
        return _Plan(interrupt.id, (ask,), _only)
    if isinstance(value, Mapping) and "action_requests" in value:
        return _batched_plan(interrupt, thread, summary, fields)
    raise InterruptNotSupported(
        f"interrupt {interrupt.id}: not a HumanInTheLoopMiddleware request nor an "
        f"interrupt_for_approval(): its value is {_shape(value)}"
    )


def _only(answers: list[Any]) -> Any:
    return answers[0]


def _decisions(answers: list[Any]) -> dict[str, Any]:
    return {"decisions": answers}


def _batched_plan(
    interrupt: InterruptLike, thread: str, summary: Summary, fields: dict[str, Any]
) -> _Plan:
    value = interrupt.value
    allowed = {
        str(c.get("action_name")): frozenset(c.get("allowed_decisions") or ())
        for c in value.get("review_configs") or ()
        if isinstance(c, Mapping)
    }
    requests = list(value.get("action_requests") or ())
    asks = []
    for index, request in enumerate(requests):
        if not isinstance(request, Mapping):
            raise InterruptNotSupported(
                f"interrupt {interrupt.id}: action request {index} is {_shape(request)}"
            )
        call = _Call.of(request, allowed.get(str(request.get("name")), frozenset()))
        key = idempotency_key(thread, interrupt.id, index)
        position = (index + 1, len(requests)) if len(requests) > 1 else None
        asks.append(call.ask(key, summary, fields, position))
    return _Plan(interrupt.id, tuple(asks), _decisions)


def _node_plan(interrupt: InterruptLike, thread: str, fields: dict[str, Any]) -> _Plan:
    value = interrupt.value
    if not isinstance(value.get("summary"), str) or not isinstance(value.get("action"), str):
        raise InterruptNotSupported(
            f"interrupt {interrupt.id}: an approval without a summary and an action: "
            f"{_shape(value)}"
        )
    ask = Ask(
        summary=value["summary"],
        action=value["action"],
        payload=dict(value.get("payload") or {}),
        fields=fields
        | dict(value.get("fields") or {})
        | {"idempotency_key": idempotency_key(thread, interrupt.id, 0)},
        answer=_decision_json,
    )
    return _Plan(interrupt.id, (ask,), _only)


def _decision_json(decision: Decision) -> dict[str, Any]:
    return decision.model_dump(mode="json")


@dataclass(frozen=True)
class _Call:
    """One tool call under review: name, arguments, description, allowed decisions."""

    name: str
    args: dict[str, Any]
    description: str | None
    allowed: frozenset[str]

    @classmethod
    def of(cls, request: Mapping[str, Any], allowed: frozenset[str]) -> _Call:
        name, args = request.get("name"), request.get("args")
        if not isinstance(name, str) or not isinstance(args, Mapping):
            raise InterruptNotSupported(
                f"a tool call without a name and arguments: {_shape(dict(request))}"
            )
        call = cls(name, dict(args), request.get("description") or None, allowed)
        call.check()
        return call

    def check(self) -> None:
        """Refuse a tool whose decisions cannot express an approval and a refusal."""
        missing = []
        if not self.allowed & {"approve", "edit"}:
            missing.append("'approve' (or 'edit')")
        if "reject" not in self.allowed:
            missing.append("'reject'")
        if missing:
            raise InterruptNotSupported(
                f"tool {self.name!r} allows {sorted(self.allowed)}: hitl-slack needs "
                f"{' and '.join(missing)} in its allowed_decisions, so that an approval and "
                "a rejection, expiry or cancellation can all be passed on"
            )

    def ask(
        self,
        key: str,
        summary: Summary,
        fields: dict[str, Any],
        position: tuple[int, int] | None,
    ) -> Ask:
        """The Slack request for this call (the action is the tool's name)."""
        return Ask(
            summary=self.summary(summary, position),
            action=self.name,
            payload=self.args,
            fields=fields
            | {
                "details": fields.get("details") or self.description,
                "idempotency_key": key,
                # The buttons the tool's allowed decisions call for: Edit only if edits are
                # accepted, Respond (a text in the tool's place) only if respond is.
                "editable": "edit" in self.allowed,
                "respond": "respond" in self.allowed,
            },
            answer=lambda d: tool_decision(d, self.name, self.args, self.allowed),
        )

    def summary(self, summary: Summary, position: tuple[int, int] | None) -> str:
        if callable(summary):
            return summary(self.name, dict(self.args))
        text = summary or f"Run {self.name}"
        return f"{text} ({position[0]} of {position[1]})" if position else text


def _schema_decisions(schema: Any) -> frozenset[str]:
    """The decisions a ``per_call`` interrupt's ``response_schema`` allows.

    A schema read no other way allows approve and reject only: an edit is then a rejection.
    """
    if isinstance(schema, Mapping):
        mapping = (schema.get("discriminator") or {}).get("mapping")
        if isinstance(mapping, Mapping):
            return frozenset(str(k) for k in mapping)
        const = ((schema.get("properties") or {}).get("type") or {}).get("const")
        if isinstance(const, str):
            return frozenset({const})
    return frozenset({"approve", "reject"})


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a mapping with keys {sorted(str(k) for k in value)}"
    return f"a {type(value).__name__}"
