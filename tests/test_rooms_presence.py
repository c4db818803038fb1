"""Presence over real sockets (docs/protocol.md, "Presence"): one event per room per tick,
with the net change and the count, whatever the size of the room; and a member closed as
too slow (1008) leaves its rooms at once.

The core's rules (net differences, the member map over pages) are in
tests/core/test_presence.py; here the ticks are the server's timers.
"""

from __future__ import annotations

import asyncio
import json
import re

from helpers import (
    joined_until,
    member_map,
    presence_until,
    stalled_client,
    wait_until,
)

import wsnb
from wsnb.core import RoomLimits

OLD = ["ada", "bob", "carol", "dave", "erin"]


def blank_numbers(event: dict) -> str:
    return re.sub(r"\d+", "0", json.dumps(event))


async def test_a_burst_of_200_joins_costs_each_member_a_few_events(rooms_server, open_client):
    """200 clients join at once: each old member gets a few presence events, not 200, and
    applying them gives the room's 205 members; one join's event is as small in a room
    of 205 as in a room of 5."""
    rooms, server = rooms_server
    old = [await open_client(server, name) for name in OLD]
    replies = [await client.join("lobby") for client in old]
    five = {i: name for i, name in enumerate(OLD, 1)}
    for client, reply in zip(old, replies, strict=True):
        await joined_until(client, reply, five)
    maps = [dict(five) for _ in old]

    async def one_more(name: str) -> dict:
        """``name`` joins; the event every old member gets (and applies) for it."""
        client = await open_client(server, name)
        reply = await client.join("lobby")
        expected = {**maps[0], reply["you"]: name}
        got = [
            await presence_until(c, "lobby", m, expected) for c, m in zip(old, maps, strict=True)
        ]
        assert all(len(events) == 1 and events == got[0] for events in got)
        return got[0][0]

    small = await one_more("fred")  # a room of 6
    burst = await asyncio.gather(*(open_client(server) for _ in range(200)))
    joins = await asyncio.gather(*(client.join("lobby") for client in burst))
    assert sorted(reply["you"] for reply in joins) == list(range(7, 207))
    for reply in joins:  # a page, not the room
        assert len(reply["members"]) == min(100, reply["you"]) == min(100, reply["count"])
    expected = {
        mid: rooms.core.name_of(key) for key, mid in rooms.core.room("lobby").members.items()
    }
    assert len(expected) == 206
    counts = []
    for client, members in zip(old, maps, strict=True):
        events = await presence_until(client, "lobby", members, expected)
        counts.append(len(events))
        assert events[-1]["data"]["count"] == 206
    assert max(counts) <= 20, counts  # one per tick: a handful, not 200
    large = await one_more("gina")  # a room of 207
    assert blank_numbers(large) == blank_numbers(small).replace("fred", "gina")
    # A newcomer of the burst pages the rest of the member list: everyone, once.
    walked = await burst[-1].member_list("lobby")
    assert member_map(walked) == {**expected, 207: "gina"} and len(walked) == 207


async def test_members_pages_walk_everyone_once_while_others_come_and_go(open_client):
    """Paging with after/next while members join and leave between pages: each member there
    all along is listed exactly once, ids increasing, and no id twice."""
    rooms = wsnb.Rooms(limits=RoomLimits(presence_interval=0))
    server = await wsnb.serve(rooms)
    clients = await asyncio.gather(*(open_client(server) for _ in range(60)))
    for client in clients[:40]:
        await client.join("lobby")
    reader = clients[0]
    ids, after, churn = [], 0, iter(range(40, 60))
    while after is not None:
        page = await reader.request("members", "lobby", after=after, limit=7)
        ids += [m["id"] for m in page["members"]]
        after = page["next"]
        newcomer = next(churn, None)
        if newcomer is not None:  # between pages: one joins, one of the first 40 leaves
            await clients[newcomer].join("lobby")
            await clients[newcomer - 39].leave("lobby")
    assert ids == sorted(set(ids))
    stayed = {1} | set(range(22, 41))  # clients 21..39 of the first 40 stayed all along
    assert stayed <= set(ids)


async def test_a_member_closed_as_too_slow_leaves_its_rooms_at_once(open_client):
    """Closed with 1008, a stalled member is out of its rooms before its close handshake ends
    (close_timeout: 60 s here, for it never reads): the others see it leave, ``members`` no
    longer lists it, the room goes on, and the others miss nothing."""
    rooms = wsnb.Rooms(max_buffered=64 * 1024)
    server = await wsnb.serve(rooms, close_timeout=60)
    ada, bob = await open_client(server, "ada"), await open_client(server, "bob")
    replies = [await ada.join("lobby"), await bob.join("lobby")]
    join = json.dumps({"type": "join", "id": 1, "room": "lobby"})
    async with stalled_client(server.port, send=[join]) as sock:
        await wait_until(lambda: len(rooms.members("lobby")) == 3)
        port = sock.getsockname()[1]
        (stalled,) = [c for c in rooms.hub.clients if c.connection.remote_address[1] == port]
        three = {1: "ada", 2: "bob", 3: rooms.members("lobby")[2]}
        maps = [member_map(r["members"]) for r in replies]
        for client, reply, members in zip((ada, bob), replies, maps, strict=True):
            await presence_until(client, "lobby", members, three, you=reply["you"])
        sent = 0
        while rooms.hub.slow_closed == 0 and sent < 30_000:
            rooms.publish("lobby", f"{sent:06d}" + "." * 1000)
            sent += 1
            if sent % 50 == 0:
                await asyncio.sleep(0)
        assert rooms.hub.slow_closed == 1, "the stalled member never passed the bound"
        await wait_until(lambda: rooms.members("lobby") == ["ada", "bob"], "the slow one left")
        assert stalled in rooms.hub.clients  # its handler still runs: the close is not over
        assert await ada.member_list("lobby") == [
            {"id": 1, "name": "ada"},
            {"id": 2, "name": "bob"},
        ]
        addressed = stalled.sent + stalled.dropped
        total = sent + 200
        for i in range(sent, total):  # the room goes on without it
            rooms.publish("lobby", f"{i:06d}" + "." * 1000)
            if i % 50 == 0:
                await asyncio.sleep(0)
        assert (rooms.hub.slow_closed, stalled.sent + stalled.dropped) == (1, addressed)
        for client, members in zip((ada, bob), maps, strict=True):
            got = []
            while len(got) < total or members != {1: "ada", 2: "bob"}:
                event = await client.next_event(timeout=5)
                if event["type"] == "presence":
                    assert event["data"]["left"] == [{"id": 3, "name": three[3]}]
                    members.pop(3)
                else:
                    got.append(event)
            assert [m["seq"] for m in got] == list(range(1, total + 1))
        assert [c.dropped for c in rooms.hub.clients if c is not stalled] == [0, 0]
    assert rooms.publish("lobby", "still here") == total + 1
    await wait_until(lambda: rooms.hub.count == 2)
