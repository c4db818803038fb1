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
from typing import Any

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Data

from .core.rooms import Outgoing, RoomLimits, RoomsCore
from .display import html_card, html_table
from .hub import DEFAULT_MAX_BUFFERED, Hub, SlowClientPolicy
from .json_messages import encode_json

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
        """How many members the room has."""
        return len(self._rooms.core.room(self.name).members)

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
    """

    def __init__(
        self,
        *,
        rooms: Iterable[str] | None = None,
        limits: RoomLimits | None = None,
        history_size: int | None = None,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        slow_clients: SlowClientPolicy = "close",
    ) -> None:
        limits = limits or RoomLimits()
        if history_size is not None:
            joins = min(limits.join_history, history_size)
            limits = dataclasses.replace(limits, history_size=history_size, join_history=joins)
        self.core: RoomsCore[Connection] = RoomsCore(limits, rooms=rooms)
        self._formats: dict[Connection, Formatter] = {}  # members of your own handler
        self.hub = Hub(
            max_buffered=max_buffered,
            slow_clients=slow_clients,
            relay=False,
            on_slow_close=self._forget,
        )

    async def __call__(self, connection: Connection) -> None:
        """Serve one connection until it closes, then take it out of its rooms."""
        core, send = self.core, self._send
        with self.hub.join(connection):
            core.connect(connection)
            try:
                async for raw in connection:
                    send(core.receive(connection, raw))
            except ConnectionClosed:
                pass
            finally:
                self._forget(connection)

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
        """
        out = self.core.publish(room, body, sender)
        self._send([out])
        return self.core.room(room).history.last_seq

    def forget_history(self) -> None:
        """Lose every room's history (new epochs), as a restart without storage would.

        Clients that resume afterwards are told ``recovered: false``.
        """
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
