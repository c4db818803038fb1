"""Benchmark broadcast fan-out: wsnb.Hub vs websockets.broadcast() vs a naive send loop.

What is measured
----------------
One server process (the measured side) runs two servers, both on 127.0.0.1
with ``compression=None`` (wsnb's default; permessage-deflate would compress
each message once per client and defeat broadcast's encode-once):

* a ``wsnb.Hub(relay=False)`` served with ``wsnb.serve``;
* a bare ``websockets.asyncio.server.serve`` server whose handler keeps its
  connections in a set until they close.

Three fan-out implementations, chosen per burst:

* ``hub``: ``hub.broadcast(message)`` on the hub's clients;
* ``broadcast``: ``websockets.asyncio.server.broadcast(conns, message)`` on
  the bare server's clients;
* ``naive``: ``for ws in conns: await ws.send(message)`` on the bare server's
  clients (over a snapshot ``list(conns)``, skipping a client that closes
  mid-loop, so that a disconnect cannot end the benchmark).

Every message is binary: a sequence number and the server's send time from
``time.monotonic_ns()`` (one clock for the whole machine on Linux, so
comparable across processes), padded to 64 bytes. The server builds and
timestamps each message just before fanning it out, and yields to its event
loop after each one (as a server broadcasting messages as they arrive would),
the same way for all three implementations.

The clients live in this (parent) process, in another process than the
server: N connections per server, on one asyncio loop. They are minimal
WebSocket clients written on ``asyncio.BufferedProtocol`` (hand-made
handshake, one receive buffer shared by all, a frame parser that only reads
the 16-byte header of each message, pongs to pings), not websockets' client:
a websockets client costs about as much per received message as the server
spends per delivery, and the benchmark would then measure the clients (with
a plain ``asyncio.Protocol``, which allocates 256 KiB per read, the server
was idle half the time at 10 and 100 clients). The server process's CPU use during the bursts is
printed so that you can check that it, not the clients, is the bottleneck
(close to 100% means it is).

Throughput (N = 10, 100, 1000 clients per server). Traffic goes in bursts of
K messages, K x N = ``--burst-deliveries`` (20000 by default: K = 2000, 200,
20). After each burst the parent waits until every client has received every
message of it, and until the server says its loop is done, before it sends
the next burst command over a pipe: the server never runs ahead of its
clients, so the measurement is fan-out throughput, not an ever-growing
queue. A burst's time runs from the send time embedded in its first message
to the arrival of its last delivery; the time between bursts (pacing) is not
counted. Per round and implementation:

* deliveries/s: messages x clients delivered, over the bursts' summed time;
* latency p50 / p99: arrival time (read once per socket read) minus the
  embedded send time, over every delivery of the round's timed bursts;
* server CPU microseconds per delivery (``getrusage()`` in the server
  around each burst), with the part spent in user mode: Python, where the
  three implementations differ; the rest is the kernel's socket sends,
  which on loopback include delivery to the receiving socket and are the
  larger part;
* server CPU busy %: server CPU time over the bursts' time. Close to 100%
  means the server, not the clients, limits the rate.

Rounds are interleaved: in each round every implementation takes one turn,
in the order hub, broadcast, naive, then naive, broadcast, hub in the next
round, and so on. On a shared VM speed drifts by 20-40% over seconds; short
turns (about a second) and alternating orders put all three through the
same drifts, and ratios are taken within each round.

A turn starts with one lead-in burst that is not counted, then
``--bursts`` timed bursts. Without it the measurement depended on the
previous burst: with 1000 clients, a burst that followed one to the other
server's 1000 connections ran 20-30% slower (87-98k deliveries/s) than one
that followed a burst to its own connections (110-126k/s), for hub and
broadcast alike (connection state and caches gone cold while the other set
was served). Interleaving burst by burst made that penalty fall unevenly
(hub/broadcast came out 0.72-0.80 in short runs, ~1.0 in long ones). A real
server sends every message to the same connections, so the timed bursts
measure that steady state.

Stalled client (``--stall-clients`` = 100 healthy clients plus ONE client
that completes the WebSocket handshake by hand on a raw TCP socket and then
never reads). Each implementation gets a fresh server process, so that its
memory starts from the same place. ``--stall-mb`` MiB (16; 8 with
``--quick``) per client is sent in 4 KiB messages (64-byte messages would take minutes to add up to
megabytes), in bursts of 4 paced as above but waiting for the healthy
clients only. That is well beyond what loopback socket buffers absorb for a
client that never reads: about 3.8 MiB here (the naive loop's delivered
share shows it: it stalls once they are full), 1.4 MB or more elsewhere. Per
implementation:

* delivered: share of the messages that reached the healthy clients. The
  naive loop stalls once the stalled client's buffers are full: the phase
  ends when no healthy client has received anything for ``--stall-timeout``
  seconds (or at ``--stall-deadline``), and the share is what was delivered
  before that;
* p99 latency of the healthy clients' deliveries;
* RSS growth of the server process: ``VmRSS`` from ``/proc/<pid>/status``
  at the end minus at the start (after a warm-up), and the peak: ``VmHWM``
  (reset at the start through ``/proc/<pid>/clear_refs``) minus the start;
* the bytes the server still held for the stalled client at the end (its
  transport's write buffer), and whether the hub closed it.

The hub's goal: 100% delivered, and an RSS growth below 2 x max_buffered
(2 MiB with the default bound of 1 MiB).

On Linux with two CPUs or more, the clients (this process) are pinned to one
CPU and the server process to another; ``--no-pin`` turns that off.

How to run
----------
::

    make bench                                         # echo.py, then this
    .venv/bin/python benchmarks/broadcast.py           # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/broadcast.py --quick   # smoke run, about 20 s
    .venv/bin/python benchmarks/broadcast.py --rounds 9 --clients 100,1000

How to read the output
----------------------
For each N: one line per round (deliveries/s of each implementation, ratio
hub/broadcast, p50/p99 latencies; ``*`` marks a round where the server was
busy less than 90% of the time, that is, where something else held the
CPUs and the round says little), then the median [min-max] across rounds
of each metric and the per-round ratios hub/broadcast and naive/broadcast.
The machines these run on are shared and noisy: absolute numbers move by
tens of percent from run to run, so read the ratios of interleaved rounds
and their medians; a ratio hub/broadcast within about 0.93-1.07 means no
measurable difference. (Measured: the same ``websockets.broadcast()`` call
timed on the hub server's connections and on the bare server's came out at
a median ratio of 1.01-1.02 over 9 rounds, single rounds 0.6-1.14.) The
server CPU per delivery is steadier than the rates; its ratio hub/broadcast
shows the hub's own cost per client (1.03-1.05 at 100 clients here). Then
the stalled-client table. The last line,
``ratio hub/broadcast=X stalled_delivered=Y% rss_growth_mb=Z``, holds the
median ratio of deliveries/s hub/broadcast at 1000 clients (or the largest
N run), the hub's share delivered to the healthy clients with a stalled
client, and the hub server's peak RSS growth in MB (MiB) in that phase, for
scripts to parse.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import resource
import socket
import statistics
import struct
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
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

IMPLEMENTATIONS = ("hub", "broadcast", "naive")
HEADER = struct.Struct("!QQ")  # sequence number, send time (time.monotonic_ns())
MESSAGE_SIZE = 64
HOST = "127.0.0.1"

DEFAULTS: dict[str, Any] = {
    "rounds": 9,
    "clients": "10,100,1000",
    "bursts": 6,  # timed bursts per round and implementation, after 1 lead-in burst
    "burst_deliveries": 20000,  # K x N
    "stall_clients": 100,
    "stall_mb": 16.0,
    "stall_timeout": 2.0,
    "stall_deadline": 30.0,
}
QUICK: dict[str, Any] = {
    "rounds": 3,
    "bursts": 1,
    "burst_deliveries": 10000,
    "stall_mb": 8.0,
    "stall_timeout": 1.0,
}
STALL_MESSAGE_SIZE = 4096
STALL_BURST = 4  # messages per burst in the stalled-client phase
STALL_WARMUP = 8  # messages sent to everyone before the memory baseline

NOISE = 0.07  # ratios within +-7% of 1: no measurable difference
BUSY = 0.90  # below this server CPU busy share, something else held the CPUs
START_TIMEOUT = 30.0  # seconds for the server process to report its ports
REPLY_TIMEOUT = 30.0  # seconds for the server process to answer a request
BURST_TIMEOUT = 60.0  # seconds for a throughput burst to be fully delivered
STOP_TIMEOUT = 5.0  # seconds for the server process to end on request
CONNECT_TIMEOUT = 10.0  # seconds per client connection (TCP + handshake)
CONNECT_CONCURRENCY = 50  # handshakes in flight (the listen backlog is 100)
WHOLE_K = 10000  # rates from this on are printed in whole thousands


# --------------------------------------------------------------------------
# Server side: runs in the child process.
# --------------------------------------------------------------------------


async def _serve(conn: Connection) -> None:
    """Run both servers; execute the parent's commands until "stop" or EOF.

    Commands are tuples whose first item names them; each gets one reply,
    a tuple (same name, value), or ("error", text). "abort" and "stop" act
    at once, even while a burst is stuck (the naive loop on a stalled client).
    """
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    import wsnb  # here only: the parent process does not need it

    hub = wsnb.Hub(relay=False)
    hub_server = await wsnb.serve(hub, name="broadcast-bench-hub")
    conns: set[ServerConnection] = set()

    async def bare_handler(ws: ServerConnection) -> None:
        conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            conns.discard(ws)

    bare_server = await serve(bare_handler, HOST, 0, compression=None)

    async def fan_out(impl: str, first_seq: int, count: int, size: int) -> None:
        pad = bytes(size - HEADER.size)
        pack = HEADER.pack
        now = time.monotonic_ns
        for seq in range(first_seq, first_seq + count):
            message = pack(seq, now()) + pad
            if impl == "hub":
                hub.broadcast(message)
            elif impl == "broadcast":
                broadcast(conns, message)
            else:
                for ws in list(conns):
                    try:
                        await ws.send(message)
                    except ConnectionClosed:
                        pass
            await asyncio.sleep(0)

    def all_connections() -> list[ServerConnection]:
        # Not ws_server.connections: it lists open connections only, and a
        # client the hub is closing holds its buffer until the close completes.
        return [client.connection for client in hub.clients] + list(conns)

    def info() -> dict[str, Any]:
        buffered = [
            ws.transport.get_write_buffer_size()
            for ws in all_connections()
            if ws.transport is not None
        ]
        return {
            "hub": hub.count,
            "bare": len(conns),
            "slow_closed": hub.slow_closed,
            "max_write_buffer": max(buffered, default=0),
        }

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    stopped: asyncio.Future[None] = loop.create_future()
    current: asyncio.Task[None] | None = None  # the burst being sent
    current_seq = -1  # its first sequence number
    abort_seq = -1  # a burst to abort that had not started when "abort" came

    def on_readable() -> None:
        try:
            command = conn.recv()
        except (EOFError, OSError):  # the parent went away: stop
            command = ("stop",)
        if command[0] == "stop":
            loop.remove_reader(conn.fileno())
            if not stopped.done():
                stopped.set_result(None)
        elif command[0] == "abort":  # ("abort", first sequence number of the burst)
            nonlocal abort_seq
            if current is not None and current_seq == command[1]:
                current.cancel()
            elif command[1] > current_seq:  # not started yet (a finished one is ignored)
                abort_seq = command[1]
        else:
            commands.put_nowait(command)

    async def execute(command: tuple[Any, ...]) -> Any:
        nonlocal current, current_seq
        if command[0] == "burst":
            _, impl, first_seq, count, size = command
            usage = resource.getrusage(resource.RUSAGE_SELF)
            task = current = loop.create_task(fan_out(impl, first_seq, count, size))
            current_seq = first_seq
            if abort_seq == first_seq:
                task.cancel()
            try:
                await asyncio.wait({task})
            finally:
                task.cancel()  # a no-op unless this worker is being cancelled
                current = None
            after = resource.getrusage(resource.RUSAGE_SELF)
            aborted = task.cancelled()
            if not aborted:
                task.result()  # raise what went wrong, if anything
            return {
                "user": after.ru_utime - usage.ru_utime,
                "system": after.ru_stime - usage.ru_stime,
                "aborted": aborted,
            }
        if command[0] == "info":
            return info()
        raise ValueError(f"unknown command {command!r}")

    async def work() -> None:
        while True:
            command = await commands.get()
            try:
                reply = (command[0], await execute(command))
            except Exception as exc:
                reply = ("error", f"{command[0]}: {type(exc).__name__}: {exc}")
            conn.send(reply)

    loop.add_reader(conn.fileno(), on_readable)
    worker = loop.create_task(work())
    try:
        conn.send(
            ("ready", {"hub": hub_server.port, "bare": bare_server.sockets[0].getsockname()[1]})
        )
        await asyncio.wait({stopped, worker}, return_when=asyncio.FIRST_COMPLETED)
        if worker.done():
            worker.result()
    finally:
        if not stopped.done():
            loop.remove_reader(conn.fileno())
        worker.cancel()
        # Abort first: a graceful close would wait close_timeout (10 s) for a
        # client that never reads.
        for ws in all_connections():
            if ws.transport is not None:
                ws.transport.abort()
        await hub_server.stop()
        bare_server.close()
        await bare_server.wait_closed()


def server_process(conn: Connection, cpu: int | None, fd_needed: int) -> None:
    """Entry point of the server's child process, pinned to ``cpu`` if given."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        raise_fd_limit(fd_needed)
        logging.getLogger("websockets.server").addFilter(QuietDisconnects())
        asyncio.run(_serve(conn))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
        pass
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Parent side: controls the server process.
# --------------------------------------------------------------------------


def read_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process ``pid``, in bytes."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Reset process ``pid``'s VmHWM to its current RSS; False if the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class ServerProcess:
    """The server in its own child process, started at construction."""

    def __init__(self, context: SpawnContext, cpu: int | None, fd_needed: int) -> None:
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=server_process,
            args=(child_conn, cpu, fd_needed),
            name="broadcast-bench-server",
            daemon=True,  # one more guard: multiprocessing ends it at exit
        )
        self._process.start()
        child_conn.close()
        self._inbox: asyncio.Queue[tuple[str, Any]] | None = None
        self._reading = False
        try:
            if not self._conn.poll(START_TIMEOUT):
                raise TimeoutError(f"server process: not ready within {START_TIMEOUT} s")
            tag, value = self._conn.recv()
            if tag != "ready":
                raise RuntimeError(f"server process: {value}")
        except BaseException:
            self.close()
            raise
        self.hub_port: int = value["hub"]
        self.bare_port: int = value["bare"]
        assert self._process.pid is not None
        self.pid: int = self._process.pid

    def port(self, impl: str) -> int:
        """The port of the server that ``impl`` fans out on."""
        return self.hub_port if impl == "hub" else self.bare_port

    def _on_readable(self) -> None:
        assert self._inbox is not None
        try:
            item = self._conn.recv()
        except (EOFError, OSError):
            item = ("eof", None)
            self._stop_reading()
        self._inbox.put_nowait(item)

    def _stop_reading(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._reading = False

    def send(self, *command: Any) -> None:
        """Send a command without waiting for its reply (see :meth:`reply`)."""
        if self._inbox is None:
            self._inbox = asyncio.Queue()
            asyncio.get_running_loop().add_reader(self._conn.fileno(), self._on_readable)
            self._reading = True
        self._conn.send(command)

    async def reply(self, expected: str, timeout: float = REPLY_TIMEOUT) -> Any:
        """The next reply, which must be tagged ``expected``."""
        assert self._inbox is not None
        try:
            tag, value = await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"server process: no {expected!r} reply within {timeout} s"
            ) from None
        if tag == "eof":
            raise RuntimeError("server process ended unexpectedly")
        if tag != expected:
            raise RuntimeError(f"server process: {value}")
        return value

    async def request(self, *command: Any) -> Any:
        self.send(*command)
        return await self.reply(command[0])

    async def wait_for_clients(self, hub: int, bare: int) -> None:
        """Wait until the servers count ``hub`` and ``bare`` clients."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            info = await self.request("info")
            if info["hub"] == hub and info["bare"] == bare:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"server counts {info}, expected hub={hub} bare={bare}")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        """Stop the process: ask politely, then terminate, then kill. Synchronous."""
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to remove
            self._stop_reading()
        stop_child(self._process, self._conn, ("stop",), STOP_TIMEOUT)


# --------------------------------------------------------------------------
# Client side: minimal WebSocket clients, all in this process.
# --------------------------------------------------------------------------


class Sink:
    """Where every client reports what it received during the current burst."""

    def __init__(self) -> None:
        self.received = 0
        self.expected = 0
        self.first_seq = -1
        self.first_ts = 0  # send time of the burst's first message
        self.last_ns = 0  # arrival time of the latest delivery
        self.latencies = array("q")
        self.done: asyncio.Future[None] | None = None

    def start(self, first_seq: int, expected: int, latencies: array[int]) -> asyncio.Future[None]:
        self.received = 0
        self.expected = expected
        self.first_seq = first_seq
        self.first_ts = 0
        self.last_ns = 0
        self.latencies = latencies
        self.done = asyncio.get_running_loop().create_future()
        return self.done


class Client(asyncio.BufferedProtocol):
    """A receive-only WebSocket client: counts messages, records their latency.

    Server frames are never masked; messages are never fragmented by the
    server here. Pings get a pong and a close frame gets its echo, both
    masked (with a zero key, which leaves the payload as is).

    Reads go into one receive buffer shared by every client (the loop calls
    ``get_buffer``, ``recv_into`` and ``buffer_updated`` in a row, without
    running anything in between), with a partial frame carried over in
    ``pending``: the default ``Protocol`` path allocates a 256 KiB bytes
    object on every read, which made the clients slower than the server.
    """

    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)

    def __init__(self, sink: Sink, port: int) -> None:
        self.sink = sink
        self.request, self.accept = handshake(HOST, port)
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.pending = b""  # a partial frame (or handshake response) from the last read
        self.carried = 0  # bytes of pending copied to the start of the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))

    def get_buffer(self, sizehint: int) -> memoryview:
        carried = self.carried = len(self.pending)
        if carried:
            if carried > len(self.buffer) // 2:  # a frame larger than the buffer allows
                Client.buffer = bytearray(4 * carried)
                Client.view = memoryview(Client.buffer)
            self.buffer[:carried] = self.pending
            return self.view[carried:]
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        now = time.monotonic_ns()
        buf = self.buffer
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
        sink = self.sink
        first_seq = sink.first_seq
        record = sink.latencies.append
        unpack = HEADER.unpack_from
        count = 0
        # Frame parsing is inlined on purpose (the clients' hot loop); the same
        # parser serves benchmarks/rooms.py's clients.
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
            if opcode == 2 or opcode == 1:
                seq, sent = unpack(buf, start)
                record(now - sent)
                if seq == first_seq:
                    sink.first_ts = sent
                count += 1
            elif opcode == 9:  # ping: pong
                self._control(0xA, bytes(buf[start:end]))
            elif opcode == 8:  # close: echo the code
                self._control(0x8, bytes(buf[start : start + 2]))
            offset = end
        self.pending = bytes(buf[offset:size]) if offset < size else b""
        if count:
            sink.received += count
            sink.last_ns = now
            if sink.received >= sink.expected and sink.done is not None and not sink.done.done():
                sink.done.set_result(None)

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload), 0, 0, 0, 0)) + payload)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_clients(port: int, count: int, sink: Sink, opened: list[Client]) -> list[Client]:
    """Open ``count`` clients to ``port``; each is added to ``opened`` as soon as it exists."""
    loop = asyncio.get_running_loop()
    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> Client:
        async with semaphore:
            _, client = await asyncio.wait_for(
                loop.create_connection(lambda: Client(sink, port), HOST, port), CONNECT_TIMEOUT
            )
            opened.append(client)
            await asyncio.wait_for(client.opened, CONNECT_TIMEOUT)
            return client

    return list(await asyncio.gather(*(one() for _ in range(count))))


def close_clients(clients: list[Client]) -> None:
    for client in clients:
        client.close()
    clients.clear()


def open_stalled_client(port: int) -> socket.socket:
    """A client that completes the handshake on a raw socket, then never reads."""
    request, accept = handshake(HOST, port)
    sock = socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT)
    try:
        sock.sendall(request)
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("stalled client: connection closed during the handshake")
            response += chunk
        check_response(response.split(b"\r\n\r\n", 1)[0], accept)
    except BaseException:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------
# Throughput: interleaved rounds.
# --------------------------------------------------------------------------


class Numbering:
    """The next message sequence number, shared by every burst of the run."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first


@dataclass
class Tally:
    """One implementation's bursts in one round (or one stalled phase)."""

    deliveries: int = 0
    ns: int = 0  # summed burst times
    user: float = 0.0  # server CPU seconds in user mode (Python: the fan-out code)
    system: float = 0.0  # server CPU seconds in the kernel (the socket sends)
    latencies: array[int] = field(default_factory=lambda: array("q"))  # nanoseconds


@dataclass(frozen=True)
class Sample:
    """One implementation's results in one round."""

    rate: float  # deliveries per second
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU microseconds per delivery
    user_us: float  # of which in user mode
    busy: float  # server CPU time / burst time


def percentile(values: array[int], fraction: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


def sample(tally: Tally) -> Sample:
    return Sample(
        rate=tally.deliveries / (tally.ns / 1e9),
        p50_ms=percentile(tally.latencies, 0.50) / 1e6,
        p99_ms=percentile(tally.latencies, 0.99) / 1e6,
        cpu_us=(tally.user + tally.system) / tally.deliveries * 1e6,
        user_us=tally.user / tally.deliveries * 1e6,
        busy=(tally.user + tally.system) / (tally.ns / 1e9),
    )


async def run_burst(
    server: ServerProcess,
    sink: Sink,
    seqs: Numbering,
    impl: str,
    clients: int,
    count: int,
    tally: Tally,
) -> None:
    """One paced burst of ``count`` 64-byte messages to ``clients`` clients."""
    first = seqs.take(count)
    done = sink.start(first, clients * count, tally.latencies)
    server.send("burst", impl, first, count, MESSAGE_SIZE)
    await asyncio.wait_for(done, BURST_TIMEOUT)
    result = await server.reply("burst")
    tally.deliveries += sink.received
    tally.ns += sink.last_ns - sink.first_ts
    tally.user += result["user"]
    tally.system += result["system"]


async def measure_clients(
    server: ServerProcess, sink: Sink, seqs: Numbering, n: int, args: argparse.Namespace
) -> list[dict[str, Sample]]:
    """Connect ``n`` clients to each server, run the interleaved rounds, disconnect."""
    count = max(1, args.burst_deliveries // n)
    print(
        f"N={n}: {n} clients per server, bursts of {count} x {MESSAGE_SIZE}-byte messages "
        f"({count * n} deliveries); per round and implementation 1 lead-in + {args.bursts} "
        "timed bursts",
        flush=True,
    )
    clients: list[Client] = []
    try:
        for impl in ("hub", "broadcast"):  # broadcast and naive share the bare server
            await open_clients(server.port(impl), n, sink, clients)
        await server.wait_for_clients(hub=n, bare=n)
        warmup = Tally()
        for impl in IMPLEMENTATIONS:
            await run_burst(server, sink, seqs, impl, n, count, warmup)

        print(
            f"{'round':>5} {'first':<9} | {'deliveries/s: hub':>17} {'broadcast':>9} "
            f"{'naive':>7} {'hub/bc':>6} | {'p50/p99 ms: hub':>15} {'broadcast':>11} "
            f"{'naive':>11}"
        )
        results: list[dict[str, Sample]] = []
        for index in range(args.rounds):
            order = IMPLEMENTATIONS if index % 2 == 0 else IMPLEMENTATIONS[::-1]
            tallies = {impl: Tally() for impl in IMPLEMENTATIONS}
            gc.collect()
            for impl in order:
                await run_burst(server, sink, seqs, impl, n, count, Tally())  # lead-in
                for _ in range(args.bursts):
                    await run_burst(server, sink, seqs, impl, n, count, tallies[impl])
            samples = {impl: sample(tallies[impl]) for impl in IMPLEMENTATIONS}
            results.append(samples)
            h, b, v = (samples[impl] for impl in IMPLEMENTATIONS)
            idle = min(x.busy for x in samples.values()) < BUSY
            print(
                f"{index + 1:>5} {order[0]:<9} | {fmt_rate(h.rate, WHOLE_K):>17} "
                f"{fmt_rate(b.rate, WHOLE_K):>9} {fmt_rate(v.rate, WHOLE_K):>7} "
                f"{h.rate / b.rate:>6.2f} | "
                f"{f'{h.p50_ms:.1f}/{h.p99_ms:.1f}':>15} {f'{b.p50_ms:.1f}/{b.p99_ms:.1f}':>11} "
                f"{f'{v.p50_ms:.1f}/{v.p99_ms:.1f}':>11}{'  *' if idle else ''}",
                flush=True,
            )
    finally:
        close_clients(clients)
    await server.wait_for_clients(hub=0, bare=0)
    return results


def verdict(ratio: float) -> str:
    if abs(ratio - 1) <= NOISE:
        return "no measurable difference"
    return "hub faster" if ratio > 1 else "hub slower"


def report_clients(n: int, results: list[dict[str, Sample]]) -> float:
    """Print the medians for ``n`` clients; return the median ratio hub/broadcast."""
    print(f"N={n}: median [min-max] over {len(results)} rounds")
    print(
        f"  {'':<10} {'deliveries/s':>22} {'p50 ms':>17} {'p99 ms':>18} "
        f"{'srv us/delivery':>18} {'user':>5} {'srv busy %':>12}"
    )
    for impl in IMPLEMENTATIONS:
        rows = [r[impl] for r in results]
        print(
            f"  {impl:<10} {summary([s.rate for s in rows], 0):>22} "
            f"{summary([s.p50_ms for s in rows], 1):>17} "
            f"{summary([s.p99_ms for s in rows], 1):>18} "
            f"{summary([s.cpu_us for s in rows], 2):>18} "
            f"{statistics.median([s.user_us for s in rows]):>5.2f} "
            f"{summary([100 * s.busy for s in rows], 0):>12}"
        )
    disturbed = sum(min(x.busy for x in r.values()) < BUSY for r in results)
    if disturbed:
        print(
            f"  * {disturbed} of {len(results)} rounds: the server was busy less than "
            f"{BUSY:.0%} of a burst's time, so something else (other processes on a shared "
            "machine, or the clients) held the CPUs; be wary, or run again"
        )
    hub_ratios = [r["hub"].rate / r["broadcast"].rate for r in results]
    naive_ratios = [r["naive"].rate / r["broadcast"].rate for r in results]
    cpu_ratios = [r["hub"].cpu_us / r["broadcast"].cpu_us for r in results]
    median = statistics.median(hub_ratios)
    print(
        f"  ratio deliveries/s hub/broadcast {summary(hub_ratios, 2)} ({verdict(median)}), "
        f"naive/broadcast {summary(naive_ratios, 2)}; "
        f"server CPU per delivery hub/broadcast {summary(cpu_ratios, 2)}"
    )
    print(flush=True)
    return median


# --------------------------------------------------------------------------
# Stalled client.
# --------------------------------------------------------------------------


@dataclass
class StallResult:
    impl: str
    delivered: float  # share, 0-1
    p99_ms: float
    rss_growth: int  # bytes, end - start
    peak_growth: int | None  # bytes, VmHWM - start (None: the kernel refused the reset)
    backlog: int  # bytes the server held for the stalled client at the end
    slow_closed: int
    seconds: float
    note: str


async def measure_stalled(
    impl: str,
    context: SpawnContext,
    cpus: tuple[int, int] | None,
    fd_needed: int,
    servers: list[ServerProcess],
    seqs: Numbering,
    args: argparse.Namespace,
) -> StallResult:
    """A fresh server, ``args.stall_clients`` healthy clients and one that never reads."""
    n = args.stall_clients
    total = max(STALL_BURST, int(args.stall_mb * 2**20) // STALL_MESSAGE_SIZE)
    server = ServerProcess(context, None if cpus is None else cpus[1], fd_needed)
    servers.append(server)
    sink = Sink()
    clients: list[Client] = []
    stalled: socket.socket | None = None
    try:
        port = server.port(impl)
        await open_clients(port, n, sink, clients)
        stalled = open_stalled_client(port)
        await server.wait_for_clients(
            hub=n + 1 if impl == "hub" else 0, bare=0 if impl == "hub" else n + 1
        )
        for _ in range(STALL_WARMUP // STALL_BURST):  # every code path once
            first = seqs.take(STALL_BURST)
            done = sink.start(first, n * STALL_BURST, array("q"))
            server.send("burst", impl, first, STALL_BURST, STALL_MESSAGE_SIZE)
            await asyncio.wait_for(done, BURST_TIMEOUT)
            await server.reply("burst")
        gc.collect()
        peak_reset = reset_peak(server.pid)
        before = read_status(server.pid)["VmRSS"]

        tally = Tally()
        started = time.monotonic()
        deadline = started + args.stall_deadline
        sent = 0
        note = ""
        while sent < total and not note:
            count = min(STALL_BURST, total - sent)
            first = seqs.take(count)
            done = sink.start(first, n * count, tally.latencies)
            server.send("burst", impl, first, count, STALL_MESSAGE_SIZE)
            sent += count
            progress = -1
            while not done.done():  # wait for the healthy clients, watching for a stall
                if sink.received == progress:
                    note = f"stalled: nothing delivered for {args.stall_timeout:g} s"
                elif time.monotonic() > deadline:
                    note = f"deadline of {args.stall_deadline:g} s reached"
                if note:
                    server.send("abort", first)
                    break
                progress = sink.received
                await asyncio.wait({done}, timeout=args.stall_timeout)
            await server.reply("burst")
            tally.deliveries += sink.received
        seconds = time.monotonic() - started
        status = read_status(server.pid)
        info = await server.request("info")
    finally:
        close_clients(clients)
        if stalled is not None:
            stalled.close()
    server.close()
    servers.remove(server)
    if not note:
        note = f"all {total} messages sent in {seconds:.1f} s"
    if impl == "hub":
        note += f"; hub closed {info['slow_closed']} slow client(s)"
    return StallResult(
        impl=impl,
        delivered=tally.deliveries / (n * total),
        p99_ms=percentile(tally.latencies, 0.99) / 1e6 if tally.latencies else float("nan"),
        rss_growth=status["VmRSS"] - before,
        peak_growth=status["VmHWM"] - before if peak_reset else None,
        backlog=info["max_write_buffer"],
        slow_closed=info["slow_closed"],
        seconds=seconds,
        note=note,
    )


def report_stalled(results: list[StallResult], args: argparse.Namespace) -> None:
    total_mb = args.stall_mb
    print(
        f"Stalled client: {args.stall_clients} healthy clients + 1 that never reads; "
        f"{total_mb:g} MiB per client in {STALL_MESSAGE_SIZE}-byte messages, bursts of "
        f"{STALL_BURST}; fresh server process each"
    )
    print(
        f"  {'':<10} {'delivered':>9} {'p99 ms':>8} {'RSS growth MB':>13} {'peak MB':>8} "
        f"{'backlog MB':>10}  notes"
    )
    for r in results:
        peak = "n/a" if r.peak_growth is None else f"{r.peak_growth / 2**20:.2f}"
        print(
            f"  {r.impl:<10} {100 * r.delivered:>8.1f}% {r.p99_ms:>8.1f} "
            f"{r.rss_growth / 2**20:>13.2f} {peak:>8} {r.backlog / 2**20:>10.2f}  {r.note}"
        )
    print(
        "  (MB = MiB; backlog: bytes still waiting in the server for the stalled client at "
        "the end; hub goal: 100% delivered, peak RSS growth < 2 x max_buffered = 2 MiB)"
    )
    print(flush=True)


# --------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------


async def run(
    args: argparse.Namespace,
    context: SpawnContext,
    cpus: tuple[int, int] | None,
    fd_needed: int,
    servers: list[ServerProcess],
) -> tuple[dict[int, float], list[StallResult]]:
    seqs = Numbering()
    ratios: dict[int, float] = {}
    if args.client_counts:
        server = ServerProcess(context, None if cpus is None else cpus[1], fd_needed)
        servers.append(server)
        sink = Sink()
        for n in args.client_counts:
            results = await measure_clients(server, sink, seqs, n, args)
            ratios[n] = report_clients(n, results)
        server.close()
        servers.remove(server)
    stalled = []
    if args.stall_clients:
        for impl in IMPLEMENTATIONS:
            stalled.append(
                await measure_stalled(impl, context, cpus, fd_needed, servers, seqs, args)
            )
        report_stalled(stalled, args)
    return ratios, stalled


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare broadcast fan-out: wsnb.Hub, websockets.broadcast(), a send loop.",
    )
    parser.add_argument(
        "--rounds", type=int, help=f"interleaved rounds (default {DEFAULTS['rounds']})"
    )
    parser.add_argument(
        "--clients", help=f"comma-separated client counts (default {DEFAULTS['clients']})"
    )
    parser.add_argument(
        "--bursts",
        type=int,
        help="timed bursts per round and implementation, after one lead-in burst "
        f"(default {DEFAULTS['bursts']})",
    )
    parser.add_argument(
        "--burst-deliveries",
        type=int,
        help="messages x clients per burst; K = this / N messages "
        f"(default {DEFAULTS['burst_deliveries']})",
    )
    parser.add_argument(
        "--stall-clients",
        type=int,
        help="healthy clients with the stalled one, 0 to skip "
        f"(default {DEFAULTS['stall_clients']})",
    )
    parser.add_argument(
        "--stall-mb",
        type=float,
        help=f"MiB sent per client with a stalled client (default {DEFAULTS['stall_mb']:g})",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        help="seconds without any delivery that end a stalled phase "
        f"(default {DEFAULTS['stall_timeout']:g})",
    )
    parser.add_argument(
        "--stall-deadline",
        type=float,
        help=f"longest stalled phase in seconds (default {DEFAULTS['stall_deadline']:g})",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place clients and server instead of pinning them to two CPUs",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run with small counts, about 20 s (explicit options still apply)",
    )
    args = parser.parse_args(argv)
    defaults = {**DEFAULTS, **QUICK} if args.quick else DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    try:
        args.client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--clients must be comma-separated integers, not {args.clients!r}")
    if any(c < 1 for c in args.client_counts):
        parser.error("--clients: every count must be at least 1")
    for name in ("rounds", "bursts", "burst_deliveries"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.stall_clients < 0 or args.stall_mb <= 0 or args.stall_timeout <= 0:
        parser.error("--stall-clients must be >= 0, --stall-mb and --stall-timeout > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = pick_cpus() if args.pin else None
    # Each side holds one socket per client connection, plus some to spare.
    fd_needed = 2 * max(args.client_counts, default=0) + args.stall_clients + 256
    raise_fd_limit(fd_needed)  # the server process inherits it, and raises its own too

    print("Broadcast fan-out: wsnb.Hub vs websockets.broadcast() vs naive send loop")
    print(
        "server: one process (measured), compression=None; clients: minimal asyncio WebSocket "
        "clients in this process"
    )
    print(
        f"N = {', '.join(map(str, args.client_counts)) or '-'} clients per server, "
        f"{args.rounds} interleaved rounds (each implementation's turn: 1 lead-in + "
        f"{args.bursts} timed bursts; order alternating)"
    )
    print(
        f"messages: {MESSAGE_SIZE} bytes (sequence + monotonic_ns send time); bursts of "
        f"{args.burst_deliveries} deliveries, paced: the next burst starts once every client "
        "has everything"
    )
    if cpus is None:
        print("CPUs: not pinned")
    else:
        print(f"CPUs: clients pinned to CPU {cpus[0]}, server to CPU {cpus[1]}")
    print(
        "Noise: these machines are shared and noisy; absolute rates drift by tens of percent, "
        "so read"
    )
    print(
        f"the ratios of interleaved rounds and their medians, not absolute numbers "
        f"(within {1 - NOISE:.2f}-{1 + NOISE:.2f}: no measurable difference)."
    )
    print(flush=True)

    with sigterm_as_interrupt():
        context = multiprocessing.get_context("spawn")
        servers: list[ServerProcess] = []
        started = time.perf_counter()
        try:
            if cpus is not None:
                os.sched_setaffinity(0, {cpus[0]})
            ratios, stalled = asyncio.run(run(args, context, cpus, fd_needed, servers))
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                server.close()

    print(f"total time {time.perf_counter() - started:.1f} s")
    key = 1000 if 1000 in ratios else max(ratios, default=None)
    ratio = f"{ratios[key]:.2f}" if key is not None else "n/a"
    hub = next((r for r in stalled if r.impl == "hub"), None)
    if hub is None:
        delivered = growth = "n/a"
    else:
        delivered = f"{100 * hub.delivered:.1f}"
        bytes_ = hub.peak_growth if hub.peak_growth is not None else hub.rss_growth
        growth = f"{bytes_ / 2**20:.2f}"
    print(f"ratio hub/broadcast={ratio} stalled_delivered={delivered}% rss_growth_mb={growth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
