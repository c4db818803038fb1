"""Small helpers shared by the test modules (imported as ``helpers``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

import wsnb

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connection_refused(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a plain TCP connect to ``host:port`` is refused."""
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


async def wait_until(
    predicate: Callable[[], bool], what: str = "condition met", *, timeout: float = 10.0
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.005)


def wait_until_sync(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Blocking :func:`wait_until`, for synchronous tests."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def client_frame(message: str | bytes) -> bytes:
    """One masked client-to-server WebSocket frame (FIN set): text for str, binary for bytes."""
    opcode = 0x1 if isinstance(message, str) else 0x2
    payload = message.encode() if isinstance(message, str) else message
    length = len(payload)
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    elif length < 2**16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


@contextlib.asynccontextmanager
async def stalled_client(
    port: int,
    host: str = "127.0.0.1",
    path: str = "/",
    rcvbuf: int = 4096,
    send: Iterable[str | bytes] = (),
) -> AsyncIterator[socket.socket]:
    """A WebSocket client that completes the opening handshake, then never reads.

    A raw non-blocking TCP socket: it sends a valid Upgrade request, reads the
    101 response byte by byte (so it consumes nothing after it) and from then
    on reads nothing, so the server's output piles up first in the kernel
    buffers (kept small with ``rcvbuf``), then in the server's write buffer.
    ``send`` lists messages it sends right after the handshake (say, a rooms
    ``join``), without reading any reply. The socket is closed on exit
    (unread data makes that a TCP reset).
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        response = b""
        async with asyncio.timeout(5):
            while not response.endswith(b"\r\n\r\n"):
                byte = await loop.sock_recv(sock, 1)
                if not byte:
                    raise ConnectionError(f"server closed during the handshake: {response!r}")
                response += byte
        status, *headers = response.decode("latin-1").split("\r\n")
        assert status.startswith("HTTP/1.1 101 "), response
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        fields = dict(h.split(": ", 1) for h in headers if ": " in h)
        assert {k.lower(): v for k, v in fields.items()}.get("sec-websocket-accept") == accept
        for message in send:
            await loop.sock_sendall(sock, client_frame(message))
        yield sock
    finally:
        sock.close()


async def shout(ws: Any) -> None:
    """A user handler that, like most, does not catch ConnectionClosed: replies in capitals."""
    async for message in ws:
        await ws.send(message.upper())


def run_script(source: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a fresh Python script from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- probes: what a client sees (the security tests share them) -------------------------

#: Bound on every wait for something the server must do (never a timing assert).
WAIT = 5.0


def auth_message(token: str | None = "good-token") -> str:
    data = {} if token is None else {"token": token}
    return json.dumps({"type": "auth", "data": data})


async def assert_echoes(ws: ClientConnection, message: str) -> None:
    await ws.send(message)
    async with asyncio.timeout(WAIT):
        assert await ws.recv() == message


async def close_code_of(ws: ClientConnection) -> tuple[str, object]:
    """Read until the server closes; ``("close", code)``, or why it did not."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return ("close", ws.close_code)
    except TimeoutError:
        ws.transport.abort()  # fail fast instead of waiting for close_timeout on exit
        return (f"not closed within {WAIT} s", ws.state.name)


async def handshake_status(server: wsnb.Server, **options: object) -> tuple[str, object]:
    """``("http", status)`` if the handshake is refused, else ``("opened", None)``."""
    try:
        async with wsnb.connect(server, **options):
            return ("opened", None)
    except InvalidStatus as exc:
        return ("http", exc.response.status_code)


async def send_flood(ws: ClientConnection, count: int) -> None:
    """Send ``count`` messages without reading; stop quietly if the server closes."""
    with contextlib.suppress(ConnectionClosed):
        for i in range(count):
            await ws.send(f"spam {i}")


# -- rooms: what RoomsClients and Subscribers receive ------------------------------------

#: Bound on every wait for a rooms event.
TIMEOUT = 5.0


def bodies(messages: list[dict[str, Any]]) -> list[Any]:
    """The ``data.body`` of each room message, in order."""
    return [m["data"]["body"] for m in messages]


def said(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``(from, body)`` of each room message, in order."""
    return [(m["data"]["from"], m["data"]["body"]) for m in messages]


def presence(
    room: str,
    count: int,
    joined: Iterable[tuple[int, str]] = (),
    left: Iterable[tuple[int, str]] = (),
    renamed: Iterable[tuple[int, str, str]] = (),
) -> dict[str, Any]:
    """The presence event docs/protocol.md describes; members as ``(id, name)``, renames as
    ``(id, name, was)``."""
    return {
        "type": "presence",
        "room": room,
        "data": {
            "count": count,
            "joined": [{"id": i, "name": n} for i, n in joined],
            "left": [{"id": i, "name": n} for i, n in left],
            "renamed": [{"id": i, "name": n, "was": w} for i, n, w in renamed],
        },
    }


def member_map(members: Iterable[dict[str, Any]]) -> dict[int, str]:
    """A member list (a join reply's or a ``members`` page) as ``{id: name}``."""
    return {m["id"]: m["name"] for m in members}


def apply_presence(members: dict[int, str], event: dict[str, Any]) -> dict[int, str]:
    """Apply a presence event to ``{id: name}`` as docs/protocol.md tells clients to."""
    for change in event["data"]["joined"] + event["data"]["renamed"]:
        members[change["id"]] = change["name"]
    for change in event["data"]["left"]:
        members.pop(change["id"], None)
    return members


async def presence_until(
    client: wsnb.RoomsClient,
    room: str,
    members: dict[int, str],
    expected: dict[int, str],
    *,
    you: int | None = None,
) -> list[dict[str, Any]]:
    """Read ``room``'s presence events into ``members`` until it is ``expected``; return the
    events (anything else arriving meanwhile fails the test).

    ``you``: the client's member id from a join it just made, whose event is still to come
    even when its first page already held everyone (docs/protocol.md, "Presence").
    """
    got: list[dict[str, Any]] = []

    def told_of_you() -> bool:
        return you is None or any(you in member_map(e["data"]["joined"]) for e in got)

    while members != expected or not told_of_you():
        event = await client.next_event(timeout=TIMEOUT)
        assert (event["type"], event["room"]) == ("presence", room), event
        got.append(event)
        apply_presence(members, event)
    if got:  # the count after the last change is the room's
        assert got[-1]["data"]["count"] == len(expected), got[-1]
    return got


async def joined_until(
    client: wsnb.RoomsClient, reply: dict[str, Any], expected: dict[int, str]
) -> list[dict[str, Any]]:
    """:func:`presence_until` from a join ``reply``: its first page, and its own join."""
    members = member_map(reply["members"])
    return await presence_until(client, reply["room"], members, expected, you=reply["you"])


async def events(client: wsnb.RoomsClient, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events, whatever their type."""
    return [await client.next_event(timeout=TIMEOUT) for _ in range(count)]


async def messages(client: wsnb.RoomsClient, count: int) -> list[dict[str, Any]]:
    """The next ``count`` room messages, skipping presence events."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        event = await client.next_event(timeout=TIMEOUT)
        if event["type"] == "message":
            got.append(event)
        else:
            assert event["type"] == "presence", event
    return got


async def assert_no_events(client: wsnb.RoomsClient) -> None:
    """Nothing unread is waiting: checked after a round-trip, so nothing is still in flight."""
    await client.rooms()
    assert client.pending_events == 0, [
        client._events.get_nowait() for _ in range(client.pending_events)
    ]


async def serve_again(rooms: wsnb.Rooms, port: int, name: str = "rooms") -> wsnb.Server:
    """``rooms`` served again on ``port``, as after a restart (its history and epochs kept)."""
    return await wsnb.serve(rooms, name=name, port=port)


# -- hub: which member is which client ----------------------------------------------------


def member_on_port(hub: wsnb.Hub, port: int) -> wsnb.HubClient | None:
    """The hub's record of the client whose end of the connection is on ``port``, if any."""
    clients = [c for c in hub.clients if c.connection.remote_address[1] == port]
    return clients[0] if clients else None


def member(hub: wsnb.Hub, ws: ClientConnection) -> wsnb.HubClient:
    """The hub's record of the test's client ``ws`` (matched on the client's port)."""
    port = ws.local_address[1]
    (client,) = [c for c in hub.clients if c.connection.remote_address[1] == port]
    return client


@contextlib.asynccontextmanager
async def connected(server: wsnb.Server, n: int, path: str = "") -> AsyncIterator[list[Any]]:
    """``n`` clients of ``server``, closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(wsnb.connect(server.url + path)) for _ in range(n)]
