"""wsnb.ChatRoom: rooms for your own handler, in one rooms core with the protocol's clients.

Your handler's clients are plain websockets connections that do not speak
docs/protocol.md; RoomsClients in the same room see them, and they see the RoomsClients.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import TIMEOUT, messages, wait_until

import wsnb


async def recv_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def recv_until(ws, predicate, limit: int = 20) -> list:
    """Messages up to and including the first one ``predicate`` accepts."""
    got = []
    for _ in range(limit):
        got.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        if predicate(got[-1]):
            return got
    raise AssertionError(f"not among {got}")


def chat_handler(room: wsnb.ChatRoom, **join_options):
    """A handler as the card writes one: a name first (its own authentication), then chat."""

    async def handler(ws):
        username = await ws.recv()
        await room.join(ws, username=username, **join_options)
        try:
            async for text in ws:
                await room.send_message(ws, text)
        finally:
            await room.leave(ws)

    return handler


async def test_the_cards_chat_handler_runs_and_its_clients_get_what_the_card_promises():
    """Join announced to the others, history to the newcomer, messages to all, leave told."""
    rooms = {"general": wsnb.ChatRoom("general")}  # the card's room manager
    server = await wsnb.serve(chat_handler(rooms["general"]))
    async with wsnb.connect(server) as alice:
        await alice.send("Alice")
        await recv_until(alice, lambda m: m == {"type": "join", "user": "Alice", "room": "general"})
        await alice.send("hello")
        assert await recv_json(alice) == {
            "type": "message", "user": "Alice", "room": "general", "text": "hello", "seq": 1,
        }  # fmt: skip
        async with wsnb.connect(server) as bob:
            await bob.send("Bob")
            history = await recv_json(bob)  # the newcomer gets the history first
            assert (history["user"], history["text"]) == ("Alice", "hello")
            assert await recv_json(alice) == {"type": "join", "user": "Bob", "room": "general"}
            await bob.send("hi Alice")
            for ws in (alice, bob):
                message = await recv_until(ws, lambda m: m["type"] == "message")
                assert (message[-1]["user"], message[-1]["text"]) == ("Bob", "hi Alice")
            assert rooms["general"].member_count == 2
        assert await recv_json(alice) == {"type": "leave", "user": "Bob", "room": "general"}
        assert rooms["general"].members == ["Alice"]
    await wait_until(lambda: rooms["general"].member_count == 0)


async def test_own_handler_members_and_protocol_clients_share_one_room(open_client):
    """A RoomsClient and a member of your handler see each other's messages and presence."""
    rooms = wsnb.Rooms()
    lobby = wsnb.ChatRoom("lobby", rooms=rooms)
    protocol_server = await wsnb.serve(rooms, name="rooms")
    own_server = await wsnb.serve(chat_handler(lobby), name="own")

    ada = await open_client(protocol_server, name="ada")
    await ada.join("lobby")
    async with wsnb.connect(own_server) as grace:
        await grace.send("grace")
        await wait_until(lambda: lobby.members == ["ada", "grace"])
        # ada (protocol) hears grace arrive, under the name the handler chose
        while True:
            event = await ada.next_event(timeout=TIMEOUT)
            if event["type"] == "presence" and event["data"]["joined"]:
                if event["data"]["joined"][-1]["name"] == "grace":
                    break
        await grace.send("hi from a plain client")
        [message] = await messages(ada, 1)
        assert (message["data"]["from"], message["data"]["body"]) == (
            "grace",
            "hi from a plain client",
        )
        await ada.publish("lobby", {"any": "json"})
        got = await recv_until(grace, lambda m: m["type"] == "message" and m["user"] == "ada")
        assert got[-1]["text"] == {"any": "json"} and got[-1]["seq"] == 2
    # grace's connection closed: she left, and ada is told
    await wait_until(lambda: lobby.members == ["ada"])
    assert rooms.room("lobby").seq == 2


async def test_plain_text_chat_as_in_the_card():
    room = wsnb.ChatRoom("general", format="text")
    server = await wsnb.serve(chat_handler(room))
    async with wsnb.connect(server) as ada, wsnb.connect(server) as bob:
        await ada.send("ada")
        await wait_until(lambda: room.members == ["ada"])
        await bob.send("bob")
        await wait_until(lambda: room.member_count == 2)
        await ada.send("hello bob")
        lines = []
        while "ada: hello bob" not in lines or "* bob joined general" not in lines:
            lines.append(await asyncio.wait_for(bob.recv(), TIMEOUT))
        assert all(isinstance(line, str) and not line.startswith("{") for line in lines)


async def test_history_for_newcomers_is_the_last_max_history_in_its_format():
    room = wsnb.ChatRoom("general", max_history=3, format="text")
    server = await wsnb.serve(chat_handler(room))
    async with wsnb.connect(server) as ada:
        await ada.send("ada")
        for n in range(5):
            await ada.send(f"m{n}")
        await wait_until(lambda: room.member_count == 1 and room.view.seq == 5)
    async with wsnb.connect(server) as late:
        await late.send("late")
        got = [await asyncio.wait_for(late.recv(), TIMEOUT) for _ in range(3)]
        assert got == ["ada: m2", "ada: m3", "ada: m4"]


async def test_the_protocol_format_and_a_function_of_your_own():
    room = wsnb.ChatRoom("r", format="protocol")
    seen = []

    async def handler(ws):
        fmt = (lambda e: seen.append(e) or None) if ws.request.path == "/quiet" else None
        await room.join(ws, username=ws.request.path.strip("/"), format=fmt)
        await room.send_message(ws, "hi")
        await ws.wait_closed()

    server = await wsnb.serve(handler)
    async with wsnb.connect(server.url + "/quiet"):
        async with wsnb.connect(server.url + "/loud") as loud:
            got = await recv_until(
                loud, lambda m: m["type"] == "message" and m["data"]["from"] == "loud"
            )
            assert "epoch" in got[-1] and got[-1]["data"]["body"] == "hi"
            await wait_until(lambda: any(e["type"] == "message" for e in seen))


async def test_a_refused_join_raises_and_changes_nothing():
    room = wsnb.ChatRoom("general")
    result = []

    async def handler(ws):
        try:
            await room.join(ws, username="\x00bad")
        except wsnb.RequestError as error:
            result.append(error.code)
        await ws.close()

    server = await wsnb.serve(handler)
    async with wsnb.connect(server) as ws:
        await ws.wait_closed()
    assert result == ["invalid_value"] and room.member_count == 0
    assert room.rooms.hub.count == 0


async def test_sending_before_joining_or_binary_is_a_clear_error():
    room = wsnb.ChatRoom("general")
    result = []

    async def handler(ws):
        try:
            await room.send_message(ws, "hi")
        except wsnb.RequestError as error:
            result.append(error.code)
        await room.join(ws, username="ada")
        try:
            await room.send_message(ws, b"\x00")
        except TypeError as error:
            result.append(str(error)[:30])
        await room.leave(ws)
        await room.leave(ws)  # again: harmless
        await ws.close()

    server = await wsnb.serve(handler)
    async with wsnb.connect(server) as ws:
        await ws.wait_closed()
    assert result == ["not_a_member", "a message must be text or a JS"]
    assert room.view.seq == 0 and room.member_count == 0


async def test_rooms_history_size_at_the_top_level(open_client):
    rooms = wsnb.Rooms(history_size=5)
    assert rooms.core.limits.history_size == 5 and rooms.core.limits.join_history == 5
    for n in range(8):
        rooms.publish("news", n)
    assert [m["data"]["body"] for m in rooms.history("news")] == [3, 4, 5, 6, 7]


def test_max_history_with_a_shared_rooms_is_refused():
    with pytest.raises(TypeError, match="history_size"):
        wsnb.ChatRoom("x", max_history=10, rooms=wsnb.Rooms())
    with pytest.raises(ValueError, match="format"):
        wsnb.ChatRoom("x", format="xml")  # type: ignore[arg-type]


def test_repr_and_html_before_anyone_joined():
    room = wsnb.ChatRoom("general")
    assert repr(room) == "<wsnb.ChatRoom 'general' members=[]>"
    assert "nobody yet" in room._repr_html_()
