"""Chat rooms over WebSockets: the pure rooms core wired to connections and the hub.

Each message a client sends goes to :class:`~wsnb.core.rooms.RoomsCore`
(parse, validate, decide); what the core returns, encoded once, is fanned
out through a :class:`~wsnb.hub.Hub`, so the slow-client policy applies to
rooms too. Presence events go out on the loop's timers, one per room per
tick (``RoomLimits.presence_interval``). The wire protocol is docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Data

from .backend import RoomsBackend
from .core.pages import data_text
from .core.rooms import Outgoing, RoomLimits, RoomsCore
from .display import html_card, html_table
from .errors import WsnbError
from .hub import DEFAULT_MAX_BUFFERED, Hub, SlowClientPolicy
from .json_messages import encode_json

if TYPE_CHECKING:
    from .shared_rooms import BackendLink

__all__ = ["Rooms", "RoomView"]

#: How a member that does not speak docs/protocol.md gets room traffic (wsnb.ChatRoom):
#: an event, decoded, in; what to send that member out (none, one, or several messages).
Formatter = Callable[[dict[str, Any]], list[Data]]


def _body_text(body: Any) -> str:
    return body if isinstance(body, str) else encode_json(body)


def _first_names(names: list[str], shown: int = 20) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


class RoomView:
    """A read-only look at one room, for cells: members, history, an HTML repr.

    Example::

        rooms.room("lobby")          # shows members and the last messages
        rooms.room("lobby").members  # ['ada', 'grace']
    """

    def __init__(self, rooms: Rooms, name: str, shown: int = 10) -> None:
        self._rooms = rooms
        self.name = name
        self.shown = shown

    @property
    def members(self) -> list[str]:
        """Member names, in the order they joined."""
        return self._rooms.members(self.name)

    @property
    def epoch(self) -> str:
        """The room's history epoch (changes when history is lost)."""
        return self._rooms.core.room(self.name).history.epoch

    @property
    def seq(self) -> int:
        """The sequence number of the room's latest message (0: none yet)."""
        return self._rooms.core.room(self.name).history.last_seq

    def history(self, since: int = 0) -> list[dict[str, Any]]:
        """Messages with a sequence number above ``since``, oldest first."""
        return self._rooms.history(self.name, since)

    @property
    def count(self) -> int:
        """How many members the room has (shared rooms: on every process)."""
        return self._rooms.core.room(self.name).count

    def __repr__(self) -> str:
        members = self.members
        shown = repr(members) if len(members) <= 10 else f"{len(members)} members"
        return f"<wsnb.RoomView {self.name!r} members={shown} seq={self.seq}>"

    def _repr_html_(self) -> str:
        recent = self.history()[-self.shown :]
        rows = [
            (
                m["seq"],
                time.strftime("%H:%M:%S", time.localtime(m["data"]["time"])),
                m["data"]["from"],
                _body_text(m["data"]["body"]),
            )
            for m in recent
        ]
        return html_card(
            f"room {self.name}",
            [
                ("members", _first_names(self.members) or "nobody"),
                ("messages", self.seq),
                ("epoch", self.epoch),
            ],
            extra=html_table(["seq", "time", "from", "message"], rows),
        )


class Rooms:
    """A server handler for named chat rooms on wsnb's JSON protocol.

    Clients join rooms, publish, get the history with sequence numbers, see
    who is there and who comes and goes (docs/protocol.md). A connection can
    be in several rooms. Bad input gets an error reply with a stable code;
    the connection stays open. Rooms are created on first join unless
    ``rooms=[...]`` fixes the list.

    Example::

        rooms = wsnb.Rooms()
        server = await wsnb.serve(rooms, max_size=64 * 1024)
        async with wsnb.RoomsClient.connect(server, name="ada") as ada:
            await ada.join("lobby")
            await ada.publish("lobby", "hello")
        rooms.room("lobby")          # members and last messages, in a cell

    ``history_size`` is how many messages a room keeps (1000), the one limit
    most people change; ``limits`` sets them all (:class:`wsnb.RoomLimits`).
    ``max_buffered`` and ``slow_clients`` are the hub's slow-client policy.
    Your own handler can put its connections in rooms too: :class:`wsnb.ChatRoom`.

    ``backend`` shares the rooms with other server processes (each with its
    own ``Rooms`` on the same backend): one numbering, one history and one
    member list per room, whichever process a client is connected to::

        redis = wsnb.redis_server()        # or the URL of your Redis or Valkey
        rooms = wsnb.Rooms(backend=wsnb.RedisBackend(redis.url))
        server = await wsnb.serve(rooms)   # connects to Redis first
    """

    def __init__(
        self,
        *,
        rooms: Iterable[str] | None = None,
        limits: RoomLimits | None = None,
        history_size: int | None = None,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        slow_clients: SlowClientPolicy = "close",
        backend: RoomsBackend | None = None,
    ) -> None:
        limits = limits or RoomLimits()
        if history_size is not None:
            joins = min(limits.join_history, history_size)
            limits = dataclasses.replace(limits, history_size=history_size, join_history=joins)
        if backend is not None:
            size = backend.history_size
            limits = dataclasses.replace(
                limits, history_size=size, join_history=min(limits.join_history, size)
            )
        self.core: RoomsCore[Connection] = RoomsCore(
            limits, rooms=rooms, shared=backend is not None
        )
        self.backend = backend
        """Where the rooms are shared with other processes (None: this process alone)."""
        self._link: BackendLink | None = None
        if backend is not None:
            from .shared_rooms import BackendLink

            self._link = BackendLink(self.core, backend, self._send)
        self._formats: dict[Connection, Formatter] = {}  # members of your own handler
        self.hub = Hub(
            max_buffered=max_buffered,
            slow_clients=slow_clients,
            relay=False,
            on_slow_close=self._forget,
        )

    async def __call__(self, connection: Connection) -> None:
        """Serve one connection until it closes, then take it out of its rooms."""
        core, send, link = self.core, self._send, self._link
        with self.hub.join(connection):
            core.connect(connection)
            try:
                async for raw in connection:
                    send(core.receive(connection, raw))
                    if link is not None and core.asks_pending:
                        await link.perform(core.take_asks())
            except ConnectionClosed:
                pass
            finally:
                self._forget(connection)

    async def _serving_starts(self) -> None:
        """:func:`wsnb.serve` is about to serve these rooms: connect to the backend first."""
        if self._link is not None:
            await self._link.server_starts()

    async def _serving_stopped(self) -> None:
        """A server of these rooms stopped: after the last, leave the backend cleanly."""
        if self._link is not None:
            await self._link.server_stopped()

    def _forget(self, connection: Connection) -> None:
        """Take ``connection`` out of its rooms now (it closed, or is being closed as slow)."""
        self._send(self.core.disconnect(connection))

    def _send(self, outgoing: list[Outgoing[Connection]]) -> None:
        broadcast = self.hub.broadcast
        for out in outgoing:
            if self._formats:
                self._fan_out_formatted(out)
            else:
                broadcast(out.text, to=out.to)
        if self.core.presence_due:
            loop = asyncio.get_running_loop()
            for room, delay in self.core.take_due():
                loop.call_later(delay, self._flush_presence, room)
        if self._link is not None and self.core.asks_pending:
            self._link.schedule(self.core.take_asks())

    def _flush_presence(self, room: str) -> None:
        self._send(self.core.flush_presence(room))

    def _fan_out_formatted(self, out: Outgoing[Connection]) -> None:
        """``out`` as it is to protocol clients; through its formatter to each other member."""
        formats = self._formats
        self.hub.broadcast(out.text, to=[c for c in out.to if c not in formats])
        made: dict[Formatter, list[Data]] = {}  # each formatter runs once per message
        for connection in out.to:
            format_ = formats.get(connection)
            if format_ is not None:
                if format_ not in made:
                    made[format_] = format_(out.message)
                for data in made[format_]:
                    self.hub.broadcast(data, to=(connection,))

    def publish(self, room: str, body: Any, sender: str = "server") -> int:
        """Publish ``body`` in ``room`` from the server side; return its sequence number.

        Example::

            rooms.publish("lobby", "the server says hi")

        Rooms shared through a backend number messages there: ``await
        rooms.publish_shared(room, body)`` instead.
        """
        if self._link is not None:
            raise WsnbError(
                "these rooms are shared through a backend, which numbers each message: "
                f"use `await rooms.publish_shared({room!r}, ...)`"
            )
        out = self.core.publish(room, body, sender)
        self._send([out])
        return self.core.room(room).history.last_seq

    async def publish_shared(self, room: str, body: Any, sender: str = "server") -> int:
        """Publish ``body`` in ``room`` from the server side, with or without a backend;
        return its sequence number once it is numbered (and kept).

        Example::

            seq = await rooms.publish_shared("lobby", "the server says hi")
        """
        if self._link is None:
            return self.publish(room, body, sender)
        if not self._link.running:
            raise WsnbError("serve these rooms first (`await wsnb.serve(rooms)`): "
                            "that connects them to their backend")  # fmt: skip
        self.core.room_for_server(room)  # KeyError now, as without a backend
        data = data_text(sender, body, time.time())
        epoch, seq = await self._link.backend.publish(room, data)
        self._send(self.core.published_elsewhere(room, epoch, seq, data))
        return seq

    def forget_history(self) -> None:
        """Lose every room's history (new epochs), as a restart without storage would.

        Clients that resume afterwards are told ``recovered: false``. Rooms
        shared through a backend keep their history there (restart a Redis
        without AOF to see them lose it).
        """
        if self._link is not None:
            raise WsnbError("these rooms keep their history in their backend, not here")
        self.core.forget_history()

    def names(self) -> list[str]:
        """The rooms' names, in the order they were created (fixed rooms in the order given)."""
        return self.core.names()

    def members(self, room: str) -> list[str]:
        """The names of the members of ``room``."""
        return self.core.members(room)

    def history(self, room: str, since: int = 0) -> list[dict[str, Any]]:
        """The messages of ``room`` after sequence number ``since``, as sent on the wire."""
        return [stored.message for stored in self.core.room(room).history.since(since)]

    def room(self, name: str) -> RoomView:
        """A view of one room that displays itself in a notebook."""
        self.core.room(name)  # KeyError for an unknown room, now rather than at display
        return RoomView(self, name)

    def __repr__(self) -> str:
        return f"<wsnb.Rooms {len(self.names())} rooms, {self.hub.count} connections>"

    def _repr_html_(self) -> str:
        rows = [
            (name, len(self.members(name)), self.core.room(name).history.last_seq)
            for name in self.names()
        ]
        return html_card(
            "wsnb.Rooms",
            [("connections", self.hub.count), ("rooms", len(rows))],
            extra=html_table(["room", "members", "messages"], rows),
        )
