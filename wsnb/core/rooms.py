"""Chat rooms as a pure state machine: requests in, messages to send out.

:class:`RoomsCore` knows members, rooms, names, presence and history, and
speaks docs/protocol.md; it never touches a socket. Feed it what a member
sent with :meth:`RoomsCore.receive`; it returns :class:`Outgoing` messages,
each encoded once and addressed to a group of members, for the I/O layer to
fan out. Presence changes are batched per room (:mod:`wsnb.core.presence`):
:meth:`RoomsCore.take_due` says which rooms to flush when, and
:meth:`RoomsCore.flush_presence` builds their events. Members are any
hashable keys (the I/O layer uses connections).

The rest is in the classes it builds on, one idea each, each on the one
before: :mod:`wsnb.core.reads` (``history``, ``members``, ``rooms``),
:mod:`wsnb.core.joins` (``join``) and :mod:`wsnb.core.shared` (rooms shared
with other processes through a backend).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from .asks import Ask, Leave, Rename, Unwatch
from .deprecation import renamed_names, warn_renamed
from .directory import Room, RoomDirectory
from .dispatch import Dispatcher
from .envelope import Envelope, ErrorCode, ProtocolError, encode_json, parse_envelope
from .history import text_bytes
from .idempotency import RecentKeys
from .joins import RoomJoins, _Member
from .pages import (
    PROTOCOL_VERSION,
    Outgoing,
    check_text,
    message_text,
    publish_reply_text,
    reply_text,
    too_large,
)
from .presence import MAX_CHANGES, presence_delay
from .reads import RoomReads
from .room_limits import RoomLimits
from .shared import SharedRooms

__all__ = ["RoomsCore", "RoomLimits", "Outgoing", "Room", "PROTOCOL_VERSION"]

K = TypeVar("K", bound=Hashable)

#: The longest ``data.idempotency_key`` of a publish, in characters.
MAX_IDEMPOTENCY_KEY = 64


class RoomsCore(SharedRooms[K]):
    """Members, rooms, presence and numbered history, with no I/O.

    >>> core = RoomsCore(epoch_factory=lambda: "e1", clock=lambda: 0.0)
    >>> core.connect("ws1", name="ada")
    >>> [out.message["type"] for out in core.receive("ws1", '{"type": "join", "room": "lobby"}')]
    ['reply']
    >>> out = core.receive("ws1", '{"type": "publish", "room": "lobby", "data": {"body": "hi"}}')
    >>> [(o.to, o.message["type"]) for o in out]
    [(('ws1',), 'reply'), (('ws1',), 'message')]
    >>> out[1].text
    '{"type":"message","room":"lobby","epoch":"e1","seq":1,"data":{"from":"ada","body":"hi","time":0.0}}'
    >>> [(room, delay) for room, delay in core.take_due()]   # ada's join, told in 50 ms
    [('lobby', 0.05)]
    >>> core.flush_presence("lobby")[0].message["data"]
    {'count': 1, 'joined': [{'id': 1, 'name': 'ada'}], 'left': [], 'renamed': []}
    """  # noqa: E501

    commands: Dispatcher[list[Outgoing[Any]]] = Dispatcher()

    def __init__(
        self,
        limits: RoomLimits | None = None,
        *,
        rooms: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        epoch_factory: Callable[[], str] | None = None,
        shared: bool = False,
    ) -> None:
        self.limits = limits or RoomLimits()
        self.rooms_are_fixed = rooms is not None
        self.shared = shared
        """Rooms shared with other processes: a backend numbers messages and gives member
        ids; what needs it waits in :meth:`take_asks` (:mod:`wsnb.core.asks`)."""
        self._asks: list[Ask[K]] = []
        self._pending_events: list[Outgoing[K]] = []
        self.recent_keys = RecentKeys()
        """The idempotency keys of recent publishes (in memory; a backend keeps its own)."""
        self._clock = clock
        self._epoch_factory = epoch_factory
        self._members: dict[K, _Member] = {}
        self._rooms = RoomDirectory[K](self.limits, epoch_factory)
        self._due: list[str] = []  # rooms whose presence batch just got its first change
        self._guests = 0
        for name in rooms or ():
            self._rooms.create(name)

    # Membership of connections -------------------------------------------------

    @property
    def fixed_rooms(self) -> bool:
        """Deprecated alias of :attr:`rooms_are_fixed` (removed in wsnb 0.3)."""
        warn_renamed("RoomsCore.fixed_rooms", "RoomsCore.rooms_are_fixed")
        return self.rooms_are_fixed

    def connect(self, key: K, name: str | None = None) -> None:
        """A member arrived; it is called ``name`` or ``guest-N`` until it says ``hello``."""
        if name is None:
            self._guests += 1
            name = f"guest-{self._guests}"
        self._members[key] = _Member(name)

    def disconnect(self, key: K) -> list[Outgoing[K]]:
        """A member left: it leaves its rooms (their members are told, at the next tick)."""
        member = self._members.pop(key, None)
        if member is None:
            return []
        out: list[Outgoing[K]] = []
        for room_name in list(member.rooms):
            self._leave(key, member, self._rooms[room_name], out)
        return out

    def receive(self, key: K, raw: str | bytes) -> list[Outgoing[K]]:
        """Handle one message from ``key``; bad input becomes an error reply to it alone."""
        member = self._members.get(key)
        if member is None:  # disconnected already (closed as too slow, say)
            return []
        try:
            if not isinstance(raw, str):
                raise ProtocolError(
                    ErrorCode.NOT_TEXT, "a binary frame: send each request as a text frame"
                )
            envelope = parse_envelope(raw)
            out = self.commands.dispatch(envelope, self, key, member)
        except ProtocolError as error:
            return [Outgoing((key,), encode_json(error.to_message()))]
        return out

    # Presence ticks ------------------------------------------------------------------

    @property
    def presence_due(self) -> bool:
        """Whether :meth:`take_due` has rooms to give."""
        return bool(self._due)

    def take_due(self) -> list[tuple[str, float]]:
        """Rooms that started collecting presence changes, with the delay before their event.

        The I/O layer calls :meth:`flush_presence` for each after its delay.
        """
        due, self._due = self._due, []
        limits = self.limits
        return [
            (name, presence_delay(room.count, limits.presence_interval,
                                  limits.presence_max_interval))
            for name in due
            if (room := self._rooms.get(name)) is not None
        ]  # fmt: skip

    def flush_presence(self, room: str | None = None) -> list[Outgoing[K]]:
        """The presence event of ``room`` (or of every room) for its changes so far."""
        rooms = list(self._rooms) if room is None else [self._rooms.get(room)]
        return [out for r in rooms if r is not None and (out := self._presence_event(r))]

    # Queries for the I/O layer and the notebook ---------------------------------

    def names(self) -> list[str]:
        """The rooms' names, in the order they were created."""
        return self._rooms.names()

    def room(self, name: str) -> Room[K]:
        """The room called ``name`` (``KeyError`` if there is none)."""
        return self._rooms[name]

    def members(self, room: str) -> list[str]:
        """The names of a room's members, in the order they joined (shared rooms: of every
        process, as far as this one follows the room)."""
        target = self._rooms[room]
        if not self.shared:
            return [self._members[k].name for k in target.members]
        return [m["name"] for m in self._member_page(target, 0, target.count)]

    def name_of(self, key: K) -> str:
        return self._members[key].name

    def forget_history(self) -> None:
        """Lose every room's history, as a restart without storage would: new epochs."""
        self._rooms.forget_history()

    def publish(self, room: str, body: Any, sender: str) -> Outgoing[K]:
        """Publish ``body`` in ``room`` on behalf of ``sender`` (who need not be a member).

        The room is created if needed (``KeyError`` if the list of rooms is
        fixed, or the server holds ``max_rooms`` rooms with members);
        ``ValueError`` if the message would be over ``max_event_bytes``.
        """
        target = self.room_for_server(room)
        text = self._message_text(target, sender, body)
        if text_bytes(text) > self.limits.max_event_bytes:
            raise ValueError(f"the message would be over {self.limits.max_event_bytes} bytes")
        return self._keep(target, text)

    def room_for_server(self, room: str) -> Room[K]:
        """``room``, created if need be for the server to publish in (``KeyError`` if the
        list of rooms is fixed, or the server holds ``max_rooms`` rooms with members)."""
        target = self._rooms.get(room)
        if target is None:
            if self.rooms_are_fixed or not self._rooms.make_place():
                raise KeyError(f"there is no room {room!r}, and none can be created")
            target = self._rooms.create(room)
            self._rooms.emptied(target)  # nobody is in it: it can make way
        return target

    # Commands (docs/protocol.md) --------------------------------------------------

    @commands.on("hello")
    def _hello(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        name = check_text(
            envelope, envelope.data.get("name"), "data.name", self.limits.max_name_length
        )
        old, member.name = member.name, name
        out = [Outgoing((key,), reply_text(envelope, {"name": name, "protocol": PROTOCOL_VERSION}))]
        for room_name in member.rooms:
            room = self._rooms[room_name]
            room.presence.rename(room.members[key], name, was=old)
            self._presence_changed(room, out)
            if self.shared:
                self._asks.append(Rename(room_name, room.members[key], name))
        return out

    # join after hello, as docs/protocol.md lists them: the unknown_type error does too
    commands.on("join", needs_room=True)(RoomJoins._join)

    @commands.on("leave", needs_room=True)
    def _leave_command(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._member_room(key, envelope)
        out = [Outgoing((key,), reply_text(envelope, {"room": room.name}))]
        self._leave(key, member, room, out)
        return out

    @commands.on("publish", needs_room=True)
    def _publish_command(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        data = envelope.data
        room = self._rooms.get(envelope.room)
        if room is None or key not in room.members:
            room = self._member_room(key, envelope)  # the error it raises
        wants_reply, once = _publish_options(envelope)
        if self.shared:
            return self._ask_to_publish(key, envelope, room, member.name, wants_reply, once)
        if once is not None and (seq := self.recent_keys.get(room.name, once, room.history.epoch)):
            if wants_reply is False:
                return []
            return [Outgoing((key,), publish_reply_text(envelope, room.name, seq, duplicate=True))]
        text = self._message_text(room, member.name, data["body"])
        size = text_bytes(text)
        if size > self.limits.max_event_bytes:
            raise too_large(envelope, size, self.limits.max_event_bytes)
        message = self._keep(room, text, size)
        if once is not None:
            self.recent_keys.put(room.name, once, room.history.epoch, room.history.last_seq)
        if wants_reply is False:
            return [message]
        reply = publish_reply_text(envelope, room.name, room.history.last_seq)
        return [Outgoing((key,), reply), message]

    commands.on("history", needs_room=True)(RoomReads._history)
    commands.on("members", needs_room=True)(RoomReads._members_command)
    commands.on("rooms")(RoomReads._rooms_command)

    # Helpers ---------------------------------------------------------------------

    def _member_room(self, key: K, envelope: Envelope) -> Room[K]:
        room = self._existing_room(envelope)
        if key not in room.members:
            raise envelope.fail(
                ErrorCode.NOT_A_MEMBER, f"join {room.name!r} before using it", "room"
            )
        return room

    def _message_text(self, room: Room[K], sender: str, body: Any) -> str:
        """The ``message`` event's JSON, numbered as the room's next message."""
        history = room.history
        return message_text(room.head(), history.next_seq, sender, body, self._clock())

    def _keep(self, room: Room[K], text: str, size: int | None = None) -> Outgoing[K]:
        room.history.append(text, size)
        self._rooms.used(room)
        return Outgoing(tuple(room.members), text)

    def _leave(self, key: K, member: _Member, room: Room[K], out: list[Outgoing[K]]) -> None:
        member_id = room.members.pop(key)
        member.rooms.remove(room.name)
        room.presence.leave(member_id, member.name)
        self._presence_changed(room, out)
        if self.shared:
            self._asks.append(Leave(room.name, member_id))
        if not room.members:
            self._last_one_left(room)

    def _last_one_left(self, room: Room[K]) -> None:
        if self.shared and room.watched and not room.joining:  # its copy goes stale from now
            room.watched, room.remote, room.held = False, {}, {}
            room.presence = type(room.presence)()
            self._asks.append(Unwatch(room.name))
        if not self.rooms_are_fixed:
            self._rooms.emptied(room)

    def _presence_changed(self, room: Room[K], out: list[Outgoing[K]]) -> None:
        """A change went into ``room``'s batch: send it now, or have it flushed later."""
        pending = len(room.presence)
        if self.limits.presence_interval <= 0 or pending >= MAX_CHANGES:
            event = self._presence_event(room)
            if event is not None:
                out.append(event)
        elif pending == 1:
            self._due.append(room.name)

    def _presence_event(self, room: Room[K]) -> Outgoing[K] | None:
        if not room.presence:
            return None
        data = room.presence.data(room.count)
        if not room.members:
            return None
        event = {"type": "presence", "room": room.name, "data": data}
        return Outgoing(tuple(room.members), encode_json(event))


def _publish_options(envelope: Envelope) -> tuple[bool | None, str | None]:
    """A publish's ``data.reply`` and ``data.idempotency_key``, checked (and its body there)."""
    data = envelope.data
    if "body" not in data:
        raise envelope.fail(ErrorCode.MISSING_FIELD, "'data.body' is required", "data.body")
    wants_reply = data.get("reply", True)
    if wants_reply is not True and wants_reply is not False and wants_reply is not None:
        raise envelope.fail(ErrorCode.WRONG_TYPE, "'data.reply' must be a boolean", "data.reply")
    once = data.get("idempotency_key")
    if once is not None:
        once = check_text(envelope, once, "data.idempotency_key", MAX_IDEMPOTENCY_KEY)
    return wants_reply, once


__getattr__ = renamed_names(__name__, {"Limits": ("RoomLimits", RoomLimits)})
