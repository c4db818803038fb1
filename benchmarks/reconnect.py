"""Benchmark how fast wsnb's reconnecting subscriber recovers from dropped connections and outages.

What is measured
----------------
A ``wsnb.Rooms`` server runs in its own child process for the whole run
(``wsnb.serve`` with its defaults: 127.0.0.1, a free port,
``compression=None``), with the fixed room ``bench``. In that process a
publisher task publishes the numbers 1, 2, 3... into the room with
``rooms.publish("bench", n)``, one every ``--interval`` ms (4 ms by
default, about 250 messages/s), on a fixed schedule that does not burst to
catch up when it runs late. The server is told what to do over a pipe
(``multiprocessing``): start and stop publishing, and *drop*: record
``time.monotonic()`` and call ``wsnb.faults.drop_connections(server)``,
which aborts every connection's transport (no closing handshake; the client
sees 1006 and finds the server still listening, as after a network fault).

The server's handler is ``wsnb.Rooms`` subclassed for this benchmark only,
to timestamp two things with ``time.monotonic()`` and report them over the
pipe as they happen: when the handler starts for a new connection (the
opening handshake is done: the server has *accepted* the connection), and
when a ``join`` has been processed (the reply's ``seq`` is the room's latest
message at that moment). The subclass adds a pipe write on connect and on
join, nothing per message. It overrides ``Rooms._send`` (private) because
that is where the join reply can be seen; wsnb itself is not changed.

The clients run in this (parent) process, one at a time:

1. **wsnb**: ``await wsnb.subscribe(url, ["bench"])`` with its defaults
   (``notebook_backoff()``), consumed by a task doing ``await sub.next()``,
   which records when each number reached the application and checks that
   every number arrives exactly once and in order. ``--drops`` forced drops
   (50 by default), each after a random pause of ``--gap-min`` to
   ``--gap-max`` ms (100-300; seeded with ``--seed``, printed) counted from
   the moment the previous drop was fully recovered. Per drop:

   * *reconnect*: drop -> the server accepted the subscriber's new
     connection (both server-side timestamps);
   * *recover*: the server accepted the new connection -> the application
     got, from ``sub.next()``, the last message published before or at the
     moment of the rejoin (the join reply's ``seq``): the gap is fully
     replayed. The start is the server's timestamp, the end the client's;
     ``time.monotonic()`` is CLOCK_MONOTONIC on Linux, one clock for the whole
     system, so the two processes' timestamps can be subtracted. If nothing
     was published during the gap, the end is the subscriber's ``"open"``
     timeline entry (its rooms rejoined). The recover time is split into
     accepted -> join processed (server) and join -> caught up.

   Lost = numbers published (from the first one after the subscriber opened
   to the last, once the publisher stopped) that never reached the
   application; duplicated = deliveries beyond the first of a number. Both
   cover the whole stream, drops and the time between them.

   Phase 1 has two parts, each with its own subscriber, run one after the
   other: the *drops* above (the server keeps listening, so the subscriber
   reconnects at once, without waiting), then the *outages*.

   **Outages** (``--outages``, 10 by default, 3 with ``--quick``, 0 skips
   them): after the same kind of pause, the server process calls ``await
   server.stop()`` (it stops listening and closes every connection with
   1001), sleeps so that the server is down for a random ``--downtime-min``
   to ``--downtime-max`` ms (200-1000, counted from the call to ``stop()``;
   seeded from ``--seed``), then serves the same ``Rooms`` object again with
   ``wsnb.serve(rooms, name=..., port=<the same port>)`` and records
   ``time.monotonic()`` when that returns: *listening again*. The publisher
   keeps publishing into the room (``rooms.publish``) the whole time; the
   room's history (and epoch) lives in the ``Rooms`` object, so it survives.
   Meanwhile the subscriber's attempts are refused and it waits between them
   with ``notebook_backoff()`` (50-100 ms, then doubling, capped at 3 s).
   Per outage:

   * *recover*: listening again -> the application got the last message
     published before or at the moment of its rejoin (the join reply's
     ``seq``), as for the drops. This **includes the backoff wait**: when the
     server comes back, the subscriber's next attempt is up to one backoff
     step away (about 400-800 ms after a 1 s outage), so these figures are
     expected to be much larger than the drops' and mostly measure the
     backoff, not wsnb's replay. The table splits it into listening ->
     accepted (mostly that wait), accepted -> join processed and join ->
     caught up, and shows how many backoff waits the outage cost.

   Lost and duplicated are counted as for the drops, over the whole outage
   part (from the first number published after its subscriber opened to the
   last).

2. **plain**: a websockets client at default settings (backoff included),
   ``async for ws in websockets.asyncio.client.connect(url, proxy=None)``,
   that sends ``hello`` and ``join`` after each (re)connection and reads
   ``message`` events, with no resume. It reconnects at once after a
   connection that had succeeded (websockets resets its backoff then; only
   a failed attempt waits, 0-5 s the first time). ``--plain-drops`` drops
   (10 by default), the same kind of pauses; each drop waits at most
   ``PLAIN_WAIT`` s for the rejoin and the phase at most
   ``PLAIN_PHASE_LIMIT`` s, so a bad run stays bounded. Reported: drop ->
   accepted, drop -> rejoined, and the numbers it never received as live
   events. The plain join's reply also carries the room's last 20 messages;
   a client that used them would fill short gaps but would need its own
   de-duplication (that is what ``since`` does): the report shows what that
   history would have covered and how many duplicates it would bring.

On Linux with two CPUs or more, the client (this process) is pinned to one
CPU and the server process to another; ``--no-pin`` turns that off.

How to run
----------
::

    make bench
    .venv/bin/python benchmarks/reconnect.py            # about 25 s
    .venv/bin/python benchmarks/reconnect.py --quick    # smoke run, about 7 s
    .venv/bin/python benchmarks/reconnect.py --drops 200 --seed 7
    .venv/bin/python benchmarks/reconnect.py --outages 0    # drops only, about 15 s
    .venv/bin/python benchmarks/reconnect.py --downtime-min 2000 --downtime-max 3000

How to read the output
----------------------
A header (settings, seed, noise note), one line per wsnb drop (the pause
before it, reconnect, accepted -> joined, joined -> caught up, recover, how
many messages the rejoin replayed), one line per outage (pause, downtime,
how long ``server.stop()`` took, backoff waits, listening -> accepted ->
joined -> caught up, recover, replayed), one line per plain drop, then the
summaries: wsnb drops (p50 / p99 / max, lost, duplicated, the subscriber's
stats and its reconnect delays), wsnb outages (the same), plain, and the
goals (recover p50 < 150 ms, p99 < 1 s, lost = 0, duplicated = 0) with PASS /
MISS. The goals are for the drops only: an outage's recovery includes the
backoff wait and is not held to them. On a shared 2-core machine a
single reconnection can take several times the median when another process
holds the CPU, so read the medians and percentiles, not single drops; p99
over 50 drops is close to the slowest drop (it interpolates between the two
slowest). The last line, ``recover_p50_ms=X recover_p99_ms=Y lost=N
duplicated=M``, is for scripts to parse (the wsnb subscriber's figures for
the drops). Unless ``--outages 0``, the line before it,
``outage_recover_p50_ms=X outage_recover_p99_ms=Y lost=N duplicated=M``,
gives the same figures for the outages (recover measured from "listening
again").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Any

from harness import pick_cpus, sigterm_as_interrupt, stop_child
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import wsnb

ROOM = "bench"
SUB_PATH = "/sub"  # the subscriber connects here, the plain client to PLAIN_PATH:
PLAIN_PATH = "/plain"  # Rooms ignores the path, the server's timestamps use it

DEFAULT_DROPS = 50
DEFAULT_PLAIN_DROPS = 10
DEFAULT_INTERVAL_MS = 4.0
DEFAULT_GAP_MS = (100.0, 300.0)
DEFAULT_SEED = 20240611
DEFAULT_OUTAGES = 10
DEFAULT_DOWNTIME_MS = (200.0, 1000.0)
QUICK = {"drops": 10, "outages": 3, "plain_drops": 3}

GOAL_P50_MS = 150.0
GOAL_P99_MS = 1000.0

START_TIMEOUT = 30.0  # seconds for the server process to report its port
REPLY_TIMEOUT = 10.0  # seconds for the server process to answer a command
STOP_TIMEOUT = 5.0  # seconds for the server process to end on request
CATCH_UP_WAIT = 10.0  # seconds for the subscriber to recover from one drop
DRAIN_WAIT = 5.0  # seconds for the last published number to arrive at the end
PLAIN_WAIT = 12.0  # seconds for the plain client to rejoin after one drop
PLAIN_PHASE_LIMIT = 45.0  # seconds for the whole plain phase
SETTLE = 0.2  # seconds of steady publishing before the first drop


# --------------------------------------------------------------------------
# Server side: runs in the child process.
# --------------------------------------------------------------------------


Emit = Callable[[str, Any], None]


class TimedRooms(wsnb.Rooms):
    """``wsnb.Rooms`` that reports accepted connections and processed joins, with times."""

    def __init__(self, emit: Emit, **options: Any) -> None:
        super().__init__(**options)
        self._emit = emit
        self._numbers = itertools.count(1)  # not id(): ids of closed connections are reused
        self._known: dict[Any, tuple[int, str]] = {}  # connection -> (number, path)

    async def __call__(self, connection: Any) -> None:
        key, path = next(self._numbers), connection.request.path
        self._known[connection] = (key, path)
        self._emit("accept", (key, path, time.monotonic()))
        try:
            await super().__call__(connection)
        finally:
            del self._known[connection]

    def _send(self, outgoing: list[Any]) -> None:
        for out in outgoing:
            message = out.message
            if message.get("type") == "reply" and message.get("re") == "join" and out.to:
                key, path = self._known.get(out.to[0], (0, "?"))
                data = message["data"]
                self._emit(
                    "join",
                    (
                        key,
                        path,
                        time.monotonic(),
                        data["seq"],
                        data.get("recovered"),
                        len(data["history"]),
                    ),
                )
        super()._send(outgoing)


async def _serve(conn: Connection) -> None:
    """Serve the room, publish on request, drop on request, until "stop" (or EOF)."""
    loop = asyncio.get_running_loop()
    rooms = TimedRooms(lambda tag, value: conn.send((tag, value)), rooms=[ROOM])
    server = await wsnb.serve(rooms, name="reconnect-bench")
    port = server.port
    stopped: asyncio.Future[None] = loop.create_future()
    publisher: asyncio.Task[None] | None = None
    outage_task: asyncio.Task[None] | None = None
    published = 0

    async def outage(downtime: float) -> None:
        """Stop listening and close every connection; serve again on the same port later."""
        nonlocal server
        try:
            stopping_at, published_at_stop = time.monotonic(), published
            count = len(server.connections)
            await server.stop()
            down_at = time.monotonic()
            await asyncio.sleep(max(0.0, downtime - (down_at - stopping_at)))
            server = await wsnb.serve(rooms, name="reconnect-bench", port=port)
            listening_at = time.monotonic()
            conn.send(
                (
                    "outage",
                    (stopping_at, down_at, listening_at, count, published_at_stop, published),
                )
            )
        except Exception as exc:
            conn.send(("error", f"outage: {type(exc).__name__}: {exc}"))

    async def publish_forever(interval: float) -> None:
        nonlocal published
        due = time.monotonic()
        while True:
            due += interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                due = time.monotonic()  # late: go on from now, no burst to catch up
                await asyncio.sleep(0)
            published += 1
            rooms.publish(ROOM, published)

    def answer() -> None:
        nonlocal publisher, outage_task
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            request = ("stop",)
        command = request[0]
        if command == "start":
            if publisher is None:
                publisher = loop.create_task(publish_forever(request[1]))
            conn.send(("start", published + 1))
        elif command == "stop_publishing":
            if publisher is not None:
                publisher.cancel()
                publisher = None
            conn.send(("stop_publishing", published))
        elif command == "drop":
            dropped_at = time.monotonic()
            count = wsnb.faults.drop_connections(server)
            conn.send(("drop", (dropped_at, count, published)))
        elif command == "outage":
            outage_task = loop.create_task(outage(request[1]))
        elif not stopped.done():
            stopped.set_result(None)

    loop.add_reader(conn.fileno(), answer)
    try:
        conn.send(("port", server.port))
        await stopped
    finally:
        loop.remove_reader(conn.fileno())
        if publisher is not None:
            publisher.cancel()
        if outage_task is not None and not outage_task.done():
            outage_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outage_task
        wsnb.faults.drop_connections(server)  # a closing handshake could wait for nobody
        await server.stop()


def server_process(conn: Connection, cpu: int | None) -> None:
    """Entry point of the server's child process, pinned to ``cpu`` if given."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
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
# Parent side: the server process and its pipe.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Accept:
    key: int
    path: str
    at: float


@dataclass(frozen=True)
class Join:
    key: int
    path: str
    at: float
    seq: int  # the room's latest message when the join was processed
    recovered: bool | None
    history: int  # messages in the join reply


class ServerProcess:
    """The Rooms server in its own child process, started at construction.

    Before :meth:`attach` the pipe is read synchronously (the port); after,
    from the event loop: replies resolve :meth:`request`, and the server's
    ``accept`` and ``join`` reports are appended to :attr:`accepts` and
    :attr:`joins` as they come, setting :attr:`changed`.
    """

    def __init__(self, context: SpawnContext, cpu: int | None) -> None:
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=server_process,
            args=(child_conn, cpu),
            name="reconnect-bench-server",
            daemon=True,  # one more guard: multiprocessing ends it at exit
        )
        self._process.start()
        child_conn.close()
        self.accepts: list[Accept] = []
        self.joins: list[Join] = []
        self.changed: asyncio.Event | None = None
        self._replies: dict[str, asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            if not self._conn.poll(START_TIMEOUT):
                raise TimeoutError(f"the server process did not start within {START_TIMEOUT} s")
            tag, value = self._conn.recv()
            if tag != "port":
                raise RuntimeError(f"server: {value}")
            self.port: int = value
        except BaseException:
            self.close()
            raise

    def attach(self) -> None:
        """Read the pipe from the running loop from now on."""
        self._loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()
        self._loop.add_reader(self._conn.fileno(), self._on_readable)

    def detach(self) -> None:
        """Stop reading the pipe from the loop (if the loop is still there)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._conn.fileno())
        self._loop = None

    def _on_readable(self) -> None:
        assert self.changed is not None
        try:
            while self._conn.poll():
                tag, value = self._conn.recv()
                if tag == "accept":
                    self.accepts.append(Accept(*value))
                elif tag == "join":
                    self.joins.append(Join(*value))
                elif tag in self._replies:
                    self._replies.pop(tag).set_result(value)
                else:
                    self._fail(RuntimeError(f"server: {value}"))
                    return
        except (EOFError, OSError):
            self._fail(RuntimeError("the server process ended unexpectedly"))
            return
        self.changed.set()

    def _fail(self, error: Exception) -> None:
        self.detach()
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)
        self._replies.clear()

    async def request(self, *command: Any) -> Any:
        """Send a command; return the server's reply."""
        assert self._loop is not None, "attach() first"
        future = self._loop.create_future()
        self._replies[command[0]] = future
        self._conn.send(command)
        async with asyncio.timeout(REPLY_TIMEOUT):
            return await future

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds (rechecked whenever ``changed`` is set)."""
        assert self.changed is not None
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Stop the process: ask politely, then terminate, then kill."""
        self.detach()
        stop_child(self._process, self._conn, ("stop",), STOP_TIMEOUT)


# --------------------------------------------------------------------------
# Client side: what arrived, and when.
# --------------------------------------------------------------------------


@dataclass
class Tally:
    """Every number an application received: when first, how often, in what order."""

    first_at: dict[int, float] = field(default_factory=dict)
    deliveries: int = 0
    out_of_order: int = 0
    lost_events: int = 0
    last: int = 0
    order: list[tuple[int, float]] = field(default_factory=list)

    def add(self, number: int, at: float) -> None:
        self.deliveries += 1
        if number in self.first_at:
            return
        if number < self.last:  # arrived after a later number
            self.out_of_order += 1
        self.first_at[number] = at
        self.order.append((number, at))
        self.last = max(self.last, number)

    def lost(self, first: int, last: int) -> int:
        return sum(1 for n in range(first, last + 1) if n not in self.first_at)

    @property
    def duplicated(self) -> int:
        return self.deliveries - len(self.first_at)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def goal_percentiles(recover_ms: Sequence[float], attempts: int) -> tuple[float, float]:
    """p50 and p99 of the recoveries, counting each one that never happened as infinite."""
    padded = list(recover_ms) + [float("inf")] * (attempts - len(recover_ms))
    if not padded:
        return float("inf"), float("inf")
    return percentile(padded, 0.5), percentile(padded, 0.99)


def spread(values_ms: Sequence[float]) -> str:
    if not values_ms:
        return "no data"
    return (
        f"p50 {percentile(values_ms, 0.5):7.1f}  p99 {percentile(values_ms, 0.99):7.1f}"
        f"  max {max(values_ms):7.1f} ms"
    )


@dataclass
class SubDrop:
    """One forced drop of the subscriber, as measured."""

    pause: float
    dropped_at: float
    published_at_drop: int
    accepted: Accept | None = None
    joined: Join | None = None
    caught_up_at: float | None = None

    @property
    def complete(self) -> bool:
        return self.caught_up_at is not None

    def ms(self, start: float | None, end: float | None) -> float:
        assert start is not None and end is not None
        return (end - start) * 1000


# --------------------------------------------------------------------------
# Phase 1: wsnb's subscriber.
# --------------------------------------------------------------------------


async def consume(sub: wsnb.Subscriber, tally: Tally, changed: asyncio.Event) -> None:
    """The application: read every event, note each number and when it arrived."""
    while True:
        event = await sub.next()
        at = time.monotonic()
        if event.get("type") == "lost":
            tally.lost_events += 1
        else:
            tally.add(int(event["data"]["body"]), at)
        changed.set()


def _timeline_open_after(sub: wsnb.Subscriber, after: float) -> float | None:
    for at, event, _ in sub.timeline:
        if event == "open" and at >= after:
            return at
    return None


@dataclass
class Session:
    """A subscriber reading the bench room while the server publishes into it."""

    sub: wsnb.Subscriber
    tally: Tally
    first: int = 0
    last: int = 0


@contextlib.asynccontextmanager
async def publishing_session(
    server: ServerProcess, args: argparse.Namespace
) -> AsyncIterator[Session]:
    """Subscribe, start publishing, and afterwards drain what was published and close."""
    assert server.changed is not None
    sub = await wsnb.subscribe(f"ws://127.0.0.1:{server.port}{SUB_PATH}", [ROOM])
    session = Session(sub, Tally())
    consumer = asyncio.create_task(consume(sub, session.tally, server.changed))
    try:
        session.first = await server.request("start", args.interval / 1000)
        await asyncio.sleep(SETTLE)
        yield session
        session.last = await server.request("stop_publishing")
        await server.wait_for(lambda: session.tally.last >= session.last, DRAIN_WAIT)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await sub.close()


def first_join_after(server: ServerProcess, at: float) -> Join | None:
    """The subscriber's first join the server processed after ``at``, if any."""
    return next((j for j in server.joins if j.path == SUB_PATH and j.at > at), None)


async def run_subscriber(
    server: ServerProcess, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    drops: list[SubDrop] = []
    async with publishing_session(server, args) as session:
        sub, tally = session.sub, session.tally
        print(
            f"{'drop':>4} {'pause':>6} | {'reconnect':>9} {'acc->join':>9} "
            f"{'join->up':>8} {'RECOVER':>8} | {'replayed':>8}   (ms, replayed: messages)"
        )
        for index in range(args.drops):
            pause = rng.uniform(args.gap_min, args.gap_max) / 1000
            await asyncio.sleep(pause)
            dropped_at, count, published = await server.request("drop")
            drop = SubDrop(pause, dropped_at, published)
            drops.append(drop)

            def rejoined(drop: SubDrop = drop) -> bool:
                drop.joined = first_join_after(server, drop.dropped_at)
                return (
                    drop.joined is not None
                    and tally.last >= drop.joined.seq
                    and sub.state == "open"
                )

            if await server.wait_for(rejoined, CATCH_UP_WAIT):
                _finish_sub_drop(drop, server, sub, tally)
            _print_sub_drop(index + 1, drop, count)
    return {
        "drops": drops,
        "tally": tally,
        "first": session.first,
        "last": session.last,
        "sub": sub,
    }


def _finish_sub_drop(
    drop: SubDrop, server: ServerProcess, sub: wsnb.Subscriber, tally: Tally
) -> None:
    joined = drop.joined
    assert joined is not None
    drop.accepted = next(a for a in server.accepts if a.key == joined.key)
    opened = _timeline_open_after(sub, drop.accepted.at)
    got = tally.first_at.get(joined.seq)
    if got is None or got < drop.dropped_at:
        drop.caught_up_at = opened  # nothing to replay: caught up once reopened
    else:
        drop.caught_up_at = got if opened is None else max(got, opened)


def _print_sub_drop(number: int, drop: SubDrop, count: int) -> None:
    if not drop.complete or drop.accepted is None or drop.joined is None:
        print(
            f"{number:>4} {drop.pause * 1000:>6.0f} | not recovered within {CATCH_UP_WAIT} s "
            f"({count} connections dropped)",
            flush=True,
        )
        return
    replayed = drop.joined.seq - drop.published_at_drop
    print(
        f"{number:>4} {drop.pause * 1000:>6.0f} "
        f"| {drop.ms(drop.dropped_at, drop.accepted.at):>9.1f} "
        f"{drop.ms(drop.accepted.at, drop.joined.at):>9.1f} "
        f"{drop.ms(drop.joined.at, drop.caught_up_at):>8.1f} "
        f"{drop.ms(drop.accepted.at, drop.caught_up_at):>8.1f} "
        f"| {drop.joined.history:>8}"
        + ("" if drop.joined.recovered else "  NOT RECOVERED")
        + ("" if replayed == drop.joined.history else f"  (gap {replayed})"),
        flush=True,
    )


def report_subscriber(result: dict[str, Any]) -> tuple[float, float, int, int]:
    drops: list[SubDrop] = result["drops"]
    tally: Tally = result["tally"]
    sub: wsnb.Subscriber = result["sub"]
    done = [d for d in drops if d.complete and d.accepted and d.joined]
    reconnect = [d.ms(d.dropped_at, d.accepted.at) for d in done if d.accepted]
    to_join = [d.ms(d.accepted.at, d.joined.at) for d in done if d.accepted and d.joined]
    join_up = [d.ms(d.joined.at, d.caught_up_at) for d in done if d.joined]
    recover = [d.ms(d.accepted.at, d.caught_up_at) for d in done if d.accepted]
    total = [d.ms(d.dropped_at, d.caught_up_at) for d in done]
    replayed = sorted(d.joined.history for d in done if d.joined)
    lost = tally.lost(result["first"], result["last"])
    published = result["last"] - result["first"] + 1
    print()
    print(
        f"wsnb.subscribe(url, [{ROOM!r}]), notebook_backoff(): {len(drops)} drops, "
        f"{len(done)} recovered within {CATCH_UP_WAIT:.0f} s"
    )
    print(f"  drop -> reconnected (server accepted)   {spread(reconnect)}")
    print(f"  accepted -> join processed (server)     {spread(to_join)}")
    print(f"  join processed -> caught up (app)       {spread(join_up)}")
    print(f"  RECOVER: accepted -> caught up          {spread(recover)}")
    print(f"  drop -> caught up                       {spread(total)}")
    if replayed:
        print(
            f"  replayed per rejoin: median {percentile(replayed, 0.5):.0f}, "
            f"max {replayed[-1]} messages"
        )
    print(
        f"  messages: published {published} (#{result['first']}-#{result['last']}), "
        f"delivered {tally.deliveries}, lost {lost}, duplicated {tally.duplicated}, "
        f"out of order {tally.out_of_order}, 'lost' events {tally.lost_events}"
    )
    stats = sub.stats
    print(
        "  subscriber stats: "
        + ", ".join(f"{name}={getattr(stats, name)}" for name in type(stats).__dataclass_fields__)
    )
    retries = [detail for _, event, detail in sub.timeline if event == "retry"]
    print(
        f"  reconnect delays waited (backoff after a failed attempt): {len(retries)}"
        + (f" ({', '.join(retries[:5])}{', ...' if len(retries) > 5 else ''})" if retries else "")
    )
    p50, p99 = goal_percentiles(recover, len(drops))
    return p50, p99, lost, tally.duplicated


# --------------------------------------------------------------------------
# Phase 1b: wsnb's subscriber through server outages.
# --------------------------------------------------------------------------


@dataclass
class Outage:
    """One outage: the server stopped (listener and connections), then served again."""

    pause: float
    downtime: float  # as drawn
    stopping_at: float  # server.stop() called
    down_at: float  # server.stop() returned
    listening_at: float  # wsnb.serve() on the same port returned
    connections: int  # connections open when it stopped
    published_at_stop: int
    published_at_listen: int
    retries: int = 0  # the subscriber's backoff waits during this outage
    accepted: Accept | None = None
    joined: Join | None = None
    caught_up_at: float | None = None

    @property
    def complete(self) -> bool:
        return self.caught_up_at is not None and self.accepted is not None

    def ms(self, start: float | None, end: float | None) -> float:
        assert start is not None and end is not None
        return (end - start) * 1000


async def run_outages(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(f"{args.seed}/outages")  # the other phases' pauses stay as they were
    outages: list[Outage] = []
    async with publishing_session(server, args) as session:
        sub, tally = session.sub, session.tally
        print(
            f"{'out':>4} {'pause':>6} {'down':>6} | {'stop':>6} {'retries':>7} "
            f"{'lis->acc':>8} {'acc->join':>9} {'join->up':>8} {'RECOVER':>8} | "
            f"{'replayed':>8}   (ms; RECOVER: listening again -> caught up)"
        )
        for index in range(args.outages):
            pause = rng.uniform(args.gap_min, args.gap_max) / 1000
            downtime = rng.uniform(args.downtime_min, args.downtime_max) / 1000
            await asyncio.sleep(pause)
            outage = Outage(pause, downtime, *await server.request("outage", downtime))
            outages.append(outage)

            def caught_up(outage: Outage = outage) -> bool:
                outage.joined = first_join_after(server, outage.stopping_at)
                return (
                    outage.joined is not None
                    and tally.last >= outage.joined.seq
                    and sub.state == "open"
                )

            if await server.wait_for(caught_up, CATCH_UP_WAIT):
                _finish_outage(outage, server, sub, tally)
            _print_outage(index + 1, outage)
    return {
        "outages": outages,
        "tally": tally,
        "first": session.first,
        "last": session.last,
        "sub": sub,
    }


def _finish_outage(
    outage: Outage, server: ServerProcess, sub: wsnb.Subscriber, tally: Tally
) -> None:
    joined = outage.joined
    assert joined is not None
    outage.accepted = next(a for a in server.accepts if a.key == joined.key)
    outage.retries = sum(
        1
        for at, event, _ in sub.timeline
        if event == "retry" and outage.stopping_at <= at <= outage.accepted.at
    )
    opened = _timeline_open_after(sub, outage.accepted.at)
    got = tally.first_at.get(joined.seq)
    if got is None or got < outage.stopping_at:
        outage.caught_up_at = opened  # nothing to replay: caught up once reopened
    else:
        outage.caught_up_at = got if opened is None else max(got, opened)


def _print_outage(number: int, outage: Outage) -> None:
    head = (
        f"{number:>4} {outage.pause * 1000:>6.0f} {outage.downtime * 1000:>6.0f} "
        f"| {outage.ms(outage.stopping_at, outage.down_at):>6.1f} "
    )
    if not outage.complete or outage.accepted is None or outage.joined is None:
        print(head + f"not recovered within {CATCH_UP_WAIT} s", flush=True)
        return
    print(
        head + f"{outage.retries:>7} "
        f"{outage.ms(outage.listening_at, outage.accepted.at):>8.1f} "
        f"{outage.ms(outage.accepted.at, outage.joined.at):>9.1f} "
        f"{outage.ms(outage.joined.at, outage.caught_up_at):>8.1f} "
        f"{outage.ms(outage.listening_at, outage.caught_up_at):>8.1f} "
        f"| {outage.joined.history:>8}" + ("" if outage.joined.recovered else "  NOT RECOVERED"),
        flush=True,
    )


def report_outages(result: dict[str, Any]) -> tuple[float, float, int, int]:
    outages: list[Outage] = result["outages"]
    tally: Tally = result["tally"]
    sub: wsnb.Subscriber = result["sub"]
    done = [o for o in outages if o.complete and o.accepted and o.joined]
    stop = [o.ms(o.stopping_at, o.down_at) for o in outages]
    down = [o.ms(o.stopping_at, o.listening_at) for o in outages]
    to_accept = [o.ms(o.listening_at, o.accepted.at) for o in done if o.accepted]
    to_join = [o.ms(o.accepted.at, o.joined.at) for o in done if o.accepted and o.joined]
    join_up = [o.ms(o.joined.at, o.caught_up_at) for o in done if o.joined]
    recover = [o.ms(o.listening_at, o.caught_up_at) for o in done]
    total = [o.ms(o.stopping_at, o.caught_up_at) for o in done]
    replayed = sorted(o.joined.history for o in done if o.joined)
    lost = tally.lost(result["first"], result["last"])
    published = result["last"] - result["first"] + 1
    print()
    print(
        f"wsnb.subscribe(url, [{ROOM!r}]), notebook_backoff(): {len(outages)} server outages "
        f"(server.stop(), then wsnb.serve() on the same port), "
        f"{len(done)} recovered within {CATCH_UP_WAIT:.0f} s"
    )
    print(f"  server.stop() took                      {spread(stop)}")
    print(f"  stopped -> listening again (downtime)   {spread(down)}")
    print(f"  listening -> accepted (backoff wait)    {spread(to_accept)}")
    print(f"  accepted -> join processed (server)     {spread(to_join)}")
    print(f"  join processed -> caught up (app)       {spread(join_up)}")
    print(f"  RECOVER: listening -> caught up         {spread(recover)}")
    print(f"  stopped -> caught up                    {spread(total)}")
    if replayed:
        print(
            f"  replayed per rejoin: median {percentile(replayed, 0.5):.0f}, "
            f"max {replayed[-1]} messages"
        )
    print(
        f"  messages: published {published} (#{result['first']}-#{result['last']}), "
        f"delivered {tally.deliveries}, lost {lost}, duplicated {tally.duplicated}, "
        f"out of order {tally.out_of_order}, 'lost' events {tally.lost_events}"
    )
    stats = sub.stats
    print(
        "  subscriber stats: "
        + ", ".join(f"{name}={getattr(stats, name)}" for name in type(stats).__dataclass_fields__)
    )
    retries = [o.retries for o in done]
    if retries:
        print(
            f"  backoff waits per outage: median {percentile(retries, 0.5):.0f}, max {max(retries)}"
        )
    p50, p99 = goal_percentiles(recover, len(outages))
    return p50, p99, lost, tally.duplicated


# --------------------------------------------------------------------------
# Phase 2: a plain websockets client, no resume.
# --------------------------------------------------------------------------


@dataclass
class PlainState:
    live: Tally = field(default_factory=Tally)
    history: set[int] = field(default_factory=set)  # numbers seen in join replies
    history_dupes: int = 0  # of those, numbers also received live
    connections: int = 0


async def plain_client(url: str, state: PlainState, changed: asyncio.Event) -> None:
    """websockets' reconnecting loop at its defaults; hello and join after each connection."""
    async with contextlib.aclosing(connect(url, proxy=None).__aiter__()) as connections:
        async for ws in connections:  # i.e. `async for ws in connect(url, proxy=None)`
            state.connections += 1
            try:
                await ws.send(json.dumps({"type": "hello", "data": {"name": "plain"}}))
                await ws.send(json.dumps({"type": "join", "id": 1, "room": ROOM}))
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "message":
                        state.live.add(int(message["data"]["body"]), time.monotonic())
                        changed.set()
                    elif message.get("type") == "reply" and message.get("re") == "join":
                        for old in message["data"]["history"]:
                            state.history.add(int(old["data"]["body"]))
            except ConnectionClosed:
                pass  # dropped: websockets reconnects at once (the connection had succeeded)


@dataclass
class PlainDrop:
    pause: float
    dropped_at: float
    accepted: Accept | None = None
    joined: Join | None = None
    first_live_at: float | None = None


async def run_plain(
    server: ServerProcess, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    assert server.changed is not None
    url = f"ws://127.0.0.1:{server.port}{PLAIN_PATH}"
    state = PlainState()
    changed = server.changed
    joins_before = len(server.joins)
    client = asyncio.create_task(plain_client(url, state, changed))
    drops: list[PlainDrop] = []
    first = last = 0
    try:
        joined = await server.wait_for(
            lambda: any(j.path == PLAIN_PATH for j in server.joins[joins_before:]), PLAIN_WAIT
        )
        if not joined:
            raise RuntimeError(f"the plain client did not join within {PLAIN_WAIT} s")
        first = await server.request("start", args.interval / 1000)
        await asyncio.sleep(SETTLE)
        deadline = time.monotonic() + PLAIN_PHASE_LIMIT
        print(
            f"{'drop':>4} {'pause':>6} | {'reconnect':>9} {'rejoined':>9} {'1st live':>9} "
            f"| {'lost':>5}   (ms from the drop; lost: live messages never received)"
        )
        for index in range(args.plain_drops):
            if time.monotonic() > deadline:
                print(f"(plain phase over {PLAIN_PHASE_LIMIT:.0f} s: stopped after {index} drops)")
                break
            pause = rng.uniform(args.gap_min, args.gap_max) / 1000
            await asyncio.sleep(pause)
            dropped_at, _, _ = await server.request("drop")
            drop = PlainDrop(pause, dropped_at)
            drops.append(drop)

            def live_again(drop: PlainDrop = drop) -> bool:
                joins = [j for j in server.joins if j.path == PLAIN_PATH and j.at > drop.dropped_at]
                if not joins:
                    return False
                drop.joined = joins[0]
                return state.live.last > drop.joined.seq

            wait = min(PLAIN_WAIT, max(0.0, deadline - time.monotonic()))
            await server.wait_for(live_again, wait)
            _record_plain_drop(index + 1, drop, server, state)
        last = await server.request("stop_publishing")
        await server.wait_for(lambda: state.live.last >= last, DRAIN_WAIT)
    finally:
        client.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await client
    return {"drops": drops, "state": state, "first": first, "last": last}


def _record_plain_drop(
    number: int, drop: PlainDrop, server: ServerProcess, state: PlainState
) -> None:
    """Complete the drop's record from the server's reports; print its line."""
    if drop.joined is None:
        print(f"{number:>4} {drop.pause * 1000:>6.0f} | not rejoined within the wait", flush=True)
        return
    joined = drop.joined
    drop.accepted = next(a for a in server.accepts if a.key == joined.key)
    drop.first_live_at = next((at for n, at in state.live.order if at > joined.at), None)
    before = max((n for n, at in state.live.order if at < drop.dropped_at), default=0)
    after = min((n for n, at in state.live.order if at > joined.at), default=joined.seq + 1)
    lost = sum(1 for n in range(before + 1, after) if n not in state.live.first_at)
    first_live = (
        "-"
        if drop.first_live_at is None
        else f"{(drop.first_live_at - drop.dropped_at) * 1000:.1f}"
    )
    print(
        f"{number:>4} {drop.pause * 1000:>6.0f} "
        f"| {(drop.accepted.at - drop.dropped_at) * 1000:>9.1f} "
        f"{(joined.at - drop.dropped_at) * 1000:>9.1f} {first_live:>9} | {lost:>5}",
        flush=True,
    )


def report_plain(result: dict[str, Any]) -> None:
    drops: list[PlainDrop] = result["drops"]
    state: PlainState = result["state"]
    first, last = result["first"], result["last"]
    done = [d for d in drops if d.accepted is not None and d.joined is not None]
    reconnect = [(d.accepted.at - d.dropped_at) * 1000 for d in done if d.accepted]
    rejoined = [(d.joined.at - d.dropped_at) * 1000 for d in done if d.joined]
    lost = state.live.lost(first, last)
    published = last - first + 1
    seen = set(state.live.first_at) | state.history
    lost_with_history = sum(1 for n in range(first, last + 1) if n not in seen)
    dupes_with_history = sum(
        1 for n in state.history if n in state.live.first_at and first <= n <= last
    )
    print()
    print(
        f"plain websockets client (connect(url, proxy=None), default backoff, no resume): "
        f"{len(drops)} drops, {len(done)} rejoined, {state.connections} connections"
    )
    print(f"  drop -> reconnected (server accepted)   {spread(reconnect)}")
    print(f"  drop -> rejoined (join processed)       {spread(rejoined)}")
    per_drop = f" ({lost / len(drops):.1f} per drop)" if drops else ""
    print(
        f"  messages: published {published}, received live {len(state.live.first_at)}, "
        f"LOST {lost}{per_drop}, duplicated {state.live.duplicated}"
    )
    print(
        f"  had it used the join reply's 20 recent messages: {lost_with_history} lost, "
        f"{dupes_with_history} duplicates to filter out by itself"
    )


# --------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------


async def run(
    args: argparse.Namespace,
    context: SpawnContext,
    cpus: tuple[int, int] | None,
    holder: list[ServerProcess],
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    server = ServerProcess(context, None if cpus is None else cpus[1])
    holder.append(server)
    server.attach()
    rng = random.Random(args.seed)
    print(f"== wsnb subscriber: {args.drops} drops ==", flush=True)
    sub_result = await run_subscriber(server, args, rng)
    outage_result = None
    if args.outages:
        print(f"\n== wsnb subscriber: {args.outages} server outages ==", flush=True)
        outage_result = await run_outages(server, args)
    print(f"\n== plain websockets client: {args.plain_drops} drops ==", flush=True)
    plain_result = await run_plain(server, args, rng)
    server.detach()
    return sub_result, outage_result, plain_result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Recovery of wsnb's reconnecting subscriber from forced drops, "
        "against a plain websockets client.",
    )
    parser.add_argument(
        "--drops", type=int, help=f"forced drops for the wsnb subscriber (default {DEFAULT_DROPS})"
    )
    parser.add_argument(
        "--plain-drops",
        type=int,
        help=f"forced drops for the plain websockets client (default {DEFAULT_PLAIN_DROPS})",
    )
    parser.add_argument(
        "--outages",
        type=int,
        help=f"server outages for the wsnb subscriber, after its drops (default "
        f"{DEFAULT_OUTAGES}, --quick {QUICK['outages']}; 0 skips them)",
    )
    parser.add_argument(
        "--downtime-min",
        type=float,
        default=DEFAULT_DOWNTIME_MS[0],
        help=f"shortest outage, ms (default {DEFAULT_DOWNTIME_MS[0]:g})",
    )
    parser.add_argument(
        "--downtime-max",
        type=float,
        default=DEFAULT_DOWNTIME_MS[1],
        help=f"longest outage, ms (default {DEFAULT_DOWNTIME_MS[1]:g})",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_MS,
        help=f"ms between published messages (default {DEFAULT_INTERVAL_MS:g})",
    )
    parser.add_argument(
        "--gap-min",
        type=float,
        default=DEFAULT_GAP_MS[0],
        help=f"shortest pause before a drop, ms (default {DEFAULT_GAP_MS[0]:g})",
    )
    parser.add_argument(
        "--gap-max",
        type=float,
        default=DEFAULT_GAP_MS[1],
        help=f"longest pause before a drop, ms (default {DEFAULT_GAP_MS[1]:g})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the pauses (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place client and server instead of pinning them to two CPUs",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run with few drops, about 7 s (explicit options still apply)",
    )
    args = parser.parse_args(argv)
    defaults = (
        QUICK
        if args.quick
        else {
            "drops": DEFAULT_DROPS,
            "outages": DEFAULT_OUTAGES,
            "plain_drops": DEFAULT_PLAIN_DROPS,
        }
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.drops < 1 or args.plain_drops < 0:
        parser.error("--drops must be at least 1 and --plain-drops at least 0")
    if args.outages < 0:
        parser.error("--outages must be at least 0")
    if not 0 <= args.downtime_min <= args.downtime_max <= 5000:
        parser.error("need 0 <= --downtime-min <= --downtime-max <= 5000 ms")
    if not 0 < args.interval <= 1000:
        parser.error("--interval must be in (0, 1000] ms")
    if not 0 <= args.gap_min <= args.gap_max:
        parser.error("need 0 <= --gap-min <= --gap-max")
    return args


def _goal(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = pick_cpus() if args.pin else None
    print("Recovery from forced drops: wsnb.subscribe() vs a plain websockets client")
    print(
        f"server: wsnb.serve(wsnb.Rooms(rooms=[{ROOM!r}])) in its own process, 127.0.0.1; "
        f"it publishes #1, #2, ... every {args.interval:g} ms "
        f"(~{1000 / args.interval:.0f} msg/s) and, on request, aborts every connection "
        "(wsnb.faults.drop_connections)"
    )
    print(
        f"drops: wsnb {args.drops}, plain {args.plain_drops}; pause before each "
        f"{args.gap_min:g}-{args.gap_max:g} ms, random, seed {args.seed}"
    )
    if args.outages:
        print(
            f"outages: wsnb {args.outages} (server.stop(), publishing goes on, wsnb.serve() "
            f"on the same port), downtime {args.downtime_min:g}-{args.downtime_max:g} ms, "
            "random, same pauses before each"
        )
    print(
        "times: time.monotonic() (CLOCK_MONOTONIC, one clock for both processes); "
        "'accepted' = the server's handler started for the new connection"
    )
    if cpus is None:
        print("CPUs: not pinned")
    else:
        print(f"CPUs: client pinned to CPU {cpus[0]}, server to CPU {cpus[1]}")
    print(
        f"Noise: a shared {os.cpu_count()}-core machine (load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}); a single reconnection can take "
        "several times the median when"
    )
    print(
        "another process holds the CPU: read medians and percentiles, not single drops; "
        "with 50 drops p99 is about the slowest one."
    )
    print(flush=True)

    with sigterm_as_interrupt():
        context = multiprocessing.get_context("spawn")
        holder: list[ServerProcess] = []
        started = time.perf_counter()
        try:
            if cpus is not None:
                os.sched_setaffinity(0, {cpus[0]})
            sub_result, outage_result, plain_result = asyncio.run(run(args, context, cpus, holder))
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        finally:
            for server in holder:
                server.close()

    p50, p99, lost, duplicated = report_subscriber(sub_result)
    outage_figures = None if outage_result is None else report_outages(outage_result)
    report_plain(plain_result)
    print()
    print(
        f"goals (wsnb subscriber): recover p50 {p50:.1f} < {GOAL_P50_MS:.0f} ms "
        f"{_goal(p50 < GOAL_P50_MS)}; p99 {p99:.1f} < {GOAL_P99_MS:.0f} ms "
        f"{_goal(p99 < GOAL_P99_MS)}; lost {lost} = 0 {_goal(lost == 0)}; "
        f"duplicated {duplicated} = 0 {_goal(duplicated == 0)}"
    )
    print(f"total time {time.perf_counter() - started:.1f} s")
    if outage_figures is not None:
        o50, o99, olost, odup = outage_figures
        print(
            f"outage_recover_p50_ms={o50:.1f} outage_recover_p99_ms={o99:.1f} "
            f"lost={olost} duplicated={odup}"
        )
    print(f"recover_p50_ms={p50:.1f} recover_p99_ms={p99:.1f} lost={lost} duplicated={duplicated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
