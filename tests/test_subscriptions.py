"""The hubs' subscription bookkeeping, driven by hand (pure: no Redis)."""

from __future__ import annotations

from hitl_slack.agent.subscriptions import CHUNK, Subscriptions, parse_push
from hitl_slack.keys import Keys

K = Keys("p")


def ch(rid: str) -> str:
    return K.decided_channel(rid)


def test_waits_started_together_are_subscribed_in_one_command_and_read_once_confirmed():
    subs: Subscriptions[str] = Subscriptions(K)
    for rid in ("a", "b", "c"):
        subs.add(rid, f"w-{rid}")
    [command] = subs.take_commands()
    assert command[0] == "SUBSCRIBE"
    assert sorted(command[1:]) == sorted(ch(r) for r in "abc")
    assert subs.take_reads(10) == []  # nothing in force before Redis confirms
    assert subs.confirmed("subscribe", ch("b")) is subs.entries[ch("b")]
    assert [e.request_id for e in subs.take_reads(10)] == ["b"]
    assert subs.take_reads(10) == []  # read once


def test_thousands_of_channels_are_chunked():
    subs: Subscriptions[int] = Subscriptions(K)
    for i in range(CHUNK * 2 + 1):
        subs.add(f"r{i}", i)
    assert [len(c) - 1 for c in subs.take_commands()] == [CHUNK, CHUNK, 1]


def test_a_channel_left_and_rejoined_is_in_force_only_after_its_last_subscribe():
    subs: Subscriptions[str] = Subscriptions(K)
    subs.add("a", "w1")
    subs.take_commands()
    subs.confirmed("subscribe", ch("a"))
    subs.take_reads(10)
    subs.discard("a", "w1")
    assert subs.take_commands() == [("UNSUBSCRIBE", ch("a"))]
    subs.add("a", "w2")
    assert subs.take_commands() == [("SUBSCRIBE", ch("a"))]
    assert subs.confirmed("unsubscribe", ch("a")) is None
    assert not subs.entries[ch("a")].in_force  # the old confirmation does not count
    assert subs.confirmed("subscribe", ch("a")) is not None
    assert [e.waiters for e in subs.take_reads(10)] == [{"w2"}]


def test_a_wait_joining_a_channel_in_force_gets_it_read_again():
    subs: Subscriptions[str] = Subscriptions(K)
    subs.add("a", "w1")
    subs.take_commands()
    subs.confirmed("subscribe", ch("a"))
    subs.take_reads(10)
    subs.add("a", "w2")
    assert subs.take_commands() == []
    assert [e.request_id for e in subs.take_reads(10)] == ["a"]


def test_after_a_lost_connection_every_waited_channel_is_subscribed_and_read_again():
    subs: Subscriptions[str] = Subscriptions(K)
    subs.add("a", "w1")
    subs.add("b", "w2")
    subs.take_commands()
    subs.confirmed("subscribe", ch("a"))
    subs.discard("b", "w2")
    subs.lost()
    assert ch("b") not in subs.entries  # nobody waits on it any more: forgotten
    assert subs.take_commands() == [("SUBSCRIBE", ch("a"))]
    assert subs.take_reads(10) == []
    subs.confirmed("subscribe", ch("a"))
    assert [e.request_id for e in subs.take_reads(10)] == ["a"]


def test_unsubscribed_channels_are_forgotten_once_confirmed():
    subs: Subscriptions[str] = Subscriptions(K)
    subs.add("a", "w1")
    subs.take_commands()
    subs.confirmed("subscribe", ch("a"))
    subs.discard("a", "w1")
    subs.take_commands()
    subs.confirmed("unsubscribe", ch("a"))
    assert subs.entries == {}


def test_push_replies_of_both_protocols_are_parsed():
    assert parse_push(["message", "c", "{}"]) == ("message", "c", "{}")
    assert parse_push([b"subscribe", b"c", 1]) == ("subscribe", "c", 1)
    assert parse_push(["pong", ""]) is None
    assert parse_push("PONG") is None
    assert parse_push(["psubscribe", "c", 1]) is None
