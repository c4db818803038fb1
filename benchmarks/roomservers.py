"""The server kinds of rooms.py, for ``Servers.start``: ``wsnb.Rooms``, the bare hub
under it as a room relay, python-socketio rooms (aiohttp server), and a bare
websockets server whose handler only waits (the memory floor of a connection).

The relay is the baseline for rooms/hub: the first message names the
connection's room, every later one is relayed verbatim to the room's members
with ``hub.broadcast(message, to=members)``; no envelope parsing, no
validation, no history, no reply, no JSON encoding. The socket.io server's
``join`` event enters the room and acknowledges; ``publish`` does
``sio.emit("message", data, room=...)``, with no acknowledgement.
"""

from __future__ import annotations

import json
from typing import Any

from harness import HOST, Service, wsnb_service
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

JOINED = '{"type":"reply","re":"join"}'  # the relay's acknowledgement of a join


async def rooms_server(**options: Any) -> Service:
    """``wsnb.serve(wsnb.Rooms(**options))``."""
    import wsnb

    return wsnb_service(await wsnb.serve(wsnb.Rooms(**options)))


class RoomRelay:
    """The hub baseline: the first message names the room, every later one is published there."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        # room -> its members, as an insertion-ordered set: the fan-out runs in
        # join order, as Rooms' does, one difference less.
        self.rooms: dict[str, dict[ServerConnection, None]] = {}

    async def room_relay(self, ws: ServerConnection) -> None:
        with self.hub.join(ws):
            try:
                members = self.rooms.setdefault(json.loads(await ws.recv())["room"], {})
                members[ws] = None
                try:
                    await ws.send(JOINED)
                    async for message in ws:
                        self.hub.broadcast(message, to=members)
                finally:
                    members.pop(ws, None)
            except ConnectionClosed:
                pass


async def hub_server() -> Service:
    import wsnb

    return wsnb_service(await wsnb.serve(RoomRelay(wsnb.Hub(relay=False)).room_relay))


async def socketio_server() -> Service:
    import socketio
    from aiohttp import web

    # A long ping timeout: a loaded client process can be late with its pongs for seconds.
    sio = socketio.AsyncServer(
        async_mode="aiohttp", logger=False, engineio_logger=False, ping_timeout=120
    )
    app = web.Application()
    sio.attach(app)

    @sio.on("join")
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return "joined"

    @sio.on("publish")
    async def publish(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("message", data, room=data["room"])

    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    return Service({"socketio": runner.addresses[0][1]}, runner.cleanup)


async def bare_server() -> Service:
    """``websockets.serve`` with a handler that waits for the close; no wsnb imported."""
    from websockets.asyncio.server import serve

    server = await serve(ServerConnection.wait_closed, HOST, 0, compression=None)

    async def stop() -> None:
        for connection in server.connections:
            connection.transport.abort()
        server.close()
        await server.wait_closed()

    return Service({"bare": server.sockets[0].getsockname()[1]}, stop)


FACTORIES = {
    "rooms": rooms_server,
    "hub": hub_server,
    "socketio": socketio_server,
    "bare": bare_server,
}
