"""The one registry: re-serving a name or a port replaces, names coexist, stop_all() stops all.

wsnb keeps every server it started in one process-wide registry, so that a
re-run notebook cell replaces its server instead of failing, and
``stop_all()`` reaches in-loop and threaded servers alike, even those of a
loop that has ended.
"""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from helpers import connection_refused, free_port, shout

import wsnb

# Re-serving replaces; different names coexist


async def test_reserve_same_name_replaces_old_server():
    """Re-running a cell stops the server it started before: port freed, clients told 1001."""
    old = await wsnb.serve(wsnb.echo)
    async with wsnb.connect(old) as client:
        new = await wsnb.serve(wsnb.echo)
        await client.wait_closed()
        assert client.close_code == 1001
    assert old.state == "stopped"
    assert connection_refused(old.port)
    assert new.state == "serving"
    assert wsnb.running_servers() == [new]
    assert await wsnb.exchange(new, ["still here"]) == ["still here"]


async def test_reserve_same_fixed_port_with_other_name_replaces():
    """Serving on a fixed port wsnb already uses replaces that server instead of failing."""
    port = free_port()
    first = await wsnb.serve(wsnb.echo, name="first", port=port)
    second = await wsnb.serve(wsnb.echo_with_prefix(">"), name="second", port=port)
    assert first.state == "stopped"
    assert second.port == port
    assert wsnb.running_servers() == [second]
    assert await wsnb.exchange(f"ws://127.0.0.1:{port}", ["a"]) == [">a"]


async def test_default_name_is_the_handler_name():
    """Without name=, a server is named after its handler (so re-serving it replaces it)."""
    assert (await wsnb.serve(wsnb.echo)).name == "echo"
    assert (await wsnb.serve(shout)).name == "shout"


async def test_two_names_coexist():
    """Two servers with the same handler but different names both keep serving."""
    a = await wsnb.serve(wsnb.echo, name="a")
    b = await wsnb.serve(wsnb.echo, name="b")
    assert a.port != b.port
    assert {a.state, b.state} == {"serving"}
    assert wsnb.running_servers() == [a, b]  # oldest first
    assert await wsnb.exchange(a, ["to a"]) == ["to a"]
    assert await wsnb.exchange(b, ["to b"]) == ["to b"]


async def test_port_held_by_foreign_socket_raises_port_in_use():
    """A port taken by another program gives PortInUseError (an OSError), not a replacement."""
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        with pytest.raises(wsnb.PortInUseError) as info:
            await wsnb.serve(wsnb.echo, port=port)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, wsnb.WsnbError)
    assert info.value.errno == errno.EADDRINUSE
    assert str(port) in str(info.value) and "port=0" in str(info.value)
    assert wsnb.running_servers() == []


def test_reserve_fixed_port_after_the_old_loop_ended():
    """A server left running by a finished asyncio.run() does not block re-serving its port.

    The registry knows that server (wsnb started it in this process), so the
    new serve() must replace it, not report the port as held by another program.
    """
    port = free_port()

    async def serve_and_forget():
        return await wsnb.serve(wsnb.echo, port=port)

    async def serve_again():
        server = await wsnb.serve(wsnb.echo, name="again", port=port)
        replies = await wsnb.exchange(server, ["hi"])
        await server.stop()
        return replies

    old = asyncio.run(serve_and_forget())
    try:
        assert asyncio.run(serve_again()) == ["hi"]
        assert old.state == "stopped"
    finally:
        old.ws_server.server.close()  # release the port even if wsnb did not


def test_stop_all_releases_the_port_of_a_server_whose_loop_ended():
    """stop_all() frees the port of a server whose loop already finished."""

    async def serve_and_forget():
        return await wsnb.serve(wsnb.echo)

    async def stop_all():
        return await wsnb.stop_all()

    old = asyncio.run(serve_and_forget())
    try:
        assert asyncio.run(stop_all()) == 1
        assert old.state == "stopped"
        assert wsnb.running_servers() == []
        assert connection_refused(old.port)
    finally:
        old.ws_server.server.close()


# stop_all()


async def test_stop_all_stops_in_loop_and_threaded_servers():
    """stop_all() reaches every server wsnb started, in this loop or in a thread."""
    in_loop = await wsnb.serve(wsnb.echo)
    threaded = wsnb.serve_in_thread(wsnb.echo, name="threaded")
    assert await wsnb.exchange(threaded, ["t"]) == ["t"]

    assert await wsnb.stop_all() == 2

    assert in_loop.state == "stopped" and threaded.state == "stopped"
    assert connection_refused(in_loop.port) and connection_refused(threaded.port)
    assert wsnb.running_servers() == []
    assert await wsnb.stop_all() == 0
