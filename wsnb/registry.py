"""The one registry of what :func:`stop_all` stops: servers and background clients.

Servers register when they start listening and leave when they stop, from any
thread; background clients (subscribers) register while they run. One lock
guards both lists. The registry knows its entries only by what it asks of
them (:class:`RunningServer`, :class:`BackgroundClient`), so it imports
nothing from the modules that register.

Example::

    await wsnb.stop_all()   # the last cell of every tutorial
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = [
    "BackgroundClient",
    "Registry",
    "RunningServer",
    "registry",
    "running_servers",
    "stop_all",
]

_WILDCARD_HOSTS = {None, "", "0.0.0.0", "::"}


class BackgroundClient(Protocol):
    """A client that runs in the background until stopped (a subscriber)."""

    async def _stop_from_any_loop(self) -> None: ...


class RunningServer(BackgroundClient, Protocol):
    """A server wsnb started: a name, an address, and two ways to stop it."""

    name: str
    host: str | None
    port: int
    url: str

    def _stop_without_waiting(self) -> None: ...


def is_wildcard(host: str | None) -> bool:
    """Whether ``host`` means every interface (``None``, ``""``, ``0.0.0.0``, ``::``).

    >>> is_wildcard("0.0.0.0"), is_wildcard("127.0.0.1")
    (True, False)
    """
    return host in _WILDCARD_HOSTS


class Registry:
    """Every server and background client wsnb started and has not stopped yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[RunningServer] = []
        self._clients: list[BackgroundClient] = []

    def add_server(self, server: RunningServer) -> None:
        with self._lock:
            self._servers.append(server)

    def add_client(self, client: BackgroundClient) -> None:
        with self._lock:
            self._clients.append(client)

    def discard(self, entry: BackgroundClient) -> None:
        """Forget a server or client (it stopped); nothing happens if it is not here."""
        with self._lock:
            self._servers = [s for s in self._servers if s is not entry]
            self._clients = [c for c in self._clients if c is not entry]

    def servers(self) -> list[RunningServer]:
        """The running servers, oldest first."""
        with self._lock:
            return list(self._servers)

    def clients(self) -> list[BackgroundClient]:
        with self._lock:
            return list(self._clients)

    def clashing(self, name: str, host: str | None, port: int) -> list[RunningServer]:
        """Servers to replace before serving ``name`` on ``host:port``."""
        return [s for s in self.servers() if s.name == name or _same_address(s, host, port)]


def _same_address(server: RunningServer, host: str | None, port: int) -> bool:
    if port == 0 or server.port != port:
        return False
    return server.host == host or is_wildcard(server.host) or is_wildcard(host)


registry = Registry()
"""The process's registry: :func:`wsnb.serve`, :func:`wsnb.serve_in_thread` and
:class:`wsnb.Subscriber` add to it."""


def running_servers() -> list[RunningServer]:
    """Return the servers wsnb started that are still running, oldest first.

    Each is a :class:`wsnb.Server`, a :class:`wsnb.ThreadedServer` or a
    :class:`wsnb.RedisServer`.

    Example::

        for server in wsnb.running_servers():
            print(server.name, server.url)
    """
    return registry.servers()


async def stop_all() -> int:
    """Stop every server wsnb started, on this loop or in threads; return how many.

    Background clients (subscribers) are closed first, so that they do not
    try to reconnect to the servers going away.

    Example::

        await wsnb.stop_all()   # the last cell of every tutorial
    """
    for client in registry.clients():
        await client._stop_from_any_loop()
    servers = registry.servers()
    for server in servers:
        await server._stop_from_any_loop()
    return len(servers)
