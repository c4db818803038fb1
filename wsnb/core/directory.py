"""Every room of one server: created on demand, within a cap, the longest-empty forgotten
to make way; their histories share one byte budget.

An empty room is kept, history, epoch and all, so that a client that comes back
can resume (even one that saw no message yet: its epoch still holds). It is
forgotten only when a new room needs its place (``RoomLimits.max_rooms``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .history import History, HistoryBudget
from .pages import message_head
from .presence import PresenceBatch
from .room_limits import RoomLimits

__all__ = ["Room", "RoomDirectory"]

K = TypeVar("K", bound=Hashable)


@dataclass(eq=False)
class Room(Generic[K]):
    """One room: its members (key -> member id, in join order), history and presence batch."""

    name: str
    history: History
    number: int = 0
    """The room's place in the order rooms were created (the ``rooms`` cursor)."""
    members: dict[K, int] = field(default_factory=dict)
    joins: int = 0
    """Members that ever joined: the last member id given."""
    presence: PresenceBatch = field(default_factory=PresenceBatch)
    message_head: tuple[str, str] = field(default=("", ""), repr=False)
    """(epoch, the JSON every ``message`` event of that epoch starts with), cached."""
    remote: dict[int, str] = field(default_factory=dict)
    """Shared rooms: the members connected to other processes, id -> name."""
    watched: bool = False
    """Shared rooms: whether this process follows the room (its copy is current)."""
    held: dict[int, tuple[str, str]] = field(default_factory=dict, repr=False)
    """Shared rooms: messages that came ahead of a gap, seq -> (epoch, data)."""
    fetching: bool = False
    """Shared rooms: a gap's messages were asked for and have not come yet."""
    joining: int = 0
    """Shared rooms: joins waiting for the backend (the room is followed meanwhile)."""

    def head(self) -> str:
        """The JSON every ``message`` event of the room's epoch starts with (cached per epoch)."""
        epoch = self.history.epoch
        if self.message_head[0] != epoch:
            self.message_head = epoch, message_head(self.name, epoch)
        return self.message_head[1]

    @property
    def count(self) -> int:
        """How many members the room has, here and (shared rooms) in other processes."""
        return len(self.members) + len(self.remote)


class RoomDirectory(Generic[K]):
    """The rooms by name, in creation order.

    >>> rooms = RoomDirectory[str](RoomLimits(max_rooms=1))
    >>> lobby = rooms.create("lobby")
    >>> rooms.make_place()          # lobby has no members, yet it was never left
    False
    >>> rooms.emptied(lobby); rooms.make_place(), rooms.names()
    (True, [])
    """

    def __init__(self, limits: RoomLimits, epoch_factory: Callable[[], str] | None = None) -> None:
        self.limits = limits
        self.budget = HistoryBudget(limits.total_history_bytes)
        self._epoch_factory = epoch_factory
        self._rooms: dict[str, Room[K]] = {}
        self._empty: dict[str, None] = {}  # rooms left by their last member, longest-empty first
        self._created = 0

    def get(self, name: str | None) -> Room[K] | None:
        return self._rooms.get(name) if name is not None else None

    def __getitem__(self, name: str) -> Room[K]:
        return self._rooms[name]

    def __len__(self) -> int:
        return len(self._rooms)

    def __iter__(self) -> Iterator[Room[K]]:
        return iter(self._rooms.values())

    def names(self) -> list[str]:
        return list(self._rooms)

    def create(self, name: str) -> Room[K]:
        """A new room called ``name`` (see :meth:`make_place` first)."""
        limits = self.limits
        history = History(limits.history_size, max_bytes=limits.history_bytes, budget=self.budget)
        if self._epoch_factory is not None:
            history.epoch = self._epoch_factory()
        self._created += 1
        room = Room[K](name, history, self._created)
        self._rooms[name] = room
        return room

    def make_place(self) -> bool:
        """Whether one more room fits, forgetting the longest-empty room if need be."""
        if len(self._rooms) < self.limits.max_rooms:
            return True
        if not self._empty:
            return False
        room = self._rooms.pop(next(iter(self._empty)))
        del self._empty[room.name]
        self.budget.release(room.history)  # its bytes leave the budget
        return True

    def emptied(self, room: Room[K]) -> None:
        """``room``'s last member left."""
        self._empty[room.name] = None

    def entered(self, room: Room[K]) -> None:
        """Someone joined ``room``."""
        self._empty.pop(room.name, None)

    def used(self, room: Room[K]) -> None:
        """A message was published in ``room``: if empty, it is now the most recently used."""
        if room.name in self._empty:
            del self._empty[room.name]
            self._empty[room.name] = None

    def after(self, number: int) -> list[Room[K]]:
        """The rooms created after the room numbered ``number``, in creation order."""
        return [r for r in self._rooms.values() if r.number > number]

    def forget_history(self) -> None:
        """Lose every room's history: new epochs."""
        for room in self._rooms.values():
            room.history.reset(self._epoch_factory() if self._epoch_factory else None)
