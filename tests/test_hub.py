"""wsnb.Hub: membership, relay, broadcast, per-client stats and the slow-client bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import pytest
from helpers import stalled_client, wait_until
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


@contextlib.asynccontextmanager
async def connected(server, n, path=""):
    """``n`` clients of ``server``, closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(wsnb.connect(server.url + path)) for _ in range(n)]


def member(hub, ws):
    """The hub's record of the test's client ``ws`` (matched on the client's port)."""
    port = ws.local_address[1]
    (client,) = [c for c in hub.clients if c.connection.remote_address[1] == port]
    return client


def member_on_port(hub, port):
    clients = [c for c in hub.clients if c.connection.remote_address[1] == port]
    return clients[0] if clients else None


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


def named_handler(hub):
    """A user's handler: the first message is the client's name; then it chats."""

    async def chat(ws):
        name = await ws.recv()
        with hub.join(ws, name=name):
            await ws.send("joined")
            async for message in ws:
                hub.broadcast(message, exclude=ws)

    return chat


# The hub as the handler: membership and relay


async def test_hub_as_handler_counts_clients_in_join_order():
    """Each connected client is a member, in the order it joined; leaving lowers the count."""
    hub = wsnb.Hub()
    assert hub.count == 0 and hub.clients == []
    server = await wsnb.serve(hub, name="hub")
    async with wsnb.connect(server) as first:
        await wait_until(lambda: hub.count == 1)
        async with connected(server, 2) as others:
            await wait_until(lambda: hub.count == 3)
            ports = [c.connection.remote_address[1] for c in hub.clients]
            assert ports == [ws.local_address[1] for ws in [first, *others]]
            assert all(isinstance(c, wsnb.HubClient) and c.name is None for c in hub.clients)
        await wait_until(lambda: hub.count == 1)
        assert hub.clients[0].connection.remote_address[1] == first.local_address[1]
    await wait_until(lambda: hub.count == 0)


async def test_relay_reaches_every_other_client_but_not_the_sender():
    """With the hub as handler, a client's message goes to all the others, types kept."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    async with connected(server, 3) as (a, b, c):
        await wait_until(lambda: hub.count == 3)
        await a.send("hi from a")
        assert await b.recv() == "hi from a"
        assert await c.recv() == "hi from a"
        await b.send(b"\x00\xff")
        assert await c.recv() == b"\x00\xff"
        # Both relays happened before the clients above received them, so had the
        # sender been included, "hi from a" would come before the marker.
        hub.broadcast("marker")
        assert await a.recv() == b"\x00\xff"
        assert await a.recv() == "marker"
        assert await b.recv() == "marker"
        assert await c.recv() == "marker"


async def test_relay_false_relays_nothing():
    """Hub(relay=False) keeps clients as members but forwards none of their messages."""
    hub = wsnb.Hub(relay=False)
    server = await wsnb.serve(hub, name="hub")
    async with connected(server, 2) as (b, c):
        async with wsnb.connect(server) as a:
            await wait_until(lambda: hub.count == 3)
            await a.send("not for you")
            await a.send(b"nor this")
        # The handler consumed both messages before it let a leave the hub.
        await wait_until(lambda: hub.count == 2)
        assert hub.broadcast("marker") == 2
        assert await b.recv() == "marker"
        assert await c.recv() == "marker"


# A user's own handler joins the hub


async def test_own_handler_joins_with_a_name_and_leaves_on_disconnect():
    """hub.join(ws, name=...) shows the name in hub.clients; a disconnect, clean or not, leaves."""
    hub = wsnb.Hub()
    server = await wsnb.serve(named_handler(hub), name="chat")
    async with wsnb.connect(server) as alice:
        await alice.send("alice")
        assert await alice.recv() == "joined"
        async with wsnb.connect(server) as bob, wsnb.connect(server) as carol:
            await bob.send("bob")
            assert await bob.recv() == "joined"
            await carol.send("carol")
            assert await carol.recv() == "joined"
            assert [c.name for c in hub.clients] == ["alice", "bob", "carol"]
            assert member(hub, bob).name == "bob"

            await bob.send("hello")  # the handler excludes the sender
            assert await alice.recv() == "hello"
            assert await carol.recv() == "hello"

            await bob.close()
            await wait_until(lambda: hub.count == 2)
            assert [c.name for c in hub.clients] == ["alice", "carol"]

            carol.transport.abort()  # no closing handshake at all
            await wait_until(lambda: hub.count == 1)
            assert [c.name for c in hub.clients] == ["alice"]
    await wait_until(lambda: hub.count == 0)


async def test_join_yields_the_member_and_removes_it_after_the_block():
    """The with-block's HubClient is the one in hub.clients; after the block it is gone."""
    hub = wsnb.Hub()
    seen = []

    async def handler(ws):
        with hub.join(ws, name="x") as client:
            seen.append(client in hub.clients and client.connection is ws)
            await ws.send("in")
            await ws.recv()
        seen.append(hub.count)
        await ws.send("out")

    server = await wsnb.serve(handler)
    async with wsnb.connect(server) as ws:
        assert await ws.recv() == "in"
        await ws.send("leave")
        assert await ws.recv() == "out"
    assert seen == [True, 0]


# broadcast() from outside any handler


async def test_broadcast_from_outside_reaches_all_with_types_and_order():
    """hub.broadcast from the test: every client gets every message, str as str, bytes as bytes."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    messages = [f"t{i} ✓" if i % 2 else f"b{i}".encode() for i in range(500)]
    messages += ["", b""]
    async with connected(server, 3) as clients:
        await wait_until(lambda: hub.count == 3)
        assert [hub.broadcast(m) for m in messages] == [3] * len(messages)
        for ws in clients:
            received = [await ws.recv() for _ in messages]
            assert received == messages
            assert [type(m) for m in received] == [type(m) for m in messages]


async def test_broadcast_with_no_clients_reaches_nobody():
    """An empty hub accepts a broadcast and reports 0 recipients."""
    hub = wsnb.Hub()
    assert hub.broadcast("anyone?") == 0
    assert hub.broadcast_json({"n": 1}) == 0


async def test_broadcast_rejects_a_non_message():
    """A value that is neither str nor bytes is a TypeError, not a silent no-op."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    async with wsnb.connect(server):
        await wait_until(lambda: hub.count == 1)
        with pytest.raises(TypeError):
            hub.broadcast(42)


async def test_exclude_one_connection():
    """exclude=connection skips that client only."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    async with connected(server, 3) as (a, b, c):
        await wait_until(lambda: hub.count == 3)
        assert hub.broadcast("not a", exclude=member(hub, a).connection) == 2
        assert hub.broadcast("all") == 3
        assert await a.recv() == "all"
        assert [await b.recv(), await b.recv()] == ["not a", "all"]
        assert [await c.recv(), await c.recv()] == ["not a", "all"]


@pytest.mark.parametrize(
    "container", [list, set, tuple, iter], ids=["list", "set", "tuple", "iter"]
)
async def test_exclude_several_connections(container):
    """exclude accepts several connections in any iterable."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    async with connected(server, 4) as (a, b, c, d):
        await wait_until(lambda: hub.count == 4)
        skipped = container([member(hub, a).connection, member(hub, c).connection])
        assert hub.broadcast(b"only b and d", exclude=skipped) == 2
        assert hub.broadcast("all") == 4
        assert await a.recv() == "all"
        assert await c.recv() == "all"
        assert [await b.recv(), await b.recv()] == [b"only b and d", "all"]
        assert [await d.recv(), await d.recv()] == [b"only b and d", "all"]


async def test_exclude_everyone_reaches_nobody():
    """Excluding every member sends nothing and returns 0."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    async with connected(server, 2) as (a, b):
        await wait_until(lambda: hub.count == 2)
        assert hub.broadcast("none", exclude=[c.connection for c in hub.clients]) == 0
        assert hub.broadcast("all") == 2
        assert await a.recv() == "all"
        assert await b.recv() == "all"


async def test_broadcast_json_sends_the_same_compact_text_to_all():
    """broadcast_json: one compact JSON text, non-ASCII unescaped, that decodes to the data."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    data = {"text": "héllo ✓ 日本", "n": [1, 2.5], "ok": True, "none": None}
    expected = '{"text":"héllo ✓ 日本","n":[1,2.5],"ok":true,"none":null}'
    async with connected(server, 3) as (a, b, c):
        await wait_until(lambda: hub.count == 3)
        assert hub.broadcast_json(data) == 3
        for ws in (a, b, c):
            text = await ws.recv()
            assert type(text) is str
            assert text == expected
            assert json.loads(text) == data
        assert hub.broadcast_json([1], exclude=member(hub, b).connection) == 2
        assert await a.recv() == "[1]"
        assert await c.recv() == "[1]"


async def test_broadcast_json_refuses_what_json_cannot_encode():
    """A value JSON cannot represent raises TypeError before anything is sent."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    async with wsnb.connect(server) as ws:
        await wait_until(lambda: hub.count == 1)
        with pytest.raises(TypeError):
            hub.broadcast_json({"when": object()})
        assert member(hub, ws).sent == 0
        hub.broadcast_json({"ok": 1})
        assert await ws.recv() == '{"ok":1}'


# Per-client stats


async def test_client_stats():
    """sent counts what each got, dropped stays 0, buffered is small, connected_at and remote."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    before = time.time()
    async with connected(server, 2) as (a, b):
        await wait_until(lambda: hub.count == 2)
        after = time.time()
        for _ in range(10):
            hub.broadcast("x")
        hub.broadcast("y", exclude=member(hub, a).connection)
        for ws in (a, b):
            client = member(hub, ws)
            assert client.remote == f"127.0.0.1:{ws.local_address[1]}"
            assert before <= client.connected_at <= after
            assert client.dropped == 0
            assert client.closing is False
            assert type(client.buffered) is int and client.buffered >= 0
        assert member(hub, a).sent == 10
        assert member(hub, b).sent == 11
        assert [await b.recv() for _ in range(11)] == ["x"] * 10 + ["y"]
        await wait_until(lambda: member(hub, b).buffered == 0)
        assert "sent=11 dropped=0" in repr(member(hub, b))


# Disconnects in the middle of a burst


@pytest.mark.parametrize("how", ["abort", "close"])
async def test_disconnect_during_burst_never_raises_nor_logs(caplog, how):
    """A client leaving mid-burst: broadcast() keeps working, nothing logged, others get all."""
    caplog.set_level(logging.WARNING)
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
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
    hub = wsnb.Hub(max_buffered=LIMIT)
    assert hub.slow_clients == "close"
    server = await wsnb.serve(hub, name="hub")
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
    hub = wsnb.Hub(max_buffered=LIMIT)
    server = await wsnb.serve(hub, name="hub")
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
    hub = wsnb.Hub(max_buffered=LIMIT)
    server = await wsnb.serve(hub, name="hub", close_timeout=close_timeout)
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
    hub = wsnb.Hub(max_buffered=LIMIT, slow_clients="drop")
    server = await wsnb.serve(hub, name="hub")
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


# Display and validation


async def test_html_repr_is_a_table_of_clients_with_names_escaped():
    """_repr_html_ lists one row per client, and a client's name cannot inject markup."""
    hub = wsnb.Hub()
    server = await wsnb.serve(named_handler(hub), name="chat")
    evil = "<script>alert(1)</script>"
    async with wsnb.connect(server) as a, wsnb.connect(server) as b:
        await a.send(evil)
        assert await a.recv() == "joined"
        await b.send("bob & co")
        assert await b.recv() == "joined"
        html = hub._repr_html_()
        assert "<table>" in html and "</table>" in html
        assert html.count("<tr>") == 1 + 2  # the header row and one row per client
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>" not in html
        assert "bob &amp; co" in html
        for ws in (a, b):
            assert f"127.0.0.1:{ws.local_address[1]}" in html
        assert "open" in html


async def test_repr_shows_count_and_policy():
    """repr(hub) says how many clients there are and what happens to slow ones."""
    hub = wsnb.Hub()
    assert "0 clients" in repr(hub)
    assert "slow_clients='close'" in repr(hub)
    assert "'drop'" in repr(wsnb.Hub(slow_clients="drop"))
    server = await wsnb.serve(hub, name="hub")
    async with wsnb.connect(server):
        await wait_until(lambda: hub.count == 1)
        assert "1 client," in repr(hub)
        async with wsnb.connect(server):
            await wait_until(lambda: hub.count == 2)
            assert "2 clients" in repr(hub)


@pytest.mark.parametrize(
    "options",
    [{"slow_clients": "bogus"}, {"slow_clients": None}, {"max_buffered": -1}],
    ids=["bogus-policy", "no-policy", "negative-bound"],
)
def test_constructor_rejects_bad_options(options):
    """An unknown slow-client policy or a negative bound is a ValueError at once."""
    with pytest.raises(ValueError):
        wsnb.Hub(**options)


def test_constructor_defaults():
    """By default: 1 MiB bound, close slow clients, relay on."""
    hub = wsnb.Hub()
    assert (hub.max_buffered, hub.slow_clients, hub.relay, hub.slow_closed) == (
        2**20,
        "close",
        True,
        0,
    )
