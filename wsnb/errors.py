"""The errors wsnb raises: each one says what happened and how to fix it."""

from __future__ import annotations

__all__ = ["WsnbError", "NotJSONError", "SameLoopError", "PortInUseError", "OfflineBufferFull"]

#: How much of an offending message an error shows.
PREVIEW_CHARS = 60


def preview(message: str | bytes, limit: int = PREVIEW_CHARS) -> str:
    """Return a short, printable view of ``message`` for error texts.

    >>> preview("x" * 100, limit=5)
    "'xxxxx'... (100 characters)"
    """
    if isinstance(message, bytes):
        unit = "bytes"
    else:
        unit = "characters"
    if len(message) <= limit:
        return repr(message)
    return f"{message[:limit]!r}... ({len(message)} {unit})"


class WsnbError(Exception):
    """Base class of every error wsnb raises.

    Example::

        try:
            data = await wsnb.recv_json(ws)
        except wsnb.WsnbError as exc:
            print(exc)
    """


class NotJSONError(WsnbError, ValueError):
    """A message that should have been JSON was not.

    ``received`` holds the message as it arrived; ``reason`` says why it is
    not JSON (the decoder's own words, with line and column).

    Example::

        try:
            data = await wsnb.recv_json(ws)
        except wsnb.NotJSONError as exc:
            print(exc.reason, exc.received[:20])
    """

    def __init__(self, received: str | bytes, reason: str) -> None:
        self.received = received
        self.reason = reason
        kind = "binary" if isinstance(received, bytes) else "text"
        super().__init__(
            f"expected a JSON message, got a {kind} message that is not JSON "
            f"({reason}): {preview(received)}"
        )


class SameLoopError(WsnbError, RuntimeError):
    """A blocking client would wait forever for a server on its own event loop.

    Raised at once by wsnb's synchronous helpers (:func:`wsnb.connect_sync`,
    :func:`wsnb.exchange_sync`) when they are called from a cell (or any code
    running on an event loop) against a server that runs on that same loop:
    the server could only answer once the cell returns, and the cell waits
    for the server.

    Example::

        server = await wsnb.serve(wsnb.echo)
        wsnb.exchange_sync(server.url, ["hi"])   # raises SameLoopError
        await wsnb.exchange(server, ["hi"])      # the fix: await it
    """


class PortInUseError(WsnbError, OSError):
    """The port asked for is taken by something wsnb did not start.

    Example::

        try:
            server = await wsnb.serve(wsnb.echo, port=8765)
        except wsnb.PortInUseError:
            server = await wsnb.serve(wsnb.echo)   # port=0: a free port
    """


class OfflineBufferFull(WsnbError):
    """``publish()`` found the offline buffer full (with ``overflow="reject"``).

    Example::

        try:
            subscriber.publish("lobby", "hi")
        except wsnb.OfflineBufferFull:
            ...   # wait for the connection, or drop the message knowingly
    """
