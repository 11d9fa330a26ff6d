"""Every Lua script of the lifecycle, in one list (each lives next to its wrapper).

Each script is a string constant with a ``KEYS`` / ``ARGV`` header, kept in the module of the
one function that builds its arguments and maps its return codes (rq's ``scripts.py``):
:mod:`~hitl_slack.lifecycle.creation`, :mod:`~hitl_slack.lifecycle.transition`,
:mod:`~hitl_slack.lifecycle.posting`, :mod:`~hitl_slack.lifecycle.schedule`,
:mod:`~hitl_slack.lifecycle.auditing`, :mod:`~hitl_slack.lifecycle.listing`. This module only
gathers them, for whoever wants them all (``SCRIPT LOAD`` at start, a benchmark).
"""

from __future__ import annotations

from hitl_slack.lifecycle.auditing import AUDIT_APPEND, SEAL
from hitl_slack.lifecycle.commands import LuaScript
from hitl_slack.lifecycle.creation import CREATE
from hitl_slack.lifecycle.followup import ADD_COPY, ADVANCE, MARK_ONCE
from hitl_slack.lifecycle.listing import CACHE_PERMALINK
from hitl_slack.lifecycle.posting import MARK_POSTED, READ_POSTING
from hitl_slack.lifecycle.schedule import MIGRATE
from hitl_slack.lifecycle.transition import TRANSITION
from hitl_slack.lifecycle.voting import VOTE

__all__ = [
    "ADD_COPY",
    "ADVANCE",
    "ALL",
    "AUDIT_APPEND",
    "CACHE_PERMALINK",
    "CREATE",
    "MARK_ONCE",
    "MARK_POSTED",
    "MIGRATE",
    "READ_POSTING",
    "SEAL",
    "TRANSITION",
    "VOTE",
    "LuaScript",
]

ALL: tuple[LuaScript, ...] = (
    ADD_COPY,
    ADVANCE,
    AUDIT_APPEND,
    CACHE_PERMALINK,
    CREATE,
    MARK_POSTED,
    MIGRATE,
    READ_POSTING,
    SEAL,
    MARK_ONCE,
    TRANSITION,
    VOTE,
)
