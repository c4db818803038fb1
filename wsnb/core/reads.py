"""The rooms protocol's reads: ``history``, ``members`` and ``rooms``, a page at a time.

A base of :class:`~wsnb.core.rooms.RoomsCore`: these requests change nothing,
so they live apart from the ones that do (join, leave, hello, publish).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from .directory import Room, RoomDirectory
from .envelope import Envelope, ErrorCode
from .history import text_bytes
from .pages import Outgoing, check_int, check_text, fit_newest, fit_oldest, reply_text
from .room_limits import RoomLimits

__all__ = ["RoomReads"]

K = TypeVar("K", bound=Hashable)


class RoomReads(Generic[K]):
    """The read-only requests of docs/protocol.md, answered from the rooms' state.

    :class:`~wsnb.core.rooms.RoomsCore` registers them with its dispatcher.
    """

    limits: RoomLimits
    shared: bool
    _rooms: RoomDirectory[K]
    _members: dict[K, Any]

    def _history(self, key: K, member: Any, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._existing_room(envelope)
        since = check_int(envelope, "data.since", 0)
        limit = check_int(envelope, "data.limit", 1, self.limits.max_page)
        history = room.history
        data = {"room": room.name, "epoch": history.epoch, "seq": history.last_seq}
        if since is None:  # the newest messages
            messages, more = history.latest(limit or self.limits.join_history), None
        else:  # a page forward from since
            page = history.since(since, limit or self.limits.members_page)
            messages, more = page, bool(page) and page[-1].seq < history.last_seq
        text = self._history_reply(envelope, data, messages, more, key="messages")
        return [Outgoing((key,), text)]

    def _members_command(self, key: K, member: Any, envelope: Envelope) -> list[Outgoing[K]]:
        room = self._existing_room(envelope)
        after = check_int(envelope, "data.after", 0) or 0
        limit = check_int(envelope, "data.limit", 1, self.limits.max_page)
        page = self._member_page(room, after, limit or self.limits.members_page)
        last = self._last_member_id(room)
        data = {
            "room": room.name,
            "count": room.count,
            "members": page,
            "next": page[-1]["id"] if page and page[-1]["id"] < last else None,
        }
        return [Outgoing((key,), reply_text(envelope, data))]

    def _rooms_command(self, key: K, member: Any, envelope: Envelope) -> list[Outgoing[K]]:
        after = check_int(envelope, "data.after", 0) or 0
        limit = check_int(envelope, "data.limit", 1, self.limits.max_page)
        limit = limit or self.limits.members_page
        rooms = self._rooms.after(after)
        page = [
            {"room": r.name, "count": r.count, "seq": r.history.last_seq} for r in rooms[:limit]
        ]
        data = {
            "count": len(self._rooms),
            "rooms": page,
            "next": rooms[limit - 1].number if len(rooms) > limit else None,
        }
        return [Outgoing((key,), reply_text(envelope, data))]

    def _existing_room(self, envelope: Envelope) -> Room[K]:
        known = self._rooms.get(envelope.room)
        if known is not None:  # its name was checked when the room was created
            return known
        name = check_text(envelope, envelope.room, "room", self.limits.max_room_name_length)
        raise envelope.fail(ErrorCode.UNKNOWN_ROOM, f"there is no room {name!r}", "room")

    def _history_reply(
        self,
        envelope: Envelope,
        data: dict[str, Any],
        messages: list[Any],
        more: bool | None,
        key: str = "history",
    ) -> str:
        """A reply listing ``messages``, as many as fit in a frame (the newest, or with
        ``more`` not None, the oldest: a page, ``more`` true if it was cut)."""
        budget = self.limits.max_frame_bytes - text_bytes(reply_text(envelope, data)) - 64
        if more is None:
            texts = fit_newest(messages, budget)
        else:
            texts = fit_oldest(messages, budget)
            data["more"] = more or len(texts) < len(messages)
        return reply_text(envelope, data, key, texts)

    def _member_page(self, room: Room[K], after: int, limit: int) -> list[dict[str, Any]]:
        members = self._members
        if self.shared:  # this process's members and the others', by id
            everyone = [(i, members[k].name) for k, i in room.members.items() if i > after]
            everyone += [(i, name) for i, name in room.remote.items() if i > after]
            everyone.sort()
            return [{"id": i, "name": name} for i, name in everyone[:limit]]
        page = []
        for key, member_id in room.members.items():  # ids grow in join order here
            if member_id > after:
                page.append({"id": member_id, "name": members[key].name})
                if len(page) == limit:
                    break
        return page

    def _last_member_id(self, room: Room[K]) -> int:
        """The highest id of a current member (the join counter if nobody is in)."""
        ids = [*room.members.values(), *room.remote]
        return max(ids) if ids else room.joins
