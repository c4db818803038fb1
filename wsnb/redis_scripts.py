"""The Lua scripts of shared rooms in Redis, how they are run, and what they answer.

Every write is one script, atomic, on the keys of :mod:`wsnb.redis_keys`:

* **One numbering.** A room's ``(epoch, seq)`` come from its meta hash, the
  same for every process, and a message is kept and sent out in the script
  that numbers it. Each process sees each room's messages in seq order.
* **The epoch changes exactly when history is lost.** A room whose meta hash
  is gone (a new room, ``forget``, or a Redis that lost its data) starts a new
  epoch; an old epoch never comes back with reused seqs. With Redis's
  append-only file (``appendfsync always``, as :func:`wsnb.redis_server` runs
  it) epoch, seq and history survive a Redis restart.
* **Publish is exactly once with an idempotency key.** redis-py retries a
  command whose connection broke, so a publish applied just before the break
  can be applied again; a publish with an idempotency key is not: the script
  answers a key it saw in the last 120 s with the seq it gave then.

:class:`RedisStore` holds the client they run on. Each script is loaded once
(SCRIPT LOAD) and run by its SHA1; after a Redis restart (script cache empty)
it is loaded again. Some touch keys of a room and of a process together: one
Redis server, not Redis Cluster.

Example::

    store = RedisStore(_import_redis(), url, connect_timeout=5.0, given=None)
    store.connect()                       # the client, made from the URL
    await store.load()
    reply = await store.run("since", keys.of("lobby", "meta", "hist"), (new_epoch(), 1))
    _room_range(reply)                    # RoomRange(epoch, last_seq, first_seq, messages)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from .backend import RemoteMember, RoomRange, RoomSnapshot
from .redis_client import _away, _client_from_url, _text

__all__ = ["RedisStore"]

#: One call of a script: its keys, and its arguments.
_Call = tuple[Sequence[str], Sequence[Any]]

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


class RedisStore:
    """The backend's Redis: its client, and the scripts run on it.

    ``redis`` is the redis-py package; ``given`` a client of the caller's (it
    is never closed here); without one, :meth:`connect` makes one from ``url``
    and :meth:`close` closes it. ``away`` holds what a command raises when
    Redis is away (the next try may work).
    """

    def __init__(self, redis: Any, url: str, *, connect_timeout: float, given: Any) -> None:
        self.redis = redis
        self.url = url
        self.connect_timeout = connect_timeout
        self.client: Any = given
        self._given = given
        self._no_script: type[Exception] = redis.exceptions.NoScriptError
        self.away = _away(redis)

    def connect(self) -> None:
        """Make the client from the URL, unless there is one."""
        if self.client is None:
            self.client = _client_from_url(
                self.redis, self.url, connect_timeout=self.connect_timeout
            )

    async def close(self) -> None:
        """Close the client made from the URL; the given one, if any, is the client again."""
        if self._given is None and self.client is not None:
            await self.client.aclose()
        self.client = self._given

    async def load(self) -> None:
        """Load every script, in one pipeline."""
        async with self.client.pipeline(transaction=False) as pipe:
            for script in _SCRIPTS.values():
                pipe.script_load(script.text)
            await pipe.execute()

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = _SCRIPTS[name]
        try:
            return await self.client.evalsha(script.sha, len(keys), *keys, *args)
        except self._no_script:
            await self.client.script_load(script.text)  # Redis restarted: cache empty
            return await self.client.evalsha(script.sha, len(keys), *keys, *args)

    async def run_many(self, name: str, calls: Sequence[_Call]) -> list[Any]:
        """Run ``calls`` of one script in one pipeline; a result or an exception for each."""
        script = _SCRIPTS[name]
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            async with self.client.pipeline(transaction=False) as pipe:
                for index in todo:
                    keys, args = calls[index]
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                replies = await pipe.execute(raise_on_error=False)
            missing = []
            for index, reply in zip(todo, replies, strict=True):
                if isinstance(reply, self._no_script) and attempt == 0:
                    missing.append(index)
                else:
                    results[index] = reply
            if not missing:
                break
            await self.client.script_load(script.text)  # Redis restarted: cache empty
            todo = missing
        return results


# What the scripts answer --------------------------------------------------------------------


def _seq_of(entry_id: Any) -> int:
    return int(_text(entry_id).partition("-")[0])


def _entries(raw: Iterable[Any]) -> list[tuple[int, str]]:
    """XRANGE entries ``[id, [field, value]]`` as ``(seq, data)``."""
    return [(_seq_of(entry_id), _text(fields[1])) for entry_id, fields in raw]


def _room_range(reply: Any) -> RoomRange:
    """The since script's reply: ``{epoch, last, first, entries}``."""
    return RoomRange(_text(reply[0]), int(reply[1]), int(reply[2]), _entries(reply[3]))


def _room_snapshot(reply: Any) -> RoomSnapshot:
    """The snapshot script's reply: ``{epoch, last, first, entries newest first, members}``."""
    messages = _entries(reply[3])
    messages.reverse()
    raw = reply[4]
    members = []
    for index in range(0, len(raw), 2):
        node, _, name = _text(raw[index + 1]).partition("\t")
        members.append(RemoteMember(int(raw[index]), name, node))
    members.sort(key=lambda member: member.id)
    return RoomSnapshot(_text(reply[0]), int(reply[1]), int(reply[2]), messages, members)
