"""Echo: ``wsnb.serve(wsnb.echo)`` against a bare websockets echo server.

Each server runs in its own process; one websockets client per server, in
this process, measures round trips/s, pipelined messages/s (32-byte text)
and the server's CPU time per message, in interleaved rounds cut into short
chunks that alternate between the servers. The last line,
``ratio rt=X pipe=Y``, holds the median ratios wsnb/bare (goal: >= 0.95).
``--trace 1`` traces the wsnb server's connections with ``wsnb.Trace``: the
ratios then say what tracing costs (no goal: it is off by default).
docs/benchmarks.md says how and why, and how to read the figures.

    .venv/bin/python benchmarks/echo.py [--quick] [--rounds 9] [--roundtrips 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from harness import (
    HOST,
    Option,
    ServerProcess,
    Servers,
    Service,
    abba,
    parse_options,
    run,
    summary,
    verdict,
    wsnb_service,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

KINDS = ("wsnb", "bare")
MESSAGE = "0123456789abcdef0123456789abcdef"  # 32 bytes of ASCII text
RT_CHUNK = 250  # round trips per chunk (about 50-100 ms)
PIPE_CHUNK = 2000  # pipelined messages per chunk (about 30-60 ms)
OPTIONS = (
    Option("--rounds", 7, "interleaved rounds", quick=5),
    Option("--roundtrips", 10000, "round trips per round and server", quick=200),
    Option("--pipelined", 40000, "pipelined messages per round and server", quick=500),
    Option("--warmup", 200, "round trips and pipelined messages before round 1", quick=50),
    Option("--trace", 0, "1: the wsnb server traces every connection (wsnb.Trace)", least=0),
)


async def wsnb_echo(trace: bool = False) -> Service:
    import wsnb  # here only, so that the bare server's process never loads wsnb

    options = {"create_connection": wsnb.Trace().server} if trace else {}
    return wsnb_service(await wsnb.serve(wsnb.echo, **options))


async def bare_handler(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def bare_echo() -> Service:
    server = await serve(bare_handler, HOST, 0, compression=None)

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return Service({"bare": server.sockets[0].getsockname()[1]}, stop)


def _check(reply: object) -> None:
    if reply != MESSAGE:
        raise RuntimeError(f"unexpected reply {reply!r}")


async def time_round_trips(ws: ClientConnection, count: int) -> float:
    """Send, await the reply, ``count`` times; return the seconds it took."""
    start = time.perf_counter()
    for _ in range(count):
        await ws.send(MESSAGE)
        _check(await ws.recv())
    return time.perf_counter() - start


async def send_all(ws: ClientConnection, count: int) -> None:
    for _ in range(count):
        await ws.send(MESSAGE)


async def time_pipelined(ws: ClientConnection, count: int) -> float:
    """Seconds from the first of ``count`` sends to the last reply; a task sends meanwhile."""
    start = time.perf_counter()
    sender = asyncio.create_task(send_all(ws, count))
    try:
        for _ in range(count):
            _check(await ws.recv())
        elapsed = time.perf_counter() - start
        await sender
    finally:
        sender.cancel()  # a no-op unless receiving failed
    return elapsed


@dataclass(frozen=True)
class Sample:
    """One server's results in one round."""

    round_trips: float  # per second
    pipelined: float  # messages per second
    cpu_us: float  # server CPU microseconds per message


Timer = Callable[[ClientConnection, int], Awaitable[float]]


async def chunked(
    order: Sequence[str], timer: Timer, conns: dict[str, ClientConnection], total: int, size: int
) -> dict[str, float]:
    """Each server's seconds for ``total`` messages, in ~``size`` chunks alternating ABBA."""
    chunks = max(1, round(total / size))
    seconds = dict.fromkeys(order, 0.0)
    for index in range(chunks):
        count = total // chunks + (index < total % chunks)
        for kind in abba(order, index):
            seconds[kind] += await timer(conns[kind], count)
    return seconds


async def measure_round(
    order: Sequence[str],
    servers: dict[str, ServerProcess],
    conns: dict[str, ClientConnection],
    args: argparse.Namespace,
) -> dict[str, Sample]:
    gc.collect()
    cpu = {kind: -await servers[kind].cpu_time() for kind in order}
    rt = await chunked(order, time_round_trips, conns, args.roundtrips, RT_CHUNK)
    pipe = await chunked(order, time_pipelined, conns, args.pipelined, PIPE_CHUNK)
    for kind in order:  # a server idles while the other works: its CPU time is its own
        cpu[kind] += await servers[kind].cpu_time()
    messages = args.roundtrips + args.pipelined
    return {
        k: Sample(args.roundtrips / rt[k], args.pipelined / pipe[k], cpu[k] / messages * 1e6)
        for k in order
    }


# label, value, higher is better (then the ratio is wsnb/bare, else bare/wsnb), decimals
METRICS: tuple[tuple[str, Callable[[Sample], float], bool, int], ...] = (
    ("round trips/s", lambda s: s.round_trips, True, 0),
    ("pipelined msg/s", lambda s: s.pipelined, True, 0),
    ("server CPU us/msg", lambda s: s.cpu_us, False, 1),
)


def ratios(samples: dict[str, Sample]) -> list[float]:
    """The round's ratio for each metric, oriented so that above 1 means wsnb better."""
    pairs = [(value(samples["wsnb"]), value(samples["bare"]), up) for _, value, up, _ in METRICS]
    return [w / b if up else b / w for w, b, up in pairs]


def print_round(index: int, order: Sequence[str], samples: dict[str, Sample]) -> None:
    (w, b), (rt, pipe, cpu) = (samples[k] for k in KINDS), ratios(samples)
    print(
        f"{index + 1:>5}  {order[0]:<5} "
        f"| {w.round_trips:>9.0f} {b.round_trips:>7.0f} {rt:>5.2f} "
        f"| {w.pipelined:>10.0f} {b.pipelined:>7.0f} {pipe:>5.2f} "
        f"| {w.cpu_us:>11.1f} {b.cpu_us:>5.1f} {cpu:>5.2f}",
        flush=True,
    )


async def experiment(servers: Servers, args: argparse.Namespace) -> list[dict[str, Sample]]:
    wsnb = servers.start(wsnb_echo, trace=bool(args.trace))[0]
    procs = {"wsnb": wsnb, "bare": servers.start(bare_echo)[0]}
    results = []
    async with contextlib.AsyncExitStack() as stack:
        conns: dict[str, ClientConnection] = {}
        for kind, server in procs.items():
            url = f"ws://{HOST}:{server.port}"
            ws = conns[kind] = await stack.enter_async_context(
                connect(url, proxy=None, compression=None)
            )
            await time_round_trips(ws, args.warmup)
            await time_pipelined(ws, args.warmup)
        print(
            f"{'round':>5}  {'first':<5} | {'rt/s wsnb':>9} {'bare':>7} {'ratio':>5} "
            f"| {'msg/s wsnb':>10} {'bare':>7} {'ratio':>5} "
            f"| {'cpu us wsnb':>11} {'bare':>5} {'b/w':>5}"
        )
        for index in range(args.rounds):
            order = abba(KINDS, index)
            results.append(await measure_round(order, procs, conns, args))
            print_round(index, order, results[-1])
    return results


def report(results: list[dict[str, Sample]]) -> list[float]:
    """Print the summary table; return the median ratio of each metric."""
    print(f"\nmedian [min-max] over {len(results)} rounds")
    print(f"{'metric':<36} {'wsnb':>20} {'bare':>20}   {'ratio':<26} verdict")
    per_round = [ratios(r) for r in results]
    medians = []
    for index, (label, value, up, digits) in enumerate(METRICS):
        wsnb, bare = (summary([value(r[k]) for r in results], digits) for k in KINDS)
        values = [r[index] for r in per_round]
        medians.append(statistics.median(values))
        title = f"{label} ({'higher' if up else 'lower'} is better)"
        ratio = f"{'wsnb/bare' if up else 'bare/wsnb'} {summary(values, 2)}"
        judged = verdict(medians[-1], "wsnb better", "wsnb worse")
        print(f"{title:<36} {wsnb:>20} {bare:>20}   {ratio:<26} {judged}")
    print("(every ratio is oriented so that above 1 means wsnb is better)")
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    description = "Compare wsnb's echo server with a bare websockets echo server."
    args = parse_options(description, OPTIONS, argv, "a few seconds")
    traced = " (every connection traced)" if args.trace else ""
    print(
        f"wsnb.serve(wsnb.echo){traced} vs bare websockets echo, compression=None, one process each"
    )
    print(
        f"{args.rounds} rounds, ABBA order; per round and implementation: {args.roundtrips} "
        f"sequential round trips + {args.pipelined} pipelined messages, 32-byte text,\n"
        f"in chunks of {RT_CHUNK} round trips / {PIPE_CHUNK} messages that alternate "
        "between the servers (ABBA)"
    )
    started = time.perf_counter()
    results = run(lambda servers: experiment(servers, args), args.pin, ("client", "both servers"))
    rt, pipe, _ = report(results)
    print(f"total time {time.perf_counter() - started:.1f} s")
    print(f"ratio rt={rt:.2f} pipe={pipe:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
