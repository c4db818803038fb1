"""wsnb.JsonProtocol: the card's JsonProtocol(ws).handle_loop(dispatch), typed, with clear errors.

Peers are plain websockets clients sending raw frames; every bad message gets an error
in docs/protocol.md's shape, and the connection goes on answering.
"""

from __future__ import annotations

import asyncio
import json

import pytest

import wsnb
from wsnb.core import ProtocolError


async def ask(server: wsnb.Server, *frames: str | bytes) -> list[dict]:
    """Send raw frames one at a time; return each decoded reply."""
    replies = await wsnb.exchange(server, list(frames), reply_timeout=2)
    assert len(replies) == len(frames), replies
    return [json.loads(r) for r in replies]


async def ping(msg):
    return {"type": "pong", "n": msg.get("n")}


def add(msg):  # a plain function works as well as a coroutine function
    return {"type": "sum", "value": msg["a"] + msg["b"]}


async def quiet(msg):
    return None


async def refuse(msg):
    raise ProtocolError("invalid_value", "'b' must not be zero", path="b")


async def typed_api(ws):
    await wsnb.JsonProtocol(ws).handle_loop(
        {"ping": ping, "add": add, "quiet": quiet, "divide": refuse}
    )


@pytest.fixture
async def api_server():
    server = await wsnb.serve(typed_api)
    yield server
    await server.stop()


async def test_the_cards_handle_loop_sends_back_what_dispatch_returns():
    """One function gets every decoded message; a non-None result goes back as JSON."""

    async def dispatch(msg):
        if msg["type"] == "ping":
            return {"type": "pong"}
        return None

    async def handler(ws):  # the card's text
        proto = wsnb.JsonProtocol(ws)
        await proto.send({"type": "hello", "name": "Alice"})
        await proto.handle_loop(dispatch)

    server = await wsnb.serve(handler)
    async with wsnb.connect(server) as ws:
        assert json.loads(await ws.recv()) == {"type": "hello", "name": "Alice"}
        await ws.send('{"type": "nothing"}')
        await ws.send('{"type": "ping"}')
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def test_typed_dispatch_calls_the_handler_of_each_type(api_server):
    replies = await ask(api_server, '{"type": "ping", "n": 7}', '{"type": "add", "a": 2, "b": 3}')
    assert replies == [{"type": "pong", "n": 7}, {"type": "sum", "value": 5}]


async def test_a_none_result_sends_nothing(api_server):
    async with wsnb.connect(api_server) as ws:
        await ws.send('{"type": "quiet"}')
        await ws.send('{"type": "ping"}')
        assert json.loads(await ws.recv())["type"] == "pong"


@pytest.mark.parametrize(
    ("frame", "code", "path"),
    [
        ("not json", "bad_json", None),
        ('{"type": "ping", "n": NaN}', "bad_json", None),
        (b"\xff\xfe", "bad_json", None),
        ('["ping"]', "not_an_object", None),
        ('{"n": 1}', "missing_field", "type"),
        ('{"type": 5}', "wrong_type", "type"),
        ('{"type": "dance"}', "unknown_type", "type"),
    ],
)
async def test_bad_input_is_answered_and_the_connection_goes_on(api_server, frame, code, path):
    error, pong = await ask(api_server, frame, '{"type": "ping", "n": 1}')
    assert error["type"] == "error" and error["code"] == code, error
    assert error.get("path") == path
    assert error["message"]
    assert pong == {"type": "pong", "n": 1}


async def test_an_unknown_type_names_the_known_ones_and_carries_the_id_back(api_server):
    [error] = await ask(api_server, '{"type": "dance", "id": 9}')
    assert error["id"] == 9 and error["re"] == "dance"
    assert "ping, add, quiet, divide" in error["message"]


async def test_a_handler_refuses_with_a_protocol_error(api_server):
    [error] = await ask(api_server, '{"type": "divide", "id": "d1", "a": 1, "b": 0}')
    assert error == {
        "type": "error",
        "id": "d1",
        "re": "divide",
        "code": "invalid_value",
        "message": "'b' must not be zero",
        "path": "b",
    }


async def test_with_one_function_bad_json_is_answered_too():
    async def handler(ws):
        await wsnb.JsonProtocol(ws).handle_loop(lambda msg: {"got": msg})

    server = await wsnb.serve(handler)
    error, got = await ask(server, "{oops", "[1, 2]")
    assert error["code"] == "bad_json" and "line 1 column 2" in error["message"]
    assert got == {"got": [1, 2]}  # any JSON value, not only objects


async def test_a_bug_in_a_handler_ends_that_connection_with_1011(caplog):
    """Not bad input: the handler's own exception is logged and the client sees 1011."""

    async def handler(ws):
        await wsnb.JsonProtocol(ws).handle_loop({"add": add})

    server = await wsnb.serve(handler)
    async with wsnb.connect(server) as ws:
        await ws.send('{"type": "add", "a": 1}')  # add() raises KeyError('b')
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1011


async def test_recv_names_a_message_that_is_not_json():
    async def handler(ws):
        proto = wsnb.JsonProtocol(ws)
        try:
            await proto.recv()
        except wsnb.NotJSONError as error:
            await proto.send({"error": error.reason[:20], "received": error.received})

    server = await wsnb.serve(handler)
    [reply] = await wsnb.exchange(server, ["hello"], json=False)
    assert json.loads(reply)["received"] == "hello"
