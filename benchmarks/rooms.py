"""Rooms: ``wsnb.Rooms`` against the bare ``wsnb.Hub`` under it and python-socketio rooms.

First the scale curve (roomscale.py): one room filled with 250, 1000 and 4000
plain websockets clients, rooms vs hub vs a bare websockets server; join time
and memory per member. Then the shapes: three servers (roomservers.py), one
process each; 1000 members per server and shape (1 room x 1000, 100 rooms x
10) in this process, raw clients for rooms and hub, ``socketio.AsyncClient``
for socketio. Each room's first member publishes through the server's
protocol, in paced bursts, in interleaved rounds; every member must get
exactly every message of its room. The last line, ``ratio rooms/hub=X
rooms/socketio=Y join_growth=Z``: the median ratios of deliveries/s for the
shape where each is lowest (goals: >= 0.9, >= 5), and the curve's per-join
time at 4000 over that at 250 (goal: <= 1.5). docs/benchmarks.md says how and
why, and how to read the figures.

    .venv/bin/python benchmarks/rooms.py [--quick] [--rounds 5] [--max-size 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness import (
    HOST,
    STOP_TIMEOUT,
    Option,
    ServerProcess,
    Servers,
    abba,
    fmt_rate,
    parse_options,
    raise_fd_limit,
    run,
    summary,
)
from rawclient import CONNECT_TIMEOUT, RawClient, Sink, open_clients, text_frame
from roomscale import report_curve, run_curve
from roomservers import FACTORIES

SERVERS = ("rooms", "hub", "socketio")
BODY = "0123456789abcdef" * 4  # 64 ASCII characters
BURST_TIMEOUT = 60.0  # seconds for one burst to be delivered
SIO_BATCH = 100  # socket.io clients connected at once
OPTIONS = (
    Option("--rounds", 5, "interleaved rounds", quick=3),
    Option("--bursts", 3, "timed bursts per turn, after one lead-in", quick=1),
    Option("--burst-deliveries", 20000, "deliveries per burst", quick=4000),
    Option("--max-size", 4000, "largest room of the curve (of 250, 1000, 4000); 0: none", 1000, 0),
    Option("--curve-rounds", 2, "rounds of the scale curve", quick=1),
    Option("--shapes", 1, "0: skip the shapes, 1x1000 and 100x10", least=0),
)
SIZES = (250, 1000, 4000)


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
        self.sink.add(1, time.monotonic_ns())


class Group:
    """One server's members for one shape: connected, joined, and able to publish."""

    def __init__(self, kind: str, shape: Shape, port: int) -> None:
        self.kind, self.shape, self.port = kind, shape, port
        self.sink = Sink()
        self.members: list[Any] = []  # RawClient or SioMember, room by room
        self.opened: list[RawClient] = []
        self.setup_seconds = 0.0

    def room(self, index: int) -> str:
        """Room names are unique per group: the two shapes share each server."""
        return f"{self.shape.name}-r{index}"

    async def connect(self) -> None:
        started = time.perf_counter()
        if self.kind == "socketio":
            await self._connect_socketio()
        else:
            # At most CONNECT_CONCURRENCY joins in flight: the rooms protocol's
            # presence events to a big room's members arrive while others join.
            self.members = await open_clients(
                self.port, self.shape.total, self.sink, self.opened, self._join
            )
        self.setup_seconds = time.perf_counter() - started
        self.publishers = self.members[:: self.shape.members]  # each room's first member
        rooms = range(self.shape.rooms if self.kind != "socketio" else 0)
        self.frames = [
            text_frame(json.dumps(self._publish(r), separators=(",", ":"))) for r in rooms
        ]

    async def _join(self, index: int, client: RawClient) -> None:
        room = self.room(index // self.shape.members)
        if self.kind == "hub":
            await client.request(json.dumps({"room": room}))
            return
        await client.request(json.dumps({"type": "hello", "data": {"name": f"m{index}"}}))
        await client.request(json.dumps({"type": "join", "room": room, "data": {"history": 0}}))

    def _publish(self, r: int) -> dict[str, Any]:
        """What room ``r``'s publisher sends; for hub, shaped and sized like a rooms event."""
        if self.kind != "hub":
            return {"type": "publish", "room": self.room(r), "data": {"body": BODY, "reply": False}}
        data = {"from": f"m{r * self.shape.members}", "body": BODY, "time": time.time()}
        event = {"type": "message", "room": self.room(r), "epoch": "3bf17a10", "seq": 12345}
        return event | {"data": data}

    async def _connect_socketio(self) -> None:
        url, semaphore = f"http://{HOST}:{self.port}", asyncio.Semaphore(SIO_BATCH)
        self.members = [SioMember(self.sink) for _ in range(self.shape.total)]

        async def one(index: int, client: Any) -> None:
            async with semaphore:
                room = self.room(index // self.shape.members)
                await client.connect(url, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT)
                if (reply := await client.call("join", room, timeout=CONNECT_TIMEOUT)) != "joined":
                    raise RuntimeError(f"socketio join: unexpected reply {reply!r}")

        await asyncio.gather(*(one(i, m.client) for i, m in enumerate(self.members)))

    def messages_per_burst(self, burst_deliveries: int) -> int:
        """K: a multiple of the number of rooms, about ``burst_deliveries`` deliveries."""
        return max(1, round(burst_deliveries / self.shape.total)) * self.shape.rooms

    async def publish(self, count: int) -> None:
        """Publish ``count`` messages, round-robin over the rooms, each by its room's publisher."""
        rooms, publishers = self.shape.rooms, self.publishers
        if self.kind == "socketio":
            for index in range(count):
                data = {"room": self.room(index % rooms), "body": BODY}
                await publishers[index % rooms].client.emit("publish", data)
            return
        frames = self.frames
        for index in range(count):
            publishers[index % rooms].send(frames[index % rooms])

    def counts(self) -> list[int]:
        return [member.received for member in self.members]

    async def close(self) -> None:
        if self.kind == "socketio":
            clients = [m.client for m in self.members]
            disconnects = asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(disconnects, STOP_TIMEOUT)
            for client in clients:  # a failed disconnect leaves its HTTP session open
                http = getattr(client.eio, "http", None)
                if http is not None and not http.closed:
                    with contextlib.suppress(Exception):
                        await http.close()
        for client in self.opened:
            client.close(abort=True)
        self.members, self.opened = [], []


@dataclass(frozen=True)
class Sample:
    """One server's results for one shape in one round."""

    rate: float  # deliveries per second
    server_us: float  # server CPU microseconds per delivery
    server_busy: float  # server CPU time / bursts' time
    client_busy: float  # this process's CPU time / bursts' time


async def run_burst(group: Group, server: ServerProcess, count: int) -> tuple[float, float, float]:
    """One burst of ``count`` messages; return (seconds, server CPU s, client CPU s)."""
    expected = count * group.shape.members
    cpu_before = await server.cpu_time()
    done = group.sink.start(expected)
    client_before = time.process_time()
    start = time.monotonic_ns()
    await group.publish(count)
    try:
        await asyncio.wait_for(done, BURST_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            f"{group.kind} {group.shape.name}: {group.sink.received} of {expected} deliveries "
            f"after {BURST_TIMEOUT} s"
        ) from None
    client_cpu = time.process_time() - client_before
    elapsed = (group.sink.last_ns - start) / 1e9
    return elapsed, await server.cpu_time() - cpu_before, client_cpu


async def measure_turn(group: Group, server: ServerProcess, args: argparse.Namespace) -> Sample:
    """One lead-in burst, then ``args.bursts`` timed ones (socketio: one, it is 5-10x slower
    and its ratio far from its goal); check every member got everything."""
    count = group.messages_per_burst(args.burst_deliveries)
    bursts = 1 if group.kind == "socketio" else args.bursts
    before = group.counts()
    gc.collect()
    await run_burst(group, server, count)  # lead-in, not counted
    timed = [await run_burst(group, server, count) for _ in range(bursts)]
    seconds, server_cpu, client_cpu = (sum(values) for values in zip(*timed, strict=True))
    wanted = count // group.shape.rooms * (bursts + 1)
    got = [after - b for b, after in zip(before, group.counts(), strict=True)]
    wrong = [(i, n) for i, n in enumerate(got) if n != wanted]
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


Groups = dict[tuple[str, str], Group]
Results = dict[str, list[dict[str, Sample]]]


async def connect_groups(procs: dict[str, ServerProcess], groups: Groups) -> None:
    print("setup (not measured): connect and join", flush=True)
    for shape in SHAPES:
        for kind in SERVERS:
            group = groups[kind, shape.name] = Group(kind, shape, procs[kind].port)
            await group.connect()
            print(
                f"  {kind:<8} {shape.name:>6}: {shape.total} members in "
                f"{group.setup_seconds:.1f} s",
                flush=True,
            )


async def run_rounds(
    procs: dict[str, ServerProcess], groups: Groups, args: argparse.Namespace
) -> Results:
    results: Results = {shape.name: [] for shape in SHAPES}
    print(
        f"\n{'round':>5} {'shape':>6}  {'first':<8} | {'rooms/s':>8} {'hub/s':>8} "
        f"{'sio/s':>7} | {'rooms/hub':>9} {'rooms/sio':>9}"
    )
    for index in range(args.rounds):
        order = abba(SERVERS, index)
        for shape in SHAPES:
            samples = {}
            for kind in order:
                samples[kind] = await measure_turn(groups[kind, shape.name], procs[kind], args)
                if errors := [
                    (g.kind, g.shape.name, g.sink.errors[:3])
                    for g in groups.values()
                    if g.sink.errors
                ]:
                    raise RuntimeError(f"error replies, or messages from other rooms: {errors}")
            results[shape.name].append(samples)
            r, h, s = (samples[k].rate for k in SERVERS)
            print(
                f"{index + 1:>5} {shape.name:>6}  {order[0]:<8} | {fmt_rate(r):>8} "
                f"{fmt_rate(h):>8} {fmt_rate(s):>7} | {r / h:>9.2f} {r / s:>9.1f}",
                flush=True,
            )
    return results


async def experiment(
    servers: Servers, args: argparse.Namespace, fds: int
) -> tuple[float | None, Results]:
    """The curve, if any (reported at once: its join_growth is returned), then the shapes."""
    sizes = [size for size in SIZES if size <= args.max_size]
    growth = (
        report_curve(await run_curve(servers, sizes, args.curve_rounds), sizes) if sizes else None
    )
    if not args.shapes:
        return growth, {}
    procs = {kind: servers.start(FACTORIES[kind], fds=fds)[0] for kind in SERVERS}
    groups: Groups = {}
    try:
        await connect_groups(procs, groups)
        gc.collect()
        gc.freeze()  # thousands of long-lived client objects: keep them out of GC passes
        return growth, await run_rounds(procs, groups, args)
    finally:
        # socket.io clients first (a clean disconnect while their server runs), then
        # the servers abort their connections, then the minimal clients go.
        for group in groups.values():
            if group.kind == "socketio":
                await group.close()
        for kind in SERVERS[::-1]:
            servers.stop(procs[kind])
        for group in groups.values():
            await group.close()


def report(results: Results) -> tuple[float, float]:
    """Print each shape's summary; return the worse shape's median ratios."""
    hub_ratios, sio_ratios = [], []
    rows: list[tuple[str, Callable[[Sample], float], int, float]] = [
        ("deliveries/s (k)", lambda s: s.rate, 1, 1e-3),
        ("server CPU us/delivery", lambda s: s.server_us, 2, 1.0),
        ("server busy %", lambda s: s.server_busy, 0, 100.0),
        ("client busy %", lambda s: s.client_busy, 0, 100.0),
    ]
    for shape in SHAPES:
        rounds = results[shape.name]
        print(
            f"\nshape {shape.name} ({shape.rooms} room{'s' if shape.rooms > 1 else ''} x "
            f"{shape.members} members): median [min-max] over {len(rounds)} rounds"
        )
        print(f"{'':<28} {'rooms':>24} {'hub':>24} {'socketio':>24}")
        for label, value, digits, scale in rows:
            cells = [summary([value(r[k]) for r in rounds], digits, scale) for k in SERVERS]
            print(f"{label:<28} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24}")
        by_hub = [r["rooms"].rate / r["hub"].rate for r in rounds]
        by_sio = [r["rooms"].rate / r["socketio"].rate for r in rounds]
        cpu_hub = [r["hub"].server_us / r["rooms"].server_us for r in rounds]
        cpu_sio = [r["socketio"].server_us / r["rooms"].server_us for r in rounds]
        for label, values, digits, note in (
            ("ratio rooms/hub", by_hub, 2, "   (deliveries/s; goal >= 0.9)"),
            ("ratio rooms/socketio", by_sio, 1, "   (deliveries/s; goal >= 5)"),
            ("CPU per delivery hub/rooms", cpu_hub, 2, "   (server CPU; above 1: rooms cheaper)"),
            ("CPU per delivery sio/rooms", cpu_sio, 1, ""),
        ):
            print(f"{label:<28} {summary(values, digits):>24}{note}")
        hub_ratios.append(statistics.median(by_hub))
        sio_ratios.append(statistics.median(by_sio))
    return min(hub_ratios), min(sio_ratios)


def main(argv: Sequence[str] | None = None) -> int:
    description = "Room fan-out: wsnb.Rooms vs the bare wsnb.Hub vs python-socketio."
    args = parse_options(description, OPTIONS, argv, "about a minute")
    members = sum(shape.total for shape in SHAPES)
    # A socket per member of every server; the curve's room (and warm-up) comes after.
    raise_fd_limit(max(len(SERVERS) * members, args.max_size) + 512)
    print(
        "Rooms: wsnb.Rooms vs bare wsnb.Hub (baseline) vs python-socketio (aiohttp); servers: "
        "one process each, 127.0.0.1, clients in this process\nscale curve: one room of "
        f"{', '.join(str(n) for n in SIZES if n <= args.max_size) or 'none'} plain websockets "
        f"clients, rooms vs hub vs bare websockets, {args.curve_rounds} rounds\n"
        f"shapes: {', '.join(s.name for s in SHAPES) if args.shapes else 'none'} (rooms x members)"
        "; minimal clients for rooms and hub, socketio.AsyncClient over websocket; publishers "
        "are members, round-robin over rooms, rooms' with reply: false\n"
        f"{args.rounds} interleaved rounds; per turn 1 lead-in + {args.bursts} timed bursts "
        f"(socketio 1) of ~{args.burst_deliveries} deliveries, paced; {len(BODY)}-byte bodies\n"
        "The last line: "
        "each shape ratio for the shape where it is lowest; join_growth from the curve."
    )
    started = time.perf_counter()
    fds = members + 256
    growth, results = run(
        lambda servers: experiment(servers, args, fds), args.pin, ("clients", "servers")
    )
    last = "ratio"
    if results:
        by_hub, by_sio = report(results)
        last += f" rooms/hub={by_hub:.2f} rooms/socketio={by_sio:.1f}"
    print(f"total time {time.perf_counter() - started:.1f} s")
    print(last + ("" if growth is None else f" join_growth={growth:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
