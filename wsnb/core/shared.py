"""Rooms shared with other processes: the answers of a backend, and news from elsewhere.

A ``RoomsCore(shared=True)`` does not number messages or give member ids
itself: what needs the backend waits as an ask (:mod:`wsnb.core.asks`), and
the I/O layer reports the answer back here (:meth:`SharedRooms.published`,
:meth:`~SharedRooms.joined`, :meth:`~SharedRooms.failed`). A room this process
follows is a copy of the backend's (:meth:`~SharedRooms.load` from a
snapshot, then :meth:`~SharedRooms.deliver` for each message, in seq order
and once; a gap is fetched, :meth:`~SharedRooms.fill`); members of other
processes come and go by :meth:`~SharedRooms.remote_change`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, TypeVar

from .asks import Ask, Fetch, Join, Leave, Publish
from .directory import Room
from .envelope import Envelope, ErrorCode, encode_json
from .history import text_bytes
from .joins import RoomJoins
from .pages import Outgoing, data_text, message_data, publish_reply_text, too_large

__all__ = ["SharedRooms"]

K = TypeVar("K", bound=Hashable)


class SharedRooms(RoomJoins[K]):
    """What a shared core makes of its backend's answers and of other processes' news
    (a join the backend gave an id to ends as any join)."""

    _pending_events: list[Outgoing[K]]
    _clock: Callable[[], float]

    if TYPE_CHECKING:

        def _last_one_left(self, room: Room[K]) -> None: ...
        def _presence_changed(self, room: Room[K], out: list[Outgoing[K]]) -> None: ...
        def room_for_server(self, room: str) -> Room[K]: ...

    @property
    def asks_pending(self) -> bool:
        """Whether :meth:`take_asks` has requests for the backend."""
        return bool(self._asks)

    def take_asks(self) -> list[Ask[K]]:
        """The requests for the backend since the last call, in order (shared rooms)."""
        asks, self._asks = self._asks, []
        return asks

    def published(
        self, ask: Publish[K], epoch: str, seq: int, duplicate: bool = False
    ) -> list[Outgoing[K]]:
        """The backend numbered ``ask``'s message ``seq`` in ``epoch`` (or, ``duplicate``,
        had numbered it already under its idempotency key): the publisher's reply (if it
        wants one), then the message to the room's members here."""
        out: list[Outgoing[K]] = []
        if ask.reply and ask.key in self._members:
            reply = publish_reply_text(ask.envelope, ask.room, seq, duplicate)
            out.append(Outgoing((ask.key,), reply))
        if not duplicate:
            out += self.deliver(ask.room, epoch, seq, ask.data)
        return out

    def joined(self, ask: Join[K], member_id: int) -> list[Outgoing[K]]:
        """The backend gave ``ask``'s member the id ``member_id``: it is in, and told so."""
        member = self._members.get(ask.key)
        room = self._rooms.get(ask.room)
        if room is not None:
            room.joining -= 1
        if member is None or room is None or ask.key in room.members:
            self._asks.append(Leave(ask.room, member_id))  # gone meanwhile: undo it there
            if room is not None and not room.members:
                self._last_one_left(room)
            return []
        out: list[Outgoing[K]] = []
        room.joins = max(room.joins, member_id)
        self._add_member(ask.key, member, room, member_id, out)
        out.insert(0, self._join_reply(ask.key, ask.envelope, room, ask.history, ask.resume))
        return out

    def failed(self, ask: Publish[K] | Join[K], why: str) -> list[Outgoing[K]]:
        """The backend could not do ``ask`` (``why``): an ``unavailable`` error to its sender."""
        if isinstance(ask, Join) and (room := self._rooms.get(ask.room)) is not None:
            room.joining -= 1
            if not room.members:
                self._last_one_left(room)
        if ask.key not in self._members:
            return []
        error = ask.envelope.fail(
            ErrorCode.UNAVAILABLE, f"the rooms' shared store did not answer ({why}); try again"
        )
        return [Outgoing((ask.key,), encode_json(error.to_message()))]

    def load(
        self,
        room: str,
        epoch: str,
        last_seq: int,
        messages: Iterable[tuple[int, str]],
        remote: dict[int, str],
    ) -> None:
        """Start following shared ``room`` from the backend's snapshot: its epoch and last
        seq, its newest messages ``(seq, data)`` (oldest first), other processes' members."""
        target = self._rooms[room]
        history = target.history
        messages = list(messages)
        history.restart_at(epoch, (messages[0][0] if messages else last_seq + 1) - 1)
        head = target.head()
        for seq, data in messages:
            if seq == history.next_seq:
                history.append(message_data(head, seq, data))
        history.last_seq = max(history.last_seq, last_seq)
        target.remote = dict(remote)
        target.watched, target.held, target.fetching = True, {}, False

    def deliver(self, room: str, epoch: str, seq: int, data: str) -> list[Outgoing[K]]:
        """Message ``seq`` of shared ``room`` came from the backend (published here or
        elsewhere): delivered in order, once; a gap before it is fetched (:class:`Fetch`)."""
        target = self._rooms.get(room)
        if target is None or not target.watched:
            return []
        history = target.history
        if epoch != history.epoch:  # the backend lost the history: follow its new epoch
            history.restart_at(epoch, seq - 1)
            target.held, target.fetching = {}, False
        if seq <= history.last_seq:
            return []  # had it already
        if seq > history.next_seq:
            target.held[seq] = (epoch, data)
            if not target.fetching:
                target.fetching = True
                self._asks.append(Fetch(room, history.last_seq))
            return []
        out = [self._keep_numbered(target, seq, data)]
        while (held := target.held.pop(history.next_seq, None)) is not None:
            out.append(self._keep_numbered(target, history.next_seq, held[1]))
        return out

    def fill(
        self, room: str, epoch: str, first_seq: int, messages: Iterable[tuple[int, str]]
    ) -> list[Outgoing[K]]:
        """A :class:`Fetch` came back: ``room``'s kept messages from ``first_seq`` on. Messages
        the backend no longer keeps are skipped (members here see the jump in seq)."""
        target = self._rooms.get(room)
        if target is None or not target.watched:
            return []
        target.fetching = False
        history = target.history
        if epoch != history.epoch:  # the backend lost the history (and started anew)
            history.restart_at(epoch, first_seq - 1)
            target.held = {}
        elif first_seq > history.next_seq:
            history.restart_at(epoch, first_seq - 1)  # lost for good, here too
        out: list[Outgoing[K]] = []
        for seq, data in messages:
            out += self.deliver(room, epoch, seq, data)
        held = target.held
        if held and not target.fetching:  # still a gap (the fetch raced a newer message)
            target.held = {}
            for seq in sorted(held):
                out += self.deliver(room, *held[seq][:1], seq, held[seq][1])
        return out

    def remote_change(self, room: str, event: str, member_id: int, name: str) -> None:
        """A member of another process joined (``"join"``), left or was renamed."""
        target = self._rooms.get(room)
        if target is None or not target.watched:
            return
        remote = target.remote
        if event == "join":
            if member_id in remote:
                return
            remote[member_id] = name
            target.joins = max(target.joins, member_id)
            target.presence.join(member_id, name)
        elif event == "leave":
            if remote.pop(member_id, None) is None:
                return
            target.presence.leave(member_id, name)
        elif event == "rename":
            was = remote.get(member_id)
            if was is None or was == name:
                return
            remote[member_id] = name
            target.presence.rename(member_id, name, was=was)
        else:
            return
        out: list[Outgoing[K]] = []
        self._presence_changed(target, out)
        self._pending_events.extend(out)

    def take_events(self) -> list[Outgoing[K]]:
        """Presence events due at once after :meth:`remote_change` (a full batch)."""
        out, self._pending_events = self._pending_events, []
        return out

    def published_elsewhere(self, room: str, epoch: str, seq: int, data: str) -> list[Outgoing[K]]:
        """Shared rooms: the server published ``seq`` in ``room`` through the backend. A
        room this process follows gets it as any message; another one learns its position."""
        target = self.room_for_server(room)
        if target.watched:
            return self.deliver(room, epoch, seq, data)
        history = target.history
        if epoch != history.epoch or seq > history.last_seq:
            history.restart_at(epoch, seq)  # its messages are in the backend, not here
        return []

    def _ask_to_publish(
        self,
        key: K,
        envelope: Envelope,
        room: Room[K],
        sender: str,
        reply: bool | None,
        once: str | None,
    ) -> list[Outgoing[K]]:
        """Shared rooms: the message checked here, numbered by the backend (then published())."""
        data = data_text(sender, envelope.data["body"], self._clock())
        size = text_bytes(data) + text_bytes(room.head()) + 30  # its seq, ',"data":' and '}'
        if size > self.limits.max_event_bytes:
            raise too_large(envelope, size, self.limits.max_event_bytes, "about ")
        self._asks.append(Publish(key, envelope, room.name, data, reply is not False, once))
        return []

    def _keep_numbered(self, room: Room[K], seq: int, data: str) -> Outgoing[K]:
        """Shared rooms: message ``seq`` (the next), from the backend, kept and addressed."""
        text = message_data(room.head(), seq, data)
        room.history.append(text)
        return Outgoing(tuple(room.members), text)
