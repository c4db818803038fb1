"""wsnb.subscribe() under chaos: thousands of numbered messages, every one once and in order.

The tests publish while the server drops the subscribers' connections and
restarts. Their seed is printed (``chaos seed: N``) and appears in every
assertion message; replay a failure with
``WSNB_CHAOS_SEED=N pytest tests/test_subscriber_chaos.py``.

No timing is asserted: waits are bounded (``sub.next_event(timeout=...)``,
``asyncio.timeout``) and only fail the test when something never happens.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
from typing import Any

import pytest
from helpers import bodies, wait_until

import wsnb
from wsnb.core import RoomLimits


def chaos_seed() -> int:
    seed = os.environ.get("WSNB_CHAOS_SEED")
    return int(seed) if seed else random.randrange(2**32)


async def collect(sub: wsnb.Subscriber, count: int, events: list[dict[str, Any]], ctx: str) -> None:
    """Read events until ``count`` messages arrived; stop early at a 'lost' (a failure)."""
    messages = 0
    while messages < count:
        try:
            event = await sub.next_event(timeout=10)
        except TimeoutError:
            raise AssertionError(
                f"nothing for 10 s after {messages} of {count} messages "
                f"(last: {events[-1:]}, {sub!r}, {sub.stats}) {ctx}"
            ) from None
        events.append(event)
        if event["type"] == "lost":
            return
        messages += event["type"] == "message"


def noisy_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    """WARNING+ records of websockets or asyncio, and any unretrieved task/future exception."""
    gc.collect()  # let unreferenced failed tasks and futures report themselves now
    return [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if (r.levelno >= logging.WARNING and r.name.split(".")[0] in ("websockets", "asyncio"))
        or "never retrieved" in r.getMessage()
    ]


class Chaos:
    """Drops the subscribers' connections and restarts the server while messages flow.

    ``server`` is the current server (a restart makes a new one). Drops are
    planned at random message indices; one that falls while not every
    subscriber is connected (a restart under way, a reconnection) is
    postponed until they all are, so that each of the ``drops`` cuts, and
    each restart, really hits every one of the ``subscribers``.
    """

    def __init__(
        self,
        server: wsnb.Server,
        rnd: random.Random,
        count: int,
        drops: int,
        restarts: int,
        subscribers: int = 1,
    ) -> None:
        self.server = server
        self.subscribers = subscribers
        points = rnd.sample(range(1, count * 9 // 10), drops + restarts)
        self.drop_at = set(points[:drops])
        self.restart_at = set(points[drops:])
        self.drops_due = 0
        self.restarts_due = 0
        self.dropped = 0
        self.restarted = 0
        self._restarting: asyncio.Task[None] | None = None

    @property
    def restarting(self) -> bool:
        return self._restarting is not None and not self._restarting.done()

    async def _restart(self) -> None:
        self.server = await wsnb.faults.restart(self.server, downtime=0.1)
        self.restarted += 1

    def step(self, index: int) -> None:
        """Called for each message index: cut or restart if one is due and possible."""
        self.drops_due += index in self.drop_at
        self.restarts_due += index in self.restart_at
        if self.restarting:
            return
        if self._restarting is not None:
            self._restarting.result()  # re-raise a failed restart here
            self._restarting = None
        if len(self.server.connections) < self.subscribers:
            return
        if self.restarts_due:
            self.restarts_due -= 1
            self._restarting = asyncio.get_running_loop().create_task(self._restart())
        elif self.drops_due:
            assert wsnb.faults.drop_connections(self.server) == self.subscribers
            self.drops_due -= 1
            self.dropped += 1

    async def finish(self) -> None:
        """Carry out whatever is still due, then wait for the last restart."""
        async with asyncio.timeout(15):
            while self.drops_due or self.restarts_due or self.restarting:
                self.step(-1)
                await asyncio.sleep(0.005)
        if self._restarting is not None:
            self._restarting.result()


async def publish_numbers(rooms: wsnb.Rooms, chaos: Chaos, plan: list[str]) -> None:
    """Publish message ``i`` in room ``plan[i]``, yielding to the loop as a live app does."""
    for index, room in enumerate(plan):
        rooms.publish(room, index)
        chaos.step(index)
        await asyncio.sleep(0)
        if index % 10 == 9:
            await asyncio.sleep(0.001)
    await chaos.finish()


async def chaos_start(
    caplog: pytest.LogCaptureFixture,
) -> tuple[random.Random, str, wsnb.Rooms, wsnb.Server]:
    """A seeded Random, the context for assertion messages, and a rooms server that keeps all.

    The seed is printed; WARNING records are captured for :func:`noisy_records`.
    """
    seed = chaos_seed()
    print(f"chaos seed: {seed}")
    caplog.set_level(logging.WARNING)
    rooms = wsnb.Rooms(limits=RoomLimits(history_size=20_000))
    server = await wsnb.serve(rooms, name="rooms")
    return (
        random.Random(seed),
        f"(chaos seed: {seed}; replay with WSNB_CHAOS_SEED={seed})",
        rooms,
        server,
    )


# a + i. The chaos test -------------------------------------------------------------------

CHAOS_MESSAGES = 10_000


async def test_chaos_every_message_exactly_once_in_order_across_drops_and_restarts(caplog):
    rnd, ctx, rooms, server = await chaos_start(caplog)
    lost: list[dict[str, Any]] = []
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", on_lost=lost.append)
    chaos = Chaos(server, rnd, CHAOS_MESSAGES, drops=20, restarts=2)

    events: list[dict[str, Any]] = []
    reader = asyncio.get_running_loop().create_task(collect(sub, CHAOS_MESSAGES, events, ctx))
    await publish_numbers(rooms, chaos, ["lobby"] * CHAOS_MESSAGES)
    await reader

    assert [e for e in events if e["type"] != "message"] == [], ctx
    received = bodies(events)
    assert len(received) == CHAOS_MESSAGES, ctx
    assert received == list(range(CHAOS_MESSAGES)), ctx  # each once, in order
    assert [e["seq"] for e in events] == list(range(1, CHAOS_MESSAGES + 1)), ctx
    assert lost == [], ctx
    assert (chaos.dropped, chaos.restarted) == (20, 2), ctx
    # The last cut may come after the last message: let the subscriber come back.
    await wait_until(
        lambda: sub.stats.reconnects >= chaos.dropped + chaos.restarted,
        f"one reconnection per cut {sub.stats} {ctx}",
    )
    stats = sub.stats
    assert stats.reconnects >= 20, (stats, ctx)
    assert stats.delivered == CHAOS_MESSAGES, (stats, ctx)
    assert stats.losses == 0, (stats, ctx)
    assert 1 <= stats.recoveries <= stats.reconnects, (stats, ctx)
    assert sub.pending == 0, ctx
    assert sub.positions["lobby"] == (rooms.room("lobby").epoch, CHAOS_MESSAGES), ctx

    await sub.close()
    await chaos.server.stop()
    assert noisy_records(caplog) == [], ctx


async def test_chaos_two_subscribers_in_two_rooms_each_get_their_room_once_in_order(caplog):
    rnd, ctx, rooms, server = await chaos_start(caplog)
    lobby = await wsnb.subscribe(server, ["lobby"], name="ada")
    news = await wsnb.subscribe(server, ["news"], name="grace")
    total = 6_000
    plan = [rnd.choice(["lobby", "news"]) for _ in range(total)]
    expected = {room: [i for i, r in enumerate(plan) if r == room] for room in ("lobby", "news")}
    chaos = Chaos(server, rnd, total, drops=15, restarts=2, subscribers=2)

    events: dict[str, list[dict[str, Any]]] = {"lobby": [], "news": []}
    loop = asyncio.get_running_loop()
    readers = [
        loop.create_task(collect(sub, len(expected[room]), events[room], ctx))
        for room, sub in (("lobby", lobby), ("news", news))
    ]
    await publish_numbers(rooms, chaos, plan)
    await asyncio.gather(*readers)

    for room, sub in (("lobby", lobby), ("news", news)):
        assert [e for e in events[room] if e["type"] != "message"] == [], (room, ctx)
        assert {e["room"] for e in events[room]} == {room}, ctx
        assert bodies(events[room]) == expected[room], (room, ctx)
        assert sub.stats.delivered == len(expected[room]), (room, sub.stats, ctx)
        assert sub.stats.losses == 0, (room, sub.stats, ctx)
        await wait_until(
            lambda sub=sub: sub.stats.reconnects >= chaos.dropped + chaos.restarted,
            f"one reconnection per cut {room} {sub.stats} {ctx}",
        )

    await lobby.close()
    await news.close()
    await chaos.server.stop()
    assert noisy_records(caplog) == [], ctx


# Rooms shared by several processes: node kills ------------------------------------------


async def test_chaos_across_servers_killed_and_restarted_every_message_once_in_order(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Three server processes share the rooms; subscribers follow two of them, which are
    killed (kill -9) in turn while another one publishes: each subscriber resumes on the
    other, every message once and in order."""
    from redis_helpers import NodeProcess

    pytest.importorskip("redis")
    seed = chaos_seed()
    rnd, ctx = random.Random(seed), f"(chaos seed: {seed}; replay with WSNB_CHAOS_SEED={seed})"
    print(f"chaos seed: {seed}")
    caplog.set_level(logging.WARNING)
    nodes = [await NodeProcess.start(redis_url, redis_prefix) for _ in range(3)]
    a, b, publisher_node = nodes
    subs: list[wsnb.Subscriber] = []
    try:
        subs = [await wsnb.subscribe([a.url, b.url], ["lobby"], name=f"s{n}") for n in range(3)]
        pub = await wsnb.RoomsClient.connect(publisher_node.url, name="pub")
        await pub.join("lobby")
        total, kills = 3_000, 4
        kill_at = set(rnd.sample(range(100, total * 9 // 10), kills))
        events: list[list[dict[str, Any]]] = [[] for _ in subs]
        loop = asyncio.get_running_loop()
        readers = [
            loop.create_task(collect(sub, total, got, ctx))
            for sub, got in zip(subs, events, strict=True)
        ]
        killed = 0
        for index in range(total):
            await pub.publish("lobby", index, reply=False)
            if index in kill_at:  # the node most subscribers are on
                victim = a if sum(s.url == a.url for s in subs) >= 2 else b
                victim.kill()
                await victim.restart()
                killed += 1
            if index % 10 == 9:
                await asyncio.sleep(0.001)
        await asyncio.gather(*readers)
        for sub, got in zip(subs, events, strict=True):
            assert [e for e in got if e["type"] != "message"] == [], (sub.name, ctx)
            assert bodies(got) == list(range(total)), (sub.name, ctx)  # once, in order
            assert sub.stats.losses == 0 and sub.stats.reconnects >= 1, (sub.stats, ctx)
        assert killed == kills, ctx
        hits = sum(sub.stats.reconnects for sub in subs)
        assert hits >= 2 * kills, (hits, ctx)  # each kill cut at least two subscribers
        await pub.close()
    finally:
        for sub in subs:
            await sub.close()
        for node in nodes:
            node.kill()
    assert noisy_records(caplog) == [], ctx
