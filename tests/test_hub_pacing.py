"""The card's hub shape on wsnb.Hub: ``async with hub.connected(ws)`` and ``await hub.broadcast``.

Awaiting a broadcast paces the producer to its healthy clients (what the server
holds for each stays within websockets' write limit), while a client that stops
reading costs the producer at most ``drain_timeout`` once and is then dealt with
by the slow-client bound, as before.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from helpers import connected, member, stalled_client

import wsnb
from wsnb.close_codes import SLOW_CLIENT

SIZE = 1024
WRITE_LIMIT = 2**15  # websockets' default write_limit (high-water mark)


def numbered(i: int) -> str:
    return f"{i:08d}".ljust(SIZE, ".")


async def read_all(ws, count: int) -> list[str]:
    return [await asyncio.wait_for(ws.recv(), 10) for _ in range(count)]


async def serve_with_small_buffers(hub: wsnb.Hub) -> wsnb.Server:
    """``hub`` served with a 4 KiB kernel send buffer per connection, so that what a client
    has not read shows in the server's write buffer at once, not after megabytes."""

    async def handler(ws):
        ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await hub(ws)

    return await wsnb.serve(handler, name="hub")


async def test_connected_is_join_for_async_with():
    """``async with hub.connected(ws)`` makes a member for the block, under a name if given."""
    hub = wsnb.Hub()
    inside: list[wsnb.HubClient] = []

    async def handler(ws):
        async with hub.connected(ws, name="ada") as client:
            inside.append(client)
            await ws.wait_closed()

    server = await wsnb.serve(handler)
    async with wsnb.connect(server):
        await hub.wait_for_clients(1)
        assert [c.name for c in hub.clients] == ["ada"] and inside[0] is hub.clients[0]
    await hub.wait_for_clients(0)
    await server.stop()


async def test_a_broadcast_is_a_number_and_awaiting_it_gives_the_same_number(hub_server):
    """The plain call keeps working (an int); awaited, it returns that int after pacing."""
    hub, server = hub_server
    async with connected(server, 3) as clients:
        await hub.wait_for_clients(3)
        plain = hub.broadcast("one")
        assert plain == 3 and isinstance(plain, int) and f"{plain}" == "3"
        assert await hub.broadcast("two", exclude=member(hub, clients[0]).connection) == 2
        assert await hub.broadcast_json({"n": 3}) == 3
        assert [await read_all(ws, 3) for ws in clients[1:]] == [["one", "two", '{"n":3}']] * 2
        assert await read_all(clients[0], 2) == ["one", '{"n":3}']
    assert await wsnb.Hub().broadcast("nobody") == 0


async def test_awaited_broadcasts_in_a_loop_let_the_clients_read():
    """A producer that awaits a broadcast with no client at all still yields to the loop."""
    hub = wsnb.Hub()
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for _ in range(100):
        await hub.broadcast("x")
    task.cancel()
    assert ticks >= 50


async def test_awaiting_keeps_a_healthy_clients_buffer_within_the_write_limit():
    """Awaited, 3000 KiB go out without more than the write limit waiting on the server."""
    hub = wsnb.Hub()
    server = await serve_with_small_buffers(hub)
    async with wsnb.connect(server, max_queue=None) as ws:
        await hub.wait_for_clients(1)
        (client,) = hub.clients
        reader = asyncio.create_task(read_all(ws, 3000))
        most = 0
        for i in range(3000):
            await hub.broadcast(numbered(i))
            most = max(most, client.buffered)
        assert await reader == [numbered(i) for i in range(3000)]
        assert most <= WRITE_LIMIT + SIZE + 8
        assert not client.lagging and hub.lagged == 0


async def test_without_awaiting_the_same_burst_piles_up_on_the_server():
    """The contrast: plain broadcasts in a loop that never yields leave it all buffered."""
    hub = wsnb.Hub()
    server = await serve_with_small_buffers(hub)
    async with wsnb.connect(server, max_queue=None) as ws:
        await hub.wait_for_clients(1)
        (client,) = hub.clients
        for i in range(600):
            hub.broadcast(numbered(i))
        piled = client.buffered
        assert await read_all(ws, 600) == [numbered(i) for i in range(600)]
    # The kernel takes a few KiB; the rest waits in the server's write buffer.
    assert piled > 500 * SIZE


async def test_a_stalled_client_costs_the_producer_one_drain_timeout_then_is_closed():
    """The healthy client gets every message; the stalled one lags once, then hits the bound."""
    hub = wsnb.Hub(max_buffered=256 * 1024, drain_timeout=0.3)
    server = await serve_with_small_buffers(hub)
    async with stalled_client(server.port):
        async with wsnb.connect(server, max_queue=None) as healthy:
            await hub.wait_for_clients(2)
            reader = asyncio.create_task(read_all(healthy, 1000))
            started = time.monotonic()
            for i in range(1000):
                await hub.broadcast(numbered(i))
            elapsed = time.monotonic() - started
            assert await reader == [numbered(i) for i in range(1000)]
    assert hub.lagged == 1, "waited for the stalled client once, not once per message"
    assert hub.slow_closed == 1, "then it passed max_buffered and was closed with 1008"
    assert elapsed < 0.3 + 5
    await server.stop()


async def test_the_cards_hub_handler_runs_unchanged():
    """The card's ConnectionHub usage, on wsnb.Hub: every other client gets each message."""
    hub = wsnb.Hub()

    async def handler(ws):  # the card's text, word for word
        async with hub.connected(ws):
            async for msg in ws:
                await hub.broadcast(msg, exclude=ws)

    server = await wsnb.serve(handler)
    async with connected(server, 3) as (a, b, c):
        await hub.wait_for_clients(3)
        assert hub.count == 3
        for i in range(50):
            await a.send(f"from a {i}")
        await b.send(b"\x00binary")
        assert await read_all(b, 50) == [f"from a {i}" for i in range(50)]
        at_c = await read_all(c, 51)  # a's in order; b's wherever it came between them
        assert [m for m in at_c if m != b"\x00binary"] == [f"from a {i}" for i in range(50)]
        assert b"\x00binary" in at_c
        assert await read_all(a, 1) == [b"\x00binary"]
    await hub.wait_for_clients(0)
    await server.stop()


def test_drain_timeout_must_not_be_negative():
    with pytest.raises(ValueError, match="drain_timeout"):
        wsnb.Hub(drain_timeout=-1)


def test_the_close_code_for_slow_clients_is_still_1008():
    assert SLOW_CLIENT == 1008
