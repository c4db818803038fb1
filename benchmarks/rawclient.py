"""A minimal WebSocket client, cheap enough that the benchmarks measure the server, not it.

A websockets client costs about as much per received message as a server
spends per delivery; these clients, written on ``asyncio.BufferedProtocol``,
cost a fraction of that. See docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from array import array
from collections import deque
from collections.abc import Awaitable, Callable

from harness import HOST

CONNECT_TIMEOUT = 60.0  # seconds for a client to connect, or to get a reply
CONNECT_CONCURRENCY = 50  # clients connecting at once (the listen backlog is 100)
STAMP = struct.Struct("!QQ")  # a binary message's head: sequence number, time.monotonic_ns()
# Text frames are JSON objects starting with {"type":"<type>": the type's first
# letter, at offset 9, tells a room message from a reply or an error.
TYPE_OFFSET = 9
MESSAGE, REPLY, ERROR = ord("m"), ord("r"), ord("e")


def handshake(port: int) -> tuple[bytes, bytes]:
    """An opening handshake request for ``port`` and the accept value it expects."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade"
        f"\r\nSec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's key suffix
    return request.encode(), base64.b64encode(hashlib.sha1(key + guid).digest())


def check_response(head: bytes, accept: bytes) -> None:
    """Raise unless ``head`` is a 101 that accepts, with no extension (frames stay plain)."""
    headers = head.lower().split(b"\r\n")
    if (
        not head.startswith(b"HTTP/1.1 101")
        or b"sec-websocket-accept: " + accept.lower() not in headers
    ):
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    if any(h.startswith(b"sec-websocket-extensions") for h in headers):
        raise ConnectionError("handshake: the server negotiated an extension")


def text_frame(text: str) -> bytes:
    """A client text frame under 64 KiB, masked with a zero key (the payload stays as is)."""
    data = text.encode()
    size = len(data)
    length = bytes((0x80 | size,)) if size < 126 else b"\xfe" + size.to_bytes(2, "big")
    return b"\x81" + length + b"\0\0\0\0" + data


class Sink:
    """What a set of clients received in the current burst, and when all of it was there."""

    def __init__(self) -> None:
        self.start(0)
        self.errors: list[str] = []

    def start(
        self, expected: int, first_seq: int = -1, latencies: array[int] | None = None
    ) -> asyncio.Future[None]:
        """Count from zero to ``expected``; the future is done when all is there."""
        self.received, self.expected = 0, expected
        self.first_seq, self.first_ts, self.last_ns = first_seq, 0, 0  # send, arrival times
        self.latencies = array("q") if latencies is None else latencies  # in nanoseconds
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        return self.done

    def add(self, count: int, now: int) -> None:
        self.received += count
        self.last_ns = now
        if self.received >= self.expected:
            if self.received > self.expected:  # a message from outside the burst
                self.errors.append(f"{self.received} deliveries, {self.expected} expected")
            if not self.done.done():
                self.done.set_result(None)


class RawClient(asyncio.BufferedProtocol):
    """A WebSocket client that counts messages and hands replies to :meth:`request`.

    A binary frame is a :data:`STAMP`ed message (counted, its latency recorded);
    a text frame a room message (counted), a reply or an error (to the oldest
    request waiting), or else ignored. Server frames are never masked nor
    fragmented here. Reads go into one buffer shared by all clients (the loop
    calls ``get_buffer``, ``recv_into`` and ``buffer_updated`` in a row), a
    partial frame carried over: ``asyncio.Protocol`` allocates 256 KiB a read.
    """

    buffer = bytearray(256 * 1024 + 16)  # 16 spare bytes: reading a header never goes past
    view = memoryview(buffer)[:-16]

    def __init__(self, sink: Sink, port: int) -> None:
        self.sink = sink
        self.handshake, self.accept = handshake(port)
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.pending = b""  # a partial frame (or handshake response) from the last read
        self.carried = 0  # bytes of pending copied to the start of the buffer
        self.received = 0  # messages since connecting
        self.waiting: deque[asyncio.Future[bytes]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.handshake)

    def connection_lost(self, exc: Exception | None) -> None:
        for waiter in (self.opened, *self.waiting):
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def get_buffer(self, sizehint: int) -> memoryview:
        carried = self.carried = len(self.pending)
        if carried:
            if carried > len(RawClient.view) // 2:  # a frame larger than the buffer allows
                RawClient.buffer = bytearray(4 * carried + 16)
                RawClient.view = memoryview(RawClient.buffer)[:-16]
            RawClient.buffer[:carried] = self.pending
            return RawClient.view[carried:]
        return RawClient.view

    def buffer_updated(self, nbytes: int) -> None:
        now = time.monotonic_ns()  # one arrival time per read
        buf, size = RawClient.buffer, self.carried + nbytes
        offset = 0 if self.opened.done() else self._opening(buf, size)
        if offset < 0:
            return
        offset, count = self._frames(buf, offset, size, now)
        self.pending = bytes(buf[offset:size]) if offset < size else b""
        if count:
            self.received += count
            self.sink.add(count, now)

    def _opening(self, buf: bytearray, size: int) -> int:
        """Where the frames start after the handshake response; -1: not yet, or refused."""
        end = buf.find(b"\r\n\r\n", 0, size)
        if end < 0:
            self.pending = bytes(buf[:size])
            return -1
        try:
            check_response(bytes(buf[:end]), self.accept)
        except ConnectionError as exc:
            self.opened.set_exception(exc)
            assert self.transport is not None
            self.transport.abort()
            return -1
        self.opened.set_result(None)
        return end + 4

    def _frames(self, buf: bytearray, offset: int, size: int, now: int) -> tuple[int, int]:
        """Read the complete frames from ``offset``; inlined on purpose: the hot loop."""
        sink, unpack, count = self.sink, STAMP.unpack_from, 0
        record, first_seq = sink.latencies.append, sink.first_seq
        while size - offset >= 2:
            length, start = buf[offset + 1] & 0x7F, offset + 2
            if length == 126:  # an incomplete header makes end > size below
                length, start = (buf[start] << 8) | buf[start + 1], start + 2
            elif length == 127:
                length, start = int.from_bytes(buf[start : start + 8], "big"), start + 8
            end = start + length
            if end > size:
                break
            opcode = buf[offset] & 0x0F
            if opcode == 2:
                seq, sent = unpack(buf, start)
                record(now - sent)
                if seq == first_seq:
                    sink.first_ts = sent
                count += 1
            elif opcode == 1 and buf[start + TYPE_OFFSET] == MESSAGE:
                count += 1
            else:
                self._other(opcode, buf, start, end)
            offset = end
        return offset, count

    def _other(self, opcode: int, buf: bytearray, start: int, end: int) -> None:
        """Any frame but a message: a reply or an error, a ping, a close."""
        kind = buf[start + TYPE_OFFSET]
        if opcode == 1 and kind in (REPLY, ERROR):
            payload = bytes(buf[start:end])
            waiter = self.waiting.popleft() if self.waiting else None
            if waiter is None and kind == ERROR:
                self.sink.errors.append(payload.decode())
            elif waiter is not None and kind == ERROR:
                waiter.set_exception(RuntimeError(f"error reply: {payload.decode()}"))
            elif waiter is not None:
                waiter.set_result(payload)
        elif opcode in (8, 9) and self.transport and not self.transport.is_closing():
            payload = bytes(buf[start : end if opcode == 9 else min(end, start + 2)])
            pong_or_close = 0xA if opcode == 9 else 0x8  # a close echoes the code
            header = bytes((0x80 | pong_or_close, 0x80 | len(payload), 0, 0, 0, 0))
            self.transport.write(header + payload)

    def send(self, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame)

    async def request(self, text: str) -> bytes:
        """Send ``text``; return the next reply (an error reply raises)."""
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.send(text_frame(text))
        return await asyncio.wait_for(waiter, CONNECT_TIMEOUT)

    def close(self, abort: bool = False) -> None:
        if self.transport is not None:
            (self.transport.abort if abort else self.transport.close)()


async def open_clients(
    port: int,
    count: int,
    sink: Sink,
    opened: list[RawClient],
    ready: Callable[[int, RawClient], Awaitable[object]] | None = None,
) -> list[RawClient]:
    """``count`` clients of ``port``, in order, CONNECT_CONCURRENCY at a time.

    Each goes into ``opened`` as soon as it exists (for the caller to close,
    whatever happens); then ``ready(index, client)`` runs, still in the limit.
    """
    loop, semaphore = asyncio.get_running_loop(), asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int) -> RawClient:
        async with semaphore:
            connecting = loop.create_connection(lambda: RawClient(sink, port), HOST, port)
            _, client = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
            opened.append(client)
            await asyncio.wait_for(client.opened, CONNECT_TIMEOUT)
            if ready is not None:
                await ready(index, client)
            return client

    return list(await asyncio.gather(*(one(i) for i in range(count))))
