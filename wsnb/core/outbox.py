"""A bounded outbox: messages published while connected or not, until the server acknowledges.

Pure: :class:`wsnb.Subscriber` sends :meth:`Outbox.first` and calls
:meth:`Outbox.sent` once the server answered, so a message in flight when a
connection drops is still first after reconnecting. Each message gets an
idempotency key when queued (:meth:`Outbox.key`), sent with it every time, so
the server publishes it once however often it is sent.

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

import itertools
import secrets
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
        self._keys: dict[int, str] = {}  # id(item) -> its idempotency key
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, room: str, body: Any) -> bool:
        """Queue a message; ``False`` if the outbox is full and its policy is ``"reject"``."""
        if len(self._items) >= self.size:
            if self.overflow == "reject":
                return False
            self._keys.pop(id(self._items.popleft()), None)
        item = (room, body)
        self._items.append(item)
        self._keys[id(item)] = f"{self._prefix}-{next(self._count)}"
        return True

    def key(self, item: tuple[str, Any]) -> str:
        """The idempotency key of ``item`` (the same at every sending).

        >>> box = Outbox(size=2, overflow="reject"); _ = box.add("lobby", "a")
        >>> item = box.first(); box.key(item) == box.key(box.first()), len(box.key(item)) > 16
        (True, True)
        """
        return self._keys[id(item)]

    def first(self) -> tuple[str, Any] | None:
        """The message to send next, or ``None``."""
        return self._items[0] if self._items else None

    def sent(self, item: tuple[str, Any]) -> None:
        """``item`` was answered; forget it (unless ``drop_oldest`` dropped it on the way)."""
        if self._items and self._items[0] is item:
            self._items.popleft()
            self._keys.pop(id(item), None)
