"""wsnb.Hub under bursts: clients leaving mid-burst, and the slow-client bound.

A stalled client (one that never reads) is closed past ``max_buffered``
under the "close" policy, or keeps its connection and misses messages under
"drop"; either way the healthy clients get every message, in order.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from helpers import connected, member, member_on_port, stalled_client, wait_until
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

import wsnb
from wsnb.close_codes import SLOW_CLIENT

SIZE = 1024  # the burst messages: 1 KiB of text each
FRAME = SIZE + 4  # its frame on the wire: 2-byte header + 2-byte extended length
CLOSE_FRAME_MAX = 2 + 125  # header + the largest close payload (code and reason)
LIMIT = 64 * 1024  # a small bound, so that the kernel buffers are not all that fills
MAX_BURST = 30_000  # loopback kernel buffers absorb a few MB: far fewer are ever needed


def numbered(i: int) -> str:
    return f"{i:08d}".ljust(SIZE, ".")


class Reader:
    """Collect, in a task, every message a client receives until it closes."""

    def __init__(self, ws):
        self.ws = ws
        self.messages = []
        self.closed_by: ConnectionClosed | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self):
        try:
            async for message in self.ws:
                self.messages.append(message)
        except ConnectionClosed as exc:
            self.closed_by = exc

    async def wait_for(self, count, timeout=5.0):
        await wait_until(lambda: len(self.messages) >= count, timeout=timeout)
        return self.messages


async def bounded_hub(
    slow_clients: str = "close", **serve_options: object
) -> tuple[wsnb.Hub, wsnb.Server]:
    """A hub bounded at ``LIMIT`` bytes per client, served as "hub"."""
    hub = wsnb.Hub(max_buffered=LIMIT, slow_clients=slow_clients)
    return hub, await wsnb.serve(hub, name="hub", **serve_options)


async def burst(hub, start, count, stop=lambda: False, watch=lambda: None):
    """Broadcast numbered 1 KiB messages from ``start``, yielding every 50.

    Ends after ``count`` messages or as soon as ``stop()`` is true; calls
    ``watch()`` after each broadcast; returns the next message number.
    """
    i = start
    while i < start + count:
        hub.broadcast(numbered(i))
        i += 1
        watch()
        if stop():
            break
        if i % 50 == 0:
            await asyncio.sleep(0)
    return i


# Disconnects in the middle of a burst


@pytest.mark.parametrize("how", ["abort", "close"])
async def test_disconnect_during_burst_never_raises_nor_logs(hub_server, caplog, how):
    """A client leaving mid-burst: broadcast() keeps working, nothing logged, others get all."""
    caplog.set_level(logging.WARNING)
    hub, server = hub_server
    total = 3000
    async with connected(server, 3) as healthy, wsnb.connect(server) as victim:
        readers = [Reader(ws) for ws in healthy]
        victim_reader = Reader(victim)
        await wait_until(lambda: hub.count == 4)
        closing = None
        recipients = []
        for i in range(total):
            if i == total // 3:
                if how == "abort":
                    victim.transport.abort()
                else:
                    closing = asyncio.create_task(victim.close())
            recipients.append(hub.broadcast(numbered(i)))
            if i % 50 == 0:
                await asyncio.sleep(0)
        expected = [numbered(i) for i in range(total)]
        for reader in readers:
            assert await reader.wait_for(total) == expected
        await wait_until(lambda: hub.count == 3)
        assert hub.broadcast("after") == 3
        if closing is not None:
            await closing
        await victim_reader.task
        assert recipients[: total // 3] == [4] * (total // 3)
        assert recipients[-1] == 3
        assert set(recipients) <= {3, 4}
        assert victim_reader.messages == expected[: len(victim_reader.messages)]
    noisy = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.split(".")[0] in ("websockets", "asyncio")
    ]
    assert noisy == []


# Slow clients: the "close" policy


async def test_stalled_client_is_closed_and_others_get_everything():
    """A client that never reads is marked closing past max_buffered; the others miss nothing."""
    hub, server = await bounded_hub()
    assert hub.slow_clients == "close"
    async with connected(server, 2) as healthy:
        readers = [Reader(ws) for ws in healthy]
        async with stalled_client(server.port) as sock:
            port = sock.getsockname()[1]
            await wait_until(lambda: hub.count == 3)
            stalled = member_on_port(hub, port)
            peak = 0

            def watch():
                nonlocal peak
                peak = max(peak, stalled.buffered)

            sent = await burst(hub, 0, MAX_BURST, stop=lambda: hub.slow_closed > 0, watch=watch)
            assert hub.slow_closed == 1, "the stalled client never passed the bound"
            assert stalled.closing is True
            assert stalled.dropped > 0
            assert stalled.sent + stalled.dropped == sent
            # Nothing more is written for it once it is closing; what it misses is counted.
            sent_before = stalled.sent
            total = await burst(hub, sent, 500, watch=watch)
            assert stalled.sent == sent_before
            assert stalled.sent + stalled.dropped == total
            assert hub.slow_closed == 1
            assert peak <= LIMIT + FRAME + CLOSE_FRAME_MAX
            assert "closing (too slow)" in hub._repr_html_()
            expected = [numbered(i) for i in range(total)]
            for reader in readers:
                assert await reader.wait_for(total) == expected
            for ws in healthy:
                client = member(hub, ws)
                assert (client.sent, client.dropped, client.closing) == (total, 0, False)
        # Its peer gone, the stalled client leaves the hub; the others stay.
        await wait_until(lambda: hub.count == 2)
        assert hub.broadcast("still here") == 2


async def test_stalled_client_sees_1008_too_slow_when_it_reads_again():
    """Once it reads again, the closed client gets what was buffered, then 1008 'too slow'."""
    hub, server = await bounded_hub()
    async with wsnb.connect(server) as healthy, wsnb.connect(server) as slow:
        slow.transport.pause_reading()
        reader = Reader(healthy)
        await wait_until(lambda: hub.count == 2)
        stalled = member(hub, slow)
        sent = await burst(hub, 0, MAX_BURST, stop=lambda: hub.slow_closed > 0)
        assert hub.slow_closed == 1 and stalled.closing
        total = await burst(hub, sent, 100)

        slow.transport.resume_reading()
        slow_reader = Reader(slow)
        async with asyncio.timeout(8):
            await slow_reader.task
        assert slow.close_code == SLOW_CLIENT == 1008
        assert "too slow" in slow.close_reason
        assert f"limit {LIMIT}" in slow.close_reason
        assert slow_reader.closed_by is not None and slow_reader.closed_by.rcvd.code == 1008
        # It got, in order, exactly the messages handed to it before the close.
        assert slow_reader.messages == [numbered(i) for i in range(stalled.sent)]
        await wait_until(lambda: hub.count == 1)
        assert await reader.wait_for(total) == [numbered(i) for i in range(total)]


async def test_stalled_client_that_never_reads_is_disconnected_within_close_timeout():
    """A closed slow client that never reads again is dropped once close_timeout passes.

    Otherwise it stays a member (and keeps its buffer and its handler) for as
    long as its peer keeps the TCP connection open.
    """
    close_timeout = 0.5
    hub, server = await bounded_hub(close_timeout=close_timeout)
    async with wsnb.connect(server) as healthy, stalled_client(server.port) as sock:
        reader = Reader(healthy)
        port = sock.getsockname()[1]
        await wait_until(lambda: hub.count == 2)
        stalled = member_on_port(hub, port)
        sent = await burst(hub, 0, MAX_BURST, stop=lambda: hub.slow_closed > 0)
        assert stalled.closing
        await wait_until(lambda: member_on_port(hub, port) is None, timeout=close_timeout + 3)
        assert hub.count == 1
        assert await reader.wait_for(sent) == [numbered(i) for i in range(sent)]


# Slow clients: the "drop" policy


async def test_drop_policy_keeps_the_client_and_resumes_with_a_gap():
    """'drop': the stalled client stays and its dropped grows; reading again, it gets more."""
    hub, server = await bounded_hub(slow_clients="drop")
    async with wsnb.connect(server) as healthy, wsnb.connect(server) as slow:
        slow.transport.pause_reading()
        reader = Reader(healthy)
        await wait_until(lambda: hub.count == 2)
        stalled = member(hub, slow)
        sent = await burst(hub, 0, MAX_BURST, stop=lambda: stalled.dropped >= 50)
        dropped = stalled.dropped
        assert dropped >= 50
        sent = await burst(hub, sent, 200)
        assert stalled.dropped > dropped
        assert stalled.sent + stalled.dropped == sent
        assert stalled.closing is False
        assert hub.slow_closed == 0
        assert hub.count == 2
        assert slow.protocol.state is State.OPEN
        assert stalled.connection.protocol.state is State.OPEN

        slow.transport.resume_reading()
        slow_reader = Reader(slow)
        await slow_reader.wait_for(stalled.sent)  # it has caught up with its backlog
        await wait_until(lambda: stalled.buffered <= LIMIT)
        total = await burst(hub, sent, 100)
        await slow_reader.wait_for(stalled.sent)
        assert stalled.sent + stalled.dropped == total

        numbers = [int(m[:8]) for m in slow_reader.messages]
        assert numbers == sorted(set(numbers))  # in order, no duplicates
        assert numbers[0] == 0
        assert numbers[-1] == total - 1  # a message sent after it caught up
        assert len(numbers) == stalled.sent
        assert total - len(numbers) == stalled.dropped > 0  # the gap
        assert all(m == numbered(n) for m, n in zip(slow_reader.messages, numbers, strict=True))
        assert await reader.wait_for(total) == [numbered(i) for i in range(total)]
        assert member(hub, healthy).dropped == 0
