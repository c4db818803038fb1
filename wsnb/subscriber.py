"""A reconnecting subscriber that loses nothing, or says so.

Built on websockets' reconnecting ``connect()`` (``async for ws in
connect(...)``) with backoff suited to notebooks. On every (re)connection it
rejoins its rooms with the epoch and sequence number it last saw; the
server replays exactly the gap, or says it cannot. The per-room decisions
(deliver, skip a duplicate, fetch a live gap, report a loss) are made by the
pure :class:`~wsnb.core.resume.RoomCursor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as Connector
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.uri import parse_uri

from .backoff import notebook_backoff
from .client import connect
from .core.deprecation import warn_renamed
from .core.outbox import Outbox, OverflowPolicy
from .core.resume import CursorStep, RoomCursor, SubscriberStats
from .display import html_card, html_table
from .errors import OfflineBufferFull, WsnbError
from .registry import registry
from .rooms_client import RequestError, RoomsClient
from .typing import Target

__all__ = ["OfflineBufferFull", "Subscriber", "SubscriberStats", "subscribe"]

SubscriberState = Literal["connecting", "open", "reconnecting", "closed"]


class Subscriber:
    """Stay subscribed to rooms across drops and restarts; deliver every message once, in order.

    Start it with :func:`subscribe`. Read what arrives with ``async for event
    in subscriber`` or :meth:`next_event`: room ``message`` events exactly as the
    protocol sends them (docs/protocol.md), and ``{"type": "lost", "room",
    "reason"}`` when the server could not replay what was missed (its history
    was lost, or the gap was older than what it keeps): the application then
    knows, instead of carrying on silently.

    :meth:`publish` queues a message for one of the subscriber's rooms; it
    goes out at once when connected and, while disconnected, after
    reconnecting, in order. At most ``buffer_size`` messages wait to be
    acknowledged (connected or not); beyond, ``overflow="reject"`` raises
    :class:`OfflineBufferFull` and ``"drop_oldest"`` drops the oldest. A
    publish in flight when the connection drops is sent again, with the same
    idempotency key: the server publishes it once (if it comes back within
    120 s: docs/protocol.md). A publish the server refuses is set aside
    (noted in the timeline).

    ``target`` may be a list of servers that share their rooms (``wsnb.Rooms``
    on one backend): each reconnection tries the next, so the subscriber
    resumes on another process when one dies, exactly once all the same.

    Example::

        sub = await wsnb.subscribe(server, ["lobby"], name="ada")
        sub.publish("lobby", "hello")
        event = await sub.next_event(timeout=1)
        await sub.close()
    """

    def __init__(
        self,
        target: Target | Sequence[Target],
        rooms: list[str],
        *,
        name: str | None = None,
        buffer_size: int = 1000,
        overflow: OverflowPolicy = "reject",
        reconnect_delays: Callable[[], Generator[float]] | None = None,
        on_lost: Callable[[dict[str, Any]], None] | None = None,
        **connect_options: Any,
    ) -> None:
        if callable(rooms) or isinstance(rooms, str):
            raise TypeError(
                f"rooms must be a list of room names, not {type(rooms).__name__}: "
                "Subscriber follows rooms of wsnb.Rooms; to follow any stream with a "
                "callback, use wsnb.stream(url, on_message)"
            )
        targets = [target] if isinstance(target, str) or hasattr(target, "url") else target
        self.urls = [t if isinstance(t, str) else t.url for t in targets]
        """The servers it connects to, the next one at each reconnection."""
        if not self.urls:
            raise ValueError("subscribe to at least one server")
        self.url = self.urls[0]
        """The server it is connected to, or will try next."""
        self.name = name
        self.rooms = list(rooms)
        self.on_lost = on_lost
        self._outbox = Outbox(buffer_size, overflow)
        self.stats = SubscriberStats()
        self.timeline: list[tuple[float, str, str]] = []
        """``(time.monotonic(), event, detail)`` for each connection event."""
        self._state: SubscriberState = "connecting"
        self._cursors = {room: RoomCursor(room) for room in self.rooms}
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox_changed = asyncio.Event()
        self._open = asyncio.Event()
        self._delays = reconnect_delays or notebook_backoff()
        self._connect_options = connect_options
        self._task: asyncio.Task[None] | None = None
        self._connection: ClientConnection | None = None
        self._connector: Connector | None = None

    # The application's side ---------------------------------------------------------

    @property
    def state(self) -> SubscriberState:
        """``"connecting"``, ``"open"``, ``"reconnecting"`` or ``"closed"``."""
        return self._state

    @property
    def positions(self) -> dict[str, tuple[str | None, int]]:
        """For each room, the epoch and the last sequence number delivered."""
        return {room: (c.epoch, c.seq) for room, c in self._cursors.items()}

    @property
    def pending(self) -> int:
        """Messages delivered by the subscriber and not read by the application yet."""
        return self._inbox.qsize()

    @property
    def unsent(self) -> int:
        """Published messages waiting to be acknowledged by the server."""
        return len(self._outbox)

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next ``message`` (or ``lost``) event; ``TimeoutError`` after ``timeout`` s.

        The same name and behaviour as :meth:`RoomsClient.next_event`.

        Example::

            event = await sub.next_event(timeout=2)
            event["seq"], event["body"]
        """
        async with asyncio.timeout(timeout):
            return await self._inbox.get()

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        """Deprecated alias of :meth:`next_event` (removed in wsnb 0.3)."""
        warn_renamed("Subscriber.next()", "Subscriber.next_event()")
        return await self.next_event(timeout)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._inbox.get()

    def publish(self, room: str, body: Any) -> None:
        """Queue ``body`` for ``room``; it goes out now if connected, else after reconnecting."""
        if room not in self._cursors:
            raise WsnbError(f"this subscriber is not in room {room!r}: it cannot publish there")
        if not self._outbox.add(room, body):
            raise OfflineBufferFull(
                f"{len(self._outbox)} messages already wait to be sent (buffer_size)"
            )
        self._outbox_changed.set()

    async def wait_open(self, timeout: float | None = 10.0) -> None:
        """Wait until connected with every room rejoined (and any gap replayed).

        Raises what stopped the subscriber for good, if it stopped (for
        example a :class:`RequestError` when the server refuses a room).
        """
        async with asyncio.timeout(timeout):
            while not self._task_done():
                if self._open.is_set():
                    if self._connection_open():
                        return
                    # Its connection just closed (a server stopped): wait for the rejoin.
                    await asyncio.sleep(0.005)
                    continue
                opened = asyncio.ensure_future(self._open.wait())
                waiting: set[asyncio.Future[Any]] = {opened}
                if self._task is not None:
                    waiting.add(self._task)
                try:
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    opened.cancel()
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None:
                raise error
        raise WsnbError(f"the subscriber is {self._state}")

    def _task_done(self) -> bool:
        return self._task is not None and self._task.done()

    def _connection_open(self) -> bool:
        return self._connection is not None and self._connection.state is State.OPEN

    async def close(self) -> None:
        """Stop reconnecting, close the connection and end the background task."""
        if self._state == "closed":
            return
        self._state = "closed"
        self._note("closed", "")
        registry.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()

    async def _stop_from_any_loop(self) -> None:
        await self.close()

    # The connection's side --------------------------------------------------------------

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        registry.add_client(self)

    def _recorded_delays(self) -> Generator[float]:
        for delay in self._delays():
            self._next_server()
            self._note("retry", f"{self.url} in {delay * 1000:.0f} ms")
            yield delay

    def _next_server(self) -> None:
        """Several servers sharing the rooms: the next reconnection tries the next one."""
        if len(self.urls) > 1 and self._connector is not None:
            self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]
            # What websockets' connect() reads at each attempt (as its redirects set them).
            self._connector.uri, self._connector.ws_uri = self.url, parse_uri(self.url)

    async def _run(self) -> None:
        self._connector = connect(
            self.url, reconnect_delays=self._recorded_delays, **self._connect_options
        )
        connections = self._connector.__aiter__()
        # Close websockets' reconnecting generator here, not in a later loop turn.
        async with contextlib.aclosing(connections):  # type: ignore[type-var]
            await self._run_connections(connections)

    async def _run_connections(self, connections: AsyncIterator[ClientConnection]) -> None:
        opened = 0
        async for ws in connections:
            opened += 1
            self.stats.reconnects += opened > 1
            self._connection = ws
            self._note("connected", "")
            client = RoomsClient(ws)
            try:
                await self._session(client)
            except RequestError as error:  # the server refuses us: retrying cannot help
                self._state = "closed"
                self._note("refused", str(error))
                registry.discard(self)
                raise
            except (ConnectionClosed, WsnbError, TimeoutError):
                pass  # the connection went away mid-request: reconnect
            finally:
                self._open.clear()
                self._connection = None
                await client.close()
            if self._state == "closed":
                return
            self._state = "reconnecting"
            self._note("dropped", "")
            self._next_server()

    async def _session(self, client: RoomsClient) -> None:
        if self.name is not None:
            await client.request("hello", name=self.name)
        for room, cursor in self._cursors.items():
            since = cursor.since
            reply = await client.join(room, **({"since": since} if since else {}))
            step = cursor.on_join(reply)
            if since is None:
                continue
            if reply.get("recovered"):
                self.stats.recoveries += 1
                self._note("recovered", f"{room}: {len(reply['history'])} replayed")
            self._apply(room, step, replayed=True)
            if step.fetch_since is not None:  # a replay too big for one reply
                await self._fill_gap(client, room, step.fetch_since)
        self._state = "open"
        self._open.set()
        self._note("open", ", ".join(self.rooms))
        sender = asyncio.get_running_loop().create_task(self._send_outbox(client))
        fills: set[asyncio.Task[None]] = set()
        try:
            async for event in client.events():
                if event.get("type") != "message" or event.get("room") not in self._cursors:
                    continue
                step = self._cursors[event["room"]].on_live(event)
                self.stats.duplicates += step.duplicate
                self._apply(event["room"], step, replayed=False)
                if step.fetch_since is not None:
                    fill = asyncio.get_running_loop().create_task(
                        self._fill_gap(client, event["room"], step.fetch_since)
                    )
                    fills.add(fill)
                    fill.add_done_callback(fills.discard)
        finally:
            sender.cancel()
            for fill in list(fills):
                fill.cancel()

    async def _fill_gap(self, client: RoomsClient, room: str, since: int | None) -> None:
        while since is not None:
            self._note("gap", f"{room}: after #{since}")
            try:
                reply = await client.request("history", room, since=since)
            except (ConnectionClosed, WsnbError, TimeoutError):
                return  # the connection is going; the rejoin will fill the gap
            step = self._cursors[room].on_history(reply)
            self._apply(room, step, replayed=True)
            since = step.fetch_since

    async def _send_outbox(self, client: RoomsClient) -> None:
        try:
            while True:
                while (item := self._outbox.first()) is not None:
                    room, body = item
                    try:
                        await client.publish(room, body, idempotency_key=self._outbox.key(item))
                    except RequestError as error:  # refused for good: set it aside
                        self._note("refused", f"publish in {room}: {error.code}")
                    else:
                        self.stats.published += 1
                    self._outbox.sent(item)
                self._outbox_changed.clear()
                await self._outbox_changed.wait()
        except (ConnectionClosed, WsnbError, TimeoutError):
            pass  # kept in the outbox; sent again after reconnecting

    def _apply(self, room: str, step: CursorStep, *, replayed: bool) -> None:
        if step.lost is not None:
            lost = {"type": "lost", "room": room, "reason": step.lost}
            self.stats.losses += 1
            self._note("lost", f"{room}: {step.lost}")
            self._inbox.put_nowait(lost)
            if self.on_lost is not None:
                self.on_lost(lost)
        for message in step.deliver:
            self._inbox.put_nowait(message)
        self.stats.delivered += len(step.deliver)
        if replayed:
            self.stats.replayed += len(step.deliver)

    def _note(self, event: str, detail: str) -> None:
        self.timeline.append((time.monotonic(), event, detail))

    # Display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"<wsnb.Subscriber {self.url} {self._state} rooms={self.rooms} "
            f"delivered={self.stats.delivered} reconnects={self.stats.reconnects}>"
        )

    def _repr_html_(self) -> str:
        rows = [(room, epoch or "", seq) for room, (epoch, seq) in self.positions.items()]
        fields = [("url", self.url), ("state", self._state)] + [
            (name, getattr(self.stats, name)) for name in SubscriberStats.__dataclass_fields__
        ]
        return html_card(
            "wsnb.Subscriber", fields, extra=html_table(["room", "epoch", "last seq"], rows)
        )


async def subscribe(
    target: Target | Sequence[Target],
    rooms: list[str],
    *,
    name: str | None = None,
    wait: bool = True,
    **options: Any,
) -> Subscriber:
    """Start a :class:`Subscriber` in the background; by default wait until it is open.

    Keywords are those of :class:`Subscriber` (``buffer_size``, ``overflow``,
    ``reconnect_delays``, ``on_lost``) and of websockets' ``connect()``.

    Example::

        sub = await wsnb.subscribe(server, ["lobby", "news"], name="ada")
        async for event in sub:
            print(event["type"], event.get("data"))
    """
    subscriber = Subscriber(target, rooms, name=name, **options)
    subscriber._start()
    if wait:
        await subscriber.wait_open()
    return subscriber
