"""wsnb.Rooms over real sockets on bad input: one row per documented error, and worse.

Each bad frame gets the documented error reply, to the sender only; the
connection stays usable and the others see nothing. Waits are conditions,
never sleeps; ``assert_no_events`` checks for nothing unread after a
round-trip (see test_rooms.py). Presence is sent at once here
(``presence_interval=0``) so that every event can be accounted for.
"""

from __future__ import annotations

import contextlib
import json
import logging

import pytest
from helpers import (
    TIMEOUT,
    assert_no_events,
    events,
    messages,
    presence,
    said,
    wait_until,
)

import wsnb
from wsnb.core import RoomLimits

# Bad input over the wire: one row per documented error

LONG_NAME = "n" * 33
LONG_ROOM = "r" * 65

WIRE_ROWS = [
    # (id, frame, code, path, id echoed, re)
    ("malformed-json", '{"type": "publish", "id": 41,', "bad_json", None, None, None),
    ("not-utf8-binary", b'{"type": "rooms", "id": "\xff"}', "not_text", None, None, None),
    ("json-in-binary", b'{"type": "rooms", "id": 40}', "not_text", None, None, None),
    ("empty-binary", b"", "not_text", None, None, None),
    (
        "nan",
        '{"type": "publish", "id": 42, "room": "lobby", "data": {"body": NaN}}',
        "bad_json",
        None,
        None,
        None,
    ),
    ("array", '[{"type": "rooms"}]', "not_an_object", None, None, None),
    ("string", '"hello"', "not_an_object", None, None, None),
    ("missing-type", '{"id": 43}', "missing_field", "type", 43, None),
    (
        "missing-room",
        '{"type": "publish", "id": 44, "data": {"body": 1}}',
        "missing_field",
        "room",
        44,
        "publish",
    ),
    (
        "missing-body",
        '{"type": "publish", "id": 45, "room": "lobby"}',
        "missing_field",
        "data.body",
        45,
        "publish",
    ),
    ("room-wrong-type", '{"type": "join", "id": 46, "room": 5}', "wrong_type", "room", 46, "join"),
    (
        "since-wrong-type",
        '{"type": "history", "id": 47, "room": "lobby", "data": {"since": "x"}}',
        "wrong_type",
        "data.since",
        47,
        "history",
    ),
    (
        "data-wrong-type",
        '{"type": "hello", "id": 48, "data": "mallory"}',
        "wrong_type",
        "data",
        48,
        "hello",
    ),
    ("id-wrong-type", '{"type": "rooms", "id": true}', "wrong_type", "id", None, None),
    ("id-float", '{"type": "rooms", "id": 1.0}', "wrong_type", "id", None, None),
    ("id-2-53", '{"type": "rooms", "id": 9007199254740992}', "invalid_value", "id", None, None),
    ("id-too-long", json.dumps({"type": "rooms", "id": "i" * 65}), "too_long", "id", None, None),
    (
        "seq-400-digits",
        '{"type": "join", "id": 55, "room": "lobby", "data": {"since": {"epoch": "e", "seq": '
        + "9" * 400
        + "}}}",
        "invalid_value",
        "data.since.seq",
        55,
        "join",
    ),
    (
        "since-2-53",
        '{"type": "history", "id": 56, "room": "lobby", "data": {"since": 9007199254740992}}',
        "invalid_value",
        "data.since",
        56,
        "history",
    ),
    (
        "limit-float",
        '{"type": "history", "id": 57, "room": "lobby", "data": {"limit": 1.0}}',
        "wrong_type",
        "data.limit",
        57,
        "history",
    ),
    (
        "reply-not-boolean",
        '{"type": "publish", "id": 58, "room": "lobby", "data": {"body": 1, "reply": "no"}}',
        "wrong_type",
        "data.reply",
        58,
        "publish",
    ),
    (
        "too-large-reply-false",
        json.dumps(
            {
                "type": "publish",
                "id": 59,
                "room": "lobby",
                "data": {"body": "x" * 990_000, "reply": False},
            }
        ),
        "too_large",
        "data.body",
        59,
        "publish",
    ),
    ("unknown-type", '{"type": "dance", "id": "d-1"}', "unknown_type", "type", "d-1", "dance"),
    (
        "unknown-room",
        '{"type": "history", "id": 49, "room": "nowhere"}',
        "unknown_room",
        "room",
        49,
        "history",
    ),
    (
        "not-a-member",
        '{"type": "publish", "id": 50, "room": "other", "data": {"body": 1}}',
        "not_a_member",
        "room",
        50,
        "publish",
    ),
    (
        "name-too-long",
        json.dumps({"type": "hello", "id": 51, "data": {"name": LONG_NAME}}),
        "too_long",
        "data.name",
        51,
        "hello",
    ),
    (
        "room-name-too-long",
        json.dumps({"type": "join", "id": 52, "room": LONG_ROOM}),
        "too_long",
        "room",
        52,
        "join",
    ),
    (
        "name-empty",
        '{"type": "hello", "id": 53, "data": {"name": ""}}',
        "invalid_value",
        "data.name",
        53,
        "hello",
    ),
    (
        "name-control-char",
        '{"type": "hello", "id": 54, "data": {"name": "a\\u0007"}}',
        "invalid_value",
        "data.name",
        54,
        "hello",
    ),
]


@contextlib.asynccontextmanager
async def bad_and_good(open_client, **serve_options):
    """A Rooms server with mallory and an observer in lobby; 'other' exists without them."""
    rooms = wsnb.Rooms(limits=RoomLimits(max_rooms_per_member=2, presence_interval=0))
    server = await wsnb.serve(rooms, **serve_options)
    rooms.publish("other", "made by the server")
    mallory = await open_client(server, "mallory")
    observer = await open_client(server, "observer")
    await mallory.join("lobby")
    await observer.join("lobby")
    joined = presence("lobby", 2, joined=[(2, "observer")])
    assert await events(mallory, 2) == [presence("lobby", 1, joined=[(1, "mallory")]), joined]
    assert await events(observer, 1) == [joined]
    assert rooms.publish("lobby", "before") == 1
    assert said(await events(mallory, 1)) == [("server", "before")]
    assert said(await events(observer, 1)) == [("server", "before")]
    yield server, rooms, mallory, observer


@pytest.mark.parametrize(
    ("frame", "code", "path", "request_id", "re"),
    [row[1:] for row in WIRE_ROWS],
    ids=[row[0] for row in WIRE_ROWS],
)
async def test_bad_frame_gets_an_error_and_the_connection_stays_usable(
    open_client, frame, code, path, request_id, re
):
    """The documented error reply, to the sender only; it goes on; the others see nothing."""
    async with bad_and_good(open_client) as (_, rooms, mallory, observer):
        await mallory.connection.send(frame)
        error = await mallory.next_event(timeout=TIMEOUT)
        assert error["type"] == "error"
        assert (error["code"], error.get("path")) == (code, path), error
        assert error.get("id") == request_id
        assert error.get("re") == re
        assert isinstance(error["message"], str) and error["message"]
        # Nothing changed, and mallory goes on (under its old name).
        assert rooms.names() == ["other", "lobby"]
        assert rooms.members("lobby") == ["mallory", "observer"]
        assert len(rooms.history("lobby")) == 1
        assert await mallory.publish("lobby", "after") == 2
        expected = [("server", "before"), ("mallory", "after")]
        assert said(await events(observer, 1)) == expected[1:]
        assert said(await events(mallory, 1)) == expected[1:]
        assert said(rooms.history("lobby")) == expected
        await assert_no_events(observer)
        await assert_no_events(mallory)


async def test_too_many_rooms_over_the_wire(open_client):
    """With max_rooms_per_member=2 a third join is refused; the connection keeps its rooms."""
    async with bad_and_good(open_client) as (_, rooms, mallory, observer):
        rooms.publish("third", "exists")
        assert (await mallory.join("other"))["members"] == [{"id": 1, "name": "mallory"}]
        assert await events(mallory, 1) == [presence("other", 1, joined=[(1, "mallory")])]
        with pytest.raises(wsnb.RequestError) as info:
            await mallory.join("third")
        assert (info.value.code, info.value.path) == ("too_many_rooms", "room")
        assert rooms.members("third") == []
        await mallory.connection.send('{"type": "join", "id": 77, "room": "third"}')
        error = await mallory.next_event(timeout=TIMEOUT)
        assert (error["code"], error["id"], error["re"]) == ("too_many_rooms", 77, "join")
        assert await mallory.publish("lobby", "still in lobby") == 2
        assert said(await events(observer, 1)) == [("mallory", "still in lobby")]
        assert said(await events(mallory, 1)) == [("mallory", "still in lobby")]
        await mallory.leave("other")
        assert (await mallory.join("third"))["members"] == [{"id": 1, "name": "mallory"}]
        assert await events(mallory, 1) == [presence("third", 1, joined=[(1, "mallory")])]
        await assert_no_events(observer)
        await assert_no_events(mallory)


async def test_message_over_the_size_limit_closes_1009(open_client):
    """Over max_size: the server closes with 1009; the others keep receiving and see a leave."""
    async with bad_and_good(open_client, max_size=1024) as (_, rooms, mallory, observer):
        assert await mallory.publish("lobby", "x" * 900) == 2  # under the limit: fine
        assert said(await events(observer, 1)) == [("mallory", "x" * 900)]
        assert said(await events(mallory, 1)) == [("mallory", "x" * 900)]
        await mallory.connection.send(
            json.dumps({"type": "publish", "id": 99, "room": "lobby", "data": {"body": "x" * 2000}})
        )
        with pytest.raises(wsnb.WsnbError, match="closed"):
            await mallory.next_event(timeout=TIMEOUT)
        assert mallory.connection.close_code == 1009
        assert await events(observer, 1) == [presence("lobby", 1, left=[(1, "mallory")])]
        assert rooms.publish("lobby", "after") == 3  # the big message was never published
        assert said(await events(observer, 1)) == [("server", "after")]
        assert await observer.members("lobby") == ["observer"]


SURROGATE_BODY = '{"type": "publish", "room": "lobby", "data": {"body": "\\ud800"}}'
SURROGATE_ID = '{"type": "rooms", "id": "\\udc00"}'


@pytest.mark.parametrize("frame", [SURROGATE_BODY, SURROGATE_ID], ids=["body", "id"])
async def test_lone_surrogate_gets_an_error_not_a_dead_connection(open_client, caplog, frame):
    """A lone surrogate escape ("\\ud800") is bad_json: it could never be encoded back (it
    once raised UnicodeEncodeError in Rooms._send, closing the sender with 1011)."""
    caplog.set_level(logging.CRITICAL, logger="websockets")
    async with bad_and_good(open_client) as (_, rooms, mallory, observer):
        await mallory.connection.send(frame)
        try:
            await mallory.publish("lobby", "after")
        except wsnb.WsnbError:
            pytest.fail(
                f"the server closed the connection with "
                f"{mallory.connection.close_code} instead of answering an error"
            )
        assert said(await messages(observer, 1)) == [("mallory", "after")]


async def test_lone_surrogate_body_does_not_poison_the_room(open_client, caplog):
    """An un-encodable message never reaches the room's history (it once did, and every
    later join of the room, history included, killed the newcomer's connection with 1011)."""
    caplog.set_level(logging.CRITICAL, logger="websockets")
    async with bad_and_good(open_client) as (server, rooms, mallory, observer):
        await mallory.connection.send(SURROGATE_BODY)
        await wait_until(
            lambda: mallory.connection.close_code is not None or mallory.pending_events > 0
        )
        newcomer = await open_client(server, "newcomer")
        try:
            reply = await newcomer.join("lobby")
        except wsnb.WsnbError:
            pytest.fail(
                f"joining the room closed the newcomer with {newcomer.connection.close_code}"
            )
        assert reply["members"][-1] == {"id": 3, "name": "newcomer"}
        assert rooms.publish("lobby", "still working") >= 2
        while said(await messages(observer, 1)) != [("server", "still working")]:
            pass  # whatever the server made of the bad body, the room goes on


async def test_null_optional_fields_are_absent_and_unknown_fields_are_ignored(open_client):
    """docs, "Reading requests": an optional field set to null is as absent; fields the
    protocol does not list, in the envelope or in data, are ignored."""
    async with bad_and_good(open_client) as (_, rooms, mallory, observer):
        frames = {
            60: '{"type": "history", "id": 60, "room": "lobby", "extra": 1,'
            ' "data": {"since": null, "limit": null, "later": [1]}}',
            61: '{"type": "members", "id": 61, "room": "lobby", "data": {"after": null,'
            ' "limit": null}}',
            62: '{"type": "rooms", "id": 62, "room": null, "data": {"after": null}}',
            63: '{"type": "publish", "id": 63, "room": "lobby", "v": 3,'
            ' "data": {"body": "hi", "reply": null, "to": "everyone"}}',
        }
        for frame in frames.values():
            await mallory.connection.send(frame)
        replies = {}
        while len(replies) < len(frames):
            event = await mallory.next_event(timeout=TIMEOUT)
            if event["type"] == "reply":
                replies[event["id"]] = event["data"]
        assert [m["seq"] for m in replies[60]["messages"]] == [1] and "more" not in replies[60]
        assert [m["name"] for m in replies[61]["members"]] == ["mallory", "observer"]
        assert replies[62]["count"] == 2
        assert replies[63] == {"room": "lobby", "seq": 2}
        (message,) = [m for m in rooms.history("lobby") if m["seq"] == 2]
        assert message["data"] == {"from": "mallory", "body": "hi", "time": message["data"]["time"]}
        assert said(await events(observer, 1)) == [("mallory", "hi")]
        await assert_no_events(observer)


async def test_joining_twice_is_harmless_and_resuming_into_no_room_is_epoch_changed(open_client):
    async with bad_and_good(open_client) as (_, rooms, mallory, observer):
        again = await mallory.join("lobby")
        assert (again["you"], again["count"], again["seq"]) == (1, 2, 1)
        await assert_no_events(observer)
        await assert_no_events(mallory)
        reply = await observer.join("ghost", since={"epoch": "gone", "seq": 41})
        assert (reply["recovered"], reply["reason"]) == (False, "epoch_changed")
        assert (reply["seq"], reply["history"], reply["epoch"]) == (
            0,
            [],
            rooms.room("ghost").epoch,
        )
        assert await events(observer, 1) == [presence("ghost", 1, joined=[(1, "observer")])]
        assert await mallory.publish("lobby", "served") == 2
        assert said(await events(observer, 1)) == [("mallory", "served")]
