"""The keys of shared rooms in Redis, for one prefix.

Keys, for prefix ``p`` (default ``wsnb``) and room ``r`` (inside ``{}``, a
Cluster hash tag, so that one room's keys share a slot)::

    p:{r}:meta          hash    e: epoch (8 hex digits), s: last seq, j: join counter
    p:{r}:hist          stream  entry id <seq>-0, field d: the message's data (JSON text),
                                trimmed to exactly history_size entries
    p:{r}:ch            channel "m<epoch>:<seq>:<data>" for a message,
                                "p<event>\\t<node>\\t<id>\\t<name>" for presence
    p:{r}:members       hash    member id -> "<node>\\t<name>", every process's members
    p:{r}:once:<key>    string  "<epoch>:<seq>" of a publish with that idempotency key,
                                for KEY_WINDOW (120 s)
    p:node:<n>          string  process n's heartbeat, expires after node_ttl
    p:node:<n>:rooms    hash    room -> how many of n's members are in it
    p:nodes             set     the processes to watch for missed heartbeats
    p:sweep:<n>         string  the process sweeping dead process n's members (a lock)

Example::

    >>> keys = RedisKeys("chat")
    >>> keys.room("lobby", "meta"), keys.node("1a2b3c", ":rooms"), keys.nodes
    ('chat:{lobby}:meta', 'chat:node:1a2b3c:rooms', 'chat:nodes')
    >>> keys.of("lobby", "meta", "hist")
    ('chat:{lobby}:meta', 'chat:{lobby}:hist')
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RedisKeys"]


class RedisKeys(NamedTuple):
    """Every key of one prefix, by what it holds (the module's docstring lists them)."""

    prefix: str

    def room(self, room: str, what: str) -> str:
        """A key of ``room``: ``what`` is meta, hist, ch, members or once:<key>."""
        return f"{self.prefix}:{{{room}}}:{what}"

    def of(self, room: str, *what: str) -> tuple[str, ...]:
        """Several keys of ``room``, in the order of ``what``."""
        return tuple(self.room(room, one) for one in what)

    def node(self, node: str, what: str = "") -> str:
        """Process ``node``'s heartbeat, or with ``what`` ``":rooms"`` its rooms."""
        return f"{self.prefix}:node:{node}{what}"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}:nodes"

    def sweep_lock(self, node: str) -> str:
        return f"{self.prefix}:sweep:{node}"
