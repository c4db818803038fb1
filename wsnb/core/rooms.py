"""Chat rooms as a pure state machine: requests in, messages to send out.

:class:`RoomsCore` knows members, rooms, names, presence and history, and
speaks docs/protocol.md; it never touches a socket. Feed it what a member
sent with :meth:`RoomsCore.receive`; it returns :class:`Outgoing` messages,
each addressed to a group of members, for the I/O layer to fan out. Members
are any hashable keys (the I/O layer uses connections).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .deprecation import renamed_names, warn_renamed
from .dispatch import Dispatcher
from .envelope import Envelope, ErrorCode, ProtocolError, json_kind, parse_envelope
from .fields import check_field
from .history import History

__all__ = ["RoomsCore", "RoomLimits", "Outgoing", "Room"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class RoomLimits:
    """The rooms protocol's limits (docs/protocol.md lists them too).

    Not to be confused with :mod:`wsnb.limits`, which limits connections.

    >>> RoomLimits().max_rooms_per_member
    16
    >>> RoomLimits(history_size=100).history_size
    100
    """

    history_size: int = 1000
    """Messages kept per room for late joiners and resuming clients."""
    join_history: int = 20
    """Messages a plain join (one without ``since``) gets by default."""
    max_rooms_per_member: int = 16
    max_name_length: int = 32
    max_room_name_length: int = 64


@dataclass(frozen=True, slots=True)
class Outgoing(Generic[K]):
    """One message for the I/O layer to send, as JSON, to each member in ``to``."""

    to: tuple[K, ...]
    message: dict[str, Any]


@dataclass
class Room(Generic[K]):
    """One room: its members (key -> name, in join order) and its history."""

    name: str
    history: History
    members: dict[K, str] = field(default_factory=dict)

    def member_names(self) -> list[str]:
        return list(self.members.values())


@dataclass
class _Member:
    name: str
    rooms: list[str] = field(default_factory=list)


def _reply(envelope: Envelope, data: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "reply"}
    if envelope.id is not None:
        reply["id"] = envelope.id
    reply["re"] = envelope.type
    reply["data"] = data
    return reply


def _check_text(envelope: Envelope, value: Any, path: str, limit: int) -> str:
    """A non-empty, printable string of at most ``limit`` characters."""
    if not isinstance(value, str):
        raise envelope.fail(
            ErrorCode.WRONG_TYPE, f"'{path}' must be a string, not {json_kind(value)}", path
        )
    if not value.strip():
        raise envelope.fail(ErrorCode.INVALID_VALUE, f"'{path}' must not be empty", path)
    if len(value) > limit:
        raise envelope.fail(ErrorCode.TOO_LONG, f"'{path}' is longer than {limit} characters", path)
    if not value.isprintable():
        raise envelope.fail(
            ErrorCode.INVALID_VALUE, f"'{path}' must not contain control characters", path
        )
    return value


def _check_int(envelope: Envelope, path: str, *, minimum: int, default: int | None) -> int | None:
    value = envelope.data.get(path.removeprefix("data."), default)
    return check_field(value, "an integer", path, envelope.fail, minimum=minimum)  # type: ignore[no-any-return]


class RoomsCore(Generic[K]):
    """Members, rooms, presence and numbered history, with no I/O.

    >>> core = RoomsCore(epoch_factory=lambda: "e1", clock=lambda: 0.0)
    >>> core.connect("ws1", name="ada")
    >>> [out.message["type"] for out in core.receive("ws1", '{"type": "join", "room": "lobby"}')]
    ['reply']
    >>> out = core.receive("ws1", '{"type": "publish", "room": "lobby", "data": {"body": "hi"}}')
    >>> [(o.to, o.message["type"]) for o in out]
    [(('ws1',), 'reply'), (('ws1',), 'message')]
    >>> out[1].message
    {'type': 'message', 'room': 'lobby', 'epoch': 'e1', 'seq': 1, 'data': {'from': 'ada', 'body': 'hi', 'time': 0.0}}
    """  # noqa: E501

    commands: Dispatcher[list[Outgoing[Any]]] = Dispatcher()

    def __init__(
        self,
        limits: RoomLimits | None = None,
        *,
        rooms: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        epoch_factory: Callable[[], str] | None = None,
    ) -> None:
        self.limits = limits or RoomLimits()
        self.rooms_are_fixed = rooms is not None
        self._clock = clock
        self._epoch_factory = epoch_factory
        self._members: dict[K, _Member] = {}
        self._rooms: dict[str, Room[K]] = {}
        self._guests = 0
        for name in rooms or ():
            self._create_room(name)

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
        """A member left: it leaves its rooms, and their members are told."""
        member = self._members.pop(key, None)
        if member is None:
            return []
        out = [o for room in list(member.rooms) for o in self._leave(key, member, room)]
        return [o for o in out if o.to]

    def receive(self, key: K, raw: str | bytes) -> list[Outgoing[K]]:
        """Handle one message from ``key``; bad input becomes an error reply to it alone."""
        try:
            envelope = parse_envelope(raw)
            out = self.commands.dispatch(envelope, self, key, self._members[key])
        except ProtocolError as error:
            return [Outgoing((key,), error.to_message())]
        return [o for o in out if o.to]

    # Queries for the I/O layer and the notebook ---------------------------------

    def names(self) -> list[str]:
        """The rooms' names, in the order they were created."""
        return list(self._rooms)

    def room(self, name: str) -> Room[K]:
        """The room called ``name`` (``KeyError`` if there is none)."""
        return self._rooms[name]

    def members(self, room: str) -> list[str]:
        """The names of a room's members, in the order they joined."""
        return self._rooms[room].member_names()

    def name_of(self, key: K) -> str:
        return self._members[key].name

    def forget_history(self) -> None:
        """Lose every room's history, as a restart without storage would: new epochs."""
        for room in self._rooms.values():
            room.history.reset()
            if self._epoch_factory is not None:
                room.history.epoch = self._epoch_factory()

    def publish(self, room: str, body: Any, sender: str) -> Outgoing[K]:
        """Publish ``body`` in ``room`` on behalf of ``sender`` (who need not be a member).

        The room is created if needed, unless the list of rooms is fixed
        (``KeyError`` then).
        """
        target = self._rooms.get(room)
        if target is None:
            if self.rooms_are_fixed:
                raise KeyError(f"there is no room {room!r} (the list of rooms is fixed)")
            target = self._create_room(room)
        return self._publish(target, sender, body)

    # Commands (docs/protocol.md) --------------------------------------------------

    @commands.on("hello")
    def _hello(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        if envelope.data.get("name") is None:
            raise envelope.fail(ErrorCode.MISSING_FIELD, "'data.name' is required", "data.name")
        name = _check_text(
            envelope, envelope.data.get("name"), "data.name", self.limits.max_name_length
        )
        old, member.name = member.name, name
        out = [Outgoing((key,), _reply(envelope, {"name": name}))]
        for room_name in member.rooms:
            room = self._rooms[room_name]
            room.members[key] = name
            out.append(self._presence(room, "rename", name, exclude=key, was=old))
        return out

    @commands.on("join", needs_room=True)
    def _join(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        room_name = self._room_name(envelope)
        room = self._rooms.get(room_name)
        if room is None and self.rooms_are_fixed:
            raise envelope.fail(ErrorCode.UNKNOWN_ROOM, f"there is no room {room_name!r}", "room")
        since = envelope.data.get("since")
        history_size = _check_int(
            envelope, "data.history", minimum=0, default=self.limits.join_history
        )
        resume = None if since is None else self._since(envelope, since)
        if room_name not in member.rooms and len(member.rooms) >= self.limits.max_rooms_per_member:
            raise envelope.fail(
                ErrorCode.TOO_MANY_ROOMS,
                f"a connection can be in at most {self.limits.max_rooms_per_member} rooms",
                "room",
            )
        if room is None:
            room = self._create_room(room_name)
        data: dict[str, Any] = {
            "room": room_name,
            "epoch": room.history.epoch,
            "seq": room.history.last_seq,
        }
        if resume is not None:
            epoch, seq = resume
            replay = room.history.replay(epoch, seq)
            data["recovered"] = replay.recovered
            if replay.recovered:
                data["history"] = list(replay.messages)
            else:
                data["reason"] = replay.reason
                data["history"] = room.history.since(0, limit=history_size)
        else:
            data["history"] = room.history.since(0, limit=history_size)
        out = []
        if key not in room.members:
            room.members[key] = member.name
            member.rooms.append(room_name)
            out.append(self._presence(room, "join", member.name, exclude=key))
        data["members"] = room.member_names()
        out.insert(0, Outgoing((key,), _reply(envelope, data)))
        return out

    @commands.on("leave", needs_room=True)
    def _leave_command(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._member_room(key, envelope)
        return [
            Outgoing((key,), _reply(envelope, {"room": room.name})),
            *self._leave(key, member, room.name),
        ]

    @commands.on("publish", needs_room=True)
    def _publish_command(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._member_room(key, envelope)
        if "body" not in envelope.data:
            raise envelope.fail(ErrorCode.MISSING_FIELD, "'data.body' is required", "data.body")
        message = self._publish(room, member.name, envelope.data["body"])
        return [
            Outgoing((key,), _reply(envelope, {"room": room.name, "seq": message.message["seq"]})),
            message,
        ]

    @commands.on("history", needs_room=True)
    def _history(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._existing_room(envelope)
        since = _check_int(envelope, "data.since", minimum=0, default=0)
        limit = _check_int(envelope, "data.limit", minimum=1, default=None)
        return [
            Outgoing(
                (key,),
                _reply(
                    envelope,
                    {
                        "room": room.name,
                        "epoch": room.history.epoch,
                        "seq": room.history.last_seq,
                        "messages": room.history.since(since or 0, limit=limit),
                    },
                ),
            )
        ]

    @commands.on("members", needs_room=True)
    def _members_command(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._existing_room(envelope)
        return [
            Outgoing((key,), _reply(envelope, {"room": room.name, "members": room.member_names()}))
        ]

    @commands.on("rooms")
    def _rooms_command(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        rooms = [
            {"room": r.name, "members": len(r.members), "seq": r.history.last_seq}
            for r in self._rooms.values()
        ]
        return [Outgoing((key,), _reply(envelope, {"rooms": rooms}))]

    # Helpers ---------------------------------------------------------------------

    def _create_room(self, name: str) -> Room[K]:
        history = History(self.limits.history_size)
        if self._epoch_factory is not None:
            history.epoch = self._epoch_factory()
        room = Room[K](name, history)
        self._rooms[name] = room
        return room

    def _room_name(self, envelope: Envelope) -> str:
        return _check_text(envelope, envelope.room, "room", self.limits.max_room_name_length)

    def _existing_room(self, envelope: Envelope) -> Room[K]:
        known = self._rooms.get(envelope.room) if envelope.room is not None else None
        if known is not None:  # its name was checked when the room was created
            return known
        name = self._room_name(envelope)
        room = self._rooms.get(name)
        if room is None:
            raise envelope.fail(ErrorCode.UNKNOWN_ROOM, f"there is no room {name!r}", "room")
        return room

    def _member_room(self, key: K, envelope: Envelope) -> Room[K]:
        room = self._existing_room(envelope)
        if key not in room.members:
            raise envelope.fail(
                ErrorCode.NOT_A_MEMBER, f"join {room.name!r} before using it", "room"
            )
        return room

    def _since(self, envelope: Envelope, since: Any) -> tuple[str, int]:
        since = check_field(since, "an object", "data.since", envelope.fail)
        epoch = check_field(
            since.get("epoch"), "a string", "data.since.epoch", envelope.fail, required=True
        )
        seq = check_field(
            since.get("seq"),
            "an integer",
            "data.since.seq",
            envelope.fail,
            required=True,
            minimum=0,
        )
        return epoch, seq

    def _publish(self, room: Room[K], sender: str, body: Any) -> Outgoing[K]:
        message = {
            "type": "message",
            "room": room.name,
            "epoch": room.history.epoch,
            "seq": 0,
            "data": {"from": sender, "body": body, "time": self._clock()},
        }
        room.history.append(message)
        return Outgoing(tuple(room.members), message)

    def _leave(self, key: K, member: _Member, room_name: str) -> list[Outgoing[K]]:
        room = self._rooms[room_name]
        room.members.pop(key, None)
        member.rooms.remove(room_name)
        return [self._presence(room, "leave", member.name, exclude=key)]

    def _presence(
        self, room: Room[K], event: str, name: str, *, exclude: K, **extra: Any
    ) -> Outgoing[K]:
        data = {"event": event, "name": name, **extra, "members": room.member_names()}
        return Outgoing(
            tuple(k for k in room.members if k != exclude),
            {"type": "presence", "room": room.name, "data": data},
        )


__getattr__ = renamed_names(__name__, {"Limits": ("RoomLimits", RoomLimits)})
