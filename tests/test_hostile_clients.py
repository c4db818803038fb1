"""Hostile clients against one server with every protection at once.

A table of hostile clients thrown at one server configured with
every protection at once (origins, first-message auth, max_size,
open_timeout, a rate limit, a connection cap). Each row asserts the response
documented in docs/protocol.md (close codes, HTTP statuses), and that a
well-behaved client connected alongside keeps working and the server keeps
serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from helpers import WAIT, assert_echoes, auth_message, close_code_of, handshake_status, send_flood
from websockets.asyncio.client import ClientConnection

import wsnb
import wsnb.auth

GOOD_ORIGIN = "https://app.example"
TOKENS = {"good-token": "ada", "other-token": "bob"}
AUTH_TIMEOUT = 0.5
MAX_SIZE = 1024
OPEN_TIMEOUT = 0.5
RATE, BURST = 20, 20
CAP = 4  # connections, the well-behaved client included


# -- helpers ---------------------------------------------------------------------------


async def hostile_server() -> wsnb.Server:
    """One server with every protection on at once."""
    return await wsnb.serve(
        wsnb.first_message_auth(wsnb.echo, TOKENS, timeout=AUTH_TIMEOUT),
        name="hostile-target",
        origins=[GOOD_ORIGIN, None],  # None: non-browser clients send no Origin
        max_size=MAX_SIZE,
        open_timeout=OPEN_TIMEOUT,
        create_connection=wsnb.rate_limited(RATE, burst=BURST),
        process_request=wsnb.max_connections(CAP),
    )


@contextlib.asynccontextmanager
async def authenticated(
    server: wsnb.Server, token: str = "good-token", **options: object
) -> AsyncIterator[ClientConnection]:
    """A client that connected and passed first-message authentication."""
    async with wsnb.connect(server, **options) as ws:
        await ws.send(auth_message(token))
        async with asyncio.timeout(WAIT):
            reply = json.loads(await ws.recv())
        assert reply == {"type": "reply", "re": "auth", "data": {"user": TOKENS[token]}}
        yield ws


async def tcp_closed_by_server(sock: socket.socket) -> tuple[str, object]:
    """Wait (bounded) for the server to close a raw TCP connection."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(WAIT):
            while True:
                data = await loop.sock_recv(sock, 4096)
                if not data:
                    return ("tcp closed", None)
    except ConnectionResetError:
        return ("tcp closed", None)
    except TimeoutError:
        return (f"tcp still open after {WAIT} s", None)


@contextlib.asynccontextmanager
async def raw_tcp(server: wsnb.Server) -> AsyncIterator[socket.socket]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        yield sock
    finally:
        sock.close()


# -- the hostile clients -------------------------------------------------------------------

Attack = Callable[[wsnb.Server, ClientConnection], Awaitable[tuple[str, object]]]


async def wrong_origin(server, good):
    return await handshake_status(server, origin="https://evil.example")


async def first_message(server, message):
    async with wsnb.connect(server) as ws:
        await ws.send(message)
        return await close_code_of(ws)


async def missing_token(server, good):
    return await first_message(server, auth_message(None))


async def wrong_token(server, good):
    return await first_message(server, auth_message("guessed-token"))


async def not_an_auth_message(server, good):
    return await first_message(server, "hello?")


async def binary_garbage_first(server, good):
    return await first_message(server, b"\xff\xfe\x00")


async def deeply_nested_json_first(server, good):
    # Fits in max_size (1024) but nests deeper than Python's recursion limit.
    return await first_message(server, "[" * 1000)


async def lone_surrogate_token(server, good):
    # Valid JSON whose token decodes to a str that cannot be UTF-8 encoded.
    return await first_message(server, '{"type": "auth", "data": {"token": "\\ud800"}}')


async def no_first_message(server, good):
    async with wsnb.connect(server) as ws:
        return await close_code_of(ws)


async def silent_tcp(server, good):
    async with raw_tcp(server) as sock:
        await assert_echoes(good, "while a socket sits silent")
        return await tcp_closed_by_server(sock)


async def half_a_request(server, good):
    async with raw_tcp(server) as sock:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
        await assert_echoes(good, "while a handshake hangs halfway")
        return await tcp_closed_by_server(sock)


async def oversized_message(server, good):
    async with authenticated(server, "other-token") as ws:
        await ws.send("x" * (MAX_SIZE + 1))
        return await close_code_of(ws)


async def invalid_utf8_text(server, good):
    async with authenticated(server, "other-token") as ws:
        await ws.send(b"ok \xff\xfe", text=True)  # sent as a text frame, unchecked
        return await close_code_of(ws)


async def rate_flood(server, good):
    async with authenticated(server, "other-token") as ws:
        await send_flood(ws, 5 * BURST)
        return await close_code_of(ws)


async def over_the_cap(server, good):
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(CAP - 1):
            await stack.enter_async_context(authenticated(server, "other-token"))
        assert len(server.connections) == CAP
        return await handshake_status(server)


@dataclass(frozen=True)
class Row:
    name: str
    attack: Attack
    expected: tuple[str, object]


ROWS = [
    Row("wrong-origin", wrong_origin, ("http", 403)),
    Row("missing-token", missing_token, ("close", 4401)),
    Row("wrong-token", wrong_token, ("close", 4401)),
    Row("not-an-auth-message", not_an_auth_message, ("close", 4401)),
    Row("binary-garbage-first", binary_garbage_first, ("close", 4401)),
    Row("deeply-nested-json-first", deeply_nested_json_first, ("close", 4401)),
    Row("lone-surrogate-token", lone_surrogate_token, ("close", 4401)),
    Row("no-first-message", no_first_message, ("close", 4408)),
    Row("slow-handshake-silent", silent_tcp, ("tcp closed", None)),
    Row("slow-handshake-half-request", half_a_request, ("tcp closed", None)),
    Row("oversized-message", oversized_message, ("close", 1009)),
    Row("invalid-utf8-text", invalid_utf8_text, ("close", 1007)),
    Row("rate-flood", rate_flood, ("close", 4429)),
    Row("over-connection-cap", over_the_cap, ("http", 503)),
]


@pytest.mark.parametrize("row", [pytest.param(r, id=r.name) for r in ROWS])
async def test_hostile_client_gets_documented_response(row, caplog):
    """Each hostile client gets exactly its documented response, a well-behaved
    client connected alongside keeps echoing, the server keeps serving, and
    nothing is logged at ERROR."""
    server = await hostile_server()
    async with authenticated(server, origin=GOOD_ORIGIN) as good:
        await assert_echoes(good, "before")

        outcome = await row.attack(server, good)

        assert outcome == row.expected, row.name
        await assert_echoes(good, f"after {row.name}")
        assert server.state == "serving"
        async with authenticated(server, "other-token") as newcomer:
            await assert_echoes(newcomer, "a new client is served too")
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def test_hostile_table_covers_every_documented_close_code_and_refusal():
    """The table exercises every 44xx code and every refusal the server above can send."""
    expected = {row.expected for row in ROWS}
    assert {("close", c) for c in (4401, 4408, 4429, 1009, 1007)} <= expected
    assert {("http", s) for s in (403, 503)} <= expected
