"""Which arguments of a gated function pass through to it unseen by the approver.

Agent frameworks hand a tool function objects that are not arguments a human judges: a run
context (PydanticAI's ``RunContext``, the OpenAI Agents SDK's ``RunContextWrapper`` and
``ToolContext``), LangChain's ``RunnableConfig`` and callback managers, LangGraph's
``ToolRuntime`` and injected state or store, an MCP server's ``Context``. They are not JSON, and
putting them in the payload would fail (or leak them into Slack). They are recognised here by
their annotation's module and class name, so no framework is imported and none becomes a
dependency; ``exclude=`` names any other argument that should pass through.

Everything else stays in the payload, and an argument there that is not plain JSON (a
``Decimal`` amount, say) is still refused: nothing the approver should see may run unseen.

String annotations (``from __future__ import annotations``) are evaluated in the function's
module; one that cannot be (a type imported only under ``TYPE_CHECKING``) is matched by its
distinctive names only (``RunContext[Deps]``, ``Annotated[str, InjectedToolCallId]``), never by
generic ones such as ``Context``. Pure: no I/O.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["hidden_parameters", "is_framework_context"]

#: Framework context and injected-argument types, by top-level package: a class matches when it
#: or one of its bases has one of these names and comes from that package.
FRAMEWORK_CONTEXTS: dict[str, frozenset[str]] = {
    "pydantic_ai": frozenset({"RunContext"}),
    "agents": frozenset({"RunContextWrapper", "ToolContext", "AgentHookContext"}),
    "langchain_core": frozenset(
        {
            "RunnableConfig",
            "CallbackManagerForToolRun",
            "AsyncCallbackManagerForToolRun",
            "InjectedToolArg",  # InjectedToolCallId and LangGraph's injections derive from it
            "_DirectlyInjectedToolArg",  # ToolRuntime derives from it
        }
    ),
    "langchain": frozenset({"ToolRuntime"}),
    "langgraph": frozenset(
        {"ToolRuntime", "Runtime", "InjectedState", "InjectedStore", "BaseStore"}
    ),
    "mcp": frozenset({"Context"}),
}

#: Names distinctive enough to trust in an annotation that cannot be evaluated.
_TEXT_NAMES = frozenset(
    {
        "RunContext",
        "RunContextWrapper",
        "ToolContext",
        "RunnableConfig",
        "CallbackManagerForToolRun",
        "AsyncCallbackManagerForToolRun",
        "ToolRuntime",
        "InjectedToolArg",
        "InjectedToolCallId",
        "InjectedState",
        "InjectedStore",
    }
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: Parameters a method receives that are never payload and never worth listing.
SILENT = frozenset({"self", "cls"})


def _is_context_class(obj: Any) -> bool:
    candidates = inspect.getmro(obj) if isinstance(obj, type) else (obj,)
    for cls in candidates:
        module = getattr(cls, "__module__", None)
        name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", None)
        if (
            isinstance(module, str)
            and isinstance(name, str)
            and name in FRAMEWORK_CONTEXTS.get(module.partition(".")[0], ())
        ):
            return True
    return False


def _is_marker(meta: Any) -> bool:
    """An ``Annotated`` marker such as ``InjectedToolCallId`` (the class or an instance)."""
    return _is_context_class(meta if isinstance(meta, type) else type(meta))


def is_framework_context(annotation: Any) -> bool:
    """Whether an (evaluated) annotation is a framework context or an injected argument.

    ``RunContext[Deps]`` and other generics match by their origin; ``Optional[X]`` and
    ``X | None`` when every non-None member matches; ``Annotated[X, marker]`` when ``X`` or a
    marker matches.
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return any(_is_marker(m) for m in metadata) or is_framework_context(base)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(members) and all(is_framework_context(a) for a in members)
    if origin is not None:
        return _is_context_class(origin)
    return annotation is not inspect.Parameter.empty and _is_context_class(annotation)


def _text_is_context(text: str) -> bool:
    """A string annotation that cannot be evaluated: judged by its distinctive names."""
    names = [n.rpartition(".")[2] for n in _NAME.findall(text)]
    if not names:
        return False
    if names[0] in ("Annotated", "typing.Annotated"):
        return any(n in _TEXT_NAMES for n in names[1:])
    members = [n for n in names if n not in ("Optional", "Union", "None")]
    head = members[0] if members else ""
    return head in _TEXT_NAMES


def _annotation_is_context(annotation: Any, fn: Callable[..., Any], depth: int = 0) -> bool:
    if not isinstance(annotation, str):
        return is_framework_context(annotation)
    target = inspect.unwrap(fn)
    namespace = dict(getattr(target, "__globals__", {}))
    try:
        # The function's own module namespace, as typing.get_type_hints would use it.
        evaluated = eval(annotation, namespace)  # noqa: S307
    except Exception:  # whatever stops the evaluation (NameError...): judge the text
        return _text_is_context(annotation)
    if isinstance(evaluated, str) and depth < 2:  # a quoted annotation under the future import
        return _annotation_is_context(evaluated, fn, depth + 1)
    return is_framework_context(evaluated)


def hidden_parameters(
    fn: Callable[..., Any], signature: inspect.Signature, exclude: Iterable[str]
) -> tuple[str, ...]:
    """The parameters of ``fn`` that pass through unseen, in signature order: those named in
    ``exclude`` and those annotated with a framework context type (``self`` and ``cls`` are
    never payload either, and are left out of this list)."""
    excluded = set(exclude)
    return tuple(
        name
        for name, param in signature.parameters.items()
        if name not in SILENT and (name in excluded or _annotation_is_context(param.annotation, fn))
    )
