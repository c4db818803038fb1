"""A bounded outbox: messages published while connected or not, until the server acknowledges.

Pure: :class:`wsnb.Subscriber` sends :meth:`Outbox.first` and calls
:meth:`Outbox.sent` once the server answered, so a message in flight when a
connection drops is still first after reconnecting (at least once).

>>> box = Outbox(size=2, overflow="drop_oldest")
>>> box.add("lobby", "a"), box.add("lobby", "b"), box.add("lobby", "c")
(True, True, True)
>>> box.first()
('lobby', 'b')
>>> full = Outbox(size=1, overflow="reject")
>>> full.add("lobby", "a"), full.add("lobby", "b"), len(full)
(True, False, 1)
>>> item = full.first(); full.sent(item); full.first() is None
True
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

__all__ = ["Outbox", "OverflowPolicy"]

OverflowPolicy = Literal["reject", "drop_oldest"]
"""What a full outbox does with one more message: refuse it, or drop the oldest."""


class Outbox:
    """At most ``size`` ``(room, body)`` messages, oldest first."""

    def __init__(self, size: int, overflow: OverflowPolicy) -> None:
        self.size = size
        self.overflow: OverflowPolicy = overflow
        self._items: deque[tuple[str, Any]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, room: str, body: Any) -> bool:
        """Queue a message; ``False`` if the outbox is full and its policy is ``"reject"``."""
        if len(self._items) >= self.size:
            if self.overflow == "reject":
                return False
            self._items.popleft()
        self._items.append((room, body))
        return True

    def first(self) -> tuple[str, Any] | None:
        """The message to send next, or ``None``."""
        return self._items[0] if self._items else None

    def sent(self, item: tuple[str, Any]) -> None:
        """``item`` was answered; forget it (unless ``drop_oldest`` dropped it on the way)."""
        if self._items and self._items[0] is item:
            self._items.popleft()
