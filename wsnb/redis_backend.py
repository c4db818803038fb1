"""Rooms shared by several server processes through a Redis-protocol server.

:class:`RedisBackend` is the :class:`~wsnb.backend.RoomsBackend` of
:class:`wsnb.Rooms` on Redis (or Valkey), with redis-py's asyncio client
(``pip install 'wsnb[redis]'``; hiredis parses replies when installed). redis-py
is imported when a backend is made, never by ``import wsnb``.

Keys, for prefix ``p`` (default ``wsnb``) and room ``r`` (inside ``{}``, a
Cluster hash tag, so that one room's keys share a slot)::

    p:{r}:meta          hash    e: epoch (8 hex digits), s: last seq, j: join counter
    p:{r}:hist          stream  entry id <seq>-0, field d: the message's data (JSON text),
                                trimmed to exactly history_size entries
    p:{r}:ch            channel "m<epoch>:<seq>:<data>" for a message,
                                "p<event>\\t<node>\\t<id>\\t<name>" for presence
    p:{r}:members       hash    member id -> "<node>\\t<name>", every process's members
    p:{r}:once:<key>    string  "<epoch>:<seq>" of a publish with that idempotency key,
                                for KEY_WINDOW (120 s)
    p:node:<n>          string  process n's heartbeat, expires after node_ttl
    p:node:<n>:rooms    hash    room -> how many of n's members are in it
    p:nodes             set     the processes to watch for missed heartbeats

What it guarantees:

* **One numbering.** Every write is one Lua script, atomic: a room's
  ``(epoch, seq)`` come from its meta hash, the same for every process, and a
  message is kept and sent out in the script that numbers it. Each process
  sees each room's messages in seq order.
* **The epoch changes exactly when history is lost.** A room whose meta hash
  is gone (a new room, ``forget``, or a Redis that lost its data) starts a new
  epoch; an old epoch never comes back with reused seqs. With Redis's
  append-only file (``appendfsync always``, as :func:`wsnb.redis_server` runs
  it) epoch, seq and history survive a Redis restart.
* **watch() without a race.** It subscribes, waits for the confirmation, then
  reads the room: an event is in the snapshot or delivered after it (or
  both, with the same seq). The sink hears of a room only after watch()
  returned.
* **A dropped feed is said.** The pub/sub connection comes back by itself
  (0.05 s backoff doubling to 1 s), subscribes every watched room again, then
  calls the sink's ``resync()`` once: the core fills its gaps with ``since()``.
  A connection that stops answering PING for ``node_ttl / 3`` s is dropped
  too. Payloads on a room's channel not in the format above are ignored.
* **Presence of a dead process is cleaned up.** Each process refreshes its
  heartbeat every ``node_ttl / 3`` s; every process sweeps the members of
  processes whose heartbeat expired, and publishes their leaves: a killed
  process's members are seen leaving within about ``node_ttl + node_ttl / 3``
  seconds (15-20 s by default). :meth:`RedisBackend.close` makes its members
  leave at once. A process that was only paused (a laptop asleep) and finds
  its heartbeat expired announces its members again.
* **Publish is exactly once with an idempotency key.** redis-py retries a
  command whose connection broke, so a publish applied just before the break
  can be applied again; :meth:`RedisBackend.publish_once` (a client's
  ``idempotency_key``) is not: the script answers a key it saw in the last
  120 s with the seq it gave then.

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
import hashlib
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from .backend import BackendSink, RemoteMember, RoomRange, RoomSnapshot
from .core.history import new_epoch
from .core.idempotency import KEY_WINDOW

__all__ = ["RedisBackend"]

#: Feed reconnection backoff, in seconds: the first wait, doubled up to the cap.
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 1.0
#: The most publishes sent in one pipeline.
MAX_BATCH = 1000

# Lua scripts --------------------------------------------------------------------------------
# Each is loaded once (SCRIPT LOAD) and run by its SHA1; after a Redis restart
# (script cache empty) it is loaded again.

_FRESH = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('DEL', KEYS[2])
end
"""

_POSITION = """
local last = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local first = last + 1
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if oldest[1] then first = tonumber(string.match(oldest[1][1], '^%d+')) end
"""

# KEYS meta, hist, once ('' for none); ARGV fresh epoch, history_size, channel, data,
# the idempotency window in ms -> {epoch, seq, 1 if once had numbered it already}
_PUBLISH = (
    _FRESH
    + """
if KEYS[3] ~= '' then
  local done = redis.call('GET', KEYS[3])
  if done then
    local e, s = string.match(done, '^(.-):(%d+)$')
    if e == epoch then return {epoch, tonumber(s), 1} end
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 'd', ARGV[4])
if type(added) == 'table' and added.err then
  -- the stream is ahead of the meta hash (it lost writes): its history is not this epoch's
  epoch = ARGV[1]
  seq = 1
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 1)
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '1-0', 'd', ARGV[4])
end
redis.call('PUBLISH', ARGV[3], 'm' .. epoch .. ':' .. seq .. ':' .. ARGV[4])
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], epoch .. ':' .. seq, 'PX', ARGV[5]) end
return {epoch, seq, 0}
"""
)

# KEYS meta, hist; ARGV fresh epoch, first seq wanted -> {epoch, last, first, entries}
_SINCE = (
    _FRESH
    + _POSITION
    + """
return {epoch, last, first, redis.call('XRANGE', KEYS[2], ARGV[2] .. '-0', '+')}
"""
)

# KEYS meta, hist, members; ARGV fresh epoch, count
#   -> {epoch, last, first, entries newest first, members}
_SNAPSHOT = (
    _FRESH
    + _POSITION
    + """
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
return {epoch, last, first, entries, redis.call('HGETALL', KEYS[3])}
"""
)

# KEYS meta, hist; ARGV new epoch -> epoch
_FORGET = """
redis.call('HSET', KEYS[1], 'e', ARGV[1], 's', 0)
redis.call('DEL', KEYS[2])
return ARGV[1]
"""

# KEYS meta, members, node rooms; ARGV node, room, channel, name -> id
_JOIN = """
local id = redis.call('HINCRBY', KEYS[1], 'j', 1)
redis.call('HSET', KEYS[2], id, ARGV[1] .. '\\t' .. ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('PUBLISH', ARGV[3], 'pjoin\\t' .. ARGV[1] .. '\\t' .. id .. '\\t' .. ARGV[4])
return id
"""

# KEYS members, node rooms; ARGV node, room, channel, id -> 1 if it was there
_LEAVE = """
local value = redis.call('HGET', KEYS[1], ARGV[4])
local mine = ARGV[1] .. '\\t'
if not value or string.sub(value, 1, #mine) ~= mine then return 0 end
redis.call('HDEL', KEYS[1], ARGV[4])
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
local name = string.sub(value, #mine + 1)
redis.call('PUBLISH', ARGV[3], 'pleave\\t' .. ARGV[1] .. '\\t' .. ARGV[4] .. '\\t' .. name)
return 1
"""

# KEYS members; ARGV node, channel, id, name -> 1 if it was there
_RENAME = """
local value = redis.call('HGET', KEYS[1], ARGV[3])
local mine = ARGV[1] .. '\\t'
if not value or string.sub(value, 1, #mine) ~= mine then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], mine .. ARGV[4])
redis.call('PUBLISH', ARGV[2], 'prename\\t' .. ARGV[1] .. '\\t' .. ARGV[3] .. '\\t' .. ARGV[4])
return 1
"""

# Every member of one process leaves one room (close, or the sweeper for a dead process).
# KEYS members, node heartbeat, node rooms; ARGV node, room, channel,
# '1' to do nothing if the heartbeat is back -> how many left, -1 if it is back
_EVICT = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local all = redis.call('HGETALL', KEYS[1])
local mine = ARGV[1] .. '\\t'
local gone = 0
for i = 1, #all, 2 do
  local value = all[i + 1]
  if string.sub(value, 1, #mine) == mine then
    redis.call('HDEL', KEYS[1], all[i])
    local event = 'pleave\\t' .. ARGV[1] .. '\\t' .. all[i] .. '\\t' .. string.sub(value, #mine + 1)
    redis.call('PUBLISH', ARGV[3], event)
    gone = gone + 1
  end
end
redis.call('HDEL', KEYS[3], ARGV[2])
return gone
"""

# The sweep of a dead process is over. KEYS node heartbeat, node rooms, nodes; ARGV node
_FORGET_NODE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""

# This process's members of one room, announced again (it was taken for dead, or Redis
# lost its data). KEYS meta, members, node rooms; ARGV node, room, channel, then id, name
# pairs -> how many were announced
_RESTORE = """
local mine = ARGV[1] .. '\\t'
local announced = 0
local top = 0
local count = 0
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local value = mine .. ARGV[i + 1]
  local now = redis.call('HGET', KEYS[2], id)
  if tonumber(id) > top then top = tonumber(id) end
  if not now or string.sub(now, 1, #mine) == mine then
    count = count + 1
    if now ~= value then
      redis.call('HSET', KEYS[2], id, value)
      redis.call('PUBLISH', ARGV[3], 'pjoin\\t' .. ARGV[1] .. '\\t' .. id .. '\\t' .. ARGV[i + 1])
      announced = announced + 1
    end
  end
end
if count > 0 then redis.call('HSET', KEYS[3], ARGV[2], count) end
if tonumber(redis.call('HGET', KEYS[1], 'j') or '0') < top then
  redis.call('HSET', KEYS[1], 'j', top)
end
return announced
"""


class _Script(NamedTuple):
    text: str
    sha: str


def _script(text: str) -> _Script:
    return _Script(text, hashlib.sha1(text.encode()).hexdigest())


_SCRIPTS = {
    name: _script(text)
    for name, text in {
        "publish": _PUBLISH,
        "since": _SINCE,
        "snapshot": _SNAPSHOT,
        "forget": _FORGET,
        "join": _JOIN,
        "leave": _LEAVE,
        "rename": _RENAME,
        "evict": _EVICT,
        "forget_node": _FORGET_NODE,
        "restore": _RESTORE,
    }.items()
}


# Helpers ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A reply's string, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _seq_of(entry_id: Any) -> int:
    return int(_text(entry_id).partition("-")[0])


def _entries(raw: Iterable[Any]) -> list[tuple[int, str]]:
    """XRANGE entries ``[id, [field, value]]`` as ``(seq, data)``."""
    return [(_seq_of(entry_id), _text(fields[1])) for entry_id, fields in raw]


def _safe_url(url: str) -> str:
    """``url`` without its password, for error messages.

    >>> _safe_url("redis://:secret@db:6379/0")
    'redis://***@db:6379/0'
    >>> _safe_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    netloc = "***@" + parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


def _import_redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.exceptions
    except ImportError as error:
        raise ImportError("wsnb.RedisBackend needs redis-py: pip install 'wsnb[redis]'") from error
    return redis


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


@dataclass(eq=False)
class _Publish:
    room: str
    data: str
    once: str | None
    future: asyncio.Future[tuple[str, int, bool]] = field(repr=False)


# The backend --------------------------------------------------------------------------------


class RedisBackend:
    """Rooms shared by several ``wsnb.Rooms`` processes through Redis (or Valkey).

    ``url`` is redis-py's (``redis://host:port/db``, ``rediss://`` for TLS,
    ``unix://``); ``prefix`` starts every key, so that several apps share one
    server; ``history_size`` messages are kept per room; a process whose
    heartbeat is ``node_ttl`` seconds old is taken for dead. ``client`` is an
    existing ``redis.asyncio.Redis`` to use instead of one made from ``url``
    (it is not closed by :meth:`close`). :meth:`start` fails within
    ``connect_timeout`` seconds if Redis is unreachable. The module's docstring
    lists the keys and what is guaranteed.

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
        self._given_client = client
        self._client: Any = client
        self._sink: BackendSink | None = None
        self._started = False
        self._closed = False
        self._raised = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The feed: one pub/sub connection, read by one task.
        self._feed: Any = None
        self._feed_generation = 0
        self._feed_up = False
        self._feed_ready: asyncio.Event | None = None
        self._acks: deque[_Ack] = deque()
        self._ping_waiting = False
        self._feed_failing = False
        self._watched: dict[str, _Watched] = {}
        self._channels: dict[str, _Watched] = {}
        # Publishes waiting for the next pipeline.
        self._queue: deque[_Publish] = deque()
        self._queued: asyncio.Event | None = None
        # This process's members, by room: id -> name (to announce them again if needed).
        self._members: dict[str, dict[int, str]] = {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._started else "not started"
        return (
            f"RedisBackend({_safe_url(self.url)!r}, prefix={self.prefix!r}, node={self.node!r}, "
            f"{state}, {len(self._watched)} watched)"
        )

    # Keys ---------------------------------------------------------------------------------

    def _key(self, room: str, what: str) -> str:
        return f"{self.prefix}:{{{room}}}:{what}"

    def _node_key(self, node: str, what: str = "") -> str:
        return f"{self.prefix}:node:{node}{what}"

    @property
    def _nodes_key(self) -> str:
        return f"{self.prefix}:nodes"

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
        if self._closed:  # started again after close() (a server restarted): afresh
            self._closed = self._started = False
            self._watched.clear()
            self._channels.clear()
            self._members.clear()
            self._acks.clear()
            self._client = self._given_client
        self._started = True
        self._sink = sink
        redis = self._redis
        if self._client is None:
            self._client = redis.asyncio.Redis.from_url(
                self.url,
                decode_responses=True,
                socket_connect_timeout=self.connect_timeout,
                socket_timeout=max(10.0, self.connect_timeout),
                retry=redis.asyncio.retry.Retry(
                    redis.backoff.ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_FIRST), 3
                ),
            )
        self._feed_ready = asyncio.Event()
        self._queued = asyncio.Event()
        try:
            await asyncio.wait_for(self._first_contact(), self.connect_timeout)
        except (OSError, TimeoutError, redis.exceptions.RedisError) as error:
            await self._abandon()
            raise ConnectionError(
                f"wsnb.RedisBackend: cannot reach Redis at {_safe_url(self.url)}: "
                f"{error or type(error).__name__}"
            ) from error
        except BaseException:
            await self._abandon()
            raise
        self._spawn("publisher", self._publish_loop())
        self._spawn("heartbeat", self._heartbeat_loop())
        self._spawn("sweeper", self._sweep_loop())
        self._spawn("watchdog", self._watchdog_loop())

    async def _first_contact(self) -> None:
        await self._client.ping()
        async with self._client.pipeline(transaction=False) as pipe:
            for script in _SCRIPTS.values():
                pipe.script_load(script.text)
            await pipe.execute()
        await self._register()
        assert self._feed_ready is not None
        self._spawn("feed", self._feed_loop())
        await self._feed_ready.wait()

    async def _abandon(self) -> None:
        """start() failed: undo it, so that start() may be tried again."""
        for name in list(self._tasks):
            await self._cancel(name)
        await self._drop_feed_connection()
        if self._given_client is None and self._client is not None:
            await self._client.aclose()
            self._client = None
        self._feed_down()
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
                    await asyncio.wait_for(self._unregister(), self.connect_timeout)
                for name in ("publisher", "feed"):
                    await self._cancel(name)
                for publish in self._queue:
                    if not publish.future.done():
                        publish.future.set_exception(RuntimeError("the RedisBackend was closed"))
                self._queue.clear()
                self._feed_down()
                assert self._feed_ready is not None
                self._feed_ready.set()  # a watch() waiting for the feed stops waiting
                await self._drop_feed_connection()
                if self._given_client is None and self._client is not None:
                    await self._client.aclose()
                self._client = self._given_client
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error

    async def _cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # its own error, if any, was reported by _ended

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

    # Scripts ------------------------------------------------------------------------------

    async def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = _SCRIPTS[name]
        try:
            return await self._client.evalsha(script.sha, len(keys), *keys, *args)
        except self._redis.exceptions.NoScriptError:
            await self._client.script_load(script.text)  # Redis restarted: cache empty
            return await self._client.evalsha(script.sha, len(keys), *keys, *args)

    async def _eval_many(
        self, name: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        """Run ``calls`` of one script in one pipeline; a result or an exception for each."""
        script = _SCRIPTS[name]
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            async with self._client.pipeline(transaction=False) as pipe:
                for index in todo:
                    keys, args = calls[index]
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                replies = await pipe.execute(raise_on_error=False)
            missing = []
            for index, reply in zip(todo, replies, strict=True):
                if isinstance(reply, self._redis.exceptions.NoScriptError) and attempt == 0:
                    missing.append(index)
                else:
                    results[index] = reply
            if not missing:
                break
            await self._client.script_load(script.text)  # Redis restarted: cache empty
            todo = missing
        return results

    # Messages -----------------------------------------------------------------------------

    async def publish(self, room: str, data: str) -> tuple[str, int]:
        """Number ``data`` as ``room``'s next message, keep it and send it; its ``(epoch, seq)``.

        Publishes made while another round trip is in flight go together in
        the next pipeline, in call order.

        Example::

            epoch, seq = await backend.publish("lobby", '{"from": "ada", "body": "hi"}')
        """
        epoch, seq, _ = await self._publish(room, data, None)
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
        return await self._publish(room, data, idempotency_key)

    async def _publish(self, room: str, data: str, once: str | None) -> tuple[str, int, bool]:
        self._check_open()
        assert self._queued is not None
        future: asyncio.Future[tuple[str, int, bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Publish(room, data, once, future))
        self._queued.set()
        return await future

    async def _publish_loop(self) -> None:
        assert self._queued is not None
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
                await self._publish_batch(batch)

    async def _publish_batch(self, batch: list[_Publish]) -> None:
        window = int(KEY_WINDOW * 1000)
        calls = [
            (
                (
                    self._key(p.room, "meta"),
                    self._key(p.room, "hist"),
                    "" if p.once is None else self._key(p.room, f"once:{p.once}"),
                ),
                (new_epoch(), self.history_size, self._key(p.room, "ch"), p.data, window),
            )
            for p in batch
        ]
        try:
            results = await self._eval_many("publish", calls)
        except Exception as error:  # the connection, most likely: every caller hears of it
            results = [error] * len(batch)
        except BaseException:  # closed meanwhile
            for publish in batch:
                if not publish.future.done():
                    publish.future.set_exception(RuntimeError("the RedisBackend was closed"))
            raise
        for publish, result in zip(batch, results, strict=True):
            if publish.future.done():  # its caller was cancelled
                continue
            try:
                if isinstance(result, BaseException):
                    raise result
                publish.future.set_result((_text(result[0]), int(result[1]), bool(result[2])))
            except Exception as error:
                publish.future.set_exception(error)

    async def since(self, room: str, seq: int) -> RoomRange:
        """``room``'s position and every kept message after ``seq`` (to fill a gap).

        A room Redis does not know (any more) gets its epoch now, so that
        every process agrees on it.

        Example::

            found = await backend.since("lobby", 40)
            found.epoch, found.last_seq, found.first_seq, found.messages  # [(41, '{...}'), ...]
        """
        self._check_open()
        reply = await self._eval(
            "since",
            (self._key(room, "meta"), self._key(room, "hist")),
            (new_epoch(), max(seq, 0) + 1),
        )
        return RoomRange(_text(reply[0]), int(reply[1]), int(reply[2]), _entries(reply[3]))

    async def forget(self, room: str) -> str:
        """Lose ``room``'s history and start a new epoch (seq restarts at 1); return it.

        Example::

            epoch = await backend.forget("lobby")
        """
        self._check_open()
        epoch = new_epoch()
        await self._eval("forget", (self._key(room, "meta"), self._key(room, "hist")), (epoch,))
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
        watched = self._watched.get(room)
        if watched is None:
            watched = _Watched(room, self._key(room, "ch"))
            self._watched[room] = watched
            self._channels[watched.channel] = watched
        watched.running += 1
        if watched.held is None:
            watched.held = []
        try:
            while True:
                await self._subscribed(watched)
                generation = self._feed_generation
                snapshot = await self._snapshot(room)
                if self._feed_up and generation == self._feed_generation:
                    watched.ever = True
                    return snapshot
                # The feed dropped while reading: read again once it is back.
        except BaseException:
            if not watched.ever and watched.running == 1 and self._watched.get(room) is watched:
                with contextlib.suppress(Exception):
                    await self.unwatch(room)
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
        while not (self._feed_up and watched.confirmed == self._feed_generation):
            self._check_open()
            if not self._feed_up:
                await self._wait_feed()
                continue
            if watched.waiter is None or watched.waiter.done():
                watched.waiter = self._subscribe([watched])
            await asyncio.wait([watched.waiter])

    async def _wait_feed(self) -> None:
        assert self._feed_ready is not None
        try:
            await asyncio.wait_for(self._feed_ready.wait(), self.connect_timeout)
        except TimeoutError:
            raise ConnectionError(
                f"wsnb.RedisBackend: Redis at {_safe_url(self.url)} unreachable "
                f"for {self.connect_timeout} s (its pub/sub connection is down)"
            ) from None

    async def _snapshot(self, room: str) -> RoomSnapshot:
        reply = await self._eval(
            "snapshot",
            (self._key(room, "meta"), self._key(room, "hist"), self._key(room, "members")),
            (new_epoch(), self.history_size),
        )
        messages = _entries(reply[3])
        messages.reverse()
        raw = reply[4]
        members = []
        for index in range(0, len(raw), 2):
            node, _, name = _text(raw[index + 1]).partition("\t")
            members.append(RemoteMember(int(raw[index]), name, node))
        members.sort(key=lambda member: member.id)
        return RoomSnapshot(_text(reply[0]), int(reply[1]), int(reply[2]), messages, members)

    async def unwatch(self, room: str) -> None:
        """Stop receiving ``room``'s events (unsubscribe); nothing if it is not watched.

        Example::

            await backend.unwatch("lobby")
        """
        watched = self._watched.pop(room, None)
        if watched is None:
            return
        del self._channels[watched.channel]
        if self._feed_up and _write(self._feed, "UNSUBSCRIBE", watched.channel):
            self._acks.append(_Ack("unsubscribe", None, None))
        # (A feed that is down subscribes again without it.)

    # The feed -----------------------------------------------------------------------------

    def _subscribe(self, rooms: list[_Watched]) -> asyncio.Future[None]:
        """Send SUBSCRIBE for ``rooms`` on the feed; the future is done when confirmed (or the
        feed dropped)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        generation = self._feed_generation
        conn = self._feed
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

    def _new_feed_connection(self) -> Any:
        pool = self._client.connection_pool
        options = dict(pool.connection_kwargs)
        options.update(
            socket_timeout=None,  # it waits for messages as long as it takes
            health_check_interval=0,  # no PING sent behind the reader's back
            retry=self._redis.asyncio.retry.Retry(self._redis.backoff.NoBackoff(), 0),
            protocol=2,
            client_name=f"wsnb-feed-{self.node}",
        )
        return pool.connection_class(**options)

    async def _drop_feed_connection(self) -> None:
        conn, self._feed = self._feed, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    def _mark_down(self) -> None:
        """The feed connection is broken: no watch() trusts it any more."""
        self._feed_generation += 1
        self._feed_up = False
        if self._feed_ready is not None:
            self._feed_ready.clear()

    def _feed_down(self) -> None:
        """The feed connection is gone: whatever waited for its replies stops waiting."""
        self._mark_down()
        self._ping_waiting = False
        acks, self._acks = self._acks, deque()
        for ack in acks:
            if ack.waiter is not None and not ack.waiter.done():
                ack.waiter.set_result(None)

    async def _feed_loop(self) -> None:
        redis = self._redis
        broken = (
            OSError,
            TimeoutError,
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
        )
        delay = BACKOFF_FIRST
        first = True
        while True:
            conn = self._new_feed_connection()
            self._feed = conn
            try:
                await conn.connect()
                self._feed_generation += 1
                self._resubscribe(conn, first)
                first = False
                delay = BACKOFF_FIRST
                while True:
                    self._on_reply(await conn.read_response())
            except asyncio.CancelledError:
                raise
            except broken:
                pass
            except Exception as error:  # an error reply, a reply out of order: start again
                if not self._feed_failing:  # once, until it works again
                    self._report(error, "its pub/sub connection failed")
                self._feed_failing = True
            self._feed_down()
            await self._drop_feed_connection()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_CAP)

    def _resubscribe(self, conn: Any, first: bool) -> None:
        """Subscribe every watched room on a new feed connection, then PING: its PONG says
        all are confirmed (the feed is up; after a drop, the sink is told to resync)."""
        self._subscribe(list(self._watched.values()))

        def up() -> None:
            self._feed_up = True
            self._feed_failing = False
            assert self._feed_ready is not None
            self._feed_ready.set()
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
                if node == self.node:
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

    def _ping_feed(self) -> None:
        """Ask the feed for a PONG; if the last one never came, the connection is wedged:
        drop it (the feed loop reconnects)."""
        conn = self._feed
        if not self._feed_up or conn is None or not conn.is_connected:
            return
        if self._ping_waiting:
            # Closing the transport ends the reader's wait with an error.
            writer = getattr(conn, "_writer", None)
            if writer is not None:
                writer.close()
            return

        def answered() -> None:
            self._ping_waiting = False

        if _write(conn, "PING"):
            self._ping_waiting = True
            self._acks.append(_Ack("pong", answered, None))

    # Presence -----------------------------------------------------------------------------

    async def join(self, room: str, name: str) -> int:
        """Add a member of this process to ``room``; its id (the room's join counter).

        Example::

            member_id = await backend.join("lobby", "ada")
        """
        self._check_open()
        member_id = int(
            await self._eval(
                "join",
                (
                    self._key(room, "meta"),
                    self._key(room, "members"),
                    self._node_key(self.node, ":rooms"),
                ),
                (self.node, room, self._key(room, "ch"), name),
            )
        )
        self._members.setdefault(room, {})[member_id] = name
        return member_id

    async def leave(self, room: str, member_id: int) -> None:
        """Take this process's member ``member_id`` out of ``room`` (others are told).

        Example::

            await backend.leave("lobby", member_id)
        """
        self._check_open()
        members = self._members.get(room)
        if members is not None:
            members.pop(member_id, None)
            if not members:
                del self._members[room]
        await self._eval(
            "leave",
            (self._key(room, "members"), self._node_key(self.node, ":rooms")),
            (self.node, room, self._key(room, "ch"), member_id),
        )

    async def rename(self, room: str, member_id: int, name: str) -> None:
        """This process's member ``member_id`` of ``room`` is now called ``name``.

        Example::

            await backend.rename("lobby", member_id, "ada lovelace")
        """
        self._check_open()
        members = self._members.get(room)
        if members is not None and member_id in members:
            members[member_id] = name
        await self._eval(
            "rename",
            (self._key(room, "members"),),
            (self.node, self._key(room, "ch"), member_id, name),
        )

    async def _evict(self, node: str, room: str, *, unless_alive: bool) -> int:
        return int(
            await self._eval(
                "evict",
                (
                    self._key(room, "members"),
                    self._node_key(node),
                    self._node_key(node, ":rooms"),
                ),
                (node, room, self._key(room, "ch"), "1" if unless_alive else "0"),
            )
        )

    # Heartbeat and sweeper ----------------------------------------------------------------

    @property
    def _interval(self) -> float:
        return self.node_ttl / 3

    @property
    def _ttl_ms(self) -> int:
        return max(1, round(self.node_ttl * 1000))

    async def _register(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._node_key(self.node), 1, px=self._ttl_ms)
            pipe.sadd(self._nodes_key, self.node)
            await pipe.execute()

    async def _unregister(self) -> None:
        self._members.clear()
        rooms = await self._client.hkeys(self._node_key(self.node, ":rooms"))
        for room in rooms:
            await self._evict(self.node, _text(room), unless_alive=False)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.delete(self._node_key(self.node), self._node_key(self.node, ":rooms"))
            pipe.srem(self._nodes_key, self.node)
            await pipe.execute()

    async def _beat(self) -> None:
        """Refresh the heartbeat; if it had expired, announce this process's members again."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._node_key(self.node), 1, px=self._ttl_ms, xx=True)
            pipe.sadd(self._nodes_key, self.node)
            refreshed, _ = await pipe.execute()
        if refreshed:
            return
        await self._register()  # taken for dead (or Redis lost its data): here again
        for room, members in list(self._members.items()):
            pairs: list[Any] = []
            for member_id, name in members.items():
                pairs += [member_id, name]
            await self._eval(
                "restore",
                (
                    self._key(room, "meta"),
                    self._key(room, "members"),
                    self._node_key(self.node, ":rooms"),
                ),
                (self.node, room, self._key(room, "ch"), *pairs),
            )

    async def _heartbeat_loop(self) -> None:
        await self._every(self._beat, "its heartbeat failed")

    async def _sweep_loop(self) -> None:
        await self._every(self._sweep, "its sweep of dead processes failed")

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._ping_feed()

    async def _every(self, work: Callable[[], Any], what: str) -> None:
        redis = self._redis
        away = (
            OSError,
            TimeoutError,
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
        )
        while True:
            await asyncio.sleep(self._interval)
            try:
                await work()
            except away:
                pass  # Redis is away: the next round tries again
            except Exception as error:
                self._report(error, what)

    def _stop_heartbeat(self) -> None:
        """For tests: stop refreshing the heartbeat, as a process that hangs or was killed."""
        task = self._tasks.pop("heartbeat", None)
        if task is not None:
            task.cancel()

    async def _sweep(self) -> None:
        """Make the members of every process whose heartbeat expired leave their rooms."""
        nodes = [_text(node) for node in await self._client.smembers(self._nodes_key)]
        others = [node for node in nodes if node != self.node]
        if not others:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.exists(self._node_key(node))
            alive = await pipe.execute()
        for node, beating in zip(others, alive, strict=True):
            if not beating:
                await self._sweep_node(node)

    async def _sweep_node(self, node: str) -> None:
        lock = f"{self.prefix}:sweep:{node}"
        if not await self._client.set(lock, self.node, nx=True, px=self._ttl_ms):
            return  # another process sweeps it
        try:
            for room in await self._client.hkeys(self._node_key(node, ":rooms")):
                if await self._evict(node, _text(room), unless_alive=True) < 0:
                    return  # its heartbeat is back
            await self._eval(
                "forget_node",
                (self._node_key(node), self._node_key(node, ":rooms"), self._nodes_key),
                (node,),
            )
        finally:
            await self._client.delete(lock)


def _write(conn: Any, *args: Any) -> bool:
    """Write a command on the feed connection now, without waiting (so that the replies
    expected stay in the order of the commands); ``False`` if it is not connected.

    Not redis-py's ``send_command``: it would reconnect a dropped connection behind the
    feed loop's back, and it may wait before writing.
    """
    writer = getattr(conn, "_writer", None) if conn is not None else None
    if writer is None or writer.is_closing() or not conn.is_connected:
        return False
    writer.writelines(conn.pack_command(*args))
    return True
