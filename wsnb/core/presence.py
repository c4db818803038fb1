"""Presence by deltas: who joined, left or was renamed in a room, batched per tick.

A room's members each have an ``id``, the room's join counter when they
joined (unique in the room, never reused, increasing in join order). A
:class:`PresenceBatch` collects the changes of one tick as a *net* diff per
id, so that a burst of joins costs each member one event, not one per join:

* a join then a rename is one join under the new name;
* a join then a leave is the leave alone (whoever saw the join sees the leave);
* renames in a row are one rename from the first old name to the last new one.

Clients apply an event's changes to a map ``id -> name``: ``joined`` and
``renamed`` set the name (a join of an id already known is harmless),
``left`` removes the id if it is there. That makes an event safe to apply
over a member list fetched at any moment of the tick (docs/protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PresenceBatch", "presence_delay", "MAX_CHANGES"]

#: A batch holding this many changes is sent at once rather than at the tick.
MAX_CHANGES = 1000

#: Presence deliveries a second a room's ticks stay under, past 5,000 x the interval members.
PRESENCE_DELIVERIES = 5_000


def presence_delay(members: int, interval: float, max_interval: float) -> float:
    """How long a room collects presence changes before it tells its members.

    ``interval`` in rooms up to 5,000 x ``interval`` members, then 0.2 ms per
    member (at most about 5,000 presence deliveries a second per room, whatever
    its size: so that a join costs as much in a room of 4,000 as in one of 250),
    never more than ``max_interval``.

    >>> presence_delay(250, 0.05, 1.0), presence_delay(4000, 0.05, 1.0)
    (0.05, 0.8)
    >>> presence_delay(50_000, 0.05, 1.0)
    1.0
    """
    return min(max_interval, max(interval, members / PRESENCE_DELIVERIES))


@dataclass
class PresenceBatch:
    """The presence changes of one room since its last presence event.

    >>> batch = PresenceBatch()
    >>> batch.join(1, "guest-1"); batch.rename(1, "ada", was="guest-1"); batch.join(2, "bob")
    >>> batch.leave(3, "eve")
    >>> batch.data(count=2)
    {'count': 2, 'joined': [{'id': 1, 'name': 'ada'}, {'id': 2, 'name': 'bob'}], 'left': [{'id': 3, 'name': 'eve'}], 'renamed': []}
    """  # noqa: E501

    _changes: dict[int, tuple[str, str, str | None]] = field(default_factory=dict)
    """id -> (event, name, was)"""

    def __len__(self) -> int:
        return len(self._changes)

    def join(self, member_id: int, name: str) -> None:
        self._changes[member_id] = ("join", name, None)

    def leave(self, member_id: int, name: str) -> None:
        self._changes.pop(member_id, None)  # a join, or a rename, is superseded
        self._changes[member_id] = ("leave", name, None)

    def rename(self, member_id: int, name: str, was: str) -> None:
        event, _, first_was = self._changes.get(member_id, ("rename", "", was))
        if event == "rename" and name == first_was:  # back where it started: no change
            self._changes.pop(member_id, None)
            return
        self._changes[member_id] = (event, name, first_was if event == "rename" else None)

    def data(self, count: int) -> dict[str, Any]:
        """The ``data`` of the presence event, and the batch emptied."""
        joined: list[dict[str, Any]] = []
        left: list[dict[str, Any]] = []
        renamed: list[dict[str, Any]] = []
        for member_id, (event, name, was) in self._changes.items():
            if event == "join":
                joined.append({"id": member_id, "name": name})
            elif event == "leave":
                left.append({"id": member_id, "name": name})
            else:
                renamed.append({"id": member_id, "name": name, "was": was})
        self._changes.clear()
        return {"count": count, "joined": joined, "left": left, "renamed": renamed}
