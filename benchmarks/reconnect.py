"""Reconnect: how fast ``wsnb.subscribe`` recovers from dropped connections and outages.

A ``feed`` server (feed.py) publishes 1, 2, 3... into one room every 4 ms;
the wsnb subscriber goes through 50 drops, then 10 outages, and a plain
websockets client through 10 drops. The last line, ``recover_p50_ms=X
recover_p99_ms=Y lost=N duplicated=M``, holds the subscriber's figures for
the drops (goals: p50 < 150 ms, p99 < 1 s, 0, 0); the line before it, the
same for the outages. docs/benchmarks.md says how and why.

    .venv/bin/python benchmarks/reconnect.py [--quick] [--drops 200 --seed 7] [--outages 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from feed import Join, Tally, Watch, feed
from harness import HOST, Option, Servers, parse_options, percentile, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import wsnb

ROOM, INTERVAL = "bench", 0.004  # s between published numbers
SUB_PATH, PLAIN_PATH = "/sub", "/plain"  # Rooms ignores the path; the feed's reports have it
GAP = (0.1, 0.3)  # s of steady publishing before each fault, random
DOWNTIME = (0.2, 1.0)  # s an outage lasts, random
GOAL_P50_MS, GOAL_P99_MS = 150.0, 1000.0
CATCH_UP_WAIT = 10.0  # seconds for the subscriber to recover from one fault
PLAIN_WAIT = 12.0  # seconds for the plain client to rejoin after one drop
DRAIN_WAIT = 5.0  # seconds for the last published number to arrive at the end
SETTLE = 0.2  # seconds of steady publishing before the first fault
OPTIONS = (
    Option("--drops", 50, "forced drops for the wsnb subscriber", quick=10),
    Option("--outages", 10, "server outages for the wsnb subscriber, 0 skips", quick=3, least=0),
    Option("--plain-drops", 10, "forced drops for the plain client", quick=3, least=0),
    Option("--seed", 20240611, "seed of the pauses and downtimes", least=None),
)


@dataclass
class Fault:
    """One drop, or one outage, of a client's connection, as measured."""

    pause: float
    at: float  # the drop, or the call to server.stop()
    connections: int  # dropped, or open when the server stopped
    published: int  # the room's last number at that moment
    down_at: float | None = None  # an outage's server.stop() returned
    listening_at: float | None = None  # an outage's wsnb.serve() on the same port returned
    downtime: float = 0.0  # an outage's, as drawn
    joined: Join | None = None  # the client's first join after the fault
    accepted_at: float | None = None  # of the connection that joined
    joined_at: float | None = None
    caught_up_at: float | None = None  # subscriber: got the join's seq; plain: first live
    retries: int = 0  # the subscriber's backoff waits in between
    lost: int = 0  # the plain client's: numbers around this drop never received


def span(fault: Fault, start: str, end: str) -> float | None:
    """Milliseconds between two of the fault's times, if both happened."""
    a, b = getattr(fault, start), getattr(fault, end)
    return None if a is None or b is None else (b - a) * 1000


Spans = tuple[tuple[str, str | None, str, str], ...]  # summary label, column, from, to
DROP_SPANS: Spans = (
    ("drop -> reconnected (server accepted)", "reconnect", "at", "accepted_at"),
    ("accepted -> join processed (server)", "acc->join", "accepted_at", "joined_at"),
    ("join processed -> caught up (app)", "join->up", "joined_at", "caught_up_at"),
    ("RECOVER: accepted -> caught up", "RECOVER", "accepted_at", "caught_up_at"),
    ("drop -> caught up", None, "at", "caught_up_at"),
)
OUTAGE_SPANS: Spans = (
    ("server.stop() took", "stop", "at", "down_at"),
    ("stopped -> listening again (downtime)", None, "at", "listening_at"),
    ("listening -> accepted (backoff wait)", "lis->acc", "listening_at", "accepted_at"),
    *DROP_SPANS[1:3],
    ("RECOVER: listening -> caught up", "RECOVER", "listening_at", "caught_up_at"),
    ("stopped -> caught up", None, "at", "caught_up_at"),
)
PLAIN_SPANS: Spans = (
    DROP_SPANS[0],
    ("drop -> rejoined (join processed)", "rejoined", "at", "joined_at"),
    ("drop -> first live message", "1st live", "at", "caught_up_at"),
)


class Client:
    """A client under test: what it received, and how it fared after each fault."""

    path, heading, spans = "", "", DROP_SPANS
    wait, limit = CATCH_UP_WAIT, float("inf")  # seconds for one fault, for them all
    task: asyncio.Task[None]

    def __init__(self) -> None:
        self.tally, self.first, self.last = Tally(), 0, 0

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Subscriber(Client):
    """``wsnb.subscribe`` with its defaults, read by an application task."""

    path = SUB_PATH

    def __init__(self, outages: bool = False) -> None:
        super().__init__()
        self.outages, self.heading = outages, "replayed" + (" retries   down" if outages else "")
        self.spans = OUTAGE_SPANS if outages else DROP_SPANS

    async def start(self, watch: Watch) -> None:
        self.sub = await wsnb.subscribe(f"ws://{HOST}:{watch.server.port}{self.path}", [ROOM])
        self.task = asyncio.create_task(self.consume(watch.changed))

    async def consume(self, changed: asyncio.Event) -> None:
        """The application: read every event, note each number and when it arrived."""
        while True:
            event = await self.sub.next_event()
            if event.get("type") == "lost":
                self.tally.lost_events += 1
            else:
                self.tally.add(int(event["data"]["body"]), time.monotonic())
            changed.set()

    async def stop(self) -> None:
        await super().stop()
        await self.sub.close()

    def caught_up(self, fault: Fault, watch: Watch) -> bool:
        """Whether it rejoined, and got every number published until then."""
        joined = fault.joined = watch.join_after(self.path, fault.at)
        return joined is not None and self.tally.last >= joined.seq and self.sub.state == "open"

    def finish(self, fault: Fault, ok: bool) -> None:
        """Complete the fault's record from the feed's report and the subscriber's timeline."""
        if not ok or (joined := fault.joined) is None:
            return
        fault.accepted_at, fault.joined_at, timeline = (
            joined.accepted_at,
            joined.at,
            self.sub.timeline,
        )
        retries = [at for at, event, _ in timeline if event == "retry"]
        fault.retries = sum(1 for at in retries if fault.at <= at <= joined.accepted_at)
        opened = next(
            (at for at, e, _ in timeline if e == "open" and at >= joined.accepted_at), None
        )
        got = self.tally.first_at.get(joined.seq)
        if got is None or got < fault.at:
            fault.caught_up_at = opened  # nothing to replay: caught up once reopened
        else:
            fault.caught_up_at = got if opened is None else max(got, opened)

    def note(self, fault: Fault) -> str:
        if fault.caught_up_at is None or (joined := fault.joined) is None:
            return f"not recovered within {CATCH_UP_WAIT} s ({fault.connections} connections)"
        note = f"{joined.history:>8}" + ("" if joined.recovered else "  NOT RECOVERED")
        return note + (f" {fault.retries:>7} {fault.downtime * 1000:>6.0f}" if self.outages else "")


class PlainClient(Client):
    """A plain websockets client, no resume: ``async for ws in connect(url, proxy=None)``."""

    path, heading, spans, wait, limit = PLAIN_PATH, "lost", PLAIN_SPANS, PLAIN_WAIT, 45.0

    def __init__(self) -> None:
        super().__init__()  # the tally: what it received live
        self.history: set[int] = set()  # numbers seen in join replies
        self.connections = 0

    async def start(self, watch: Watch) -> None:
        url, joins = f"ws://{HOST}:{watch.server.port}{self.path}", len(watch.joins)
        self.task = asyncio.create_task(self.run(url, watch.changed))
        if not await watch.wait_for(lambda: len(watch.joins) > joins, PLAIN_WAIT):
            raise RuntimeError(f"the plain client did not join within {PLAIN_WAIT} s")

    async def run(self, url: str, changed: asyncio.Event) -> None:
        """websockets' reconnecting loop at its defaults; hello and join after each connection."""
        async with contextlib.aclosing(connect(url, proxy=None).__aiter__()) as connections:
            async for ws in connections:  # i.e. `async for ws in connect(url, proxy=None)`
                self.connections += 1
                with contextlib.suppress(ConnectionClosed):  # then it reconnects at once
                    await ws.send(json.dumps({"type": "hello", "data": {"name": "plain"}}))
                    await ws.send(json.dumps({"type": "join", "id": 1, "room": ROOM}))
                    async for raw in ws:
                        self.receive(json.loads(raw))
                        changed.set()

    def receive(self, message: dict[str, Any]) -> None:
        if message.get("type") == "message":
            self.tally.add(int(message["data"]["body"]), time.monotonic())
        elif message.get("type") == "reply" and message.get("re") == "join":
            self.history.update(int(m["data"]["body"]) for m in message["data"]["history"])

    def caught_up(self, fault: Fault, watch: Watch) -> bool:
        fault.joined = watch.join_after(self.path, fault.at)
        return fault.joined is not None and self.tally.last > fault.joined.seq

    def finish(self, fault: Fault, ok: bool) -> None:
        """Reconnected, rejoined, first live message, and the numbers lost around the drop."""
        if (joined := fault.joined) is None:
            return
        fault.accepted_at, fault.joined_at, arrivals = (
            joined.accepted_at,
            joined.at,
            self.tally.first_at.items(),
        )
        fault.caught_up_at = next((at for n, at in arrivals if at > joined.at), None)
        before = max((n for n, at in arrivals if at < fault.at), default=0)
        after = min((n for n, at in arrivals if at > joined.at), default=joined.seq + 1)
        fault.lost = self.tally.lost(before + 1, after - 1)

    def note(self, fault: Fault) -> str:
        return f"{fault.lost:>5}" if fault.joined else "not rejoined within the wait"


async def drop(watch: Watch, rng: random.Random) -> Fault:
    pause = rng.uniform(*GAP)
    await asyncio.sleep(pause)
    return Fault(pause, *await watch.server.request("drop"))


async def outage(watch: Watch, rng: random.Random) -> Fault:
    pause, downtime = rng.uniform(*GAP), rng.uniform(*DOWNTIME)
    await asyncio.sleep(pause)
    return Fault(pause, *await watch.server.request("outage", downtime), downtime=downtime)


async def run_faults(
    watch: Watch,
    client: Subscriber | PlainClient,
    count: int,
    make: Callable[[], Awaitable[Fault]],
) -> list[Fault]:
    """Publish while ``count`` faults happen to ``client``, each after a pause; a line each."""
    columns = [(column, start, end) for _, column, start, end in client.spans if column]
    headings = " ".join(f"{column:>9}" for column, _, _ in columns)
    print(f"{'#':>4} {'pause':>6} | {headings} | {client.heading}   (ms)")
    faults: list[Fault] = []
    await client.start(watch)
    try:
        client.first = await watch.server.request("start", INTERVAL)
        await asyncio.sleep(SETTLE)
        deadline = time.monotonic() + client.limit
        while len(faults) < count and time.monotonic() < deadline:
            faults.append(fault := await make())
            wait = min(client.wait, max(0.0, deadline - time.monotonic()))
            ok = await watch.wait_for(functools.partial(client.caught_up, fault, watch), wait)
            client.finish(fault, ok)
            times = (span(fault, start, end) for _, start, end in columns)
            cells = " ".join("        -" if v is None else f"{v:>9.1f}" for v in times)
            pause = f"{len(faults):>4} {fault.pause * 1000:>6.0f}"
            print(f"{pause} | {cells} | {client.note(fault)}", flush=True)
        client.last = await watch.server.request("stop_publishing")
        await watch.wait_for(lambda: client.tally.last >= client.last, DRAIN_WAIT)
    finally:
        await client.stop()
    return faults


def print_spans(faults: list[Fault], spans: Spans) -> list[float]:
    """Print each span's p50, p99 and max over the faults; return the RECOVER span's values."""
    recover: list[float] = []
    for label, column, start, end in spans:
        values = [v for f in faults if (v := span(f, start, end)) is not None]
        p50, p99 = (f"{percentile(values, q):7.1f}" if values else "-" for q in (0.5, 0.99))
        top = f"{max(values):7.1f} ms" if values else "- (no data)"
        print(f"  {label:<39} p50 {p50}  p99 {p99}  max {top}")
        recover = values if column == "RECOVER" else recover
    return recover


def report_subscriber(faults: list[Fault], sub: Subscriber) -> list[Any]:
    """Print the figures; return the goals' (recover p50, p99, lost, duplicated)."""
    done = [f.joined for f in faults if f.caught_up_at is not None and f.joined is not None]
    what = f"{len(faults)} server outages (server.stop(), then wsnb.serve() on the same port)"
    print(
        f"\nwsnb.subscribe(url, [{ROOM!r}]), notebook_backoff(): "
        f"{what if sub.outages else f'{len(faults)} drops'}, {len(done)} recovered within "
        f"{CATCH_UP_WAIT:.0f} s"
    )
    recover = print_spans(faults, sub.spans)
    if replayed := sorted(j.history for j in done):
        median = percentile(replayed, 0.5)
        print(f"  replayed per rejoin: median {median:.0f}, max {replayed[-1]} messages")
    t, lost = sub.tally, sub.tally.lost(sub.first, sub.last)
    print(
        f"  messages: published {sub.last - sub.first + 1} (#{sub.first}-#{sub.last}), "
        f"delivered {t.deliveries}, lost {lost}, duplicated {t.duplicated}, "
        f"out of order {t.out_of_order}, 'lost' events {t.lost_events}"
    )
    stats = sub.sub.stats
    print("  subscriber stats: " + ", ".join(f"{k}={v}" for k, v in vars(stats).items()))
    if retries := [f.retries for f in faults if f.caught_up_at is not None]:
        median = percentile(retries, 0.5)
        print(f"  backoff waits per fault: median {median:.0f}, max {max(retries)}")
    # A recovery that never happened counts as infinitely long.
    padded = recover + [float("inf")] * (len(faults) - len(recover)) or [float("inf")]
    return [percentile(padded, 0.5), percentile(padded, 0.99), lost, t.duplicated]


def report_plain(faults: list[Fault], plain: PlainClient) -> None:
    first, last, live = plain.first, plain.last, plain.tally
    print(
        "\nplain websockets client (connect(url, proxy=None), default backoff, no resume): "
        f"{len(faults)} drops, {sum(f.joined is not None for f in faults)} rejoined, "
        f"{plain.connections} connections"
    )
    print_spans(faults, PLAIN_SPANS)
    lost = live.lost(first, last)
    print(
        f"  messages: published {last - first + 1}, received live {len(live.first_at)}, "
        f"LOST {lost} ({lost / max(1, len(faults)):.1f} per drop), duplicated {live.duplicated}"
    )
    missed = sum(
        1 for n in range(first, last + 1) if n not in live.first_at and n not in plain.history
    )
    dupes = sum(1 for n in plain.history if n in live.first_at and first <= n <= last)
    print(
        f"  had it used the join reply's 20 recent messages: {missed} lost, "
        f"{dupes} duplicates to filter out by itself"
    )


async def experiment(servers: Servers, args: argparse.Namespace) -> list[Any]:
    """The subscriber's drops, then its outages, then the plain client's drops."""
    watch = Watch(servers.start(feed, room=ROOM)[0])
    drops = functools.partial(drop, watch, random.Random(args.seed))  # the plain's go on from them
    outages = functools.partial(outage, watch, random.Random(f"{args.seed}/outages"))
    phases = [("wsnb subscriber: {} drops", Subscriber(), args.drops, drops)]
    if args.outages:
        phases.append(
            ("wsnb subscriber: {} server outages", Subscriber(True), args.outages, outages)
        )
    phases.append(("plain websockets client: {} drops", PlainClient(), args.plain_drops, drops))
    results = []
    for title, client, count, make in phases:
        print(f"\n== {title.format(count)} ==", flush=True)
        results.append((await run_faults(watch, client, count, make), client))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    description = "Recovery of wsnb's reconnecting subscriber from drops and outages."
    args = parse_options(description, OPTIONS, argv, "about 7 s")
    print(
        "Recovery from forced drops and outages: wsnb.subscribe() vs a plain websockets client\n"
        f"server: a wsnb.Rooms feed (feed.py) in its own process that publishes #1, #2, ... "
        f"every {INTERVAL * 1000:g} ms; drops: wsnb.faults.drop_connections; outages: "
        f"server.stop(), then wsnb.serve() on the same port, {DOWNTIME[0]:g}-{DOWNTIME[1]:g} s "
        f"later\npauses before each fault: {GAP[0]:g}-{GAP[1]:g} s, random, seed {args.seed}; "
        "times: time.monotonic(), one clock for both processes; 'accepted' = the server's "
        "handler started for the new connection"
    )
    started = time.perf_counter()
    *subscribers, (plain_faults, plain) = run(
        lambda servers: experiment(servers, args), args.pin, ("client", "server")
    )
    figures = [report_subscriber(*phase) for phase in subscribers]
    report_plain(plain_faults, plain)
    p50, p99, lost, duplicated = figures[0]
    pass_or_miss = {True: "PASS", False: "MISS"}
    print(
        f"\ngoals (wsnb subscriber): recover p50 {p50:.1f} < {GOAL_P50_MS:.0f} ms "
        f"{pass_or_miss[p50 < GOAL_P50_MS]}; p99 {p99:.1f} < {GOAL_P99_MS:.0f} ms "
        f"{pass_or_miss[p99 < GOAL_P99_MS]}; lost {lost} = 0 {pass_or_miss[lost == 0]}; "
        f"duplicated {duplicated} = 0 {pass_or_miss[duplicated == 0]}"
    )
    print(f"total time {time.perf_counter() - started:.1f} s")
    for o50, o99, olost, odup in figures[1:]:
        print(f"outage_recover_p50_ms={o50:.1f} outage_recover_p99_ms={o99:.1f} ", end="")
        print(f"lost={olost} duplicated={odup}")
    print(f"recover_p50_ms={p50:.1f} recover_p99_ms={p99:.1f} lost={lost} duplicated={duplicated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
