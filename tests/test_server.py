"""serve() and stop(): listening, address, reprs, options, and quiet handler endings.

What the registry does with servers (re-serving a name or a port replaces,
stop_all): test_registry.py.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from helpers import connection_refused, free_port, run_script, shout, wait_until
from websockets.exceptions import ConnectionClosed

import wsnb

# serve(): listening, address, display


async def test_serve_returns_while_listening():
    """A client can connect the moment serve() returns: no serve_forever, no race."""
    server = await wsnb.serve(wsnb.echo)
    async with wsnb.connect(server) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
    assert server.state == "serving"


async def test_serve_defaults_to_loopback_and_a_free_port():
    """By default the server listens on 127.0.0.1 only, on a port the OS picked."""
    server = await wsnb.serve(wsnb.echo)
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"ws://127.0.0.1:{server.port}"
    bound = {sock.getsockname()[:2] for sock in server.ws_server.sockets}
    assert bound == {("127.0.0.1", server.port)}


async def test_serve_on_requested_port():
    """An explicit port is used as given and appears in url and port."""
    port = free_port()
    server = await wsnb.serve(wsnb.echo, port=port)
    assert server.port == port
    assert server.url == f"ws://127.0.0.1:{port}"
    assert await wsnb.exchange(server.url, ["x"]) == ["x"]


async def test_repr_shows_name_url_state_and_client_count():
    """repr tells at a glance where the server is, whether it runs and who is connected."""
    server = await wsnb.serve(wsnb.echo, name="demo")
    text = repr(server)
    assert "'demo'" in text and server.url in text
    assert "serving" in text and "0 clients" in text

    async with wsnb.connect(server):
        await wait_until(lambda: len(server.connections) == 1)
        assert "1 client>" in repr(server)

    await server.stop()
    assert "stopped" in repr(server) and "0 clients" in repr(server)


async def test_repr_html_shows_fields_and_escapes_the_name():
    """The notebook card shows url, state and clients, and a name cannot inject HTML."""
    server = await wsnb.serve(wsnb.echo, name="<b>x</b>")
    async with wsnb.connect(server):
        await wait_until(lambda: len(server.connections) == 1)
        html = server._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    assert server.url in html
    assert "serving" in html
    assert "clients: <code>1</code>" in html


async def test_compression_is_off_by_default():
    """serve() does not negotiate permessage-deflate unless asked to."""
    server = await wsnb.serve(wsnb.echo)
    async with wsnb.connect(server) as ws:  # the client offers deflate by default
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None


async def test_compression_deflate_can_be_turned_on():
    """compression="deflate" negotiates permessage-deflate, and messages still echo."""
    server = await wsnb.serve(wsnb.echo, compression="deflate")
    async with wsnb.connect(server) as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        await ws.send("a" * 1000)
        assert await ws.recv() == "a" * 1000


async def test_websockets_options_pass_through():
    """Other keywords (here max_size) reach websockets' serve() unchanged."""
    server = await wsnb.serve(wsnb.echo, max_size=10)
    async with wsnb.connect(server) as ws:
        await ws.send("0123456789")
        assert await ws.recv() == "0123456789"
        await ws.send("0123456789!")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009


# stop()


async def test_stop_closes_open_clients_with_1001():
    """stop() tells every connected client "going away" (1001)."""
    server = await wsnb.serve(wsnb.echo)
    async with wsnb.connect(server) as a, wsnb.connect(server) as b:
        await server.stop()
        await a.wait_closed()
        await b.wait_closed()
        assert (a.close_code, b.close_code) == (1001, 1001)
    assert server.state == "stopped"
    assert server.connections == []


async def test_stop_is_idempotent():
    """Stopping twice, or twice at once, is harmless."""
    server = await wsnb.serve(wsnb.echo)
    await asyncio.gather(server.stop(), server.stop())
    await server.stop()
    assert server.state == "stopped"


async def test_stop_leaves_no_task_no_socket_no_registry_entry():
    """After stop() nothing of the server remains: no task, no listening socket, not listed."""
    before = asyncio.all_tasks()
    server = await wsnb.serve(wsnb.echo)
    assert await wsnb.exchange(server, ["a", b"b"]) == ["a", b"b"]
    async with wsnb.connect(server) as client:
        await client.send("open while stopping")
        await client.recv()
        await server.stop()
        await client.wait_closed()
    assert asyncio.all_tasks() <= before
    assert connection_refused(server.port)
    assert server not in wsnb.running_servers()


async def test_server_as_async_context_manager_stops_on_exit():
    """`async with await wsnb.serve(...)` stops the server at the end of the block."""
    async with await wsnb.serve(wsnb.echo) as server:
        assert await wsnb.exchange(server, ["in"]) == ["in"]
    assert server.state == "stopped"
    assert connection_refused(server.port)


# Handlers end quietly when clients go away, but bugs stay visible


async def _disconnect_by_cancelling(server) -> None:
    """A client task cancelled inside `async with connect(...)` (websockets sends 1011)."""
    inside = asyncio.Event()

    async def client():
        async with wsnb.connect(server) as ws:
            await ws.send("hi")
            await ws.recv()
            inside.set()
            await asyncio.Future()  # until cancelled

    task = asyncio.create_task(client())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _disconnect_by_aborting(server) -> None:
    """A client whose TCP connection drops without a closing handshake."""
    ws = await wsnb.connect(server)
    await ws.send("hi")
    await ws.recv()
    ws.transport.abort()
    await ws.wait_closed()


def _error_records(caplog):
    return [
        r for r in caplog.records if r.name.startswith("websockets") and r.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize(
    ("disconnect", "server_sees"),
    [(_disconnect_by_cancelling, 1011), (_disconnect_by_aborting, 1006)],
    ids=["cancelled-client", "aborted-tcp"],
)
@pytest.mark.parametrize("handler_kind", ["wsnb.echo", "user-handler"])
async def test_client_going_away_logs_no_handler_error(
    caplog, disconnect, server_sees, handler_kind
):
    """An abnormal client disconnect puts no 'connection handler failed' traceback in the cell."""
    caplog.set_level(logging.DEBUG, logger="websockets")
    codes_seen = []

    async def user_handler(ws):
        try:
            await shout(ws)  # lets ConnectionClosedError escape
        finally:
            codes_seen.append(ws.close_code)

    handler = wsnb.echo if handler_kind == "wsnb.echo" else user_handler
    server = await wsnb.serve(handler, name="quiet")
    await disconnect(server)
    await wait_until(lambda: not server.connections)
    await server.stop()  # waits until the handler has finished (and would have logged)

    if handler_kind == "user-handler":
        assert codes_seen == [server_sees]
    assert not any("connection handler failed" in r.getMessage() for r in caplog.records)
    assert _error_records(caplog) == []


async def test_handler_bug_is_still_logged(caplog):
    """A handler raising a real exception (not a disconnect) is logged with its traceback."""
    caplog.set_level(logging.DEBUG, logger="websockets")

    async def broken(ws):
        await ws.recv()
        raise ValueError("a bug in the handler")

    server = await wsnb.serve(broken)
    async with wsnb.connect(server) as ws:
        await ws.send("trigger")
        await ws.wait_closed()
        assert ws.close_code == 1011
    await server.stop()

    failures = [r for r in caplog.records if "connection handler failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert isinstance(failures[0].exc_info[1], ValueError)


async def test_ends_quietly_keeps_the_handler_name_and_other_errors():
    """ends_quietly() swallows only ConnectionClosed and keeps the wrapped handler's name."""
    wrapped = wsnb.ends_quietly(shout)
    assert wrapped.__name__ == "shout"

    async def raises(exc):
        async def handler(ws):
            raise exc

        return await wsnb.ends_quietly(handler)(None)

    assert await raises(ConnectionClosed(None, None)) is None
    with pytest.raises(KeyError):
        await raises(KeyError("bug"))


# Script mode: the same code outside a notebook


def test_script_with_asyncio_run_serves_exchanges_and_stops():
    """A plain script using asyncio.run(main()) runs the notebook code and exits cleanly."""
    result = run_script(
        """
        import asyncio
        import wsnb

        async def main():
            server = await wsnb.serve(wsnb.echo)
            print(await wsnb.exchange(server, ["hi", b"\\x01"]))
            await server.stop()
            print(server.state, wsnb.running_servers())

        asyncio.run(main())
        """
    )
    assert result.stderr == ""
    assert result.returncode == 0
    assert result.stdout == "['hi', b'\\x01']\nstopped []\n"


def test_script_with_threaded_server_and_no_asyncio():
    """A synchronous script serves in a thread, exchanges, and exits cleanly."""
    result = run_script(
        """
        import wsnb

        with wsnb.serve_in_thread(wsnb.echo) as server:
            print(wsnb.exchange_sync(server, ["hi"]))
        print(server.state)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "['hi']\nstopped\n"
