"""Publishing exactly once (docs/protocol.md, "publish" with ``idempotency_key``), in
memory and on Redis: a publish sent again with its key is answered with the first
one's seq and not published twice; the Subscriber sends every retry with its key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import wsnb
from wsnb.core.idempotency import RecentKeys
from wsnb.core.pages import Outgoing
from wsnb.core.rooms import RoomsCore


def test_the_core_answers_a_repeated_key_with_the_first_seq() -> None:
    core: RoomsCore[str] = RoomsCore(clock=lambda: 0.0)
    core.connect("a", "ada")
    core.receive("a", '{"type": "join", "room": "lobby"}')
    publish = '{"type": "publish", "room": "%s", "data": {"body": "hi", "idempotency_key": "k1"}}'
    first = core.receive("a", publish % "lobby")
    again = core.receive("a", publish % "lobby")
    assert [o.message["type"] for o in first] == ["reply", "message"]
    assert [o.message for o in again] == [
        {"type": "reply", "re": "publish", "data": {"room": "lobby", "seq": 1, "duplicate": True}}
    ]
    core.receive("a", '{"type": "join", "room": "news"}')
    assert core.receive("a", publish % "news")[0].message["data"] == {"room": "news", "seq": 1}
    core.forget_history()  # a new epoch: the key's message is gone, so is the key's meaning
    assert "duplicate" not in core.receive("a", publish % "lobby")[0].message["data"]


@pytest.mark.parametrize(
    ("key", "code"), [(3, "wrong_type"), ("", "invalid_value"), ("x" * 65, "too_long")]
)
def test_a_bad_key_is_refused_and_nothing_is_published(key: object, code: str) -> None:
    import json

    core: RoomsCore[str] = RoomsCore()
    core.connect("a", "ada")
    core.receive("a", '{"type": "join", "room": "lobby"}')
    request = {"type": "publish", "room": "lobby", "data": {"body": 1, "idempotency_key": key}}
    (error,) = core.receive("a", json.dumps(request))
    assert error.message["code"] == code and error.message["path"] == "data.idempotency_key"
    assert core.room("lobby").history.last_seq == 0


def test_recent_keys_stay_within_their_bound() -> None:
    keys = RecentKeys(window=60, max_keys=3, clock=lambda: 0.0)
    for n in range(5):
        keys.put("lobby", f"k{n}", "e", n + 1)
    assert len(keys) == 3 and keys.get("lobby", "k0", "e") is None
    assert keys.get("lobby", "k4", "e") == 5


class DropsFirstPublishReply(wsnb.Rooms):
    """Rooms that publish the first keyed message, then cut its publisher off before the
    reply goes out: the publisher cannot know it was published, as after a real drop."""

    dropped = 0

    def _send(self, outgoing: list[Outgoing[Any]]) -> None:
        kept = []
        for out in outgoing:
            if self.dropped == 0 and '"re":"publish"' in out.text:
                self.dropped += 1
                for connection in out.to:
                    connection.transport.abort()
            else:
                kept.append(out)
        super()._send(kept)


Backend = Callable[[], "wsnb.RedisBackend | None"]


@pytest.fixture(params=["memory", "redis"])
async def make_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield lambda: None
        return
    pytest.importorskip("redis")
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    yield lambda: wsnb.RedisBackend(url, prefix=prefix)


async def test_a_publish_retried_across_a_drop_is_published_once(
    make_backend: Backend, open_client: Any
) -> None:
    rooms = DropsFirstPublishReply(backend=make_backend())
    server = await wsnb.serve(rooms)
    try:
        watcher = await open_client(server, "watcher")
        await watcher.join("lobby")
        sub = await wsnb.subscribe(server, ["lobby"], name="ada")
        sub.publish("lobby", "once")
        sub.publish("lobby", "twice?")
        bodies = []
        async with asyncio.timeout(10):
            while len(bodies) < 2:
                event = await watcher.next_event()
                if event["type"] == "message":
                    bodies.append(event["data"]["body"])
        await asyncio.sleep(0.2)  # a second copy of "once" would have come by now
        while watcher.pending_events:
            event = await watcher.next_event()
            if event["type"] == "message":
                bodies.append(event["data"]["body"])
        assert rooms.dropped == 1 and sub.stats.reconnects == 1
        assert bodies == ["once", "twice?"]
        assert sub.stats.published == 2
        await sub.close()
    finally:
        await server.stop()


async def test_the_same_key_on_two_servers_sharing_rooms_publishes_once(
    redis_url: str, redis_prefix: str, open_client: Any
) -> None:
    pytest.importorskip("redis")
    servers = [
        await wsnb.serve(
            wsnb.Rooms(backend=wsnb.RedisBackend(redis_url, prefix=redis_prefix)), name=name
        )
        for name in ("a", "b")
    ]
    try:
        a, b = [await open_client(s, name) for s, name in zip(servers, "ab", strict=True)]
        await a.join("lobby")
        await b.join("lobby")
        first = await a.request("publish", "lobby", body="x", idempotency_key="k")
        again = await b.request("publish", "lobby", body="x", idempotency_key="k")
        assert again == {"room": "lobby", "seq": first["seq"], "duplicate": True}
        assert "duplicate" not in first
    finally:
        for server in servers:
            await server.stop()
