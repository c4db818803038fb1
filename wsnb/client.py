"""Client helpers: connect without proxy surprises, and send-then-collect.

``connect`` / ``exchange`` are for cells and coroutines (top-level ``await``);
``connect_sync`` / ``exchange_sync`` are for synchronous code and refuse at
once, with the fix in the message, to wait for a server that runs on the
caller's own event loop (which would hang until ``open_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.client import connect as _ws_connect_sync
from websockets.typing import Data

from .errors import SameLoopError, WsnbError
from .json_messages import decode_json, encode_json
from .registry import running_servers
from .server import Server
from .typing import Target

__all__ = [
    "connect",
    "connect_sync",
    "exchange",
    "exchange_sync",
    "ExchangeTimeout",
    "is_loopback",
]


class ExchangeTimeout(WsnbError, TimeoutError):
    """Fewer replies than expected arrived in time.

    ``replies`` holds those that did arrive, in order.

    Example::

        try:
            await wsnb.exchange(server, ["hi"], replies=2, timeout=0.5)
        except wsnb.ExchangeTimeout as exc:
            print(exc.replies)   # ['hi']
    """

    def __init__(self, expected: int, replies: list[Data], timeout: float) -> None:
        self.replies = replies
        super().__init__(
            f"expected {expected} repl{'y' if expected == 1 else 'ies'} within {timeout} s, "
            f"got {len(replies)}: {replies!r}"
        )


def _url(target: Target) -> str:
    return target if isinstance(target, str) else target.url


def is_loopback(url: str) -> bool:
    """Tell whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1).

    >>> is_loopback("ws://127.0.0.1:8765"), is_loopback("wss://example.com")
    (True, False)
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _with_defaults(url: str, options: dict[str, Any]) -> dict[str, Any]:
    # websockets >= 15 routes even 127.0.0.1 through HTTP(S)_PROXY when one is
    # set, which then fails: loopback never goes through a proxy.
    if is_loopback(url):
        options.setdefault("proxy", None)
    return options


def connect(target: Target, **options: Any) -> _ws_connect:
    """Open a client connection; use with ``async with``, ``await`` or ``async for``.

    The same object as :func:`websockets.asyncio.client.connect` returns
    (``async for`` reconnects), with ``proxy=None`` for loopback URLs.
    ``target`` is a URL or a server. Keywords go to websockets unchanged.

    Example::

        async with wsnb.connect(server) as ws:
            await ws.send("hi")
            print(await ws.recv())
    """
    url = _url(target)
    return _ws_connect(url, **_with_defaults(url, options))


@contextlib.contextmanager
def _collecting(received: list[Data], expected: int, timeout: float) -> Iterator[None]:
    """Turn a timeout into :class:`ExchangeTimeout`; note what arrived on a close."""
    try:
        yield
    except TimeoutError:
        raise ExchangeTimeout(expected, received, timeout) from None
    except ConnectionClosed as exc:
        exc.add_note(f"replies received before the close: {received!r}")
        raise


async def exchange(
    target: Target,
    messages: list[Any],
    *,
    replies: int | None = None,
    timeout: float = 5.0,
    reply_timeout: float | None = None,
    json: bool = False,
    **options: Any,
) -> list[Any]:
    """Connect, send ``messages`` in order, collect the replies, and close.

    Waits for ``replies`` messages (by default one per message sent) for at
    most ``timeout`` seconds in all, then raises :class:`ExchangeTimeout`,
    which carries what did arrive. Keywords go to :func:`connect`.

    ``json=True`` sends each message as JSON text and decodes each reply
    (:class:`NotJSONError` for one that is not JSON). ``reply_timeout`` goes
    one message at a time, as a request/response probe does: send one, wait
    at most ``reply_timeout`` seconds for its reply, then send the next; a
    reply that does not come ends the exchange, and the replies that did
    arrive are returned (fewer than ``messages``: check the length).

    Example::

        await wsnb.exchange(server, ["a", "b"])   # ['a', 'b'] from an echo server
        await wsnb.exchange(server, [{"n": 1}], json=True, reply_timeout=1)   # [{'n': 1}]
    """
    if reply_timeout is not None and replies is not None:
        raise TypeError("reply_timeout waits for one reply per message: leave out replies=")
    encode = encode_json if json else _unchanged
    decode = decode_json if json else _unchanged
    expected = len(messages) if replies is None else replies
    received: list[Any] = []
    async with connect(target, **options) as ws:
        if reply_timeout is not None:
            with _collecting(received, expected, timeout):
                await _one_at_a_time(ws, messages, received, reply_timeout, encode, decode)
            return received
        for message in messages:
            await ws.send(encode(message))
        with _collecting(received, expected, timeout):
            async with asyncio.timeout(timeout):
                while len(received) < expected:
                    received.append(decode(await ws.recv()))
    return received


def _unchanged(message: Any) -> Any:
    return message


async def _one_at_a_time(
    ws: ClientConnection,
    messages: list[Any],
    received: list[Any],
    reply_timeout: float,
    encode: Callable[[Any], Any],
    decode: Callable[[Any], Any],
) -> None:
    """Send each message once the previous one's reply came; stop at a reply that does not."""
    for message in messages:
        await ws.send(encode(message))
        try:
            async with asyncio.timeout(reply_timeout):
                raw = await ws.recv()
        except TimeoutError:
            return
        received.append(decode(raw))


def _server_on_this_loop(url: str) -> Server | None:
    """The wsnb server at ``url`` that runs on the calling thread's loop, if any."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    parts = urlsplit(url)
    for server in running_servers():
        if (
            isinstance(server, Server)
            and server._loop is loop
            and server.port == parts.port
            and (is_loopback(url) or parts.hostname == server.host)
        ):
            return server
    return None


def connect_sync(target: Target, **options: Any) -> SyncClientConnection:
    """Open a blocking client connection, for synchronous code.

    The same as :func:`websockets.sync.client.connect`, with ``proxy=None``
    for loopback URLs. Raises :class:`SameLoopError` at once if the server is
    a wsnb server on the event loop this code runs on (a notebook cell and a
    server started there with :func:`wsnb.serve`): that would hang until
    ``open_timeout``. Use it against :func:`wsnb.serve_in_thread` servers or
    other processes.

    Example::

        server = wsnb.serve_in_thread(wsnb.echo)
        with wsnb.connect_sync(server) as ws:
            ws.send("hi")
            print(ws.recv())
    """
    url = _url(target)
    server = _server_on_this_loop(url)
    if server is not None:
        raise SameLoopError(
            f"a blocking client cannot reach server {server.name!r} at {url}: that server "
            "runs on this event loop, which is stuck in this very call. In a notebook, "
            "use `await wsnb.exchange(...)` or `async with wsnb.connect(...)` instead, "
            "or start the server with wsnb.serve_in_thread(...)"
        )
    try:
        connection: SyncClientConnection = _ws_connect_sync(url, **_with_defaults(url, options))
    except TimeoutError as exc:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise
        exc.add_note(
            "This code runs on an event loop (a notebook cell?). If the server runs on "
            "that same loop it cannot answer: await an async client instead, or serve "
            "with wsnb.serve_in_thread(...)."
        )
        raise
    return connection


def exchange_sync(
    target: Target,
    messages: list[Data],
    *,
    replies: int | None = None,
    timeout: float = 5.0,
    **options: Any,
) -> list[Data]:
    """Blocking :func:`exchange`: send ``messages``, collect the replies, close.

    Raises :class:`SameLoopError` at once instead of hanging when the server
    runs on the caller's own event loop (see :func:`connect_sync`).

    Example::

        with wsnb.serve_in_thread(wsnb.echo) as server:
            wsnb.exchange_sync(server, ["hi"])   # ['hi']
    """
    expected = len(messages) if replies is None else replies
    received: list[Data] = []
    deadline = time.monotonic() + timeout
    with connect_sync(target, **options) as ws:
        for message in messages:
            ws.send(message)
        with _collecting(received, expected, timeout):
            while len(received) < expected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                received.append(ws.recv(timeout=remaining))
    return received
