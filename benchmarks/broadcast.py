"""Broadcast: ``wsnb.Hub`` against ``websockets.broadcast()`` and a naive send loop.

One server process runs a ``wsnb.Hub(relay=False)`` and a bare websockets
server; raw clients in this process receive 64-byte stamped messages in
paced bursts, in interleaved rounds, at 10, 100 and 1000 clients per
server. Then, with a fresh process per implementation, 100 healthy clients
and one that never reads. The last line,
``ratio hub/broadcast=X stalled_delivered=Y% rss_growth_mb=Z``, holds the
median ratio of deliveries/s at 1000 clients (goal: >= 0.9), the share the
hub delivered to the healthy clients (goal: 100%) and its server's peak RSS
growth meanwhile (goal: < 2 MiB). docs/benchmarks.md says how and why.

    .venv/bin/python benchmarks/broadcast.py [--quick] [--rounds 9] [--clients 100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fanout import Bench, Tally, fan_out_server
from harness import (
    Option,
    Servers,
    abba,
    fmt_rate,
    parse_options,
    percentile,
    raise_fd_limit,
    reply,
    run,
    summary,
    verdict,
)
from rawclient import RawClient, Sink, open_clients

IMPLEMENTATIONS = ("hub", "broadcast", "naive")
SERVER_OF = {"hub": "hub", "broadcast": "bare", "naive": "bare"}  # which server's clients
MESSAGE_SIZE, STALL_MESSAGE_SIZE = 64, 4096
STALL_BURST = 4  # messages per burst in the stalled-client phase
STALL_WARMUP = 8  # messages sent to everyone before the memory baseline
BUSY = 0.90  # below this server CPU busy share, something else held the CPUs
WHOLE_K = 10000  # rates from this on are printed in whole thousands
OPTIONS = (
    Option("--rounds", 9, "interleaved rounds", quick=3),
    Option("--clients", "10,100,1000", "comma-separated client counts", least=None),
    Option("--bursts", 6, "timed bursts per round and implementation", quick=1),
    Option("--burst-deliveries", 20000, "messages x clients per burst", quick=10000),
    Option("--stall-clients", 100, "healthy clients with the stalled one, 0 skips", least=0),
    Option("--stall-mb", 16.0, "MiB sent per client with a stalled client", quick=8.0, least=0),
    Option("--stall-timeout", 2.0, "s without a delivery that end a stall", quick=1.0, least=0),
    Option("--stall-deadline", 30.0, "longest stalled phase, s", least=None),
)


@dataclass(frozen=True)
class Sample:
    """One implementation's results in one round."""

    rate: float  # deliveries per second
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU microseconds per delivery
    user_us: float  # of which in user mode
    busy: float  # server CPU time / burst time

    @classmethod
    def of(cls, t: Tally) -> Sample:
        cpu, seconds, per = t.user + t.system, t.ns / 1e9, 1e6 / t.deliveries
        p50, p99 = (percentile(t.latencies, f) / 1e6 for f in (0.50, 0.99))
        return cls(t.deliveries / seconds, p50, p99, cpu * per, t.user * per, cpu / seconds)


async def measure_round(
    bench: Bench, n: int, count: int, index: int, bursts: int
) -> dict[str, Sample]:
    """Each implementation's turn: a lead-in burst, not counted, then the timed ones."""
    order = abba(IMPLEMENTATIONS, index)
    tallies = {impl: Tally() for impl in IMPLEMENTATIONS}
    gc.collect()
    for impl in order:
        for tally in [Tally()] + [tallies[impl]] * bursts:
            await bench.burst(impl, n, count, tally)
    samples = {impl: Sample.of(tallies[impl]) for impl in IMPLEMENTATIONS}
    h, b, v = samples.values()
    rates = " ".join(f"{fmt_rate(s.rate, WHOLE_K):>{w}}" for s, w in ((h, 17), (b, 9), (v, 7)))
    ms = " ".join(
        f"{f'{s.p50_ms:.1f}/{s.p99_ms:.1f}':>{w}}" for s, w in ((h, 15), (b, 11), (v, 11))
    )
    idle = "  *" if min(x.busy for x in samples.values()) < BUSY else ""
    print(
        f"{index + 1:>5} {order[0]:<9} | {rates} {h.rate / b.rate:>6.2f} | {ms}{idle}", flush=True
    )
    return samples


async def measure_clients(
    bench: Bench, n: int, args: argparse.Namespace
) -> list[dict[str, Sample]]:
    """Connect ``n`` clients to each server, run the interleaved rounds, disconnect."""
    count = max(1, args.burst_deliveries // n)
    print(
        f"N={n}: {n} clients per server, bursts of {count} x {MESSAGE_SIZE}-byte messages "
        f"({count * n} deliveries); per round and implementation 1 lead-in + {args.bursts} "
        "timed bursts",
        flush=True,
    )
    clients: list[RawClient] = []
    try:
        for port in bench.server.ports.values():
            await open_clients(port, n, bench.sink, clients)
        await bench.wait_for_clients(hub=n, bare=n)
        for impl in IMPLEMENTATIONS:  # warm-up
            await bench.burst(impl, n, count, Tally())
        print(
            f"{'round':>5} {'first':<9} | {'deliveries/s: hub':>17} {'broadcast':>9} "
            f"{'naive':>7} {'hub/bc':>6} | {'p50/p99 ms: hub':>15} {'broadcast':>11} {'naive':>11}"
        )
        return [await measure_round(bench, n, count, i, args.bursts) for i in range(args.rounds)]
    finally:
        for client in clients:
            client.close()
        await bench.wait_for_clients(hub=0, bare=0)


def report_clients(n: int, results: list[dict[str, Sample]]) -> float:
    """Print the medians for ``n`` clients; return the median ratio hub/broadcast."""
    print(f"N={n}: median [min-max] over {len(results)} rounds")
    print(
        f"  {'':<10} {'deliveries/s':>22} {'p50 ms':>17} {'p99 ms':>18} "
        f"{'srv us/delivery':>18} {'user':>5} {'srv busy %':>12}"
    )
    columns = (
        ("rate", 0, 1),
        ("p50_ms", 1, 1),
        ("p99_ms", 1, 1),
        ("cpu_us", 2, 1),
        ("busy", 0, 100),
    )
    for impl in IMPLEMENTATIONS:
        rows = [r[impl] for r in results]
        rate, p50, p99, cpu, busy = (
            summary([getattr(s, a) for s in rows], *d) for a, *d in columns
        )
        user = statistics.median([s.user_us for s in rows])
        print(f"  {impl:<10} {rate:>22} {p50:>17} {p99:>18} {cpu:>18} {user:>5.2f} {busy:>12}")
    disturbed = sum(min(x.busy for x in r.values()) < BUSY for r in results)
    if disturbed:
        print(
            f"  * {disturbed} of {len(results)} rounds: the server was busy less than "
            f"{BUSY:.0%} of a burst's time, so something else (other processes on a shared "
            "machine, or the clients) held the CPUs; be wary, or run again"
        )
    hub = [r["hub"].rate / r["broadcast"].rate for r in results]
    naive = [r["naive"].rate / r["broadcast"].rate for r in results]
    cpu = [r["hub"].cpu_us / r["broadcast"].cpu_us for r in results]
    median = statistics.median(hub)
    print(
        f"  ratio deliveries/s hub/broadcast {summary(hub, 2)} "
        f"({verdict(median, 'hub faster', 'hub slower')}), naive/broadcast {summary(naive, 2)}; "
        f"server CPU per delivery hub/broadcast {summary(cpu, 2)}\n",
        flush=True,
    )
    return median


@dataclass
class StallResult:
    impl: str
    delivered: float  # share, 0-1
    p99_ms: float
    rss_growth: int  # bytes, end - start
    peak_growth: int | None  # bytes, VmHWM - start (None: the kernel refused the reset)
    backlog: int  # bytes the server held for the stalled client at the end
    note: str


async def watch_burst(bench: Bench, deadline: float, args: argparse.Namespace) -> str:
    """Wait for the healthy clients; if they stall or time runs out, abort and say why."""
    progress, done = -1, bench.sink.done
    while not done.done():
        if bench.sink.received == progress:
            note = f"stalled: nothing delivered for {args.stall_timeout:g} s"
        elif time.monotonic() > deadline:
            note = f"deadline of {args.stall_deadline:g} s reached"
        else:
            progress = bench.sink.received
            await asyncio.wait({done}, timeout=args.stall_timeout)
            continue
        bench.server.send("abort")
        return note
    return ""


async def stalled_bursts(
    bench: Bench, impl: str, n: int, total: int, args: argparse.Namespace
) -> tuple[Tally, str]:
    """``total`` messages in paced bursts, until all are sent, a stall, or the deadline."""
    tally, sent, note = Tally(), 0, ""
    started = time.monotonic()
    while sent < total and not note:
        count = min(STALL_BURST, total - sent)
        result = bench.send_burst(impl, n, count, tally, STALL_MESSAGE_SIZE)
        sent += count
        note = await watch_burst(bench, started + args.stall_deadline, args)
        await reply(result)
        tally.deliveries += bench.sink.received
    return tally, note or f"all {total} messages sent in {time.monotonic() - started:.1f} s"


async def measure_stalled(
    servers: Servers, impl: str, fds: int, args: argparse.Namespace
) -> StallResult:
    """A fresh server, ``--stall-clients`` healthy clients and one that never reads."""
    n, bench = args.stall_clients, Bench(servers.start(fan_out_server, fds=fds)[0], Sink())
    total = max(STALL_BURST, int(args.stall_mb * 2**20) // STALL_MESSAGE_SIZE)
    clients: list[RawClient] = []
    try:
        port = bench.server.ports[SERVER_OF[impl]]
        await open_clients(port, n, bench.sink, clients)
        (stalled,) = await open_clients(port, 1, Sink(), clients)
        assert stalled.transport is not None
        stalled.transport.pause_reading()  # from now on its kernel buffers fill up
        await bench.wait_for_clients(**({"hub": 0, "bare": 0} | {SERVER_OF[impl]: n + 1}))
        for _ in range(STALL_WARMUP // STALL_BURST):  # every code path once
            await bench.burst(impl, n, STALL_BURST, Tally(), STALL_MESSAGE_SIZE)
        gc.collect()
        peak_reset, before = bench.server.reset_peak(), bench.server.memory()["VmRSS"]
        tally, note = await stalled_bursts(bench, impl, n, total, args)
        memory, info = bench.server.memory(), await bench.server.request("info")
    finally:
        for client in clients:
            client.close()
    servers.stop(bench.server)
    return StallResult(
        impl=impl,
        delivered=tally.deliveries / (n * total),
        p99_ms=percentile(tally.latencies, 0.99) / 1e6 if tally.latencies else float("nan"),
        rss_growth=memory["VmRSS"] - before,
        peak_growth=memory["VmHWM"] - before if peak_reset else None,
        backlog=info["max_write_buffer"],
        note=note + (f"; hub closed {info['slow_closed']} slow client(s)" if impl == "hub" else ""),
    )


def report_stalled(results: list[StallResult], args: argparse.Namespace) -> None:
    print(
        f"Stalled client: {args.stall_clients} healthy clients + 1 that never reads; "
        f"{args.stall_mb:g} MiB per client in {STALL_MESSAGE_SIZE}-byte messages, bursts of "
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
        "the end; hub goal: 100% delivered, peak RSS growth < 2 x max_buffered = 2 MiB)\n",
        flush=True,
    )


async def experiment(
    servers: Servers, args: argparse.Namespace, fds: int
) -> tuple[dict[int, float], list[StallResult]]:
    ratios: dict[int, float] = {}
    if args.client_counts:
        bench = Bench(servers.start(fan_out_server, fds=fds)[0], Sink())
        for n in args.client_counts:
            ratios[n] = report_clients(n, await measure_clients(bench, n, args))
        servers.stop(bench.server)
    stalled = []
    if args.stall_clients:
        stalled = [await measure_stalled(servers, impl, fds, args) for impl in IMPLEMENTATIONS]
        report_stalled(stalled, args)
    return ratios, stalled


def last_line(ratios: dict[int, float], stalled: list[StallResult]) -> str:
    key = 1000 if 1000 in ratios else max(ratios, default=None)
    ratio = "n/a" if key is None else f"{ratios[key]:.2f}"
    delivered = growth = "n/a"
    for hub in (r for r in stalled if r.impl == "hub"):
        delivered = f"{100 * hub.delivered:.1f}"
        growth = f"{(hub.rss_growth if hub.peak_growth is None else hub.peak_growth) / 2**20:.2f}"
    return f"ratio hub/broadcast={ratio} stalled_delivered={delivered}% rss_growth_mb={growth}"


def check(args: argparse.Namespace) -> str | None:
    try:
        args.client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        return f"--clients must be comma-separated integers, not {args.clients!r}"
    if min(args.client_counts, default=1) < 1:
        return "--clients: every count must be at least 1"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    description = "Compare broadcast fan-out: wsnb.Hub, websockets.broadcast(), a send loop."
    args = parse_options(description, OPTIONS, argv, "about 20 s", check)
    # Each side holds one socket per client connection, plus some to spare.
    fds = 2 * max(args.client_counts, default=0) + args.stall_clients + 256
    raise_fd_limit(fds)
    print(
        "Broadcast fan-out: wsnb.Hub vs websockets.broadcast() vs naive send loop (fanout.py)\n"
        "server: one process (measured), compression=None; clients: minimal asyncio WebSocket "
        f"clients in this process\nN = {', '.join(map(str, args.client_counts)) or '-'} clients "
        f"per server, {args.rounds} interleaved rounds (each implementation's turn: 1 lead-in + "
        f"{args.bursts} timed bursts; order alternating)\nmessages: {MESSAGE_SIZE} bytes "
        f"(sequence + monotonic_ns send time); bursts of {args.burst_deliveries} deliveries, "
        "paced: the next burst starts once every client has everything"
    )
    started = time.perf_counter()
    ratios, stalled = run(
        lambda servers: experiment(servers, args, fds), args.pin, ("clients", "server")
    )
    print(f"total time {time.perf_counter() - started:.1f} s")
    print(last_line(ratios, stalled))
    return 0


if __name__ == "__main__":
    sys.exit(main())
