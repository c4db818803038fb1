"""wsnb.Trace on real connections: what it records, what it costs when off (nothing)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Opcode

import wsnb
from tests.helpers import wait_until

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def kinds(trace: wsnb.Trace) -> list[tuple[str, str]]:
    return [(f.sender, f.opcode.name) for f in trace.frames]


async def test_tracing_off_leaves_websockets_own_connection_classes_untouched(echo_server):
    """Off means absent: the default classes, with no wrapped method on the hot path."""
    async with wsnb.connect(echo_server) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        [server_side] = echo_server.connections
        assert type(server_side) is ServerConnection and type(ws) is ClientConnection
        for connection in (server_side, ws):
            assert "data_to_send" not in vars(connection.protocol)
            assert type(connection).data_received is type(connection).__mro__[0].data_received
            assert not hasattr(connection, "wire")


async def test_a_traced_server_records_the_handshake_and_every_frame_both_ways():
    trace = wsnb.Trace()
    server = await wsnb.serve(wsnb.echo, create_connection=trace.server)
    async with wsnb.connect(server) as ws:
        await ws.send("Hello")
        await ws.recv()
        await ws.send(b"\x00\x01")
        await ws.recv()
        await (await ws.ping(b"hi"))
    await wait_until(lambda: len(trace.frames) == 8)
    assert kinds(trace) == [
        ("client", "TEXT"), ("server", "TEXT"), ("client", "BINARY"), ("server", "BINARY"),
        ("client", "PING"), ("server", "PONG"), ("client", "CLOSE"), ("server", "CLOSE"),
    ]  # fmt: skip
    assert all(f.masked == (f.sender == "client") for f in trace.frames)
    assert [f.close_code for f in trace.frames[-2:]] == [1000, 1000]
    assert trace.errors == []
    request, response = trace.handshake
    assert request.start_line == "GET / HTTP/1.1"
    assert response.start_line == "HTTP/1.1 101 Switching Protocols"
    key = request.header("Sec-WebSocket-Key") or ""
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    assert response.header("Sec-WebSocket-Accept") == accept


async def test_a_traced_client_connection_sees_the_same_conversation(echo_server):
    trace = wsnb.Trace()
    async with wsnb.connect(echo_server, create_connection=trace.client) as ws:
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented"
    assert kinds(trace)[:5] == [("client", "TEXT"), *[("client", "CONT")] * 3, ("server", "TEXT")]
    assert [f.fin for f in trace.frames[:4]] == [False, False, False, True]
    assert [r.sender for r in trace.handshake] == ["client", "server"]


async def test_compressed_frames_have_rsv1_set_and_fewer_bytes_on_the_wire():
    trace = wsnb.Trace()
    server = await wsnb.serve(wsnb.echo, compression="deflate", create_connection=trace.server)
    text = "all work and no play " * 50
    async with wsnb.connect(server, compression="deflate") as ws:
        for _ in range(2):
            await ws.send(text)
            assert await ws.recv() == text
    data = [f for f in trace.frames if f.opcode is Opcode.TEXT]
    assert all(f.rsv1 and f.size == len(text) and f.length < len(text) // 10 for f in data)
    assert data[2].length < data[0].length  # context takeover: the repeat costs less
    assert data[0].data == text.encode()[:64]


async def test_1009_the_server_closes_on_the_header_of_a_frame_over_max_size():
    trace = wsnb.Trace(max_payload=1024)
    server = await wsnb.serve(wsnb.echo, max_size=1000, create_connection=trace.server)
    async with wsnb.connect(server, max_size=None) as ws:
        await ws.send("x" * 5000)
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
    await wait_until(lambda: any(f.sender == "client" and f.length == 5000 for f in trace.frames))
    closes = [f for f in trace.frames if f.opcode is Opcode.CLOSE]
    assert closes[0].sender == "server" and closes[0].close_code == 1009
    assert trace.errors == []


async def test_an_abnormal_close_has_no_close_frame_at_all():
    trace = wsnb.Trace()
    server = await wsnb.serve(wsnb.echo, create_connection=trace.server)
    async with wsnb.connect(server) as ws:
        await ws.send("bye")
        await ws.recv()
        wsnb.faults.drop_connections(server)
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
    assert ws.close_code == 1006
    assert [f.opcode.name for f in trace.frames] == ["TEXT", "TEXT"]


async def test_a_refused_handshake_is_recorded_with_its_status():
    trace = wsnb.Trace()
    server = await wsnb.serve(
        wsnb.echo, process_request=wsnb.bearer_auth("secret"), create_connection=trace.server
    )
    with pytest.raises(Exception, match="401"):
        async with wsnb.connect(server):
            pass
    await wait_until(lambda: len(trace.handshake) == 2)
    assert trace.handshake[1].start_line == "HTTP/1.1 401 Unauthorized"
    assert trace.frames == []


async def test_only_the_last_limit_records_are_kept():
    trace = wsnb.Trace(limit=5)
    server = await wsnb.serve(wsnb.echo, create_connection=trace.server)
    await wsnb.exchange(server, [str(i) for i in range(20)])
    await wait_until(lambda: trace.frames[-1].opcode is Opcode.CLOSE)
    assert len(trace.records) == 5
    trace.clear()
    assert trace.records.maxlen == 5 and len(trace.records) == 0


async def test_wrap_traces_another_connection_class():
    trace = wsnb.Trace()
    limited = trace.wrap(wsnb.rate_limited(1000))
    server = await wsnb.serve(wsnb.echo, create_connection=limited)
    assert await wsnb.exchange(server, ["hi"]) == ["hi"]
    assert kinds(trace)[:2] == [("client", "TEXT"), ("server", "TEXT")]


async def test_text_and_html_show_the_frames_and_escape_user_text(echo_server):
    trace = wsnb.Trace()
    async with wsnb.connect(echo_server, create_connection=trace.client) as ws:
        await ws.send("<script>alert(1)</script>")
        await ws.recv()
    html = trace._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    lines = trace.text().splitlines()
    assert lines[0].split() == ["#", "conn", "dir", "opcode", "FIN", "RSV1", "MASK", "key",
                                "len", "hdr", "payload", "time"]  # fmt: skip
    assert "HTTP/1.1 101 Switching Protocols" in lines[2]
    assert "C→S" in lines[3] and "'<script>alert(1)</script>'" in lines[3]
    assert trace.handshake_text().startswith("GET / HTTP/1.1\nHost: 127.0.0.1:")
