"""The skill card's code, as its users type it, against wsnb: what the card promises arrives.

The card (a websockets "real-time pipeline") is what wsnb's users expect to write. Each
test keeps the card's own lines for the handler and uses wsnb's spelling only where the
card calls one of its helpers, named beside it.
"""

from __future__ import annotations

import asyncio
import json

from helpers import wait_until
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

import wsnb


async def echo_handler(ws: ServerConnection) -> None:  # the card's section 1, unchanged
    try:
        async for message in ws:
            if isinstance(message, str):
                await ws.send(f"Echo: {message}")
            else:
                await ws.send(message)  # binary echo
    except ConnectionClosed:
        pass


async def test_the_cards_echo_handler_and_wsnbs_echo_with_prefix_agree():
    card = await wsnb.serve(echo_handler)
    ours = await wsnb.serve(wsnb.echo_with_prefix("Echo: "))
    messages = ["hi", b"\x00\xff", ""]
    assert await wsnb.exchange(card, messages) == await wsnb.exchange(ours, messages)


async def test_the_cards_demo_hub_and_ws_send_receive():
    """The card's demo(): a hub that broadcasts every message to all, and ws_send_receive."""
    hub = wsnb.Hub()  # ConnectionHub()

    async def handler(ws):
        async with hub.connected(ws):
            async for msg in ws:
                await hub.broadcast(msg)

    server = await wsnb.serve(handler)
    # ws_send_receive(uri, messages) -> one JSON reply per message, a timeout per reply
    replies = await wsnb.exchange(
        server.url, [{"text": "Hello"}, {"text": "World"}], json=True, reply_timeout=5.0
    )
    assert replies == [{"text": "Hello"}, {"text": "World"}]


async def test_the_cards_ws_subscribe_follows_a_feed_across_a_restart():
    """ws_subscribe(uri, on_message, reconnect=True, reconnect_delay=2.0) -> wsnb.stream."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="ticker")
    prices: list[dict] = []

    async def on_message(data):
        prices.append(data)

    feed = await wsnb.stream(server.url, on_message, reconnect=True, reconnect_delay=0.1)
    await hub.wait_for_clients(1)
    hub.broadcast_json({"price": 1})
    server = await wsnb.faults.restart(server)
    await hub.wait_for_clients(1)
    hub.broadcast_json({"price": 2})
    await wait_until(lambda: prices == [{"price": 1}, {"price": 2}])
    await feed.close()


async def test_the_cards_json_protocol_and_chat_room_in_one_handler():
    """JsonProtocol for a hello, then ChatRoom with the card's JSON messages."""
    rooms = {"general": wsnb.ChatRoom("general", max_history=50)}

    async def ws_handler(ws):
        proto = wsnb.JsonProtocol(ws)
        hello = await proto.recv()  # the handler authenticates its own way
        room = rooms["general"]
        await room.join(ws, username=hello["name"])
        try:
            async for msg in ws:
                await room.send_message(ws, msg)
        finally:
            await room.leave(ws)

    server = await wsnb.serve(ws_handler)
    async with wsnb.connect(server) as alice:
        await wsnb.send_json(alice, {"type": "hello", "name": "Alice"})
        await alice.send("Hello, room")
        got = []
        while not got or got[-1]["type"] != "message":
            got.append(json.loads(await asyncio.wait_for(alice.recv(), 5)))
        assert got[-1] == {
            "type": "message", "user": "Alice", "room": "general", "text": "Hello, room", "seq": 1,
        }  # fmt: skip
        assert rooms["general"].member_count == 1
    await wait_until(lambda: rooms["general"].member_count == 0)
