"""What awaiting a hub's broadcast means: the producer waits for its healthy clients.

:meth:`wsnb.Hub.broadcast` sends at once and returns how many clients it
reached, as an ``int``; that ``int`` can also be awaited. Awaiting it waits,
at most ``drain_timeout`` seconds, until no healthy client of the hub has
more than its write limit waiting (websockets' ``write_limit``, 32 KiB by
default): the pacing ``await ws.send()`` gives one connection, for all of
them, without the naive loop's stall. A client that has not drained in that
time is *lagging*: later awaits stop waiting for it until it catches up, and
the slow-client bound (``max_buffered``) deals with it as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.connection import Connection

if TYPE_CHECKING:
    from .hub import Hub, HubClient

__all__ = ["Broadcast", "pace"]


class Broadcast(int):
    """How many clients a broadcast reached; ``await`` it to pace the producer.

    Used as a number it is one (``hub.broadcast("hi") == 3``); awaited, it
    waits until the hub's healthy clients have taken what was sent, and then
    gives the same number.

    Example::

        for n in range(1000):
            await hub.broadcast_json({"n": n})   # never faster than the clients read
    """

    __slots__ = ()
    _hub: Hub  # set on the subclass each hub makes of this one

    def __await__(self) -> Generator[Any, None, int]:
        return self._paced().__await__()

    async def _paced(self) -> int:
        await pace(self._hub)
        return int(self)


async def _drained(connection: Connection) -> None:
    # websockets' own flow control: drain() returns once the transport's
    # buffer is below its low-water mark (what every ``await ws.send()`` awaits).
    with contextlib.suppress(ConnectionError, OSError):
        await connection.drain()


def _behind(clients: Iterable[HubClient]) -> list[HubClient]:
    """The healthy clients with more than their write limit waiting."""
    behind = []
    for client in clients:
        connection = client.connection
        if client.closing or connection.transport is None or connection.transport.is_closing():
            continue
        if not connection.paused:
            client.lagging = False
        elif not client.lagging:
            behind.append(client)
    return behind


async def pace(hub: Hub) -> None:
    """Wait until no healthy client of ``hub`` is over its write limit (``drain_timeout`` at most).

    Always yields to the loop once, so that a producer awaiting broadcasts in
    a loop lets the connections write, even with no client at all.
    """
    await asyncio.sleep(0)
    behind = _behind(hub.clients)
    if not behind:
        return
    tasks = {asyncio.ensure_future(_drained(c.connection)): c for c in behind}
    _, pending = await asyncio.wait(tasks, timeout=hub.drain_timeout)
    for task in pending:
        task.cancel()
        tasks[task].lagging = True
        hub.lagged += 1
