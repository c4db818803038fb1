"""A server kind for resumption benchmarks: a ``wsnb.Rooms`` feed with faults on command;
and the parent's view of it (:class:`Watch`, :class:`Tally`).

Started with ``Servers.start(feed, room=...)``, it publishes 1, 2, 3... into
``room`` on a fixed schedule once told to ("start"), and cuts its clients
off on command: "drop" aborts every connection (the server keeps
listening), "outage" stops the server and serves the same ``Rooms`` again on
the same port later. It reports each join it processes, with when the
connection was accepted: ``("join", (path, accepted_at, joined_at, seq,
recovered, replayed))``, times from ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import Service, emit

import wsnb


class TimedRooms(wsnb.Rooms):
    """``wsnb.Rooms`` that reports processed joins. It overrides ``Rooms._send``
    (private): that is where the join reply can be seen."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._accepted: dict[Any, float] = {}  # connection -> when its handler started

    async def __call__(self, connection: Any) -> None:
        self._accepted[connection] = time.monotonic()
        try:
            await super().__call__(connection)
        finally:
            del self._accepted[connection]

    def _send(self, outgoing: list[Any]) -> None:
        for out in outgoing:
            message = out.message
            if message.get("type") == "reply" and message.get("re") == "join" and out.to:
                ws, data = out.to[0], message["data"]
                times = (ws.request.path, self._accepted.get(ws, 0.0), time.monotonic())
                emit("join", (*times, data["seq"], data.get("recovered"), len(data["history"])))
        super()._send(outgoing)


class Feed:
    """The publisher, on a fixed schedule, and the faults."""

    def __init__(self, rooms: TimedRooms, server: Any, room: str) -> None:
        self.rooms, self.server, self.port, self.room = rooms, server, server.port, room
        self.task: asyncio.Task[None] | None = None
        self.published = 0

    async def publish_forever(self, interval: float) -> None:
        due = time.monotonic()
        while True:
            due += interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                due = time.monotonic()  # late: go on from now, no burst to catch up
                await asyncio.sleep(0)
            self.published += 1
            self.rooms.publish(self.room, self.published)

    def start(self, interval: float) -> int:
        """Publish every ``interval`` s from now; return the first number."""
        if self.task is None:
            self.task = asyncio.create_task(self.publish_forever(interval))
        return self.published + 1

    def stop_publishing(self) -> int:
        """Return the last number published."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        return self.published

    def drop(self) -> tuple[float, int, int]:
        at = time.monotonic()
        return at, wsnb.faults.drop_connections(self.server), self.published

    async def outage(self, downtime: float) -> tuple[float, int, int, float, float]:
        """Stop, and serve again on the same port ``downtime`` s after stopping began."""
        at, count, published = time.monotonic(), len(self.server.connections), self.published
        await self.server.stop()  # stops listening, closes every connection with 1001
        down_at = time.monotonic()
        await asyncio.sleep(max(0.0, downtime - (down_at - at)))
        self.server = await wsnb.serve(self.rooms, name="feed", port=self.port)
        return at, count, published, down_at, time.monotonic()

    async def stop(self) -> None:
        self.stop_publishing()
        wsnb.faults.drop_connections(self.server)  # a closing handshake could wait for nobody
        await self.server.stop()


async def feed(room: str) -> Service:
    rooms = TimedRooms(rooms=[room])
    f = Feed(rooms, await wsnb.serve(rooms, name="feed"), room)
    commands = {"start": f.start, "stop_publishing": f.stop_publishing, "drop": f.drop}
    return Service({"feed": f.port}, f.stop, commands | {"outage": f.outage})


@dataclass(frozen=True)
class Join:
    """A join the feed processed (the client has rejoined the room)."""

    path: str
    accepted_at: float  # when the server accepted the connection
    at: float
    seq: int  # the room's latest message then
    recovered: bool | None
    history: int  # messages in the join reply


class Watch:
    """The feed's server process; its join reports as they come, and waiting on them."""

    def __init__(self, server: Any) -> None:
        self.server, self.joins = server, list[Join]()
        self.changed = asyncio.Event()  # set on every report, and by the clients' readers
        server.on_event = lambda tag, value: (self.joins.append(Join(*value)), self.changed.set())

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds (rechecked whenever ``changed`` is set)."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True

    def join_after(self, path: str, at: float) -> Join | None:
        return next((j for j in self.joins if j.path == path and j.at > at), None)


@dataclass
class Tally:
    """Every number a client received: when first (in order of arrival), how often."""

    first_at: dict[int, float] = field(default_factory=dict)
    deliveries: int = 0
    out_of_order: int = 0
    lost_events: int = 0
    last: int = 0

    def add(self, number: int, at: float) -> None:
        self.deliveries += 1
        if number not in self.first_at:
            self.out_of_order += number < self.last  # arrived after a later number
            self.first_at[number] = at
            self.last = max(self.last, number)

    def lost(self, first: int, last: int) -> int:
        return sum(1 for n in range(first, last + 1) if n not in self.first_at)

    @property
    def duplicated(self) -> int:
        return self.deliveries - len(self.first_at)
