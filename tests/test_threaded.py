"""The synchronous world: serve_in_thread, connect_sync/exchange_sync, SameLoopError."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from helpers import connection_refused, free_port, wait_until, wait_until_sync
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect as sync_connect

import wsnb


def wsnb_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("wsnb-")}


def test_serve_in_thread_from_plain_sync_code():
    """serve_in_thread returns a listening server that the blocking websockets client can use."""
    server = wsnb.serve_in_thread(wsnb.echo)
    assert server.name == "echo"
    assert server.state == "serving"
    assert server.url == f"ws://127.0.0.1:{server.port}"
    assert wsnb.running_servers() == [server]
    with sync_connect(server.url, proxy=None) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
        ws.send(b"\x00")
        assert ws.recv(timeout=5) == b"\x00"
    server.stop()


def test_serve_in_thread_as_context_manager_stops_on_exit():
    """`with wsnb.serve_in_thread(...)` stops the server: state, port, registry, thread."""
    before = wsnb_threads()
    with wsnb.serve_in_thread(wsnb.echo) as server:
        assert len(wsnb_threads() - before) == 1
        assert wsnb.exchange_sync(server, ["in"]) == ["in"]
    assert server.state == "stopped"
    assert connection_refused(server.port)
    assert wsnb.running_servers() == []
    assert wsnb_threads() - before == set()


def test_threaded_stop_is_idempotent_and_ends_the_thread():
    """stop() can be called again; after the first call the server's thread is gone."""
    before = wsnb_threads()
    server = wsnb.serve_in_thread(wsnb.echo)
    (thread,) = wsnb_threads() - before
    server.stop()
    assert not thread.is_alive()
    server.stop()
    assert server.state == "stopped"
    assert "stopped" in repr(server)


def test_threaded_stop_closes_sync_clients_with_1001():
    """A blocking client connected when the threaded server stops is told 1001."""
    server = wsnb.serve_in_thread(wsnb.echo)
    with wsnb.connect_sync(server) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
        wait_until_sync(lambda: len(server.connections) == 1)
        server.stop()
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=5)
        assert ws.close_code == 1001


def test_threaded_repr_and_html():
    """A threaded server displays as wsnb.ThreadedServer with url, state and clients."""
    with wsnb.serve_in_thread(wsnb.echo, name="<i>t</i>") as server:
        assert repr(server) == f"<wsnb.ThreadedServer '<i>t</i>' {server.url} serving, 0 clients>"
        html = server._repr_html_()
        assert "wsnb.ThreadedServer &lt;i&gt;t&lt;/i&gt;" in html
        assert "<i>t</i>" not in html and server.url in html


def test_serve_in_thread_same_name_replaces():
    """Re-running serve_in_thread under the same name stops the previous one."""
    old = wsnb.serve_in_thread(wsnb.echo)
    new = wsnb.serve_in_thread(wsnb.echo)
    assert old.state == "stopped" and connection_refused(old.port)
    assert wsnb.running_servers() == [new]
    assert wsnb.exchange_sync(new, ["x"]) == ["x"]


def test_serve_in_thread_same_fixed_port_replaces():
    """A fixed port used by an earlier threaded server is taken over, not refused."""
    port = free_port()
    first = wsnb.serve_in_thread(wsnb.echo, name="first", port=port)
    second = wsnb.serve_in_thread(wsnb.echo_with_prefix("2:"), name="second", port=port)
    assert first.state == "stopped"
    assert second.port == port
    assert wsnb.exchange_sync(f"ws://127.0.0.1:{port}", ["x"]) == ["2:x"]


def test_serve_in_thread_port_in_use_raises_and_leaves_no_thread():
    """A foreign port holder gives PortInUseError, and no server thread lingers."""
    before = wsnb_threads()
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        with pytest.raises(wsnb.PortInUseError):
            wsnb.serve_in_thread(wsnb.echo, port=foreign.getsockname()[1])
    assert wsnb_threads() - before == set()
    assert wsnb.running_servers() == []


def test_connect_sync_and_exchange_sync_from_sync_code():
    """The blocking helpers talk to a threaded server, by object or URL."""
    with wsnb.serve_in_thread(wsnb.echo) as server:
        with wsnb.connect_sync(server.url) as ws:
            ws.send("a")
            assert ws.recv(timeout=5) == "a"
        assert wsnb.exchange_sync(server, ["a", b"b"]) == ["a", b"b"]
        assert wsnb.exchange_sync(server.url, ["c"], replies=0) == []


def test_exchange_sync_timeout_carries_replies():
    """exchange_sync raises ExchangeTimeout holding the replies that did arrive."""
    with wsnb.serve_in_thread(wsnb.echo) as server:
        with pytest.raises(wsnb.ExchangeTimeout) as info:
            wsnb.exchange_sync(server, ["hi"], replies=2, timeout=0.2)
    assert info.value.replies == ["hi"]


def test_connect_sync_ignores_proxy_environment(monkeypatch):
    """The blocking client also goes direct to loopback despite proxy variables."""
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("https_proxy", "http_proxy", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    with wsnb.serve_in_thread(wsnb.echo) as server:
        assert wsnb.exchange_sync(server, ["direct"]) == ["direct"]


async def test_threaded_server_from_async_code():
    """From async code, a threaded server works with the async helpers and stop_all()."""
    server = wsnb.serve_in_thread(wsnb.echo)
    assert await wsnb.exchange(server, ["x"]) == ["x"]
    assert await wsnb.stop_all() == 1
    assert server.state == "stopped"


async def test_serve_in_thread_replaces_an_in_loop_server_on_the_same_port():
    """Switching a cell from serve() to serve_in_thread() on a fixed port just works."""
    port = free_port()
    in_loop = await wsnb.serve(wsnb.echo, name="in_loop", port=port)
    async with wsnb.connect(in_loop) as client:
        threaded = wsnb.serve_in_thread(wsnb.echo_with_prefix("t:"), name="threaded", port=port)
        await client.wait_closed()
        assert client.close_code == 1001
    await wait_until(lambda: in_loop.state == "stopped")
    assert wsnb.running_servers() == [threaded]
    assert await wsnb.exchange(f"ws://127.0.0.1:{port}", ["x"]) == ["t:x"]


async def test_serve_replaces_a_threaded_server_of_the_same_name():
    """Switching a cell from serve_in_thread() back to serve() stops the threaded server."""
    threaded = wsnb.serve_in_thread(wsnb.echo)
    in_loop = await wsnb.serve(wsnb.echo)
    assert threaded.state == "stopped"
    assert connection_refused(threaded.port)
    assert wsnb.running_servers() == [in_loop]


@pytest.mark.timeout(30)
async def test_exchange_sync_on_the_servers_own_loop_raises_same_loop_error():
    """A blocking exchange with a server on the caller's own loop fails at once, no hang."""
    server = await wsnb.serve(wsnb.echo)
    # open_timeout=60 is longer than this test's timeout: a hang would fail the test.
    with pytest.raises(wsnb.SameLoopError) as info:
        wsnb.exchange_sync(server, ["hi"], open_timeout=60)
    assert isinstance(info.value, RuntimeError)
    assert "serve_in_thread" in str(info.value)
    assert "await wsnb.exchange" in str(info.value)
    with pytest.raises(wsnb.SameLoopError):
        wsnb.connect_sync(server.url, open_timeout=60)
    # The server is unaffected.
    assert await wsnb.exchange(server, ["still serving"]) == ["still serving"]


async def test_exchange_sync_in_a_worker_thread_reaches_the_in_loop_server():
    """exchange_sync via asyncio.to_thread works: the loop stays free to serve."""
    server = await wsnb.serve(wsnb.echo)
    assert await asyncio.to_thread(wsnb.exchange_sync, server, ["hi", b"\x01"]) == ["hi", b"\x01"]


async def test_connect_sync_timeout_on_own_loop_gets_a_hint():
    """Against a server wsnb did not start, on the caller's loop, the timeout carries the fix."""
    from websockets.asyncio.server import serve as plain_serve

    async with plain_serve(wsnb.echo, "127.0.0.1", 0) as plain:
        url = f"ws://127.0.0.1:{plain.sockets[0].getsockname()[1]}"
        with pytest.raises(TimeoutError) as info:
            wsnb.connect_sync(url, open_timeout=0.3)
    assert any("serve_in_thread" in note for note in getattr(info.value, "__notes__", []))
