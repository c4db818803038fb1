"""RoomsCore messages without sockets: publish and seq, the history/members/rooms queries,
and resuming with since (docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wsnb.core import Outgoing, RoomLimits

from .protocol import NOW, Chat, body_seqs, messages_to

# publish


def test_publish_goes_to_every_member_sender_included_with_seq():
    """The reply (room, seq) to the sender first, then the message to all members."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.join("lobby", "ada", "bob")
    out = chat.send("bob", "publish", "lobby", id=7, body="hello")
    message = {
        "type": "message",
        "room": "lobby",
        "epoch": "ep1",
        "seq": 1,
        "data": {"from": "bob", "body": "hello", "time": NOW},
    }
    assert out == [
        Outgoing(
            ("bob",),
            {"type": "reply", "id": 7, "re": "publish", "data": {"room": "lobby", "seq": 1}},
        ),
        Outgoing(("ada", "bob"), message),
    ]
    assert messages_to(out, "carol") == []
    assert list(chat.core.room("lobby").history) == [message]


def test_seq_increases_per_room():
    """Each room numbers its own messages 1, 2, 3..., whoever publishes."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "ada")
    seqs: dict[str, list[int]] = {"lobby": [], "dev": []}
    for i, (key, room) in enumerate(
        [
            ("ada", "lobby"),
            ("bob", "lobby"),
            ("ada", "dev"),
            ("ada", "lobby"),
            ("ada", "dev"),
            ("bob", "lobby"),
        ]
    ):
        out = chat.send(key, "publish", room, body=i)
        assert out[0].message["data"]["seq"] == out[1].message["seq"]
        seqs[room].append(out[1].message["seq"])
    assert seqs == {"lobby": [1, 2, 3, 4], "dev": [1, 2]}
    assert chat.core.room("dev").history.epoch == "ep2"


@pytest.mark.parametrize(
    "body",
    [None, 0, -1.5, "", "héllo ✓", [], {}, [1, {"a": [None]}], {"nested": {"deep": [True, False]}}],
    ids=lambda b: json.dumps(b),
)
def test_publish_body_is_any_json_value(body):
    chat = Chat()
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    out = chat.send("ada", "publish", "lobby", body=body)
    assert out[1].message["data"]["body"] == body


def test_one_connection_in_several_rooms():
    """A connection in two rooms gets the messages of both, and only of those."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.join("lobby", "bob", "ada")
    chat.join("dev", "bob", "carol")
    chat.join("other", "carol")
    out = (
        chat.send("ada", "publish", "lobby", body="l")
        + chat.send("carol", "publish", "dev", body="d")
        + chat.send("carol", "publish", "other", body="o")
    )
    got = [
        (m["room"], m["data"]["body"]) for m in messages_to(out, "bob") if m["type"] == "message"
    ]
    assert got == [("lobby", "l"), ("dev", "d")]


def test_server_side_publish_needs_no_member_and_creates_the_room():
    chat = Chat()
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    out = chat.core.publish("lobby", {"n": 1}, sender="server")
    assert out.to == ("ada",)
    assert out.message["data"] == {"from": "server", "body": {"n": 1}, "time": NOW}
    assert out.message["seq"] == 1
    out = chat.core.publish("news", "first", sender="bot")
    assert out.to == () and chat.core.names() == ["lobby", "news"]
    assert body_seqs(chat.ok("ada", "history", "news")["messages"]) == [1]


# queries


def test_history_query():
    """history: since (default 0) and limit; epoch and seq; no membership needed."""
    chat = Chat(RoomLimits(history_size=5))
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    for i in range(8):
        chat.ok("ada", "publish", "lobby", body=i)
    data = chat.ok("bob", "history", "lobby")
    assert {k: data[k] for k in ("room", "epoch", "seq")} == {
        "room": "lobby",
        "epoch": "ep1",
        "seq": 8,
    }
    assert body_seqs(data["messages"]) == [4, 5, 6, 7, 8]
    assert data["messages"] == list(chat.core.room("lobby").history)
    assert body_seqs(chat.ok("bob", "history", "lobby", since=6)["messages"]) == [7, 8]
    assert body_seqs(chat.ok("bob", "history", "lobby", since=8)["messages"]) == []
    assert body_seqs(chat.ok("bob", "history", "lobby", limit=2)["messages"]) == [7, 8]
    assert body_seqs(chat.ok("bob", "history", "lobby", since=4, limit=10)["messages"]) == [
        5,
        6,
        7,
        8,
    ]


def test_members_query_in_join_order():
    chat = Chat()
    chat.connect("carol", "ada", "bob")
    for key in ("carol", "ada", "bob"):
        chat.ok(key, "join", "lobby")
    chat.ok("ada", "leave", "lobby")
    chat.ok("ada", "join", "lobby")
    assert chat.ok("bob", "members", "lobby") == {
        "room": "lobby",
        "members": ["carol", "bob", "ada"],
    }


def test_rooms_query():
    chat = Chat()
    chat.connect("ada", "bob")
    assert chat.ok("ada", "rooms") == {"rooms": []}
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "bob")
    chat.ok("bob", "publish", "dev", body=1)
    chat.ok("bob", "publish", "dev", body=2)
    assert chat.ok("ada", "rooms") == {
        "rooms": [
            {"room": "lobby", "members": 2, "seq": 0},
            {"room": "dev", "members": 1, "seq": 2},
        ]
    }


# resuming with since


def resumable() -> tuple[Chat, list[dict[str, Any]]]:
    """lobby with history_size 5 and 8 messages published (1..8; 4..8 kept)."""
    chat = Chat(RoomLimits(history_size=5))
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    published = [chat.send("ada", "publish", "lobby", body=f"m{i}")[1].message for i in range(1, 9)]
    return chat, published


@pytest.mark.parametrize(
    ("seen", "expected"),
    [(5, [6, 7, 8]), (8, []), (3, [4, 5, 6, 7, 8])],
    ids=["gap", "nothing-missed", "oldest-recoverable"],
)
def test_resume_recovers_exactly_the_missed_messages(seen, expected):
    """since {epoch, seq}: recovered true, history is exactly what came after seq."""
    chat, published = resumable()
    data = chat.ok("bob", "join", "lobby", since={"epoch": "ep1", "seq": seen})
    assert data["recovered"] is True and "reason" not in data
    assert data["history"] == published[seen:]
    assert body_seqs(data["history"]) == expected
    assert data["seq"] == 8 and data["epoch"] == "ep1"
    assert data["members"] == ["ada", "bob"]


@pytest.mark.parametrize(
    ("since", "reason"),
    [
        ({"epoch": "ep1", "seq": 2}, "gap_too_old"),
        ({"epoch": "ep1", "seq": 0}, "gap_too_old"),
        ({"epoch": "elsewhere", "seq": 5}, "epoch_changed"),
        ({"epoch": "ep1", "seq": 9}, "seq_ahead"),
    ],
    ids=["gap-too-old-boundary", "gap-too-old-from-0", "epoch-changed", "seq-ahead"],
)
def test_resume_not_recovered_gives_reason_and_recent_history(since, reason):
    """recovered false with a reason; history is the recent messages, as for a plain join."""
    chat, published = resumable()
    data = chat.ok("bob", "join", "lobby", since=since)
    assert data["recovered"] is False and data["reason"] == reason
    assert data["history"] == published[3:]  # all that is kept, under the default 20
    data = chat.ok("bob", "join", "lobby", since=since, history=2)
    assert (data["recovered"], data["reason"]) == (False, reason)
    assert data["history"] == published[6:]


def test_resume_against_a_new_server_is_epoch_changed():
    """A new process has new epochs: a client's old (epoch, seq) is not trusted."""
    old, _ = resumable()
    new = Chat(RoomLimits(history_size=5), epoch_prefix="new")
    new.connect("bob")
    data = new.ok("bob", "join", "lobby", since={"epoch": "ep1", "seq": 8})
    assert (data["recovered"], data["reason"], data["history"]) == (False, "epoch_changed", [])
    assert data["epoch"] == "new1" and data["seq"] == 0
    assert old.core.room("lobby").history.epoch == "ep1"


def test_resume_on_a_live_connection():
    """A member may rejoin with since to fill a gap it noticed; no presence is sent."""
    chat, published = resumable()
    out = chat.send("ada", "join", "lobby", since={"epoch": "ep1", "seq": 6})
    assert len(out) == 1
    assert out[0].message["data"]["history"] == published[6:]
