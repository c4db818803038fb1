"""wsnb.subscribe() against a real wsnb.Rooms server: every message once, in order, or a 'lost'.

Losses, state and display, clean shutdown and refused rooms. Publishing
through the subscriber (its offline buffer): test_subscriber_outbox.py; the
chaos tests (drops and restarts under thousands of messages):
test_subscriber_chaos.py.

No timing is asserted: waits are bounded (``sub.next_event(timeout=...)``,
``asyncio.timeout``) and only fail the test when something never happens.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import bodies, serve_again, wait_until

import wsnb
from wsnb.core import RoomLimits

#: Each test with ``rooms_server`` runs in memory and on Redis (tests/conftest.py).
BACKENDS = ["memory", "redis"]


def memory_only(rooms_server: tuple[wsnb.Rooms, wsnb.Server], why: str) -> None:
    if rooms_server[0].backend is not None:
        pytest.skip(why)


# c, d. Losses are reported, not hidden ---------------------------------------------------


async def test_a_gap_older_than_the_history_is_reported_then_delivery_goes_on():
    rooms = wsnb.Rooms(limits=RoomLimits(history_size=50))
    server = await wsnb.serve(rooms, name="rooms")
    lost: list[dict[str, Any]] = []
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", on_lost=lost.append)
    await rooms.publish_shared("lobby", "before")
    assert (await sub.next_event(timeout=5))["data"]["body"] == "before"

    port = server.port
    await server.stop()
    for i in range(200):  # while the subscriber cannot connect: 150 more than the history
        await rooms.publish_shared("lobby", i)
    server = await serve_again(rooms, port)

    event = await sub.next_event(timeout=10)
    assert event == {"type": "lost", "room": "lobby", "reason": "gap_too_old"}
    assert lost == [event]  # on_lost was called with the same event
    # The rejoin happened (that is when the loss was found): new messages come in order.
    for i in range(200, 210):
        await rooms.publish_shared("lobby", i)
    received = [await sub.next_event(timeout=5) for _ in range(10)]
    assert bodies(received) == list(range(200, 210))
    assert [m["seq"] for m in received] == list(range(202, 212))
    assert sub.stats.losses == 1
    assert sub.stats.delivered == 11
    assert sub.pending == 0
    await sub.close()


async def test_history_forgotten_while_disconnected_is_reported_as_epoch_changed(rooms_server):
    memory_only(rooms_server, "the history lives in Redis (test_rooms_shared: its restarts)")
    rooms, server = rooms_server
    lost: list[dict[str, Any]] = []
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", on_lost=lost.append)
    await rooms.publish_shared("lobby", "old")
    first = await sub.next_event(timeout=5)
    old_epoch = first["epoch"]

    port = server.port
    await server.stop()
    rooms.forget_history()
    server = await serve_again(rooms, port)

    event = await sub.next_event(timeout=10)
    assert event == {"type": "lost", "room": "lobby", "reason": "epoch_changed"}
    assert lost == [event]
    await rooms.publish_shared("lobby", "new")
    message = await sub.next_event(timeout=5)
    assert message["data"]["body"] == "new"
    assert message["epoch"] == rooms.room("lobby").epoch != old_epoch
    assert message["seq"] == 1
    assert sub.positions["lobby"] == (message["epoch"], 1)
    assert sub.stats.losses == 1
    await sub.close()


async def test_history_forgotten_under_a_live_connection_is_reported_too(rooms_server):
    memory_only(rooms_server, "the history lives in Redis (test_rooms_shared: its restarts)")
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    await rooms.publish_shared("lobby", "old")
    await sub.next_event(timeout=5)
    rooms.forget_history()
    await rooms.publish_shared("lobby", "new")
    assert await sub.next_event(timeout=5) == {
        "type": "lost",
        "room": "lobby",
        "reason": "epoch_changed",
    }
    assert (await sub.next_event(timeout=5))["data"]["body"] == "new"
    assert sub.stats.losses == 1
    await sub.close()


# f. State, stats, timeline, display, reconnection delays ----------------------------------


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

    server = await serve_again(rooms, port)
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
    await rooms.publish_shared("lobby", "hi")
    assert (await sub.next_event(timeout=5))["data"]["body"] == "hi"
    await sub.close()
    assert sub.timeline[-1][1] == "closed"


async def test_repr_html_shows_the_state_the_stats_and_the_positions(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    for i in range(3):
        await rooms.publish_shared("lobby", i)
    for _ in range(3):
        await sub.next_event(timeout=5)
    html = sub._repr_html_()
    assert "wsnb.Subscriber" in html
    assert server.url in html
    assert "state: <code>open</code>" in html
    assert "delivered: <code>3</code>" in html
    for name in ("replayed", "duplicates", "reconnects", "recoveries", "losses", "published"):
        assert f"{name}: <code>0</code>" in html
    left = '<td style="text-align:left">'  # text columns are left-aligned, numbers not
    assert f"{left}lobby</td>{left}{rooms.room('lobby').epoch}</td><td>3</td>" in html
    assert "delivered=3" in repr(sub)
    await sub.close()
    assert "state: <code>closed</code>" in sub._repr_html_()


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
    server = await serve_again(rooms, port)
    await wait_until(lambda: sub.state == "open", "the subscriber reconnects")
    await sub.close()


# g. Clean shutdown ---------------------------------------------------------------------------


async def test_close_and_stop_leave_no_task_behind(rooms_server):
    rooms, server = rooms_server
    before = asyncio.all_tasks()
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    await rooms.publish_shared("lobby", "hi")
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
        server = await serve_again(rooms, port)
        await sub.wait_open()
        assert sub.state == "open"
        assert sub.stats.reconnects == 1
        assert rooms.members("lobby") == ["sub"]
    finally:
        await sub.close()


@pytest.mark.parametrize("rooms", [print, "news"])
def test_a_callback_or_a_string_for_rooms_points_to_the_stream_client(rooms) -> None:
    """The skill card's ws_subscribe(uri, on_message) shape: say which wsnb object that is."""
    with pytest.raises(TypeError, match=r"wsnb\.stream\(url, on_message\)"):
        wsnb.Subscriber("ws://127.0.0.1:1", rooms)
