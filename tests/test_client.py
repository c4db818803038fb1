"""Client helpers: exchange(), connect() and loopback without proxy surprises."""

from __future__ import annotations

import asyncio

import pytest
from helpers import free_port, wait_until

import wsnb


async def double(ws):
    """Reply twice to every message."""
    async for message in ws:
        await ws.send(message)
        await ws.send(message)


async def test_exchange_with_server_object(echo_server):
    """exchange() accepts a wsnb server and returns one reply per message."""
    assert await wsnb.exchange(echo_server, ["a", b"b"]) == ["a", b"b"]


async def test_exchange_with_url(echo_server):
    """exchange() accepts a ws:// URL string."""
    assert await wsnb.exchange(echo_server.url, ["a"]) == ["a"]


async def test_exchange_collects_the_requested_number_of_replies():
    """replies= waits for that many replies, not one per message."""
    server = await wsnb.serve(double)
    assert await wsnb.exchange(server, ["a", "b"], replies=4) == ["a", "a", "b", "b"]


async def test_exchange_with_zero_replies_only_sends():
    """replies=0 sends the messages and returns [] without waiting for anything."""
    received = []

    async def record(ws):
        async for message in ws:
            received.append(message)

    server = await wsnb.serve(record)
    assert await wsnb.exchange(server, ["one", "two"], replies=0) == []
    await wait_until(lambda: len(received) == 2)
    assert received == ["one", "two"]


async def test_exchange_timeout_carries_the_replies_that_arrived(echo_server):
    """When too few replies come, ExchangeTimeout (a TimeoutError) holds those that did."""
    with pytest.raises(wsnb.ExchangeTimeout) as info:
        await wsnb.exchange(echo_server, ["hi"], replies=2, timeout=0.2)
    error = info.value
    assert error.replies == ["hi"]
    assert isinstance(error, TimeoutError) and isinstance(error, wsnb.WsnbError)
    assert "expected 2 replies" in str(error) and "got 1" in str(error)


async def test_connect_opens_a_websockets_connection_to_a_server_object(echo_server):
    """connect(server) works with `async with` and gives a websockets connection."""
    async with wsnb.connect(echo_server) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
    assert ws.close_code == 1000


@pytest.fixture
def dead_proxy_env(monkeypatch):
    """Every proxy variable points at a port where nothing listens."""
    dead = f"http://127.0.0.1:{free_port()}"
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "WS_PROXY",
        "WSS_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
        "ws_proxy",
        "wss_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    return dead


async def test_loopback_connect_ignores_proxy_environment(echo_server, dead_proxy_env):
    """A proxy set in the environment does not break connecting to 127.0.0.1."""
    async with wsnb.connect(echo_server.url) as ws:
        await ws.send("direct")
        assert await ws.recv() == "direct"
    assert await wsnb.exchange(echo_server, ["also direct"]) == ["also direct"]


async def test_explicit_proxy_argument_is_not_overridden(echo_server, dead_proxy_env):
    """A proxy passed explicitly is still used, even for loopback (keywords go to websockets)."""
    with pytest.raises(OSError):
        await wsnb.exchange(echo_server, ["x"], proxy=dead_proxy_env, open_timeout=5)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://127.0.0.1:8765", True),
        ("ws://127.1.2.3", True),
        ("wss://localhost:443/path", True),
        ("ws://LOCALHOST:1", True),
        ("ws://app.localhost:8000", True),
        ("ws://[::1]:8765", True),
        ("wss://example.com", False),
        ("ws://localhost.example.com", False),
        ("ws://10.0.0.1:80", False),
        ("ws://0.0.0.0:80", False),
        ("ws://[2001:db8::1]:80", False),
        ("not a url", False),
    ],
)
def test_is_loopback(url, expected):
    """is_loopback() recognises this machine's addresses and nothing else."""
    assert wsnb.is_loopback(url) is expected


async def test_exchange_against_a_stopped_server_fails_clearly(echo_server):
    """Connecting to a server that was stopped is refused, not hung."""
    await echo_server.stop()
    with pytest.raises(OSError):
        async with asyncio.timeout(10):
            await wsnb.exchange(echo_server, ["x"])


# -- the card's ws_send_receive: JSON, one at a time, a timeout per reply ------------------


async def test_exchange_json_sends_json_text_and_decodes_the_replies(echo_server):
    """json=True: any JSON value goes out as compact text and comes back decoded."""
    sent = [{"text": "Hello"}, [1, 2], "é", None]
    assert await wsnb.exchange(echo_server, sent, json=True) == sent
    # What went over the wire was JSON text (the echo shows it back as it came).
    assert await wsnb.exchange(echo_server, ['{"a":1}']) == ['{"a":1}']


async def test_exchange_json_names_a_reply_that_is_not_json():
    """A reply that is not JSON is a NotJSONError showing what arrived."""

    async def shout(ws):
        async for _ in ws:
            await ws.send("not json!")

    server = await wsnb.serve(shout)
    with pytest.raises(wsnb.NotJSONError, match="not json!"):
        await wsnb.exchange(server, [{"n": 1}], json=True)


async def test_reply_timeout_sends_the_next_message_only_after_the_reply():
    """One at a time: the server sees message 2 only after it answered message 1."""
    seen: list[str] = []

    async def slow(ws):
        async for message in ws:
            seen.append(message)
            await asyncio.sleep(0.05)
            await ws.send(f"{message} after {len(seen)}")

    server = await wsnb.serve(slow)
    replies = await wsnb.exchange(server, ["a", "b", "c"], reply_timeout=1)
    assert replies == ["a after 1", "b after 2", "c after 3"]


async def test_reply_timeout_returns_what_arrived_when_a_reply_does_not_come():
    """The card's semantics: a missing reply ends the exchange; the replies so far are returned."""

    async def answers_twice(ws):
        count = 0
        async for message in ws:
            count += 1
            if count <= 2:
                await ws.send(message)

    server = await wsnb.serve(answers_twice)
    started = asyncio.get_running_loop().time()
    replies = await wsnb.exchange(server, [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}],
                                  json=True, reply_timeout=0.2)  # fmt: skip
    assert replies == [{"n": 1}, {"n": 2}]
    assert asyncio.get_running_loop().time() - started < 2  # it stopped at the first silence


async def test_reply_timeout_and_replies_together_are_refused(echo_server):
    """replies= counts replies in all; one at a time there is one per message."""
    with pytest.raises(TypeError, match="reply_timeout"):
        await wsnb.exchange(echo_server, ["a"], replies=2, reply_timeout=1)
