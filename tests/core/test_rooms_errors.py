"""RoomsCore on bad input without sockets: one error, with the documented code and path, to
the sender only, and nothing changed; the per-connection room limit; and the former bugs
where the code and docs/protocol.md disagreed (kept as regressions). The server's own
limits (sizes, rooms on the server): test_room_limits.py."""

from __future__ import annotations

import json

import pytest

from wsnb.core import Outgoing, RoomLimits
from wsnb.json_messages import encode_json

from .protocol import Chat, E, member

# Bad input: the documented code and path, to the sender only, nothing changed


def world() -> Chat:
    """ada and bob in lobby (2 messages), carol alone in other (1 message)."""
    chat = Chat()
    chat.connect("ada", "bob", "carol")
    chat.join("lobby", "ada", "bob")
    chat.ok("ada", "publish", "lobby", body="one")
    chat.ok("bob", "publish", "lobby", body="two")
    chat.ok("carol", "join", "other")
    chat.ok("carol", "publish", "other", body="three")
    return chat


BIG = 2**53  # one past the largest integer a request may hold
HUGE = 10**400  # 400 digits: JSON, and a Python int, but no JavaScript number

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
    ("history-since-2-53", E("history", "lobby", since=BIG), "invalid_value", "data.since"),
    ("history-since-400-digits", E("history", "lobby", since=HUGE), "invalid_value", "data.since"),
    ("history-limit-over-1000", E("history", "lobby", limit=1001), "invalid_value", "data.limit"),
    ("history-limit-float", E("history", "lobby", limit=1.0), "wrong_type", "data.limit"),
    ("members-after-negative", E("members", "lobby", after=-1), "invalid_value", "data.after"),
    ("members-after-string", E("members", "lobby", after="1"), "wrong_type", "data.after"),
    ("members-after-float", E("members", "lobby", after=1.0), "wrong_type", "data.after"),
    ("members-after-2-53", E("members", "lobby", after=BIG), "invalid_value", "data.after"),
    ("members-limit-zero", E("members", "lobby", limit=0), "invalid_value", "data.limit"),
    ("members-limit-over-1000", E("members", "lobby", limit=1001), "invalid_value", "data.limit"),
    ("rooms-after-string", E("rooms", after="x"), "wrong_type", "data.after"),
    ("rooms-after-400-digits", E("rooms", after=HUGE), "invalid_value", "data.after"),
    ("rooms-limit-zero", E("rooms", limit=0), "invalid_value", "data.limit"),
    ("rooms-limit-over-1000", E("rooms", limit=1001), "invalid_value", "data.limit"),
    (
        "join-since-seq-2-53",
        E("join", "other", since={"epoch": "ep2", "seq": BIG}),
        "invalid_value",
        "data.since.seq",
    ),
    (
        "join-since-seq-400-digits",
        E("join", "other", since={"epoch": "ep2", "seq": HUGE}),
        "invalid_value",
        "data.since.seq",
    ),
    ("join-since-list", E("join", "other", since=[]), "wrong_type", "data.since"),
    ("publish-reply-string", E("publish", "lobby", body=1, reply="no"), "wrong_type", "data.reply"),
    ("publish-reply-number", E("publish", "lobby", body=1, reply=1), "wrong_type", "data.reply"),
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
        ("[1, 2]", "not_an_object"),
        ("{}", "missing_field"),
        (b"\xff", "not_text"),
        (b'{"type": "rooms"}', "not_text"),  # a binary frame, however good its content
        (b"", "not_text"),
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
    assert chat.ok("ada", "join", "lobby")["members"] == [member(1, "ada")]  # already in: fine
    chat.ok("ada", "leave", "dev")
    assert chat.ok("ada", "join", "third")["members"] == [member(1, "carol"), member(2, "ada")]


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


# Former bugs, where the code and docs/protocol.md disagreed: kept as regressions


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
    """docs: "After an error ... nothing else changed." A refused join must not create its room
    (RoomsCore._join once created it before it validated data.history and data.since)."""
    chat = Chat()
    chat.connect("ada")
    out = chat.send("ada", "join", "typo-room", **data)
    assert out[0].message["type"] == "error"
    assert chat.core.names() == []
    assert chat.ok("ada", "rooms") == {"count": 0, "rooms": [], "next": None}


def test_too_many_rooms_does_not_create_the_room():
    """The too_many_rooms check also runs after the new room was created."""
    chat = Chat(RoomLimits(max_rooms_per_member=1))
    chat.connect("ada")
    chat.ok("ada", "join", "lobby")
    out = chat.send("ada", "join", "second")
    assert out[0].message["code"] == "too_many_rooms"
    assert chat.core.names() == ["lobby"]


def test_hello_without_a_name_is_missing_field():
    """docs: missing_field when "a required field is absent"; hello needs data.name (it was
    once answered wrong_type, "'data.name' must be a string, not null")."""
    chat = world()
    before = chat.snapshot()
    for request_ in ({"type": "hello"}, {"type": "hello", "data": {}}):
        out = chat.raw("ada", json.dumps(request_))
        assert [o.to for o in out] == [("ada",)]
        assert (out[0].message["code"], out[0].message["path"]) == ("missing_field", "data.name")
    assert chat.snapshot() == before


def test_resume_with_a_negative_seq_is_invalid_value():
    """docs: invalid_value for a number out of range, for join's since.seq as for history's
    since (it was once wrong_type)."""
    chat = world()
    out = chat.send("ada", "join", "other", since={"epoch": "ep2", "seq": -1})
    assert (out[0].message["code"], out[0].message["path"]) == ("invalid_value", "data.since.seq")


@pytest.mark.parametrize(
    ("since", "path"),
    [({"seq": 1}, "data.since.epoch"), ({"epoch": "ep2"}, "data.since.seq")],
    ids=["no-epoch", "no-seq"],
)
def test_resume_with_a_missing_since_field_is_missing_field(since, path):
    """docs: missing_field when a required field is absent (it was once wrong_type)."""
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
    """A body nested just below the parser's limit is accepted; the history that holds it
    nests it deeper in a join (and history) reply, which must still be sent (it once
    failed to encode, RecursionError, killing each newcomer's connection with 1011).
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
    assert [o.message["type"] for o in out] == ["reply", "reply"]
    assert len(out[0].message["data"]["history"]) == len(out[1].message["data"]["messages"]) == 1
    for o in out:
        encode_json(o.message)
