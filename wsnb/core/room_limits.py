"""The rooms protocol's limits: what one room, one connection and the whole server may hold.

docs/protocol.md lists them; every frame the server builds fits
:attr:`RoomLimits.max_frame_bytes`, the most a client with websockets'
default ``max_size`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RoomLimits", "MiB"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class RoomLimits:
    """The rooms protocol's limits (docs/protocol.md lists them too).

    Not to be confused with :mod:`wsnb.limits`, which limits connections.

    >>> RoomLimits().max_rooms_per_member
    16
    >>> RoomLimits(history_size=100).history_size
    100
    >>> RoomLimits().max_event_bytes
    983040
    """

    history_size: int = 1000
    """Messages kept per room for late joiners and resuming clients."""
    history_bytes: int = 4 * MiB
    """Bytes of messages kept per room (the newest message always is)."""
    total_history_bytes: int = 64 * MiB
    """Bytes of messages kept by all rooms together; past it the oldest go first."""
    join_history: int = 20
    """Messages a plain join (one without ``since``) gets by default."""
    max_rooms: int = 10_000
    """Rooms on the server; past it an empty room is forgotten, or a join refused."""
    max_rooms_per_member: int = 16
    """Rooms one connection may be in at once."""
    max_rooms_created: int = 100
    """Rooms one connection may create (by joining a room that did not exist)."""
    max_name_length: int = 32
    max_room_name_length: int = 64
    max_frame_bytes: int = MiB
    """Every reply and event the server sends is at most this long (websockets' default
    ``max_size`` for clients); a publish whose event would be longer is refused."""
    members_page: int = 100
    """Members in a join reply, and in a ``members`` reply by default."""
    max_page: int = 1000
    """The most a ``limit`` may ask for (``members``, ``rooms``, ``history``)."""
    presence_interval: float = 0.05
    """Seconds a room collects presence changes before one event tells them (0: at once);
    longer in rooms over 5,000 x this many members (docs/protocol.md)."""
    presence_max_interval: float = 1.0

    def __post_init__(self) -> None:
        # A member entry is at most ~160 bytes (32 characters of up to 4 bytes, and
        # its JSON): 300 of them stay within the 64 KiB a join reply keeps for itself.
        if not 1 <= self.members_page <= 300:
            raise ValueError("members_page must be from 1 to 300 (a join reply must fit)")
        if self.max_frame_bytes < 128 * 1024:
            raise ValueError("max_frame_bytes must be at least 128 KiB")

    @property
    def max_event_bytes(self) -> int:
        """The largest ``message`` event: the frame limit less 64 KiB for a reply's own
        fields, so that any one message fits in a ``join`` or ``history`` reply."""
        return self.max_frame_bytes - 64 * 1024
