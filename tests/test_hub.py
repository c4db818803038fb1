"""wsnb.Hub: membership, relay, broadcast, per-client stats and display.

Bursts, disconnects in the middle of one, and the slow-client bound (the
"close" and "drop" policies): test_hub_slow_clients.py.
"""

from __future__ import annotations

import json
import time

import pytest
from helpers import connected, member, wait_until

import wsnb


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


async def test_relay_reaches_every_other_client_but_not_the_sender(hub_server):
    """With the hub as handler, a client's message goes to all the others, types kept."""
    hub, server = hub_server
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


async def test_broadcast_from_outside_reaches_all_with_types_and_order(hub_server):
    """hub.broadcast from the test: every client gets every message, str as str, bytes as bytes."""
    hub, server = hub_server
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


async def test_broadcast_rejects_a_non_message(hub_server):
    """A value that is neither str nor bytes is a TypeError, not a silent no-op."""
    hub, server = hub_server
    async with wsnb.connect(server):
        await wait_until(lambda: hub.count == 1)
        with pytest.raises(TypeError):
            hub.broadcast(42)


async def test_exclude_one_connection(hub_server):
    """exclude=connection skips that client only."""
    hub, server = hub_server
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
async def test_exclude_several_connections(hub_server, container):
    """exclude accepts several connections in any iterable."""
    hub, server = hub_server
    async with connected(server, 4) as (a, b, c, d):
        await wait_until(lambda: hub.count == 4)
        skipped = container([member(hub, a).connection, member(hub, c).connection])
        assert hub.broadcast(b"only b and d", exclude=skipped) == 2
        assert hub.broadcast("all") == 4
        assert await a.recv() == "all"
        assert await c.recv() == "all"
        assert [await b.recv(), await b.recv()] == [b"only b and d", "all"]
        assert [await d.recv(), await d.recv()] == [b"only b and d", "all"]


async def test_exclude_everyone_reaches_nobody(hub_server):
    """Excluding every member sends nothing and returns 0."""
    hub, server = hub_server
    async with connected(server, 2) as (a, b):
        await wait_until(lambda: hub.count == 2)
        assert hub.broadcast("none", exclude=[c.connection for c in hub.clients]) == 0
        assert hub.broadcast("all") == 2
        assert await a.recv() == "all"
        assert await b.recv() == "all"


async def test_broadcast_json_sends_the_same_compact_text_to_all(hub_server):
    """broadcast_json: one compact JSON text, non-ASCII unescaped, that decodes to the data."""
    hub, server = hub_server
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


async def test_broadcast_json_refuses_what_json_cannot_encode(hub_server):
    """A value JSON cannot represent raises TypeError before anything is sent."""
    hub, server = hub_server
    async with wsnb.connect(server) as ws:
        await wait_until(lambda: hub.count == 1)
        with pytest.raises(TypeError):
            hub.broadcast_json({"when": object()})
        assert member(hub, ws).sent == 0
        hub.broadcast_json({"ok": 1})
        assert await ws.recv() == '{"ok":1}'


# Per-client stats


async def test_client_stats(hub_server):
    """sent counts what each got, dropped stays 0, buffered is small, connected_at and remote."""
    hub, server = hub_server
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
