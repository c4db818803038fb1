"""Rooms shared by several processes: what the core asks of the backend, performed.

A :class:`wsnb.Rooms` with a backend runs a ``RoomsCore(shared=True)``: the
core validates and decides as ever, but the backend numbers messages and
gives member ids (:mod:`wsnb.core.asks`). :class:`BackendLink` performs those
asks and is the backend's :class:`~wsnb.backend.BackendSink`: messages and
presence changes from every process go back into the core, which addresses
them to this process's members.

* A ``publish`` or ``join`` is awaited by its connection's handler, so one
  connection's requests are answered in the order it sent them; the backend
  batches the publishes of all connections into one round trip.
* Following a room (``watch``/``unwatch``) and telling the others of leaves
  and renames go through one queue, in order: a room's unwatch and a later
  watch never cross.
* A gap in a room's messages (a lost live event, the backend's feed back after
  a drop) is filled from the backend's history before anything after it is
  delivered.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .backend import RemoteMember, RoomsBackend
from .core.asks import Ask, Fetch, Join, Leave, Publish, Rename, Unwatch

if TYPE_CHECKING:
    from websockets.asyncio.connection import Connection

    from .core.directory import Room
    from .core.pages import Outgoing
    from .core.rooms import RoomsCore

__all__ = ["BackendLink"]

Send = Callable[[list["Outgoing[Connection]"]], None]


class BackendLink:
    """Performs a shared core's asks with ``backend``; feeds the backend's events back.

    ``send`` fans out what the core returns (``Rooms._send``).
    """

    def __init__(self, core: RoomsCore[Connection], backend: RoomsBackend, send: Send) -> None:
        self.core, self.backend, self._send = core, backend, send
        self._queue: asyncio.Queue[Callable[[], Awaitable[None]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._servers = 0
        self.errors: list[BaseException] = []
        """What went wrong in the background (a leave the backend did not take, say)."""

    # Lifecycle: one backend for every server that serves these rooms ----------------

    async def server_starts(self) -> None:
        """A server is about to serve these rooms: the first one starts the backend."""
        self._servers += 1
        if self._servers == 1:
            try:
                await self.backend.start(self)
            except BaseException:
                self._servers -= 1
                raise
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def server_stopped(self) -> None:
        """A server stopped serving these rooms: after the last, the backend stops cleanly."""
        self._servers = max(0, self._servers - 1)
        if self._servers == 0:
            await self.close()

    async def close(self) -> None:
        """Finish the queued work, then close the backend (its members leave at once)."""
        if self._worker is not None and self._queue is not None:
            done = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(lambda: _resolve(done))
            await asyncio.wait({done, self._worker}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            self._worker.cancel()
            self._worker = self._queue = None
        for task in list(self._tasks):
            task.cancel()
        await self.backend.close()

    @property
    def running(self) -> bool:
        return self._worker is not None

    # Asks -----------------------------------------------------------------------

    async def perform(self, asks: Iterable[Ask[Connection]]) -> None:
        """Do ``asks`` (from one connection's request): a publish or join is awaited."""
        for ask in asks:
            if isinstance(ask, Publish):
                await self._publish(ask)
            elif isinstance(ask, Join):
                await self._join(ask)
            else:
                self.schedule((ask,))

    def schedule(self, asks: Iterable[Ask[Connection]]) -> None:
        """Do ``asks`` in the background (from a disconnect, a presence event, a timer)."""
        for ask in asks:
            if isinstance(ask, (Publish, Join)):
                self._spawn(self.perform((ask,)))
            elif isinstance(ask, Fetch):
                self._spawn(self._fetch(ask))
            elif isinstance(ask, Leave):
                self._in_order(functools.partial(self.backend.leave, ask.room, ask.member_id))
            elif isinstance(ask, Rename):
                job = functools.partial(self.backend.rename, ask.room, ask.member_id, ask.name)
                self._in_order(job)
            elif isinstance(ask, Unwatch):
                self._in_order(functools.partial(self._unwatch, ask.room))

    def _after(self, outgoing: list[Outgoing[Connection]]) -> None:
        self._send(outgoing)
        if self.core.asks_pending:
            self.schedule(self.core.take_asks())

    async def _publish(self, ask: Publish[Connection]) -> None:
        backend, duplicate = self.backend, False
        try:
            if ask.idempotency_key is None:
                epoch, seq = await backend.publish(ask.room, ask.data)
            else:
                once = ask.idempotency_key
                epoch, seq, duplicate = await backend.publish_once(ask.room, ask.data, once)
        except Exception as error:  # noqa: BLE001 - told to the publisher as `unavailable`
            self._after(self.core.failed(ask, _why(error)))
            return
        self._after(self.core.published(ask, epoch, seq, duplicate))

    async def _join(self, ask: Join[Connection]) -> None:
        core = self.core
        try:
            room = core.room(ask.room)
            if not room.watched:
                await self._watch(ask.room)  # a snapshot read now
            elif ask.resume is not None:
                # A replay is decided on this process's copy: bring it up to the store's
                # now first (the live feed may lag, or the store may have lost the room:
                # a new epoch), so that no resume is told `recovered` from a stale copy.
                await self._fetch(Fetch(ask.room, room.history.last_seq), quiet=False)
            member_id = await self.backend.join(ask.room, ask.name)
        except Exception as error:  # noqa: BLE001 - told to the joiner as `unavailable`
            self._after(core.failed(ask, _why(error)))
            return
        self._after(core.joined(ask, member_id))

    async def _watch(self, room: str) -> None:
        """Follow ``room`` (in the queue's order), loading the backend's snapshot."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def watch() -> None:
            try:
                target = self.core.room(room)
                if not target.watched:
                    snapshot = await self.backend.watch(room)
                    node = self.backend.node
                    others = {m.id: m.name for m in snapshot.members if m.node != node}
                    self.core.load(
                        room, snapshot.epoch, snapshot.last_seq, snapshot.messages, others
                    )
            except BaseException as error:
                done.set_exception(error)
                raise
            done.set_result(None)

        self._in_order(watch)
        await done

    async def _unwatch(self, room: str) -> None:
        target = self._room(room)
        if target is None or not target.watched:  # nobody joined it again meanwhile
            await self.backend.unwatch(room)

    async def _fetch(self, ask: Fetch, *, quiet: bool = True) -> None:
        """Fill ``ask.room``'s copy from ``ask.after``; an error is kept (``quiet``: a live
        gap, tried again at the next message) or raised (a join waits on it)."""
        try:
            found = await self.backend.since(ask.room, ask.after)
        except Exception as error:  # noqa: BLE001 - try again at the next message
            if not quiet:
                raise
            self.errors.append(error)
            target = self._room(ask.room)
            if target is not None:
                target.fetching = False
            return
        self._after(self.core.fill(ask.room, found.epoch, found.first_seq, found.messages))

    def _room(self, name: str) -> Room[Connection] | None:
        try:
            return self.core.room(name)
        except KeyError:  # forgotten meanwhile (to make way for another)
            return None

    def _in_order(self, job: Callable[[], Awaitable[None]]) -> None:
        if self._queue is not None:
            self._queue.put_nowait(job)

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            job = await queue.get()
            try:
                await job()
            except Exception as error:  # noqa: BLE001 - kept, the queue goes on
                self.errors.append(error)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # BackendSink ------------------------------------------------------------------

    def message(self, room: str, epoch: str, seq: int, data: str) -> None:
        """A numbered message of ``room`` from the backend."""
        self._after(self.core.deliver(room, epoch, seq, data))

    def presence(self, room: str, event: str, member: RemoteMember) -> None:
        """A member of another process joined, left or was renamed."""
        self.core.remote_change(room, event, member.id, member.name)
        self._after(self.core.take_events())

    def resync(self) -> None:
        """The backend's feed is back: fill each followed room's gap, if any."""
        for name in self.core.names():
            room = self.core.room(name)
            if room.watched and not room.fetching:
                room.fetching = True
                self._spawn(self._fetch(Fetch(name, room.history.last_seq)))


def _why(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def _resolve(done: asyncio.Future[Any]) -> None:
    done.set_result(None)
