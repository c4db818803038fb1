"""The echo handlers: every kind and size of message comes back as it went."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosedError

import wsnb

MAX_SIZE = 2**20  # websockets' default max_size, which wsnb.serve keeps


async def test_echo_text(echo_server):
    """A text message comes back as the same str."""
    assert await wsnb.exchange(echo_server, ["héllo ✓"]) == ["héllo ✓"]


async def test_echo_binary_keeps_bytes_type(echo_server):
    """A binary message comes back as bytes, not str."""
    [reply] = await wsnb.exchange(echo_server, [b"\x00\x01\xff"])
    assert type(reply) is bytes
    assert reply == b"\x00\x01\xff"


async def test_echo_empty_messages(echo_server):
    """Empty text and empty binary messages are messages too."""
    assert await wsnb.exchange(echo_server, ["", b""]) == ["", b""]


async def test_echo_message_of_exactly_max_size(echo_server):
    """A 1 MiB message (the default limit, inclusive) goes through both ways."""
    payload = bytes(range(256)) * (MAX_SIZE // 256)
    assert len(payload) == MAX_SIZE
    assert await wsnb.exchange(echo_server, [payload]) == [payload]


async def test_message_over_max_size_closes_with_1009(echo_server):
    """One byte over the limit closes the connection with 1009 (message too big)."""
    async with wsnb.connect(echo_server, max_size=None) as ws:
        await ws.send(b"x" * (MAX_SIZE + 1))
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
        assert ws.close_code == 1009
    assert await wsnb.exchange(echo_server, ["server still fine"]) == ["server still fine"]


async def test_fragmented_message_comes_back_whole(echo_server):
    """A message sent in fragments is echoed as one message."""
    async with wsnb.connect(echo_server) as ws:
        await ws.send(["ab", "cd", "ef"])
        assert await ws.recv() == "abcdef"
        await ws.send([b"\x01", b"\x02"])
        assert await ws.recv() == b"\x01\x02"


async def test_many_messages_come_back_in_order(echo_server):
    """Replies keep the order of the messages sent."""
    messages = [f"m{i}" if i % 2 else f"m{i}".encode() for i in range(200)]
    assert await wsnb.exchange(echo_server, messages) == messages


async def test_echo_with_prefix_marks_text_and_leaves_binary_alone():
    """echo_with_prefix prefixes text; binary comes back byte for byte, as bytes."""
    server = await wsnb.serve(wsnb.echo_with_prefix("Écho: "))
    replies = await wsnb.exchange(server, ["hi", b"\x00\xff", "", b""])
    assert replies == ["Écho: hi", b"\x00\xff", "Écho: ", b""]
    assert [type(r) for r in replies] == [str, bytes, str, bytes]


async def test_echo_with_prefix_default_prefix():
    """The default prefix is 'Echo: '."""
    server = await wsnb.serve(wsnb.echo_with_prefix())
    assert await wsnb.exchange(server, ["hi"]) == ["Echo: hi"]
