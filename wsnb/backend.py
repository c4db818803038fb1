"""Where a :class:`wsnb.Rooms` server's rooms live beyond its own process: the seam.

With no backend (the default), a ``Rooms`` server keeps its rooms in memory:
its core numbers each message, stores the history and fans out, all in one
process, synchronously. With a backend (:class:`wsnb.RedisBackend`), several
server processes share their rooms: the backend numbers each message
(``epoch``, ``seq``) for every process at once, keeps the history where it
survives restarts, carries messages and presence changes between processes,
and notices processes that died.

Each process still serves its own connections from its own core: the core
keeps a copy of each room its members are in (the last messages, the members
of other processes) and decides everything itself, the replay of a resuming
client included, with the same rules as in memory. The backend only tells it
what happened elsewhere, through a :class:`BackendSink`.

This module defines what a backend is; it imports nothing but the standard
library, so that ``wsnb.Rooms`` needs no backend's dependencies.

Example::

    redis = wsnb.redis_server()
    rooms = wsnb.Rooms(backend=wsnb.RedisBackend(redis.url))
    server = await wsnb.serve(rooms)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["BackendSink", "RoomsBackend", "RoomSnapshot", "RoomRange", "RemoteMember"]


@dataclass(frozen=True)
class RemoteMember:
    """A member of a room connected to another process (``node``)."""

    id: int
    name: str
    node: str


@dataclass(frozen=True)
class RoomRange:
    """A room's position and some of its history, read at one moment.

    ``epoch`` and ``last_seq`` are the room's now; ``messages`` are
    ``(seq, data)`` pairs, oldest first, where ``data`` is the JSON text of the
    ``message`` event's ``data`` object (``{"from", "body", "time"}``), and
    ``first_seq`` the oldest seq the backend still keeps (``last_seq + 1`` if
    none).
    """

    epoch: str
    last_seq: int
    first_seq: int
    messages: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RoomSnapshot(RoomRange):
    """What a process needs to start serving a room: its recent history and its
    members on every process (this one's included; the core skips its own)."""

    members: list[RemoteMember] = field(default_factory=list)


class BackendSink(Protocol):
    """What a backend calls, on the event loop, when something happened elsewhere.

    Calls arrive in the order the backend saw the events; for a room, never
    before :meth:`RoomsBackend.watch` of that room returned.
    """

    def message(self, room: str, epoch: str, seq: int, data: str) -> None:
        """A message was published in ``room`` (by any process, this one included)."""

    def presence(self, room: str, event: str, member: RemoteMember) -> None:
        """A member of another process ``"join"``-ed, ``"leave"``-d or ``"rename"``-d."""

    def resync(self) -> None:
        """The backend's live feed was down and is back: messages may have been missed;
        fill every watched room's gap with :meth:`RoomsBackend.since`."""


class RoomsBackend(Protocol):
    """Numbering, history, fan-out and presence shared by several ``Rooms`` processes.

    Every method is called on the event loop of the server that owns the backend.
    """

    node: str
    """This process's id among the processes sharing the backend."""

    history_size: int
    """How many messages each room keeps."""

    async def start(self, sink: BackendSink) -> None:
        """Connect and start the background work (live feed, heartbeat, sweeper)."""

    async def close(self) -> None:
        """Stop cleanly: this process's members leave every room at once (others are told)."""

    async def watch(self, room: str) -> RoomSnapshot:
        """Receive ``room``'s live events from now on, then read its state (never a race:
        an event is either in the snapshot or delivered after it, or both)."""

    async def unwatch(self, room: str) -> None:
        """Stop receiving ``room``'s events (its last local member left)."""

    async def publish(self, room: str, data: str) -> tuple[str, int]:
        """Number ``data`` as ``room``'s next message, keep it, send it to every process;
        return its ``(epoch, seq)``."""

    async def publish_once(
        self, room: str, data: str, idempotency_key: str
    ) -> tuple[str, int, bool]:
        """:meth:`publish`, unless a publish with ``idempotency_key`` in ``room`` was
        numbered in the last 120 s: then its ``(epoch, seq)`` and ``True`` (a duplicate)."""

    async def since(self, room: str, seq: int) -> RoomRange:
        """``room``'s messages after ``seq`` that are still kept (to fill a gap)."""

    async def join(self, room: str, name: str) -> int:
        """Add a member of this process to ``room``; return its id (the room's join counter)."""

    async def leave(self, room: str, member_id: int) -> None:
        """Take this process's member ``member_id`` out of ``room``."""

    async def rename(self, room: str, member_id: int, name: str) -> None:
        """This process's member ``member_id`` of ``room`` is now called ``name``."""

    async def forget(self, room: str) -> str:
        """Lose ``room``'s history and start a new epoch (seq restarts at 1); return it."""
