"""Echo handlers: the "hello world" of WebSockets."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection

from .server import ends_quietly
from .typing import Handler

__all__ = ["echo", "echo_with_prefix"]


@ends_quietly  # so that it ends quietly under a plain websockets.serve() too
async def echo(ws: ServerConnection) -> None:
    """Send every message back exactly as it came: text as text, bytes as bytes.

    Any size up to the server's ``max_size``; a fragmented message comes back
    whole. Ends quietly when the client goes away.

    Example::

        server = await wsnb.serve(wsnb.echo)
        await wsnb.exchange(server, ["hi", b"\\x00\\x01"])   # ['hi', b'\\x00\\x01']
    """
    async for message in ws:
        await ws.send(message)


def echo_with_prefix(prefix: str = "Echo: ") -> Handler:
    """Make an echo handler that puts ``prefix`` before every text message.

    Useful for teaching: the reply is visibly the server's. Binary messages
    come back unchanged, byte for byte (a prefix would corrupt an image or a
    frame of another protocol), as the usual ``echo_handler`` does.

    Example::

        server = await wsnb.serve(wsnb.echo_with_prefix("Echo: "))
        await wsnb.exchange(server, ["hi", b"\\x01"])   # ['Echo: hi', b'\\x01']
    """

    @ends_quietly
    async def echo_with_prefix(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(prefix + message if isinstance(message, str) else message)

    return echo_with_prefix
