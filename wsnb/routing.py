"""Routing by path: one server, several handlers (``/echo``, ``/chat``...)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from .typing import Handler

__all__ = ["Router"]


class Router:
    """Dispatch connections to handlers by request path; unknown paths get HTTP 404.

    Pass the router as the handler and its :meth:`process_request` so that a
    wrong path is refused before any WebSocket opens. The query string is
    ignored for routing (read it in the handler from ``ws.request.path``).

    Example::

        router = wsnb.Router({"/echo": wsnb.echo, "/chat": wsnb.Rooms()})
        server = await wsnb.serve(router, process_request=router.process_request)
        await wsnb.exchange(server.url + "/echo", ["hi"])
    """

    def __init__(self, routes: Mapping[str, Handler]) -> None:
        self.routes = dict(routes)
        self.__name__ = "router"

    def _handler(self, path: str) -> Handler | None:
        return self.routes.get(urlsplit(path).path)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse unknown paths with HTTP 404 listing the known ones."""
        if self._handler(request.path) is None:
            known = ", ".join(self.routes)
            return connection.respond(404, f"No handler for {request.path}; try {known}.\n")
        return None

    async def __call__(self, connection: ServerConnection) -> None:
        handler = self._handler(connection.request.path) if connection.request else None
        if handler is None:  # process_request was not installed
            await connection.close(1008, "unknown path")
            return
        await handler(connection)
