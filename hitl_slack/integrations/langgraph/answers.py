"""How a Slack decision answers LangChain's ``HumanInTheLoopMiddleware``, and the request keys.

Pure, no I/O. Fail closed: only an approval runs the tool, as the human left it; a response
(Respond, offered only for a tool that allows ``respond``) is passed on as ``respond`` with the
human's text, the tool's result in its place; anything else is a ``reject`` the model reads
(the human's reason, or why no one decided).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from hitl_slack.errors import InvalidRequest
from hitl_slack.models import Decision, Status

__all__ = [
    "CANCELLED",
    "EDIT_NOT_ALLOWED",
    "EXPIRED",
    "idempotency_key",
    "thread_id",
    "tool_decision",
]

#: The reject message of an edit of a tool whose ``allowed_decisions`` have no ``edit``.
EDIT_NOT_ALLOWED: Final = (
    "A reviewer approved `{name}` with edited arguments, but this tool does not accept "
    "edits, so it was not run."
)
EXPIRED: Final = "The approval request expired before anyone decided, so the tool was not run."
CANCELLED: Final = "The approval request was cancelled{why}, so the tool was not run."


def tool_decision(
    decision: Decision, name: str, args: Mapping[str, Any], allowed: frozenset[str]
) -> dict[str, Any]:
    """The middleware's decision for one tool call, from the human's :class:`Decision`.

    ============================  ===========================================================
    Slack                         middleware
    ============================  ===========================================================
    approved as proposed          ``approve`` (``edit`` with the same arguments if the tool
                                  allows only edits)
    approved with edits           ``edit``: the same tool, the edited arguments; ``reject``
                                  (:data:`EDIT_NOT_ALLOWED`) if the tool allows no edits
    rejected                      ``reject`` with the reason as its message (none: the
                                  middleware's own "do not retry" text)
    expired / cancelled           ``reject`` with :data:`EXPIRED` / :data:`CANCELLED`
    ============================  ===========================================================

    Args:
        decision: what the human (or the deadline, or the agent) decided.
        name: the tool's name, kept in an edit (the middleware resolves the tool by it).
        args: the arguments the model proposed.
        allowed: the tool's ``allowed_decisions``.
    """
    if decision.status is Status.ANSWERED and "respond" in allowed:
        return {"type": "respond", "message": str(decision.payload.get("answer", ""))}
    if not decision.approved:
        message = _not_run(decision)
        return {"type": "reject"} if message is None else {"type": "reject", "message": message}
    if decision.edited:
        if "edit" not in allowed:
            return {"type": "reject", "message": EDIT_NOT_ALLOWED.format(name=name)}
        return _edit(name, decision.payload)
    return {"type": "approve"} if "approve" in allowed else _edit(name, args)


def _edit(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "edit", "edited_action": {"name": name, "args": dict(args)}}


def _not_run(decision: Decision) -> str | None:
    if decision.status is Status.EXPIRED:
        return EXPIRED
    if decision.status is Status.CANCELLED:
        return CANCELLED.format(why=f" ({decision.reason})" if decision.reason else "")
    return decision.reason


def thread_id(config: Mapping[str, Any] | None) -> str:
    """The ``configurable.thread_id`` of a LangGraph config, as LangGraph reads it (a str).

    Raises:
        InvalidRequest: there is none (an interrupt needs a checkpointer and a thread).
    """
    configurable = (config or {}).get("configurable") or {}
    value = configurable.get("thread_id")
    if value is None or str(value) == "":
        hint = "an interrupt is resumed from a thread's checkpoint"
        raise InvalidRequest(
            f"invalid config: configurable.thread_id: is required ({hint})",
            [("config.configurable.thread_id", "is required")],
        )
    return str(value)


def idempotency_key(thread: str, interrupt_id: str, index: int) -> str:
    """``langgraph:<thread>:<interrupt id>:<index>``, the key of one Slack request.

    LangGraph gives a paused task the same interrupt id each time it runs again from the same
    checkpoint, so the key is the same after a resume or a restart. A thread id too long for
    the 200 characters of a key is replaced by its sha256.
    """
    key = f"langgraph:{thread}:{interrupt_id}:{index}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(thread.encode()).hexdigest()[:40]
    return f"langgraph:sha256-{digest}:{interrupt_id}:{index}"
