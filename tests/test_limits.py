"""wsnb.limits: the rate limit (beyond the hostile table) and the connection cap."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from helpers import WAIT, assert_echoes, close_code_of, handshake_status, send_flood
from websockets.exceptions import InvalidStatus

import wsnb
import wsnb.auth

# -- rate limit, beyond the table -----------------------------------------------------------


async def test_rate_limit_holds_for_a_handler_that_only_receives():
    """A handler that never sends (a sink) sees at most ``burst`` messages from a
    flooding client, and the client gets 4429 (not a stall until close_timeout)."""
    received = []

    async def sink(ws):
        async for message in ws:
            received.append(message)

    server = await wsnb.serve(sink, create_connection=wsnb.rate_limited(5, burst=5))
    async with wsnb.connect(server) as ws:
        await send_flood(ws, 50)
        assert await close_code_of(ws) == ("close", 4429)
        assert ws.close_reason.startswith("rate limit exceeded")
    assert received == [f"spam {i}" for i in range(5)]


async def test_rate_limit_allows_the_burst_and_refills():
    """Exactly ``burst`` messages at once are fine, and more after waiting."""
    server = await wsnb.serve(wsnb.echo, create_connection=wsnb.rate_limited(10, burst=5))
    async with wsnb.connect(server) as ws:
        for i in range(5):
            await ws.send(f"m{i}")
        async with asyncio.timeout(WAIT):
            assert [await ws.recv() for _ in range(5)] == [f"m{i}" for i in range(5)]
        await asyncio.sleep(0.3)  # >= 0.1 s: at least one token back (longer is always fine)
        await assert_echoes(ws, "after a pause")


# -- h. max_connections -------------------------------------------------------------------------


async def test_max_connections_allows_exactly_n_then_503_until_one_leaves():
    limit = 3
    server = await wsnb.serve(wsnb.echo, process_request=wsnb.max_connections(limit))
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(wsnb.connect(server)) for _ in range(limit)]
        for i, ws in enumerate(clients):
            await assert_echoes(ws, f"client {i}")
        assert len(server.connections) == limit

        with pytest.raises(InvalidStatus) as info:
            async with wsnb.connect(server):
                pass
        assert info.value.response.status_code == 503
        assert f"limit {limit}" in info.value.response.body.decode()

        await clients[0].close()
        async with wsnb.connect(server) as replacement:
            await assert_echoes(replacement, "a freed slot is reused")
            assert await handshake_status(server) == ("http", 503)
        for ws in clients[1:]:
            await assert_echoes(ws, "still here")
