"""The header of a held call's Slack message: a template with ``{tool}`` and argument values.

Pure. ``summary = "Pay {amount} to {to.name}"`` in a gate (or ``[defaults]``) names the tool and
arguments by key or dotted path, as ``when`` does; no conversions, no format specs, ``{{`` for a
literal brace. Values are shown as text, each cut at 200 characters, all on one line.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Final

from hitl_slack.jsonvalues import canonical_json
from hitl_slack.mcpgateway.predicates import ABSENT, lookup
from hitl_slack.requests import MAX_SUMMARY_CHARS

__all__ = ["DEFAULT_SUMMARY", "check_template", "render_summary"]

DEFAULT_SUMMARY: Final = "Call {tool}"
_VALUE_CHARS = 200  # longest text one placeholder contributes to a summary
_Formatter = string.Formatter()


def check_template(template: str) -> str:
    """``template`` if it is literal text and ``{tool}`` / ``{<argument path>}`` fields.

    Raises:
        ValueError: a positional or indexed field, a conversion or a format spec, or nothing.
    """
    try:
        parts = list(_Formatter.parse(template))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}; write {{{{ for a literal brace)") from None
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if not field or field.isdigit() or "[" in field:
            raise ValueError(
                f"placeholder {{{field}}} must name {{tool}} or an argument, e.g. {{amount}}"
            )
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}}: no conversions or format specs")
    if not template.strip():
        raise ValueError("must not be empty")
    return template


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    text = " ".join(text.split())
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def render_summary(template: str, tool: str, arguments: Mapping[str, Any]) -> str:
    """The request's summary: ``template`` with ``{tool}`` and argument values filled in.

    Values are shown as text (strings as they are, others as JSON), each cut at 200 characters;
    a missing argument shows ``?``; the whole is cut to the summary limit (500).
    """
    out: list[str] = []
    for literal, field, _, _ in _Formatter.parse(template):
        out.append(literal)
        if field == "tool":
            out.append(tool)
        elif field is not None:
            value = lookup(arguments, field)
            out.append("?" if value is ABSENT else _show(value))
    text = " ".join("".join(out).split()) or f"Call {tool}"
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"
