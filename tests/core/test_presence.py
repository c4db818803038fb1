"""Presence by deltas without sockets (docs/protocol.md, "Presence").

A room collects its changes for a tick and sends one event, to everyone in
the room then: a net difference per member id, ``count`` after it. Clients
apply events to a map ``id -> name`` in any order, over a member list
fetched at any moment; these tests hold the core to that, with a Hypothesis
property over any sequence of joins, leaves, renames, pages and ticks.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsnb.core import RoomLimits
from wsnb.core.presence import MAX_CHANGES, PresenceBatch, presence_delay

from .protocol import Chat, apply_presence, member, presence_data, truth

# The batch: net differences per id


def test_a_join_then_a_rename_is_one_join_under_the_new_name():
    batch = PresenceBatch()
    batch.join(4, "guest-4")
    batch.rename(4, "bob", was="guest-4")
    assert batch.data(count=4) == presence_data(4, joined=[member(4, "bob")])


def test_a_join_then_a_leave_is_the_leave_alone():
    batch = PresenceBatch()
    batch.join(4, "bob")
    batch.rename(4, "robert", was="bob")
    batch.leave(4, "robert")
    assert batch.data(count=3) == presence_data(3, left=[member(4, "robert")])


def test_renames_in_a_row_are_one_rename_from_the_first_name_to_the_last():
    batch = PresenceBatch()
    batch.rename(1, "b", was="a")
    batch.rename(1, "c", was="b")
    assert batch.data(count=1) == presence_data(1, renamed=[{"id": 1, "name": "c", "was": "a"}])


def test_a_rename_back_to_the_first_name_is_no_change():
    """a -> b -> a in one tick, or hello with the name one has: nothing to tell."""
    batch = PresenceBatch()
    batch.rename(1, "b", was="a")
    batch.rename(1, "a", was="b")
    batch.rename(2, "c", was="c")
    assert len(batch) == 0
    assert batch.data(count=2)["renamed"] == []


def test_a_rename_then_a_leave_is_the_leave():
    batch = PresenceBatch()
    batch.rename(1, "b", was="a")
    batch.leave(1, "b")
    assert batch.data(count=0) == presence_data(0, left=[member(1, "b")])


def test_data_empties_the_batch_and_lists_each_kind_in_order():
    batch = PresenceBatch()
    for member_id in (3, 1, 2):
        batch.join(member_id, f"m{member_id}")
    batch.leave(7, "gone")
    assert len(batch) == 4
    data = batch.data(count=9)
    assert [m["id"] for m in data["joined"]] == [3, 1, 2] and data["left"] == [member(7, "gone")]
    assert len(batch) == 0 and batch.data(count=9) == presence_data(9)


@pytest.mark.parametrize(
    ("members", "delay"),
    [(1, 0.05), (250, 0.05), (251, 0.0502), (4000, 0.8), (5_000, 1.0), (50_000, 1.0)],
)
def test_the_tick_is_50_ms_longer_over_500_members_at_most_1_s(members, delay):
    assert presence_delay(members, 0.05, 1.0) == pytest.approx(delay)


# Batching in RoomsCore


def test_a_burst_of_joins_is_one_event_per_tick_with_the_count():
    chat = Chat()
    keys = [f"k{i}" for i in range(1, 61)]
    chat.connect(*keys)
    chat.join("lobby", *keys[:10])
    chat.tick()
    chat.join("lobby", *keys[10:])
    (event,) = chat.tick()
    assert event.to == tuple(keys)
    assert event.message["data"] == presence_data(
        60, joined=[member(i, f"k{i}") for i in range(11, 61)]
    )
    assert chat.tick() == []


def test_take_due_gives_each_changed_room_once_with_its_delay():
    limits = RoomLimits(presence_interval=0.05, presence_max_interval=1.0, members_page=1)
    chat = Chat(limits)  # a page of 1: cheap joins, the page is not under test
    keys = [f"k{i}" for i in range(700)]
    chat.connect(*keys)
    chat.join("big", *keys[:600])
    chat.join("small", *keys[600:])
    due = dict(chat.core.take_due())
    assert due == {"big": pytest.approx(0.12), "small": 0.05}
    assert chat.core.take_due() == [] and not chat.core.presence_due
    chat.core.flush_presence()  # every room
    assert chat.core.flush_presence("big") == [] and chat.core.flush_presence("nowhere") == []


def test_the_leaver_is_not_told_the_others_get_the_net_change():
    """In one tick: dave joins and leaves, erin joins and renames, bob leaves."""
    chat = Chat()
    chat.connect("ada", "bob", "carol", "dave", "erin")
    chat.join("lobby", "ada", "bob", "carol")
    chat.tick()
    chat.join("lobby", "dave", "erin")
    chat.ok("dave", "leave", "lobby")
    chat.ok("erin", "hello", name="Erin")
    chat.ok("bob", "leave", "lobby")
    (event,) = chat.tick()
    assert event.to == ("ada", "carol", "erin")  # neither bob nor dave
    assert event.message["data"] == presence_data(
        3, joined=[member(5, "Erin")], left=[member(4, "dave"), member(2, "bob")]
    )


def test_a_room_emptied_in_its_tick_sends_nothing():
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada", "bob")
    chat.ok("ada", "publish", "lobby", body="keeps the room")
    chat.ok("ada", "leave", "lobby")
    chat.ok("bob", "leave", "lobby")
    assert chat.tick() == []
    chat.ok("ada", "join", "quiet")
    chat.ok("ada", "leave", "quiet")  # never a message: kept, and nobody to tell
    assert chat.tick() == [] and chat.core.names() == ["lobby", "quiet"]


def test_presence_interval_0_sends_each_change_at_once():
    chat = Chat(RoomLimits(presence_interval=0))
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    out = chat.send("bob", "join", "lobby")
    assert [(o.to, o.message["type"]) for o in out] == [
        (("bob",), "reply"),
        (("ada", "bob"), "presence"),
    ]
    assert out[1].message["data"] == presence_data(2, joined=[member(2, "bob")])
    out = chat.send("bob", "hello", name="robert")
    assert out[1].message["data"]["renamed"] == [{"id": 2, "name": "robert", "was": "bob"}]
    out = chat.send("bob", "leave", "lobby")
    assert [(o.to, o.message["data"]["left"]) for o in out[1:]] == [
        (("ada",), [member(2, "robert")])
    ]
    assert not chat.core.presence_due and chat.tick() == []


def test_a_batch_of_1000_changes_goes_at_once():
    """An event holds at most MAX_CHANGES changes: the 1000th change sends the batch."""
    chat = Chat(RoomLimits(members_page=1, max_page=1000))
    keys = [f"k{i}" for i in range(1, MAX_CHANGES + 3)]
    chat.connect(*keys)
    chat.ok("k1", "join", "lobby")
    chat.tick()
    sent = []
    for key in keys[1:]:
        sent += [o for o in chat.send(key, "join", "lobby") if o.message["type"] == "presence"]
    (full,) = sent
    assert len(full.message["data"]["joined"]) == MAX_CHANGES
    (rest,) = chat.tick()
    assert rest.message["data"]["joined"] == [member(len(keys), keys[-1])]
    assert rest.message["data"]["count"] == len(keys)


def _numbers_blanked(text: str) -> str:
    return re.sub(r"\d+", "0", text)


def test_a_presence_event_does_not_grow_with_the_room():
    """One join into a room of 10 or of 2000: the same event, but for the digits."""
    sizes = {}
    for size in (10, 2000):
        chat = Chat(RoomLimits(members_page=1))  # cheap joins: the page is not under test
        keys = [f"k{i}" for i in range(size)]
        chat.connect(*keys, "newcomer")
        chat.join("lobby", *keys)
        chat.tick()
        chat.ok("newcomer", "join", "lobby")
        (event,) = chat.tick()
        assert len(event.to) == size + 1
        sizes[size] = _numbers_blanked(event.text)
    assert sizes[10] == sizes[2000] and len(sizes[2000]) < 200


# Applying events over a page fetched at any moment gives the right member map


KEYS = [f"k{i}" for i in range(6)]
ops = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "rename", "tick", "page"]),
        st.sampled_from(KEYS),
        st.integers(0, 3),
    ),
    max_size=60,
)


class Client:
    """What one connection knows of the room, from its replies and events, in arrival order."""

    def __init__(self) -> None:
        self.members: dict[int, str] | None = None  # None: not in the room
        self.next: int | None = None  # the next page to fetch, if any

    def page(self, reply: dict[str, Any]) -> None:
        assert self.members is not None
        for entry in reply["members"]:
            self.members[entry["id"]] = entry["name"]
        self.next = reply["next"] if "next" in reply else self._next_of(reply)

    @staticmethod
    def _next_of(join: dict[str, Any]) -> int | None:
        return join["members"][-1]["id"] if len(join["members"]) < join["count"] else None


def _deliver(chat: Chat, clients: dict[str, Client], out) -> None:
    for o in out:
        message = o.message
        for key in o.to:
            if message["type"] == "presence":
                assert clients[key].members is not None, "told of a room it is not in"
                apply_presence(clients[key].members, message["data"])


def _step(chat: Chat, clients: dict[str, Client], op: str, key: str, n: int) -> None:
    """One move of one connection (or the tick), and what it gets delivered."""
    client = clients[key]
    if op == "join":
        out = chat.send(key, "join", "lobby")
        if client.members is None:
            client.members = {}
        client.page(out[0].message["data"])
    elif op == "leave" and client.members is not None:
        out = chat.send(key, "leave", "lobby")
        client.members = None
    elif op == "rename":
        out = chat.send(key, "hello", name=f"{key}-{n}")
    elif op == "page" and client.members is not None and client.next is not None:
        out = chat.send(key, "members", "lobby", after=client.next, limit=1 + n)
        client.page(out[0].message["data"])
    elif op == "tick":
        out = chat.tick()
    else:
        return
    _deliver(chat, clients, out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_events_applied_over_pages_fetched_mid_tick_give_the_right_member_map(steps):
    """Any joins, leaves, renames, pages (2 members in a join reply) and ticks: once each
    member has fetched its pages and the last tick is applied, its map is the room's."""
    chat = Chat(RoomLimits(members_page=2))
    chat.connect(*KEYS)
    clients = {key: Client() for key in KEYS}
    for op, key, n in steps:
        _step(chat, clients, op, key, n)
    for key, client in clients.items():
        while client.members is not None and client.next is not None:
            client.page(chat.ok(key, "members", "lobby", after=client.next))
    final = chat.tick()
    _deliver(chat, clients, final)
    if "lobby" not in chat.core.names():  # nobody ever joined
        assert all(c.members is None for c in clients.values())
        return
    members = truth(chat, "lobby")
    for o in final:
        assert o.message["data"]["count"] == len(members)
    for key, client in clients.items():
        assert (client.members is not None) == (key in chat.core.room("lobby").members)
        if client.members is not None:
            assert client.members == members, key
