"""The request lifecycle as pure generators of Redis commands (sans-I/O), in one namespace.

Each step is written once, as a generator that yields :class:`Command`, :class:`Batch` or
:class:`Eval` values and receives their results; :mod:`hitl_slack.lifecycle.store` drives it
with a sync or an async Redis client. The steps live by concern, each Lua script next to the
function that builds its KEYS/ARGV and maps its return codes:

======================================== ===================================================
module                                   what
======================================== ===================================================
:mod:`~hitl_slack.lifecycle.commands`    Command / Batch / Eval / LuaScript, Lua helpers
:mod:`~hitl_slack.lifecycle.config`      :class:`StoreConfig`
:mod:`~hitl_slack.lifecycle.reading`     :func:`get`, :func:`parse_state`
:mod:`~hitl_slack.lifecycle.creation`    CREATE, :func:`create`
:mod:`~hitl_slack.lifecycle.transition`  TRANSITION, :func:`decide`, :func:`expire`,
                                         :func:`current`
:mod:`~hitl_slack.lifecycle.replicas`    WAIT before a decision is announced
:mod:`~hitl_slack.lifecycle.posting`     READ_POSTING, MARK_POSTED, :func:`read_posting`,
                                         :func:`mark_posted`
:mod:`~hitl_slack.lifecycle.timers`      :class:`Timer` (pure: timer set members)
:mod:`~hitl_slack.lifecycle.schedule`    MIGRATE, :func:`due_timers`, :func:`next_timer`,
                                         :func:`drop_timer`, :func:`set_aside`, :func:`migrate`
:mod:`~hitl_slack.lifecycle.auditing`    AUDIT_APPEND, SEAL, :func:`audit`
:mod:`~hitl_slack.lifecycle.deadletters` :class:`DeadLetter`, :func:`dead_letter`
:mod:`~hitl_slack.lifecycle.listing`     the pending index, read for listings
======================================== ===================================================

This module re-exports them, so ``from hitl_slack.lifecycle import ops; ops.decide(...)``
keeps working.
"""

from __future__ import annotations

from hitl_slack.lifecycle.auditing import audit
from hitl_slack.lifecycle.commands import Batch, Command, Eval, Gen, LuaScript, Op
from hitl_slack.lifecycle.config import DEFAULT_RETENTION, StoreConfig
from hitl_slack.lifecycle.creation import create
from hitl_slack.lifecycle.deadletters import DeadLetter, dead_letter
from hitl_slack.lifecycle.listing import pending
from hitl_slack.lifecycle.posting import Posted, mark_posted, read_posting
from hitl_slack.lifecycle.reading import decision_from_message, get, parse_state
from hitl_slack.lifecycle.schedule import drop_timer, due_timers, migrate, next_timer, set_aside
from hitl_slack.lifecycle.timers import Timer
from hitl_slack.lifecycle.transition import NotDue, current, decide, expire

__all__ = [
    "DEFAULT_RETENTION",
    "Batch",
    "Command",
    "DeadLetter",
    "Eval",
    "Gen",
    "LuaScript",
    "NotDue",
    "Op",
    "Posted",
    "StoreConfig",
    "Timer",
    "audit",
    "create",
    "current",
    "dead_letter",
    "decide",
    "decision_from_message",
    "drop_timer",
    "due_timers",
    "expire",
    "get",
    "mark_posted",
    "migrate",
    "next_timer",
    "parse_state",
    "pending",
    "read_posting",
    "set_aside",
]
