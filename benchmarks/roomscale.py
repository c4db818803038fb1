"""The scale curve of rooms.py: one room filled by N plain websockets clients.

For each size and server kind (``rooms``, ``hub``, ``bare``; roomservers.py) a
fresh server process, warmed up by a few joins; then N clients, made with
``websockets.asyncio.client.connect(url, proxy=None)`` as users do, CONNECT_CONCURRENCY
at a time, each connecting, saying ``hello`` and joining (rooms), naming its
room (hub) or only connecting (bare), and reading its reply; each then drains
its socket (presence events keep coming while the others join). Per fill: its
time, the server's CPU, and the server's RSS growth per member once the room is
idle. docs/benchmarks.md says how to read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from harness import HOST, ServerProcess, Servers, abba
from rawclient import CONNECT_CONCURRENCY, CONNECT_TIMEOUT
from roomservers import FACTORIES
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

KINDS = ("rooms", "hub", "bare")
SETTLE = 1.5  # seconds after a rooms fill before its RSS is read: presence ticks are <= 1 s apart
WARM_SETTLE = 0.3  # seconds after the warm-up, and after a fill of the others


@dataclass(frozen=True)
class Fill:
    """One server kind's fill of one room with ``size`` members."""

    seconds: float  # from the first connect to the last join reply
    server_busy: float  # server CPU over the fill / its time
    client_ms: float  # this process's CPU per join, over the fill
    server_ms: float  # server CPU per join, over the fill and the settling after it
    rss_kib: float  # server RSS growth per member, idle, in KiB
    events: float  # frames the members received, over the fill and the settling, per join


class Crowd:
    """Plain websockets clients, each draining its socket in a task of its own."""

    def __init__(self) -> None:
        self.clients: list[ClientConnection] = []
        self.drains: list[asyncio.Task[None]] = []
        self.received = 0  # frames drained, all clients together

    async def join(self, kind: str, url: str, room: str, index: int) -> None:
        ws = await connect(url, proxy=None, open_timeout=CONNECT_TIMEOUT)
        self.clients.append(ws)
        if kind == "rooms":
            await request(ws, {"type": "hello", "data": {"name": f"m{index}"}})
            await request(ws, {"type": "join", "room": room})
        elif kind == "hub":
            await request(ws, {"room": room})
        self.drains.append(asyncio.create_task(self.drain(ws)))

    async def fill(self, kind: str, port: int, room: str, count: int) -> float:
        """``count`` members of ``room``, CONNECT_CONCURRENCY joining at once; the seconds."""
        url, semaphore = f"ws://{HOST}:{port}", asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(index: int) -> None:
            async with semaphore:
                await asyncio.wait_for(self.join(kind, url, room, index), CONNECT_TIMEOUT)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started

    async def drain(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                self.received += 1

    async def close(self) -> None:
        for ws in self.clients:
            ws.transport.abort()
        await asyncio.gather(*self.drains, return_exceptions=True)


async def request(ws: ClientConnection, message: dict[str, object]) -> None:
    """Send ``message``; read up to its reply (an event may come first); raise on an error."""
    await ws.send(json.dumps(message))
    async for raw in ws:
        assert isinstance(raw, str)
        if raw.startswith('{"type":"reply"'):
            return
        if raw.startswith('{"type":"error"'):
            raise RuntimeError(f"error reply: {raw}")
    raise ConnectionError("closed before the reply")


async def measure_fill(servers: Servers, kind: str, size: int) -> Fill:
    """A fresh server of ``kind``, warmed up; fill a room with ``size`` members."""
    proc: ServerProcess = servers.start(FACTORIES[kind], fds=size + 256)[0]
    warm, crowd = Crowd(), Crowd()
    try:
        await warm.fill(kind, proc.port, "warm-up", CONNECT_CONCURRENCY)
        await warm.close()
        await asyncio.sleep(WARM_SETTLE)
        await proc.request("gc")
        rss_before, cpu_before = proc.memory()["VmRSS"], await proc.cpu_time()
        client_before = time.process_time()
        gc.disable()  # this process's collections would grow with the crowd, not the server's
        try:
            seconds = await crowd.fill(kind, proc.port, "big", size)
        finally:
            gc.enable()
        client_cpu, cpu_filled = time.process_time() - client_before, await proc.cpu_time()
        await asyncio.sleep(SETTLE if kind == "rooms" else WARM_SETTLE)
        cpu_settled = await proc.cpu_time()
        await proc.request("gc")
        rss_after, received = proc.memory()["VmRSS"], crowd.received
    finally:
        servers.stop(proc)
        await crowd.close()
        await warm.close()
    return Fill(
        seconds=seconds,
        server_busy=(cpu_filled - cpu_before) / seconds,
        client_ms=client_cpu / size * 1e3,
        server_ms=(cpu_settled - cpu_before) / size * 1e3,
        rss_kib=(rss_after - rss_before) / size / 1024,
        events=received / size,
    )


Curve = dict[tuple[str, int], list[Fill]]


async def run_curve(servers: Servers, sizes: Sequence[int], rounds: int) -> Curve:
    print(
        f"\nscale: one room, N plain websockets clients joining, {CONNECT_CONCURRENCY} at a "
        "time; a fresh server per fill\n"
        f"{'round':>5} {'size':>5} {'kind':<6} {'fill s':>7} {'ms/join':>8} "
        f"{'server ms/join':>14} {'client ms/join':>14} {'server busy':>11} {'KiB/member':>10} "
        f"{'events/join':>11}"
    )
    curve: Curve = {}
    for index in range(rounds):
        for size in abba(sizes, index):
            for kind in abba(KINDS, index):
                fill = await measure_fill(servers, kind, size)
                curve.setdefault((kind, size), []).append(fill)
                print(
                    f"{index + 1:>5} {size:>5} {kind:<6} {fill.seconds:>7.2f} "
                    f"{fill.seconds / size * 1e3:>8.3f} {fill.server_ms:>14.3f} "
                    f"{fill.client_ms:>14.3f} {fill.server_busy:>11.0%} {fill.rss_kib:>10.1f} "
                    f"{fill.events:>11.1f}",
                    flush=True,
                )
        gc.collect()
    return curve


def report_curve(curve: Curve, sizes: Sequence[int]) -> float:
    """Print the medians per size; return join_growth, per-join(largest) / per-join(smallest)."""

    def med(kind: str, size: int, field: str) -> float:
        return statistics.median(getattr(f, field) for f in curve[kind, size])

    print(
        f"\nscale: medians over {len(curve[KINDS[0], sizes[0]])} rounds; ms/join = fill time / N "
        "(bare: connect only)\n"
        f"{'size':>5} | {'ms/join rooms':>13} {'hub':>6} {'bare':>6} | {'fill rooms/hub':>14} | "
        f"{'server ms/join rooms':>20} {'hub':>6} | {'KiB/member rooms':>16} {'hub':>5} "
        f"{'bare':>5} | {'RSS rooms/hub':>13} {'rooms/bare':>10}"
    )
    for size in sizes:
        per_join = [med(k, size, "seconds") / size * 1e3 for k in KINDS]
        rss = [med(k, size, "rss_kib") for k in KINDS]
        print(
            f"{size:>5} | {per_join[0]:>13.3f} {per_join[1]:>6.3f} {per_join[2]:>6.3f} | "
            f"{per_join[0] / per_join[1]:>14.2f} | {med('rooms', size, 'server_ms'):>20.3f} "
            f"{med('hub', size, 'server_ms'):>6.3f} | {rss[0]:>16.1f} {rss[1]:>5.1f} "
            f"{rss[2]:>5.1f} | {rss[0] / rss[1]:>13.2f} {rss[0] / rss[2]:>10.2f}"
        )
    low, high = sizes[0], sizes[-1]

    def growth_of(kind: str) -> float:
        return med(kind, high, "seconds") / high / (med(kind, low, "seconds") / low)

    growth = growth_of("rooms")
    fill_ratio = med("rooms", high, "seconds") / med("hub", high, "seconds")
    rss_ratio = med("rooms", high, "rss_kib") / med("hub", high, "rss_kib")
    print(
        f"join_growth (ms/join at {high} / at {low}) {growth:.2f} (goal <= 1.5); "
        f"fill rooms/hub at {high} {fill_ratio:.2f} (goal < 4); "
        f"RSS per member rooms/hub at {high} {rss_ratio:.2f} (goal <= 1.3)"
    )
    # The same growth for a server that does nothing per join: what connecting the
    # Nth client costs this machine and this client process, whatever the server.
    print(
        f"the same growth without rooms: hub {growth_of('hub'):.2f}, bare websockets "
        f"{growth_of('bare'):.2f} (connect only)"
    )
    return growth
