"""Presence in Redis: every process's members, its heartbeat, and the sweep of the dead.

What it guarantees:

* **Presence of a dead process is cleaned up.** Each process refreshes its
  heartbeat every ``node_ttl / 3`` s; every process sweeps the members of
  processes whose heartbeat expired, and publishes their leaves: a killed
  process's members are seen leaving within about ``node_ttl + node_ttl / 3``
  seconds (15-20 s by default). :meth:`RedisBackend.close` makes its members
  leave at once. A process that was only paused (a laptop asleep) and finds
  its heartbeat expired announces its members again.

Joins, leaves and renames are scripts (:mod:`wsnb.redis_scripts`) that change
a room's members hash and publish the event on its channel in one step.

Example::

    presence = RedisPresence(store, keys, node, 15.0, report=report)
    await presence.register()
    member_id = await presence.join("lobby", "ada")
    task = asyncio.create_task(presence.heartbeat())
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .redis_client import _text
from .redis_keys import RedisKeys
from .redis_scripts import RedisStore

__all__ = ["RedisPresence"]


class RedisPresence:
    """This process (``node``) among those sharing a prefix: its members, and the others'.

    ``report`` keeps a background error; Redis being away (``store.away``) is
    not one: the next round tries again.
    """

    def __init__(
        self,
        store: RedisStore,
        keys: RedisKeys,
        node: str,
        node_ttl: float,
        *,
        report: Callable[[BaseException, str], None],
    ) -> None:
        self._store = store
        self._keys = keys
        self._node = node
        self.interval = node_ttl / 3
        """How often the heartbeat is refreshed and the others swept, in seconds."""
        self._ttl_ms = max(1, round(node_ttl * 1000))
        self._report = report
        self.members: dict[str, dict[int, str]] = {}
        """This process's members, by room: id -> name (to announce them again if needed)."""

    def _room_keys(self, room: str) -> tuple[str, str, str]:
        """The keys of joins and restores: meta, members, and this node's rooms."""
        return (
            self._keys.room(room, "meta"),
            self._keys.room(room, "members"),
            self._keys.node(self._node, ":rooms"),
        )

    # Members ------------------------------------------------------------------------------

    async def join(self, room: str, name: str) -> int:
        member_id = int(
            await self._store.run(
                "join",
                self._room_keys(room),
                (self._node, room, self._keys.room(room, "ch"), name),
            )
        )
        self.members.setdefault(room, {})[member_id] = name
        return member_id

    async def leave(self, room: str, member_id: int) -> None:
        members = self.members.get(room)
        if members is not None:
            members.pop(member_id, None)
            if not members:
                del self.members[room]
        await self._store.run(
            "leave",
            (self._keys.room(room, "members"), self._keys.node(self._node, ":rooms")),
            (self._node, room, self._keys.room(room, "ch"), member_id),
        )

    async def rename(self, room: str, member_id: int, name: str) -> None:
        members = self.members.get(room)
        if members is not None and member_id in members:
            members[member_id] = name
        await self._store.run(
            "rename",
            (self._keys.room(room, "members"),),
            (self._node, self._keys.room(room, "ch"), member_id, name),
        )

    async def _evict(self, node: str, room: str, *, unless_alive: bool) -> int:
        return int(
            await self._store.run(
                "evict",
                (
                    self._keys.room(room, "members"),
                    self._keys.node(node),
                    self._keys.node(node, ":rooms"),
                ),
                (node, room, self._keys.room(room, "ch"), "1" if unless_alive else "0"),
            )
        )

    # This process -------------------------------------------------------------------------

    async def register(self) -> None:
        async with self._store.client.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.node(self._node), 1, px=self._ttl_ms)
            pipe.sadd(self._keys.nodes, self._node)
            await pipe.execute()

    async def unregister(self) -> None:
        """Every member of this process leaves its rooms, and the process leaves."""
        self.members.clear()
        client = self._store.client
        rooms = await client.hkeys(self._keys.node(self._node, ":rooms"))
        for room in rooms:
            await self._evict(self._node, _text(room), unless_alive=False)
        async with client.pipeline(transaction=False) as pipe:
            pipe.delete(self._keys.node(self._node), self._keys.node(self._node, ":rooms"))
            pipe.srem(self._keys.nodes, self._node)
            await pipe.execute()

    async def beat(self) -> None:
        """Refresh the heartbeat; if it had expired, announce this process's members again."""
        async with self._store.client.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.node(self._node), 1, px=self._ttl_ms, xx=True)
            pipe.sadd(self._keys.nodes, self._node)
            refreshed, _ = await pipe.execute()
        if refreshed:
            return
        await self.register()  # taken for dead (or Redis lost its data): here again
        for room, members in list(self.members.items()):
            pairs: list[Any] = []
            for member_id, name in members.items():
                pairs += [member_id, name]
            await self._store.run(
                "restore",
                self._room_keys(room),
                (self._node, room, self._keys.room(room, "ch"), *pairs),
            )

    # The background work ------------------------------------------------------------------

    async def heartbeat(self) -> None:
        await self._every(self.beat, "its heartbeat failed")

    async def sweeper(self) -> None:
        await self._every(self.sweep, "its sweep of dead processes failed")

    async def _every(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await work()
            except self._store.away:
                pass  # Redis is away: the next round tries again
            except Exception as error:
                self._report(error, what)

    # The others ---------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Make the members of every process whose heartbeat expired leave their rooms."""
        client = self._store.client
        nodes = [_text(node) for node in await client.smembers(self._keys.nodes)]
        others = [node for node in nodes if node != self._node]
        if not others:
            return
        async with client.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.exists(self._keys.node(node))
            alive = await pipe.execute()
        for node, beating in zip(others, alive, strict=True):
            if not beating:
                await self._sweep_node(node)

    async def _sweep_node(self, node: str) -> None:
        client = self._store.client
        lock = self._keys.sweep_lock(node)
        if not await client.set(lock, self._node, nx=True, px=self._ttl_ms):
            return  # another process sweeps it
        try:
            for room in await client.hkeys(self._keys.node(node, ":rooms")):
                if await self._evict(node, _text(room), unless_alive=True) < 0:
                    return  # its heartbeat is back
            await self._store.run(
                "forget_node",
                (self._keys.node(node), self._keys.node(node, ":rooms"), self._keys.nodes),
                (node,),
            )
        finally:
            await client.delete(lock)
