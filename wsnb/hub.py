"""A broadcast hub that no slow client can stall.

The naive fan-out ``for ws in clients: await ws.send(message)`` waits for each
client in turn: once one stops reading, every other client stalls with it
(docs/design.md has the figures). :class:`Hub` is built on
:func:`websockets.broadcast` instead: synchronous, each message encoded once,
no waiting for any client. What ``broadcast()`` lacks, the hub adds: a bound
(a client whose unsent output passes ``max_buffered`` bytes is closed or
skipped) and, when awaited, pacing to the healthy clients (:mod:`wsnb.pacing`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

from websockets.asyncio.connection import Connection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.typing import Data

from .close_codes import SLOW_CLIENT
from .core.deprecation import renamed_names
from .display import html_card, html_table
from .json_messages import encode_json
from .pacing import Broadcast

__all__ = ["DEFAULT_MAX_BUFFERED", "Broadcast", "Hub", "HubClient"]

#: Default bound on the bytes waiting to be sent to one client: 1 MiB.
DEFAULT_MAX_BUFFERED = 2**20

SlowClientPolicy = Literal["close", "drop"]


async def _close_slow_client(connection: Connection, reason: str) -> None:
    """Close with 1008; drop the TCP connection if that takes over ``close_timeout``
    (``close()`` first waits for the write buffer to drain, which a stalled client never lets)."""
    try:
        async with asyncio.timeout(connection.close_timeout):
            await connection.close(SLOW_CLIENT, reason)
    except TimeoutError:
        connection.transport.abort()


class HubClient:
    """One client of a :class:`Hub`, with the numbers that tell how it is doing.

    Example::

        for client in hub.clients:
            print(client.name, client.sent, client.dropped, client.buffered)
    """

    __slots__ = ("connection", "name", "connected_at", "sent", "dropped", "closing", "lagging")

    def __init__(self, connection: Connection, name: str | None) -> None:
        self.connection = connection
        """The websockets connection."""
        self.name = name
        """The name given to :meth:`Hub.join`, if any."""
        self.connected_at = time.time()
        """When the client joined the hub (seconds since the epoch)."""
        self.sent = 0
        """Messages handed to this client's connection by the hub."""
        self.dropped = 0
        """Messages not sent to this client because it was over the bound."""
        self.closing = False
        """Whether the hub is closing this client for being too slow."""
        self.lagging = False
        """Whether an awaited broadcast gave up waiting for it (until it catches up)."""

    @property
    def buffered(self) -> int:
        """Bytes written for this client that the network has not taken yet."""
        transport = self.connection.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    @property
    def remote(self) -> str:
        """The client's address as ``host:port``."""
        address = self.connection.remote_address
        if isinstance(address, tuple) and len(address) >= 2:
            return f"{address[0]}:{address[1]}"
        return str(address)

    def __repr__(self) -> str:
        return (
            f"<wsnb.HubClient {self.name or self.remote} sent={self.sent} "
            f"dropped={self.dropped} buffered={self.buffered}>"
        )


class Hub:
    """Connected clients and a broadcast that no slow client can stall.

    Use it directly as a server handler, where by default every message a
    client sends goes to all the others (``relay=False`` turns that off)::

        hub = wsnb.Hub()
        server = await wsnb.serve(hub)

    or join it from a handler of your own, with ``with hub.join(ws)`` or, in
    the usual spelling, ``async with hub.connected(ws)``::

        async def chat(ws):
            async with hub.connected(ws):
                async for message in ws:
                    await hub.broadcast(message, exclude=ws)

    Then, from any cell or coroutine: ``hub.broadcast("hi")``,
    ``hub.broadcast_json({"n": 1})``, ``hub.count``, ``hub.clients``.

    **Slow clients.** :meth:`broadcast` never waits for a client. A client
    that stops reading accumulates unsent bytes on the server; once they pass
    ``max_buffered`` (default 1 MiB) the hub applies ``slow_clients``:

    * ``"close"`` (default): the client is closed with code 1008 (policy
      violation) and a reason saying how much was waiting; it misses the
      messages from then on and can reconnect. Server memory for it stays
      below about ``max_buffered`` plus one message.
    * ``"drop"``: the client stays connected, but messages are not sent to it
      while it is over the bound; each one counts in its ``dropped``. When it
      catches up, it receives again, with a gap.

    Either way the other clients receive every message, at full speed.
    ``on_slow_close(connection)`` is called as soon as a slow client is
    being closed, so that a handler can forget it at once.

    **Pacing a producer.** ``hub.broadcast(...)`` returns at once; ``await
    hub.broadcast(...)`` also waits, at most ``drain_timeout`` seconds (1 s),
    until every healthy client has taken what was sent (its write buffer
    under websockets' ``write_limit``), so that a producer never outruns the
    clients that keep up. A client that did not drain in that time is
    *lagging* and not waited for again until it catches up (see
    :mod:`wsnb.pacing`).
    """

    def __init__(
        self,
        *,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        slow_clients: SlowClientPolicy = "close",
        relay: bool = True,
        on_slow_close: Callable[[Connection], None] | None = None,
        drain_timeout: float = 1.0,
    ) -> None:
        if slow_clients not in ("close", "drop"):
            raise ValueError(f"slow_clients must be 'close' or 'drop', not {slow_clients!r}")
        if max_buffered < 0:
            raise ValueError("max_buffered must be >= 0")
        if drain_timeout < 0:
            raise ValueError("drain_timeout must be >= 0")
        self.drain_timeout = drain_timeout
        """How long an awaited broadcast waits for one client to drain."""
        self.lagged = 0
        """How many times an awaited broadcast gave up waiting for a client."""
        # The int every broadcast returns, awaitable: a class of its own per hub, so
        # that the number carries no per-call attributes (0.2 us, not 3 us, a call).
        self._result: type[Broadcast] = type(
            "Broadcast", (Broadcast,), {"_hub": self, "__slots__": ()}
        )
        self.max_buffered = max_buffered
        self.slow_clients: SlowClientPolicy = slow_clients
        self.relay = relay
        self.on_slow_close = on_slow_close
        """Called with a connection the ``"close"`` policy starts closing, at once: its
        close handshake can take ``close_timeout`` (a client that stopped reading)."""
        self.slow_closed = 0
        """How many clients the ``"close"`` policy has closed."""
        self._clients: dict[Connection, HubClient] = {}
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._count_waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def count(self) -> int:
        """How many clients are in the hub.

        Example::

            print(hub.count, "connected")
        """
        return len(self._clients)

    @property
    def clients(self) -> list[HubClient]:
        """The clients, in the order they joined, with their stats."""
        return list(self._clients.values())

    @contextmanager
    def join(self, connection: Connection, name: str | None = None) -> Iterator[HubClient]:
        """Make ``connection`` a member for the duration of a ``with`` block.

        Example::

            async def handler(ws):
                with hub.join(ws, name="alice") as client:
                    await ws.wait_closed()
        """
        client = HubClient(connection, name)
        self._clients[connection] = client
        self._wake_count_waiters()
        try:
            yield client
        finally:
            self._clients.pop(connection, None)
            self._wake_count_waiters()

    @asynccontextmanager
    async def connected(
        self, connection: Connection, name: str | None = None
    ) -> AsyncIterator[HubClient]:
        """:meth:`join` for ``async with``: a member for the duration of the block.

        Example::

            async def handler(ws):
                async with hub.connected(ws):
                    async for message in ws:
                        await hub.broadcast(message, exclude=ws)
        """
        with self.join(connection, name) as client:
            yield client

    async def wait_for_clients(self, count: int, timeout: float = 5.0) -> None:
        """Wait until exactly ``count`` clients are in the hub, at most ``timeout`` seconds.

        A client's ``connect()`` returns when its handshake is done, a moment
        before the server's handler joins it to the hub: wait for it before
        broadcasting to it.

        Example::

            clients = [await wsnb.connect(server) for _ in range(3)]
            await hub.wait_for_clients(3)
        """
        if self.count == count:
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (count, waiter)
        self._count_waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise TimeoutError(
                f"the hub has {self.count} clients, not {count}, after {timeout} s"
            ) from None
        finally:
            if entry in self._count_waiters:
                self._count_waiters.remove(entry)

    def _wake_count_waiters(self) -> None:
        for count, waiter in self._count_waiters:
            if count == self.count and not waiter.done():
                waiter.set_result(None)

    async def __call__(self, connection: Connection) -> None:
        """Serve one client: join, relay its messages to the others, leave."""
        with self.join(connection):
            try:
                async for message in connection:
                    if self.relay:
                        self.broadcast(message, exclude=connection)
            except ConnectionClosed:
                pass

    def broadcast(
        self,
        message: Data,
        exclude: Connection | Iterable[Connection] | None = None,
        *,
        to: Iterable[Connection] | None = None,
    ) -> Broadcast:
        """Send ``message`` to every client but ``exclude``; return how many got it.

        Synchronous: it encodes the message once and hands it to each
        connection without waiting for any (:func:`websockets.broadcast`).
        The number returned can be awaited to pace a producer: ``await
        hub.broadcast(m)`` returns it once the healthy clients have taken
        what was sent (see the class's documentation).
        ``exclude`` is one connection or several (typically the sender);
        ``to`` narrows the audience to some of the hub's clients (a room's
        members, say; connections not in the hub are ignored). A client over
        the ``max_buffered`` bound is closed or skipped, per the hub's
        slow-client policy. Clients that are disconnecting are skipped
        silently: a disconnect during a broadcast never raises.

        Example::

            hub.broadcast("hello, everyone")
            hub.broadcast(message, exclude=ws)        # all but the sender
            hub.broadcast("psst", to=[alice_ws, bob_ws])
            await hub.broadcast(tick)                 # the same, paced to the clients
        """
        if exclude is None:
            excluded: Iterable[Connection] = ()
        elif isinstance(exclude, Connection):
            excluded = (exclude,)
        else:
            excluded = frozenset(exclude)
        clients = self._clients
        audience = clients.items() if to is None else [(c, clients[c]) for c in to if c in clients]
        count = [0]
        # One pass: websockets' broadcast() pulls the connections from the
        # generator as it sends (measured: half the selection cost of building
        # a list first at 1000 clients). It skips connections not OPEN itself.
        broadcast(self._recipients(audience, excluded, count), message)
        return self._result(count[0])

    def _recipients(
        self,
        audience: Iterable[tuple[Connection, HubClient]],
        excluded: Iterable[Connection],
        count: list[int],
    ) -> Iterator[Connection]:
        """Yield the clients to send to, applying the slow-client policy on the way."""
        limit = self.max_buffered
        for connection, client in audience:
            if connection in excluded:
                continue
            if client.closing:
                client.dropped += 1
                continue
            transport = connection.transport
            if transport.is_closing():
                continue
            buffered = transport.get_write_buffer_size()
            if buffered > limit:
                client.dropped += 1
                if self.slow_clients == "close":
                    self._close_slow(client, buffered)
                continue
            client.sent += 1
            count[0] += 1
            yield connection

    def broadcast_json(
        self, data: Any, exclude: Connection | Iterable[Connection] | None = None
    ) -> Broadcast:
        """Encode ``data`` as JSON once and :meth:`broadcast` it as text (awaitable too).

        Example::

            hub.broadcast_json({"type": "tick", "n": 1})
            await hub.broadcast_json({"type": "tick", "n": 2})   # paced
        """
        return self.broadcast(encode_json(data), exclude=exclude)

    def _close_slow(self, client: HubClient, buffered: int) -> None:
        client.closing = True
        self.slow_closed += 1
        reason = f"too slow: {buffered} bytes waiting, limit {self.max_buffered}"
        task = client.connection.loop.create_task(_close_slow_client(client.connection, reason))
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)
        if self.on_slow_close is not None:  # not now: we are in the middle of a broadcast
            client.connection.loop.call_soon(self.on_slow_close, client.connection)

    def __repr__(self) -> str:
        return (
            f"<wsnb.Hub {self.count} client{'' if self.count == 1 else 's'}, "
            f"slow_clients={self.slow_clients!r} max_buffered={self.max_buffered}>"
        )

    def _repr_html_(self) -> str:
        rows = [
            (
                client.name or "",
                client.remote,
                time.strftime("%H:%M:%S", time.localtime(client.connected_at)),
                client.sent,
                client.dropped,
                client.buffered,
                "closing (too slow)" if client.closing else "lagging" if client.lagging else "open",
            )
            for client in self._clients.values()
        ]
        table = html_table(
            ["name", "remote", "since", "sent", "dropped", "buffered bytes", "state"], rows
        )
        return html_card(
            "wsnb.Hub",
            [
                ("clients", self.count),
                ("slow clients", self.slow_clients),
                ("max buffered", f"{self.max_buffered} bytes"),
                ("closed as slow", self.slow_closed),
            ],
            extra=table,
        )


# hub.SLOW_CLIENT_CLOSE_CODE was an alias of close_codes.SLOW_CLIENT (1008).
__getattr__ = renamed_names(
    __name__, {"SLOW_CLIENT_CLOSE_CODE": ("wsnb.close_codes.SLOW_CLIENT", SLOW_CLIENT)}
)
