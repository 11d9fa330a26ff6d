"""The one logging setup: structlog for our lines, stdlib loggers (Bolt, slack_sdk) through it.

Called once by the CLI. Service and CLI code log through :func:`get_logger` with a snake_case
event and fields as keywords::

    log = get_logger(__name__)
    log.info("request_posted", request_id=request_id, channel=channel)

and bind the request a unit of work is about with :func:`bound`, so every line logged inside
(ours, and Bolt's or slack_sdk's through stdlib ``logging``) carries it. Code that runs inside
agents (:mod:`hitl_slack.agent`, :mod:`hitl_slack.lifecycle`) only uses stdlib ``logging``
with a ``NullHandler`` and never configures anything.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.contextvars import bound_contextvars

__all__ = ["bound", "configure", "get_logger", "route_to_stdlib"]

#: Bind fields (``request_id=...``) to every line logged inside a ``with`` block (or a decorated
#: function), then restore what was bound before. It is structlog's ``bound_contextvars``: the
#: fields live in a context variable, so they follow the work into the tasks it starts and reach
#: stdlib loggers too (``merge_contextvars`` is in both chains of :func:`configure`)::
#:
#:     with bound(request_id=request_id):
#:         await relay.post(request_id)  # every line logged meanwhile has "request_id"
bound = bound_contextvars


def configure(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (stderr) as JSON lines or console text.

    Args:
        level: the root logger's level (``LOG_LEVEL``).
        fmt: ``json`` (one object per line: ``event``, ``level``, ``logger``, ``timestamp``
            and the line's fields as keys) or ``console``.
        stream: where lines go; stderr by default.
    """
    out = stream if stream is not None else sys.stderr
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _renderer(fmt, out),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _renderer(fmt: str, out: TextIO) -> structlog.types.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=out.isatty())


def route_to_stdlib() -> None:
    """Until :func:`configure` runs, send structlog's lines to stdlib ``logging`` untouched.

    Without it, service code used from another program (a test, a benchmark, an embedding
    application) would print every line, DEBUG included, to stdout: structlog's own default.
    Through stdlib ``logging`` the host's handlers and levels decide (with none configured,
    only warnings and errors reach stderr). The event is the record's message and each field,
    bound context included, an attribute of the record (what pytest's ``caplog`` reads).
    """
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger backed by the stdlib logger ``name`` (service and CLI code only)."""
    if not structlog.is_configured():
        route_to_stdlib()
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
