"""Type aliases for wsnb's public signatures, in one place (as websockets keeps ``typing.py``).

Example::

    from wsnb.typing import Handler

    async def shout(ws) -> None:
        async for message in ws:
            await ws.send(message.upper())

    handler: Handler = shout
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

__all__ = ["Handler", "HasURL", "ProcessRequest", "Target"]

Handler = Callable[[ServerConnection], Awaitable[None]]
"""A connection handler: ``async def handler(ws): ...``, as in websockets."""

ProcessRequest = Callable[
    [ServerConnection, Request], "Response | None | Awaitable[Response | None]"
]
"""A websockets ``process_request`` hook: return a response to refuse the handshake."""


class HasURL(Protocol):
    """Anything with a ``.url``: a :class:`wsnb.Server`, a :class:`wsnb.ThreadedServer`."""

    @property
    def url(self) -> str: ...


Target = str | HasURL
"""A ``ws://`` or ``wss://`` URL, or anything with a ``.url`` (a wsnb server)."""
