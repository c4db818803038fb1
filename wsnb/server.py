"""Servers that live in the background of a running event loop.

:func:`serve` starts a websockets server on the loop that is already running
(a notebook's, or the one of ``asyncio.run`` in a script) and returns at once;
:func:`serve_in_thread` runs one on its own loop in a daemon thread for
synchronous code. Every server wsnb starts is kept in the one registry
(:mod:`wsnb.registry`), so that re-running a cell replaces the server it
started before, and :func:`wsnb.stop_all` reaches them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import signal
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Literal

from websockets.asyncio.server import Server as _WsServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.exceptions import ConnectionClosed

from .display import html_card
from .errors import PortInUseError, WsnbError
from .registry import is_wildcard, registry
from .typing import Handler

__all__ = [
    "Server",
    "ends_quietly",
    "serve",
]

State = Literal["serving", "stopping", "stopped"]

#: How long :func:`serve_in_thread` waits for its thread to start listening.
THREAD_START_TIMEOUT = 10.0


def ends_quietly(handler: Handler) -> Handler:
    """Wrap ``handler`` so that a client's disconnect ends it without a traceback.

    websockets logs an ERROR with a traceback when a handler lets
    :class:`~websockets.exceptions.ConnectionClosed` escape, which happens on
    every abnormal close, including the 1011 that websockets 17.2+ sends when
    a client task is cancelled. In a notebook that traceback lands in a cell's
    stderr. :func:`serve` applies this wrapper to every handler; other
    exceptions (real bugs) still propagate and are logged.

    Example::

        async def shout(ws):
            async for message in ws:
                await ws.send(message.upper())

        server = await wsnb.serve(wsnb.ends_quietly(shout))   # serve() does this for you
    """

    @functools.wraps(handler)
    async def run(connection: ServerConnection) -> None:
        try:
            await handler(connection)
        except ConnectionClosed:
            pass

    return run


def _in_a_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return getattr(shell, "kernel", None) is not None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _default_name(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__name__", None) or type(handler).__name__


def _url_host(bound: str, requested: str | None) -> str:
    host = bound
    if is_wildcard(requested):
        host = "::1" if ":" in bound else "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


class Server:
    """A websockets server running in the background of an event loop.

    Made by :func:`serve`; do not instantiate it yourself. It displays its
    URL, state and client count in a notebook.

    Example::

        server = await wsnb.serve(wsnb.echo)
        server.url            # 'ws://127.0.0.1:54321'
        len(server.connections)
        await server.stop()
    """

    def __init__(self, name: str, host: str | None, ws_server: _WsServer, secure: bool) -> None:
        self.name = name
        self.host = host
        self.ws_server = ws_server
        """The underlying :class:`websockets.asyncio.server.Server`."""
        sockname = ws_server.sockets[0].getsockname()
        self.port: int = sockname[1]
        self.url = f"{'wss' if secure else 'ws'}://{_url_host(sockname[0], host)}:{self.port}"
        self._loop = ws_server.get_loop()
        self._state: State = "serving"
        self._stopped: asyncio.Future[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self.handler: Handler | None = None
        """The handler it serves (as given to :func:`serve`)."""
        self.options: dict[str, Any] = {}
        """The websockets options it was started with."""

    @classmethod
    async def _start(
        cls, handler: Handler, name: str, host: str | None, port: int, options: dict[str, Any]
    ) -> Server:
        starts = getattr(handler, "_serving_starts", None)  # wsnb.Rooms with a backend
        if starts is not None:
            await starts()
        try:
            ws_server = await _ws_serve(ends_quietly(handler), host, port, **options)
        except BaseException as exc:
            stopped = getattr(handler, "_serving_stopped", None)
            if stopped is not None:
                await stopped()
            if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    exc.errno,
                    f"port {port} on {host} is in use by a program that wsnb did not start "
                    "in this process; serve on port=0 to get a free port, or stop that program",
                ) from exc
            raise
        server = cls(name, host, ws_server, secure=options.get("ssl") is not None)
        server.handler, server.options = handler, options
        return server

    @property
    def state(self) -> State:
        """``"serving"``, ``"stopping"`` or ``"stopped"``."""
        return self._state

    @property
    def connections(self) -> list[ServerConnection]:
        """The open client connections, as websockets connection objects."""
        if self._state == "stopped":
            return []
        return list(self.ws_server.connections)

    async def stop(self) -> None:
        """Stop listening, close every open connection with 1001 (going away) and wait.

        Returns once every connection handler has finished. Calling it again
        does nothing.

        Example::

            await server.stop()
            server.state   # 'stopped'
        """
        if self._stopped is None:
            self._stopped = self._loop.create_future()
            self._state = "stopping"
            registry.discard(self)
            try:
                self.ws_server.close(close_connections=True)
                await self.ws_server.wait_closed()
                stopped = getattr(self.handler, "_serving_stopped", None)
                if stopped is not None:  # wsnb.Rooms with a backend: its members leave
                    await stopped()
            finally:
                self._state = "stopped"
                self._stopped.set_result(None)
        else:
            await asyncio.shield(self._stopped)

    async def _stop_from_any_loop(self) -> None:
        """Stop from a coroutine, whichever loop it runs on."""
        if not self._loop.is_running():
            self._forget()
        elif self._loop is _running_loop():
            await self.stop()
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.stop(), self._loop))

    def _stop_without_waiting(self) -> None:
        """Stop from synchronous code.

        On this server's own loop (synchronous code in a cell) the listening
        socket closes now, so the port is free at once, and open connections
        get their 1001 as soon as the loop runs again.
        """
        if not self._loop.is_running():
            self._forget()
        elif self._loop is _running_loop():
            self.ws_server.server.close()
            registry.discard(self)
            self._stop_task = self._loop.create_task(self.stop())  # keep a reference
        else:
            asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result()

    def _forget(self) -> None:
        """The loop this server ran on has ended: nothing serves any more."""
        try:
            self.ws_server.server.close()  # release the port, even once the loop is closed
        except RuntimeError:  # a loop implementation that refuses work once closed
            pass
        self._state = "stopped"
        registry.discard(self)

    async def serve_forever(self) -> None:
        """In a script, serve until interrupted (Ctrl-C, SIGTERM, a cancelled task), then stop.

        Clients are closed with 1001 on the way out, as :meth:`stop` does.
        In a notebook it refuses (:class:`WsnbError`): the server already
        serves in the background, and a cell that waits forever cannot be
        interrupted reliably (ipykernel #881).

        Example::

            async def main():
                server = await wsnb.serve(wsnb.echo_with_prefix(), port=8765)
                print("serving on", server.url)
                await server.serve_forever()

            asyncio.run(main())
        """
        if _in_a_kernel():
            raise WsnbError(
                "serve_forever() would block this cell for good: in a notebook the server "
                "already serves in the background; stop it with `await server.stop()`"
            )
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, _resolve, done)  # main thread, Unix only
        closed = asyncio.ensure_future(self.ws_server.wait_closed())  # stopped elsewhere
        try:
            await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGTERM)
            await self.stop()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        clients = len(self.connections)
        return (
            f"<wsnb.Server {self.name!r} {self.url} {self._state}, "
            f"{clients} client{'' if clients == 1 else 's'}>"
        )

    def _repr_html_(self) -> str:
        return html_card(
            f"wsnb.Server {self.name}",
            [("url", self.url), ("state", self._state), ("clients", len(self.connections))],
        )


_ADD_AWAIT = "add await: server = await wsnb.serve(...)"


class _NotAwaitedYet(Coroutine[Any, Any, Server]):
    """What :func:`serve` returns: a coroutine to await, that says so when used as a server.

    It is a coroutine in every way (``await`` it, or hand it to
    ``asyncio.create_task`` or ``asyncio.run``); reading ``.url`` or any other
    attribute of a server from it raises an AttributeError that says "add
    await", and its repr says the same, instead of Python's bare "'coroutine'
    object has no attribute 'url'".
    """

    __slots__ = ("_coroutine",)

    def __init__(self, coroutine: Coroutine[Any, Any, Server]) -> None:
        self._coroutine = coroutine

    def __await__(self) -> Generator[Any, None, Server]:
        return self._coroutine.__await__()

    def send(self, value: Any) -> Any:
        return self._coroutine.send(value)

    def throw(self, *args: Any) -> Any:
        return self._coroutine.throw(*args)

    def close(self) -> None:
        self._coroutine.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("cr_") or name in ("__name__", "__qualname__"):
            return getattr(self._coroutine, name)  # what asyncio and inspect read
        raise AttributeError(
            f"wsnb.serve(...) was not awaited, so this is not a server yet (it has no "
            f"{name!r}): {_ADD_AWAIT}"
        )

    def __repr__(self) -> str:
        return f"<wsnb.serve(...) not awaited, not serving: {_ADD_AWAIT}>"


def serve(
    handler: Handler,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    compression: str | None = None,
    **options: Any,
) -> Coroutine[Any, Any, Server]:
    """Start a WebSocket server in the background of the running loop.

    Returns as soon as the server listens; the server keeps serving while
    other cells run. Nothing here blocks: there is no ``serve_forever()``.
    Await it: without ``await`` the result is not a server, and using it as
    one raises an AttributeError that says "add await".

    * ``name`` identifies the server; it defaults to the handler's name.
      Serving again under the same name, or on the same fixed port, first
      stops the server started before, so re-running a cell is harmless
      (no leaked server, no "address already in use"). Give two servers
      with the same handler different names to run both.
    * ``host`` defaults to 127.0.0.1 (reachable from this machine only) and
      ``port`` to 0 (a free port, see ``server.port``).
    * ``compression`` defaults to ``None``, not websockets' permessage-deflate,
      which costs throughput and triples server memory per connection while
      a notebook's traffic rarely needs it (the figures: docs/design.md).
      Pass ``compression="deflate"`` to turn it on.
    * Every other keyword goes to :func:`websockets.asyncio.server.serve`
      unchanged: ``ssl``, ``origins``, ``max_size``, ``subprotocols``,
      ``process_request``, ``ping_interval``...

    The handler ends quietly when its client disconnects (see
    :func:`ends_quietly`). The same code runs in a script under
    ``asyncio.run(main())``.

    Example::

        server = await wsnb.serve(wsnb.echo)
        async with wsnb.connect(server.url) as ws:
            await ws.send("hi")
            print(await ws.recv())
        await server.stop()
    """
    return _NotAwaitedYet(_serve(handler, name, host, port, compression, options))


async def _serve(
    handler: Handler,
    name: str | None,
    host: str,
    port: int,
    compression: str | None,
    options: dict[str, Any],
) -> Server:
    name = name or _default_name(handler)
    for previous in registry.clashing(name, host, port):
        await previous._stop_from_any_loop()
    server = await Server._start(handler, name, host, port, {"compression": compression, **options})
    registry.add_server(server)
    return server


# Python's warning for a call never awaited names the coroutine: "coroutine 'serve' ...".
_serve.__name__ = _serve.__qualname__ = "serve"
