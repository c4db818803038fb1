"""Rooms shared by several server processes through a Redis-protocol server.

:class:`RedisBackend` is the :class:`~wsnb.backend.RoomsBackend` of
:class:`wsnb.Rooms` on Redis (or Valkey), with redis-py's asyncio client
(``pip install 'wsnb[redis]'``; hiredis parses replies when installed). redis-py
is imported when a backend is made, never by ``import wsnb``.

Its parts, one idea each, say what they guarantee: :mod:`wsnb.redis_keys`
(the keys), :mod:`wsnb.redis_scripts` (one atomic Lua script per write: one
numbering, a new epoch exactly when history is lost, exactly-once publishing),
:mod:`wsnb.redis_publisher` (publishes auto-pipelined), :mod:`wsnb.redis_feed`
(pub/sub: watch() without a race, a dropped feed said), :mod:`wsnb.redis_presence`
(heartbeats, the sweep of dead processes) and :mod:`wsnb.redis_client`
(redis-py). This module is the backend's lifetime: start, close, and the
background tasks and their errors.

Errors in the background (the sink raising, a script failing) are not lost:
each goes to the loop's exception handler, and the first is kept in
:attr:`RedisBackend.error` and raised again by :meth:`RedisBackend.close`.
Redis being away is not an error: the feed reconnects, heartbeats and sweeps
try again, and the calls made meanwhile raise redis-py's ``ConnectionError``.

The scripts touch keys of a room and of a process together: this is for one
Redis (or Valkey) server, replicated or not, not for Redis Cluster.

Example::

    redis = wsnb.redis_server()
    rooms = wsnb.Rooms(backend=wsnb.RedisBackend(redis.url))
    server = await wsnb.serve(rooms)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from collections.abc import Sequence
from typing import Any

from .backend import BackendSink, RoomRange, RoomSnapshot
from .core.history import new_epoch
from .redis_client import _import_redis, _safe_url
from .redis_feed import RedisFeed
from .redis_keys import RedisKeys
from .redis_presence import RedisPresence
from .redis_publisher import RedisPublisher
from .redis_scripts import RedisStore, _Call, _room_range, _room_snapshot

__all__ = ["RedisBackend"]


class RedisBackend:
    """Rooms shared by several ``wsnb.Rooms`` processes through Redis (or Valkey).

    ``url`` is redis-py's (``redis://host:port/db``, ``rediss://`` for TLS,
    ``unix://``); ``prefix`` starts every key, so that several apps share one
    server; ``history_size`` messages are kept per room; a process whose
    heartbeat is ``node_ttl`` seconds old is taken for dead. ``client`` is an
    existing ``redis.asyncio.Redis`` to use instead of one made from ``url``
    (it is not closed by :meth:`close`). :meth:`start` fails within
    ``connect_timeout`` seconds if Redis is unreachable. The module's docstring
    names the parts that list the keys and what is guaranteed.

    Example::

        backend = wsnb.RedisBackend("redis://127.0.0.1:6379/0", prefix="chat")
        rooms = wsnb.Rooms(backend=backend)      # Rooms starts and closes it

    or on its own, with any :class:`~wsnb.backend.BackendSink`::

        await backend.start(sink)
        snapshot = await backend.watch("lobby")  # then sink.message(...) for new ones
        epoch, seq = await backend.publish("lobby", '{"from": "ada", "body": "hi"}')
        await backend.close()
    """

    node: str
    """This process's id among those sharing the prefix (12 hex digits)."""
    history_size: int
    """How many messages each room keeps."""
    error: BaseException | None
    """The first error of the background work (the sink raising, a script failing)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "wsnb",
        history_size: int = 1000,
        node_ttl: float = 15.0,
        client: Any = None,
        connect_timeout: float = 5.0,
    ) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, not {history_size!r}")
        if not node_ttl > 0:
            raise ValueError(f"node_ttl must be a positive number of seconds, not {node_ttl!r}")
        self._redis = _import_redis()
        self.url = url
        self.prefix = prefix
        self.history_size = history_size
        self.node_ttl = node_ttl
        self.connect_timeout = connect_timeout
        self.node = secrets.token_hex(6)
        self.error = None
        self._started = False
        self._closed = False
        self._raised = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keys = keys = RedisKeys(prefix)
        self._store = store = RedisStore(
            self._redis, url, connect_timeout=connect_timeout, given=client
        )
        self._feed = RedisFeed(
            store, keys, self.node, check_open=self._check_open, report=self._report
        )
        # Through self._eval_many as it is when each batch goes (a test counts the batches).
        self._publisher = RedisPublisher(
            keys, history_size, lambda calls: self._eval_many("publish", calls)
        )
        self._presence = RedisPresence(store, keys, self.node, node_ttl, report=self._report)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._started else "not started"
        return (
            f"RedisBackend({_safe_url(self.url)!r}, prefix={self.prefix!r}, node={self.node!r}, "
            f"{state}, {self._feed.watching} watched)"
        )

    @property
    def _feed_up(self) -> bool:
        """The feed's connection is up, every watched room's SUBSCRIBE confirmed."""
        return self._feed.up

    # Lifetime -----------------------------------------------------------------------------

    async def start(self, sink: BackendSink) -> None:
        """Connect, load the scripts, register this process and start the background tasks.

        Raises :class:`ConnectionError` naming the URL if Redis does not
        answer within ``connect_timeout`` seconds.

        Example::

            await backend.start(sink)
        """
        if self._started and not self._closed:
            raise RuntimeError("this RedisBackend was already started")
        afresh = self._closed  # started again after close() (a server restarted): afresh
        if afresh:
            self._closed = self._started = False
            self._presence.members.clear()
        self._feed.begin(afresh=afresh)
        self._started = True
        self._store.connect()
        self._publisher.begin()
        try:
            await asyncio.wait_for(self._first_contact(sink), self.connect_timeout)
        except (OSError, TimeoutError, self._redis.exceptions.RedisError) as error:
            await self._abandon()
            raise ConnectionError(
                f"wsnb.RedisBackend: cannot reach Redis at {_safe_url(self.url)}: "
                f"{error or type(error).__name__}"
            ) from error
        except BaseException:
            await self._abandon()
            raise
        self._spawn("publisher", self._publisher.run())
        self._spawn("heartbeat", self._presence.heartbeat())
        self._spawn("sweeper", self._presence.sweeper())
        self._spawn("watchdog", self._feed.watchdog(self._presence.interval))

    async def _first_contact(self, sink: BackendSink) -> None:
        await self._store.client.ping()
        await self._store.load()
        await self._presence.register()
        self._spawn("feed", self._feed.run(sink))
        await self._feed.until_up()

    async def _abandon(self) -> None:
        """start() failed: undo it, so that start() may be tried again."""
        for name in list(self._tasks):
            await self._cancel(name)
        await self._feed.drop_connection()
        await self._store.close()
        self._feed.down()
        self._started = False

    def _spawn(self, name: str, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(
            work, name=f"wsnb.RedisBackend {name} {self.node}"
        )
        task.add_done_callback(self._ended)
        self._tasks[name] = task

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A background task ended: by close(), or by a bug, which must not go unseen."""
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._report(error, f"its task {task.get_name()!r} died")

    async def close(self) -> None:
        """Stop: this process's members leave every room (others are told), then disconnect.

        Idempotent; :meth:`start` may follow (a server stopped and served again).
        Raises the first background error (:attr:`error`), once.
        If Redis is unreachable the members are not removed now: the other
        processes' sweepers remove them once the heartbeat expires.

        Example::

            await backend.close()
        """
        if not self._closed:
            self._closed = True
            if self._started:
                for name in ("heartbeat", "sweeper", "watchdog"):
                    await self._cancel(name)
                with contextlib.suppress(OSError, TimeoutError, self._redis.exceptions.RedisError):
                    await asyncio.wait_for(self._presence.unregister(), self.connect_timeout)
                for name in ("publisher", "feed"):
                    await self._cancel(name)
                self._publisher.close()
                await self._feed.close()
                await self._store.close()
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error

    async def _cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is None:
            return
        # On Python 3.11 a cancel that lands just as a redis-py reply arrives can be lost
        # (asyncio.wait_for's race, cpython gh-86296): the task goes on looping, and
        # close() would wait for ever. Cancel again until it has ended.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)  # its own error was reported by _ended

    def _check_open(self) -> None:
        if not self._started:
            raise RuntimeError("start() the RedisBackend first")
        if self._closed:
            raise RuntimeError("the RedisBackend was closed")

    def _report(self, error: BaseException, what: str) -> None:
        """Keep a background error (the first one) and tell the loop's exception handler."""
        if self.error is None:
            self.error = error
        asyncio.get_running_loop().call_exception_handler(
            {"message": f"wsnb.RedisBackend {self.node}: {what}", "exception": error}
        )

    async def _eval_many(self, name: str, calls: Sequence[_Call]) -> list[Any]:
        """Run ``calls`` of one script in one pipeline; a result or an exception for each."""
        return await self._store.run_many(name, calls)

    # Messages -----------------------------------------------------------------------------

    async def publish(self, room: str, data: str) -> tuple[str, int]:
        """Number ``data`` as ``room``'s next message, keep it and send it; its ``(epoch, seq)``.

        Publishes made while another round trip is in flight go together in
        the next pipeline, in call order.

        Example::

            epoch, seq = await backend.publish("lobby", '{"from": "ada", "body": "hi"}')
        """
        self._check_open()
        epoch, seq, _ = await self._publisher.publish(room, data, None)
        return epoch, seq

    async def publish_once(
        self, room: str, data: str, idempotency_key: str
    ) -> tuple[str, int, bool]:
        """:meth:`publish`, unless a publish with ``idempotency_key`` in ``room`` was
        numbered in the last ``KEY_WINDOW`` seconds (120): then its ``(epoch, seq)``,
        and ``True`` (a duplicate, not published again).

        Example::

            epoch, seq, duplicate = await backend.publish_once("lobby", data, "ada-1")
        """
        self._check_open()
        return await self._publisher.publish(room, data, idempotency_key)

    async def since(self, room: str, seq: int) -> RoomRange:
        """``room``'s position and every kept message after ``seq`` (to fill a gap).

        A room Redis does not know (any more) gets its epoch now, so that
        every process agrees on it.

        Example::

            found = await backend.since("lobby", 40)
            found.epoch, found.last_seq, found.first_seq, found.messages  # [(41, '{...}'), ...]
        """
        self._check_open()
        keys = self._keys.of(room, "meta", "hist")
        return _room_range(await self._store.run("since", keys, (new_epoch(), max(seq, 0) + 1)))

    async def forget(self, room: str) -> str:
        """Lose ``room``'s history and start a new epoch (seq restarts at 1); return it.

        Example::

            epoch = await backend.forget("lobby")
        """
        self._check_open()
        epoch = new_epoch()
        await self._store.run("forget", self._keys.of(room, "meta", "hist"), (epoch,))
        return epoch

    # Watching -----------------------------------------------------------------------------

    async def watch(self, room: str) -> RoomSnapshot:
        """Subscribe to ``room``, then read its state: last messages and every member.

        The sink hears of the room's events only after this returns; those
        that arrived meanwhile come then, even if the snapshot has them too
        (same seq). Watching a watched room reads a new snapshot; one
        :meth:`unwatch` ends it however many watch() calls there were.

        Example::

            snapshot = await backend.watch("lobby")
            snapshot.last_seq, snapshot.messages, snapshot.members
        """
        self._check_open()
        return await self._feed.watch(room, functools.partial(self._snapshot, room))

    async def _snapshot(self, room: str) -> RoomSnapshot:
        keys = self._keys.of(room, "meta", "hist", "members")
        return _room_snapshot(
            await self._store.run("snapshot", keys, (new_epoch(), self.history_size))
        )

    async def unwatch(self, room: str) -> None:
        """Stop receiving ``room``'s events (unsubscribe); nothing if it is not watched.

        Example::

            await backend.unwatch("lobby")
        """
        self._feed.unwatch(room)

    # Presence -----------------------------------------------------------------------------

    async def join(self, room: str, name: str) -> int:
        """Add a member of this process to ``room``; its id (the room's join counter).

        Example::

            member_id = await backend.join("lobby", "ada")
        """
        self._check_open()
        return await self._presence.join(room, name)

    async def leave(self, room: str, member_id: int) -> None:
        """Take this process's member ``member_id`` out of ``room`` (others are told).

        Example::

            await backend.leave("lobby", member_id)
        """
        self._check_open()
        await self._presence.leave(room, member_id)

    async def rename(self, room: str, member_id: int, name: str) -> None:
        """This process's member ``member_id`` of ``room`` is now called ``name``.

        Example::

            await backend.rename("lobby", member_id, "ada lovelace")
        """
        self._check_open()
        await self._presence.rename(room, member_id, name)

    async def _beat(self) -> None:
        """Refresh the heartbeat; if it had expired, announce this process's members again."""
        await self._presence.beat()

    def _stop_heartbeat(self) -> None:
        """For tests: stop refreshing the heartbeat, as a process that hangs or was killed."""
        task = self._tasks.pop("heartbeat", None)
        if task is not None:
            task.cancel()
