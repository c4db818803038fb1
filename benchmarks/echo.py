"""Benchmark wsnb's echo server against a bare websockets echo server.

What is measured
----------------
Two servers run side by side, each in its own child process, for the whole
run:

* ``wsnb``: ``await wsnb.serve(wsnb.echo)`` with its defaults (127.0.0.1, a
  free port, ``compression=None``);
* ``bare``: ``websockets.asyncio.server.serve`` with the minimal handler
  ``async for m in ws: await ws.send(m)`` and ``compression=None``.

Both use ``compression=None`` so that the comparison measures wsnb's own
overhead (its handler wrapper, its echo handler, its server bookkeeping), not
the choice of compression settings. The bare server's process never imports
wsnb.

The client runs in this (parent) process with
``websockets.asyncio.client.connect(url, proxy=None, compression=None)``,
one connection per server, warmed up before the first round. Each round
measures, for each implementation, over that connection:

1. round trips/s: send a 32-byte text message, wait for the reply, N times;
2. pipelined messages/s: a sender task sends M 32-byte messages without
   waiting while the client receives the M replies; M / elapsed time;
3. server CPU per message (microseconds): the server process's CPU time
   (``time.process_time()``, asked over a pipe) spent during the round,
   divided by the N + M messages it echoed in that round.

Rounds are interleaved ABBA: wsnb goes first in odd rounds, bare in even
ones. Within a round each measurement is also cut into short chunks (250
round trips, 2000 pipelined messages) that alternate between the two servers
in ABBA order, and an implementation's rate is its N (or M) messages over
the sum of its chunks' times. On a shared virtual machine the speed drifts
by 20-40% over seconds; measuring one implementation for seconds and then
the other let those drifts decide the result (per-round ratios of 0.7-1.7
between equal servers), while chunks of 50-100 ms put both through the same
drifts. Each server idles while the other works, so its CPU time over the
round is spent on its own messages.

On Linux with two CPUs or more, the client is pinned to one CPU and both
servers to another: left to the scheduler, client and server sometimes
share a CPU, which alone moves the pipelined rate by a third. ``--no-pin``
turns that off.

How to run
----------
::

    make bench
    .venv/bin/python benchmarks/echo.py            # the same
    .venv/bin/python benchmarks/echo.py --quick    # smoke run, a few seconds
    .venv/bin/python benchmarks/echo.py --rounds 9 --roundtrips 20000

How to read the output
----------------------
One line per round, then for each metric the median across rounds with the
min-max, and the per-round ratio with its median and min-max. Ratios are
wsnb/bare for the two rates (above 1: wsnb is faster) and bare/wsnb for the
CPU per message (above 1: wsnb spends less CPU per message), so above 1
always means "wsnb better". Identical code measured against itself lands
within about +-7% on a shared 2-core machine, so a median ratio within
0.93-1.07 means "no measurable difference"; the min-max shows how noisy the
run was. The min-max can be narrow and still off: two processes running the
same code can differ by a steady few percent for a whole run (memory
layout), which only a new run, with new processes, reveals. Run again before
believing a ratio outside 0.93-1.07. The last line, ``ratio rt=X pipe=Y``,
holds the median ratios wsnb/bare of round trips/s and pipelined
messages/s, for scripts to parse.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Any

from harness import QuietDisconnects, pick_cpus, stop_child, summary
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

IMPLEMENTATIONS = ("wsnb", "bare")
MESSAGE = "0123456789abcdef0123456789abcdef"  # 32 bytes of ASCII text
assert len(MESSAGE.encode()) == 32

DEFAULT_ROUNDS = 7
DEFAULT_ROUNDTRIPS = 10000
DEFAULT_PIPELINED = 40000
DEFAULT_WARMUP = 200
RT_CHUNK = 250  # round trips per chunk (about 50-100 ms)
PIPE_CHUNK = 2000  # pipelined messages per chunk (about 30-60 ms)
QUICK = {"rounds": 5, "roundtrips": 200, "pipelined": 500, "warmup": 50}

NOISE = 0.07  # identical code against itself: within about +-7% here
START_TIMEOUT = 30.0  # seconds for a server process to report its port
REPLY_TIMEOUT = 10.0  # seconds for a server process to answer a request
STOP_TIMEOUT = 5.0  # seconds for a server process to end on request


# --------------------------------------------------------------------------
# Server side: runs in the child processes.
# --------------------------------------------------------------------------


async def bare_echo(ws: ServerConnection) -> None:
    """The minimal websockets echo handler."""
    async for message in ws:
        await ws.send(message)


StopServer = Callable[[], Awaitable[None]]


async def _start_server(kind: str) -> tuple[int, StopServer]:
    """Start the ``kind`` server; return its port and how to stop it."""
    if kind == "wsnb":
        import wsnb  # here only, so that the bare server's process never loads wsnb

        server = await wsnb.serve(wsnb.echo)
        return server.port, server.stop

    ws_server = await serve(bare_echo, "127.0.0.1", 0, compression=None)

    async def stop() -> None:
        ws_server.close()
        await ws_server.wait_closed()

    return ws_server.sockets[0].getsockname()[1], stop


async def _serve_until_stopped(kind: str, conn: Connection) -> None:
    """Serve, report the port, answer "cpu" requests until "stop" (or EOF)."""
    port, stop_server = await _start_server(kind)
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()

    def answer() -> None:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            request = "stop"
        if request == "cpu":
            conn.send(("cpu", time.process_time()))
        elif not stopped.done():
            stopped.set_result(None)

    loop.add_reader(conn.fileno(), answer)
    try:
        conn.send(("port", port))
        await stopped
    finally:
        loop.remove_reader(conn.fileno())
        await stop_server()


def server_process(kind: str, conn: Connection, cpu: int | None) -> None:
    """Entry point of a server's child process, pinned to ``cpu`` if given."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    # The bare handler ends with ConnectionClosed when the client goes away
    # abruptly; wsnb's handler wrapper catches it instead.
    logging.getLogger("websockets.server").addFilter(QuietDisconnects())
    try:
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

    def __init__(self, kind: str, context: SpawnContext, cpu: int | None) -> None:
        self.kind = kind
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=server_process, args=(kind, child_conn, cpu), name=f"echo-bench-{kind}"
        )
        self._process.start()
        child_conn.close()
        try:
            self.port: int = self._receive("port", START_TIMEOUT)
        except BaseException:
            self.close()
            raise
        self.url = f"ws://127.0.0.1:{self.port}"

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

    def cpu_time(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        self._conn.send("cpu")
        return float(self._receive("cpu", REPLY_TIMEOUT))

    def close(self) -> None:
        """Stop the process: ask politely, then terminate, then kill."""
        stop_child(self._process, self._conn, "stop", STOP_TIMEOUT)


# --------------------------------------------------------------------------
# Client side: the measurements.
# --------------------------------------------------------------------------


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


async def time_pipelined(ws: ClientConnection, count: int) -> float:
    """Send ``count`` messages without waiting while receiving the replies.

    A separate sender task keeps sending while this task receives, so
    neither side can fill its buffers and wait forever for the other.
    Returns the seconds from the first send to the last reply.
    """

    async def send_all() -> None:
        for _ in range(count):
            await ws.send(MESSAGE)

    start = time.perf_counter()
    sender = asyncio.create_task(send_all())
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
    """One implementation's results in one round."""

    round_trips: float  # round trips per second
    pipelined: float  # messages per second
    cpu_us: float  # server CPU microseconds per message


def split(total: int, size: int) -> list[int]:
    """``total`` cut into nearly equal chunks of about ``size`` each."""
    count = max(1, round(total / size))
    return [total // count + (i < total % count) for i in range(count)]


async def measure_round(
    order: Sequence[str],
    servers: dict[str, ServerProcess],
    connections: dict[str, ClientConnection],
    n_rt: int,
    n_pipe: int,
) -> dict[str, Sample]:
    """One round: ``n_rt`` round trips and ``n_pipe`` pipelined messages per server.

    Each measurement is cut into chunks that alternate between the servers
    in ABBA order, starting with ``order[0]``; the times of an
    implementation's chunks add up to its rate.
    """
    gc.collect()
    cpu_before = {kind: servers[kind].cpu_time() for kind in order}
    rt_seconds = dict.fromkeys(order, 0.0)
    pipe_seconds = dict.fromkeys(order, 0.0)
    for index, count in enumerate(split(n_rt, RT_CHUNK)):
        for kind in order if index % 2 == 0 else order[::-1]:
            rt_seconds[kind] += await time_round_trips(connections[kind], count)
    for index, count in enumerate(split(n_pipe, PIPE_CHUNK)):
        for kind in order if index % 2 == 0 else order[::-1]:
            pipe_seconds[kind] += await time_pipelined(connections[kind], count)
    # A server idles while the other one works: its CPU time is its own messages'.
    cpu_used = {kind: servers[kind].cpu_time() - cpu_before[kind] for kind in order}
    return {
        kind: Sample(
            round_trips=n_rt / rt_seconds[kind],
            pipelined=n_pipe / pipe_seconds[kind],
            cpu_us=cpu_used[kind] / (n_rt + n_pipe) * 1e6,
        )
        for kind in order
    }


@dataclass(frozen=True)
class Metric:
    """How to read, print and compare one of a sample's numbers."""

    label: str
    value: Callable[[Sample], float]
    higher_is_better: bool  # rates: the ratio is wsnb/bare; costs: bare/wsnb
    digits: int

    @property
    def ratio_label(self) -> str:
        return "wsnb/bare" if self.higher_is_better else "bare/wsnb"

    @property
    def title(self) -> str:
        return f"{self.label} ({'higher' if self.higher_is_better else 'lower'} is better)"


METRICS = (
    Metric("round trips/s", lambda s: s.round_trips, higher_is_better=True, digits=0),
    Metric("pipelined msg/s", lambda s: s.pipelined, higher_is_better=True, digits=0),
    Metric("server CPU us/msg", lambda s: s.cpu_us, higher_is_better=False, digits=1),
)


def ratio(metric: Metric, wsnb: Sample, bare: Sample) -> float:
    """The round's ratio for ``metric``, oriented so that above 1 means wsnb better."""
    w, b = metric.value(wsnb), metric.value(bare)
    return w / b if metric.higher_is_better else b / w


async def run_rounds(
    servers: dict[str, ServerProcess], rounds: int, n_rt: int, n_pipe: int, warmup: int
) -> list[dict[str, Sample]]:
    results: list[dict[str, Sample]] = []
    async with contextlib.AsyncExitStack() as stack:
        connections: dict[str, ClientConnection] = {}
        for kind, server in servers.items():
            ws = await stack.enter_async_context(connect(server.url, proxy=None, compression=None))
            await time_round_trips(ws, warmup)
            await time_pipelined(ws, warmup)
            connections[kind] = ws

        print(
            f"{'round':>5}  {'first':<5} | {'rt/s wsnb':>9} {'bare':>7} {'ratio':>5} "
            f"| {'msg/s wsnb':>10} {'bare':>7} {'ratio':>5} "
            f"| {'cpu us wsnb':>11} {'bare':>5} {'b/w':>5}"
        )
        for index in range(rounds):
            order = IMPLEMENTATIONS if index % 2 == 0 else IMPLEMENTATIONS[::-1]
            samples = await measure_round(order, servers, connections, n_rt, n_pipe)
            results.append(samples)
            w, b = samples["wsnb"], samples["bare"]
            print(
                f"{index + 1:>5}  {order[0]:<5} "
                f"| {w.round_trips:>9.0f} {b.round_trips:>7.0f} {ratio(METRICS[0], w, b):>5.2f} "
                f"| {w.pipelined:>10.0f} {b.pipelined:>7.0f} {ratio(METRICS[1], w, b):>5.2f} "
                f"| {w.cpu_us:>11.1f} {b.cpu_us:>5.1f} {ratio(METRICS[2], w, b):>5.2f}",
                flush=True,
            )
    return results


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def _verdict(median_ratio: float) -> str:
    if abs(median_ratio - 1) <= NOISE:
        return "no measurable difference"
    return "wsnb better" if median_ratio > 1 else "wsnb worse"


def report(results: list[dict[str, Sample]]) -> tuple[float, float]:
    """Print the summary table; return the median ratios of round trips and pipelining."""
    print()
    print(f"median [min-max] over {len(results)} rounds")
    print(f"{'metric':<36} {'wsnb':>20} {'bare':>20}   {'ratio':<26} verdict")
    medians: list[float] = []
    for metric in METRICS:
        wsnb, bare = (
            summary([metric.value(r[kind]) for r in results], metric.digits)
            for kind in ("wsnb", "bare")
        )
        ratios = [ratio(metric, r["wsnb"], r["bare"]) for r in results]
        medians.append(statistics.median(ratios))
        print(
            f"{metric.title:<36} {wsnb:>20} {bare:>20}"
            f"   {metric.ratio_label + ' ' + summary(ratios, 2):<26} {_verdict(medians[-1])}"
        )
    print("(every ratio is oriented so that above 1 means wsnb is better)")
    return medians[0], medians[1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare wsnb's echo server with a bare websockets echo server.",
    )
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument(
        "--roundtrips",
        type=int,
        help=f"sequential round trips per round and implementation (default {DEFAULT_ROUNDTRIPS})",
    )
    parser.add_argument(
        "--pipelined",
        type=int,
        help=f"pipelined messages per round and implementation (default {DEFAULT_PIPELINED})",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place client and servers instead of pinning them to two CPUs",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run with small counts, a few seconds (explicit options still apply)",
    )
    args = parser.parse_args(argv)
    defaults = (
        QUICK
        if args.quick
        else {
            "rounds": DEFAULT_ROUNDS,
            "roundtrips": DEFAULT_ROUNDTRIPS,
            "pipelined": DEFAULT_PIPELINED,
            "warmup": DEFAULT_WARMUP,
        }
    )
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    for name in ("rounds", "roundtrips", "pipelined"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = pick_cpus() if args.pin else None
    print("wsnb.serve(wsnb.echo) vs bare websockets echo, compression=None, one process each")
    print(
        f"{args.rounds} rounds, ABBA order; per round and implementation: {args.roundtrips} "
        f"sequential round trips + {args.pipelined} pipelined messages, 32-byte text,"
    )
    print(
        f"in chunks of {RT_CHUNK} round trips / {PIPE_CHUNK} messages that alternate "
        "between the servers (ABBA)"
    )
    if cpus is None:
        print("CPUs: not pinned")
    else:
        print(f"CPUs: client pinned to CPU {cpus[0]}, both servers to CPU {cpus[1]}")
    print(
        f"Noise: identical code measured against itself lands within about +-{NOISE:.0%} "
        "on this kind of shared 2-core machine,"
    )
    print(f'so ratios within {1 - NOISE:.2f}-{1 + NOISE:.2f} mean "no measurable difference".')
    print()

    context = multiprocessing.get_context("spawn")
    servers: dict[str, ServerProcess] = {}
    started = time.perf_counter()
    try:
        for kind in IMPLEMENTATIONS:
            servers[kind] = ServerProcess(kind, context, None if cpus is None else cpus[1])
        if cpus is not None:
            os.sched_setaffinity(0, {cpus[0]})
        results = asyncio.run(
            run_rounds(servers, args.rounds, args.roundtrips, args.pipelined, args.warmup)
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for server in servers.values():
            server.close()

    rt_ratio, pipe_ratio = report(results)
    print(f"total time {time.perf_counter() - started:.1f} s")
    print(f"ratio rt={rt_ratio:.2f} pipe={pipe_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
