"""The server's limits without sockets (docs/protocol.md, "Limits"): every frame within
1 MiB, too_large publishes, replies cut to fit (and paged with more), rooms forgotten,
rooms per connection and per server, the history budget."""

from __future__ import annotations

import json

import pytest

from wsnb.core import RoomLimits

from .protocol import NOW, Chat, MiB, body_seqs, wire_checked

LIMITS = RoomLimits()
MAX_EVENT = LIMITS.max_event_bytes  # 960 KiB


def event_bytes(room: str, sender: str, body: str, seq: int = 1, epoch: str = "ep1") -> int:
    """The size of the message event Chat's core builds for ``body``."""
    event = {
        "type": "message",
        "room": room,
        "epoch": epoch,
        "seq": seq,
        "data": {"from": sender, "body": body, "time": NOW},
    }
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())


def body_of_event_size(size: int, room: str = "lobby", sender: str = "ada", char: str = "x") -> str:
    """A body whose message event is exactly ``size`` bytes."""
    overhead = event_bytes(room, sender, "")
    count, rest = divmod(size - overhead, len(char.encode()))
    return char * count + "x" * rest


# too_large: the message event, in bytes, against 960 KiB


@pytest.mark.parametrize("char", ["x", "é", "𝄞"], ids=["ascii", "2-byte", "4-byte"])
def test_a_message_event_at_960_kib_is_published_one_byte_more_is_too_large(char):
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada", "bob")
    body = body_of_event_size(MAX_EVENT, char=char)
    out = chat.send("ada", "publish", "lobby", body=body)
    assert len(out[1].text.encode()) == MAX_EVENT == 960 * 1024
    before = chat.snapshot()
    out = chat.send("ada", "publish", "lobby", id=3, body=body + "x")
    assert [(o.to, o.message["code"], o.message["path"]) for o in out] == [
        (("ada",), "too_large", "data.body")
    ]
    assert str(MAX_EVENT) in out[0].message["message"]
    assert chat.snapshot() == before
    with pytest.raises(ValueError):
        chat.core.publish("lobby", body + "x" * 100, "ada")


def test_a_too_large_publish_without_a_reply_still_gets_its_error():
    chat = Chat()
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    out = chat.send("ada", "publish", "lobby", body="x" * MAX_EVENT, reply=False)
    assert [o.message["code"] for o in out] == ["too_large"]


# Every reply fits in 1 MiB: lists of messages are cut, a page says more


def big_room(count: int = 20, size: int = 100_000) -> Chat:
    """lobby with ``count`` messages of about ``size`` bytes (ada in it, bob connected)."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    for i in range(count):
        chat.ok("ada", "publish", "lobby", body=f"{i:03d}" + "x" * size)
    return chat


def test_a_plain_join_over_1_mib_of_history_gets_the_newest_that_fit():
    chat = big_room()  # 20 x 100 kB: 2 MB
    out = wire_checked(chat.send("bob", "join", "lobby"))
    history = out[0].message["data"]["history"]
    assert 5 <= len(history) < 20
    assert body_seqs(history) == list(range(21 - len(history), 21))  # the newest
    assert len(out[0].text.encode()) > MiB - 2 * 100_000  # cut near the limit, not early
    newest = chat.ok("bob", "history", "lobby")["messages"]
    assert body_seqs(newest) == body_seqs(history)


def test_history_since_pages_are_cut_by_bytes_with_more():
    chat = big_room()
    got, since, more = [], 0, True
    while more:
        out = wire_checked(chat.send("bob", "history", "lobby", since=since))
        data = out[0].message["data"]
        assert data["messages"], "a page always moves on"
        got += body_seqs(data["messages"])
        since, more = got[-1], data["more"]
    assert got == list(range(1, 21))
    first = chat.ok("bob", "history", "lobby", since=0)
    assert first["more"] is True and len(first["messages"]) < 20


def test_a_resume_over_more_than_1_mib_is_recovered_with_more_then_paged():
    chat = big_room()
    out = wire_checked(chat.send("bob", "join", "lobby", since={"epoch": "ep1", "seq": 2}))
    data = out[0].message["data"]
    assert (data["recovered"], data["more"]) == (True, True)
    got = body_seqs(data["history"])
    assert got == list(range(3, 3 + len(got))) and len(got) < 18  # the oldest of the gap
    while True:
        page = chat.ok("bob", "history", "lobby", since=got[-1])
        got += body_seqs(page["messages"])
        if not page["more"]:
            break
    assert got == list(range(3, 21))


def test_one_message_of_the_largest_size_fits_any_reply_whatever_else_is_in_it():
    """The worst case the limits allow: a 64-character id, room name and 100 member names
    of 4-byte characters, around a message of 960 KiB: the join reply still fits."""
    room, name, wide_id = "𝄞" * 64, "𝄞" * 32, "𝄞" * 64
    chat = Chat()
    keys = [f"k{i}" for i in range(100)]
    chat.connect(*keys)
    for key in keys:
        chat.ok(key, "hello", name=name)
        chat.ok(key, "join", room)
    chat.ok("k0", "publish", room, body=body_of_event_size(MAX_EVENT, room, name, char="𝄞"))
    out = chat.send("k1", "join", room, id=wide_id)
    assert len(out[0].text.encode()) <= MiB
    assert (
        len(out[0].message["data"]["members"]) == 100
        and len(out[0].message["data"]["history"]) == 1
    )
    out = chat.send("k1", "history", room, id=wide_id, since=0)
    assert len(out[0].text.encode()) <= MiB and out[0].message["data"]["more"] is False


def test_the_join_page_is_100_members_whatever_the_room_size():
    chat = Chat()
    keys = [f"k{i:04d}" for i in range(1, 301)]
    chat.connect(*keys)
    sizes = {}
    for i, key in enumerate(keys, 1):
        data = chat.send(key, "join", "lobby")[0]
        if i in (150, 300):
            assert len(data.message["data"]["members"]) == 100
            assert data.message["data"]["count"] == i
            sizes[i] = len(data.text)
    assert sizes[150] == sizes[300]  # the same page, whatever the room holds beyond it


def test_the_rooms_reply_of_1000_rooms_with_the_longest_names_fits():
    chat = Chat()
    chat.connect("ada")
    for i in range(1000):
        chat.core.publish("𝄞" * 60 + f"{i:04d}", i, "server")
    out = wire_checked(chat.send("ada", "rooms", limit=1000))
    data = out[0].message["data"]
    assert (data["count"], len(data["rooms"]), data["next"]) == (1000, 1000, None)


# Rooms: forgotten when empty without history, per connection, on the server


def test_joining_and_leaving_thousands_of_rooms_keeps_at_most_max_rooms():
    """With at most 50 rooms on the server, 2000 join-leave pairs all succeed: each new room
    takes the place of the longest-empty one; what is kept is the newest 50."""
    chat = Chat(RoomLimits(max_rooms=50, max_rooms_created=10**6))
    chat.connect("ada")
    for i in range(2000):
        assert chat.ok("ada", "join", f"room-{i}")["you"] == 1
        chat.ok("ada", "leave", f"room-{i}")
    assert chat.core.names() == [f"room-{i}" for i in range(1950, 2000)]
    assert chat.tick() == []
    assert chat.core.room("room-1999").history.budget.bytes == 0


def test_one_connection_joining_and_leaving_new_rooms_creates_100_then_too_many_rooms():
    """A connection may create 100 rooms (rooms per connection, docs' Limits), kept or not."""
    chat = Chat()
    chat.connect("ada", "bob")
    for i in range(100):
        chat.ok("ada", "join", f"r{i}")
        chat.ok("ada", "leave", f"r{i}")
    out = chat.send("ada", "join", "r100")
    assert (out[0].message["code"], out[0].message["path"]) == ("too_many_rooms", "room")
    assert len(chat.core.names()) == 100
    assert chat.ok("bob", "join", "r100")["room"] == "r100"


def test_a_connection_creates_at_most_100_rooms_that_it_keeps():
    chat = Chat()
    chat.connect("ada", "bob")
    for i in range(100):
        chat.ok("ada", "join", f"r{i}")
        chat.ok("ada", "publish", f"r{i}", body=i, reply=True)
        chat.ok("ada", "leave", f"r{i}")
    assert len(chat.core.names()) == 100
    before = chat.snapshot()
    out = chat.send("ada", "join", "r100")
    assert (out[0].message["code"], out[0].message["path"]) == ("too_many_rooms", "room")
    assert chat.snapshot() == before
    assert chat.ok("ada", "join", "r5")["seq"] == 1  # rooms that exist: fine
    assert chat.ok("bob", "join", "r100")["room"] == "r100"  # others: fine


def _room_with_history(chat: Chat, key: str, room: str, leave: bool = True) -> None:
    chat.ok(key, "join", room)
    chat.ok(key, "publish", room, body=room)
    if leave:
        chat.ok(key, "leave", room)


def test_a_full_server_forgets_its_longest_empty_room_or_refuses_server_full():
    chat = Chat(RoomLimits(max_rooms=3))
    chat.connect("ada", "bob", "carol", "dave")
    _room_with_history(chat, "ada", "a", leave=False)
    _room_with_history(chat, "bob", "b", leave=False)
    _room_with_history(chat, "carol", "c", leave=False)
    before = chat.snapshot()
    out = chat.send("dave", "join", "d", id=1)
    assert (out[0].message["code"], out[0].message["path"]) == ("server_full", "room")
    assert chat.snapshot() == before
    with pytest.raises(KeyError):
        chat.core.publish("d", "x", "server")
    chat.ok("carol", "leave", "c")  # c is empty, with history: the longest empty room
    chat.ok("ada", "leave", "a")  # a is empty since later
    chat.core.publish("c", "c is used again", "server")  # ...and c is used afresh
    assert chat.ok("dave", "join", "d")["epoch"] == "ep4"
    assert chat.core.names() == ["b", "c", "d"]  # a went: it is the longest empty one now
    budget = chat.core.room("b").history.budget
    assert budget is not None and budget.bytes == sum(
        chat.core.room(r).history.bytes for r in "bcd"
    )
    data = chat.ok("ada", "join", "a", since={"epoch": "ep1", "seq": 1})  # c goes now
    assert (data["recovered"], data["reason"], data["epoch"]) == (False, "epoch_changed", "ep5")
    assert chat.core.names() == ["b", "d", "a"]


def test_a_room_the_server_published_in_and_nobody_joined_is_empty_and_makes_way():
    """docs, Limits: past max_rooms "the longest-empty room is forgotten; if none is empty,
    server_full". A room nobody ever joined is empty."""
    chat = Chat(RoomLimits(max_rooms=2))
    chat.connect("ada")
    chat.core.publish("news-1", "nobody listens", "server")
    chat.core.publish("news-2", "nobody listens", "server")
    assert chat.ok("ada", "join", "chat")["room"] == "chat"
    assert chat.core.names() == ["news-2", "chat"]


def test_resuming_into_a_room_that_does_not_exist_creates_it_with_a_new_epoch():
    chat = Chat()
    chat.connect("ada")
    data = chat.ok("ada", "join", "lobby", since={"epoch": "old", "seq": 41})
    assert (data["recovered"], data["reason"], data["seq"]) == (False, "epoch_changed", 0)
    assert (data["epoch"], data["history"], data["you"]) == ("ep1", [], 1)


def test_the_history_budget_forgets_the_servers_oldest_messages_first():
    chat = Chat(RoomLimits(total_history_bytes=20_000, history_bytes=15_000))
    chat.connect("ada")
    for room in ("a", "b"):
        chat.ok("ada", "join", room)
    for i in range(30):
        chat.ok("ada", "publish", "a" if i < 20 else "b", body="x" * 900)
    histories = [chat.core.room(r).history for r in ("a", "b")]
    total = sum(h.bytes for h in histories)
    assert total == histories[0].budget.bytes <= 20_000  # type: ignore[union-attr]
    assert histories[1].first_seq == 1  # b's messages are the newest: all kept
    assert histories[0].first_seq > 1 and histories[0].last_seq == 20
    data = chat.ok("ada", "join", "a", since={"epoch": "ep1", "seq": 0})
    assert (data["recovered"], data["reason"]) == (False, "gap_too_old")


@pytest.mark.parametrize(
    ("options", "words"),
    [({"members_page": 301}, "members_page"), ({"max_frame_bytes": 64 * 1024}, "max_frame_bytes")],
)
def test_limits_that_would_break_the_frame_promise_are_refused(options, words):
    """A join reply holds a member page and at least one message: both must fit one frame."""
    with pytest.raises(ValueError, match=words):
        RoomLimits(**options)
