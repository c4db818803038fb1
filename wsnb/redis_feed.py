"""The feed: one pub/sub connection to Redis that brings every watched room's events.

What it guarantees:

* **watch() without a race.** It subscribes, waits for the confirmation, then
  reads the room: an event is in the snapshot or delivered after it (or
  both, with the same seq). The sink hears of a room only after watch()
  returned.
* **A dropped feed is said.** The pub/sub connection comes back by itself
  (0.05 s backoff doubling to 1 s), subscribes every watched room again, then
  calls the sink's ``resync()`` once: the core fills its gaps with ``since()``.
  A connection that stops answering PING for ``node_ttl / 3`` s is dropped
  too. Payloads on a room's channel not in the format of
  :mod:`wsnb.redis_keys` are ignored.

The connection is redis-py's (:func:`wsnb.redis_client._feed_connection`),
read by one task (:meth:`RedisFeed.run`) and written to without waiting, so
that the replies expected (:class:`_Ack`) stay in the order of the commands.

Example::

    feed = RedisFeed(store, keys, node, check_open=lambda: None, report=print)
    feed.begin(afresh=True)
    task = asyncio.create_task(feed.run(sink))
    await feed.until_up()
    snapshot = await feed.watch("lobby", read_snapshot)   # then sink.message(...)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from .backend import BackendSink, RemoteMember
from .redis_client import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    _break,
    _feed_connection,
    _safe_url,
    _text,
    _write,
)
from .redis_keys import RedisKeys
from .redis_scripts import RedisStore

__all__ = ["RedisFeed"]

T = TypeVar("T")


class _Ack(NamedTuple):
    """A reply the feed waits for: one per channel of SUBSCRIBE/UNSUBSCRIBE, one per PING."""

    kind: str  # "subscribe", "unsubscribe" or "pong"
    done: Callable[[], None] | None
    waiter: asyncio.Future[None] | None


@dataclass(eq=False)
class _Watched:
    """One watched room: its channel, and the events held while a watch() is running."""

    room: str
    channel: str
    running: int = 0
    """watch() calls in progress."""
    held: list[Callable[[], None]] | None = None
    """Events that arrived while watch() ran, delivered after it returned."""
    confirmed: int = -1
    """The feed generation whose SUBSCRIBE Redis confirmed."""
    waiter: asyncio.Future[None] | None = None
    ever: bool = False
    """A watch() of it returned."""


class RedisFeed:
    """The pub/sub connection of one backend, and the rooms it watches.

    ``check_open`` raises if the backend was closed; ``report`` keeps a
    background error (the sink raising, the connection failing).
    """

    def __init__(
        self,
        store: RedisStore,
        keys: RedisKeys,
        node: str,
        *,
        check_open: Callable[[], None],
        report: Callable[[BaseException, str], None],
    ) -> None:
        self._store = store
        self._keys = keys
        self._node = node
        self._check_open = check_open
        self._report = report
        self._sink: BackendSink | None = None
        self._conn: Any = None
        self._generation = 0
        self.up = False
        """Its connection is up and every watched room's SUBSCRIBE confirmed."""
        self._ready: asyncio.Event | None = None
        self._acks: deque[_Ack] = deque()
        self._ping_waiting = False
        self._failing = False
        self._watched: dict[str, _Watched] = {}
        self._channels: dict[str, _Watched] = {}

    @property
    def watching(self) -> int:
        """How many rooms are watched."""
        return len(self._watched)

    def begin(self, *, afresh: bool) -> None:
        """Before :meth:`run`: an event of the running loop; ``afresh`` (after a close),
        no rooms watched."""
        if afresh:
            self._watched.clear()
            self._channels.clear()
            self._acks.clear()
        self._ready = asyncio.Event()

    async def until_up(self) -> None:
        assert self._ready is not None
        await self._ready.wait()

    async def close(self) -> None:
        """Down for good: whatever waits for it stops waiting, and the connection goes."""
        self.down()
        assert self._ready is not None
        self._ready.set()  # a watch() waiting for the feed stops waiting
        await self.drop_connection()

    # Watching -----------------------------------------------------------------------------

    async def watch(self, room: str, read: Callable[[], Awaitable[T]]) -> T:
        """Subscribe to ``room``, then ``read()`` it; read again if the feed dropped meanwhile.

        The room's events wait until the caller of watch() resumed.
        """
        watched = self._watched.get(room)
        if watched is None:
            watched = _Watched(room, self._keys.room(room, "ch"))
            self._watched[room] = watched
            self._channels[watched.channel] = watched
        watched.running += 1
        if watched.held is None:
            watched.held = []
        try:
            while True:
                await self._subscribed(watched)
                generation = self._generation
                snapshot = await read()
                if self.up and generation == self._generation:
                    watched.ever = True
                    return snapshot
                # The feed dropped while reading: read again once it is back.
        except BaseException:
            if not watched.ever and watched.running == 1 and self._watched.get(room) is watched:
                with contextlib.suppress(Exception):
                    self.unwatch(room)
            raise
        finally:
            watched.running -= 1
            if watched.running == 0:
                # Two turns of the loop: after the caller, even a task awaiting a task, resumed.
                loop = asyncio.get_running_loop()
                loop.call_soon(loop.call_soon, self._release, watched)

    def _release(self, watched: _Watched) -> None:
        """Deliver what arrived during watch() (it has returned), then go live."""
        if watched.running or watched.held is None:
            return
        held, watched.held = watched.held, None
        if self._channels.get(watched.channel) is watched:
            for event in held:
                event()

    async def _subscribed(self, watched: _Watched) -> None:
        """Wait until Redis confirmed the room's SUBSCRIBE on the feed connection now up."""
        while not (self.up and watched.confirmed == self._generation):
            self._check_open()
            if not self.up:
                await self._wait_up()
                continue
            if watched.waiter is None or watched.waiter.done():
                watched.waiter = self._subscribe([watched])
            await asyncio.wait([watched.waiter])

    async def _wait_up(self) -> None:
        assert self._ready is not None
        try:
            await asyncio.wait_for(self._ready.wait(), self._store.connect_timeout)
        except TimeoutError:
            raise ConnectionError(
                f"wsnb.RedisBackend: Redis at {_safe_url(self._store.url)} unreachable "
                f"for {self._store.connect_timeout} s (its pub/sub connection is down)"
            ) from None

    def unwatch(self, room: str) -> None:
        """Stop receiving ``room``'s events (unsubscribe); nothing if it is not watched."""
        watched = self._watched.pop(room, None)
        if watched is None:
            return
        del self._channels[watched.channel]
        if self.up and _write(self._conn, "UNSUBSCRIBE", watched.channel):
            self._acks.append(_Ack("unsubscribe", None, None))
        # (A feed that is down subscribes again without it.)

    def _subscribe(self, rooms: list[_Watched]) -> asyncio.Future[None]:
        """Send SUBSCRIBE for ``rooms`` on the feed; the future is done when confirmed (or the
        feed dropped)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        generation = self._generation
        conn = self._conn
        if not rooms:
            waiter.set_result(None)
            return waiter

        def confirmed(watched: _Watched) -> Callable[[], None]:
            def done() -> None:
                watched.confirmed = generation

            return done

        if not _write(conn, "SUBSCRIBE", *(watched.channel for watched in rooms)):
            self._mark_down()  # the feed loop is about to see it too
            waiter.set_result(None)
            return waiter
        for index, watched in enumerate(rooms):
            last = index == len(rooms) - 1
            self._acks.append(_Ack("subscribe", confirmed(watched), waiter if last else None))
        return waiter

    # The connection -----------------------------------------------------------------------

    async def drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    def _mark_down(self) -> None:
        """The feed connection is broken: no watch() trusts it any more."""
        self._generation += 1
        self.up = False
        if self._ready is not None:
            self._ready.clear()

    def down(self) -> None:
        """The feed connection is gone: whatever waited for its replies stops waiting."""
        self._mark_down()
        self._ping_waiting = False
        acks, self._acks = self._acks, deque()
        for ack in acks:
            if ack.waiter is not None and not ack.waiter.done():
                ack.waiter.set_result(None)

    async def run(self, sink: BackendSink) -> None:
        """Connect with the store's client's options, read every reply, reconnect when
        dropped."""
        self._sink = sink
        redis, client = self._store.redis, self._store.client
        delay = BACKOFF_FIRST
        first = True
        while True:
            conn = _feed_connection(redis, client, self._node)
            self._conn = conn
            try:
                await conn.connect()
                self._generation += 1
                self._resubscribe(conn, first)
                first = False
                delay = BACKOFF_FIRST
                while True:
                    self._on_reply(await conn.read_response())
            except asyncio.CancelledError:
                raise
            except self._store.away:
                pass
            except Exception as error:  # an error reply, a reply out of order: start again
                if not self._failing:  # once, until it works again
                    self._report(error, "its pub/sub connection failed")
                self._failing = True
            self.down()
            await self.drop_connection()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_CAP)

    def _resubscribe(self, conn: Any, first: bool) -> None:
        """Subscribe every watched room on a new feed connection, then PING: its PONG says
        all are confirmed (the feed is up; after a drop, the sink is told to resync)."""
        self._subscribe(list(self._watched.values()))

        def up() -> None:
            self.up = True
            self._failing = False
            assert self._ready is not None
            self._ready.set()
            if not first and self._sink is not None:
                self._call_sink(self._sink.resync)

        if _write(conn, "PING"):
            self._acks.append(_Ack("pong", up, None))

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, list) and len(reply) == 3 and _text(reply[0]) == "message":
            self._on_message(_text(reply[1]), _text(reply[2]))
            return
        kind = _text(reply[0] if isinstance(reply, list) else reply).lower()
        if not self._acks or self._acks[0].kind != kind:
            raise RuntimeError(f"unexpected reply on the pub/sub connection: {reply!r}")
        ack = self._acks.popleft()
        if ack.done is not None:
            ack.done()
        if ack.waiter is not None and not ack.waiter.done():
            ack.waiter.set_result(None)

    def _on_message(self, channel: str, payload: str) -> None:
        watched = self._channels.get(channel)
        sink = self._sink
        if watched is None or sink is None:
            return  # unwatched meanwhile
        args: tuple[Any, ...]
        try:
            if payload[0] == "m":
                epoch, seq, data = payload[1:].split(":", 2)
                method: Callable[..., None] = sink.message
                args = (watched.room, epoch, int(seq), data)
            elif payload[0] == "p":
                kind, node, member_id, name = payload[1:].split("\t", 3)
                if node == self._node:
                    return
                method = sink.presence
                args = (watched.room, kind, RemoteMember(int(member_id), name, node))
            else:
                return
        except (IndexError, ValueError):
            return  # not ours: someone else published on the channel
        if watched.held is not None:
            watched.held.append(functools.partial(self._call_sink, method, *args))
        else:
            self._call_sink(method, *args)

    def _call_sink(self, method: Callable[..., None], *args: Any) -> None:
        try:
            method(*args)
        except Exception as error:
            self._report(error, f"its sink's {getattr(method, '__name__', 'method')}() raised")

    # The watchdog -------------------------------------------------------------------------

    async def watchdog(self, interval: float) -> None:
        """Every ``interval`` s, PING the feed (a wedged connection is dropped)."""
        while True:
            await asyncio.sleep(interval)
            self._ping()

    def _ping(self) -> None:
        """Ask the feed for a PONG; if the last one never came, the connection is wedged:
        drop it (the feed loop reconnects)."""
        conn = self._conn
        if not self.up or conn is None or not conn.is_connected:
            return
        if self._ping_waiting:
            _break(conn)  # the reader's wait ends with an error
            return

        def answered() -> None:
            self._ping_waiting = False

        if _write(conn, "PING"):
            self._ping_waiting = True
            self._acks.append(_Ack("pong", answered, None))
