"""wsnb.Rooms and wsnb.RoomsClient over real sockets (docs/protocol.md end to end).

Bad input over the wire (one row per documented error, oversized and
un-encodable messages): test_rooms_bad_input.py; presence batching and slow
members: test_rooms_presence.py; the hostile cases of issue 10 (sizes,
budgets, rooms): test_rooms_budget.py.

Presence comes in ticks (50 ms): where a test cares only about who is there,
it reads presence events until its member map is the expected one
(``presence_until``); where it asserts each event, the server sends them at
once (``RoomLimits(presence_interval=0)``).

Waits are conditions (wait_until, next_event(timeout=...)), never sleeps. To
check that a client got nothing it should not have, a request round-trip is
used: the server answers in order, so by the time the reply is back every
event sent before it is in the client's queue (see ``assert_no_events``).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import (
    TIMEOUT,
    assert_no_events,
    events,
    joined_until,
    member_map,
    messages,
    presence,
    presence_until,
    said,
    wait_until,
)

import wsnb
from wsnb.core import RoomLimits

#: Each test with ``rooms_server`` runs in memory and on Redis (tests/conftest.py).
BACKENDS = ["memory", "redis"]

AT_ONCE = RoomLimits(presence_interval=0)

# Chat between several clients


async def test_three_clients_two_rooms(rooms_server, open_client):
    """Each client gets the messages of its rooms only, in order, with epoch and seq."""
    rooms, server = rooms_server
    ada, bob, carol = [await open_client(server, n) for n in ("ada", "bob", "carol")]
    lobby = await ada.join("lobby")
    assert (lobby["room"], lobby["seq"], lobby["history"], lobby["protocol"]) == ("lobby", 0, [], 2)
    assert (lobby["count"], lobby["you"], lobby["members"]) == (1, 1, [{"id": 1, "name": "ada"}])
    bob_lobby = await bob.join("lobby")
    assert (bob_lobby["you"], member_map(bob_lobby["members"])) == (2, {1: "ada", 2: "bob"})
    await joined_until(bob, bob_lobby, {1: "ada", 2: "bob"})
    dev = await bob.join("dev")
    carol_dev = await carol.join("dev")
    await joined_until(ada, lobby, {1: "ada", 2: "bob"})
    await joined_until(carol, carol_dev, {1: "bob", 2: "carol"})
    await joined_until(bob, dev, {1: "bob", 2: "carol"})

    assert await ada.publish("lobby", "hi bob") == 1
    assert await carol.publish("dev", "hi bob") == 1
    assert await bob.publish("lobby", "hi ada") == 2
    assert await bob.publish("dev", {"to": ["carol"], "n": 2}) == 2

    ada_got = await events(ada, 2)
    bob_got = await events(bob, 4)
    carol_got = await events(carol, 2)
    assert said(ada_got) == [("ada", "hi bob"), ("bob", "hi ada")]
    assert [(m["room"], m["seq"]) for m in bob_got] == [
        ("lobby", 1),
        ("dev", 1),
        ("lobby", 2),
        ("dev", 2),
    ]
    assert said(carol_got) == [("carol", "hi bob"), ("bob", {"to": ["carol"], "n": 2})]
    for m in ada_got:
        assert m["type"] == "message" and m["room"] == "lobby"
        assert m["epoch"] == lobby["epoch"]
        assert isinstance(m["data"]["time"], float)
    assert all(m["epoch"] == dev["epoch"] for m in carol_got)
    assert lobby["epoch"] != dev["epoch"]
    # The same message reaches every member identically.
    assert [m for m in bob_got if m["room"] == "lobby"] == ada_got
    assert [m for m in bob_got if m["room"] == "dev"] == carol_got
    for client in (ada, bob, carol):
        await assert_no_events(client)


async def test_newcomer_receives_the_history(rooms_server, open_client):
    """A late joiner's reply holds the recent messages exactly as members received them."""
    rooms, server = rooms_server
    ada = await open_client(server, "ada")
    members = member_map((await ada.join("lobby"))["members"])
    await presence_until(ada, "lobby", members, {1: "ada"}, you=1)
    for body in ("one", "two", "three"):
        await ada.publish("lobby", body)
    seen = await messages(ada, 3)
    dave = await open_client(server, "dave")
    reply = await dave.join("lobby")
    assert reply["history"] == seen
    assert (reply["seq"], member_map(reply["members"])) == (3, {1: "ada", 2: "dave"})
    erin = await open_client(server, "erin")
    assert (await erin.join("lobby", history=2))["history"] == seen[1:]
    assert await dave.history("lobby", since=1) == seen[1:]
    await presence_until(ada, "lobby", members, {1: "ada", 2: "dave", 3: "erin"})


async def test_presence_join_rename_leave(open_client):
    """Everyone in the room sees join, rename (with was) and leave, by member id; a leaver
    gets no more messages, and is not told of its own leave."""
    rooms = wsnb.Rooms(limits=AT_ONCE)
    server = await wsnb.serve(rooms)
    ada, bob = await open_client(server, "ada"), await open_client(server, "bob")
    await ada.join("lobby")
    await bob.join("lobby")
    assert await bob.request("hello", name="robert") == {"name": "robert", "protocol": 2}
    assert await bob.leave("lobby") == {"room": "lobby"}
    assert await events(ada, 4) == [
        presence("lobby", 1, joined=[(1, "ada")]),
        presence("lobby", 2, joined=[(2, "bob")]),
        presence("lobby", 2, renamed=[(2, "robert", "bob")]),
        presence("lobby", 1, left=[(2, "robert")]),
    ]
    assert await events(bob, 2) == [
        presence("lobby", 2, joined=[(2, "bob")]),
        presence("lobby", 2, renamed=[(2, "robert", "bob")]),
    ]
    assert rooms.members("lobby") == ["ada"]
    await ada.publish("lobby", "bob is gone")
    with pytest.raises(wsnb.RequestError) as info:
        await bob.publish("lobby", "still here?")
    assert (info.value.code, info.value.path) == ("not_a_member", "room")
    await assert_no_events(bob)  # neither its own leave nor ada's message
    assert said(await events(ada, 1)) == [("ada", "bob is gone")]
    await assert_no_events(ada)


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_disconnect_produces_presence_leave(rooms_server, open_client, how):
    """A client that goes away, cleanly or not, leaves all its rooms; the others are told."""
    rooms, server = rooms_server
    ada, bob = await open_client(server, "ada"), await open_client(server, "bob")
    carol = await wsnb.RoomsClient.connect(server, name="carol")
    lobby = await ada.join("lobby")
    dev = await bob.join("dev")
    await carol.join("lobby")
    await carol.join("dev")
    await joined_until(ada, lobby, {1: "ada", 2: "carol"})
    await joined_until(bob, dev, {1: "bob", 2: "carol"})
    if how == "close":
        await carol.close()
    else:
        carol.connection.transport.abort()
    assert await events(ada, 1) == [presence("lobby", 1, left=[(2, "carol")])]
    assert await events(bob, 1) == [presence("dev", 1, left=[(2, "carol")])]
    assert rooms.members("lobby") == ["ada"] and rooms.members("dev") == ["bob"]
    await wait_until(lambda: rooms.hub.count == 2)
    if how == "abort":
        await carol.close()


async def test_resume_after_reconnecting(rooms_server, open_client):
    """Reconnect and join with since: exactly the missed messages; a new server: epoch_changed."""
    rooms, server = rooms_server
    bob = await open_client(server, "bob")
    await bob.join("lobby")
    ada = await wsnb.RoomsClient.connect(server, name="ada")
    await ada.join("lobby")
    await bob.publish("lobby", 1)
    last = (await events(ada, 1))[0]
    await ada.close()
    for n in (2, 3, 4):
        await bob.publish("lobby", n)
    missed = await messages(bob, 4)
    ada = await open_client(server, "ada")
    reply = await ada.join("lobby", since={"epoch": last["epoch"], "seq": last["seq"]})
    assert reply["recovered"] is True and "reason" not in reply
    assert reply["history"] == missed[1:]
    await server.stop()

    new_rooms = wsnb.Rooms()
    new_server = await wsnb.serve(new_rooms)
    ada = await open_client(new_server, "ada")
    reply = await ada.join("lobby", since={"epoch": last["epoch"], "seq": 4})
    assert (reply["recovered"], reply["reason"], reply["history"]) == (False, "epoch_changed", [])


# Request/response next to events


async def test_replies_are_matched_while_events_pile_up(rooms_server, open_client):
    """A client with hundreds of unread messages still gets each reply, by id."""
    rooms, server = rooms_server
    ada, bob = await open_client(server, "ada"), await open_client(server, "bob")
    await ada.join("lobby")
    await joined_until(bob, await bob.join("lobby"), {1: "ada", 2: "bob"})
    for i in range(300):
        await rooms.publish_shared("lobby", i)
    await wait_until(lambda: bob.pending_events >= 300)
    assert await bob.members("lobby") == ["ada", "bob"]
    # Several requests in flight at once, while ada keeps publishing.
    results = await asyncio.gather(
        bob.history("lobby", since=290),
        bob.request("history", "lobby", limit=5),
        bob.rooms(),
        ada.publish("lobby", "more"),
        bob.member_list("lobby"),
        ada.publish("lobby", "x", reply=False),
        bob.request("history", "lobby", since=0, limit=5),
    )
    assert [m["data"]["body"] for m in results[0]] == list(range(290, 300))
    assert [m["seq"] for m in results[1]["messages"]] == [296, 297, 298, 299, 300]
    assert results[2] == [{"room": "lobby", "count": 2, "seq": results[2][0]["seq"]}]
    assert results[3] in (301, 302) and results[5] is None
    assert results[4] == [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]
    assert ([m["seq"] for m in results[6]["messages"]], results[6]["more"]) == (
        [1, 2, 3, 4, 5],
        True,
    )
    got = await messages(bob, 302)
    assert [m["seq"] for m in got] == list(range(1, 303))
    assert [m["data"]["body"] for m in got[:300]] == list(range(300))
    await assert_no_events(bob)


async def test_publish_without_a_reply(rooms_server, open_client):
    """reply=False: no reply, the sender still gets its message; errors still come back."""
    rooms, server = rooms_server
    ada = await open_client(server, "ada")
    await joined_until(ada, await ada.join("lobby"), {1: "ada"})
    assert await ada.publish("lobby", "fire and forget", reply=False) is None
    assert said(await events(ada, 1)) == [("ada", "fire and forget")]
    await ada.publish("nowhere", "lost", reply=False)
    error = await ada.next_event(timeout=TIMEOUT)
    assert (error["type"], error["code"], error["re"]) == ("error", "unknown_room", "publish")
    await ada.connection.send(
        '{"type": "publish", "id": 5, "room": "lobby", "data": {"body": 1, "reply": "no"}}'
    )
    error = await ada.next_event(timeout=TIMEOUT)
    assert (error["code"], error["path"], error["id"]) == ("wrong_type", "data.reply", 5)
    assert rooms.core.room("lobby").history.last_seq == 1
    await assert_no_events(ada)


async def test_request_error_has_code_and_path(rooms_server, open_client):
    _, server = rooms_server
    ada = await open_client(server, "ada")
    with pytest.raises(wsnb.RequestError) as info:
        await ada.publish("nowhere", "hi")
    error = info.value
    assert (error.code, error.path) == ("unknown_room", "room")
    assert error.reply["type"] == "error" and error.reply["re"] == "publish"
    assert isinstance(error.reply["id"], int)
    assert "unknown_room" in str(error) and "room" in str(error)
    assert isinstance(error, wsnb.WsnbError)
    with pytest.raises(wsnb.RequestError) as info:
        await ada.request("hello", name="x" * 33)
    assert (info.value.code, info.value.path) == ("too_long", "data.name")
    joined = await ada.join("lobby")  # still usable
    assert joined["members"] == [{"id": 1, "name": "ada"}]
    assert await joined_until(ada, joined, {1: "ada"}) == [
        presence("lobby", 1, joined=[(1, "ada")])
    ]
    await assert_no_events(ada)  # error replies are not events


async def _answers_all_but_ignore(ws):
    """A server that answers every request with a reply, except type 'ignore'; 'bye' closes."""
    async for raw in ws:
        request = json.loads(raw)
        if request["type"] == "bye":
            await ws.close()
        elif request["type"] != "ignore":
            await ws.send(
                json.dumps(
                    {
                        "type": "reply",
                        "id": request["id"],
                        "re": request["type"],
                        "data": {"ok": True},
                    }
                )
            )


async def test_request_timeout_raises_timeout_error(open_client):
    """No reply within timeout: TimeoutError; the client stays usable."""
    server = await wsnb.serve(_answers_all_but_ignore)
    client = await open_client(server)
    with pytest.raises(TimeoutError):
        await client.request("ignore", timeout=0.2)
    assert await client.request("ping") == {"ok": True}


async def test_pending_request_fails_when_the_connection_closes(open_client):
    server = await wsnb.serve(_answers_all_but_ignore)
    client = await open_client(server)
    with pytest.raises(wsnb.WsnbError, match="closed before the reply"):
        await client.request("bye")
    with pytest.raises(wsnb.WsnbError, match="closed"):
        await client.next_event(timeout=TIMEOUT)


# Server-side API and notebook display


async def test_server_side_publish_and_queries(rooms_server, open_client):
    """Rooms.publish reaches the members with from='server'; names/members/history."""
    rooms, server = rooms_server
    ada, bob = await open_client(server, "ada"), await open_client(server, "bob")
    lobby = await ada.join("lobby")
    joined = await bob.join("lobby")
    await joined_until(ada, lobby, {1: "ada", 2: "bob"})
    await joined_until(bob, joined, {1: "ada", 2: "bob"})
    assert await rooms.publish_shared("lobby", "from the server") == 1
    assert await rooms.publish_shared("lobby", {"n": 2}, sender="bot") == 2
    assert await rooms.publish_shared("news", "nobody listens") == 1  # a new room
    got = await events(ada, 2)
    assert await events(bob, 2) == got
    assert said(got) == [("server", "from the server"), ("bot", {"n": 2})]
    assert rooms.names() == ["lobby", "news"]
    assert rooms.members("lobby") == ["ada", "bob"] and rooms.members("news") == []
    assert rooms.history("lobby") == got
    assert rooms.history("lobby", since=1) == got[1:]
    assert await ada.history("lobby") == got
    assert await ada.rooms() == [
        {"room": "lobby", "count": 2, "seq": 2},
        {"room": "news", "count": 0, "seq": 1},
    ]
    assert "2 rooms, 2 connections" in repr(rooms)
    await assert_no_events(ada)


async def test_fixed_rooms_over_the_wire(open_client):
    rooms = wsnb.Rooms(rooms=["lobby", "help"])
    server = await wsnb.serve(rooms)
    ada = await open_client(server, "ada")
    with pytest.raises(wsnb.RequestError) as info:
        await ada.join("random")
    assert (info.value.code, info.value.path) == ("unknown_room", "room")
    assert (await ada.join("help"))["members"] == [{"id": 1, "name": "ada"}]
    assert rooms.names() == ["lobby", "help"]


async def test_room_view_escapes_html(rooms_server, open_client):
    """RoomView shows members and messages escaped: client text never becomes markup."""
    rooms, server = rooms_server
    evil_text = "<script>alert(1)</script>"
    evil = await open_client(server, evil_text)
    bob = await open_client(server, "bob & co")
    join = await evil.join("lobby")
    await bob.join("lobby")
    await evil.publish("lobby", evil_text)
    await evil.publish("lobby", {"html": "<b>bold</b>"})
    view = rooms.room("lobby")
    assert view.members == [evil_text, "bob & co"]
    assert (view.seq, view.epoch) == (2, join["epoch"])
    assert view.history() == rooms.history("lobby") and len(view.history(1)) == 1
    html = view._repr_html_()
    assert "<script>" not in html and "<b>bold" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert html.count(escaped) == 4  # in the members, and as from x2 and body x1
    assert "bob &amp; co" in html
    assert "{&quot;html&quot;:&quot;&lt;b&gt;bold&lt;/b&gt;&quot;}" in html
    assert "lobby" in repr(view) and "seq=2" in repr(view)
    await rooms.publish_shared("<i>room</i>", "x")
    assert "&lt;i&gt;room&lt;/i&gt;" in rooms._repr_html_()
    assert "<i>" not in rooms._repr_html_()
    with pytest.raises(KeyError):
        rooms.room("nowhere")
