"""structlog routed through stdlib ``logging`` in-process, as :func:`hitl_slack.logs.configure`
does in the bot, so pytest's ``caplog`` sees every line (structlog's and stdlib's, in order)
with its fields and bound context as record attributes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog


@contextmanager
def structlog_to_stdlib() -> Iterator[None]:
    """Route structlog to stdlib loggers named like the module, event name as the message."""
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.render_to_log_kwargs,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)
