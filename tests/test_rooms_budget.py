"""The hostile cases of issue 10 ("Rooms that hold thousands") over real sockets.

Every client here is a plain websockets client with its default options
(``max_size`` 1 MiB: what users have), speaking docs/protocol.md by hand, and
the server has the default limits unless a case would need huge data. In each
case the server's memory stays bounded, every frame it sends fits a default
client, and a neighbour keeps being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from helpers import TIMEOUT
from websockets.asyncio.client import ClientConnection

import wsnb
from wsnb.core import RoomLimits, request_envelope

MiB = 1024 * 1024
MAX_EVENT = RoomLimits().max_event_bytes  # 960 KiB


class Plain:
    """A plain websockets client (default options) and the protocol, by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []  # what arrived while waiting for replies

    async def send(self, type: str, room: str | None = None, **data: Any) -> int:
        request_id = next(self.ids)
        await self.ws.send(json.dumps(request_envelope(type, request_id, room, data)))
        return request_id

    async def request(self, type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
        """The reply (or error) to a request; events meanwhile go to ``events``."""
        request_id = await self.send(type, room, **data)
        return await self.until(lambda m: m.get("id") == request_id)

    async def ok(self, type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
        reply = await self.request(type, room, **data)
        assert reply["type"] == "reply", reply
        return reply["data"]  # type: ignore[no-any-return]

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                raw = await self.ws.recv()  # a frame over 1 MiB would close us with 1009
                assert isinstance(raw, str) and len(raw.encode()) <= MiB
                message = json.loads(raw)
                if predicate(message):
                    return message  # type: ignore[no-any-return]
                self.events.append(message)

    async def message(self, seq: int) -> dict[str, Any]:
        """The live ``message`` numbered ``seq`` (read now, or already)."""
        for event in self.events:
            if event["type"] == "message" and event["seq"] == seq:
                return event
        return await self.until(lambda m: m["type"] == "message" and m["seq"] == seq)


@contextlib.asynccontextmanager
async def served(limits: RoomLimits | None = None) -> AsyncIterator[tuple[wsnb.Rooms, Any]]:
    rooms = wsnb.Rooms(limits=limits)
    server = await wsnb.serve(rooms)
    try:
        yield rooms, server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def plain(server: Any, name: str) -> AsyncIterator[Plain]:
    async with wsnb.connect(server) as ws:  # websockets' connect: default options
        client = Plain(ws)
        await client.ok("hello", name=name)
        yield client


async def still_served(neighbour: Plain, room: str = "quiet") -> None:
    """The neighbour publishes in its room and gets its message back."""
    reply = await neighbour.ok("publish", room, body="still here")
    assert (await neighbour.message(reply["seq"]))["data"]["body"] == "still here"


def rss() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def budget_bytes(rooms: wsnb.Rooms) -> int:
    budget = rooms.core.room(rooms.names()[0]).history.budget
    assert budget is not None
    assert budget.bytes == sum(rooms.core.room(r).history.bytes for r in rooms.names())
    return budget.bytes


# (a) 100 messages of 900 kB, then gone: the room keeps 4 MiB at most


async def test_100_messages_of_900_kb_keep_at_most_4_mib_in_the_room():
    async with served() as (rooms, server), plain(server, "flood") as flood:
        async with plain(server, "neighbour") as neighbour:
            await neighbour.ok("join", "quiet")
            await flood.ok("join", "big")
            body = "x" * 900_000
            for i in range(100):
                if i == 10:  # after the allocator's first growth
                    before = rss()
                seq = (await flood.ok("publish", "big", body=body))["seq"]
                assert len((await flood.message(seq))["data"]["body"]) == 900_000
                flood.events.clear()
                assert rooms.core.room("big").history.bytes <= 4 * MiB
            await flood.ok("leave", "big")
            history = rooms.core.room("big").history
            assert 1 <= len(history) <= 4 and history.bytes <= 4 * MiB
            assert history.last_seq == 100 and budget_bytes(rooms) <= 64 * MiB
            assert rss() - before < 32 * MiB  # 90 MB went through; kept, it would show
            await still_served(neighbour)


# (b) the frame limit: too_large just under 1 MiB, the largest allowed is delivered


async def test_a_publish_just_under_1_mib_is_too_large_and_nobody_is_closed():
    async with served() as (rooms, server), plain(server, "ada") as ada:
        async with plain(server, "bob") as bob:
            await ada.ok("join", "lobby")
            await bob.ok("join", "lobby")
            frame = json.dumps(
                {"type": "publish", "id": 99, "room": "lobby", "data": {"body": "x" * (MiB - 200)}}
            )
            assert len(frame) < MiB  # the server reads it: it is within its max_size
            await ada.ws.send(frame)
            error = await ada.until(lambda m: m.get("id") == 99)
            assert (error["code"], error["path"]) == ("too_large", "data.body")
            assert rooms.core.room("lobby").history.last_seq == 0
            # The largest message allowed: the event is 960 KiB less the digits of its time.
            overhead = len(
                json.dumps(
                    {
                        "type": "message",
                        "room": "lobby",
                        "epoch": rooms.core.room("lobby").history.epoch,
                        "seq": 1,
                        "data": {"from": "ada", "body": "", "time": 1796282076.1354127},
                    },
                    separators=(",", ":"),
                )
            )
            largest = "y" * (MAX_EVENT - overhead)
            refused = await ada.request("publish", "lobby", body=largest + "y" * 16)
            assert refused["code"] == "too_large"
            assert (await ada.ok("publish", "lobby", body=largest))["seq"] == 1
            for client in (ada, bob):
                got = await client.message(1)
                assert got["data"]["body"] == largest
                assert MAX_EVENT - 16 <= len(json.dumps(got, separators=(",", ":"))) <= MAX_EVENT
            # Joining now gets the big message within one frame too.
            async with plain(server, "carol") as carol:
                reply = await carol.ok("join", "lobby")
                assert [m["seq"] for m in reply["history"]] == [1]
            await bob.ok("join", "quiet")
            await still_served(bob)


# (c) more than 1 MiB of recent history: joins are cut to fit, the rest comes in pages


async def test_a_newcomer_joins_a_room_of_2_mb_of_history_and_pages_the_rest():
    async with served() as (rooms, server):
        for i in range(1, 21):  # 20 x 100 kB: the last 20 are 2 MB
            rooms.publish("lobby", f"{i:02d}" + "x" * 100_000)
        async with plain(server, "newcomer") as newcomer:
            reply = await newcomer.ok("join", "lobby")
            seqs = [m["seq"] for m in reply["history"]]
            assert 5 <= len(seqs) < 20 and seqs == list(range(21 - len(seqs), 21))
            got, since, more = [], 0, True
            while more:
                page = await newcomer.ok("history", "lobby", since=since)
                got += [m["seq"] for m in page["messages"]]
                since, more = got[-1], page["more"]
            assert got == list(range(1, 21))
            await newcomer.ok("join", "quiet")
            await still_served(newcomer)


async def test_a_resume_over_more_than_1_mib_is_recovered_with_more_then_paged():
    async with served() as (rooms, server):
        for i in range(1, 21):
            rooms.publish("lobby", f"{i:02d}" + "x" * 100_000)
        epoch = rooms.core.room("lobby").history.epoch
        async with plain(server, "back") as back:
            reply = await back.ok("join", "lobby", since={"epoch": epoch, "seq": 2})
            assert (reply["recovered"], reply["more"]) == (True, True)
            got = [m["seq"] for m in reply["history"]]
            assert got == list(range(3, 3 + len(got)))
            while True:
                page = await back.ok("history", "lobby", since=got[-1])
                got += [m["seq"] for m in page["messages"]]
                if not page["more"]:
                    break
            assert got == list(range(3, 21))


# (d) rooms: per connection, per server; the rooms reply


async def test_one_connection_joining_and_leaving_new_rooms_is_held_to_100():
    """1000 join-leave pairs of new rooms: 100 are created, then too_many_rooms; the server
    holds no more rooms for it, and a neighbour is served throughout."""
    async with served() as (rooms, server), plain(server, "mallory") as mallory:
        async with plain(server, "neighbour") as neighbour:
            await neighbour.ok("join", "quiet")
            for i in range(1000):  # pipelined: replies are read as they come
                await mallory.send("join", f"r{i}")
                await mallory.send("leave", f"r{i}")
            replies = [await mallory.until(lambda m: m.get("id") is not None) for _ in range(2000)]
            assert [r["id"] for r in replies] == list(range(2, 2002))  # in order, each once
            codes = [r.get("code", "ok") for r in replies[::2]]
            assert codes == ["ok"] * 100 + ["too_many_rooms"] * 900
            assert len(rooms.names()) == 101  # its 100, and the neighbour's
            await still_served(neighbour)


async def test_joining_publishing_and_leaving_creates_100_rooms_then_too_many_rooms():
    async with served() as (rooms, server), plain(server, "ada") as ada:
        for i in range(100):
            await ada.ok("join", f"r{i}")
            await ada.ok("publish", f"r{i}", body=i, reply=True)
            await ada.ok("leave", f"r{i}")
        refused = await ada.request("join", "r100")
        assert (refused["code"], refused["path"]) == ("too_many_rooms", "room")
        assert len(rooms.names()) == 100
        assert (await ada.ok("join", "r7"))["seq"] == 1


async def test_a_full_server_forgets_the_longest_empty_room_or_is_server_full():
    async with served(RoomLimits(max_rooms=3)) as (rooms, server):
        async with plain(server, "a") as a, plain(server, "b") as b, plain(server, "c") as c:
            for client, room in ((a, "ra"), (b, "rb"), (c, "rc")):
                await client.ok("join", room)
                await client.ok("publish", room, body=room)
            refused = await c.request("join", "rd")
            assert (refused["code"], refused["path"]) == ("server_full", "room")
            await a.ok("leave", "ra")
            assert (await c.ok("join", "rd"))["seq"] == 0  # ra made way
            assert rooms.names() == ["rb", "rc", "rd"]
            assert (await b.request("join", "re"))["code"] == "server_full"
            await still_served(b, "rb")


@pytest.mark.parametrize("limit", [100, 1000])
async def test_the_rooms_reply_of_rooms_with_the_longest_names_fits_a_frame(limit):
    async with served() as (rooms, server), plain(server, "ada") as ada:
        for i in range(1000):
            rooms.publish("𝄞" * 60 + f"{i:04d}", i)
        names, after = [], 0
        while after is not None:
            page = await ada.ok("rooms", after=after, limit=limit)
            assert page["count"] == 1000
            names += [r["room"] for r in page["rooms"]]
            after = page["next"]
        assert names == rooms.names()
