"""RoomsCore membership without sockets: hello and names, join, leave and disconnect, fixed rooms.

Each test feeds requests as JSON text to RoomsCore.receive (through
``protocol.Chat``) and checks the Outgoing messages (who gets what) against
docs/protocol.md. Publishing and queries: test_rooms_messages.py; bad input
and limits: test_rooms_errors.py.
"""

from __future__ import annotations

import pytest

from wsnb.core import Outgoing, RoomLimits

from .protocol import Chat, body_seqs, messages_to

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
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "ada", "carol")
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
    chat.join("lobby", "k1", "k2")
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
    chat.join("lobby", "ada", "bob")
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
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "ada", "carol")
    chat.join("solo", "ada")
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
