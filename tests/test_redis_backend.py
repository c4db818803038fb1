"""wsnb.RedisBackend on a real Redis-protocol server, driven directly with a recording sink.

Each test has its own key prefix (``redis_prefix``) on the session's server
(``redis_url``); two backends on one prefix are two processes ("nodes")
sharing rooms. The restart tests start their own server, with and without the
append-only file.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from helpers import ROOT, free_port, wait_until

import wsnb
from wsnb.backend import RemoteMember, RoomsBackend
from wsnb.redis_backend import RedisBackend


class Sink:
    """A BackendSink that records every call, and checks the room was watched first."""

    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[str, int, str]]] = {}
        self.events: list[tuple[str, str, RemoteMember]] = []
        self.resyncs = 0
        self.watched: set[str] = set()
        """Rooms whose watch() returned (the test adds them): calls before are a bug."""
        self.early: list[str] = []
        self.fail = False

    def message(self, room: str, epoch: str, seq: int, data: str) -> None:
        if self.fail:
            raise ValueError("the sink fails")
        if room not in self.watched:
            self.early.append(room)
        self.messages.setdefault(room, []).append((epoch, seq, data))

    def presence(self, room: str, event: str, member: RemoteMember) -> None:
        if room not in self.watched:
            self.early.append(room)
        self.events.append((room, event, member))

    def resync(self) -> None:
        self.resyncs += 1

    def seqs(self, room: str) -> list[int]:
        return [seq for _, seq, _ in self.messages.get(room, [])]


class Node:
    """A started backend, its sink, and watch() that tells the sink when it returned."""

    def __init__(self, backend: RedisBackend, sink: Sink) -> None:
        self.backend = backend
        self.sink = sink

    async def watch(self, room: str) -> wsnb.backend.RoomSnapshot:
        snapshot = await self.backend.watch(room)
        self.sink.watched.add(room)
        return snapshot


MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(redis_url: str, redis_prefix: str) -> AsyncIterator[MakeNode]:
    """``await make_node(**options)``: a started RedisBackend on the test's prefix."""
    nodes: list[Node] = []

    async def make(url: str = redis_url, **options: Any) -> Node:
        sink = Sink()
        backend = RedisBackend(url, prefix=redis_prefix, **options)
        await backend.start(sink)
        node = Node(backend, sink)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        await node.backend.close()
        assert node.sink.early == [], "the sink heard of a room before its watch() returned"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    """A plain redis-py client on the session's server, to look at keys and kill clients."""
    plain = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield plain
    await plain.aclose()


def data(n: int, who: str = "ada") -> str:
    return json.dumps({"from": who, "body": n, "time": 0})


async def until_seqs(node: Node, room: str, check: Callable[[list[int]], bool]) -> None:
    """Wait until the seqs ``node``'s sink received in ``room`` pass ``check``."""
    await wait_until(lambda: check(node.sink.seqs(room)), f"{room} seqs on {node.backend.node}")


async def until_resyncs(node: Node, count: int) -> None:
    await wait_until(
        lambda: node.sink.resyncs == count, f"{count} resync(s) on {node.backend.node}"
    )


def test_it_is_a_rooms_backend() -> None:
    backend: RoomsBackend = RedisBackend("redis://127.0.0.1:1/0")
    assert len(backend.node) == 12 and backend.history_size == 1000


# Numbering --------------------------------------------------------------------------------


async def test_publish_numbers_1_2_3_in_one_epoch(make_node: MakeNode) -> None:
    node = await make_node()
    results = [await node.backend.publish("lobby", data(n)) for n in range(3)]
    assert [seq for _, seq in results] == [1, 2, 3]
    assert len({epoch for epoch, _ in results}) == 1
    assert len(results[0][0]) == 8


async def test_two_nodes_share_the_numbering(make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    assert a.backend.node != b.backend.node
    results = [await (a, b)[n % 2].backend.publish("lobby", data(n)) for n in range(4)]
    assert [seq for _, seq in results] == [1, 2, 3, 4]
    assert len({epoch for epoch, _ in results}) == 1
    assert (await b.backend.publish("other", data(0)))[1] == 1  # each room its own count


async def test_concurrent_publishes_are_contiguous_in_order_and_everywhere_once(
    make_node: MakeNode,
) -> None:
    a, b = await make_node(), await make_node()
    for node in (a, b):
        await node.watch("lobby")
    batches: list[int] = []
    for node in (a, b):
        real = node.backend._eval_many

        async def counted(name: str, calls: Any, real: Any = real) -> list[Any]:
            batches.append(len(calls))
            return list(await real(name, calls))

        node.backend._eval_many = counted  # type: ignore[method-assign]

    sent: dict[int, str] = {}

    async def publisher(task: int) -> list[int]:
        node = (a, b)[task % 2]
        seqs = []
        for n in range(20):
            text = data(task * 100 + n, who=f"task{task}")
            epoch, seq = await node.backend.publish("lobby", text)
            sent[seq] = text
            seqs.append(seq)
        return seqs

    per_task = await asyncio.gather(*(publisher(task) for task in range(50)))
    every = sorted(seq for seqs in per_task for seq in seqs)
    assert every == list(range(1, 1001))  # distinct and contiguous
    assert all(seqs == sorted(seqs) for seqs in per_task)  # each task's order kept
    assert len(batches) < 1000 / 5  # pipelined: many publishes per round trip
    for node in (a, b):
        await until_seqs(node, "lobby", lambda seqs: len(seqs) >= 1000)
        assert node.sink.seqs("lobby") == list(range(1, 1001))
        assert {seq: text for _, seq, text in node.sink.messages["lobby"]} == sent
        assert len({epoch for epoch, _, _ in node.sink.messages["lobby"]}) == 1


async def test_a_single_publish_is_one_pipeline(make_node: MakeNode) -> None:
    node = await make_node()
    batches: list[int] = []
    real = node.backend._eval_many

    async def counted(name: str, calls: Any) -> list[Any]:
        batches.append(len(calls))
        return list(await real(name, calls))

    node.backend._eval_many = counted  # type: ignore[method-assign]
    await node.backend.publish("lobby", data(1))
    await node.backend.publish("lobby", data(2))
    assert batches == [1, 1]


# History ----------------------------------------------------------------------------------


async def test_history_is_trimmed_exactly_and_since_returns_the_exact_range(
    make_node: MakeNode, client: Any, redis_prefix: str
) -> None:
    node = await make_node(history_size=5)
    texts = {n: data(n) for n in range(1, 13)}
    for n in range(1, 13):
        epoch, _ = await node.backend.publish("lobby", texts[n])
    assert await client.xlen(f"{redis_prefix}:{{lobby}}:hist") == 5
    found = await node.backend.since("lobby", 0)
    assert (found.epoch, found.last_seq, found.first_seq) == (epoch, 12, 8)
    assert found.messages == [(n, texts[n]) for n in range(8, 13)]
    assert (await node.backend.since("lobby", 9)).messages == [(n, texts[n]) for n in (10, 11, 12)]
    assert (await node.backend.since("lobby", 12)).messages == []
    assert (await node.backend.since("lobby", 99)).messages == []
    too_old = await node.backend.since("lobby", 3)  # the core says gap_too_old from first_seq
    assert too_old.first_seq == 8 and [seq for seq, _ in too_old.messages] == [8, 9, 10, 11, 12]


async def test_since_of_a_new_room_fixes_its_epoch_for_every_node(make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    found = await a.backend.since("new", 0)
    assert (found.last_seq, found.first_seq, found.messages) == (0, 1, [])
    assert (await b.backend.since("new", 0)).epoch == found.epoch
    assert await b.backend.publish("new", data(1)) == (found.epoch, 1)


async def test_snapshot_has_the_last_messages_and_every_nodes_members(
    make_node: MakeNode,
) -> None:
    a, b = await make_node(history_size=3), await make_node(history_size=3)
    empty = await a.watch("lobby")
    assert (empty.last_seq, empty.first_seq, empty.messages, empty.members) == (0, 1, [], [])
    ada = await a.backend.join("lobby", "ada")
    bob = await b.backend.join("lobby", "bob")
    for n in range(1, 6):
        epoch, _ = await b.backend.publish("lobby", data(n))
    snapshot = await b.watch("lobby")
    assert snapshot.epoch == empty.epoch == epoch
    assert (snapshot.last_seq, snapshot.first_seq) == (5, 3)
    assert snapshot.messages == [(n, data(n)) for n in (3, 4, 5)]
    assert snapshot.members == [
        RemoteMember(ada, "ada", a.backend.node),
        RemoteMember(bob, "bob", b.backend.node),
    ]


async def race(a: Node, b: Node, room: str, before: int) -> None:
    """Publish on ``a`` without a pause while ``b`` watches ``room``: nothing missed."""
    stop = asyncio.Event()
    published: list[int] = []

    async def publish_until_stopped() -> None:
        while not stop.is_set():
            results = await asyncio.gather(*(a.backend.publish(room, data(n)) for n in range(3)))
            published.extend(seq for _, seq in results)

    publishing = asyncio.create_task(publish_until_stopped())
    await wait_until(lambda: len(published) >= before)
    snapshot = await b.watch(room)
    await until_seqs(b, room, lambda seqs: len(seqs) >= 20)
    stop.set()
    await publishing
    last = max(published)
    await until_seqs(b, room, lambda seqs: seqs[-1:] == [last])
    live = b.sink.seqs(room)
    assert live == sorted(set(live))  # in order, each once
    assert live[0] <= snapshot.last_seq + 1  # nothing missing between snapshot and live
    assert set(range(snapshot.last_seq + 1, last + 1)) <= set(live)
    assert [seq for seq, _ in snapshot.messages] == list(range(1, snapshot.last_seq + 1))


async def test_watch_races_with_publishes_and_misses_nothing(make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    for round_ in range(5):
        await race(a, b, f"race{round_}", before=10 + round_ * 7)


async def test_a_feed_dropped_during_watch_reads_the_snapshot_again(
    make_node: MakeNode, client: Any
) -> None:
    a, b = await make_node(), await make_node()
    backend = b.backend
    real = backend._snapshot
    reads: list[int] = []

    async def dropping(room: str) -> Any:
        snapshot = await real(room)
        reads.append(snapshot.last_seq)
        if len(reads) == 1:  # the feed drops after the read: what follows may be lost live
            await client.client_kill_filter(_type="pubsub")
            await wait_until(lambda: not backend._feed_up, "b saw the drop")
            await a.backend.publish("lobby", data(1))
        return snapshot

    backend._snapshot = dropping  # type: ignore[method-assign]
    snapshot = await b.watch("lobby")
    assert reads == [0, 1] and snapshot.last_seq == 1
    await a.backend.publish("lobby", data(2))
    await until_seqs(b, "lobby", lambda seqs: seqs[-1:] == [2])


async def test_watching_twice_is_harmless_and_unwatch_stops_events(make_node: MakeNode) -> None:
    node = await make_node()
    await node.watch("lobby")
    again = await node.watch("lobby")
    await node.backend.publish("lobby", data(1))
    await wait_until(lambda: node.sink.seqs("lobby") == [1])
    assert again.last_seq == 0
    await node.backend.unwatch("lobby")
    await node.backend.unwatch("lobby")  # not watched: nothing
    await node.backend.publish("lobby", data(2))
    await node.watch("other")
    await node.backend.publish("other", data(1))
    await wait_until(lambda: node.sink.seqs("other") == [1])
    assert node.sink.seqs("lobby") == [1]  # seq 2 came after unwatch


async def test_forget_starts_a_new_epoch_and_seq_restarts_at_1(make_node: MakeNode) -> None:
    node = await make_node()
    for n in range(3):
        old, _ = await node.backend.publish("lobby", data(n))
    new = await node.backend.forget("lobby")
    assert new != old and len(new) == 8
    found = await node.backend.since("lobby", 0)
    assert (found.epoch, found.last_seq, found.first_seq, found.messages) == (new, 0, 1, [])
    assert await node.backend.publish("lobby", data(9)) == (new, 1)


async def test_a_stream_ahead_of_its_meta_hash_starts_a_new_epoch(
    make_node: MakeNode, client: Any, redis_prefix: str
) -> None:
    node = await make_node()
    for n in range(5):
        old, _ = await node.backend.publish("lobby", data(n))
    meta = f"{redis_prefix}:{{lobby}}:meta"
    await client.hset(meta, "s", 2)  # the meta hash lost writes the stream kept
    new, seq = await node.backend.publish("lobby", data(9))
    assert new != old and seq == 1  # not seq 3 again under the old epoch
    assert (await node.backend.since("lobby", 0)).messages == [(1, data(9))]
    await client.delete(meta)  # and a meta hash lost altogether: the stream is dropped
    found = await node.backend.since("lobby", 0)
    assert found.epoch not in (old, new) and (found.last_seq, found.messages) == (0, [])


# Redis restarts ---------------------------------------------------------------------------


async def test_a_restart_with_the_append_only_file_keeps_epoch_seq_and_history(
    tmp_path: Path,
) -> None:
    server = wsnb.redis_server(directory=tmp_path / "redis")
    sink = Sink()
    backend = RedisBackend(server.url, prefix="restart")
    try:
        await backend.start(sink)
        await backend.watch("lobby")
        sink.watched.add("lobby")
        for n in range(1, 4):
            epoch, _ = await backend.publish("lobby", data(n))
        server.restart()
        assert await backend.publish("lobby", data(4)) == (epoch, 4)
        await wait_until(lambda: sink.resyncs == 1, "the feed came back")
        server.kill()  # a crash: every acknowledged write was fsynced
        server.restart()
        assert await backend.publish("lobby", data(5)) == (epoch, 5)
        found = await backend.since("lobby", 0)
        assert (found.epoch, found.last_seq, found.first_seq) == (epoch, 5, 1)
        assert found.messages == [(n, data(n)) for n in range(1, 6)]
        await wait_until(lambda: sink.resyncs == 2, "the feed came back again")
        await wait_until(lambda: sink.seqs("lobby")[-1:] == [5])
    finally:
        await backend.close()
        server.stop()


async def test_a_restart_without_the_append_only_file_changes_the_epoch() -> None:
    server = wsnb.redis_server(appendonly=False)
    backend = RedisBackend(server.url, prefix="lost")
    try:
        await backend.start(Sink())
        for n in range(3):
            old, _ = await backend.publish("lobby", data(n))
            await backend.publish("quiet", data(n))
        server.restart()
        new, seq = await backend.publish("lobby", data(9))
        assert new != old and seq == 1  # never the old epoch with a reused seq
        found = await backend.since("quiet", 0)
        assert found.epoch != old and (found.last_seq, found.messages) == (0, [])
    finally:
        await backend.close()
        server.stop()


# The live feed ----------------------------------------------------------------------------


async def test_a_dropped_feed_reconnects_resubscribes_and_resyncs_once(
    make_node: MakeNode, client: Any
) -> None:
    a, b = await make_node(), await make_node()
    for node in (a, b):
        await node.watch("lobby")
    await a.backend.publish("lobby", data(1))
    await wait_until(lambda: b.sink.seqs("lobby") == [1])
    assert await client.client_kill_filter(_type="pubsub") >= 2
    for node in (a, b):
        await until_resyncs(node, 1)
    await a.backend.publish("lobby", data(2))
    for node in (a, b):
        await until_seqs(node, "lobby", lambda seqs: seqs[-1:] == [2])
    await asyncio.sleep(0.1)
    assert a.sink.resyncs == b.sink.resyncs == 1


async def test_foreign_publishes_on_a_rooms_channel_are_ignored(
    make_node: MakeNode, client: Any, redis_prefix: str
) -> None:
    node = await make_node()
    await node.watch("lobby")
    for junk in ("", "m", "mx:y:z", "hello", "pjoin\tnode"):
        await client.publish(f"{redis_prefix}:{{lobby}}:ch", junk)
    await node.backend.publish("lobby", data(1))
    await until_seqs(node, "lobby", lambda seqs: seqs == [1])
    assert node.sink.resyncs == 0 and node.backend.error is None and node.sink.events == []


async def test_a_wedged_feed_is_dropped_and_resynced(make_node: MakeNode, client: Any) -> None:
    node = await make_node(node_ttl=0.3)  # pings its feed every 0.1 s
    await node.watch("lobby")
    await client.execute_command("CLIENT", "PAUSE", 400, "ALL")  # no reply, no PONG
    await wait_until(lambda: node.sink.resyncs == 1, "resync after the wedged feed", timeout=3)
    await node.backend.publish("lobby", data(1))
    await wait_until(lambda: node.sink.seqs("lobby") == [1])


async def test_a_watch_while_the_feed_is_down_waits_for_it(
    make_node: MakeNode, client: Any
) -> None:
    node = await make_node()
    await client.client_kill_filter(_type="pubsub")
    snapshot = await node.watch("lobby")
    await node.backend.publish("lobby", data(1))
    await wait_until(lambda: node.sink.seqs("lobby") == [1])
    assert snapshot.last_seq == 0


# Presence ---------------------------------------------------------------------------------


async def test_presence_goes_to_the_other_nodes_only(make_node: MakeNode) -> None:
    a, b = await make_node(), await make_node()
    for node in (a, b):
        await node.watch("lobby")
    ada = await a.backend.join("lobby", "ada")
    bob = await b.backend.join("lobby", "bob")
    carol = await a.backend.join("lobby", "carol")
    assert ada < bob < carol
    await a.backend.rename("lobby", ada, "ada lovelace")
    await a.backend.leave("lobby", carol)
    node_a = a.backend.node
    expected = [
        ("lobby", "join", RemoteMember(ada, "ada", node_a)),
        ("lobby", "join", RemoteMember(carol, "carol", node_a)),
        ("lobby", "rename", RemoteMember(ada, "ada lovelace", node_a)),
        ("lobby", "leave", RemoteMember(carol, "carol", node_a)),
    ]
    await wait_until(lambda: len(b.sink.events) == 4)
    assert b.sink.events == expected
    await wait_until(lambda: len(a.sink.events) == 1)
    assert a.sink.events == [("lobby", "join", RemoteMember(bob, "bob", b.backend.node))]
    snapshot = await b.watch("lobby")
    assert snapshot.members == [
        RemoteMember(ada, "ada lovelace", node_a),
        RemoteMember(bob, "bob", b.backend.node),
    ]


async def test_close_makes_its_members_leave_at_once(
    make_node: MakeNode, client: Any, redis_prefix: str
) -> None:
    a, b = await make_node(), await make_node()
    for room in ("lobby", "kitchen"):
        await b.watch(room)
    ids = [
        await a.backend.join("lobby", "ada"),
        await a.backend.join("lobby", "grace"),
        await a.backend.join("kitchen", "ada"),
    ]
    bob = await b.backend.join("lobby", "bob")
    await wait_until(lambda: len(b.sink.events) == 3)
    await a.backend.close()
    await a.backend.close()  # idempotent
    await wait_until(
        lambda: len(b.sink.events) == 6, "leaves at once (node_ttl is 15 s)", timeout=1
    )
    leaves = {(room, m.id) for room, event, m in b.sink.events[3:] if event == "leave"}
    assert leaves == {("lobby", ids[0]), ("lobby", ids[1]), ("kitchen", ids[2])}
    assert await client.hgetall(f"{redis_prefix}:{{lobby}}:members") == {
        str(bob): f"{b.backend.node}\tbob"
    }
    assert await client.smembers(f"{redis_prefix}:nodes") == {b.backend.node}
    node_keys = await client.keys(f"{redis_prefix}:node:{a.backend.node}*")
    assert node_keys == []
    with pytest.raises(RuntimeError, match="closed"):
        await a.backend.publish("lobby", data(1))


async def test_a_node_that_stops_beating_is_swept_and_can_come_back(
    make_node: MakeNode, client: Any, redis_prefix: str
) -> None:
    a, b = await make_node(node_ttl=0.3), await make_node(node_ttl=0.3)
    await b.watch("lobby")
    ada = await a.backend.join("lobby", "ada")
    bob = await b.backend.join("lobby", "bob")
    await wait_until(lambda: len(b.sink.events) == 1)
    a.backend._stop_heartbeat()  # as if it hung or was killed: it never closes
    stopped = time.monotonic()
    await wait_until(lambda: len(b.sink.events) == 2, "swept", timeout=2)
    assert time.monotonic() - stopped < 1.0  # node_ttl + node_ttl/3 (0.4 s) and some slack
    assert b.sink.events[1] == ("lobby", "leave", RemoteMember(ada, "ada", a.backend.node))
    members = f"{redis_prefix}:{{lobby}}:members"
    assert await client.hkeys(members) == [str(bob)]
    for _ in range(100):  # the sweep forgets the node after its rooms
        if a.backend.node not in await client.smembers(f"{redis_prefix}:nodes"):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the swept node is still in p:nodes")
    # It was only paused: its next heartbeat finds it expired and announces its members again.
    await a.backend._beat()
    await wait_until(lambda: len(b.sink.events) == 3)
    assert b.sink.events[2] == ("lobby", "join", RemoteMember(ada, "ada", a.backend.node))
    assert sorted(await client.hkeys(members)) == sorted([str(ada), str(bob)])
    assert await b.backend.join("lobby", "carol") > max(ada, bob)


# Errors -----------------------------------------------------------------------------------


async def test_an_unreachable_server_is_a_clear_error_naming_the_url() -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    backend = RedisBackend(url, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(
        ConnectionError, match=r"cannot reach Redis at redis://\*\*\*@127"
    ) as caught:
        await backend.start(Sink())
    assert "secret" not in str(caught.value)
    assert time.monotonic() - started < 3


def test_without_redis_py_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'wsnb\[redis\]'"):
        RedisBackend("redis://127.0.0.1:6379/0")


def test_importing_wsnb_does_not_import_redis() -> None:
    code = "import sys, wsnb, wsnb.redis_backend; print('redis' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"


async def test_a_failing_sink_is_kept_and_raised_by_close(make_node: MakeNode) -> None:
    node = await make_node()
    await node.watch("lobby")
    node.sink.fail = True
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))
    try:
        await node.backend.publish("lobby", data(1))
        await wait_until(lambda: node.backend.error is not None)
    finally:
        loop.set_exception_handler(None)
    assert isinstance(reported[0]["exception"], ValueError)
    with pytest.raises(ValueError, match="the sink fails"):
        await node.backend.close()
    await node.backend.close()  # raised once


async def test_a_given_client_is_used_even_without_decoded_replies_and_left_open(
    make_node: MakeNode, redis_url: str, redis_prefix: str
) -> None:
    raw = redis.asyncio.Redis.from_url(redis_url)  # replies as bytes
    other = await make_node()
    sink = Sink()
    backend = RedisBackend(redis_url, prefix=redis_prefix, client=raw)
    try:
        await backend.start(sink)
        bob = await other.backend.join("lobby", "bob")
        snapshot = await backend.watch("lobby")
        sink.watched.add("lobby")
        assert snapshot.members == [RemoteMember(bob, "bob", other.backend.node)]
        epoch, seq = await backend.publish("lobby", data(1))
        assert isinstance(epoch, str) and seq == 1
        assert (await backend.since("lobby", 0)).messages == [(1, data(1))]
        await other.backend.rename("lobby", bob, "robert")
        await wait_until(lambda: len(sink.events) == 1 and sink.seqs("lobby") == [1])
        assert sink.events == [("lobby", "rename", RemoteMember(bob, "robert", other.backend.node))]
        assert await backend.join("lobby", "ada") == bob + 1
    finally:
        await backend.close()
    assert await raw.ping()  # still open: it is the caller's
    await raw.aclose()


async def test_close_returns_even_when_a_cancel_lands_on_a_reply(
    redis_url: str, redis_prefix: str
) -> None:
    """Python 3.11 can lose a task.cancel() that lands as a redis-py reply arrives (the
    asyncio.wait_for race, cpython gh-86296); with a heartbeat every 2 ms, a quarter of
    closes hung for ever before close() cancelled again."""
    for _ in range(30):
        backend = wsnb.RedisBackend(redis_url, prefix=redis_prefix, node_ttl=0.006)
        await backend.start(Sink())
        await asyncio.sleep(0.01)
        async with asyncio.timeout(5):
            await backend.close()
