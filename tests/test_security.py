"""Security helpers: authentication, limits, handshake checks, routing, TLS.

The heart is a table of hostile clients thrown at one server configured with
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
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import basic_auth as websockets_basic_auth
from websockets.exceptions import ConnectionClosed, InvalidStatus

import wsnb
import wsnb.auth

#: Bound on every wait for something the server must do (never a timing assert).
WAIT = 5.0

GOOD_ORIGIN = "https://app.example"
TOKENS = {"good-token": "ada", "other-token": "bob"}
AUTH_TIMEOUT = 0.5
MAX_SIZE = 1024
OPEN_TIMEOUT = 0.5
RATE, BURST = 20, 20
CAP = 4  # connections, the well-behaved client included


# -- helpers ---------------------------------------------------------------------------


def auth_message(token: str | None = "good-token") -> str:
    data = {} if token is None else {"token": token}
    return json.dumps({"type": "auth", "data": data})


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


async def assert_echoes(ws: ClientConnection, message: str) -> None:
    await ws.send(message)
    async with asyncio.timeout(WAIT):
        assert await ws.recv() == message


async def close_code_of(ws: ClientConnection) -> tuple[str, object]:
    """Read until the server closes; ``("close", code)``, or why it did not."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return ("close", ws.close_code)
    except TimeoutError:
        ws.transport.abort()  # fail fast instead of waiting for close_timeout on exit
        return (f"not closed within {WAIT} s", ws.state.name)


async def handshake_status(server: wsnb.Server, **options: object) -> tuple[str, object]:
    """``("http", status)`` if the handshake is refused, else ``("opened", None)``."""
    try:
        async with wsnb.connect(server, **options):
            return ("opened", None)
    except InvalidStatus as exc:
        return ("http", exc.response.status_code)


async def send_flood(ws: ClientConnection, count: int) -> None:
    """Send ``count`` messages without reading; stop quietly if the server closes."""
    with contextlib.suppress(ConnectionClosed):
        for i in range(count):
            await ws.send(f"spam {i}")


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


# -- rate limit, beyond the table -----------------------------------------------------------


async def test_rate_limit_holds_for_a_handler_that_only_receives():
    """A handler that never sends (a sink) sees at most ``burst`` messages from a
    flooding client, and the client gets 4429 (not a stall until close_timeout)."""
    received = []

    async def sink(ws):
        async for message in ws:
            received.append(message)

    server = await wsnb.serve(sink, create_connection=wsnb.rate_limited(5, burst=5))
    async with wsnb.connect(server) as ws:
        await send_flood(ws, 50)
        assert await close_code_of(ws) == ("close", 4429)
        assert ws.close_reason.startswith("rate limit exceeded")
    assert received == [f"spam {i}" for i in range(5)]


async def test_rate_limit_allows_the_burst_and_refills():
    """Exactly ``burst`` messages at once are fine, and more after waiting."""
    server = await wsnb.serve(wsnb.echo, create_connection=wsnb.rate_limited(10, burst=5))
    async with wsnb.connect(server) as ws:
        for i in range(5):
            await ws.send(f"m{i}")
        async with asyncio.timeout(WAIT):
            assert [await ws.recv() for _ in range(5)] == [f"m{i}" for i in range(5)]
        await asyncio.sleep(0.3)  # >= 0.1 s: at least one token back (longer is always fine)
        await assert_echoes(ws, "after a pause")


# -- b. token_checker: constant-time comparison ----------------------------------------------


@pytest.fixture
def compare_calls(monkeypatch):
    """Count hmac.compare_digest calls made by wsnb.auth (the real one still decides)."""
    import hmac

    calls: list[tuple[bytes, bytes]] = []

    def counting(a, b):
        calls.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(wsnb.auth, "hmac", SimpleNamespace(compare_digest=counting))
    return calls


@pytest.mark.parametrize(
    ("candidate", "user"),
    [
        ("t-first", "ada"),
        ("t-middle", "bob"),
        ("t-last", "cy"),
        ("nope", None),
        ("", None),
        ("t-firs", None),
        ("t-first-and-more", None),
    ],
    ids=["first", "middle", "last", "none", "empty", "prefix", "extension"],
)
def test_token_checker_compares_every_known_token(compare_calls, candidate, user):
    """Whether the candidate matches the first, the last or no token, every known
    token is compared with hmac.compare_digest, on bytes."""
    check = wsnb.token_checker({"t-first": "ada", "t-middle": "bob", "t-last": "cy"})
    assert check(candidate) == user
    assert len(compare_calls) == 3
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compare_calls)
    assert {b for _, b in compare_calls} == {b"t-first", b"t-middle", b"t-last"}


def test_token_checker_with_a_collection_of_str_tokens(compare_calls):
    """A collection of tokens (no names) maps every valid one to ``"user"``."""
    check = wsnb.token_checker(["alpha", "beta"])
    assert check("beta") == "user"
    assert check("alpha") == "user"
    assert check("gamma") is None
    assert len(compare_calls) == 6


def test_token_checker_with_a_mapping_and_unicode_tokens():
    check = wsnb.token_checker({"s3cret": "ada", "clé-ü": "zoë"})
    assert check("s3cret") == "ada"
    assert check("clé-ü") == "zoë"
    assert check("cle-u") is None
    assert check("S3CRET") is None


def test_token_checker_never_raises_on_a_str_that_is_not_utf8_encodable():
    """A token decoded from JSON can hold a lone surrogate: it is just not valid."""
    check = wsnb.token_checker({"s3cret": "ada"})
    assert check("\ud800") is None


async def test_first_message_auth_accepts_a_check_function():
    """``tokens`` may be a function token -> user (or None)."""

    def check(token):
        return "fn-user" if token == "from-a-function" else None

    async def whoami(ws):
        await ws.send(ws.username)

    server = await wsnb.serve(wsnb.first_message_auth(whoami, check, timeout=WAIT))
    replies = await wsnb.exchange(server, [auth_message("from-a-function")], replies=2)
    assert [json.loads(replies[0])["data"], replies[1]] == [{"user": "fn-user"}, "fn-user"]


# -- c. bearer_auth and basic_auth ------------------------------------------------------------


async def whoami(ws):
    await ws.send(ws.username)


@pytest.fixture
async def bearer_server():
    return await wsnb.serve(whoami, process_request=wsnb.bearer_auth({"s3cret": "ci"}))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic czNjcmV0"},
        {"Authorization": "s3cret"},
    ],
    ids=["no-header", "wrong-token", "empty-token", "other-scheme", "no-scheme"],
)
async def test_bearer_auth_refuses_with_401_and_www_authenticate(bearer_server, headers):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(bearer_server, additional_headers=headers):
            pass
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not bearer_server.connections


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_bearer_auth_lets_a_valid_token_in_and_sets_username(bearer_server, scheme):
    replies = await wsnb.exchange(
        bearer_server, [], replies=1, additional_headers={"Authorization": f"{scheme} s3cret"}
    )
    assert replies == ["ci"]


def test_basic_auth_is_websockets_own():
    assert wsnb.basic_auth is websockets_basic_auth
    assert wsnb.auth.basic_auth is websockets_basic_auth


async def test_basic_auth_reexport_refuses_then_admits():
    server = await wsnb.serve(
        whoami, process_request=wsnb.basic_auth(realm="wsnb", credentials=("ada", "pw"))
    )
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(server):
            pass
    assert info.value.response.status_code == 401
    assert info.value.response.headers["WWW-Authenticate"].startswith("Basic")

    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(server.url.replace("ws://", "ws://ada:wrong@")):
            pass
    assert info.value.response.status_code == 401

    assert await wsnb.exchange(server.url.replace("ws://", "ws://ada:pw@"), [], replies=1) == [
        "ada"
    ]


# -- d. require_subprotocol -------------------------------------------------------------------


@pytest.fixture
async def v1_server():
    return await wsnb.serve(
        wsnb.echo,
        subprotocols=["wsnb.v1"],
        process_request=wsnb.require_subprotocol("wsnb.v1"),
    )


async def test_require_subprotocol_refuses_a_client_offering_none(v1_server):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(v1_server):
            pass
    response = info.value.response
    assert response.status_code == 400
    body = response.body.decode()
    assert "'wsnb.v1'" in body
    assert "offered no subprotocol" in body
    assert "subprotocols=['wsnb.v1']" in body  # how to connect


async def test_require_subprotocol_refuses_a_client_offering_another(v1_server):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(v1_server, subprotocols=["other.v2"]):
            pass
    response = info.value.response
    assert response.status_code == 400
    body = response.body.decode()
    assert "'wsnb.v1'" in body and "other.v2" in body
    assert "subprotocols=['wsnb.v1']" in body


@pytest.mark.parametrize("offer", [["wsnb.v1"], ["other.v2", "wsnb.v1"]], ids=["only", "among"])
async def test_require_subprotocol_accepts_a_client_offering_it(v1_server, offer):
    async with wsnb.connect(v1_server, subprotocols=offer) as ws:
        assert ws.subprotocol == "wsnb.v1"
        await assert_echoes(ws, "v1")


# -- e. chain -----------------------------------------------------------------------------------


def recording_checks(calls: list[str]):
    def sync_ok(connection, request):
        calls.append("sync_ok")

    async def async_ok(connection, request):
        calls.append("async_ok")

    def sync_refuse(connection, request):
        calls.append("sync_refuse")
        return connection.respond(401, "sync says no\n")

    async def async_refuse(connection, request):
        calls.append("async_refuse")
        return connection.respond(403, "async says no\n")

    return sync_ok, async_ok, sync_refuse, async_refuse


async def test_chain_runs_all_checks_in_order_when_all_pass():
    calls: list[str] = []
    sync_ok, async_ok, _, _ = recording_checks(calls)
    server = await wsnb.serve(wsnb.echo, process_request=wsnb.chain(async_ok, sync_ok, async_ok))
    assert await wsnb.exchange(server, ["in"]) == ["in"]
    assert calls == ["async_ok", "sync_ok", "async_ok"]


@pytest.mark.parametrize(
    ("order", "status", "ran"),
    [
        (["sync_ok", "async_refuse", "sync_refuse"], 403, ["sync_ok", "async_refuse"]),
        (["async_ok", "sync_refuse", "async_refuse"], 401, ["async_ok", "sync_refuse"]),
        (["sync_refuse", "async_refuse"], 401, ["sync_refuse"]),
        (["async_refuse", "sync_refuse"], 403, ["async_refuse"]),
    ],
    ids=[
        "async-refusal-after-sync-pass",
        "sync-refusal-after-async-pass",
        "sync-refusal-first",
        "async-refusal-first",
    ],
)
async def test_chain_first_refusal_wins_and_stops(order, status, ran):
    calls: list[str] = []
    checks = dict(
        zip(
            ["sync_ok", "async_ok", "sync_refuse", "async_refuse"],
            recording_checks(calls),
            strict=True,
        )
    )
    server = await wsnb.serve(wsnb.echo, process_request=wsnb.chain(*(checks[n] for n in order)))
    assert await handshake_status(server) == ("http", status)
    assert calls == ran


async def test_chain_composes_the_real_checks():
    """bearer_auth, max_connections and require_subprotocol together."""
    server = await wsnb.serve(
        wsnb.echo,
        subprotocols=["wsnb.v1"],
        process_request=wsnb.chain(
            wsnb.bearer_auth({"s3cret"}),
            wsnb.max_connections(1),
            wsnb.require_subprotocol("wsnb.v1"),
        ),
    )
    auth = {"additional_headers": {"Authorization": "Bearer s3cret"}}
    assert await handshake_status(server, subprotocols=["wsnb.v1"]) == ("http", 401)
    assert await handshake_status(server, **auth) == ("http", 400)
    async with wsnb.connect(server, subprotocols=["wsnb.v1"], **auth) as ws:
        await assert_echoes(ws, "all checks passed")
        assert await handshake_status(server, subprotocols=["wsnb.v1"], **auth) == ("http", 503)


# -- f. Router ----------------------------------------------------------------------------------


async def shout(ws):
    async for message in ws:
        await ws.send(message.upper())


async def inspect_request(ws):
    await ws.send(
        json.dumps(
            {
                "path": ws.request.path,
                "probe": ws.request.headers.get("X-Probe"),
                "remote": list(ws.remote_address[:2]),
            }
        )
    )


@pytest.fixture
async def routed_server():
    router = wsnb.Router({"/echo": wsnb.echo, "/shout": shout, "/inspect": inspect_request})
    return await wsnb.serve(router, process_request=router.process_request)


async def test_router_dispatches_by_path(routed_server):
    assert await wsnb.exchange(routed_server.url + "/echo", ["hi"]) == ["hi"]
    assert await wsnb.exchange(routed_server.url + "/shout", ["hi"]) == ["HI"]


async def test_router_ignores_the_query_string(routed_server):
    assert await wsnb.exchange(routed_server.url + "/shout?room=a&x=1", ["hi"]) == ["HI"]


@pytest.mark.parametrize("path", ["/", "/nope", "/echo/", "/ECHO", "/shoutx?echo"])
async def test_router_unknown_path_is_404_listing_known_paths(routed_server, path):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(routed_server.url + path):
            pass
    response = info.value.response
    assert response.status_code == 404
    body = response.body.decode()
    for known in ("/echo", "/shout", "/inspect"):
        assert known in body
    assert not routed_server.connections


async def test_router_handler_reads_request_path_headers_and_remote_address(routed_server):
    async with wsnb.connect(
        routed_server.url + "/inspect?room=lobby", additional_headers={"X-Probe": "42"}
    ) as ws:
        async with asyncio.timeout(WAIT):
            seen = json.loads(await ws.recv())
        assert seen == {
            "path": "/inspect?room=lobby",
            "probe": "42",
            "remote": ["127.0.0.1", ws.local_address[1]],
        }


async def test_router_without_process_request_closes_unknown_paths_with_1008():
    router = wsnb.Router({"/echo": wsnb.echo})
    server = await wsnb.serve(router)
    async with wsnb.connect(server.url + "/nope") as ws:
        assert await close_code_of(ws) == ("close", 1008)
    assert await wsnb.exchange(server.url + "/echo", ["ok"]) == ["ok"]


# -- g. TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls():
    return wsnb.localhost_tls()


async def test_tls_server_echoes_for_a_client_trusting_the_throwaway_ca(tls):
    server = await wsnb.serve(wsnb.echo, ssl=tls.server)
    assert server.url.startswith("wss://127.0.0.1:")
    assert await wsnb.exchange(server, ["over tls"], ssl=tls.client) == ["over tls"]
    localhost = f"wss://localhost:{server.port}"
    assert await wsnb.exchange(localhost, ["by name"], ssl=tls.client) == ["by name"]


@pytest.mark.parametrize("client_ssl", ["default-context", "no-ssl-argument"])
async def test_tls_default_trust_rejects_the_throwaway_certificate(tls, client_ssl):
    server = await wsnb.serve(wsnb.echo, ssl=tls.server)
    options = {"ssl": ssl.create_default_context()} if client_ssl == "default-context" else {}
    with pytest.raises(ssl.SSLCertVerificationError):
        async with wsnb.connect(server, **options):
            pass
    assert await wsnb.exchange(server, ["still fine"], ssl=tls.client) == ["still fine"]


def test_tls_ca_pem_is_a_pem_certificate(tls):
    assert tls.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert tls.ca_pem.rstrip().endswith(b"-----END CERTIFICATE-----")
    # Another client can trust it from the PEM alone.
    context = ssl.create_default_context(cadata=tls.ca_pem.decode())
    assert context.cert_store_stats()["x509_ca"] >= 1


# -- h. max_connections -------------------------------------------------------------------------


async def test_max_connections_allows_exactly_n_then_503_until_one_leaves():
    limit = 3
    server = await wsnb.serve(wsnb.echo, process_request=wsnb.max_connections(limit))
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(wsnb.connect(server)) for _ in range(limit)]
        for i, ws in enumerate(clients):
            await assert_echoes(ws, f"client {i}")
        assert len(server.connections) == limit

        with pytest.raises(InvalidStatus) as info:
            async with wsnb.connect(server):
                pass
        assert info.value.response.status_code == 503
        assert f"limit {limit}" in info.value.response.body.decode()

        await clients[0].close()
        async with wsnb.connect(server) as replacement:
            await assert_echoes(replacement, "a freed slot is reused")
            assert await handshake_status(server) == ("http", 503)
        for ws in clients[1:]:
            await assert_echoes(ws, "still here")
