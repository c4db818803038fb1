"""What the benchmarks share: server processes, running a benchmark, options, reports.

The scripts import it with ``from harness import ...`` (Python puts a script's
folder first on ``sys.path``, and the "spawn" children inherit it); the raw
client is in ``rawclient.py``. docs/benchmarks.md says what each benchmark
measures. Nothing here imports websockets or wsnb at import time, so that a
baseline server's process never loads wsnb.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import logging
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar

HOST = "127.0.0.1"
NOISE = 0.07  # identical code measured against itself: ratios within +-7% of 1
START_TIMEOUT = 30.0  # seconds for a server process to report its ports
REPLY_TIMEOUT = 30.0  # seconds for a server process to answer a command
STOP_TIMEOUT = 5.0  # seconds for a server process to end when asked
T = TypeVar("T")


# Server processes: the child's side ------------------------------------------


@dataclass
class Service:
    """A running server kind, as its factory ``async def kind(**options)`` returns it.

    The parent's command ``(name, *args)`` calls ``commands[name](*args)`` ("cpu",
    its CPU time, and "gc", a full collection, are every kind's); what that
    returns, or awaits to, is the reply.
    """

    ports: dict[str, int]
    stop: Callable[[], Awaitable[None]]
    commands: dict[str, Callable[..., Any]] = field(default_factory=dict)


_parent: Connection | None = None  # in a server process: the pipe to the parent


def emit(tag: str, value: Any) -> None:
    """In a server process: send the parent ``(tag, value)``, a reply or a report."""
    assert _parent is not None, "emit() runs in a server process"
    _parent.send((tag, value))


async def _command(commands: dict[str, Callable[..., Any]], name: str, args: list[Any]) -> None:
    try:
        result = commands[name](*args)
        emit(name, await result if inspect.isawaitable(result) else result)
    except Exception as exc:
        emit("error", f"{name}: {type(exc).__name__}: {exc}")


async def _serve(factory: Callable[..., Awaitable[Service]], options: dict[str, Any]) -> None:
    """Start the service, report its ports, run commands until "stop" (or EOF)."""
    assert _parent is not None
    conn, loop = _parent, asyncio.get_running_loop()
    service = await factory(**options)
    commands = {"cpu": time.process_time, "gc": gc.collect, **service.commands}
    stopped: asyncio.Future[None] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    def on_readable() -> None:
        try:
            name, *args = conn.recv()
        except (EOFError, OSError):  # the parent went away
            name, args = "stop", []
        if name != "stop":
            task = loop.create_task(_command(commands, name, args))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif not stopped.done():
            stopped.set_result(None)

    loop.add_reader(conn.fileno(), on_readable)
    try:
        emit("ready", service.ports)
        await stopped
    finally:
        loop.remove_reader(conn.fileno())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await service.stop()


def _child(
    factory: Any, options: dict[str, Any], conn: Connection, cpu: int | None, fds: int
) -> None:
    """Entry point of a server process, pinned to ``cpu`` if given."""
    global _parent
    _parent = conn
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        raise_fd_limit(fds)
        logging.getLogger("websockets.server").addFilter(QuietDisconnects())
        asyncio.run(_serve(factory, options))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
        pass
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


class QuietDisconnects(logging.Filter):
    """Drop the tracebacks of handlers that end with ConnectionClosed (aborted clients)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from websockets.exceptions import ConnectionClosed  # only when something is logged

        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionClosed))


# Server processes: the parent's side -----------------------------------------


class ServerProcess:
    """A server of one kind in its own process, pinned to ``cpu``; see :class:`Service`.

    Made in a running loop, which then reads the pipe: replies resolve the
    futures of :meth:`send`, other reports go to ``on_event(tag, value)``.
    """

    def __init__(
        self, factory: Any, options: dict[str, Any], cpu: int | None, fds: int, name: str
    ) -> None:
        self.name, context = name, multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        args = (factory, options, child_conn, cpu, fds)
        self._process = context.Process(target=_child, args=args, name=name, daemon=True)
        self._process.start()
        child_conn.close()
        self._loop = asyncio.get_running_loop()
        self._waiting: dict[str, asyncio.Future[Any]] = {}  # one command of a name at a time
        self.on_event: Callable[[str, Any], None] | None = None
        try:
            tag, self.ports = self._conn.recv() if self._conn.poll(START_TIMEOUT) else ("", None)
            if tag != "ready":
                raise RuntimeError(f"{name}: {self.ports or 'not ready in time'}")
        except BaseException:
            self.close()
            raise
        self.pid, self.port = self._process.pid, next(iter(self.ports.values()))
        self._loop.add_reader(self._conn.fileno(), self._on_readable)

    def send(self, *command: Any) -> asyncio.Future[Any]:
        """Send a command now; the returned future gets its reply."""
        future = self._waiting[command[0]] = self._loop.create_future()
        self._conn.send(command)
        return future

    async def request(self, *command: Any) -> Any:
        return await reply(self.send(*command))

    async def cpu_time(self) -> float:
        """CPU seconds (user + system) the process has used so far."""
        return float(await self.request("cpu"))

    def memory(self) -> dict[str, int]:
        """The process's VmRSS and VmHWM (peak RSS), in bytes."""
        with open(f"/proc/{self.pid}/status") as status:
            lines = [line.split() for line in status]
        return {ln[0][:-1]: int(ln[1]) * 1024 for ln in lines if ln[0] in ("VmRSS:", "VmHWM:")}

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS; False if the kernel refuses."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            return True
        except OSError:
            return False

    def _on_readable(self) -> None:
        try:
            while self._conn.poll():
                tag, value = self._conn.recv()
                if tag in self._waiting:
                    if not (future := self._waiting.pop(tag)).done():  # else timed out
                        future.set_result(value)
                elif tag != "error" and self.on_event is not None:
                    self.on_event(tag, value)
                else:
                    return self._fail(f"{self.name}: {value}")
        except (EOFError, OSError):
            self._fail(f"{self.name}: the process ended unexpectedly")

    def _fail(self, message: str) -> None:
        self._loop.remove_reader(self._conn.fileno())
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RuntimeError(message))

    def close(self) -> None:
        """End the process: ask politely, then terminate, then kill."""
        if not self._loop.is_closed():
            self._loop.remove_reader(self._conn.fileno())
        for end in (
            lambda: self._conn.send(("stop",)),
            self._process.terminate,
            self._process.kill,
        ):
            if self._process.is_alive():
                with contextlib.suppress(OSError):
                    end()
                self._process.join(STOP_TIMEOUT)
        self._conn.close()


async def reply(future: asyncio.Future[T], timeout: float = REPLY_TIMEOUT) -> T:
    """The reply that ``future``, from :meth:`ServerProcess.send`, gets within ``timeout``."""
    async with asyncio.timeout(timeout):  # TimeoutError
        return await future


class Servers:
    """A run's server processes, all pinned to ``cpu``; :func:`run` stops them at the end."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu, self.running = cpu, list[ServerProcess]()

    def start(self, factory: Any, count: int = 1, fds: int = 0, **options: Any) -> list[Any]:
        """``count`` :class:`ServerProcess` of the kind ``factory`` makes, with ``options``."""
        for index in range(count):
            name = f"{factory.__name__}-{index}" if count > 1 else factory.__name__
            self.running.append(ServerProcess(factory, options, self.cpu, fds, name))
        return self.running[-count:]

    def stop(self, server: ServerProcess) -> None:
        self.running.remove(server)
        server.close()


def wsnb_service(server: Any, **commands: Callable[..., Any]) -> Service:
    """The Service of a ``wsnb.serve()`` server; it aborts its connections before it stops
    (a closing handshake would wait for clients that may be gone)."""

    async def stop() -> None:
        import wsnb

        wsnb.faults.drop_connections(server)
        await server.stop()

    return Service({server.name: server.port}, stop, commands)


# Running a benchmark ---------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    """Raise this process's soft limit on open files to ``needed`` if it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            raise RuntimeError(f"need {needed} open files, the hard limit is {hard} (ulimit -Hn)")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _cancellable(main: Coroutine[Any, Any, T]) -> T:
    """``main``, cancelled by Ctrl-C or SIGTERM: its clean-up then runs on a live loop."""
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
    return await main


def run(
    experiment: Callable[[Servers], Coroutine[Any, Any, T]], pin: bool, who: tuple[str, str]
) -> T:
    """Run ``experiment(servers)`` on a new loop; stop the servers at the end, even on Ctrl-C
    or SIGTERM (then exit 130). With ``pin`` and two CPUs, this process (``who[0]``, the
    clients) runs on one, the servers (``who[1]``) on the other: left to the scheduler,
    client and server sometimes share a CPU, which alone moves a rate by a third."""
    cpus = sorted(os.sched_getaffinity(0)) if pin else []
    pinned, load = len(cpus) >= 2, " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        (
            f"CPUs: {who[0]} pinned to CPU {cpus[0]}, {who[1]} to CPU {cpus[1]}"
            if pinned
            else "CPUs: not pinned"
        )
        + f"\nNoise: a shared {os.cpu_count()}-core machine (load {load}); absolute figures drift "
        "by tens of percent,\nso read the ratios of interleaved rounds and their medians: "
        f"within {1 - NOISE:.2f}-{1 + NOISE:.2f}, no measurable difference.\n",
        flush=True,
    )
    servers = Servers(cpus[1] if pinned else None)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if pinned:
            os.sched_setaffinity(0, {cpus[0]})
        return asyncio.run(_cancellable(experiment(servers)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        for server in servers.running:
            server.close()
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class Option:
    """A command-line option: ``flag``, its default and its --quick default."""

    flag: str
    default: Any
    help: str
    quick: Any = None
    least: float | None = 1  # the smallest value allowed, if any


def parse_options(
    description: str,
    options: Sequence[Option],
    argv: Sequence[str] | None,
    quick: str,
    check: Callable[[argparse.Namespace], str | None] = lambda args: None,
) -> argparse.Namespace:
    """``options``, ``--no-pin`` and ``--quick`` (a smoke run, ``quick`` long); then ``check``."""
    parser = argparse.ArgumentParser(description=description)
    for o in options:
        note = "" if o.quick is None else f", --quick {o.quick:g}"
        kind = str if o.default is None else type(o.default)
        parser.add_argument(o.flag, type=kind, help=f"{o.help} (default {o.default}{note})")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin to CPUs")
    parser.add_argument("--quick", action="store_true", help=f"smoke run, {quick}")
    args = parser.parse_args(argv)
    for o in options:
        name = o.flag[2:].replace("-", "_")
        if getattr(args, name) is None:
            setattr(args, name, o.quick if args.quick and o.quick is not None else o.default)
        if o.least is not None and getattr(args, name) < o.least:
            parser.error(f"{o.flag} must be at least {o.least:g}")
    if error := check(args):
        parser.error(error)
    return args


# Reports ---------------------------------------------------------------------


def abba(items: Sequence[T], index: int) -> Sequence[T]:
    """``items`` in round ``index`` of interleaved rounds: forwards, backwards, forwards..."""
    return items if index % 2 == 0 else items[::-1]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int, scale: float = 1.0) -> str:
    """``median [min-max]`` of ``values`` times ``scale``, with ``digits`` decimals."""
    low, mid, high = (scale * f(values) for f in (min, statistics.median, max))
    return f"{mid:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def fmt_rate(value: float, whole_from: float = float("inf")) -> str:
    """A rate in thousands: ``12.3k``; whole thousands (``123k``) from ``whole_from`` on."""
    return f"{value / 1000:.0f}k" if value >= whole_from else f"{value / 1000:.1f}k"


def verdict(ratio: float, better: str, worse: str) -> str:
    if abs(ratio - 1) <= NOISE:
        return "no measurable difference"
    return better if ratio > 1 else worse
