"""Rooms for a handler of your own: put a connection in a room under a name you chose.

The card's ``ChatRoom``: your handler authenticates its way, then ``await
room.join(ws, username=...)``, ``await room.send_message(ws, text)``, ``await
room.leave(ws)``. Underneath it is one room of a :class:`wsnb.Rooms`, the same
core its protocol clients use: they and your handler's members are in one
room, see each other's messages and presence, and share its numbered
history. Your handler's clients do not speak docs/protocol.md, so each of
them gets room traffic through a *format* (see :class:`ChatRoom`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any, Literal

from websockets.asyncio.connection import Connection
from websockets.typing import Data

from .core.envelope import encode_json, request_envelope
from .display import html_card
from .rooms import Formatter, Rooms, RoomView
from .rooms_client import RequestError

__all__ = ["ChatRoom"]

FormatName = Literal["json", "text", "protocol"]
UserFormat = Callable[[dict[str, Any]], Data | list[Data] | None]


def _text(body: Any) -> str:
    return body if isinstance(body, str) else encode_json(body)


def card_json(event: dict[str, Any]) -> list[Data]:
    """The card's messages: ``{"type": "message", "user", "room", "text", "seq"}``, and one
    ``join`` / ``leave`` / ``rename`` per presence change.

    >>> card_json({"type": "message", "room": "a", "seq": 3, "data": {"from": "ada", "body": "hi"}})
    ['{"type":"message","user":"ada","room":"a","text":"hi","seq":3}']
    """
    room = event.get("room")
    data = event.get("data", {})
    if event.get("type") == "message":
        message = {"type": "message", "user": data["from"], "room": room}
        return [encode_json(message | {"text": data["body"], "seq": event["seq"]})]
    if event.get("type") != "presence":
        return []
    out: list[Data] = [
        encode_json({"type": "join", "user": m["name"], "room": room}) for m in data["joined"]
    ]
    out += [
        encode_json({"type": "rename", "user": m["name"], "was": m["was"], "room": room})
        for m in data["renamed"]
    ]
    out += [encode_json({"type": "leave", "user": m["name"], "room": room}) for m in data["left"]]
    return out


def plain_text(event: dict[str, Any]) -> list[Data]:
    """Lines for a human: ``ada: hi``, ``* bob joined lobby``.

    >>> plain_text({"type": "message", "room": "a", "data": {"from": "ada", "body": "hi"}})
    ['ada: hi']
    """
    data = event.get("data", {})
    if event.get("type") == "message":
        return [f"{data['from']}: {_text(data['body'])}"]
    if event.get("type") != "presence":
        return []
    room = event["room"]
    lines: list[Data] = [f"* {m['name']} joined {room}" for m in data["joined"]]
    lines += [f"* {m['was']} is now {m['name']}" for m in data["renamed"]]
    lines += [f"* {m['name']} left {room}" for m in data["left"]]
    return lines


def as_protocol(event: dict[str, Any]) -> list[Data]:
    """The event as docs/protocol.md sends it."""
    return [encode_json(event)]


_FORMATS: dict[str, Formatter] = {"json": card_json, "text": plain_text, "protocol": as_protocol}


def _formatter(format: FormatName | UserFormat) -> Formatter:
    if isinstance(format, str):
        try:
            return _FORMATS[format]
        except KeyError:
            raise ValueError(f"format must be one of {sorted(_FORMATS)} or a function") from None

    def user(event: dict[str, Any]) -> list[Data]:
        made = format(event)
        if made is None:
            return []
        return [made] if isinstance(made, str | bytes) else list(made)

    return user


class _Member:
    """A connection of your handler in a Rooms: its hub membership and its watcher."""

    def __init__(self, rooms: Rooms, ws: Connection) -> None:
        self.rooms: set[str] = set()  # the rooms it is in, through ChatRooms
        self.exits = contextlib.ExitStack()
        self.exits.enter_context(rooms.hub.join(ws))
        self.watcher = asyncio.get_running_loop().create_task(self._watch(rooms, ws))

    @staticmethod
    async def _watch(rooms: Rooms, ws: Connection) -> None:
        await ws.wait_closed()  # closed without leave(): out of every room all the same
        _detach(rooms, ws)


_members: weakref.WeakKeyDictionary[Rooms, dict[Connection, _Member]] = weakref.WeakKeyDictionary()


def _detach(rooms: Rooms, ws: Connection) -> None:
    member = _members.get(rooms, {}).pop(ws, None)
    if member is None:
        return
    rooms._formats.pop(ws, None)
    rooms._forget(ws)
    member.exits.close()
    if member.watcher is not asyncio.current_task():
        member.watcher.cancel()


def _request(rooms: Rooms, ws: Connection, message_type: str, room: str | None = None,
             **data: Any) -> dict[str, Any]:  # fmt: skip
    """Run one request for ``ws`` through the rooms core; send what it causes; return the
    reply's data (the core answers first) or raise :class:`wsnb.RequestError`."""
    try:
        raw = encode_json(request_envelope(message_type, None, room, data))
    except TypeError:
        raise TypeError(f"a message must be text or a JSON value, not {data!r:.60}") from None
    answer, *caused = rooms.core.receive(ws, raw)
    rooms._send(caused)
    reply: dict[str, Any] = answer.message
    if reply["type"] == "error":
        raise RequestError(reply)
    return reply["data"]  # type: ignore[no-any-return]


class ChatRoom:
    """A room your own handler puts connections in, under names it chose.

    ``ChatRoom(name, max_history=50)`` makes a room with a :class:`wsnb.Rooms`
    of its own (``room.rooms``, which you may also serve to protocol
    clients); ``ChatRoom(name, rooms=rooms)`` is a room of an existing one,
    shared with its protocol clients. Either way there is one rooms core:
    members, presence, numbered history and limits are the protocol's.

    A member of yours gets room traffic through its ``format``:

    * ``"json"`` (default): the card's messages, ``{"type": "message",
      "user", "room", "text", "seq"}``, and ``{"type": "join" | "leave" |
      "rename", "user", "room"}`` for each presence change (a member also
      hears of its own join, as protocol clients do);
    * ``"text"``: plain lines, ``ada: hi`` and ``* bob joined lobby``;
    * ``"protocol"``: the events exactly as docs/protocol.md sends them;
    * a function ``format(event) -> str | bytes | list | None``.

    Presence comes per tick, as the protocol batches it (50 ms). On
    :meth:`join` the room's history (``max_history`` messages) is sent to
    the newcomer in the same format. A connection that closes without
    :meth:`leave` leaves all the same.

    Example::

        room = wsnb.ChatRoom("general", max_history=50)

        async def handler(ws):
            user = await ws.recv()                        # authenticate your own way
            await room.join(ws, username=user, format="text")
            try:
                async for text in ws:
                    await room.send_message(ws, text)
            finally:
                await room.leave(ws)

        server = await wsnb.serve(handler)
    """

    def __init__(
        self,
        name: str,
        max_history: int | None = None,
        *,
        rooms: Rooms | None = None,
        format: FormatName | UserFormat = "json",
    ) -> None:
        if rooms is None:
            rooms = Rooms(history_size=50 if max_history is None else max_history)
        elif max_history is not None:
            raise TypeError("the Rooms keeps the history: wsnb.Rooms(history_size=...)")
        self.name = name
        self.rooms = rooms
        """The :class:`wsnb.Rooms` this room is one of (serve it for protocol clients)."""
        self.format = _formatter(format)

    @property
    def member_count(self) -> int:
        """How many members the room has: yours and protocol clients."""
        return self.view.count if self.name in self.rooms.names() else 0

    @property
    def members(self) -> list[str]:
        """Member names, in the order they joined."""
        return self.rooms.members(self.name) if self.name in self.rooms.names() else []

    @property
    def view(self) -> RoomView:
        """The room as :meth:`wsnb.Rooms.room` shows it (``KeyError`` before anyone joined)."""
        return self.rooms.room(self.name)

    async def join(
        self,
        ws: Connection,
        username: str | None = None,
        *,
        format: FormatName | UserFormat | None = None,
    ) -> dict[str, Any]:
        """Put ``ws`` in the room as ``username``; send it the history; return the join reply.

        Everyone in the room hears of it at the next presence tick. Joining
        again is harmless; another ``username`` renames the connection in
        every room. Refusals (a bad name, too many rooms) raise
        :class:`wsnb.RequestError` and change nothing.
        """
        rooms = self.rooms
        own = _members.setdefault(rooms, {})
        new = ws not in own
        if new:
            rooms.core.connect(ws)
            own[ws] = _Member(rooms, ws)
        rooms._formats[ws] = self.format if format is None else _formatter(format)
        try:
            if username is not None and username != rooms.core.name_of(ws):
                _request(rooms, ws, "hello", name=username)
            limit = rooms.core.limits.history_size
            reply = _request(rooms, ws, "join", self.name, history=limit)
        except (RequestError, TypeError):
            if new:
                _detach(rooms, ws)
            raise
        own[ws].rooms.add(self.name)
        send = rooms._formats[ws]
        for message in reply["history"]:
            for data in send(message):
                rooms.hub.broadcast(data, to=(ws,))
        return reply

    async def send_message(self, ws: Connection, text: Any) -> int:
        """Publish ``text`` (any JSON value) in the room from ``ws``; return its seq.

        Every member gets it, the sender included. ``ws`` must have joined
        (:class:`wsnb.RequestError` ``not_a_member`` otherwise).
        """
        if ws not in _members.get(self.rooms, {}):
            raise RequestError(
                {"code": "not_a_member", "message": f"join {self.name!r} before sending to it"}
            )
        return int(_request(self.rooms, ws, "publish", self.name, body=text)["seq"])

    async def leave(self, ws: Connection) -> None:
        """Take ``ws`` out of the room (nothing happens if it is not in it)."""
        rooms = self.rooms
        member = _members.get(rooms, {}).get(ws)
        if member is None or self.name not in member.rooms:
            return
        member.rooms.discard(self.name)
        with contextlib.suppress(RequestError):
            _request(rooms, ws, "leave", self.name)
        if not member.rooms:
            _detach(rooms, ws)

    def __repr__(self) -> str:
        return f"<wsnb.ChatRoom {self.name!r} members={self.members}>"

    def _repr_html_(self) -> str:
        if self.name not in self.rooms.names():
            return html_card(f"room {self.name}", [("members", "nobody yet")])
        return self.view._repr_html_()
