"""A subscriber's resume decisions: deliver, skip a duplicate, or report a gap.

Pure logic for one room, no I/O. A :class:`RoomCursor` remembers the epoch and
the last sequence number the application received, and decides what to do
with each message that arrives (live, or replayed after a reconnection):

* the next number in the same epoch: **deliver** it;
* a number already delivered: **skip** it (never a duplicate);
* a number further ahead, on a live connection: a **gap**: hold the message
  and ask the server for what is missing (``history since``);
* a reconnection the server could not fill (another epoch, a gap older than
  its history): report that the application **lost** messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .deprecation import renamed_names

__all__ = ["CursorStep", "RoomCursor", "SubscriberStats"]


@dataclass
class CursorStep:
    """What to do after a message or a join reply arrived.

    ``deliver``: messages to hand to the application, in order.
    ``fetch_since``: if set, request the room's history after this seq (a live
    gap). ``lost``: if set, the reason messages were lost for good.
    ``duplicate``: the message had been delivered already and was skipped.
    """

    deliver: list[dict[str, Any]] = field(default_factory=list)
    fetch_since: int | None = None
    lost: str | None = None
    duplicate: bool = False


@dataclass
class RoomCursor:
    """Where the application is in one room: the epoch and last seq it received.

    >>> cursor = RoomCursor("lobby")
    >>> cursor.on_join({"epoch": "e1", "seq": 4, "history": []}).deliver
    []
    >>> [m["seq"] for m in cursor.on_live({"epoch": "e1", "seq": 5}).deliver]
    [5]
    >>> cursor.on_live({"epoch": "e1", "seq": 5}).deliver    # a duplicate
    []
    >>> cursor.on_live({"epoch": "e1", "seq": 7}).fetch_since  # 6 is missing
    5
    """

    room: str
    epoch: str | None = None
    seq: int = 0
    _held: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _fetching: bool = field(default=False, repr=False)

    @property
    def since(self) -> dict[str, Any] | None:
        """What to send as ``data.since`` when (re)joining, or None before the first join."""
        return None if self.epoch is None else {"epoch": self.epoch, "seq": self.seq}

    def on_join(self, reply: dict[str, Any]) -> CursorStep:
        """Handle a join reply (docs/protocol.md): first join, or a resume with ``since``."""
        self._fetching = False
        if self.epoch is None:  # first join: start from now
            self.epoch, self.seq = reply["epoch"], reply["seq"]
            return CursorStep()
        if reply.get("recovered"):
            step = CursorStep(deliver=self._accept(reply["history"]))
            step.deliver += self._release_held()
            if reply.get("more"):  # the gap did not fit in one reply: page through the rest
                self._fetching = True
                step.fetch_since = self.seq
            return step
        # Not recoverable: say so, then carry on from where the room is now.
        reason = reply.get("reason", "unknown")
        self.epoch, self.seq = reply["epoch"], reply["seq"]
        self._held.clear()
        return CursorStep(lost=reason)

    def on_live(self, message: dict[str, Any]) -> CursorStep:
        """Handle a ``message`` event that arrived on the open connection."""
        if message["epoch"] != self.epoch:
            # The server lost its history under us (a restart without it).
            self.epoch, self.seq = message["epoch"], message["seq"]
            self._held.clear()
            return CursorStep(deliver=[message], lost="epoch_changed")
        seq = message["seq"]
        if seq <= self.seq or seq in self._held:
            return CursorStep(duplicate=True)
        if seq == self.seq + 1 and not self._held:
            self.seq = seq
            return CursorStep(deliver=[message])
        self._held[seq] = message
        if self._fetching:
            return CursorStep()
        self._fetching = True
        return CursorStep(fetch_since=self.seq)

    def on_history(self, reply: dict[str, Any]) -> CursorStep:
        """Handle the reply to the ``history`` request that a live gap caused."""
        self._fetching = False
        if reply["epoch"] != self.epoch:
            return self.on_join({**reply, "recovered": False, "reason": "epoch_changed"})
        messages = reply["messages"]
        if messages and messages[0]["seq"] > self.seq + 1:
            # The gap is older than the server's history: lost for good.
            self.seq = messages[0]["seq"] - 1
            step = CursorStep(lost="gap_too_old")
        else:
            step = CursorStep()
        step.deliver = self._accept(messages) + self._release_held()
        if self._held or reply.get("more"):  # more is missing than this reply covered: ask again
            self._fetching = True
            step.fetch_since = self.seq
        return step

    def _accept(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        delivered = []
        for message in messages:
            if message["seq"] == self.seq + 1:
                self.seq += 1
                delivered.append(message)
            elif message["seq"] > self.seq + 1:
                self._held[message["seq"]] = message
        return delivered

    def _release_held(self) -> list[dict[str, Any]]:
        released = []
        while self.seq + 1 in self._held:
            self.seq += 1
            released.append(self._held.pop(self.seq))
        for seq in [s for s in self._held if s <= self.seq]:
            del self._held[seq]
        return released


@dataclass
class SubscriberStats:
    """Counters a notebook can watch."""

    delivered: int = 0
    """Messages handed to the application (exactly once each, in order)."""
    replayed: int = 0
    """Of those, messages that came from the server's history after a reconnection or gap."""
    duplicates: int = 0
    """Messages that arrived again and were skipped."""
    reconnects: int = 0
    """Connections opened after the first one."""
    recoveries: int = 0
    """Rejoins after which nothing was missing."""
    losses: int = 0
    """Rejoins or gaps the server could not fill: reported to the application."""
    published: int = 0
    """Messages from :meth:`wsnb.Subscriber.publish` that the server acknowledged."""


__getattr__ = renamed_names(__name__, {"Step": ("CursorStep", CursorStep)})
