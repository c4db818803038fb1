"""A server kind for fan-out benchmarks: a ``wsnb.Hub`` and a bare websockets server in
one process, fanning stamped bursts out on command ("burst": ``hub``, ``broadcast``
or ``naive``, see docs/benchmarks.md), each replied to with the server CPU time it
took; and the parent's side of it (:class:`Bench`).
"""

from __future__ import annotations

import asyncio
import resource
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from harness import HOST, REPLY_TIMEOUT, ServerProcess, Service, reply
from rawclient import STAMP, Sink
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

BURST_TIMEOUT = 60.0  # seconds for a burst to be fully delivered


class FanOutServer:
    """The server process: a hub, a bare server's connections, and the three fan-outs."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.conns: set[ServerConnection] = set()  # the bare server's
        self.current: asyncio.Task[None] | None = None  # the burst being sent

    async def bare_handler(self, ws: ServerConnection) -> None:
        self.conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self.conns.discard(ws)

    async def fan_out(self, impl: str, first_seq: int, count: int, size: int) -> None:
        """Stamp each message just before it goes out; yield to the loop after each."""
        pad, pack, now = bytes(size - STAMP.size), STAMP.pack, time.monotonic_ns
        for seq in range(first_seq, first_seq + count):
            message = pack(seq, now()) + pad
            if impl == "hub":
                self.hub.broadcast(message)
            elif impl == "broadcast":
                broadcast(self.conns, message)
            else:
                for ws in list(self.conns):  # a snapshot: clients may close meanwhile
                    try:
                        await ws.send(message)
                    except ConnectionClosed:
                        pass
            await asyncio.sleep(0)

    async def burst(self, impl: str, first_seq: int, count: int, size: int) -> list[float]:
        """Fan ``count`` messages out; return the server CPU (user, system) s it took."""
        before = resource.getrusage(resource.RUSAGE_SELF)
        task = self.current = asyncio.create_task(self.fan_out(impl, first_seq, count, size))
        try:
            await asyncio.wait({task})
        finally:
            task.cancel()  # a no-op unless the service is stopping
            self.current = None
        after = resource.getrusage(resource.RUSAGE_SELF)
        if not task.cancelled():
            task.result()  # raise what went wrong, if anything
        return [after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime]

    def abort(self) -> None:
        """End the current burst (the naive loop, stuck on a stalled client)."""
        if self.current is not None:
            self.current.cancel()

    def connections(self) -> list[ServerConnection]:
        # Not server.connections: a client the hub is closing is not open, but holds its buffer.
        return [client.connection for client in self.hub.clients] + list(self.conns)

    def info(self) -> dict[str, int]:
        transports = [ws.transport for ws in self.connections() if ws.transport is not None]
        buffered = max((t.get_write_buffer_size() for t in transports), default=0)
        hub, bare, slow = self.hub.count, len(self.conns), self.hub.slow_closed
        return {"hub": hub, "bare": bare, "slow_closed": slow, "max_write_buffer": buffered}


async def fan_out_server() -> Service:
    import wsnb  # here only: the parent process does not need it

    fan = FanOutServer(wsnb.Hub(relay=False))
    hub_server = await wsnb.serve(fan.hub, name="broadcast-bench-hub")
    bare_server = await serve(fan.bare_handler, HOST, 0, compression=None)

    async def stop() -> None:
        # Abort first: a closing handshake would wait 10 s for a client that never reads.
        for ws in fan.connections():
            if ws.transport is not None:
                ws.transport.abort()
        await hub_server.stop()
        bare_server.close()
        await bare_server.wait_closed()

    ports = {"hub": hub_server.port, "bare": bare_server.sockets[0].getsockname()[1]}
    return Service(ports, stop, {"burst": fan.burst, "abort": fan.abort, "info": fan.info})


@dataclass
class Tally:
    """One implementation's bursts in one round (or one stalled phase)."""

    deliveries: int = 0
    ns: int = 0  # summed burst times: first message's send time to last arrival
    user: float = 0.0  # server CPU seconds in user mode (Python: the fan-out code)
    system: float = 0.0  # in the kernel (the socket sends)
    latencies: array[int] = field(default_factory=lambda: array("q"))  # nanoseconds


@dataclass
class Bench:
    """One server process, its clients' sink, and the next sequence number."""

    server: ServerProcess
    sink: Sink
    next_seq: int = 0

    def send_burst(self, impl: str, n: int, count: int, tally: Tally, size: int) -> Any:
        """Start a burst to ``n`` clients; return the future of the server's reply."""
        first, self.next_seq = self.next_seq, self.next_seq + count
        self.sink.start(n * count, first, tally.latencies)
        return self.server.send("burst", impl, first, count, size)

    async def burst(self, impl: str, n: int, count: int, tally: Tally, size: int = 64) -> None:
        """One paced burst: returns once every client has every message."""
        result = self.send_burst(impl, n, count, tally, size)
        await asyncio.wait_for(self.sink.done, BURST_TIMEOUT)
        user, system = await reply(result)
        tally.deliveries += self.sink.received
        tally.ns += self.sink.last_ns - self.sink.first_ts
        tally.user, tally.system = tally.user + user, tally.system + system

    async def wait_for_clients(self, hub: int, bare: int) -> None:
        """Wait until the servers count ``hub`` and ``bare`` clients."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while (info := await self.server.request("info"))["hub"] != hub or info["bare"] != bare:
            if time.monotonic() > deadline:
                raise TimeoutError(f"server counts {info}, expected hub={hub} bare={bare}")
            await asyncio.sleep(0.02)
