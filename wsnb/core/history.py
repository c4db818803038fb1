"""A room's bounded history: sequence numbers, an epoch, and replay decisions.

Every message published in a room gets the next sequence number (1, 2, 3...).
The history keeps the last ``size`` messages, and no more than ``max_bytes``
of them, as the JSON text that went on the wire (encoded once). Its **epoch**
is a random label chosen when the history starts; it changes whenever the
history is lost (a new process, a reset), so a client never trusts a sequence
number from another epoch. A replay is all-or-nothing: either every message
after the client's last one is still here, or the client is told it cannot
recover.

A :class:`HistoryBudget` bounds the bytes of all rooms' histories together:
past it, the oldest messages of the whole server are forgotten first.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple

__all__ = ["History", "HistoryBudget", "Replay", "Stored", "new_epoch", "text_bytes"]


def new_epoch() -> str:
    """A fresh random epoch label (8 hex digits).

    >>> len(new_epoch())
    8
    """
    return secrets.token_hex(4)


def text_bytes(text: str) -> int:
    """The size of ``text`` on the wire, in UTF-8 bytes.

    >>> text_bytes("abc"), text_bytes("é")
    (3, 2)
    """
    return len(text) if text.isascii() else len(text.encode())


class Stored(NamedTuple):
    """One message kept in a history: its number, its JSON text, its size in bytes."""

    seq: int
    text: str
    size: int

    @property
    def message(self) -> dict[str, object]:
        """The message decoded (for people and tests; the wire uses :attr:`text`)."""
        return json.loads(self.text)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Replay:
    """What a client that last saw ``(epoch, seq)`` gets on its return.

    ``recovered`` is True when ``messages`` is exactly the gap (possibly
    empty); otherwise ``messages`` is empty and ``reason`` says why:
    ``"epoch_changed"``, ``"gap_too_old"`` or ``"seq_ahead"``.
    """

    recovered: bool
    messages: tuple[Stored, ...] = ()
    reason: str | None = None


@dataclass
class History:
    """The last ``size`` messages of one room (at most ``max_bytes`` of them), numbered.

    >>> h = History(size=2, epoch="e1")
    >>> [h.append(f'{{"seq":{h.next_seq},"body":"{b}"}}').seq for b in "abc"]
    [1, 2, 3]
    >>> [m.seq for m in h.since(0)]
    [2, 3]
    >>> h.replay("e1", 2).messages[0].text
    '{"seq":3,"body":"c"}'
    >>> h.replay("e1", 0).reason
    'gap_too_old'
    """

    size: int = 1000
    epoch: str = field(default_factory=new_epoch)
    last_seq: int = 0
    max_bytes: int | None = None
    """At most this many bytes kept (the newest message always is)."""
    budget: HistoryBudget | None = field(default=None, repr=False)
    """The bound shared with other rooms' histories, if any."""
    bytes: int = field(default=0, init=False)
    """The bytes of the messages kept."""
    # The texts and sizes kept, oldest first, in two deques of plain str and int:
    # nothing per message for the garbage collector to walk (a Stored per message
    # made 100,000 more tracked objects in a server with 100 full rooms, and GC
    # passes over them cost more than the rest of a publish).
    _texts: deque[str] = field(init=False, repr=False)
    _sizes: deque[int] = field(init=False, repr=False)
    _budget_key: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a history keeps at least one message")
        self._texts, self._sizes = deque(), deque()

    @property
    def next_seq(self) -> int:
        """The sequence number the next message will get."""
        return self.last_seq + 1

    def append(self, text: str, size: int | None = None) -> Stored:
        """Keep ``text``, the JSON of message number :attr:`next_seq`; forget the oldest
        past the limits. ``size`` is its length in bytes, if already known."""
        seq = self.last_seq = self.last_seq + 1
        if size is None:
            size = text_bytes(text)
        texts = self._texts
        texts.append(text)
        self._sizes.append(size)
        self.bytes += size
        budget = self.budget
        if budget is not None:
            budget._kept(self, seq, size)
        max_bytes = self.max_bytes
        while len(texts) > self.size or (
            max_bytes is not None and self.bytes > max_bytes and len(texts) > 1
        ):
            self.forget_oldest()
        if budget is not None and budget.bytes > budget.max_bytes:
            budget._enforce()
        return Stored(seq, text, size)

    def forget_oldest(self) -> Stored:
        """Forget the oldest message kept (``IndexError`` if none) and return it."""
        seq = self.first_seq
        text, size = self._texts.popleft(), self._sizes.popleft()
        self.bytes -= size
        if self.budget is not None:
            self.budget._forgot(size)
        return Stored(seq, text, size)

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest message kept (``last_seq + 1`` if none)."""
        return self.last_seq - len(self._texts) + 1

    def _stored(self, start: int, stop: int) -> list[Stored]:
        first, texts, sizes = self.first_seq, self._texts, self._sizes
        if start >= stop:
            return []
        if start > len(texts) // 2:  # deque indexing walks from the nearer end
            return [Stored(first + i, texts[i], sizes[i]) for i in range(start, stop)]
        pairs = zip(islice(texts, start, stop), islice(sizes, start, stop), strict=True)
        return [Stored(first + start + i, t, n) for i, (t, n) in enumerate(pairs)]

    def since(self, seq: int, limit: int | None = None) -> list[Stored]:
        """Messages kept with a sequence number above ``seq``, oldest first; with ``limit``,
        the oldest ``limit`` of them (a page)."""
        count = len(self._texts)
        start = min(count, max(0, seq - self.first_seq + 1))
        stop = count if limit is None else min(count, start + limit)
        return self._stored(start, stop)

    def latest(self, count: int) -> list[Stored]:
        """The newest ``count`` messages kept, oldest first."""
        kept = len(self._texts)
        return self._stored(max(0, kept - count), kept)

    def replay(self, epoch: str, seq: int) -> Replay:
        """Decide what a client that last saw ``seq`` in ``epoch`` should get: all or nothing."""
        if epoch != self.epoch:
            return Replay(False, reason="epoch_changed")
        if seq > self.last_seq:
            return Replay(False, reason="seq_ahead")
        if seq < self.first_seq - 1:
            return Replay(False, reason="gap_too_old")
        return Replay(True, tuple(self.since(seq)))

    def restart_at(self, epoch: str, last_seq: int) -> None:
        """Forget every message; go on from ``last_seq`` in ``epoch`` (a copy of a history
        kept elsewhere, which starts where that one is).

        >>> h = History(epoch="e1"); h.restart_at("e2", 41); h.next_seq, len(h)
        (42, 0)
        """
        self.reset(epoch)
        self.last_seq = last_seq

    def reset(self, epoch: str | None = None) -> None:
        """Forget every message and start a new epoch (sequence numbers restart at 1)."""
        while self._texts:
            self.forget_oldest()
        self.last_seq = 0
        self.epoch = epoch or new_epoch()

    def __len__(self) -> int:
        return len(self._texts)

    def __iter__(self) -> Iterator[Stored]:
        return iter(self._stored(0, len(self._texts)))


class HistoryBudget:
    """A bound on the bytes of many histories together: past it, the server's oldest
    messages are forgotten first, whichever room they are in.

    >>> budget = HistoryBudget(max_bytes=10)
    >>> a, b = History(epoch="a", budget=budget), History(epoch="b", budget=budget)
    >>> _ = a.append("123456"), b.append("123456")   # 12 bytes: a's message goes
    >>> len(a), len(b), budget.bytes
    (0, 1, 6)
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        """The bytes kept by all the histories that share this budget."""
        self._count = 0  # messages kept
        # (history key, its epoch, seq) in the order they were kept: tuples of a
        # str and ints, which the garbage collector stops tracking. An entry whose
        # message was forgotten since (by its own room's limits) is skipped.
        self._order: deque[tuple[int, str, int]] = deque()
        self._histories: dict[int, History] = {}
        self._keys = 0

    def release(self, history: History) -> None:
        """``history`` is gone for good (its room was forgotten): forget its messages too."""
        history.reset()
        self._histories.pop(history._budget_key, None)

    def _kept(self, history: History, seq: int, size: int) -> None:
        key = history._budget_key
        if key not in self._histories:
            self._keys += 1
            key = history._budget_key = self._keys
            self._histories[key] = history
        self.bytes += size
        self._count += 1
        self._order.append((key, history.epoch, seq))
        if len(self._order) > 2 * self._count + 1024:  # mostly stale entries: drop them
            self._order = deque(e for e in self._order if self._still_kept(*e) is not None)

    def _forgot(self, size: int) -> None:
        self.bytes -= size
        self._count -= 1

    def _still_kept(self, key: int, epoch: str, seq: int) -> History | None:
        history = self._histories.get(key)
        if history is None or history.epoch != epoch:
            return None
        return history if history.first_seq <= seq <= history.last_seq else None

    def _enforce(self) -> None:
        order = self._order
        while self.bytes > self.max_bytes and order:
            key, epoch, seq = order.popleft()
            history = self._still_kept(key, epoch, seq)
            if history is not None and history.first_seq == seq:
                history.forget_oldest()
