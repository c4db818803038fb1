"""What a core serving shared rooms asks of its backend, and waits for.

When rooms are shared by several processes (``RoomsCore(shared=True)``), the
core cannot number a message or give a member its id by itself: the backend
does, for every process at once. The core still validates and decides; what
needs the backend becomes one of these plain requests, queued for the I/O
layer (:meth:`~wsnb.core.rooms.RoomsCore.take_asks`), which performs it and
reports the answer back (``published``, ``joined``, ``loaded``, ``deliver``).

* :class:`Publish`: number this message (then :meth:`published`).
* :class:`Join`: watch the room if need be, give the member an id (then :meth:`joined`).
* :class:`Fetch`: the room's messages after ``after``: a gap to fill (then ``deliver``).
* :class:`Leave`, :class:`Rename`: tell the other processes; nothing comes back.
* :class:`Unwatch`: the room's last member here left; stop following it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .envelope import Envelope

__all__ = ["Ask", "Fetch", "Join", "Leave", "Publish", "Rename", "Unwatch"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Publish(Generic[K]):
    """Number ``data`` (the ``message`` event's ``data`` JSON) as ``room``'s next message."""

    key: K
    envelope: Envelope
    room: str
    data: str
    reply: bool
    idempotency_key: str | None = None
    """Publish it once: a publish with the same key in the last 120 s is not published again."""


@dataclass(frozen=True)
class Join(Generic[K]):
    """``key`` asked to join ``room`` and may: the backend gives it an id."""

    key: K
    envelope: Envelope
    room: str
    name: str
    history: int | None
    resume: tuple[str, int] | None


@dataclass(frozen=True)
class Fetch:
    """``room`` has a gap after ``after``: fetch the messages kept since, and deliver them."""

    room: str
    after: int


@dataclass(frozen=True)
class Leave:
    """Member ``member_id`` of this process left ``room``."""

    room: str
    member_id: int


@dataclass(frozen=True)
class Rename:
    """Member ``member_id`` of this process in ``room`` is now ``name``."""

    room: str
    member_id: int
    name: str


@dataclass(frozen=True)
class Unwatch:
    """Nobody here is in ``room`` any more."""

    room: str


Ask = Publish[K] | Join[K] | Fetch | Leave | Rename | Unwatch
