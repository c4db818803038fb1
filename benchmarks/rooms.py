"""Benchmark room fan-out: wsnb.Rooms vs the bare wsnb.Hub vs python-socketio rooms.

What is measured
----------------
Deliveries per second when messages published in rooms fan out to the
rooms' members, for two shapes of the same 1000 members' worth of traffic:

* ``1x1000``: one room of 1000 members;
* ``100x10``: 100 rooms of 10 members, published to in round-robin.

Three servers, each in its own child process for the whole run, all on
127.0.0.1:

* ``rooms``: ``wsnb.serve(wsnb.Rooms())``, defaults (compression=None). The
  clients speak docs/protocol.md: ``hello``, ``join`` (with ``history: 0``),
  then read ``message`` events; the publisher is a member that sends
  ``publish`` frames, as users do. The server parses and validates each
  request, numbers it, keeps it in the room's history, replies to the
  publisher and fans the JSON ``message`` event out through its hub.
* ``hub``: the bare machinery under it, ``wsnb.Hub(relay=False)`` served
  with ``wsnb.serve`` and a small handler: the first message names the
  connection's room (a dict room -> its connections, kept as an
  insertion-ordered set so that fan-out runs in join order as in Rooms),
  every later message is a publish, relayed verbatim with
  ``hub.broadcast(message, to=members)``. No envelope parsing, no
  validation, no history, no reply, no JSON encoding: the baseline for
  rooms/hub.
* ``socketio``: ``socketio.AsyncServer(async_mode="aiohttp")`` on an aiohttp
  app (``web.AppRunner`` + ``web.TCPSite``); a ``join`` event does
  ``enter_room`` and acknowledges, a ``publish`` event does
  ``await sio.emit("message", data, room=data["room"])``. No ack per
  publish (socket.io users rarely ask for one; the rooms publisher gets its
  reply regardless, which counts against rooms).

Publishing is done by a client through each server's protocol, not from
inside the server: that is what users do, and it keeps request parsing in
the measurement (for rooms that is part of the cost under test). In every
shape the publisher of a room is that room's first member, and every
member, the publisher included, receives every message of its room (the
rooms protocol's rule; ``emit(room=...)`` and ``broadcast(to=members)`` do
the same): a message is worth ``members per room`` deliveries. Message
bodies are 64 ASCII characters. What members receive: a rooms ``message``
event (about 185 bytes); for hub, the publisher's frame relayed as is, which
is shaped and sized like a rooms ``message`` event (same fields, fixed
values) so that both fan out the same bytes (with 100-byte frames instead,
the hub's CPU per delivery came out 15-25% higher than rooms' in 1x1000 in
short runs: loopback costs depend on more than the Python work); for
socketio, the
event ``42["message",{"room":...,"body":...}]`` (about 100 bytes).

The clients all live in this (parent) process, in another process than the
servers, on one asyncio loop:

* for rooms and hub, minimal WebSocket clients written on
  ``asyncio.BufferedProtocol`` (hand-made handshake, one receive buffer
  shared by all, a frame parser that reads each frame's header and one byte
  of its payload to tell a room message from a reply or a presence event,
  pongs to pings, text frames sent with a zero mask). A websockets client
  costs about as much per received message as the server spends per
  delivery: with it, this benchmark would measure the clients.
* for socketio, ``socketio.AsyncClient`` instances with
  ``transports=["websocket"]`` (no long-polling: socket.io's fastest
  configuration), connected in batches of 100 with ``asyncio.gather``.
  The socket.io client costs much more per message than the minimal one,
  and can be what limits socketio's rate (client busy near 100%, server
  well below): then rooms/socketio in deliveries/s partly measures that
  client, and ``CPU per delivery sio/rooms`` is the server-only figure.

Connecting and joining are done once, before the measurements, and timed
separately (not measured). A 1000-member room is expensive to fill with
the rooms protocol: each join sends a ``presence`` event carrying the full
member list to every member already there, O(n^2) bytes (about 2.3 GB for
1000 members), so that phase takes seconds.

Room names are unique per server and shape (``1x1000-r0``, ``100x10-r7``):
both shapes' members stay connected to every server for the whole run.

Traffic goes in bursts of about ``--burst-deliveries`` deliveries (K
messages x members per room; 20000 by default: K = 20 in 1x1000, K = 2000 in
100x10, 20 per room). The publishers send the K messages back to back, then
the parent waits until every member has received every message of the
burst (and the server has answered a CPU-time request) before the next
burst: the measurement is fan-out throughput, not an ever-growing queue. A
burst's time runs from the first publish to the last delivery; the pauses
between bursts are not counted. Per turn (one server, one shape): one
lead-in burst that is not counted (it warms the connections that the
previous turn left cold), then ``--bursts`` timed bursts. Per turn:

* deliveries/s: deliveries over the timed bursts' summed time;
* server CPU microseconds per delivery (``time.process_time()`` in the
  server process around each burst): it depends much less on which side
  was the bottleneck, and on the machine's other load, than the rate;
* server busy %: server CPU time over the bursts' time; close to 100%
  means the server limited the rate. Client busy %: the same for this
  process, whose work differs between the minimal and the socket.io
  clients.

After every turn each member's count of received messages is checked: all
of them must have exactly every message of their room, no more, no less,
and no other group may have received anything.

Rounds are interleaved: in each round every server takes one turn per
shape, in the order rooms, hub, socketio, then socketio, hub, rooms in the
next round, and so on; ratios are taken within each round, where all three
went through the same drifts of a shared machine.

On Linux with two CPUs or more, the clients are pinned to one CPU and the
three server processes to another (only one of them works at a time).
``--no-pin`` turns that off.

``--profile FILE`` adds one unmeasured round for the rooms server alone,
with cProfile on in its process, and writes the top 15 functions by
cumulative and by internal time, and wsnb's own functions, for each shape,
to FILE.

How to run
----------
::

    make bench
    .venv/bin/python benchmarks/rooms.py            # about 2-3 minutes
    .venv/bin/python benchmarks/rooms.py --quick    # smoke run, about 20-30 s
    .venv/bin/python benchmarks/rooms.py --rounds 5 --profile /tmp/rooms.prof.txt

``--quick`` checks that everything runs; its bursts are 5x smaller, so the
fixed latency of each burst weighs more and its ratios come out closer to 1
(rooms/hub in 100x10: about 0.8 with --quick, 0.6-0.7 in full runs). Use
the full run for figures.

How to read the output
----------------------
The connection setup times, then one line per round and shape with each
server's deliveries/s and the round's ratios, then per shape the median
[min-max] over rounds of every figure, and the per-round ratios rooms/hub
and rooms/socketio with their median [min-max] (above 1: rooms delivers
more per second). ``CPU per delivery hub/rooms`` is the same comparison in
server CPU per delivery (above 1: rooms cheaper); when it and the rate
ratio disagree, the rate was moved by something else than the server's
work (the clients, or other load on the machine: check the busy figures,
a server below ~90% busy was not the limit). Shared 2-core machines drift
by tens of percent; read the ratios, not the absolute rates, and treat a
ratio within about +-7% of another as the same. The last line,
``ratio rooms/hub=X rooms/socketio=Y``, is for scripts: each is the median
over rounds of the per-round ratio, for the shape where it is lowest (the
worse case of the two shapes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import logging
import multiprocessing
import os
import pstats
import signal
import statistics
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Any

from harness import (
    QuietDisconnects,
    check_response,
    fmt_rate,
    handshake,
    pick_cpus,
    raise_fd_limit,
    sigterm_as_interrupt,
    stop_child,
    summary,
)

HOST = "127.0.0.1"
SERVERS = ("rooms", "hub", "socketio")
BODY = "0123456789abcdef" * 4  # 64 ASCII characters
assert len(BODY.encode()) == 64


@dataclass(frozen=True)
class Shape:
    rooms: int
    members: int  # per room

    @property
    def name(self) -> str:
        return f"{self.rooms}x{self.members}"

    @property
    def total(self) -> int:
        return self.rooms * self.members


SHAPES = (Shape(1, 1000), Shape(100, 10))

DEFAULTS = {"rounds": 7, "bursts": 3, "burst_deliveries": 20000}
QUICK = {"rounds": 3, "bursts": 1, "burst_deliveries": 4000}

NOISE = 0.07
START_TIMEOUT = 30.0  # seconds for a server process to report its port
REPLY_TIMEOUT = 10.0  # seconds for a server process to answer a request
STOP_TIMEOUT = 5.0  # seconds for a server process to end on request
CONNECT_TIMEOUT = 60.0  # seconds for one client to connect and join
BURST_TIMEOUT = 60.0  # seconds for one burst to be delivered
CONNECT_CONCURRENCY = 50  # minimal clients connecting at once
SIO_BATCH = 100  # socket.io clients connected at once

# One byte tells the frames apart: every server frame here is a JSON object
# starting with {"type":"<type>", whose first letter sits at offset 9.
TYPE_OFFSET = 9
MESSAGE, REPLY, ERROR = ord("m"), ord("r"), ord("e")
JOINED = '{"type":"reply","re":"join"}'  # the hub handler's acknowledgement


# --------------------------------------------------------------------------
# Server side: runs in the child processes.
# --------------------------------------------------------------------------


StopServer = Callable[[], Awaitable[None]]


async def _start_rooms() -> tuple[int, StopServer]:
    import wsnb

    server = await wsnb.serve(wsnb.Rooms())

    async def stop() -> None:
        # Abort first: a closing handshake would wait for clients that may be gone.
        for ws in server.connections:
            if ws.transport is not None:
                ws.transport.abort()
        await server.stop()

    return server.port, stop


async def _start_hub() -> tuple[int, StopServer]:
    from websockets.asyncio.server import ServerConnection
    from websockets.exceptions import ConnectionClosed

    import wsnb

    hub = wsnb.Hub(relay=False)
    # room -> its members, as an insertion-ordered set (a dict with None values):
    # the fan-out runs in join order, as Rooms' does, one difference less.
    rooms: dict[str, dict[ServerConnection, None]] = {}

    async def room_relay(ws: ServerConnection) -> None:
        """The first message names the room; every later one is published there."""
        with hub.join(ws):
            try:
                room = json.loads(await ws.recv())["room"]
                members = rooms.setdefault(room, {})
                members[ws] = None
                try:
                    await ws.send(JOINED)
                    async for message in ws:
                        hub.broadcast(message, to=members)
                finally:
                    members.pop(ws, None)
            except ConnectionClosed:
                pass

    server = await wsnb.serve(room_relay)

    async def stop() -> None:
        for ws in server.connections:
            if ws.transport is not None:
                ws.transport.abort()
        await server.stop()

    return server.port, stop


async def _start_socketio() -> tuple[int, StopServer]:
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
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
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]

    async def stop() -> None:
        await runner.cleanup()

    return port, stop


STARTERS = {"rooms": _start_rooms, "hub": _start_hub, "socketio": _start_socketio}


def _profile_report(profiler: cProfile.Profile, title: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for key in ("cumulative", "tottime"):
        out.write(f"==== {title}: top 15 by {key} ====\n")
        stats.sort_stats(key).print_stats(15)
    out.write(f"==== {title}: wsnb's own functions, by cumulative ====\n")
    stats.sort_stats("cumulative").print_stats(r"/wsnb/", 25)
    return out.getvalue()


async def _serve_until_stopped(kind: str, conn: Connection) -> None:
    """Serve; answer "cpu" and profiling requests until "stop" (or EOF)."""
    port, stop_server = await STARTERS[kind]()
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()
    profiler: cProfile.Profile | None = None

    def answer() -> None:
        nonlocal profiler
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            request = ("stop",)
        command = request[0]
        if command == "cpu":
            conn.send(("cpu", time.process_time()))
        elif command == "profile_on":
            profiler = cProfile.Profile()
            profiler.enable()
            conn.send(("profile_on", None))
        elif command == "profile_off":
            assert profiler is not None
            profiler.disable()
            path, title = request[1], request[2]
            with open(path, "a") as file:
                file.write(_profile_report(profiler, title))
            profiler = None
            conn.send(("profile_off", None))
        elif not stopped.done():
            stopped.set_result(None)

    loop.add_reader(conn.fileno(), answer)
    try:
        conn.send(("port", port))
        await stopped
    finally:
        loop.remove_reader(conn.fileno())
        await stop_server()


def server_process(kind: str, conn: Connection, cpu: int | None, fd_needed: int) -> None:
    """Entry point of a server's child process, pinned to ``cpu`` if given."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        raise_fd_limit(fd_needed)
        # Tracebacks of clients that went away: the parent aborts them at the end.
        logging.getLogger("websockets.server").addFilter(QuietDisconnects())
        asyncio.run(_serve_until_stopped(kind, conn))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
        pass
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Parent side: controls the server processes.
# --------------------------------------------------------------------------


class ServerProcess:
    """One server in its own child process, started at construction."""

    def __init__(self, kind: str, context: SpawnContext, cpu: int | None, fd_needed: int) -> None:
        self.kind = kind
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=server_process,
            args=(kind, child_conn, cpu, fd_needed),
            name=f"rooms-bench-{kind}",
            daemon=True,  # one more guard: multiprocessing ends it at exit
        )
        self._process.start()
        child_conn.close()
        try:
            self.port: int = self._receive("port", START_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def _receive(self, expected: str, timeout: float) -> Any:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"{self.kind} server: no {expected!r} reply within {timeout} s")
        try:
            tag, value = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"{self.kind} server process ended unexpectedly") from None
        if tag != expected:
            raise RuntimeError(f"{self.kind} server: {value}")
        return value

    def request(self, *command: Any) -> Any:
        """Send a command and wait for its reply (briefly blocks the caller's loop)."""
        try:
            self._conn.send(command)
        except OSError:  # BrokenPipeError: the process is gone
            raise RuntimeError(f"{self.kind} server process ended unexpectedly") from None
        return self._receive(command[0], REPLY_TIMEOUT)

    def cpu_time(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        return float(self.request("cpu"))

    def close(self) -> None:
        """Stop the process: ask politely, then terminate, then kill."""
        stop_child(self._process, self._conn, ("stop",), STOP_TIMEOUT)


# --------------------------------------------------------------------------
# Client side: minimal WebSocket clients and socket.io clients, all here.
# --------------------------------------------------------------------------


class Sink:
    """Where every client reports the room messages it received in the current burst."""

    def __init__(self) -> None:
        self.received = 0
        self.expected = 0
        self.end = 0.0  # perf_counter() at the burst's last delivery
        self.done: asyncio.Future[None] | None = None
        self.errors: list[str] = []

    def start(self, expected: int) -> asyncio.Future[None]:
        self.received = 0
        self.expected = expected
        self.end = 0.0
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def add(self, count: int) -> None:
        self.received += count
        if self.received >= self.expected:
            if self.received > self.expected:  # a message from outside this group's rooms
                self.errors.append(f"{self.received} deliveries, {self.expected} expected")
            elif self.done is not None and not self.done.done():
                self.end = time.perf_counter()
                self.done.set_result(None)


def text_frame(text: str) -> bytes:
    """A client text frame, masked with a zero key (which leaves the payload as is)."""
    data = text.encode()
    size = len(data)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    elif size < 2**16:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + b"\0\0\0\0" + data


class WsClient(asyncio.BufferedProtocol):
    """A minimal WebSocket client: sends text frames, counts room messages, awaits replies.

    Server frames are never masked and never fragmented here. A frame whose
    JSON type starts with "m" is a room message (counted); "r" or "e" is a
    reply or an error, handed to the oldest :meth:`request` waiting (if
    none waits, as for the rooms publisher's replies, it is dropped; an
    unawaited error is recorded); anything else (presence) is ignored.

    Reads go into one receive buffer shared by every client (the loop calls
    ``get_buffer``, ``recv_into`` and ``buffer_updated`` in a row), with a
    partial frame carried over in ``pending``.
    """

    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)

    def __init__(self, sink: Sink, port: int) -> None:
        self.sink = sink
        self.request_bytes, self.accept = handshake(HOST, port)
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.carried = 0
        self.received = 0  # room messages received since connecting
        self.waiting: deque[asyncio.Future[bytes]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request_bytes)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"connection lost: {exc}")
        if not self.opened.done():
            self.opened.set_exception(error)
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def get_buffer(self, sizehint: int) -> memoryview:
        carried = self.carried = len(self.pending)
        if carried:
            if carried > len(WsClient.buffer) // 2:  # a frame larger than the buffer allows
                WsClient.buffer = bytearray(4 * carried)
                WsClient.view = memoryview(WsClient.buffer)
            WsClient.buffer[:carried] = self.pending
            return WsClient.view[carried:]
        return WsClient.view

    def buffer_updated(self, nbytes: int) -> None:
        buf = WsClient.buffer
        size = self.carried + nbytes
        offset = 0
        if not self.opened.done():
            end = buf.find(b"\r\n\r\n", 0, size)
            if end < 0:
                self.pending = bytes(buf[:size])
                return
            try:
                check_response(bytes(buf[:end]), self.accept)
            except ConnectionError as exc:
                self.opened.set_exception(exc)
                assert self.transport is not None
                self.transport.abort()
                return
            self.opened.set_result(None)
            offset = end + 4
        count = 0
        # Frame parsing is inlined on purpose (the clients' hot loop); the same
        # parser serves benchmarks/broadcast.py's clients.
        while size - offset >= 2:
            length = buf[offset + 1] & 0x7F
            if length < 126:
                start = offset + 2
            elif length == 126:
                if size - offset < 4:
                    break
                length = (buf[offset + 2] << 8) | buf[offset + 3]
                start = offset + 4
            else:
                if size - offset < 10:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 10], "big")
                start = offset + 10
            end = start + length
            if end > size:
                break
            opcode = buf[offset] & 0x0F
            if opcode == 1:
                kind = buf[start + TYPE_OFFSET] if length > TYPE_OFFSET else 0
                if kind == MESSAGE:
                    count += 1
                elif kind == REPLY or kind == ERROR:
                    self._reply(bytes(buf[start:end]), kind == ERROR)
            elif opcode == 9:  # ping: pong
                self._control(0xA, bytes(buf[start:end]))
            elif opcode == 8:  # close: echo the code
                self._control(0x8, bytes(buf[start : start + 2]))
            offset = end
        self.pending = bytes(buf[offset:size]) if offset < size else b""
        if count:
            self.received += count
            self.sink.add(count)

    def _reply(self, payload: bytes, error: bool) -> None:
        if self.waiting:
            waiter = self.waiting.popleft()
            if error:
                waiter.set_exception(RuntimeError(f"error reply: {payload.decode()}"))
            else:
                waiter.set_result(payload)
        elif error:
            self.sink.errors.append(payload.decode())

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload), 0, 0, 0, 0)) + payload)

    def send(self, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame)

    async def request(self, text: str) -> bytes:
        """Send ``text``; return the next reply (an error reply raises)."""
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.send(text_frame(text))
        return await asyncio.wait_for(waiter, CONNECT_TIMEOUT)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class SioMember:
    """One ``socketio.AsyncClient`` that counts the room messages it receives."""

    def __init__(self, sink: Sink) -> None:
        import socketio

        self.sink = sink
        self.received = 0
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("message", self.on_message)

    def on_message(self, data: Any) -> None:
        self.received += 1
        self.sink.add(1)


class Group:
    """One server's members for one shape: connected, joined, and able to publish."""

    def __init__(self, kind: str, shape: Shape, port: int) -> None:
        self.kind = kind
        self.shape = shape
        self.port = port
        self.sink = Sink()
        self.members: list[Any] = []  # WsClient or SioMember, room by room
        self.setup_seconds = 0.0

    def room(self, index: int) -> str:
        """Room names are unique per group: the two shapes share each server."""
        return f"{self.shape.name}-r{index}"

    async def connect(self) -> None:
        started = time.perf_counter()
        if self.kind == "socketio":
            await self._connect_socketio()
        else:
            await self._connect_minimal()
        self.setup_seconds = time.perf_counter() - started
        members = self.shape.members
        if self.kind == "rooms":
            self.frames = [
                text_frame(
                    json.dumps(
                        {"type": "publish", "room": self.room(r), "data": {"body": BODY}},
                        separators=(",", ":"),
                    )
                )
                for r in range(self.shape.rooms)
            ]
        elif self.kind == "hub":
            # Shaped and sized like the rooms server's message event, so that
            # both fan out the same bytes.
            self.frames = [
                text_frame(
                    json.dumps(
                        {
                            "type": "message",
                            "room": self.room(r),
                            "epoch": "3bf17a10",
                            "seq": 12345,
                            "data": {"from": f"m{r * members}", "body": BODY, "time": time.time()},
                        },
                        separators=(",", ":"),
                    )
                )
                for r in range(self.shape.rooms)
            ]
        self.publishers = [self.members[r * members] for r in range(self.shape.rooms)]

    async def _connect_minimal(self) -> None:
        loop = asyncio.get_running_loop()
        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self.members = [None] * self.shape.total

        async def one(index: int) -> None:
            room = self.room(index // self.shape.members)
            async with semaphore:
                _, client = await asyncio.wait_for(
                    loop.create_connection(lambda: WsClient(self.sink, self.port), HOST, self.port),
                    CONNECT_TIMEOUT,
                )
                self.members[index] = client
                await asyncio.wait_for(client.opened, CONNECT_TIMEOUT)
                if self.kind == "rooms":
                    await client.request(
                        json.dumps({"type": "hello", "data": {"name": f"m{index}"}})
                    )
                    await client.request(
                        json.dumps({"type": "join", "room": room, "data": {"history": 0}})
                    )
                else:
                    await client.request(json.dumps({"room": room}))

        # At most CONNECT_CONCURRENCY joins in flight: the rooms protocol's
        # presence events to a big room's members arrive while others join.
        await asyncio.gather(*(one(i) for i in range(self.shape.total)))

    async def _connect_socketio(self) -> None:
        url = f"http://{HOST}:{self.port}"

        async def one(index: int) -> SioMember:
            member = SioMember(self.sink)
            self.members.append(member)
            await member.client.connect(url, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT)
            reply = await member.client.call(
                "join", self.room(index // self.shape.members), timeout=CONNECT_TIMEOUT
            )
            if reply != "joined":
                raise RuntimeError(f"socketio join: unexpected reply {reply!r}")
            return member

        members: list[SioMember] = []
        for batch in range(0, self.shape.total, SIO_BATCH):
            end = min(self.shape.total, batch + SIO_BATCH)
            members += await asyncio.gather(*(one(i) for i in range(batch, end)))
        self.members = members

    def messages_per_burst(self, burst_deliveries: int) -> int:
        """K: a multiple of the number of rooms, about ``burst_deliveries`` deliveries."""
        per_room = max(1, round(burst_deliveries / self.shape.total))
        return per_room * self.shape.rooms

    async def publish(self, count: int) -> None:
        """Publish ``count`` messages, round-robin over the rooms, each by its room's publisher."""
        rooms = self.shape.rooms
        if self.kind == "socketio":
            for index in range(count):
                room = index % rooms
                await self.publishers[room].client.emit(
                    "publish", {"room": self.room(room), "body": BODY}
                )
        else:
            publishers, frames = self.publishers, self.frames
            for index in range(count):
                room = index % rooms
                publishers[room].send(frames[room])

    def counts(self) -> list[int]:
        return [member.received for member in self.members]

    async def close(self) -> None:
        if self.kind == "socketio":
            clients = [m.client for m in self.members]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True),
                    STOP_TIMEOUT,
                )
            for client in clients:  # a failed disconnect leaves its HTTP session open
                http = getattr(client.eio, "http", None)
                if http is not None and not http.closed:
                    with contextlib.suppress(Exception):
                        await http.close()
        else:
            for member in self.members:
                if member is not None:
                    member.close()
        self.members = []


# --------------------------------------------------------------------------
# Measurements.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One server's results for one shape in one round."""

    rate: float  # deliveries per second
    server_us: float  # server CPU microseconds per delivery
    server_busy: float  # server CPU time / bursts' time
    client_busy: float  # this process's CPU time / bursts' time


async def run_burst(group: Group, server: ServerProcess, count: int) -> tuple[float, float, float]:
    """One burst of ``count`` messages; return (seconds, server CPU s, client CPU s)."""
    sink = group.sink
    expected = count * group.shape.members
    cpu_before = server.cpu_time()
    done = sink.start(expected)
    client_before = time.process_time()
    start = time.perf_counter()
    await group.publish(count)
    try:
        await asyncio.wait_for(done, BURST_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            f"{group.kind} {group.shape.name}: {sink.received} of {expected} deliveries "
            f"after {BURST_TIMEOUT} s"
        ) from None
    client_cpu = time.process_time() - client_before
    elapsed = sink.end - start
    server_cpu = server.cpu_time() - cpu_before
    return elapsed, server_cpu, client_cpu


async def measure_turn(
    group: Group, server: ServerProcess, bursts: int, burst_deliveries: int
) -> Sample:
    """One lead-in burst, then ``bursts`` timed ones; check every member got everything."""
    count = group.messages_per_burst(burst_deliveries)
    per_member = count // group.shape.rooms
    before = group.counts()
    gc.collect()
    await run_burst(group, server, count)  # lead-in, not counted
    seconds = server_cpu = client_cpu = 0.0
    for _ in range(bursts):
        elapsed, s_cpu, c_cpu = await run_burst(group, server, count)
        seconds += elapsed
        server_cpu += s_cpu
        client_cpu += c_cpu
    wanted = per_member * (bursts + 1)
    wrong = [
        (i, after - b)
        for i, (b, after) in enumerate(zip(before, group.counts(), strict=True))
        if after - b != wanted
    ]
    if wrong:
        raise RuntimeError(
            f"{group.kind} {group.shape.name}: {len(wrong)} members did not get exactly "
            f"{wanted} messages, e.g. (member, got) {wrong[:5]}"
        )
    deliveries = bursts * count * group.shape.members
    return Sample(
        rate=deliveries / seconds,
        server_us=server_cpu / deliveries * 1e6,
        server_busy=server_cpu / seconds,
        client_busy=client_cpu / seconds,
    )


def check_sinks(groups: Iterable[Group]) -> None:
    """Raise if any group got an error reply or a message it should not have."""
    for group in groups:
        if group.sink.errors:
            raise RuntimeError(f"{group.kind} {group.shape.name}: {group.sink.errors[:3]}")


async def run(
    args: argparse.Namespace,
    context: SpawnContext,
    cpus: tuple[int, int] | None,
    fd_needed: int,
    servers: dict[str, ServerProcess],
) -> dict[str, list[dict[str, Sample]]]:
    # Ctrl-C and SIGTERM cancel this task, so that the clean-up below runs on a
    # live loop (a KeyboardInterrupt raised in a callback would skip it).
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    groups: dict[tuple[str, str], Group] = {}
    try:
        for kind in SERVERS:
            servers[kind] = ServerProcess(
                kind, context, None if cpus is None else cpus[1], fd_needed
            )
        print("setup (not measured): connect and join", flush=True)
        for shape in SHAPES:
            for kind in SERVERS:
                group = Group(kind, shape, servers[kind].port)
                groups[kind, shape.name] = group
                await group.connect()
                print(
                    f"  {kind:<8} {shape.name:>6}: {shape.total} members in "
                    f"{group.setup_seconds:.1f} s",
                    flush=True,
                )
        gc.collect()
        gc.freeze()  # thousands of long-lived client objects: keep them out of GC passes

        results: dict[str, list[dict[str, Sample]]] = {shape.name: [] for shape in SHAPES}
        print()
        print(
            f"{'round':>5} {'shape':>6}  {'first':<8} | {'rooms/s':>8} {'hub/s':>8} "
            f"{'sio/s':>7} | {'rooms/hub':>9} {'rooms/sio':>9}"
        )
        for index in range(args.rounds):
            order = SERVERS if index % 2 == 0 else SERVERS[::-1]
            for shape in SHAPES:
                samples: dict[str, Sample] = {}
                for kind in order:
                    samples[kind] = await measure_turn(
                        groups[kind, shape.name],
                        servers[kind],
                        args.bursts,
                        args.burst_deliveries,
                    )
                    check_sinks(groups.values())
                results[shape.name].append(samples)
                r, h, s = (samples[k].rate for k in SERVERS)
                print(
                    f"{index + 1:>5} {shape.name:>6}  {order[0]:<8} | {fmt_rate(r):>8} "
                    f"{fmt_rate(h):>8} {fmt_rate(s):>7} | {r / h:>9.2f} {r / s:>9.1f}",
                    flush=True,
                )

        if args.profile:
            with open(args.profile, "w") as file:
                file.write(
                    "cProfile of the rooms server process, one unmeasured round "
                    f"({args.bursts + 1} bursts of about {args.burst_deliveries} "
                    "deliveries per shape)\n\n"
                )
            for shape in SHAPES:
                servers["rooms"].request("profile_on")
                sample = await measure_turn(
                    groups["rooms", shape.name],
                    servers["rooms"],
                    args.bursts,
                    args.burst_deliveries,
                )
                check_sinks(groups.values())
                servers["rooms"].request(
                    "profile_off",
                    args.profile,
                    f"rooms {shape.name} ({fmt_rate(sample.rate)} deliveries/s under cProfile)",
                )
            print(f"\nprofile of the rooms server written to {args.profile}")
        return results
    finally:
        # socket.io clients first (a clean disconnect while their server runs), then
        # the servers abort their connections, then the minimal clients go.
        for group in groups.values():
            if group.kind == "socketio":
                await group.close()
        for kind in SERVERS[::-1]:
            if kind in servers:
                servers.pop(kind).close()
        for group in groups.values():
            await group.close()


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def report(results: dict[str, list[dict[str, Sample]]]) -> tuple[float, float]:
    """Print each shape's summary; return the worse shape's median ratios."""
    hub_ratios: list[float] = []
    sio_ratios: list[float] = []
    for shape in SHAPES:
        rounds = results[shape.name]
        print()
        print(
            f"shape {shape.name} ({shape.rooms} room{'s' if shape.rooms > 1 else ''} x "
            f"{shape.members} members): median [min-max] over {len(rounds)} rounds"
        )
        print(f"{'':<28} {'rooms':>24} {'hub':>24} {'socketio':>24}")
        rows: list[tuple[str, Callable[[Sample], float], int, float]] = [
            ("deliveries/s (k)", lambda s: s.rate, 1, 1e-3),
            ("server CPU us/delivery", lambda s: s.server_us, 2, 1.0),
            ("server busy %", lambda s: s.server_busy, 0, 100.0),
            ("client busy %", lambda s: s.client_busy, 0, 100.0),
        ]
        for label, value, digits, scale in rows:
            cells = [summary([value(r[k]) for r in rounds], digits, scale) for k in SERVERS]
            print(f"{label:<28} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24}")
        by_hub = [r["rooms"].rate / r["hub"].rate for r in rounds]
        by_sio = [r["rooms"].rate / r["socketio"].rate for r in rounds]
        cpu_hub = [r["hub"].server_us / r["rooms"].server_us for r in rounds]
        cpu_sio = [r["socketio"].server_us / r["rooms"].server_us for r in rounds]
        print(f"{'ratio rooms/hub':<28} {summary(by_hub, 2):>24}   (deliveries/s; goal >= 0.8)")
        print(f"{'ratio rooms/socketio':<28} {summary(by_sio, 1):>24}   (deliveries/s; goal >= 3)")
        print(
            f"{'CPU per delivery hub/rooms':<28} {summary(cpu_hub, 2):>24}   "
            "(server CPU; above 1: rooms cheaper)"
        )
        print(f"{'CPU per delivery sio/rooms':<28} {summary(cpu_sio, 1):>24}")
        hub_ratios.append(statistics.median(by_hub))
        sio_ratios.append(statistics.median(by_sio))
    return min(hub_ratios), min(sio_ratios)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Room fan-out: wsnb.Rooms vs the bare wsnb.Hub vs python-socketio.",
    )
    parser.add_argument(
        "--rounds", type=int, help=f"interleaved rounds (default {DEFAULTS['rounds']})"
    )
    parser.add_argument(
        "--bursts",
        type=int,
        help=f"timed bursts per turn, after one lead-in (default {DEFAULTS['bursts']})",
    )
    parser.add_argument(
        "--burst-deliveries",
        type=int,
        help=f"deliveries per burst (default {DEFAULTS['burst_deliveries']})",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="add one unmeasured round with cProfile in the rooms server; "
        "write its top functions to FILE",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place clients and servers instead of pinning",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run, about 30 s (explicit options still apply)"
    )
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("rounds", "bursts", "burst_deliveries"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = pick_cpus() if args.pin else None
    members = sum(shape.total for shape in SHAPES)
    # The parent holds a socket per member of every server; a server, its own.
    raise_fd_limit(len(SERVERS) * members + 512)
    fd_needed = members + 256

    print("Room fan-out: wsnb.Rooms vs bare wsnb.Hub (baseline) vs python-socketio (aiohttp)")
    print(
        "servers: one process each, 127.0.0.1; clients: this process (minimal WebSocket "
        "clients for rooms and hub, socketio.AsyncClient over websocket for socketio)"
    )
    print(
        f"shapes: {', '.join(f'{s.rooms} x {s.members} members' for s in SHAPES)}; "
        "publishers are members and publish through the protocol, round-robin over rooms"
    )
    print(
        f"{args.rounds} interleaved rounds (order alternating); per turn 1 lead-in + "
        f"{args.bursts} timed bursts of ~{args.burst_deliveries} deliveries, paced "
        f"(next burst once all is delivered); {len(BODY)}-byte bodies"
    )
    if cpus is None:
        print("CPUs: not pinned")
    else:
        print(f"CPUs: clients pinned to CPU {cpus[0]}, servers to CPU {cpus[1]}")
    print(
        "Ratios are per round; the last line takes, for each ratio, the median over rounds "
        "of the shape where it is lowest (the worse case)."
    )
    print(f"Noise: ratios within +-{NOISE:.0%} of each other are the same.")
    print(flush=True)

    # Outside the event loop SIGTERM raises KeyboardInterrupt; inside, run() cancels itself.
    with sigterm_as_interrupt():
        context = multiprocessing.get_context("spawn")
        servers: dict[str, ServerProcess] = {}
        started = time.perf_counter()
        try:
            if cpus is not None:
                os.sched_setaffinity(0, {cpus[0]})
            results = asyncio.run(run(args, context, cpus, fd_needed, servers))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("\ninterrupted", file=sys.stderr)
            return 130
        finally:
            for server in servers.values():
                server.close()

    by_hub, by_sio = report(results)
    print(f"total time {time.perf_counter() - started:.1f} s")
    print(f"ratio rooms/hub={by_hub:.2f} rooms/socketio={by_sio:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
