"""Shared fixtures: every test starts and ends with no wsnb server running.

The servers many tests need (echo, rooms, hub) are fixtures here too, each
served on the test's own loop and stopped after it. A test that restarts one
(a new server object on the same port) leaves the new one to
``_stop_wsnb_servers``, which stops whatever is left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis_helpers import redis_prefix, redis_url  # noqa: F401 (fixtures for every test)

import wsnb


@pytest.fixture(autouse=True)
async def _stop_wsnb_servers():
    """Stop every server a test left behind, on the test's own loop.

    wsnb's registry is process-global, so a server leaked by one test would
    be replaced by (or clash with) the next test's. The fixture is async so
    that it runs on the same loop as an async test (where in-loop servers
    live); for a synchronous test it runs on a loop of its own, which is
    fine for serve_in_thread servers.
    """
    assert wsnb.running_servers() == [], "a previous test leaked a wsnb server"
    yield
    await wsnb.stop_all()
    assert wsnb.running_servers() == []


@pytest.fixture
async def echo_server() -> AsyncIterator[wsnb.Server]:
    """``wsnb.echo`` served on a free port."""
    server = await wsnb.serve(wsnb.echo)
    yield server
    await server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``BACKENDS = ["memory", "redis"]`` runs its ``rooms_server`` tests on both."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "rooms_server" in metafunc.fixturenames:
        metafunc.parametrize("rooms_server", backends, indirect=True)


@pytest.fixture
async def rooms_server(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[wsnb.Rooms, wsnb.Server]]:
    """A ``wsnb.Rooms()`` with the default limits, served as "rooms": ``(rooms, server)``;
    parametrized ``"redis"``, its rooms are shared through a real Redis-protocol server."""
    backend = None
    if getattr(request, "param", "memory") == "redis":
        pytest.importorskip("redis", reason="pip install -e '.[test]' brings redis-py")
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        backend = wsnb.RedisBackend(url, prefix=prefix)
    rooms = wsnb.Rooms(backend=backend)
    server = await wsnb.serve(rooms, name="rooms")
    yield rooms, server
    await server.stop()


@pytest.fixture
async def hub_server() -> AsyncIterator[tuple[wsnb.Hub, wsnb.Server]]:
    """A ``wsnb.Hub()`` as the handler (it relays), served as "hub": ``(hub, server)``."""
    hub = wsnb.Hub()
    server = await wsnb.serve(hub, name="hub")
    yield hub, server
    await server.stop()


OpenClient = Callable[..., Awaitable[wsnb.RoomsClient]]


@pytest.fixture
async def open_client() -> AsyncIterator[OpenClient]:
    """``await open_client(server, name=None)``: a connected RoomsClient, closed after the test."""
    clients: list[wsnb.RoomsClient] = []

    async def open_(server: wsnb.Server, name: str | None = None) -> wsnb.RoomsClient:
        client = await wsnb.RoomsClient.connect(server, name=name)
        clients.append(client)
        return client

    yield open_
    for client in clients:
        await client.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright (browser tests skip, with a reason, without it)."""
    from browser_helpers import launched_chromium  # Playwright only when a test asks

    async with launched_chromium() as launched:
        yield launched


@pytest.fixture
async def chat_server() -> AsyncIterator[tuple[wsnb.Rooms, wsnb.Server]]:
    """A ``wsnb.Rooms()`` served as "chat" for browser chats: ``(rooms, server)``."""
    from browser_helpers import serve_rooms

    rooms = wsnb.Rooms()
    server = await serve_rooms(rooms)
    yield rooms, server
    await server.stop()
