"""The rooms protocol's ``join``: who may join, the member id, the reply with its history.

:class:`~wsnb.core.rooms.RoomsCore` registers :meth:`RoomJoins._join` with its
dispatcher. In shared rooms (``shared=True``) the backend gives the member id:
the join waits for it as a :class:`~wsnb.core.asks.Join` ask, then
:meth:`~wsnb.core.shared.SharedRooms.joined` finishes it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .asks import Ask, Join
from .directory import Room
from .envelope import Envelope, ErrorCode
from .pages import PROTOCOL_VERSION, Outgoing, check_int, check_text
from .reads import RoomReads

__all__ = ["RoomJoins"]

K = TypeVar("K", bound=Hashable)


@dataclass
class _Member:
    """A connection, as the rooms core knows it: its name, its rooms."""

    name: str
    rooms: list[str] = field(default_factory=list)
    created: int = 0  # rooms this connection created


class RoomJoins(RoomReads[K]):
    """Joining a room: the checks, the id, the presence change and the reply (whose member
    page and history come as the reads build theirs)."""

    rooms_are_fixed: bool
    _asks: list[Ask[K]]

    if TYPE_CHECKING:

        def _presence_changed(self, room: Room[K], out: list[Outgoing[K]]) -> None: ...

    def _join(self, key: K, member: _Member, envelope: Envelope) -> list[Outgoing[K]]:
        limits = self.limits
        room_name = check_text(envelope, envelope.room, "room", limits.max_room_name_length)
        room = self._rooms.get(room_name)
        history_size = check_int(envelope, "data.history", 0, limits.max_page)
        since = envelope.data.get("since")
        resume = None if since is None else self._since(envelope, since)
        if room is None or key not in room.members:
            self._check_can_join(envelope, member, room)
        if room is None:
            room = self._rooms.create(room_name)
            member.created += 1
        out: list[Outgoing[K]] = []
        if key not in room.members:
            self._rooms.entered(room)
            if self.shared:  # the backend gives the id (then joined())
                room.joining += 1
                ask = Join(key, envelope, room_name, member.name, history_size, resume)
                self._asks.append(ask)
                return out
            room.joins += 1
            self._add_member(key, member, room, room.joins, out)
        out.insert(0, self._join_reply(key, envelope, room, history_size, resume))
        return out

    def _add_member(
        self, key: K, member: _Member, room: Room[K], member_id: int, out: list[Outgoing[K]]
    ) -> None:
        room.members[key] = member_id
        member.rooms.append(room.name)
        room.presence.join(member_id, member.name)
        self._presence_changed(room, out)

    def _join_reply(
        self,
        key: K,
        envelope: Envelope,
        room: Room[K],
        history_size: int | None,
        resume: tuple[str, int] | None,
    ) -> Outgoing[K]:
        limits = self.limits
        history = room.history
        data: dict[str, Any] = {
            "room": room.name,
            "protocol": PROTOCOL_VERSION,
            "epoch": history.epoch,
            "seq": history.last_seq,
            "count": room.count,
            "you": room.members[key],
            "members": self._member_page(room, 0, limits.members_page),
        }
        wanted = limits.join_history if history_size is None else history_size
        if resume is None:
            messages, more = history.latest(wanted), None
        else:
            replay = history.replay(*resume)
            data["recovered"] = replay.recovered
            if replay.recovered:
                messages, more = list(replay.messages), False
            else:
                data["reason"] = replay.reason
                messages, more = history.latest(wanted), None
        return Outgoing((key,), self._history_reply(envelope, data, messages, more))

    def _check_can_join(self, envelope: Envelope, member: _Member, room: Room[K] | None) -> None:
        limits = self.limits
        if len(member.rooms) >= limits.max_rooms_per_member:
            raise envelope.fail(
                ErrorCode.TOO_MANY_ROOMS,
                f"a connection can be in at most {limits.max_rooms_per_member} rooms; "
                "leave one first",
                "room",
            )
        if room is not None:
            return
        if self.rooms_are_fixed:
            raise envelope.fail(
                ErrorCode.UNKNOWN_ROOM, f"there is no room {envelope.room!r}", "room"
            )
        if member.created >= limits.max_rooms_created:
            raise envelope.fail(
                ErrorCode.TOO_MANY_ROOMS,
                f"a connection can create at most {limits.max_rooms_created} rooms",
                "room",
            )
        if not self._rooms.make_place():
            raise envelope.fail(
                ErrorCode.SERVER_FULL,
                f"the server holds {limits.max_rooms} rooms, none of them empty; "
                "join one that exists, or try later",
                "room",
            )

    def _since(self, envelope: Envelope, since: Any) -> tuple[str, int]:
        from .fields import check_field

        since = check_field(since, "an object", "data.since", envelope.fail)
        epoch = check_field(
            since.get("epoch"), "a string", "data.since.epoch", envelope.fail, required=True
        )
        seq = check_field(
            since.get("seq"), "an integer", "data.since.seq", envelope.fail, required=True,
            minimum=0,
        )  # fmt: skip
        return epoch, seq
