"""wsnb.stream: the card's ws_subscribe for any server, JSON or raw, across drops and restarts.

Every server here is a plain websockets handler or a wsnb.Hub, never the rooms protocol.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import wait_until
from websockets.exceptions import InvalidStatus

import wsnb
from wsnb import faults

TIMEOUT = 5.0


def feed_of(*messages: str | bytes, then_close: bool = False):
    """A handler that sends ``messages`` to each client, then waits (or closes)."""

    async def feed(ws):
        for message in messages:
            await ws.send(message)
        if then_close:
            await ws.close()
        else:
            await ws.wait_closed()

    return feed


async def test_the_cards_ws_subscribe_call_follows_a_hub():
    """``wsnb.stream(uri, on_message)``: each JSON message a hub broadcasts reaches the callback."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub)
    received = []

    async def on_message(data):  # the card's callback: a coroutine taking the decoded JSON
        received.append(data)

    feed = await wsnb.stream(server.url, on_message)
    await hub.wait_for_clients(1)
    for n in range(5):
        await hub.broadcast_json({"n": n, "price": 100 + n})
    await wait_until(lambda: len(received) == 5)
    assert received == [{"n": n, "price": 100 + n} for n in range(5)]
    assert feed.state == "open" and feed.stats.received == feed.stats.delivered == 5
    await feed.close()
    assert feed.state == "closed"
    await hub.wait_for_clients(0)


async def test_async_for_reads_raw_text_and_bytes_without_a_callback():
    """json=False hands on what arrived, str as str and bytes as bytes, in order."""
    server = await wsnb.serve(feed_of("a", b"\x00\x01", "not json at all"))
    feed = await wsnb.stream(server, json=False)
    got = []
    async for message in feed:
        got.append(message)
        if len(got) == 3:
            break
    assert got == ["a", b"\x00\x01", "not json at all"]
    await feed.close()


async def test_a_sync_callback_works_too(hub_server):
    hub, server = hub_server
    ticks: list[dict] = []
    feed = await wsnb.stream(server, ticks.append)
    await hub.wait_for_clients(1)
    hub.broadcast_json({"n": 1})
    await wait_until(lambda: ticks == [{"n": 1}])
    await feed.close()


async def test_it_reconnects_after_a_drop_and_after_a_restart(hub_server):
    """Drops (1006) and a restart (1001, then refused while down) each end in a new connection."""
    hub, server = hub_server
    feed = await wsnb.stream(server)
    await hub.wait_for_clients(1)
    hub.broadcast_json({"n": 1})
    assert await feed.next_message(timeout=TIMEOUT) == {"n": 1}

    faults.drop_connections(server)
    await wait_until(lambda: feed.stats.reconnects == 1 and feed.state == "open")
    await hub.wait_for_clients(1)
    hub.broadcast_json({"n": 2})
    assert await feed.next_message(timeout=TIMEOUT) == {"n": 2}

    server = await faults.restart(server, downtime=0.3)
    await feed.wait_open()
    await hub.wait_for_clients(1)
    hub.broadcast_json({"n": 3})
    assert await feed.next_message(timeout=TIMEOUT) == {"n": 3}
    assert feed.stats.reconnects == 2
    events = [event for _, event, _ in feed.timeline]
    assert events.count("dropped") == 2 and events.count("connected") == 3
    assert "retry" in events, "the restart's downtime was waited out with backoff"
    gaps = [detail for _, event, detail in feed.timeline if event == "connected"]
    assert gaps[1:] == ["a possible gap: no sequence numbers"] * 2
    await feed.close()


async def test_what_was_sent_while_disconnected_is_lost_and_it_says_so(hub_server):
    """No sequence numbers, no replay: the repr and the HTML say gaps are unknown."""
    hub, server = hub_server
    feed = await wsnb.stream(server)
    await hub.wait_for_clients(1)
    faults.drop_connections(server)
    await hub.wait_for_clients(0)
    hub.broadcast_json({"n": "sent while down"})  # nobody to send it to
    await wait_until(lambda: feed.stats.reconnects == 1 and feed.state == "open")
    await hub.wait_for_clients(1)
    hub.broadcast_json({"n": "after"})
    assert await feed.next_message(timeout=TIMEOUT) == {"n": "after"}
    assert "gaps=unknown" in repr(feed)
    assert "no sequence numbers" in feed._repr_html_()
    await feed.close()


async def test_reconnect_false_stops_at_the_first_close():
    """The server closes: the stream is closed, async for ends, wait_closed returns."""
    server = await wsnb.serve(feed_of('{"a": 1}', '{"a": 2}', then_close=True))
    feed = await wsnb.stream(server, reconnect=False)
    got = [message async for message in feed]
    assert got == [{"a": 1}, {"a": 2}]
    await asyncio.wait_for(feed.wait_closed(), TIMEOUT)
    assert feed.state == "closed" and feed.stats.reconnects == 0
    assert len(server.connections) == 0
    with pytest.raises(wsnb.WsnbError, match="closed"):
        await feed.next_message(timeout=TIMEOUT)


async def test_reconnect_true_comes_back_after_a_server_side_close():
    """The same server with the default: a close is followed by a new connection."""
    server = await wsnb.serve(feed_of('{"a": 1}', then_close=True))
    feed = await wsnb.stream(server, reconnect_delay=0.05)
    assert [await feed.next_message(timeout=TIMEOUT) for _ in range(3)] == [{"a": 1}] * 3
    assert feed.stats.reconnects >= 2
    # A connection that ends at once is followed by the fixed delay, not a tight loop.
    assert ("retry", "in 50 ms") in [(e, d) for _, e, d in feed.timeline]
    await feed.close()


async def test_a_server_that_closes_at_once_is_retried_with_backoff_not_in_a_tight_loop():
    opened = 0

    async def slam(ws):
        nonlocal opened
        opened += 1
        await ws.close(4401, "go away")

    server = await wsnb.serve(slam)
    feed = await wsnb.stream(server)
    await asyncio.sleep(1.0)
    await feed.close()
    # notebook_backoff: 50-100 ms apart for its first 2.5 s, about 13 in this second and
    # never more than 1 + 1 s / 50 ms, where no delay gives hundreds.
    assert 2 <= opened <= 22
    assert any("4401" in detail for _, _, detail in feed.timeline)


async def test_a_message_that_is_not_json_is_kept_and_the_stream_goes_on():
    server = await wsnb.serve(feed_of('{"n": 1}', "oops", b"\xff", '{"n": 2}'))
    feed = await wsnb.stream(server)
    assert [await feed.next_message(timeout=TIMEOUT) for _ in range(2)] == [{"n": 1}, {"n": 2}]
    assert feed.stats.not_json == 2 and feed.stats.received == 4
    assert [e.received for e in feed.errors] == ["oops", b"\xff"]
    assert all(isinstance(e, wsnb.NotJSONError) for e in feed.errors)
    assert feed.state == "open"
    await feed.close()


async def test_a_callback_that_raises_is_counted_and_the_stream_goes_on():
    server = await wsnb.serve(feed_of('{"n": 1}', '{"n": 0}', '{"n": 2}'))
    inverses = []
    feed = await wsnb.stream(server, lambda m: inverses.append(1 / m["n"]))
    await wait_until(lambda: feed.stats.received == 3)
    assert inverses == [1.0, 0.5]
    assert feed.stats.callback_errors == 1 and feed.stats.delivered == 2
    assert isinstance(feed.errors[0], ZeroDivisionError)
    assert "ZeroDivisionError" in feed._repr_html_()
    await feed.close()


async def test_unread_messages_beyond_buffer_size_drop_the_oldest():
    server = await wsnb.serve(feed_of(*[json.dumps(n) for n in range(10)]))
    feed = await wsnb.stream(server, buffer_size=3)
    await wait_until(lambda: feed.stats.received == 10)
    assert feed.pending == 3 and feed.stats.dropped == 7
    assert [await feed.next_message(timeout=TIMEOUT) for _ in range(3)] == [7, 8, 9]
    await feed.close()


async def test_on_open_runs_on_every_connection_to_send_the_subscription_again():
    """A feed that wants a subscribe message gets it again after each reconnection."""

    async def ticker(ws):
        request = json.loads(await ws.recv())
        await ws.send(json.dumps({"subscribed": request["symbol"]}))
        await ws.wait_closed()

    server = await wsnb.serve(ticker)

    async def subscribe(ws):
        await ws.send(json.dumps({"symbol": "ABC"}))

    feed = await wsnb.stream(server, on_open=subscribe)
    assert await feed.next_message(timeout=TIMEOUT) == {"subscribed": "ABC"}
    faults.drop_connections(server)
    assert await feed.next_message(timeout=TIMEOUT) == {"subscribed": "ABC"}
    await feed.close()


async def test_send_goes_out_on_the_current_connection(echo_server):
    feed = await wsnb.stream(echo_server)
    await feed.send('{"echo": true}')
    assert await feed.next_message(timeout=TIMEOUT) == {"echo": True}
    await feed.close()
    with pytest.raises(wsnb.WsnbError, match="no connection"):
        await feed.send("x")


async def test_a_refused_handshake_raises_and_leaves_nothing_running():
    """An HTTP 403 is not retried: wait raises it, the stream is closed and unregistered."""
    server = await wsnb.serve(wsnb.echo, origins=["https://example.com"])
    with pytest.raises(InvalidStatus):
        await wsnb.stream(server, origin="https://evil.example")
    assert wsnb.running_servers() == [server]
    from wsnb.registry import registry

    assert registry.clients() == []


async def test_stop_all_stops_a_stream(hub_server):
    hub, server = hub_server
    feed = await wsnb.stream(server)
    await wsnb.stop_all()
    assert feed.state == "closed"
    await feed.wait_closed()


async def test_closing_from_inside_the_callback_ends_the_stream(hub_server):
    """A callback that has seen enough may close the stream it runs in."""
    hub, server = hub_server
    seen = []

    async def enough(message):
        seen.append(message)
        if len(seen) == 2:
            await feed.close()

    feed = await wsnb.stream(server, enough)
    await hub.wait_for_clients(1)
    for n in range(5):
        hub.broadcast_json(n)
        await asyncio.sleep(0.01)
    await asyncio.wait_for(feed.wait_closed(), TIMEOUT)
    assert seen == [0, 1]


def test_options_are_checked_before_anything_starts():
    with pytest.raises(TypeError, match="not both"):
        wsnb.Stream("ws://127.0.0.1:1", reconnect_delay=1, reconnect_delays=lambda: iter([1.0]))
    with pytest.raises(ValueError, match="buffer_size"):
        wsnb.Stream("ws://127.0.0.1:1", buffer_size=0)
