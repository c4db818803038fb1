"""Limits per connection and per server: message rate, connection count.

The others are websockets options passed through :func:`wsnb.serve`:
``max_size`` (one message; 1009 beyond), ``open_timeout`` (the handshake),
``max_queue`` and ``write_limit`` (buffers). This module adds what websockets
lacks: a message rate limit per connection (close 4429) and a cap on open
connections per server (HTTP 503 before the handshake completes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Data

from .close_codes import RATE_LIMITED
from .core.ratelimit import TokenBucket

__all__ = ["rate_limited", "max_connections"]


def rate_limited(messages_per_second: float, burst: int | None = None) -> type[ServerConnection]:
    """A connection class for ``serve(create_connection=...)`` that limits incoming messages.

    Each connection may receive ``messages_per_second`` on average and
    ``burst`` (default: one second's worth) at once. A client over the
    limit is closed with 4429 ("rate limit exceeded"); the others are not
    affected. Handlers need no change: ``async for message in ws`` and
    ``ws.recv()`` enforce it.

    Example::

        server = await wsnb.serve(wsnb.echo, create_connection=wsnb.rate_limited(20))
    """
    allowed = burst if burst is not None else max(1, int(messages_per_second))

    class RateLimitedConnection(ServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.rate_limit = TokenBucket(messages_per_second, allowed)

        async def recv(self, decode: bool | None = None) -> Data:  # type: ignore[override]
            message = await super().recv(decode)
            if not self.rate_limit.take():
                closing = asyncio.ensure_future(
                    self.close(
                        RATE_LIMITED,
                        f"rate limit exceeded: {messages_per_second:g} messages/s, burst {allowed}",
                    )
                )
                try:
                    # Discard the backlog: while more than max_queue messages wait,
                    # websockets stops reading, and the client's close frame could
                    # not arrive until close_timeout.
                    while True:
                        await super().recv(False)  # until it raises ConnectionClosed
                finally:
                    await closing
            return message

    RateLimitedConnection.__qualname__ = f"rate_limited({messages_per_second:g}, {allowed})"
    return RateLimitedConnection


def max_connections(limit: int) -> Callable[[ServerConnection, Request], Response | None]:
    """A ``process_request`` that refuses connections beyond ``limit`` with HTTP 503.

    Example::

        server = await wsnb.serve(wsnb.echo, process_request=wsnb.max_connections(100))
    """

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if len(connection.server.connections) >= limit:
            return connection.respond(503, f"Too many connections (limit {limit}).\n")
        return None

    return process_request
