"""Fault injection for tests and tutorials: drop connections, restart a server, stall a client."""

from __future__ import annotations

import asyncio

from websockets.asyncio.connection import Connection

from .errors import WsnbError
from .server import Server, serve

__all__ = ["drop_connections", "restart", "stall", "unstall"]


def drop_connections(server: Server) -> int:
    """Cut every open connection of ``server`` as a network failure would; return how many.

    No closing handshake: clients see close code 1006 and, if they
    reconnect, find the server still listening.

    Example::

        wsnb.faults.drop_connections(server)
    """
    connections = server.connections
    for connection in connections:
        connection.transport.abort()
    return len(connections)


async def restart(server: Server, downtime: float = 0.0) -> Server:
    """Stop ``server`` and serve its handler again on the same port after ``downtime`` s.

    The handler object is the same, so whatever it holds in memory (a
    :class:`wsnb.Rooms`' history and epochs) survives, as it would with a
    server that keeps its state elsewhere. Clients are closed with 1001.

    Example::

        server = await wsnb.faults.restart(server, downtime=0.5)
    """
    if server.handler is None:
        raise WsnbError("only servers started with wsnb.serve() can be restarted")
    await server.stop()
    if downtime:
        await asyncio.sleep(downtime)
    return await serve(
        server.handler, server.name, server.host or "127.0.0.1", server.port, **server.options
    )


def stall(connection: Connection) -> None:
    """Make ``connection`` stop reading, like a client that hangs (see :func:`unstall`).

    Example::

        wsnb.faults.stall(ws)     # the server's buffers for ws start filling
    """
    connection.transport.pause_reading()


def unstall(connection: Connection) -> None:
    """Let a connection stalled with :func:`stall` read again."""
    connection.transport.resume_reading()
