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

import asyncio
import subprocess
import sys
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


NODE_SCRIPT = """
import asyncio, sys, wsnb
from wsnb.core import RoomLimits
async def main():
    url, prefix, ttl, port = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    backend = wsnb.RedisBackend(url, prefix=prefix, node_ttl=ttl, history_size=20_000)
    server = await wsnb.serve(wsnb.Rooms(backend=backend), port=port)
    print(server.port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class NodeProcess:
    """A ``wsnb.Rooms`` server sharing rooms through Redis, in a process of its own, so
    that a test can kill it (``kill -9``) and start it again on the same port.

    Example::

        node = await NodeProcess.start(redis_url, redis_prefix)
        node.kill(); await node.restart()
    """

    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        self.redis_url, self.prefix, self.ttl = url, prefix, ttl
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    @classmethod
    async def start(cls, url: str, prefix: str, ttl: float = 15.0) -> NodeProcess:
        node = cls(url, prefix, ttl)
        await node.restart()
        return node

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def restart(self) -> None:
        """Start the process (again, on the same port once it had one)."""
        args = [self.redis_url, self.prefix, str(self.ttl), str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", NODE_SCRIPT, *args], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line.strip():
            raise RuntimeError(f"the node did not start (exit code {self.process.wait()})")
        self.port = int(line)

    def kill(self) -> None:
        """``kill -9``: no close frames, no clean leave."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
