"""Rooms shared by several servers through a real Redis-protocol server (issue 11).

Two (or three) ``wsnb.serve(wsnb.Rooms(backend=wsnb.RedisBackend(url)))`` in this
loop play the processes; their clients are plain ``RoomsClient``s and
``Subscriber``s, as users have. The server is Valkey or Redis, started by
``wsnb.redis_server()`` (tests/redis_helpers.py); each test has its own key
prefix.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import wsnb

pytest.importorskip("redis", reason="pip install -e '.[test]' brings redis-py")

Node = tuple[wsnb.Rooms, wsnb.Server]
MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def node(redis_url: str, redis_prefix: str) -> AsyncIterator[MakeNode]:
    """``await node()``: one more server process sharing the test's rooms."""
    started: list[wsnb.Server] = []

    async def make(url: str = redis_url, **options: Any) -> Node:
        backend = wsnb.RedisBackend(url, prefix=redis_prefix, **options)
        rooms = wsnb.Rooms(backend=backend)
        server = await wsnb.serve(rooms, name=f"node{len(started)}")
        started.append(server)
        return rooms, server

    yield make
    for server in started:
        await server.stop()


async def events_until(
    client: wsnb.RoomsClient, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(seen):
            seen.append(await client.next_event())
    return seen


def joined_names(event: dict[str, Any]) -> list[str]:
    if event["type"] != "presence":
        return []
    return [m["name"] for m in event["data"]["joined"]]


def messages(events: list[dict[str, Any]]) -> list[Any]:
    return [e["data"]["body"] for e in events if e["type"] == "message"]


async def test_a_message_published_on_one_server_reaches_members_on_both_in_order(
    node: MakeNode, open_client: Any
) -> None:
    (_, a), (_, b) = await node(), await node()
    ada, bob = await open_client(a, "ada"), await open_client(b, "bob")
    reply_a, reply_b = await ada.join("lobby"), await bob.join("lobby")
    assert reply_a["epoch"] == reply_b["epoch"]
    seqs = [await ada.publish("lobby", n) for n in range(20)]
    assert seqs == list(range(reply_a["seq"] + 1, reply_a["seq"] + 21))
    for client in (ada, bob):
        got = await events_until(client, lambda e: len(messages(e)) == 20)
        assert messages(got) == list(range(20))
        assert [e["seq"] for e in got if e["type"] == "message"] == seqs


async def test_members_of_every_server_are_in_the_list_and_the_count(
    node: MakeNode, open_client: Any
) -> None:
    (_, a), (_, b) = await node(), await node()
    ada = await open_client(a, "ada")
    await ada.join("lobby")
    bob = await open_client(b, "bob")
    reply = await bob.join("lobby")
    assert reply["count"] == 2
    assert [m["name"] for m in reply["members"]] == ["ada", "bob"]
    told = await events_until(ada, lambda e: bool(e) and "bob" in joined_names(e[-1]))
    assert told[-1]["data"]["count"] == 2  # bob's join, maybe with ada's own in one tick
    assert {"id": reply["you"], "name": "bob"} in told[-1]["data"]["joined"]
    await bob.close()
    left = await events_until(ada, lambda e: any(x["type"] == "presence" for x in e))
    assert left[-1]["data"]["left"] == [{"id": reply["you"], "name": "bob"}]
    assert left[-1]["data"]["count"] == 1


async def test_a_join_during_a_stream_of_publishes_neither_loses_nor_doubles(
    node: MakeNode, open_client: Any
) -> None:
    (_, a), (_, b) = await node(), await node()
    ada = await open_client(a, "ada")
    await ada.join("lobby")
    stop = asyncio.Event()

    async def publish() -> None:
        n = 0
        while not stop.is_set():
            await ada.publish("lobby", n, reply=False)
            n += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(publish())
    await asyncio.sleep(0.05)
    late = await open_client(b, "late")
    reply = await late.join("lobby", history=1000)
    await asyncio.sleep(0.05)
    stop.set()
    await task
    last = await ada.publish("lobby", "end")
    seen = [m["seq"] for m in reply["history"]]
    live = await events_until(late, lambda e: any(m.get("seq") == last for m in e))
    seen += [m["seq"] for m in live if m["type"] == "message"]
    assert seen == list(range(seen[0], last + 1))  # every seq once, in order


async def test_a_subscriber_resumes_on_another_server_exactly_once(
    node: MakeNode, open_client: Any
) -> None:
    (_, a), (_, b) = await node(), await node()
    sub = await wsnb.subscribe([a, b], ["lobby"], name="sub")
    pub = await open_client(b, "pub")
    await pub.join("lobby")
    for n in range(5):
        await pub.publish("lobby", n)
    await a.stop()  # the subscriber's server goes away; it reconnects to b
    for n in range(5, 10):
        await pub.publish("lobby", n)
    got = [await sub.next_event(timeout=5) for _ in range(10)]
    assert [e["data"]["body"] for e in got] == list(range(10))
    assert sub.url == b.url and sub.stats.reconnects == 1
    await sub.close()


async def test_history_survives_every_server_s_restart(node: MakeNode, open_client: Any) -> None:
    rooms, a = await node()
    ada = await open_client(a, "ada")
    joined = await ada.join("lobby")
    for n in range(3):
        await ada.publish("lobby", n)
    await ada.close()
    await a.stop()
    _, again = await node()
    bob = await open_client(again, "bob")
    reply = await bob.join("lobby", since={"epoch": joined["epoch"], "seq": joined["seq"] + 1})
    assert reply["recovered"] is True and reply["epoch"] == joined["epoch"]
    assert [m["data"]["body"] for m in reply["history"]] == [1, 2]


async def test_redis_restarted_with_aof_keeps_the_epoch_and_without_it_says_so(
    tmp_path: Path, redis_prefix: str, open_client: Any
) -> None:
    for appendonly in (True, False):
        redis = wsnb.redis_server(directory=tmp_path / str(appendonly), appendonly=appendonly)
        try:
            rooms = wsnb.Rooms(backend=wsnb.RedisBackend(redis.url, prefix=redis_prefix))
            server = await wsnb.serve(rooms)
            ada = await open_client(server, "ada")
            joined = await ada.join("lobby")
            await ada.publish("lobby", "kept?")
            others = [await open_client(server, f"c{n}") for n in range(10)]
            redis.restart()  # and resumes at once: the copy here may not know yet
            since = {"epoch": joined["epoch"], "seq": joined["seq"]}
            replies = await asyncio.gather(*(c.join("lobby", since=since) for c in others))
            for reply in replies:
                if appendonly:
                    assert reply["recovered"] is True
                    assert [m["data"]["body"] for m in reply["history"]] == ["kept?"]
                else:  # never the old epoch's messages as if nothing had happened
                    assert reply["recovered"] is False and reply["reason"] == "epoch_changed"
            await server.stop()
        finally:
            redis.stop()


async def test_an_unreachable_redis_fails_serve_with_the_url(tmp_path: Path) -> None:
    rooms = wsnb.Rooms(backend=wsnb.RedisBackend("redis://127.0.0.1:9/0"))
    with pytest.raises(Exception, match="127.0.0.1:9"):
        await wsnb.serve(rooms)
    assert wsnb.running_servers() == []


async def test_server_side_publish_is_numbered_by_the_backend(
    node: MakeNode, open_client: Any
) -> None:
    (rooms, _), (_, b) = await node(), await node()
    bob = await open_client(b, "bob")
    await bob.join("lobby")
    seq = await rooms.publish_shared("lobby", "from the server")
    event = await events_until(bob, lambda e: bool(messages(e)))
    assert messages(event) == ["from the server"] and event[-1]["seq"] == seq
    with pytest.raises(wsnb.WsnbError, match="publish_shared"):
        rooms.publish("lobby", "sync")


NODE_SCRIPT = """
import asyncio, sys, wsnb
async def main():
    backend = wsnb.RedisBackend(sys.argv[1], prefix=sys.argv[2], node_ttl=float(sys.argv[3]))
    server = await wsnb.serve(wsnb.Rooms(backend=backend))
    print(server.port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def test_a_killed_server_s_members_leave_within_the_heartbeat_ttl(
    redis_url: str, redis_prefix: str, node: MakeNode, open_client: Any
) -> None:
    """kill -9 of a server process: the others see its members leave, after node_ttl."""
    ttl = 1.0
    (_, a) = await node(node_ttl=ttl)
    child = subprocess.Popen(
        [sys.executable, "-c", NODE_SCRIPT, redis_url, redis_prefix, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(await asyncio.to_thread(child.stdout.readline))
        doomed = await open_client(f"ws://127.0.0.1:{port}", "doomed")
        gone = (await doomed.join("lobby"))["you"]
        ada = await open_client(a, "ada")
        assert (await ada.join("lobby"))["count"] == 2
        child.kill()
        killed = time.monotonic()

        def left(events: list[dict[str, Any]]) -> bool:
            return any(m["id"] == gone for e in events[-1:] for m in e["data"].get("left", []))

        await events_until(ada, left, timeout=ttl * 3 + 2)
        took = time.monotonic() - killed
        assert ttl * 0.9 <= took <= ttl * 2 + 1.5  # expiry, then a sweep of every ttl/3
        assert (await ada.member_list("lobby")) == [{"id": 2, "name": "ada"}]
    finally:
        child.kill()
        child.wait()


async def test_messages_published_while_a_server_s_feed_was_down_are_delivered_in_order(
    redis_url: str, node: MakeNode, open_client: Any
) -> None:
    import redis.asyncio as aioredis

    (_, a), (_, b) = await node(), await node()
    ada, bob = await open_client(a, "ada"), await open_client(b, "bob")
    await ada.join("lobby")
    await bob.join("lobby")
    admin = aioredis.from_url(redis_url)
    try:
        await admin.client_kill_filter(_type="pubsub")  # every server's feed drops
        seqs = [await bob.publish("lobby", n) for n in range(30)]
    finally:
        await admin.aclose()
    got = await events_until(ada, lambda e: len(messages(e)) == 30)
    assert messages(got) == list(range(30))
    assert [e["seq"] for e in got if e["type"] == "message"] == seqs


async def test_the_room_seen_from_a_cell_lists_every_server_s_members(
    node: MakeNode, open_client: Any
) -> None:
    (rooms_a, a), (_, b) = await node(), await node()
    ada, bob = await open_client(a, "ada"), await open_client(b, "bob")
    await ada.join("lobby")
    await bob.join("lobby")
    await events_until(ada, lambda e: any("bob" in joined_names(x) for x in e))
    view = rooms_a.room("lobby")
    assert view.members == ["ada", "bob"] and view.count == 2
    assert "bob" in view._repr_html_()
