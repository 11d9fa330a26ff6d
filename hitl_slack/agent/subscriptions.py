"""Which decided channels one pub/sub connection should be on, and which are in force (pure).

The sync and the async decision hubs (:mod:`hitl_slack.agent.waiting`) drive this bookkeeping with
their own I/O; it holds no socket, no lock and no clock. Its rules:

* A channel is wanted while at least one wait is on it. The driver asks :meth:`take_commands`
  for what to send; every channel that became wanted (or unwanted) since the last call goes into
  ONE ``SUBSCRIBE`` (``UNSUBSCRIBE``) command, so 10,000 waits started together cost a handful
  of round trips, not 10,000.
* Redis confirms each channel of a command in order. A subscription is *in force* once the
  confirmation of the last command sent for that channel is a ``subscribe``; only then may the
  request's state be read (a decision written earlier is in the state, a later one arrives as a
  message), so nothing falls between the read and the subscription.
* When the connection is lost (:meth:`lost`), nothing is in force any more; every wanted
  channel is subscribed again on the next connection and, once confirmed, read again, because
  messages published while disconnected are gone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hitl_slack.keys import Keys

__all__ = ["Entry", "Subscriptions"]

W = TypeVar("W")

#: Channels per SUBSCRIBE / UNSUBSCRIBE command: big enough to batch, small enough that one
#: command never holds Redis' thread long.
CHUNK = 1000


@dataclass(eq=False)
class Entry(Generic[W]):
    """One request's channel: its waits and where its subscription stands.

    Attributes:
        request_id: the request waited on.
        waiters: the driver's handles of the waits (futures).
        ops: commands sent for this channel whose confirmation has not come yet
            (True = SUBSCRIBE, False = UNSUBSCRIBE), oldest first.
        in_force: subscribed, confirmed, and no UNSUBSCRIBE sent since.
        checked: the state was read while the subscription was in force.
    """

    request_id: str
    waiters: set[W] = field(default_factory=set)
    ops: deque[bool] = field(default_factory=deque)
    in_force: bool = False
    checked: bool = False


@dataclass
class Subscriptions(Generic[W]):
    """The subscription state of one pub/sub connection (see the module docstring)."""

    keys: Keys
    entries: dict[str, Entry[W]] = field(default_factory=dict)
    _sent: set[str] = field(default_factory=set)  # last command sent was SUBSCRIBE
    _dirty: set[str] = field(default_factory=set)  # wanted may differ from sent
    _to_read: dict[str, Entry[W]] = field(default_factory=dict)  # in force, state not read

    def add(self, request_id: str, waiter: W) -> Entry[W]:
        """Register a wait; returns its entry (check ``in_force`` and ``checked``)."""
        channel = self.keys.decided_channel(request_id)
        entry = self.entries.get(channel)
        if entry is None:
            entry = self.entries[channel] = Entry(request_id)
        entry.waiters.add(waiter)
        if channel not in self._sent:
            self._dirty.add(channel)
        elif entry.in_force:
            self.reread(entry)  # a decision may have come just before this wait joined
        return entry

    def reread(self, entry: Entry[W]) -> None:
        """Have ``entry``'s state read (again), e.g. after a message that did not parse."""
        entry.checked = False
        if entry.in_force:
            self._to_read[self.keys.decided_channel(entry.request_id)] = entry

    def discard(self, request_id: str, waiter: W) -> None:
        """A wait ended; its channel is unsubscribed once no wait is left on it."""
        channel = self.keys.decided_channel(request_id)
        entry = self.entries.get(channel)
        if entry is None:
            return
        entry.waiters.discard(waiter)
        if not entry.waiters:
            self._dirty.add(channel)

    @property
    def has_commands(self) -> bool:
        """Whether :meth:`take_commands` has anything to send."""
        return bool(self._dirty)

    def take_commands(self) -> list[tuple[str, ...]]:
        """The commands to send now, in order; call right before sending them."""
        subscribe: list[str] = []
        unsubscribe: list[str] = []
        for channel in self._dirty:
            entry = self.entries.get(channel)
            wanted = entry is not None and bool(entry.waiters)
            sent = channel in self._sent
            if wanted and not sent and entry is not None:
                subscribe.append(channel)
                self._sent.add(channel)
                entry.ops.append(True)
            elif not wanted and sent:
                unsubscribe.append(channel)
                self._sent.discard(channel)
                if entry is not None:
                    entry.ops.append(False)
                    entry.in_force = entry.checked = False
                    self._to_read.pop(channel, None)
            elif not wanted and entry is not None and not entry.ops:
                del self.entries[channel]
        self._dirty.clear()
        return [*_chunks("SUBSCRIBE", subscribe), *_chunks("UNSUBSCRIBE", unsubscribe)]

    def confirmed(self, kind: str, channel: str) -> Entry[W] | None:
        """Redis confirmed a (un)subscription; returns the entry if it just came in force."""
        entry = self.entries.get(channel)
        if entry is None or not entry.ops:
            return None  # not ours (or from before a reconnect)
        entry.ops.popleft()
        if entry.ops:
            return None  # a later command for this channel is still on its way
        if kind == "subscribe" and channel in self._sent:
            entry.in_force = True
            self.reread(entry)
            return entry
        if not entry.waiters and channel not in self._sent:
            del self.entries[channel]
        return None

    def lost(self) -> None:
        """The connection dropped: nothing is in force; wanted channels are subscribed again."""
        self._sent.clear()
        self._dirty.clear()
        self._to_read.clear()
        for channel, entry in list(self.entries.items()):
            entry.ops.clear()
            entry.in_force = entry.checked = False
            if entry.waiters:
                self._dirty.add(channel)
            else:
                del self.entries[channel]

    def take_reads(self, limit: int) -> list[Entry[W]]:
        """Up to ``limit`` entries in force, with waits, whose state is to be read; they are
        marked read (hand them back with :meth:`reread` if the read fails)."""
        out: list[Entry[W]] = []
        while self._to_read and len(out) < limit:
            channel = next(iter(self._to_read))
            entry = self._to_read.pop(channel)
            if entry.in_force and entry.waiters and self.entries.get(channel) is entry:
                entry.checked = True
                out.append(entry)
        return out

    def waiting(self) -> Iterator[W]:
        """Every wait registered."""
        for entry in self.entries.values():
            yield from entry.waiters


def _chunks(command: str, channels: list[str]) -> Iterable[tuple[str, ...]]:
    for i in range(0, len(channels), CHUNK):
        yield (command, *channels[i : i + CHUNK])


def parse_push(reply: Any) -> tuple[str, str, Any] | None:
    """``(kind, channel, data)`` of a pub/sub reply (RESP2 array or RESP3 push), or None.

    Kinds: ``subscribe``, ``unsubscribe``, ``message``; anything else (a ``pong``) is None.
    """
    if not isinstance(reply, list | tuple) or len(reply) < 3:
        return None
    kind, channel, data = reply[0], reply[1], reply[2]
    if isinstance(kind, bytes):
        kind = kind.decode()
    if isinstance(channel, bytes):
        channel = channel.decode()
    if kind not in ("subscribe", "unsubscribe", "message") or not isinstance(channel, str):
        return None
    return kind, channel, data
