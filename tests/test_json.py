"""JSON over WebSockets: round trips, and errors that say what arrived and why."""

from __future__ import annotations

import json

import pytest

import wsnb


async def test_send_json_recv_json_round_trip(echo_server):
    """Any JSON value, non-ASCII text included, survives send_json/recv_json."""
    data = {
        "type": "hello",
        "n": 1,
        "x": 1.5,
        "ok": True,
        "none": None,
        "items": [1, "zwei", {"drei": 3}],
        "text": "héllo ✓ 日本",
    }
    async with wsnb.connect(echo_server) as ws:
        await wsnb.send_json(ws, data)
        assert await wsnb.recv_json(ws) == data


async def test_send_json_sends_one_text_message_with_unescaped_utf8(echo_server):
    """send_json sends text (not bytes), with non-ASCII characters as they are."""
    async with wsnb.connect(echo_server) as ws:
        await wsnb.send_json(ws, {"text": "é"})
        raw = await ws.recv()
    assert isinstance(raw, str)
    assert "é" in raw and "\\u" not in raw
    assert json.loads(raw) == {"text": "é"}


async def test_send_json_rejects_unencodable_value_before_sending(echo_server):
    """A value JSON cannot represent raises TypeError and nothing is sent."""
    async with wsnb.connect(echo_server) as ws:
        with pytest.raises(TypeError):
            await wsnb.send_json(ws, {"s": {1, 2}})
        await wsnb.send_json(ws, "next")
        assert await wsnb.recv_json(ws) == "next"


async def test_recv_json_on_plain_text_raises_not_json_error(echo_server):
    """A non-JSON message raises NotJSONError (a ValueError) naming what came and why."""
    async with wsnb.connect(echo_server) as ws:
        await ws.send("hello")
        with pytest.raises(wsnb.NotJSONError) as info:
            await wsnb.recv_json(ws)
        error = info.value
        assert isinstance(error, ValueError) and isinstance(error, wsnb.WsnbError)
        assert "'hello'" in str(error)
        assert "Expecting value" in str(error) and "Expecting value" in error.reason
        assert "text message" in str(error)
        assert error.received == "hello"

        # The connection stays usable after the error.
        await wsnb.send_json(ws, [1, 2])
        assert await wsnb.recv_json(ws) == [1, 2]


async def test_recv_json_on_invalid_utf8_bytes(echo_server):
    """A binary message that is not UTF-8 raises NotJSONError saying so."""
    async with wsnb.connect(echo_server) as ws:
        await ws.send(b"\xc3\x28 not utf-8")
        with pytest.raises(wsnb.NotJSONError) as info:
            await wsnb.recv_json(ws)
    error = info.value
    assert "not UTF-8" in error.reason and "byte 0" in error.reason
    assert "binary message" in str(error)
    assert error.received == b"\xc3\x28 not utf-8"


async def test_recv_json_accepts_utf8_json_bytes(echo_server):
    """A binary message holding UTF-8 JSON decodes like text."""
    async with wsnb.connect(echo_server) as ws:
        await ws.send('{"é": 1}'.encode())
        assert await wsnb.recv_json(ws) == {"é": 1}


def test_long_non_json_message_is_shortened_in_the_error():
    """The error text shows only the start of a long message, and its length."""
    message = "x" * 10_000
    with pytest.raises(wsnb.NotJSONError) as info:
        wsnb.decode_json(message)
    text = str(info.value)
    assert "x" * 10_000 not in text
    assert len(text) < 300
    assert "xxxxx" in text and "10000 characters" in text
    assert info.value.received == message  # the whole message stays available


def test_long_binary_non_json_message_is_shortened_in_the_error():
    """Long binary messages are shortened too, counted in bytes."""
    with pytest.raises(wsnb.NotJSONError) as info:
        wsnb.decode_json(b"y" * 5000)
    assert "5000 bytes" in str(info.value)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"n": 1}', {"n": 1}),
        ("[1, 2]", [1, 2]),
        ('"s"', "s"),
        ("3", 3),
        ("null", None),
        (b'{"b": true}', {"b": True}),
    ],
)
def test_decode_json_valid(message, expected):
    """decode_json decodes any JSON text or UTF-8 JSON bytes."""
    assert wsnb.decode_json(message) == expected


@pytest.mark.parametrize("message", ["", "{", "{'single': 1}", "1 2", "hello"])
def test_decode_json_invalid_raises_with_position(message):
    """Invalid JSON raises NotJSONError whose reason gives the decoder's position."""
    with pytest.raises(wsnb.NotJSONError) as info:
        wsnb.decode_json(message)
    assert "line 1 column" in info.value.reason
    assert repr(message) in str(info.value)


def test_decode_json_refuses_utf16_bytes_that_json_loads_would_guess():
    """A binary JSON message must be UTF-8, as documented; no silent UTF-16 guess."""
    with pytest.raises(wsnb.NotJSONError, match="not UTF-8"):
        wsnb.decode_json('{"a": 1}'.encode("utf-16"))
