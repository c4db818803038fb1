"""RoomsCore membership without sockets: hello and names, join, leave and disconnect, fixed rooms.

Each test feeds requests as JSON text to RoomsCore.receive (through
``protocol.Chat``) and checks the Outgoing messages (who gets what) against
docs/protocol.md; presence goes out at the tick (``Chat.tick``). Publishing
and queries: test_rooms_messages.py; presence deltas: test_presence.py; bad
input: test_rooms_errors.py; limits: test_room_limits.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from wsnb.core import Outgoing, RoomLimits
from wsnb.core.pages import PROTOCOL_VERSION

from .protocol import Chat, body_seqs, member, messages_to, presence_data

Sent = tuple[tuple[str, ...], dict[str, Any]]


def presence_event(room: str, to: tuple[str, ...], **data: Any) -> Sent:
    """A presence event and who gets it, decoded (Outgoing holds the text)."""
    return (to, {"type": "presence", "room": room, "data": presence_data(**data)})


def decoded(out: list[Outgoing[str]]) -> list[Sent]:
    """Who gets what, each message decoded."""
    return [(o.to, o.message) for o in out]


# hello and names


def test_connections_are_guests_until_hello():
    """Without a name a connection is guest-1, guest-2...; hello renames it and says the
    protocol version."""
    chat = Chat()
    chat.connect("a", "b", named=False)
    assert [chat.core.name_of("a"), chat.core.name_of("b")] == ["guest-1", "guest-2"]
    out = chat.send("a", "hello", id=1, name="ada")
    assert decoded(out) == [
        (("a",), {"type": "reply", "id": 1, "re": "hello", "data": {"name": "ada", "protocol": 2}})
    ]
    assert PROTOCOL_VERSION == 2
    assert chat.core.name_of("a") == "ada"


def test_hello_renames_in_every_room_at_the_next_tick():
    """Each room the member is in gets one presence event with the rename (and ``was``), to
    everyone in the room; the names change at once."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "ada", "carol")
    chat.tick()
    out = chat.send("ada", "hello", name="Ada L.")
    assert decoded(out) == [
        (("ada",), {"type": "reply", "re": "hello", "data": {"name": "Ada L.", "protocol": 2}})
    ]
    renamed = [{"id": 1, "name": "Ada L.", "was": "ada"}]
    assert decoded(chat.tick()) == [
        presence_event("lobby", ("ada", "bob"), count=2, renamed=renamed),
        presence_event("dev", ("ada", "carol"), count=2, renamed=renamed),
    ]
    assert chat.core.members("lobby") == ["Ada L.", "bob"]
    assert chat.ok("bob", "members", "dev")["members"] == [member(1, "Ada L."), member(2, "carol")]
    out = chat.send("ada", "publish", "lobby", body="hi")
    assert out[1].message["data"]["from"] == "Ada L."


def test_names_need_not_be_unique_ids_tell_them_apart():
    chat = Chat()
    chat.connect("k1", "k2")
    chat.ok("k1", "hello", name="sam")
    chat.ok("k2", "hello", name="sam")
    chat.join("lobby", "k1", "k2")
    assert chat.core.members("lobby") == ["sam", "sam"]
    assert chat.ok("k1", "members", "lobby")["members"] == [member(1, "sam"), member(2, "sam")]


def test_name_at_the_limit_and_printable_unicode_are_accepted():
    chat = Chat()
    chat.connect("ada")
    assert chat.ok("ada", "hello", name="x" * 32)["name"] == "x" * 32
    assert chat.ok("ada", "hello", name="Ada Lovelace ✓ 日本")["name"] == "Ada Lovelace ✓ 日本"
    assert chat.ok("ada", "hello", name="𝄞" * 32)["name"] == "𝄞" * 32  # characters, not units


# join


def test_first_join_creates_the_room():
    """The reply: room, protocol, epoch, seq 0, count 1, you 1, members [me], no history."""
    chat = Chat()
    chat.connect("ada")
    assert chat.core.names() == []
    out = chat.send("ada", "join", "lobby", id="j1")
    assert decoded(out) == [
        (
            ("ada",),
            {
                "type": "reply",
                "id": "j1",
                "re": "join",
                "data": {
                    "room": "lobby",
                    "protocol": 2,
                    "epoch": "ep1",
                    "seq": 0,
                    "count": 1,
                    "you": 1,
                    "members": [member(1, "ada")],
                    "history": [],
                },
            },
        )
    ]
    assert chat.core.names() == ["lobby"]
    assert "recovered" not in out[0].message["data"] and "more" not in out[0].message["data"]
    # At the tick, the room (ada alone) hears of ada's join.
    assert decoded(chat.tick()) == [
        presence_event("lobby", ("ada",), count=1, joined=[member(1, "ada")])
    ]
    assert chat.tick() == []


def test_joins_get_the_next_member_id_and_one_event_per_tick():
    """Member ids are the room's join counter; the tick tells everyone in the room."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.ok("ada", "join", "lobby")
    chat.tick()
    bob = chat.ok("bob", "join", "lobby")
    assert (bob["you"], bob["count"], bob["members"]) == (
        2,
        2,
        [member(1, "ada"), member(2, "bob")],
    )
    carol = chat.ok("carol", "join", "lobby")
    assert (carol["you"], carol["count"]) == (3, 3)
    assert decoded(chat.tick()) == [
        presence_event(
            "lobby",
            ("ada", "bob", "carol"),
            count=3,
            joined=[member(2, "bob"), member(3, "carol")],
        )
    ]


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


def test_join_history_asked_for_explicitly_is_as_the_default():
    chat = Chat(RoomLimits(history_size=5))
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    for i in range(8):
        chat.ok("ada", "publish", "lobby", body=i)
    plain = chat.ok("ada", "join", "lobby")["history"]
    assert chat.ok("ada", "join", "lobby", history=20)["history"] == plain


def test_rejoin_is_harmless_same_id_nobody_told():
    """Joining a room one is in: a reply as for a first join, the same ``you``, no presence."""
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada", "bob")
    chat.ok("ada", "publish", "lobby", body="x")
    chat.tick()
    out = chat.send("bob", "join", "lobby")
    assert len(out) == 1 and out[0].to == ("bob",)
    data = out[0].message["data"]
    assert (data["you"], data["count"]) == (2, 2)
    assert data["members"] == [member(1, "ada"), member(2, "bob")]
    assert body_seqs(data["history"]) == [1]
    assert chat.tick() == []
    assert chat.ok("ada", "rooms")["rooms"] == [{"room": "lobby", "count": 2, "seq": 1}]
    # One leave is enough: afterwards bob is not a member.
    chat.ok("bob", "leave", "lobby")
    assert chat.core.members("lobby") == ["ada"]
    assert chat.send("bob", "leave", "lobby")[0].message["code"] == "not_a_member"


def test_ids_are_never_reused_a_comeback_is_a_new_member():
    chat = Chat()
    chat.connect("ada", "bob")
    chat.join("lobby", "ada", "bob")
    chat.ok("bob", "leave", "lobby")
    assert chat.ok("bob", "join", "lobby")["you"] == 3
    assert chat.ok("ada", "members", "lobby")["members"] == [member(1, "ada"), member(3, "bob")]


# leave and disconnect


def test_leave_replies_and_the_others_are_told_the_leaver_is_not():
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.join("lobby", "ada", "bob", "carol")
    chat.tick()
    out = chat.send("bob", "leave", "lobby", id=9)
    assert decoded(out) == [
        (("bob",), {"type": "reply", "id": 9, "re": "leave", "data": {"room": "lobby"}})
    ]
    assert decoded(chat.tick()) == [
        presence_event("lobby", ("ada", "carol"), count=2, left=[member(2, "bob")])
    ]
    out = chat.send("ada", "publish", "lobby", body="after")
    assert out[1].to == ("ada", "carol")  # bob no longer gets the room's messages


def test_last_member_leaving_keeps_a_room_with_history():
    chat = Chat()
    chat.connect("ada", "bob")
    chat.ok("ada", "join", "lobby")
    chat.ok("ada", "publish", "lobby", body="kept")
    out = chat.send("ada", "leave", "lobby")
    assert len(out) == 1 and chat.tick() == []  # nobody to tell
    assert chat.core.names() == ["lobby"] and chat.core.members("lobby") == []
    data = chat.ok("bob", "join", "lobby")
    assert [m["data"]["body"] for m in data["history"]] == ["kept"]
    assert (data["epoch"], data["you"]) == ("ep1", 2)


def test_an_empty_room_keeps_its_epoch_even_without_history():
    """A room its last member left is kept, epoch and all, so that a client that saw no
    message yet can resume; only a new room needing its place makes it go (test_room_limits)."""
    chat = Chat()
    chat.connect("ada", "bob")
    epoch = chat.ok("ada", "join", "lobby")["epoch"]
    chat.ok("ada", "leave", "lobby")
    assert chat.core.names() == ["lobby"] and chat.tick() == []
    assert chat.ok("ada", "rooms") == {
        "count": 1,
        "rooms": [{"room": "lobby", "count": 0, "seq": 0}],
        "next": None,
    }
    data = chat.ok("bob", "join", "lobby", since={"epoch": epoch, "seq": 0})
    assert (data["recovered"], data["epoch"], data["you"]) == (True, "ep1", 2)


def test_disconnect_leaves_every_room_and_the_others_are_told():
    """disconnect: a leave in each room, told at the tick to those still there."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.join("lobby", "ada", "bob")
    chat.join("dev", "ada", "carol")
    chat.join("solo", "ada")
    chat.ok("ada", "publish", "solo", body="keep me")
    chat.tick()
    assert chat.core.disconnect("ada") == []
    assert decoded(chat.tick()) == [
        presence_event("lobby", ("bob",), count=1, left=[member(1, "ada")]),
        presence_event("dev", ("carol",), count=1, left=[member(1, "ada")]),
    ]
    assert chat.core.names() == ["lobby", "dev", "solo"]
    assert [chat.core.members(r) for r in ("lobby", "dev", "solo")] == [["bob"], ["carol"], []]
    with pytest.raises(KeyError):
        chat.core.name_of("ada")
    assert chat.core.disconnect("ada") == []
    assert chat.core.disconnect("never-connected") == []
    assert chat.core.receive("ada", '{"type": "rooms"}') == []  # gone: nothing to answer


# fixed rooms


def test_fixed_rooms_refuse_other_names():
    """With rooms=[...], joining any other room is unknown_room and creates nothing."""
    chat = Chat(rooms=["lobby", "help"])
    chat.connect("ada")
    assert chat.ok("ada", "rooms")["rooms"] == [
        {"room": "lobby", "count": 0, "seq": 0},
        {"room": "help", "count": 0, "seq": 0},
    ]
    out = chat.send("ada", "join", "random", id=3)
    assert decoded(out) == [
        (
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
    assert chat.ok("ada", "join", "help")["members"] == [member(1, "ada")]
    chat.ok("ada", "leave", "help")
    assert chat.core.names() == ["lobby", "help"]  # fixed rooms stay, even empty
    assert messages_to(chat.tick(), "ada") == []
