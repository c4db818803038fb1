"""A reconnecting client for any stream of messages: a price ticker, a hub's broadcast.

The rooms :class:`~wsnb.Subscriber`'s relative for servers that do not speak
docs/protocol.md, on websockets' reconnecting ``connect()`` with
:func:`~wsnb.notebook_backoff`. Each message is decoded as JSON (or passed on
raw) and handed to a callback or queued for ``async for``. A plain feed has
no sequence numbers: what was sent while disconnected is lost, uncounted.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, fields
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .backoff import notebook_backoff
from .client import connect
from .display import html_card
from .errors import NotJSONError, WsnbError
from .json_messages import decode_json
from .registry import registry
from .typing import Target

__all__ = ["Stream", "StreamStats", "stream"]

StreamState = Literal["connecting", "open", "reconnecting", "closed"]
OnMessage = Callable[[Any], Awaitable[None] | None]
OnOpen = Callable[[ClientConnection], Awaitable[None] | None]

#: A connection that ends sooner than this after opening counts as a failure for the
#: backoff: websockets reconnects at once after any success, so a server that accepts
#: and closes straight away would otherwise be retried hundreds of times a second.
SHORT_CONNECTION = 1.0
GAPS = "unknown: a plain feed has no sequence numbers, so what was sent while disconnected is lost"
_END = object()


@dataclass
class StreamStats:
    """Counters a notebook can watch."""

    received: int = 0
    """Messages that arrived."""
    delivered: int = 0
    """Of those, messages handed to the application (callback or ``async for``)."""
    not_json: int = 0
    """Messages that were not JSON (with ``json=True``): kept in :attr:`Stream.errors`."""
    callback_errors: int = 0
    """Exceptions raised by ``on_message``: kept in :attr:`Stream.errors`, the stream goes on."""
    dropped: int = 0
    """Messages dropped, oldest first, because ``buffer_size`` were waiting unread."""
    reconnects: int = 0
    """Connections opened after the first one; each is a possible gap."""


def _fixed(delay: float) -> Callable[[], Generator[float]]:
    def delays() -> Generator[float]:
        yield from itertools.repeat(delay)

    return delays


class Stream:
    """Follow a server's messages across drops and restarts, JSON or raw.

    Start it with :func:`stream`. Each message is decoded as JSON
    (``json=False``: passed on as the ``str`` or ``bytes`` that arrived) and
    given to ``on_message`` (a function or a coroutine function), or, with
    no callback, queued for ``async for message in stream`` and
    :meth:`next_message` (at most ``buffer_size``; beyond, the oldest are
    dropped and counted). A message that is not JSON, or a callback that
    raises, is counted and kept in :attr:`errors`; the stream goes on.

    ``reconnect=False`` stops at the first close. Otherwise it reconnects
    with :func:`wsnb.notebook_backoff` (``reconnect_delay=2.0``: a fixed
    delay; ``reconnect_delays``: a generator function, as websockets takes);
    ``on_open(ws)`` runs on every connection, to send a subscription again.

    **Gaps are unknown.** A plain feed carries no sequence numbers: what the
    server sent while the stream was disconnected is lost, and nothing can
    say how much. Every reconnection is a possible gap (``stats.reconnects``).
    For a feed that replays what was missed, use :class:`wsnb.Rooms` and
    :func:`wsnb.subscribe`.

    Example::

        ticks = []
        feed = await wsnb.stream(server, ticks.append)     # JSON messages into a list
        feed.state, feed.stats.received
        await feed.close()                                 # or wsnb.stop_all()
    """

    def __init__(
        self,
        target: Target,
        on_message: OnMessage | None = None,
        *,
        json: bool = True,
        reconnect: bool = True,
        reconnect_delay: float | None = None,
        reconnect_delays: Callable[[], Generator[float]] | None = None,
        on_open: OnOpen | None = None,
        buffer_size: int = 1000,
        **connect_options: Any,
    ) -> None:
        if reconnect_delay is not None and reconnect_delays is not None:
            raise TypeError("give reconnect_delay (a fixed delay) or reconnect_delays, not both")
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self.url = target if isinstance(target, str) else target.url
        self.json = json
        self.reconnect = reconnect
        self.stats = StreamStats()
        self.timeline: list[tuple[float, str, str]] = []
        """``(time.monotonic(), event, detail)`` for each connection event."""
        self.errors: deque[Exception] = deque(maxlen=10)
        """The last 10 messages that were not JSON (:class:`NotJSONError`, with the message)
        and exceptions raised by ``on_message``."""
        self.error: BaseException | None = None
        """What stopped the stream for good, if something did (a refused handshake, say)."""
        self._on_message = on_message
        self._on_open = on_open
        self._buffer_size = buffer_size
        if reconnect_delay is not None:
            reconnect_delays = _fixed(reconnect_delay)
        self._delays = reconnect_delays or notebook_backoff()
        self._connect_options = connect_options
        self._state: StreamState = "connecting"
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._opened = 0  # connections opened so far
        self._changed = asyncio.Event()  # set (and replaced) at each connection and at the end
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: ClientConnection | None = None

    # The application's side ---------------------------------------------------------

    @property
    def state(self) -> StreamState:
        """``"connecting"``, ``"open"``, ``"reconnecting"`` or ``"closed"``."""
        return self._state

    @property
    def pending(self) -> int:
        """Messages queued and not read yet (without ``on_message``)."""
        return self._queue.qsize() - self._done.is_set()  # less the end-of-stream marker

    async def next_message(self, timeout: float | None = None) -> Any:
        """The next message; ``TimeoutError`` after ``timeout`` s, :class:`WsnbError` once closed.

        Example::

            tick = await feed.next_message(timeout=2)
        """
        async with asyncio.timeout(timeout):
            message = await self._queue.get()
        if message is _END:
            self._queue.put_nowait(_END)  # for any other reader
            raise WsnbError(f"the stream from {self.url} is closed")
        return message

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Every message, until the stream closes for good."""
        while True:
            message = await self._queue.get()
            if message is _END:
                self._queue.put_nowait(_END)
                return
            yield message

    async def send(self, message: str | bytes) -> None:
        """Send ``message`` on the current connection (:class:`WsnbError` while there is none)."""
        if self._connection is None:
            raise WsnbError(f"the stream is {self._state}: there is no connection to send on")
        await self._connection.send(message)

    async def wait_open(self, timeout: float | None = 10.0) -> None:
        """Wait until connected (at once if open); raise what stopped the stream, if it stopped.

        A connection that opened and already closed again counts: it was connected.
        """
        if self._state == "open":
            return
        start = self._opened
        async with asyncio.timeout(timeout):
            while self._opened == start and not self._done.is_set():
                await self._changed.wait()
        if self._opened == start:
            if self.error is not None:
                raise self.error
            raise WsnbError(f"the stream from {self.url} is closed")

    async def wait_closed(self) -> None:
        """Wait until the stream ends (``reconnect=False`` and a close, or :meth:`close`);
        raise what stopped it, if it failed.

        Example::

            feed = await wsnb.stream(url, print, reconnect=False)
            await feed.wait_closed()      # a script follows the feed to its end
        """
        await self._done.wait()
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        """Stop reconnecting, close the connection and end the background task."""
        if self._state == "closed":
            return
        self._finish("closed", "")
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()

    async def _stop_from_any_loop(self) -> None:
        await self.close()

    # The connection's side --------------------------------------------------------------

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        registry.add_client(self)

    def _finish(self, event: str, detail: str) -> None:
        if self._state != "closed":
            self._state = "closed"
            self._note(event, detail)
            registry.discard(self)
            self._queue.put_nowait(_END)
            self._done.set()
            self._pulse()

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _recorded_delays(self) -> Generator[float]:
        for delay in self._delays():
            self._note("retry", f"in {delay * 1000:.0f} ms")
            yield delay

    async def _run(self) -> None:
        try:
            if self.reconnect:
                connections = connect(
                    self.url, reconnect_delays=self._recorded_delays, **self._connect_options
                ).__aiter__()
                async with contextlib.aclosing(connections):  # type: ignore[type-var]
                    await self._follow(connections)
            else:
                async with connect(self.url, **self._connect_options) as ws:
                    await self._session(ws, 1)
        except Exception as error:  # refused for good: an HTTP 4xx, a bad URL, an OSError
            self.error = error
            self._finish("failed", f"{type(error).__name__}: {error}")
            return
        self._finish("closed", "")

    async def _follow(self, connections: AsyncIterator[ClientConnection]) -> None:
        opened = 0
        quick = self._recorded_delays()
        async for ws in connections:
            opened += 1
            started = time.monotonic()
            await self._session(ws, opened)
            if self._state == "closed":
                return
            self._state = "reconnecting"
            if time.monotonic() - started < SHORT_CONNECTION:
                await asyncio.sleep(next(quick))
            else:
                quick = self._recorded_delays()

    async def _session(self, ws: ClientConnection, opened: int) -> None:
        self.stats.reconnects += opened > 1
        self._connection = ws
        self._state = "open"
        self._opened += 1
        self._pulse()
        self._note("connected", "" if opened == 1 else "a possible gap: no sequence numbers")
        try:
            if self._on_open is not None:
                await self._call(self._on_open, ws)
            async for raw in ws:
                await self._deliver(raw)
        except ConnectionClosed:
            pass
        finally:
            self._connection = None
        code = ws.close_code
        self._note("dropped", f"code {code}" + (f": {ws.close_reason}" if ws.close_reason else ""))

    async def _deliver(self, raw: str | bytes) -> None:
        self.stats.received += 1
        message: Any = raw
        if self.json:
            try:
                message = decode_json(raw)
            except NotJSONError as error:
                self.stats.not_json += 1
                self._kept(error, "not JSON")
                return
        if self._on_message is None:
            if self._queue.qsize() >= self._buffer_size:
                self._queue.get_nowait()
                self.stats.dropped += 1
            self._queue.put_nowait(message)
            self.stats.delivered += 1
            return
        try:
            await self._call(self._on_message, message)
        except Exception as error:  # the application's bug: kept, shown, the feed goes on
            self.stats.callback_errors += 1
            self._kept(error, "on_message raised")
        else:
            self.stats.delivered += 1

    @staticmethod
    async def _call(function: Callable[[Any], Any], argument: Any) -> None:
        result = function(argument)
        if inspect.isawaitable(result):
            await result

    def _kept(self, error: Exception, what: str) -> None:
        self.errors.append(error)
        self._note("error", f"{what}: {type(error).__name__}: {error}")

    def _note(self, event: str, detail: str) -> None:
        self.timeline.append((time.monotonic(), event, detail))

    # Display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        kind = "json" if self.json else "raw"
        return (
            f"<wsnb.Stream {self.url} {self._state} {kind} received={self.stats.received} "
            f"reconnects={self.stats.reconnects} gaps=unknown>"
        )

    def _repr_html_(self) -> str:
        shown = [
            ("url", self.url),
            ("state", self._state),
            ("messages", "JSON" if self.json else "raw"),
        ]
        shown += [(f.name, getattr(self.stats, f.name)) for f in fields(StreamStats)]
        shown.append(("gaps", GAPS))
        if self.error is not None:
            shown.append(("stopped by", f"{type(self.error).__name__}: {self.error}"))
        elif self.errors:
            last = self.errors[-1]
            shown.append(("last error", f"{type(last).__name__}: {last}"))
        return html_card("wsnb.Stream", shown)


async def stream(
    target: Target,
    on_message: OnMessage | None = None,
    *,
    wait: bool = True,
    **options: Any,
) -> Stream:
    """Start a :class:`Stream` in the background; by default wait until it is connected.

    The card's ``ws_subscribe(uri, on_message, reconnect=True, reconnect_delay=2.0)``,
    returning at once with a handle instead of blocking. Keywords are those of
    :class:`Stream` (``json``, ``reconnect``, ``reconnect_delay``,
    ``reconnect_delays``, ``on_open``, ``buffer_size``) and of websockets'
    ``connect()``. With ``wait=True``, a server that cannot be reached within
    10 s raises, and the stream is closed.

    Example::

        feed = await wsnb.stream(server)            # no callback: read it with async for
        async for tick in feed:
            print(tick["price"])
            break
        await feed.close()
    """
    follower = Stream(target, on_message, **options)
    follower._start()
    if wait:
        try:
            await follower.wait_open()
        except BaseException:
            await follower.close()
            raise
    return follower
