"""A room's bounded history: sequence numbers, an epoch, and replay decisions.

Every message published in a room gets the next sequence number (1, 2, 3...).
The history keeps the last ``size`` messages. Its **epoch** is a random label
chosen when the history starts; it changes whenever the history is lost (a
new process, a reset), so a client never trusts a sequence number from
another epoch. A replay is all-or-nothing: either every message after the
client's last one is still here, or the client is told it cannot recover.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["History", "Replay", "new_epoch"]


def new_epoch() -> str:
    """A fresh random epoch label (8 hex digits).

    >>> len(new_epoch())
    8
    """
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Replay:
    """What a client that last saw ``(epoch, seq)`` gets on its return.

    ``recovered`` is True when ``messages`` is exactly the gap (possibly
    empty); otherwise ``messages`` is empty and ``reason`` says why:
    ``"epoch_changed"``, ``"gap_too_old"`` or ``"seq_ahead"``.
    """

    recovered: bool
    messages: tuple[dict[str, Any], ...] = ()
    reason: str | None = None


@dataclass
class History:
    """The last ``size`` messages of one room, numbered.

    >>> h = History(size=2, epoch="e1")
    >>> [h.append({"body": b})["seq"] for b in "abc"]
    [1, 2, 3]
    >>> [m["seq"] for m in h.since(0)]
    [2, 3]
    >>> h.replay("e1", 2)
    Replay(recovered=True, messages=({'body': 'c', 'seq': 3},), reason=None)
    >>> h.replay("e1", 0).reason
    'gap_too_old'
    """

    size: int = 1000
    epoch: str = field(default_factory=new_epoch)
    last_seq: int = 0
    _messages: deque[dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a history keeps at least one message")
        self._messages = deque(maxlen=self.size)

    def append(self, message: dict[str, Any]) -> dict[str, Any]:
        """Number ``message`` (sets its ``seq``), keep it, and return it."""
        self.last_seq += 1
        message["seq"] = self.last_seq
        self._messages.append(message)
        return message

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest message kept (``last_seq + 1`` if none)."""
        return self._messages[0]["seq"] if self._messages else self.last_seq + 1

    def since(self, seq: int, limit: int | None = None) -> list[dict[str, Any]]:
        """Messages kept with a sequence number above ``seq``, oldest first.

        With ``limit``, only the newest ``limit`` of them.
        """
        start = max(0, seq - self.first_seq + 1)
        messages = list(self._messages)[start:]
        return messages if limit is None else messages[max(0, len(messages) - limit) :]

    def replay(self, epoch: str, seq: int) -> Replay:
        """Decide what a client that last saw ``seq`` in ``epoch`` should get: all or nothing."""
        if epoch != self.epoch:
            return Replay(False, reason="epoch_changed")
        if seq > self.last_seq:
            return Replay(False, reason="seq_ahead")
        if seq < self.first_seq - 1:
            return Replay(False, reason="gap_too_old")
        return Replay(True, tuple(self.since(seq)))

    def reset(self) -> None:
        """Forget every message and start a new epoch (sequence numbers restart at 1)."""
        self._messages.clear()
        self.last_seq = 0
        self.epoch = new_epoch()

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._messages)
