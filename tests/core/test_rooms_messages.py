"""RoomsCore messages without sockets: publish and seq (with and without a reply), the
history/members/rooms queries and their pages, and resuming with since (docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wsnb.core import RoomLimits

from .protocol import NOW, Chat, body_seqs, member, messages_to

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
    assert [(o.to, o.message) for o in out] == [
        (
            ("bob",),
            {"type": "reply", "id": 7, "re": "publish", "data": {"room": "lobby", "seq": 1}},
        ),
        (("ada", "bob"), message),
    ]
    assert messages_to(out, "carol") == []
    # Kept as the very text that was sent (encoded once).
    assert [m.text for m in chat.core.room("lobby").history] == [out[1].text]
    assert [m.message for m in chat.core.room("lobby").history] == [message]


@pytest.mark.parametrize("with_id", [True, False], ids=["with-id", "no-id"])
def test_publish_with_reply_false_gets_no_reply_but_still_the_message(with_id):
    """data.reply false: no reply; the sender and the others get the message as ever."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada", "bob")
    out = chat.send("ada", "publish", "lobby", id=5 if with_id else None, body="hi", reply=False)
    assert [(o.to, o.message["type"], o.message["seq"]) for o in out] == [
        (("ada", "bob"), "message", 1)
    ]
    assert "reply" not in out[0].message["data"]  # the option is not part of the message
    assert chat.ok("ada", "publish", "lobby", body="again", reply=True)["seq"] == 2
    assert chat.ok("ada", "publish", "lobby", body="null", reply=None)["seq"] == 3


@pytest.mark.parametrize(
    ("request_", "code", "path"),
    [
        ({"room": "nowhere", "data": {"body": 1, "reply": False}}, "unknown_room", "room"),
        ({"room": "other", "data": {"body": 1, "reply": False}}, "not_a_member", "room"),
        ({"room": "lobby", "data": {"reply": False}}, "missing_field", "data.body"),
        ({"room": "lobby", "data": {"body": 1, "reply": "no"}}, "wrong_type", "data.reply"),
        ({"room": "lobby", "data": {"body": 1, "reply": 0}}, "wrong_type", "data.reply"),
        ({"room": "lobby", "data": {"body": 1, "reply": []}}, "wrong_type", "data.reply"),
    ],
    ids=["unknown-room", "not-a-member", "missing-body", "reply-string", "reply-0", "reply-list"],
)
def test_publish_without_a_reply_still_gets_its_errors(request_, code, path):
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada")
    chat.join("other", "bob")
    out = chat.raw("ada", json.dumps({"type": "publish", "id": 8, **request_}))
    assert [(o.to, o.message["type"]) for o in out] == [(("ada",), "error")]
    assert (out[0].message["code"], out[0].message["path"], out[0].message["id"]) == (code, path, 8)
    assert chat.core.room("lobby").history.last_seq == 0


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


def test_history_without_since_is_the_newest():
    """history: the newest ``limit`` (default 20); epoch and seq; no membership needed."""
    chat = Chat(RoomLimits(history_size=30))
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    for i in range(35):
        chat.ok("ada", "publish", "lobby", body=i)
    data = chat.ok("bob", "history", "lobby")
    assert {k: data[k] for k in ("room", "epoch", "seq")} == {
        "room": "lobby",
        "epoch": "ep1",
        "seq": 35,
    }
    assert body_seqs(data["messages"]) == list(range(16, 36)) and "more" not in data
    assert data["messages"] == [m.message for m in chat.core.room("lobby").history][-20:]
    assert body_seqs(chat.ok("bob", "history", "lobby", limit=2)["messages"]) == [34, 35]
    assert len(chat.ok("bob", "history", "lobby", limit=1000)["messages"]) == 30


def test_history_with_since_is_a_page_forward_with_more():
    """history since: the oldest ``limit`` after since (default 100); more when cut."""
    chat = Chat(RoomLimits(history_size=150))
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    for i in range(160):  # 11..160 kept
        chat.ok("ada", "publish", "lobby", body=i)

    def page(since: int, **data: Any) -> tuple[list[int], bool]:
        reply = chat.ok("bob", "history", "lobby", since=since, **data)
        assert (reply["room"], reply["epoch"], reply["seq"]) == ("lobby", "ep1", 160)
        return body_seqs(reply["messages"]), reply["more"]

    assert page(0) == (list(range(11, 111)), True)  # gap: its first is not 1
    assert page(110) == (list(range(111, 161)), False)
    assert page(150, limit=5) == ([151, 152, 153, 154, 155], True)
    assert page(155, limit=5) == ([156, 157, 158, 159, 160], False)
    assert page(160) == ([], False)
    assert page(999) == ([], False)
    # Walking the pages gives every kept message exactly once.
    got, since, more = [], 0, True
    while more:
        seqs, more = page(since, limit=7)
        got += seqs
        since = seqs[-1]
    assert got == list(range(11, 161))


def test_members_query_in_join_order():
    """members: count, {id, name} oldest first, next null on the last page."""
    chat = Chat()
    chat.connect("carol", "ada", "bob")
    for key in ("carol", "ada", "bob"):
        chat.ok(key, "join", "lobby")
    chat.ok("ada", "leave", "lobby")
    chat.ok("ada", "join", "lobby")
    assert chat.ok("bob", "members", "lobby") == {
        "room": "lobby",
        "count": 3,
        "members": [member(1, "carol"), member(3, "bob"), member(4, "ada")],
        "next": None,
    }


def test_members_pages_walk_every_member_once():
    chat = Chat()
    keys = [f"k{i}" for i in range(1, 251)]
    chat.connect(*keys)
    chat.join("lobby", *keys)
    first = chat.ok("k1", "members", "lobby")
    assert (first["count"], len(first["members"]), first["next"]) == (250, 100, 100)
    page = chat.ok("k1", "members", "lobby", after=100, limit=149)
    assert [m["id"] for m in page["members"]] == list(range(101, 250)) and page["next"] == 249
    last = chat.ok("k1", "members", "lobby", after=249)
    assert (last["members"], last["next"]) == ([member(250, "k250")], None)
    assert chat.ok("k1", "members", "lobby", after=250) == {
        "room": "lobby",
        "count": 250,
        "members": [],
        "next": None,
    }
    whole = chat.ok("k1", "members", "lobby", limit=1000)
    assert (len(whole["members"]), whole["next"]) == (250, None)


def test_rooms_query_pages_in_creation_order():
    chat = Chat()
    chat.connect("ada", "bob")
    assert chat.ok("ada", "rooms") == {"count": 0, "rooms": [], "next": None}
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "bob")
    chat.ok("bob", "publish", "dev", body=1)
    chat.ok("bob", "publish", "dev", body=2)
    assert chat.ok("ada", "rooms") == {
        "count": 2,
        "rooms": [{"room": "lobby", "count": 2, "seq": 0}, {"room": "dev", "count": 1, "seq": 2}],
        "next": None,
    }
    for i in range(250):
        chat.core.publish(f"r{i}", i, "server")
    first = chat.ok("ada", "rooms")
    assert (first["count"], len(first["rooms"])) == (252, 100)
    names, after = [], 0
    while after is not None:
        reply = chat.ok("ada", "rooms", after=after, limit=60)
        names += [r["room"] for r in reply["rooms"]]
        after = reply["next"]
    assert names == chat.core.names() == ["lobby", "dev"] + [f"r{i}" for i in range(250)]


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
    assert data["seq"] == 8 and data["epoch"] == "ep1" and data["more"] is False
    assert data["members"] == [member(1, "ada"), member(2, "bob")]


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
