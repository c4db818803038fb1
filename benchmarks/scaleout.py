"""Scale-out: ``wsnb.Rooms`` shared through Redis by 1, 2 and 4 processes, then kill -9.

First the shapes of rooms.py (1 room x 1000, 100 rooms x 10) on four
configurations in the same run, in interleaved rounds: one in-memory process
(``wsnb.Rooms()``, the baseline) and 1, 2, 4 processes sharing their rooms
through one Valkey (``wsnb.redis_server()``, append-only file on), each
room's publisher on another process than the rest of its members. Then 50
``wsnb.subscribe`` subscribers through kill -9s of the process they are on,
while another process publishes. The last line, ``ratio redis1/memory=X
kill_recover_p50_ms=Y lost=N duplicated=M`` (goals: >= 0.5 in 100x10, < 500,
0, 0). docs/benchmarks.md says how and why, and how to read the figures.

    .venv/bin/python benchmarks/scaleout.py [--quick] [--rounds 5] [--kills 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from feed import Tally, Watch
from harness import (
    HOST,
    Option,
    ServerProcess,
    Servers,
    Service,
    abba,
    fmt_rate,
    parse_options,
    percentile,
    raise_fd_limit,
    run,
    summary,
    wsnb_service,
)
from rawclient import RawClient, Sink, open_clients, text_frame
from rooms import SHAPES, Group, Sample, Shape, measure_turn
from roomservers import rooms_server

import wsnb

CONFIGS = ("memory", "redis1", "redis2", "redis4")  # the name's digit: server processes
PROBE_TIMEOUT = 10.0  # seconds for one probe message to reach its room
PROBE_GAP = 0.002  # seconds between probe messages
KILL_ROOM = "kills"
GAP = (0.2, 0.5)  # s of steady publishing before each kill, random
SETTLE = 0.5  # s of publishing before the first kill
CATCH_UP_WAIT = 10.0  # s for every subscriber to catch up after a kill
DRAIN_WAIT = 10.0  # s for the last published number to reach every subscriber
NODE_TTL = 15.0  # RedisBackend's default: a killed process's members are swept after it
SWEEP_MARGIN = 5.0  # s beyond node_ttl allowed for the sweep
SWEEP_POLL = 0.25  # s between looks at the room's members in Redis
GOAL_RATIO, GOAL_RECOVER_MS = 0.5, 500.0
OPTIONS = (
    Option("--rounds", 5, "interleaved rounds", quick=2),
    Option("--bursts", 3, "timed bursts per turn, after one lead-in", quick=1),
    Option("--burst-deliveries", 20000, "deliveries per burst", quick=4000),
    Option("--probes", 40, "probe messages per turn, one at a time, for latency", quick=10),
    Option("--shapes", 1, "0: skip the shapes", least=0),
    Option("--kills", 10, "kill -9s of the subscribers' process, 0 skips", quick=3, least=0),
    Option("--subscribers", 50, "wsnb.subscribe clients through the kills", quick=20),
    Option("--interval", 5.0, "ms between messages published during the kills", least=0.5),
    Option("--sweep", 1, "1: wait for the killed processes' members to be swept", least=0),
    Option("--seed", 20240611, "seed of the pauses before the kills", least=None),
)


def processes(config: str) -> int:
    return int(config[-1]) if config[-1].isdigit() else 1


# The server kind --------------------------------------------------------------------------


class Publisher:
    """In a node: publish 1, 2, 3... into a room on a fixed schedule, noting each seq."""

    def __init__(self, rooms: wsnb.Rooms) -> None:
        self.rooms, self.published = rooms, list[tuple[int, int]]()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    async def publish_forever(self, room: str, interval: float) -> None:
        due = time.monotonic()
        while not self.stopping:
            due += interval
            delay = due - time.monotonic()
            if delay <= 0:
                due = time.monotonic()  # late: go on from now, no burst to catch up
            await asyncio.sleep(max(0.0, delay))
            number = len(self.published) + 1
            self.published.append((number, await self.rooms.publish_shared(room, number)))

    def start(self, room: str, interval: float) -> None:
        self.task = asyncio.create_task(self.publish_forever(room, interval))

    async def stop(self) -> list[tuple[int, int]]:
        """Stop after the publish in flight; every ``(number, seq)`` published."""
        self.stopping = True
        if self.task is not None:
            await self.task
        return self.published


async def node(url: str, prefix: str, port: int = 0) -> Service:
    """``wsnb.serve(wsnb.Rooms(backend=wsnb.RedisBackend(url, prefix=prefix)))`` on ``port``;
    commands "node" (the backend's id), "start" and "stop_publishing" (a Publisher)."""
    backend = wsnb.RedisBackend(url, prefix=prefix, node_ttl=NODE_TTL)
    rooms = wsnb.Rooms(backend=backend)
    publisher = Publisher(rooms)
    server = await wsnb.serve(rooms, name="node", port=port)
    return wsnb_service(
        server,
        node=lambda: backend.node,
        start=publisher.start,
        stop_publishing=publisher.stop,
    )


# The shapes -------------------------------------------------------------------------------


class Redis:
    """The script's Valkey: its CPU time (``INFO cpu``: user + sys, every thread)."""

    def __init__(self, cpu: int | None) -> None:
        import redis.asyncio

        self.server = wsnb.redis_server()
        self.client: Any = redis.asyncio.Redis.from_url(self.server.url)
        self.pid = self.server.pid
        if cpu is not None and self.pid is not None:  # with the servers, every thread
            for task in os.listdir(f"/proc/{self.pid}/task"):
                os.sched_setaffinity(int(task), {cpu})

    async def cpu_time(self) -> float:
        info = await self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    async def close(self) -> None:
        await self.client.aclose()
        self.server.stop()


class Cluster:
    """One configuration's server processes, seen by rooms.measure_turn as one server:
    ``cpu_time()`` sums theirs and Redis's, and keeps each reading's Redis part."""

    def __init__(self, config: str, nodes: list[ServerProcess], redis: Redis | None) -> None:
        self.config, self.nodes, self.redis = config, nodes, redis
        self.readings: list[tuple[float, float]] = []  # (nodes' CPU, Redis's CPU)

    async def cpu_time(self) -> float:
        times = await asyncio.gather(*(n.cpu_time() for n in self.nodes))
        redis = await self.redis.cpu_time() if self.redis is not None else 0.0
        self.readings.append((sum(times), redis))
        return sum(times) + redis


class Spread(Group):
    """rooms.py's group of one shape, its clients on K processes: each room's publisher
    (its first member) on process ``room % K``, the others round-robin over the rest."""

    def __init__(self, kind: str, shape: Shape, ports: list[int]) -> None:
        super().__init__(kind, shape, ports[0])
        self.ports = ports

    def node_of(self, index: int) -> int:
        k = len(self.ports)
        room, rank = divmod(index, self.shape.members)
        home = room % k
        if rank == 0 or k == 1:
            return home
        return [n for n in range(k) if n != home][(rank - 1) % (k - 1)]

    def remote(self, index: int) -> bool:
        """A member whose deliveries a probe times: on another process than its room's
        publisher (one process: any member but the publisher)."""
        publisher = index - index % self.shape.members
        if len(self.ports) == 1:
            return index != publisher
        return self.node_of(index) != self.node_of(publisher)

    async def connect(self) -> None:
        started = time.perf_counter()
        members: list[Any] = [None] * self.shape.total

        async def fill(n: int) -> None:
            mine = [i for i in range(self.shape.total) if self.node_of(i) == n]

            async def join(j: int, client: RawClient) -> None:
                await self._join(mine[j], client)

            clients = await open_clients(self.ports[n], len(mine), self.sink, self.opened, join)
            for index, client in zip(mine, clients, strict=True):
                members[index] = client

        await asyncio.gather(*(fill(n) for n in range(len(self.ports))))
        self.members = members
        self.setup_seconds = time.perf_counter() - started
        self.publishers = self.members[:: self.shape.members]
        self.frames = [
            text_frame(json.dumps(self._publish(r), separators=(",", ":")))
            for r in range(self.shape.rooms)
        ]


class Arrivals(Sink):
    """A probed member's sink: notes each arrival's time, then counts it in the group's."""

    def __init__(self, sink: Sink, times: list[int]) -> None:
        super().__init__()
        self.sink, self.times, self.errors = sink, times, sink.errors

    def add(self, count: int, now: int) -> None:
        self.times.extend([now] * count)
        self.sink.add(count, now)


async def probe(group: Spread, count: int) -> list[float]:
    """``count`` messages, one at a time, rooms in turn, each once all its room has the
    previous: the publish -> delivery times (ms) of the members ``group.remote`` picks."""
    times: list[int] = []
    latencies: list[float] = []
    sinks = [m.sink for m in group.members]
    for index, member in enumerate(group.members):
        if group.remote(index):
            member.sink = Arrivals(group.sink, times)
    try:
        for p in range(count):
            room = p % group.shape.rooms
            done = group.sink.start(group.shape.members)
            times.clear()
            sent = time.monotonic_ns()
            group.publishers[room].send(group.frames[room])
            await asyncio.wait_for(done, PROBE_TIMEOUT)
            latencies.extend((t - sent) / 1e6 for t in times)
            await asyncio.sleep(PROBE_GAP)
    finally:
        for member, sink in zip(group.members, sinks, strict=True):
            member.sink = sink
    return latencies


@dataclass(frozen=True)
class Turn:
    """One configuration's results for one shape in one round."""

    sample: Sample  # rooms.py's: deliveries/s, server CPU per delivery (Redis's included)...
    redis_us: float  # Redis's CPU per delivery, microseconds
    redis_publish_us: float  # Redis's CPU per published message
    p50_ms: float  # publish -> delivery on a remote process
    p99_ms: float


async def measure(group: Spread, cluster: Cluster, args: argparse.Namespace) -> Turn:
    """rooms.measure_turn (a lead-in burst, then the timed ones, every count checked),
    then the probes."""
    cluster.readings.clear()
    result = await measure_turn(group, cast(ServerProcess, cluster), args)
    # measure_turn reads the CPU before and after each burst, the lead-in first.
    pairs = list(zip(cluster.readings[2::2], cluster.readings[3::2], strict=True))
    nodes = sum(after[0] - before[0] for before, after in pairs)
    redis = sum(after[1] - before[1] for before, after in pairs)
    share = redis / (nodes + redis) if nodes + redis > 0 else 0.0
    latencies = await probe(group, args.probes)
    return Turn(
        sample=result,
        redis_us=result.server_us * share,
        redis_publish_us=result.server_us * share * group.shape.members,
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
    )


Groups = dict[tuple[str, str], Spread]
Results = dict[str, list[dict[str, Turn]]]


async def start_clusters(servers: Servers, redis: Redis, fds: int) -> dict[str, Cluster]:
    clusters = {}
    for config in CONFIGS:
        if config == "memory":
            nodes = servers.start(rooms_server, fds=fds)
        else:
            options: dict[str, Any] = {"url": redis.server.url, "prefix": f"scaleout-{config}"}
            nodes = servers.start(node, count=processes(config), fds=fds, **options)
        clusters[config] = Cluster(config, nodes, None if config == "memory" else redis)
    return clusters


async def connect_groups(clusters: dict[str, Cluster], groups: Groups) -> None:
    print("setup (not measured): connect and join", flush=True)
    for shape in SHAPES:
        for config, cluster in clusters.items():
            ports = [n.port for n in cluster.nodes]
            group = groups[config, shape.name] = Spread(config, shape, ports)
            await group.connect()
            print(
                f"  {config:<7} {shape.name:>6}: {shape.total} members on {len(ports)} "
                f"process{'es' if len(ports) > 1 else ''} in {group.setup_seconds:.1f} s",
                flush=True,
            )


async def run_rounds(
    clusters: dict[str, Cluster], groups: Groups, args: argparse.Namespace
) -> Results:
    results: Results = {shape.name: [] for shape in SHAPES}
    rates = " ".join(f"{c + '/s':>9}" for c in CONFIGS)
    ratios = " ".join(f"{c + '/mem':>10}" for c in CONFIGS[1:])
    print(f"\n{'round':>5} {'shape':>6}  {'first':<7} | {rates} | {ratios}")
    for index in range(args.rounds):
        order = abba(CONFIGS, index)
        for shape in SHAPES:
            turns = {}
            for config in order:
                turns[config] = await measure(groups[config, shape.name], clusters[config], args)
                if errors := [(k, g.sink.errors[:3]) for k, g in groups.items() if g.sink.errors]:
                    raise RuntimeError(f"error replies, or messages from other rooms: {errors}")
            results[shape.name].append(turns)
            memory = turns["memory"].sample.rate
            cells = " ".join(f"{fmt_rate(turns[c].sample.rate):>9}" for c in CONFIGS)
            ratio_cells = " ".join(f"{turns[c].sample.rate / memory:>10.2f}" for c in CONFIGS[1:])
            print(
                f"{index + 1:>5} {shape.name:>6}  {order[0]:<7} | {cells} | {ratio_cells}",
                flush=True,
            )
    return results


def report_shapes(results: Results) -> float:
    """Print each shape's summary; return redis1/memory's median ratio in 100x10."""
    rows: list[tuple[str, Callable[[Turn], float], int, float]] = [
        ("deliveries/s (k)", lambda t: t.sample.rate, 1, 1e-3),
        ("server CPU us/delivery", lambda t: t.sample.server_us, 2, 1.0),
        ("  of which Redis", lambda t: t.redis_us, 2, 1.0),
        ("Redis CPU us/publish", lambda t: t.redis_publish_us, 1, 1.0),
        ("server busy %", lambda t: t.sample.server_busy, 0, 100.0),
        ("client busy %", lambda t: t.sample.client_busy, 0, 100.0),
        ("latency p50 ms", lambda t: t.p50_ms, 2, 1.0),
        ("latency p99 ms", lambda t: t.p99_ms, 2, 1.0),
    ]
    ratio = 0.0
    for shape in SHAPES:
        rounds = results[shape.name]
        print(
            f"\nshape {shape.name} ({shape.rooms} room{'s' if shape.rooms > 1 else ''} x "
            f"{shape.members} members): median [min-max] over {len(rounds)} rounds"
        )
        print(f"{'':<24}" + "".join(f"{c:>22}" for c in CONFIGS))
        for label, value, digits, scale in rows:
            cells = [summary([value(r[c]) for r in rounds], digits, scale) for c in CONFIGS]
            print(f"{label:<24}" + "".join(f"{cell:>22}" for cell in cells))
        for config in CONFIGS[1:]:
            by_rate = [r[config].sample.rate / r["memory"].sample.rate for r in rounds]
            by_cpu = [r["memory"].sample.server_us / r[config].sample.server_us for r in rounds]
            goal = f"   (goal >= {GOAL_RATIO})" if config == "redis1" and shape.rooms > 1 else ""
            print(f"{'ratio ' + config + '/memory':<24}{summary(by_rate, 2):>22}{goal}")
            print(f"{'  CPU memory/' + config:<24}{summary(by_cpu, 2):>22}")
            if config == "redis1" and shape == SHAPES[-1]:
                ratio = statistics.median(by_rate)
    return ratio


# The kills --------------------------------------------------------------------------------


@dataclass
class Reader:
    """A subscriber and the application task that reads it."""

    sub: wsnb.Subscriber
    changed: asyncio.Event
    tally: Tally = field(default_factory=Tally)
    seqs: dict[int, int] = field(default_factory=dict)  # number -> the first seq it came with
    wrong_seq: int = 0  # deliveries whose seq differs from an earlier one of the number
    epochs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.task = asyncio.create_task(self.consume())

    async def consume(self) -> None:
        while True:
            event = await self.sub.next_event()
            if event.get("type") == "lost":
                self.tally.lost_events += 1
            else:
                number, seq = int(event["data"]["body"]), int(event["seq"])
                self.tally.add(number, time.monotonic())
                self.wrong_seq += self.seqs.setdefault(number, seq) != seq
                self.epochs.add(event["epoch"])
            self.changed.set()

    def opened_after(self, at: float) -> float | None:
        return next((t for t, e, _ in self.sub.timeline if e == "open" and t > at), None)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.sub.close()


@dataclass
class Kill:
    victim: str
    pause: float
    at: float
    replayed: float = 0.0  # messages replayed per subscriber after the kill
    restart_ms: float = 0.0  # starting the killed process again (this loop blocked)
    first_ms: float | None = None  # kill -> the first subscriber open again
    reopened_ms: float | None = None  # kill -> the last subscriber open again
    recover_ms: float | None = None  # kill -> every subscriber has what was published then
    swept_s: float | None = None  # kill -> its members gone from Redis


class Kills:
    """A publishing process, two that the subscribers are on in turn, killed and restarted."""

    def __init__(self, servers: Servers, redis: Redis, args: argparse.Namespace) -> None:
        self.servers, self.redis, self.args = servers, redis, args
        self.options: dict[str, Any] = {"url": redis.server.url, "prefix": "scaleout-kills"}
        self.rng = random.Random(args.seed)
        self.kills: list[Kill] = []
        self.dead: list[tuple[Kill, str]] = []  # killed, their node id, not swept yet

    async def run(self) -> tuple[list[Kill], list[Reader], list[tuple[int, int]]]:
        fds = self.args.subscribers + 256
        publisher = self.servers.start(node, fds=fds, **self.options)[0]
        self.victims = self.servers.start(node, count=2, fds=fds, **self.options)
        watch = Watch(publisher)
        urls = [f"ws://{HOST}:{v.port}" for v in self.victims]
        self.reference = Reader(
            await wsnb.subscribe(f"ws://{HOST}:{publisher.port}", [KILL_ROOM], name="ref"),
            watch.changed,
        )
        readers = [
            Reader(await wsnb.subscribe(urls, [KILL_ROOM], name=f"s{i}"), watch.changed)
            for i in range(self.args.subscribers)
        ]
        self.sweeping = True
        sweeper = asyncio.create_task(self.sweep_forever())
        try:
            await publisher.request("start", KILL_ROOM, self.args.interval / 1000)
            await asyncio.sleep(SETTLE)
            print(
                f"{'#':>4} {'victim':>7} {'pause':>6} | {'1st open':>9} {'all open':>9} "
                f"{'RECOVER':>9} | {'replayed':>8} {'restart':>8}   (ms; replayed: per subscriber)"
            )
            for index in range(self.args.kills):
                await self.kill(index, watch, readers, urls[index % 2])
            published = await publisher.request("stop_publishing")
            last = published[-1][0] if published else 0
            drained = await watch.wait_for(
                lambda: all(r.tally.last >= last for r in [*readers, self.reference]),
                DRAIN_WAIT,
            )
            if not drained:
                print(f"  not every subscriber got #{last} within {DRAIN_WAIT:.0f} s")
            if self.args.sweep and self.dead:
                await self.wait_swept()
        finally:
            self.sweeping = False
            await asyncio.gather(sweeper, return_exceptions=True)
            for reader in [*readers, self.reference]:
                await reader.close()
        return self.kills, readers, published

    async def kill(self, index: int, watch: Watch, readers: list[Reader], url: str) -> None:
        """Kill the process the readers are on; wait until they caught up; restart it."""
        pause = self.rng.uniform(*GAP)
        await asyncio.sleep(pause)
        victim = self.victims[index % 2]
        if not all(r.sub.url == url and r.sub.state == "open" for r in readers):
            print("  warning: not every subscriber is on the process about to be killed")
        node_id = await victim.request("node")
        replayed = sum(r.sub.stats.replayed for r in readers)
        kill = Kill(victim.name, pause, time.monotonic())
        os.kill(victim.pid, signal.SIGKILL)
        self.kills.append(kill)
        self.dead.append((kill, node_id))
        ok = await watch.wait_for(
            lambda: all(r.opened_after(kill.at) is not None for r in readers), CATCH_UP_WAIT
        )
        if ok:
            opened = [cast(float, r.opened_after(kill.at)) for r in readers]
            reopened = max(opened)
            kill.first_ms, kill.reopened_ms = (
                (min(opened) - kill.at) * 1000,
                (reopened - kill.at) * 1000,
            )
            # The reference's last number at that moment: what was published until then.
            target = max(
                (n for n, t in self.reference.tally.first_at.items() if t <= reopened), default=0
            )
            left = CATCH_UP_WAIT - (time.monotonic() - kill.at)
            if await watch.wait_for(lambda: all(r.tally.last >= target for r in readers), left):
                done = max(r.tally.first_at.get(target, reopened) for r in readers)
                kill.recover_ms = (max(done, reopened) - kill.at) * 1000
        kill.replayed = (sum(r.sub.stats.replayed for r in readers) - replayed) / len(readers)
        # The restart blocks this loop while the process starts (about a second): the
        # subscribers are on the other process and catch up afterwards.
        started, port = time.monotonic(), victim.port
        self.servers.stop(victim)
        restarted = self.servers.start(node, fds=len(readers) + 256, port=port, **self.options)[0]
        kill.restart_ms = (time.monotonic() - started) * 1000
        restarted.name = victim.name
        self.victims[index % 2] = restarted
        cells = " ".join(
            "        -" if v is None else f"{v:>9.1f}"
            for v in (kill.first_ms, kill.reopened_ms, kill.recover_ms)
        )
        print(
            f"{index + 1:>4} {victim.name:>7} {pause * 1000:>6.0f} | {cells} | "
            f"{kill.replayed:>8.1f} {kill.restart_ms:>8.0f}",
            flush=True,
        )

    async def sweep_forever(self) -> None:
        """Note when each killed process's members are gone from the room's members hash.
        Ends when ``sweeping`` is false, not by cancel: on Python 3.11 redis-py's commands
        can swallow a cancellation (asyncio.wait_for's race, gh-86296)."""
        key = f"{self.options['prefix']}:{{{KILL_ROOM}}}:members"
        while self.sweeping:
            await asyncio.sleep(SWEEP_POLL)
            if not self.dead:
                continue
            entries = await self.redis.client.hgetall(key)
            nodes = {v.decode().split("\t", 1)[0] for v in entries.values()}
            now = time.monotonic()
            for kill, node_id in list(self.dead):
                if node_id not in nodes:
                    kill.swept_s = now - kill.at
                    self.dead.remove((kill, node_id))

    async def wait_swept(self) -> None:
        last = max(k.at for k, _ in self.dead)
        wait = last + NODE_TTL + SWEEP_MARGIN - time.monotonic()
        print(f"waiting up to {max(0.0, wait):.0f} s for the last killed members' sweep")
        deadline = time.monotonic() + max(0.0, wait)
        while self.dead and time.monotonic() < deadline:
            await asyncio.sleep(SWEEP_POLL)


def report_kills(
    kills: list[Kill], readers: list[Reader], published: list[tuple[int, int]], sweep: bool
) -> tuple[float, int, int]:
    """Print the figures; return recover p50 (inf: no recovery), lost, duplicated."""
    recover = [k.recover_ms for k in kills if k.recover_ms is not None]
    first = [k.first_ms for k in kills if k.first_ms is not None]
    reopened = [k.reopened_ms for k in kills if k.reopened_ms is not None]
    print(
        f"\n{len(readers)} wsnb.subscribe([victim, other], ...) through {len(kills)} kill -9s, "
        f"{len(recover)} caught up within {CATCH_UP_WAIT:.0f} s"
    )
    for label, values in (
        ("kill -> the first subscriber open again", first),
        ("kill -> every subscriber open again", reopened),
        ("RECOVER: kill -> caught up", recover),
    ):
        if values:
            p50, p99, top = percentile(values, 0.5), percentile(values, 0.99), max(values)
            print(f"  {label:<40} p50 {p50:7.1f}  p99 {p99:7.1f}  max {top:7.1f} ms")
    seq_of = dict(published)
    last = published[-1][0] if published else 0
    lost = sum(r.tally.lost(1, last) for r in readers)
    duplicated = sum(r.tally.duplicated for r in readers)
    wrong = sum(r.wrong_seq for r in readers) + sum(
        1 for r in readers for n, s in r.seqs.items() if seq_of.get(n) != s
    )
    ordered = all(a[1] < b[1] for a, b in zip(published, published[1:], strict=False))
    epochs = set().union(*(r.epochs for r in readers))
    print(
        f"  messages: published {last} (seqs {'increasing' if ordered else 'NOT INCREASING'}), "
        f"delivered {sum(r.tally.deliveries for r in readers)} in all ({len(readers)} x {last} "
        f"expected), lost {lost}, duplicated {duplicated}, seq mismatches {wrong}, "
        f"out of order {sum(r.tally.out_of_order for r in readers)}, 'lost' events "
        f"{sum(r.tally.lost_events for r in readers)}, epochs {len(epochs)}"
    )
    totals = {
        name: sum(getattr(r.sub.stats, name) for r in readers)
        for name in ("replayed", "duplicates", "reconnects", "recoveries", "losses")
    }
    print("  subscriber stats, summed: " + ", ".join(f"{k}={v}" for k, v in totals.items()))
    if sweep:
        swept = [k.swept_s for k in kills if k.swept_s is not None]
        limit = NODE_TTL + SWEEP_MARGIN
        within = sum(1 for s in swept if s <= limit)
        spread = f": {min(swept):.1f}-{max(swept):.1f} s after the kill" if swept else ""
        print(
            f"  killed processes' members swept from Redis (node_ttl {NODE_TTL:g} s): "
            f"{within} of {len(kills)} within {limit:g} s{spread}"
        )
    padded = recover + [float("inf")] * (len(kills) - len(recover)) or [float("inf")]
    return percentile(padded, 0.5), lost, duplicated


# Running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    results: Results = field(default_factory=dict)
    kills: tuple[list[Kill], list[Reader], list[tuple[int, int]]] | None = None


async def run_shapes(servers: Servers, redis: Redis, args: argparse.Namespace, fds: int) -> Results:
    """Start the four configurations, connect their groups, run the rounds, stop them all."""
    clusters = await start_clusters(servers, redis, fds)
    groups: Groups = {}
    try:
        await connect_groups(clusters, groups)
        gc.collect()
        gc.freeze()  # thousands of long-lived client objects: keep them out of GC passes
        return await run_rounds(clusters, groups, args)
    finally:
        for cluster in clusters.values():
            for server in cluster.nodes:
                servers.stop(server)
        for group in groups.values():
            await group.close()
        gc.unfreeze()


async def experiment(servers: Servers, args: argparse.Namespace, fds: int) -> Outcome:
    """The shapes on the four configurations, then the kills; one Redis for all."""
    redis = Redis(servers.cpu)
    outcome = Outcome()
    try:
        if args.shapes:
            outcome.results = await run_shapes(servers, redis, args, fds)
        if args.kills:
            print(
                f"\n== kills: {args.subscribers} subscribers, publishing every "
                f"{args.interval:g} ms through a third process ==",
                flush=True,
            )
            outcome.kills = await Kills(servers, redis, args).run()
    finally:
        await redis.close()
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    description = "wsnb.Rooms shared through Redis by 1, 2, 4 processes vs in memory; kill -9."
    args = parse_options(description, OPTIONS, argv, "about a minute")
    members = sum(shape.total for shape in SHAPES)
    raise_fd_limit(len(CONFIGS) * members + args.subscribers + 512)
    affinity = sorted(os.sched_getaffinity(0))
    print(
        "Scale-out: wsnb.Rooms in memory (one process, baseline) vs shared through one Valkey "
        "(wsnb.redis_server(), appendfsync always) by 1, 2, 4 processes\n"
        f"cores: os.cpu_count() {os.cpu_count()}, affinity {affinity}: with 2 cores, Redis "
        "and the server processes share one, so the figures show overhead, not speed-up\n"
        f"shapes: {', '.join(s.name for s in SHAPES)} (rooms x members), rooms.py's minimal "
        "clients; each room's publisher on process room % K, its other members round-robin "
        "over the other processes\n"
        f"{args.rounds} interleaved rounds; per turn 1 lead-in + {args.bursts} timed bursts "
        f"of ~{args.burst_deliveries} deliveries, then {args.probes} probe messages one at a "
        "time (latency: publish -> delivery on a remote process; memory and redis1: the same one)"
        "\nserver CPU: the processes' and Redis's, summed (all on the servers' CPU)\n"
        "The last line: redis1/memory in 100x10, the kills' recover p50, lost, duplicated."
    )
    started = time.perf_counter()
    fds = members + 256
    outcome = run(lambda servers: experiment(servers, args, fds), args.pin, ("clients", "servers"))
    ratio = report_shapes(outcome.results) if outcome.results else float("nan")
    p50, lost, duplicated = float("nan"), 0, 0
    if outcome.kills is not None:
        p50, lost, duplicated = report_kills(*outcome.kills, sweep=bool(args.sweep))
    verdict = {True: "PASS", False: "MISS"}
    print(
        f"\ngoals: redis1/memory in 100x10 {ratio:.2f} >= {GOAL_RATIO} "
        f"{verdict[ratio >= GOAL_RATIO]}; kill recover p50 {p50:.1f} < {GOAL_RECOVER_MS:.0f} ms "
        f"{verdict[p50 < GOAL_RECOVER_MS]}; lost {lost} = 0 {verdict[lost == 0]}; "
        f"duplicated {duplicated} = 0 {verdict[duplicated == 0]}"
    )
    print(f"total time {time.perf_counter() - started:.1f} s")
    print(
        f"ratio redis1/memory={ratio:.2f} kill_recover_p50_ms={p50:.1f} lost={lost} "
        f"duplicated={duplicated}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
