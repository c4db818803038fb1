"""Publishing through wsnb.subscribe(): the offline buffer, its overflow policies, refusals.

Messages published while the server is away wait in the subscriber's outbox
(wsnb/core/outbox.py) and go out once, in order, after it reconnects.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import bodies, serve_again, wait_until

import wsnb


async def stop_and_wait_for_reconnecting(server: wsnb.Server, sub: wsnb.Subscriber) -> int:
    """Stop ``server``; once ``sub`` notices, return the port to serve again on."""
    port = server.port
    await server.stop()
    await wait_until(lambda: sub.state == "reconnecting", "the subscriber notices the server left")
    return port


async def test_messages_published_offline_go_out_in_order_after_reconnecting(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub")
    port = await stop_and_wait_for_reconnecting(server, sub)

    sent = [f"offline {i}" for i in range(5)]
    for body in sent:
        sub.publish("lobby", body)
    assert sub.unsent == 5
    assert rooms.history("lobby") == []

    server = await serve_again(rooms, port)
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
    port = await stop_and_wait_for_reconnecting(server, sub)
    for i in range(3):
        sub.publish("lobby", i)
    with pytest.raises(wsnb.OfflineBufferFull):
        sub.publish("lobby", 3)
    assert sub.unsent == 3

    server = await serve_again(rooms, port)
    await wait_until(lambda: sub.unsent == 0, "the buffered messages are acknowledged")
    assert bodies(rooms.history("lobby")) == [0, 1, 2]
    sub.publish("lobby", 3)  # room again once they are out
    await wait_until(lambda: sub.unsent == 0, "the next message is acknowledged")
    assert bodies(rooms.history("lobby")) == [0, 1, 2, 3]
    await sub.close()


async def test_a_full_offline_buffer_with_drop_oldest_keeps_the_newest(rooms_server):
    rooms, server = rooms_server
    sub = await wsnb.subscribe(server, ["lobby"], name="sub", buffer_size=3, overflow="drop_oldest")
    port = await stop_and_wait_for_reconnecting(server, sub)
    for i in range(5):
        sub.publish("lobby", i)  # never raises
    assert sub.unsent == 3

    server = await serve_again(rooms, port)
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
