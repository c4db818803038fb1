"""RoomsCore without sockets: members are strings, the clock and epochs are injected.

Each test feeds requests as JSON text to RoomsCore.receive and checks the
Outgoing messages (who gets what) against docs/protocol.md.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from wsnb.core import Outgoing, RoomLimits, RoomsCore, request_envelope
from wsnb.json_messages import encode_json

NOW = 1795494545.25


class Chat:
    """A RoomsCore with a fixed clock and predictable epochs (ep1, ep2... per room created)."""

    def __init__(
        self,
        limits: RoomLimits | None = None,
        rooms: list[str] | None = None,
        epoch_prefix: str = "ep",
    ) -> None:
        counter = itertools.count(1)
        self.core: RoomsCore[str] = RoomsCore(
            limits,
            rooms=rooms,
            clock=lambda: NOW,
            epoch_factory=lambda: f"{epoch_prefix}{next(counter)}",
        )
        self.keys: list[str] = []

    def connect(self, *keys: str, named: bool = True) -> None:
        for key in keys:
            self.core.connect(key, name=key if named else None)
            self.keys.append(key)

    def send(
        self, key: str, type: str, room: str | None = None, *, id: Any = None, **data: Any
    ) -> list[Outgoing[str]]:
        return self.raw(key, json.dumps(request_envelope(type, id, room, data)))

    def raw(self, key: str, raw: str | bytes) -> list[Outgoing[str]]:
        out = self.core.receive(key, raw)
        for o in out:  # whatever the core says must go on the wire as it is
            json.dumps(o.message, allow_nan=False)
        return out

    def ok(self, key: str, type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
        """Send a request that must succeed; return its reply's data."""
        out = self.send(key, type, room, **data)
        assert out[0].to == (key,), out
        assert out[0].message["type"] == "reply", out[0].message
        return out[0].message["data"]

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could change: rooms, members, histories, names."""
        rooms = {
            name: {
                "members": list(self.core.room(name).members.items()),
                "epoch": self.core.room(name).history.epoch,
                "seq": self.core.room(name).history.last_seq,
                "history": copy.deepcopy(list(self.core.room(name).history)),
            }
            for name in self.core.names()
        }
        return {"rooms": rooms, "names": {k: self.core.name_of(k) for k in self.keys}}


def messages_to(out: list[Outgoing[str]], key: str) -> list[dict[str, Any]]:
    return [o.message for o in out if key in o.to]


def body_seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


# hello and names


def test_connections_are_guests_until_hello():
    """Without a name a connection is guest-1, guest-2...; hello renames it."""
    chat = Chat()
    chat.connect("a", "b", named=False)
    assert [chat.core.name_of("a"), chat.core.name_of("b")] == ["guest-1", "guest-2"]
    out = chat.send("a", "hello", id=1, name="ada")
    assert out == [
        Outgoing(("a",), {"type": "reply", "id": 1, "re": "hello", "data": {"name": "ada"}})
    ]
    assert chat.core.name_of("a") == "ada"


def test_hello_renames_in_every_room_with_presence_to_the_others():
    """Rooms the member is in get presence rename (with was), sent to the other members only."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.ok("ada", "join", "lobby")
    chat.ok("bob", "join", "lobby")
    chat.ok("ada", "join", "dev")
    chat.ok("carol", "join", "dev")
    out = chat.send("ada", "hello", name="Ada L.")
    assert out == [
        Outgoing(("ada",), {"type": "reply", "re": "hello", "data": {"name": "Ada L."}}),
        Outgoing(
            ("bob",),
            {
                "type": "presence",
                "room": "lobby",
                "data": {
                    "event": "rename",
                    "name": "Ada L.",
                    "was": "ada",
                    "members": ["Ada L.", "bob"],
                },
            },
        ),
        Outgoing(
            ("carol",),
            {
                "type": "presence",
                "room": "dev",
                "data": {
                    "event": "rename",
                    "name": "Ada L.",
                    "was": "ada",
                    "members": ["Ada L.", "carol"],
                },
            },
        ),
    ]
    assert chat.core.members("lobby") == ["Ada L.", "bob"]
    assert chat.ok("bob", "members", "dev")["members"] == ["Ada L.", "carol"]
    out = chat.send("ada", "publish", "lobby", body="hi")
    assert out[1].message["data"]["from"] == "Ada L."


def test_names_need_not_be_unique():
    chat = Chat()
    chat.connect("k1", "k2")
    chat.ok("k1", "hello", name="sam")
    chat.ok("k2", "hello", name="sam")
    chat.ok("k1", "join", "lobby")
    chat.ok("k2", "join", "lobby")
    assert chat.core.members("lobby") == ["sam", "sam"]


def test_name_at_the_limit_and_printable_unicode_are_accepted():
    chat = Chat()
    chat.connect("ada")
    assert chat.ok("ada", "hello", name="x" * 32) == {"name": "x" * 32}
    assert chat.ok("ada", "hello", name="Ada Lovelace ✓ 日本") == {"name": "Ada Lovelace ✓ 日本"}


# join


def test_first_join_creates_the_room():
    """The reply has room, epoch, seq 0, members [me], empty history; nobody else is told."""
    chat = Chat()
    chat.connect("ada")
    assert chat.core.names() == []
    out = chat.send("ada", "join", "lobby", id="j1")
    assert out == [
        Outgoing(
            ("ada",),
            {
                "type": "reply",
                "id": "j1",
                "re": "join",
                "data": {
                    "room": "lobby",
                    "epoch": "ep1",
                    "seq": 0,
                    "history": [],
                    "members": ["ada"],
                },
            },
        )
    ]
    assert chat.core.names() == ["lobby"]
    assert "recovered" not in out[0].message["data"]


def test_join_presence_goes_to_the_others_only():
    """A newcomer gets the reply; each earlier member gets presence join with the new list."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.ok("ada", "join", "lobby")
    out = chat.send("bob", "join", "lobby")
    assert out[0].to == ("bob",) and out[0].message["data"]["members"] == ["ada", "bob"]
    assert out[1:] == [
        Outgoing(
            ("ada",),
            {
                "type": "presence",
                "room": "lobby",
                "data": {"event": "join", "name": "bob", "members": ["ada", "bob"]},
            },
        )
    ]
    out = chat.send("carol", "join", "lobby")
    assert out[1:] == [
        Outgoing(
            ("ada", "bob"),
            {
                "type": "presence",
                "room": "lobby",
                "data": {"event": "join", "name": "carol", "members": ["ada", "bob", "carol"]},
            },
        )
    ]
    assert messages_to(out, "carol") == [out[0].message]


def test_join_reply_has_the_last_20_messages_by_default():
    """A plain join's history is the 20 newest messages; seq is the latest."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    published = [chat.send("ada", "publish", "lobby", body=i)[1].message for i in range(25)]
    data = chat.ok("bob", "join", "lobby")
    assert data["seq"] == 25 and data["epoch"] == "ep1"
    assert data["history"] == published[5:]
    assert body_seqs(data["history"]) == list(range(6, 26))


@pytest.mark.parametrize(
    ("history", "expected"), [(3, [23, 24, 25]), (0, []), (100, list(range(1, 26)))]
)
def test_join_history_override(history, expected):
    """data.history asks for a different number of recent messages."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    for i in range(25):
        chat.ok("ada", "publish", "lobby", body=i)
    assert body_seqs(chat.ok("bob", "join", "lobby", history=history)["history"]) == expected


def test_join_history_default_follows_limits():
    chat = Chat(RoomLimits(join_history=2))
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    for i in range(5):
        chat.ok("ada", "publish", "lobby", body=i)
    assert body_seqs(chat.ok("ada", "join", "lobby")["history"]) == [4, 5]


def test_rejoin_is_idempotent():
    """Joining a room one is already in: a reply, no presence, no duplicate member."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    chat.ok("bob", "join", "lobby")
    chat.ok("ada", "publish", "lobby", body="x")
    out = chat.send("bob", "join", "lobby")
    assert len(out) == 1 and out[0].to == ("bob",)
    assert out[0].message["data"]["members"] == ["ada", "bob"]
    assert body_seqs(out[0].message["data"]["history"]) == [1]
    assert chat.ok("ada", "rooms")["rooms"] == [{"room": "lobby", "members": 2, "seq": 1}]
    # One leave is enough: afterwards bob is not a member.
    chat.ok("bob", "leave", "lobby")
    assert chat.core.members("lobby") == ["ada"]
    assert chat.send("bob", "leave", "lobby")[0].message["code"] == "not_a_member"


# leave and disconnect


def test_leave_replies_and_tells_the_others():
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    for key in ("ada", "bob", "carol"):
        chat.ok(key, "join", "lobby")
    out = chat.send("bob", "leave", "lobby", id=9)
    assert out == [
        Outgoing(("bob",), {"type": "reply", "id": 9, "re": "leave", "data": {"room": "lobby"}}),
        Outgoing(
            ("ada", "carol"),
            {
                "type": "presence",
                "room": "lobby",
                "data": {"event": "leave", "name": "bob", "members": ["ada", "carol"]},
            },
        ),
    ]
    out = chat.send("ada", "publish", "lobby", body="after")
    assert out[1].to == ("ada", "carol")  # bob no longer gets the room's messages


def test_last_member_leaving_keeps_the_room_and_its_history():
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    chat.ok("ada", "publish", "lobby", body="kept")
    out = chat.send("ada", "leave", "lobby")
    assert len(out) == 1  # nobody to tell
    assert chat.core.names() == ["lobby"] and chat.core.members("lobby") == []
    data = chat.ok("bob", "join", "lobby")
    assert [m["data"]["body"] for m in data["history"]] == ["kept"]
    assert data["epoch"] == "ep1"


def test_disconnect_leaves_every_room_and_notifies():
    """disconnect: one presence leave per room that still has members, to those members."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.ok("ada", "join", "lobby")
    chat.ok("bob", "join", "lobby")
    chat.ok("ada", "join", "dev")
    chat.ok("carol", "join", "dev")
    chat.ok("ada", "join", "solo")
    out = chat.core.disconnect("ada")
    assert out == [
        Outgoing(
            ("bob",),
            {
                "type": "presence",
                "room": "lobby",
                "data": {"event": "leave", "name": "ada", "members": ["bob"]},
            },
        ),
        Outgoing(
            ("carol",),
            {
                "type": "presence",
                "room": "dev",
                "data": {"event": "leave", "name": "ada", "members": ["carol"]},
            },
        ),
    ]
    assert chat.core.names() == ["lobby", "dev", "solo"]
    assert [chat.core.members(r) for r in ("lobby", "dev", "solo")] == [["bob"], ["carol"], []]
    with pytest.raises(KeyError):
        chat.core.name_of("ada")
    assert chat.core.disconnect("ada") == []
    assert chat.core.disconnect("never-connected") == []


# publish


def test_publish_goes_to_every_member_sender_included_with_seq():
    """The reply (room, seq) to the sender first, then the message to all members."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.ok("ada", "join", "lobby")
    chat.ok("bob", "join", "lobby")
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
    chat.ok("ada", "join", "lobby")
    chat.ok("ada", "join", "dev")
    chat.ok("bob", "join", "lobby")
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
    chat.ok("bob", "join", "lobby")
    chat.ok("bob", "join", "dev")
    chat.ok("ada", "join", "lobby")
    chat.ok("carol", "join", "dev")
    chat.ok("carol", "join", "other")
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
    chat.ok("ada", "join", "lobby")
    chat.ok("bob", "join", "lobby")
    chat.ok("bob", "join", "dev")
    chat.ok("bob", "publish", "dev", body=1)
    chat.ok("bob", "publish", "dev", body=2)
    assert chat.ok("ada", "rooms") == {
        "rooms": [
            {"room": "lobby", "members": 2, "seq": 0},
            {"room": "dev", "members": 1, "seq": 2},
        ]
    }


# fixed rooms


def test_fixed_rooms_refuse_other_names():
    """With rooms=[...], joining any other room is unknown_room and creates nothing."""
    chat = Chat(rooms=["lobby", "help"])
    chat.connect("ada")
    assert chat.ok("ada", "rooms")["rooms"] == [
        {"room": "lobby", "members": 0, "seq": 0},
        {"room": "help", "members": 0, "seq": 0},
    ]
    out = chat.send("ada", "join", "random", id=3)
    assert out == [
        Outgoing(
            ("ada",),
            {
                "type": "error",
                "id": 3,
                "re": "join",
                "code": "unknown_room",
                "message": out[0].message["message"],
                "path": "room",
            },
        )
    ]
    assert chat.core.names() == ["lobby", "help"]
    assert chat.ok("ada", "join", "help")["members"] == ["ada"]


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


# Bad input: the documented code and path, to the sender only, nothing changed


def world() -> Chat:
    """ada and bob in lobby (2 messages), carol alone in other (1 message)."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.ok("ada", "join", "lobby")
    chat.ok("bob", "join", "lobby")
    chat.ok("ada", "publish", "lobby", body="one")
    chat.ok("bob", "publish", "lobby", body="two")
    chat.ok("carol", "join", "other")
    chat.ok("carol", "publish", "other", body="three")
    return chat


def E(type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {"type": type}
    if room is not None:
        envelope["room"] = room
    if data:
        envelope["data"] = data
    return envelope


BAD_INPUT = [
    # (id, request, code, path)
    ("unknown-type", E("dance"), "unknown_type", "type"),
    ("unknown-type-empty", E(""), "unknown_type", "type"),
    ("history-unknown-room", E("history", "nowhere"), "unknown_room", "room"),
    ("members-unknown-room", E("members", "nowhere"), "unknown_room", "room"),
    ("leave-unknown-room", E("leave", "nowhere"), "unknown_room", "room"),
    ("publish-unknown-room", E("publish", "nowhere", body="x"), "unknown_room", "room"),
    ("publish-not-a-member", E("publish", "other", body="x"), "not_a_member", "room"),
    ("leave-not-a-member", E("leave", "other"), "not_a_member", "room"),
    ("join-missing-room", E("join"), "missing_field", "room"),
    ("leave-missing-room", E("leave"), "missing_field", "room"),
    ("publish-missing-room", E("publish", body="x"), "missing_field", "room"),
    ("history-missing-room", E("history"), "missing_field", "room"),
    ("members-missing-room", E("members"), "missing_field", "room"),
    ("name-too-long", E("hello", name="n" * 33), "too_long", "data.name"),
    ("name-empty", E("hello", name=""), "invalid_value", "data.name"),
    ("name-blank", E("hello", name="   "), "invalid_value", "data.name"),
    ("name-newline", E("hello", name="ada\nbob"), "invalid_value", "data.name"),
    ("name-nul", E("hello", name="ada\x00"), "invalid_value", "data.name"),
    ("name-escape", E("hello", name="\x1b[31mred"), "invalid_value", "data.name"),
    ("name-del", E("hello", name="ada\x7f"), "invalid_value", "data.name"),
    ("name-not-a-string", E("hello", name=5), "wrong_type", "data.name"),
    ("name-a-list", E("hello", name=["ada"]), "wrong_type", "data.name"),
    ("room-name-too-long", E("join", "r" * 65), "too_long", "room"),
    ("room-name-empty", E("join", ""), "invalid_value", "room"),
    ("room-name-tab", E("join", "lob\tby"), "invalid_value", "room"),
    ("room-name-too-long-publish", E("publish", "r" * 65, body=1), "too_long", "room"),
    ("room-wrong-type", E("join") | {"room": 5}, "wrong_type", "room"),
    ("data-wrong-type", E("publish", "lobby") | {"data": [1]}, "wrong_type", "data"),
    ("history-since-string", E("history", "lobby", since="3"), "wrong_type", "data.since"),
    ("history-since-float", E("history", "lobby", since=1.5), "wrong_type", "data.since"),
    ("history-since-bool", E("history", "lobby", since=True), "wrong_type", "data.since"),
    ("history-since-negative", E("history", "lobby", since=-1), "invalid_value", "data.since"),
    ("history-limit-string", E("history", "lobby", limit="2"), "wrong_type", "data.limit"),
    ("history-limit-bool", E("history", "lobby", limit=False), "wrong_type", "data.limit"),
    ("history-limit-zero", E("history", "lobby", limit=0), "invalid_value", "data.limit"),
    ("join-history-string", E("join", "other", history="5"), "wrong_type", "data.history"),
    ("join-history-float", E("join", "other", history=2.5), "wrong_type", "data.history"),
    ("join-history-bool", E("join", "other", history=True), "wrong_type", "data.history"),
    ("join-history-negative", E("join", "other", history=-1), "invalid_value", "data.history"),
    ("join-since-string", E("join", "other", since="ep2"), "wrong_type", "data.since"),
    ("join-since-int", E("join", "other", since=3), "wrong_type", "data.since"),
    (
        "join-since-epoch-int",
        E("join", "other", since={"epoch": 2, "seq": 0}),
        "wrong_type",
        "data.since.epoch",
    ),
    (
        "join-since-seq-string",
        E("join", "other", since={"epoch": "ep2", "seq": "1"}),
        "wrong_type",
        "data.since.seq",
    ),
    (
        "join-since-seq-bool",
        E("join", "other", since={"epoch": "ep2", "seq": True}),
        "wrong_type",
        "data.since.seq",
    ),
    (
        "join-since-seq-float",
        E("join", "other", since={"epoch": "ep2", "seq": 1.0}),
        "wrong_type",
        "data.since.seq",
    ),
    ("publish-missing-body", E("publish", "lobby"), "missing_field", "data.body"),
    (
        "publish-missing-body-other-data",
        E("publish", "lobby", text="hi"),
        "missing_field",
        "data.body",
    ),
]


@pytest.mark.parametrize("with_id", [True, False], ids=["with-id", "no-id"])
@pytest.mark.parametrize(
    ("request_", "code", "path"), [row[1:] for row in BAD_INPUT], ids=[row[0] for row in BAD_INPUT]
)
def test_bad_input_is_one_error_to_the_sender_and_changes_nothing(request_, code, path, with_id):
    chat = world()
    before = chat.snapshot()
    request_ = dict(request_)
    if with_id:
        request_["id"] = "req-1"
    out = chat.raw("ada", json.dumps(request_))
    assert len(out) == 1, out
    assert out[0].to == ("ada",)
    error = out[0].message
    assert error["type"] == "error"
    assert (error["code"], error.get("path")) == (code, path), error["message"]
    assert error["re"] == request_["type"]
    assert error.get("id") == ("req-1" if with_id else None)
    assert isinstance(error["message"], str) and error["message"]
    assert chat.snapshot() == before
    # ... and ada goes on as before.
    assert chat.ok("ada", "publish", "lobby", body="still here")["seq"] == 3


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        (b"\xff", "bad_json"),
        ("[1, 2]", "not_an_object"),
        ("{}", "missing_field"),
    ],
)
def test_unparseable_input_is_one_error_to_the_sender(raw, code):
    chat = world()
    before = chat.snapshot()
    out = chat.raw("bob", raw)
    assert [(o.to, o.message["code"]) for o in out] == [(("bob",), code)]
    assert chat.snapshot() == before


def test_too_many_rooms():
    """Past max_rooms_per_member, join is too_many_rooms; rejoining or leaving first works."""
    chat = Chat(RoomLimits(max_rooms_per_member=2))
    chat.connect("ada", "carol")
    chat.ok("carol", "join", "third")
    chat.ok("ada", "join", "lobby")
    chat.ok("ada", "join", "dev")
    before = chat.snapshot()
    out = chat.send("ada", "join", "third", id=5)
    assert [o.to for o in out] == [("ada",)]
    assert {k: out[0].message[k] for k in ("id", "re", "code", "path")} == {
        "id": 5,
        "re": "join",
        "code": "too_many_rooms",
        "path": "room",
    }
    assert chat.snapshot() == before
    assert chat.ok("ada", "join", "lobby")["members"] == ["ada"]  # already in: fine
    chat.ok("ada", "leave", "dev")
    assert chat.ok("ada", "join", "third")["members"] == ["carol", "ada"]


def test_default_limit_is_16_rooms():
    chat = Chat()
    chat.connect("ada")
    for i in range(16):
        chat.ok("ada", "join", f"room-{i}")
    assert chat.send("ada", "join", "room-16")[0].message["code"] == "too_many_rooms"


def test_room_name_at_the_limit_is_accepted():
    chat = Chat()
    chat.connect("ada")
    assert chat.ok("ada", "join", "r" * 64)["room"] == "r" * 64


# Known bugs and places where the code and docs/protocol.md disagree


@pytest.mark.parametrize(
    "data",
    [
        {"history": "5"},
        {"history": -1},
        {"since": "ep1"},
        {"since": {"epoch": 1, "seq": 0}},
    ],
    ids=["bad-history", "negative-history", "bad-since", "bad-since-epoch"],
)
def test_refused_join_does_not_create_the_room(data):
    """docs: "After an error ... nothing else changed." A refused join must not create its room.

    RoomsCore._join creates the room before it validates data.history and
    data.since, so the error leaves an empty room behind (listed by 'rooms').
    """
    chat = Chat()
    chat.connect("ada")
    out = chat.send("ada", "join", "typo-room", **data)
    assert out[0].message["type"] == "error"
    assert chat.core.names() == []
    assert chat.ok("ada", "rooms") == {"rooms": []}


def test_too_many_rooms_does_not_create_the_room():
    """The too_many_rooms check also runs after the new room was created."""
    chat = Chat(RoomLimits(max_rooms_per_member=1))
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    out = chat.send("ada", "join", "second")
    assert out[0].message["code"] == "too_many_rooms"
    assert chat.core.names() == ["lobby"]


def test_hello_without_a_name_is_missing_field():
    """docs: missing_field when "a required field is absent"; hello needs data.name.

    The code answers wrong_type ("'data.name' must be a string, not null").
    """
    chat = world()
    before = chat.snapshot()
    for request_ in ({"type": "hello"}, {"type": "hello", "data": {}}):
        out = chat.raw("ada", json.dumps(request_))
        assert [o.to for o in out] == [("ada",)]
        assert (out[0].message["code"], out[0].message["path"]) == ("missing_field", "data.name")
    assert chat.snapshot() == before


def test_resume_with_a_negative_seq_is_invalid_value():
    """docs: invalid_value for "a negative number"; history's since=-1 is, join's since.seq=-1 is
    answered wrong_type instead."""
    chat = world()
    out = chat.send("ada", "join", "other", since={"epoch": "ep2", "seq": -1})
    assert (out[0].message["code"], out[0].message["path"]) == ("invalid_value", "data.since.seq")


@pytest.mark.parametrize(
    ("since", "path"),
    [({"seq": 1}, "data.since.epoch"), ({"epoch": "ep2"}, "data.since.seq")],
    ids=["no-epoch", "no-seq"],
)
def test_resume_with_a_missing_since_field_is_missing_field(since, path):
    """docs: missing_field when a required field is absent; the code says wrong_type."""
    chat = world()
    out = chat.send("ada", "join", "other", since=since)
    assert (out[0].message["code"], out[0].message["path"]) == ("missing_field", path)


def test_every_message_the_core_emits_is_strict_json():
    """An out-of-range number (1e400 reads as float inf) must not come out as ``Infinity``.

    JSON has no Infinity; browsers' JSON.parse rejects the frame the server
    sends to every member (docs: NaN/Infinity are bad_json on the way in).
    """
    chat = world()
    out = chat.core.receive("ada", '{"type": "publish", "room": "lobby", "data": {"body": 1e400}}')
    for o in out:
        json.dumps(o.message, allow_nan=False)


def test_whatever_is_accepted_can_be_sent_back_in_a_join_reply():
    """A body nested just below the parser's limit is accepted, but the history
    that holds it nests it 3 levels deeper, so every later join (and history)
    reply fails to encode (RecursionError): on the server that kills each
    newcomer's connection with 1011. Found by probing depths near the limit.
    """

    def publish(chat: Chat, depth: int) -> list[Outgoing[str]]:
        body = "[" * depth + "]" * depth
        raw = '{"type": "publish", "room": "lobby", "data": {"body": ' + body + "}}"
        return chat.core.receive("ada", raw)

    # The deepest body the parser accepts here (binary search over the depth).
    low, high = 1, 100_000
    while low < high:
        middle = (low + high + 1) // 2
        probe = Chat()
        probe.connect("ada")
        probe.ok("ada", "join", "lobby")
        if publish(probe, middle)[0].message["type"] == "reply":
            low = middle
        else:
            high = middle - 1
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    assert publish(chat, low)[0].message["type"] == "reply"
    out = chat.send("bob", "join", "lobby") + chat.send("bob", "history", "lobby")
    for o in out:
        encode_json(o.message)
