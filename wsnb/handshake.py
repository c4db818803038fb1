"""Checks at the opening handshake: combine ``process_request`` hooks, require a subprotocol.

websockets calls one ``process_request(connection, request)`` before it
accepts a connection; returning an HTTP response refuses it. :func:`chain`
runs several such checks in order (sync or async), so authentication, a
connection cap and a subprotocol requirement compose.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from .typing import ProcessRequest

__all__ = ["chain", "require_subprotocol"]


def chain(
    *checks: ProcessRequest,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Run ``process_request`` checks in order; the first response refuses the connection.

    Example::

        server = await wsnb.serve(
            wsnb.echo,
            process_request=wsnb.chain(wsnb.bearer_auth({"s3cret"}), wsnb.max_connections(10)),
        )
    """

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        for check in checks:
            response = check(connection, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response
        return None

    return process_request


def require_subprotocol(name: str) -> Callable[[ServerConnection, Request], Response | None]:
    """Refuse, with HTTP 400 and a message saying what to offer, clients not offering ``name``.

    Use it with ``subprotocols=[name]`` so that websockets also selects it.
    websockets alone accepts a client that offers no subprotocol, which then
    talks to the server without having agreed on a protocol version.

    Example::

        server = await wsnb.serve(
            wsnb.echo, subprotocols=["wsnb.v1"], process_request=wsnb.require_subprotocol("wsnb.v1")
        )
        async with wsnb.connect(server, subprotocols=["wsnb.v1"]) as ws:
            ws.subprotocol   # 'wsnb.v1'
    """

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        offered = [
            value.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for value in header.split(",")
        ]
        if name in offered:
            return None
        what = f"offered {', '.join(offered)}" if offered else "offered no subprotocol"
        return connection.respond(
            400,
            f"This server speaks the {name!r} subprotocol and the client {what}. "
            f"Connect with subprotocols=[{name!r}].\n",
        )

    return process_request
