"""Redis for tests: one real server per pytest process, and a key prefix per test.

tests/conftest.py imports both fixtures, so any test can ask for them:

* ``redis_url`` (session scope): the URL of a server started with
  :func:`wsnb.redis_server` the first time a test asks, stopped when the
  session ends. Under pytest-xdist each worker is a process with its own
  session, hence its own server. It runs without the append-only file (no
  fsync per write): a test that restarts or kills a server starts its own.
* ``redis_prefix``: a unique key prefix, ``wsnb-test-<8 hex digits>``, so tests
  share the server without FLUSHALL and without seeing each other's keys.

Example::

    async def test_set(redis_url: str, redis_prefix: str) -> None:
        client = redis.asyncio.from_url(redis_url)
        await client.set(f"{redis_prefix}:k", "v")
        await client.aclose()
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

import wsnb
from wsnb.registry import registry


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of this process's shared Redis server."""
    server = wsnb.redis_server(appendonly=False)
    # Out of wsnb's registry: conftest's _stop_wsnb_servers checks that each test starts
    # with no server registered and stops every one after it, and this one outlives tests.
    registry.discard(server)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses: ``wsnb-test-1f3a9c0e``."""
    return f"wsnb-test-{uuid4().hex[:8]}"
