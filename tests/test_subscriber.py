"""wsnb.subscribe() against a real wsnb.Rooms server: every message once, in order, or a 'lost'.

The chaos tests publish thousands of numbered messages while the server
drops the subscriber's connection and restarts. Their seed is printed
(``chaos seed: N``) and appears in every assertion message; replay a failure
with ``WSNB_CHAOS_SEED=N pytest tests/test_subscriber.py -k chaos``.

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
from helpers import wait_until

import wsnb
from wsnb.core import RoomLimits

# Helpers ------------------------------------------------------------------------------


@pytest.fixture
async def rooms_server() -> tuple[wsnb.Rooms, wsnb.Server]:
    """A rooms server named "rooms" (the autouse fixture in conftest.py stops it)."""
    rooms = wsnb.Rooms()
    return rooms, await wsnb.serve(rooms, name="rooms")


def bodies(messages: list[dict[str, Any]]) -> list[Any]:
    return [m["data"]["body"] for m in messages]


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


# a + i. The chaos test -------------------------------------------------------------------

CHAOS_MESSAGES = 10_000


async def test_chaos_every_message_exactly_once_in_order_across_drops_and_restarts(caplog):
    seed = chaos_seed()
    print(f"chaos seed: {seed}")
    ctx = f"(chaos seed: {seed}; replay with WSNB_CHAOS_SEED={seed})"
    caplog.set_level(logging.WARNING)
    rnd = random.Random(seed)
    rooms = wsnb.Rooms(limits=RoomLimits(history_size=20_000))
    server = await wsnb.serve(rooms, name="rooms")
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
    seed = chaos_seed()
    print(f"chaos seed: {seed}")
    ctx = f"(chaos seed: {seed}; replay with WSNB_CHAOS_SEED={seed})"
    caplog.set_level(logging.WARNING)
    rnd = random.Random(seed)
    rooms = wsnb.Rooms(limits=RoomLimits(history_size=20_000))
    server = await wsnb.serve(rooms, name="rooms")
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


# c, d. Losses are reported, not hidden ---------------------------------------------------


async def test_a_gap_older_than_the_history_is_reported_then_delivery_goes_on():
    rooms = wsnb.Rooms(limits=RoomLimits(history_size=50))
    server = await wsnb.serve(rooms, name="rooms")
    lost: list[dict[str, Any]] = []
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", on_lost=lost.append)
    rooms.publish("lobby", "before")
    assert (await sub.next_event(timeout=5))["data"]["body"] == "before"

    port = server.port
    await server.stop()
    for i in range(200):  # while the subscriber cannot connect: 150 more than the history
        rooms.publish("lobby", i)
    server = await wsnb.serve(rooms, name="rooms", port=port)

    event = await sub.next_event(timeout=10)
    assert event == {"type": "lost", "room": "lobby", "reason": "gap_too_old"}
    assert lost == [event]  # on_lost was called with the same event
    # The rejoin happened (that is when the loss was found): new messages come in order.
    for i in range(200, 210):
        rooms.publish("lobby", i)
    received = [await sub.next_event(timeout=5) for _ in range(10)]
    assert bodies(received) == list(range(200, 210))
    assert [m["seq"] for m in received] == list(range(202, 212))
    assert sub.stats.losses == 1
    assert sub.stats.delivered == 11
    assert sub.pending == 0
    await sub.close()


async def test_history_forgotten_while_disconnected_is_reported_as_epoch_changed(rooms_server):
    rooms, server = rooms_server
    lost: list[dict[str, Any]] = []
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", on_lost=lost.append)
    rooms.publish("lobby", "old")
    first = await sub.next_event(timeout=5)
    old_epoch = first["epoch"]

    port = server.port
    await server.stop()
    rooms.forget_history()
    server = await wsnb.serve(rooms, name="rooms", port=port)

    event = await sub.next_event(timeout=10)
    assert event == {"type": "lost", "room": "lobby", "reason": "epoch_changed"}
    assert lost == [event]
    rooms.publish("lobby", "new")
    message = await sub.next_event(timeout=5)
    assert message["data"]["body"] == "new"
    assert message["epoch"] == rooms.room("lobby").epoch != old_epoch
    assert message["seq"] == 1
    assert sub.positions["lobby"] == (message["epoch"], 1)
    assert sub.stats.losses == 1
    await sub.close()


async def test_history_forgotten_under_a_live_connection_is_reported_too(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    rooms.publish("lobby", "old")
    await sub.next_event(timeout=5)
    rooms.forget_history()
    rooms.publish("lobby", "new")
    assert await sub.next_event(timeout=5) == {
        "type": "lost",
        "room": "lobby",
        "reason": "epoch_changed",
    }
    assert (await sub.next_event(timeout=5))["data"]["body"] == "new"
    assert sub.stats.losses == 1
    await sub.close()


# e. Offline sending ------------------------------------------------------------------------


async def test_messages_published_offline_go_out_in_order_after_reconnecting(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    port = server.port
    await server.stop()
    await wait_until(lambda: sub.state == "reconnecting", "the subscriber notices the server left")

    sent = [f"offline {i}" for i in range(5)]
    for body in sent:
        sub.publish("lobby", body)
    assert sub.unsent == 5
    assert rooms.history("lobby") == []

    server = await wsnb.serve(rooms, name="rooms", port=port)
    await wait_until(lambda: sub.unsent == 0, "the offline messages are acknowledged")
    history = rooms.history("lobby")
    assert bodies(history) == sent  # in order, once each
    assert {m["data"]["from"] for m in history} == {"sub"}
    assert sub.stats.published == 5
    # The subscriber is a member of the room: it gets them too, in order.
    assert bodies([await sub.next_event(timeout=5) for _ in sent]) == sent
    # Another client sees them in the room's history, in order.
    async with await wsnb.RoomsClient.connect(server, name="other") as other:
        await other.join("lobby")
        assert bodies(await other.history("lobby")) == sent
    await sub.close()


async def test_a_full_offline_buffer_rejects_the_next_message(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", buffer_size=3, overflow="reject")
    port = server.port
    await server.stop()
    await wait_until(lambda: sub.state == "reconnecting", "the subscriber notices the server left")
    for i in range(3):
        sub.publish("lobby", i)
    with pytest.raises(wsnb.OfflineBufferFull):
        sub.publish("lobby", 3)
    assert sub.unsent == 3

    server = await wsnb.serve(rooms, name="rooms", port=port)
    await wait_until(lambda: sub.unsent == 0, "the buffered messages are acknowledged")
    assert bodies(rooms.history("lobby")) == [0, 1, 2]
    sub.publish("lobby", 3)  # room again once they are out
    await wait_until(lambda: sub.unsent == 0, "the next message is acknowledged")
    assert bodies(rooms.history("lobby")) == [0, 1, 2, 3]
    await sub.close()


async def test_a_full_offline_buffer_with_drop_oldest_keeps_the_newest(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", buffer_size=3, overflow="drop_oldest")
    port = server.port
    await server.stop()
    await wait_until(lambda: sub.state == "reconnecting", "the subscriber notices the server left")
    for i in range(5):
        sub.publish("lobby", i)  # never raises
    assert sub.unsent == 3

    server = await wsnb.serve(rooms, name="rooms", port=port)
    await wait_until(lambda: sub.unsent == 0, "the buffered messages are acknowledged")
    assert bodies(rooms.history("lobby")) == [2, 3, 4]
    await sub.close()


async def test_drop_oldest_never_drops_a_newer_message_in_place_of_one_in_flight(
    rooms_server, monkeypatch
):
    """The oldest message may be on the wire already; dropping it must not cost a newer one.

    The server holds its replies (so "a" stays unacknowledged, in flight),
    while the application publishes b, c, d into a buffer of 3. The newest
    three (b, c, d) must all be published, in order; "a" was already sent,
    so it may be published too (at least once).
    """
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", buffer_size=3, overflow="drop_oldest")
    held: list[tuple[Any, ...]] = []
    broadcast = rooms.hub.broadcast
    monkeypatch.setattr(rooms.hub, "broadcast", lambda *args, **kwargs: held.append(args))

    sub.publish("lobby", "a")
    await wait_until(lambda: bodies(rooms.history("lobby")) == ["a"], "the server receives 'a'")
    for body in "bcd":  # "a" is unacknowledged: its reply is held
        sub.publish("lobby", body)
    monkeypatch.setattr(rooms.hub, "broadcast", broadcast)
    for args in held:
        broadcast(*args)

    await wait_until(lambda: sub.unsent == 0, "every buffered message is acknowledged")
    published = bodies(rooms.history("lobby"))
    assert published in (["a", "b", "c", "d"], ["b", "c", "d"]), published
    await sub.close()


async def test_a_publish_the_server_refuses_does_not_block_the_ones_after_it(rooms_server):
    """Publishing in a room the subscriber is not in must not wedge its outbox for good.

    Either ``publish()`` refuses at once, or the refused message is set
    aside; the next message for a room it is in still goes out.
    """
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    try:
        sub.publish("elsewhere", "nobody hears this")
    except wsnb.WsnbError:
        pass  # refusing at once is fine
    sub.publish("lobby", "after")
    await wait_until(
        lambda: "after" in bodies(rooms.history("lobby")),
        "a message for the subscriber's own room is published",
        timeout=3,
    )
    await sub.close()


# f. State, stats, timeline, display, backoff ---------------------------------------------


async def test_state_goes_open_reconnecting_open_then_closed(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    assert sub.state == "open"
    assert sub.stats.reconnects == 0

    port = server.port
    await server.stop()
    await wait_until(lambda: sub.state == "reconnecting", "state becomes 'reconnecting'")
    await wait_until(lambda: any(e == "retry" for _, e, _ in sub.timeline), "a retry is planned")
    assert sub.state == "reconnecting"  # still, while the server is away

    server = await wsnb.serve(rooms, name="rooms", port=port)
    await wait_until(lambda: sub.state == "open", "state becomes 'open' again")
    assert sub.stats.reconnects == 1
    assert sub.stats.recoveries == 1
    await sub.close()
    assert sub.state == "closed"
    await sub.close()  # a second close does nothing
    assert sub.state == "closed"
    # Closed for good: its connection goes and it does not come back on its own.
    await wait_until(lambda: server.connections == [], "the closed subscriber's connection goes")


async def test_timeline_records_drop_retry_connect_open_across_a_restart(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    assert [e for _, e, _ in sub.timeline] == ["connected", "open"]
    mark = len(sub.timeline)

    server = await wsnb.faults.restart(server, downtime=0.1)
    await wait_until(
        lambda: any(e == "open" for _, e, _ in sub.timeline[mark:]),
        "the subscriber reopens after the restart",
    )
    events = [e for _, e, _ in sub.timeline[mark:]]
    assert events[0] == "dropped"
    assert "retry" in events
    assert events[-3:] == ["connected", "recovered", "open"]
    assert events.index("dropped") < events.index("retry") < events.index("connected")
    times = [t for t, _, _ in sub.timeline]
    assert times == sorted(times)
    assert sub.state == "open"

    # And it still delivers after all that.
    rooms.publish("lobby", "hi")
    assert (await sub.next_event(timeout=5))["data"]["body"] == "hi"
    await sub.close()
    assert sub.timeline[-1][1] == "closed"


async def test_repr_html_shows_the_state_the_stats_and_the_positions(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    for i in range(3):
        rooms.publish("lobby", i)
    for _ in range(3):
        await sub.next_event(timeout=5)
    html = sub._repr_html_()
    assert "wsnb.Subscriber" in html
    assert server.url in html
    assert "state: <code>open</code>" in html
    assert "delivered: <code>3</code>" in html
    for name in ("replayed", "duplicates", "reconnects", "recoveries", "losses", "published"):
        assert f"{name}: <code>0</code>" in html
    assert f"<td>lobby</td><td>{rooms.room('lobby').epoch}</td><td>3</td>" in html
    assert "delivered=3" in repr(sub)
    await sub.close()
    assert "state: <code>closed</code>" in sub._repr_html_()


def test_notebook_backoff_retries_fast_first_and_is_capped():
    delays = wsnb.notebook_backoff()()
    first = next(delays)
    assert 0 < first <= 0.1
    assert all(0 < next(delays) <= 3.0 for _ in range(100))

    delays = wsnb.notebook_backoff(first=0.02, factor=3.0, cap=0.5)()
    values = [next(delays) for _ in range(50)]
    assert 0 < values[0] <= 0.02
    assert all(0 < v <= 0.5 for v in values)
    assert max(values[-20:]) > 0.25  # it does grow up to the cap


async def test_the_subscriber_waits_the_delays_it_is_given(rooms_server):
    used: list[float] = []

    def recorded():
        for delay in wsnb.notebook_backoff(first=0.01, cap=0.02)():
            used.append(delay)
            yield delay

    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", reconnect_delays=recorded)
    port = server.port
    await server.stop()
    await wait_until(lambda: len(used) >= 3, "the subscriber retries with the given delays")
    assert all(0 < d <= 0.02 for d in used)
    server = await wsnb.serve(rooms, name="rooms", port=port)
    await wait_until(lambda: sub.state == "open", "the subscriber reconnects")
    await sub.close()


# g. Clean shutdown ---------------------------------------------------------------------------


async def test_close_and_stop_leave_no_task_behind(rooms_server):
    rooms, server = rooms_server
    before = asyncio.all_tasks()
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    rooms.publish("lobby", "hi")
    await sub.next_event(timeout=5)
    sub.publish("lobby", "back")
    await wait_until(lambda: sub.unsent == 0, "the publish is acknowledged")
    await sub.close()
    await server.stop()
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert left == set()
    assert sub.state == "closed"


async def test_close_itself_ends_every_task_the_subscriber_started(rooms_server):
    """Once ``await sub.close()`` returns, nothing of the subscriber is left running.

    Today one task is left: the loop's finaliser for websockets' reconnecting
    ``connect()`` async generator (``async_generator_athrow``), scheduled when
    the cancelled ``_run`` drops it unclosed; it ends on a later loop turn.
    """
    rooms, server = rooms_server
    before = asyncio.all_tasks()
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    await sub.close()
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert left == set()


async def test_close_while_reconnecting_leaves_no_task_behind(rooms_server):
    rooms, server = rooms_server
    before = asyncio.all_tasks()
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    await server.stop()
    await wait_until(lambda: any(e == "retry" for _, e, _ in sub.timeline), "a retry is planned")
    await sub.close()
    assert sub.state == "closed"
    await wait_until(
        lambda: asyncio.all_tasks() - before - {asyncio.current_task()} == set(),
        "every task the subscriber started ends",
        timeout=5,
    )


async def test_stop_all_closes_subscribers_too(rooms_server):
    rooms, server = rooms_server
    before = asyncio.all_tasks()
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    other = await wsnb.subscribe(server, ["news"], name="other")
    assert await wsnb.stop_all() == 1
    assert (sub.state, other.state) == ("closed", "closed")
    assert server.state == "stopped"
    assert wsnb.running_servers() == []
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert left == set()
    assert sub.state == "closed"  # it did not try to come back


# h. A refused room ------------------------------------------------------------------------------


async def test_a_refused_room_makes_subscribe_raise_instead_of_hanging():
    rooms = wsnb.Rooms(rooms=["only"])
    server = await wsnb.serve(rooms, name="rooms")
    before = asyncio.all_tasks()
    async with asyncio.timeout(10):
        with pytest.raises(wsnb.RequestError) as raised:
            await wsnb.subscribe(server, ["other"], name="sub")
    assert raised.value.code == "unknown_room"
    # It gave up: no reconnection loop left running against the server.
    await wait_until(lambda: server.connections == [], "the refused subscriber disconnects")
    await wait_until(
        lambda: asyncio.all_tasks() - before - {asyncio.current_task()} == set(),
        "the refused subscriber's tasks end",
        timeout=5,
    )


async def test_a_refused_room_among_good_ones_is_refused_too():
    rooms = wsnb.Rooms(rooms=["only"])
    server = await wsnb.serve(rooms, name="rooms")
    async with asyncio.timeout(10):
        with pytest.raises(wsnb.RequestError) as raised:
            await wsnb.subscribe(server, ["only", "other"], name="sub")
    assert raised.value.code == "unknown_room"


async def test_wait_open_right_after_a_restart_waits_for_the_rejoin(rooms_server):
    """wait_open() just after a restart returns once the subscriber is back, not before."""
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    try:
        port = server.port
        await server.stop()
        server = await wsnb.serve(rooms, name="rooms", port=port)
        await sub.wait_open()
        assert sub.state == "open"
        assert sub.stats.reconnects == 1
        assert rooms.members("lobby") == ["sub"]
    finally:
        await sub.close()
