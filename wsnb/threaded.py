"""A server on its own event loop in a daemon thread, for synchronous code.

:func:`serve_in_thread` is :func:`wsnb.serve` for a script without asyncio,
or a cell that uses the blocking client ``websockets.sync.client.connect``;
it registers in the same registry, so :func:`wsnb.stop_all` reaches it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from websockets.asyncio.server import Server as _WsServer
from websockets.asyncio.server import ServerConnection

from .registry import registry
from .server import THREAD_START_TIMEOUT, Server, State, _default_name
from .typing import Handler

__all__ = ["ThreadedServer", "serve_in_thread"]


class ThreadedServer:
    """A websockets server on its own event loop in a daemon thread.

    Made by :func:`serve_in_thread`. Its :meth:`stop` is synchronous, and it
    is a context manager, so synchronous code (and the synchronous client
    ``websockets.sync.client.connect``) can use it from a cell.

    Example::

        with wsnb.serve_in_thread(wsnb.echo) as server:
            print(wsnb.exchange_sync(server.url, ["hi"]))
    """

    def __init__(
        self, handler: Handler, name: str, host: str | None, port: int, options: dict[str, Any]
    ) -> None:
        self.name = name
        self.host = host
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name=f"wsnb-{name}", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            Server._start(handler, name, host, port, options), self._loop
        )
        try:
            self._server = future.result(THREAD_START_TIMEOUT)
        except BaseException:
            self._shut_down_loop()
            raise
        self.port = self._server.port
        self.url = self._server.url

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _shut_down_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    @property
    def state(self) -> State:
        """``"serving"``, ``"stopping"`` or ``"stopped"``."""
        return self._server.state

    @property
    def connections(self) -> list[ServerConnection]:
        """The open client connections (objects that live on the server's thread)."""
        return self._server.connections

    @property
    def ws_server(self) -> _WsServer:
        """The underlying :class:`websockets.asyncio.server.Server`."""
        return self._server.ws_server

    def stop(self, timeout: float | None = None) -> None:
        """Close every connection with 1001, stop listening, and end the thread.

        Blocks until done (at most ``timeout`` seconds if given). Calling it
        again does nothing. In a cell whose own async clients are connected to
        this server, prefer ``await wsnb.stop_all()``: a blocked cell cannot
        answer the server's closing handshake.

        Example::

            server = wsnb.serve_in_thread(wsnb.echo)
            server.stop()
        """
        with self._lock:
            if not self._thread.is_alive():
                return
            registry.discard(self)
            future = asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop)
            try:
                future.result(timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
            self._shut_down_loop()

    async def _stop_from_any_loop(self) -> None:
        await asyncio.to_thread(self.stop)

    def _stop_without_waiting(self) -> None:
        self.stop()

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return repr(self._server).replace("<wsnb.Server", "<wsnb.ThreadedServer", 1)

    def _repr_html_(self) -> str:
        return self._server._repr_html_().replace("wsnb.Server", "wsnb.ThreadedServer", 1)


def serve_in_thread(
    handler: Handler,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    compression: str | None = None,
    **options: Any,
) -> ThreadedServer:
    """Start a WebSocket server on its own event loop in a daemon thread.

    For synchronous code: a script without asyncio, or a cell that uses the
    blocking client ``websockets.sync.client.connect``. (A blocking client
    cannot talk to a server on the notebook's own loop: the loop is stuck in
    the cell that waits for the server.) Arguments are those of
    :func:`serve`, with the same replacement of a server started before
    under the same name or fixed port. Returns once the server listens.

    Example::

        from websockets.sync.client import connect

        server = wsnb.serve_in_thread(wsnb.echo)
        with connect(server.url, proxy=None) as ws:
            ws.send("hi")
            print(ws.recv())
        server.stop()
    """
    name = name or _default_name(handler)
    for previous in registry.clashing(name, host, port):
        previous._stop_without_waiting()
    server = ThreadedServer(handler, name, host, port, {"compression": compression, **options})
    registry.add_server(server)
    return server
