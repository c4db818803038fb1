"""``python -m wsnb demo``: a one-command self-test of an install, in process, on 127.0.0.1.

Each check starts a real server on a free port, talks to it with a real
client and stops it: echo, a JSON handler, a hub followed by a stream, and
rooms shared by a protocol client and a handler of your own. It prints one
line per check and exits 0 if all passed (1 otherwise), with nothing left
running.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from websockets.version import version as websockets_version

from . import __version__
from .blocking import run
from .chatroom import ChatRoom
from .client import connect, exchange
from .echo import echo
from .hub import Hub
from .json_protocol import JsonProtocol
from .registry import registry, running_servers, stop_all
from .rooms import Rooms
from .rooms_client import RoomsClient
from .server import serve
from .stream_client import stream

__all__ = ["main"]

Check = Callable[[], Awaitable[str]]


async def _echo() -> str:
    server = await serve(echo, name="demo-echo")
    replies = await exchange(server, ["hi", b"\x01"])
    await server.stop()
    assert replies == ["hi", b"\x01"], replies
    return "text and binary came back as they went"


async def _json() -> str:
    async def api(ws: Any) -> None:
        await JsonProtocol(ws).handle_loop({"ping": lambda msg: {"type": "pong"}})

    server = await serve(api, name="demo-json")
    replies = await exchange(server, [{"type": "ping"}, {"type": "?"}], json=True)
    await server.stop()
    assert replies[0] == {"type": "pong"} and replies[1]["code"] == "unknown_type", replies
    return "typed dispatch answered, bad input got an error reply"


async def _stream() -> str:
    hub = Hub()
    server = await serve(hub, name="demo-hub")
    feed = await stream(server)
    await hub.wait_for_clients(1)
    sent = await hub.broadcast_json({"n": 1})
    got = await feed.next_message(timeout=5)
    await feed.close()
    await server.stop()
    assert (sent, got) == (1, {"n": 1}), (sent, got)
    return "a hub's broadcast reached a stream client"


async def _rooms() -> str:
    rooms = Rooms()
    lobby = ChatRoom("lobby", rooms=rooms, format="text")
    protocol = await serve(rooms, name="demo-rooms")

    async def own(ws: Any) -> None:
        await lobby.join(ws, username="grace")
        async for text in ws:
            await lobby.send_message(ws, text)

    mine = await serve(own, name="demo-own")
    async with await RoomsClient.connect(protocol, name="ada") as ada, connect(mine) as grace:
        await ada.join("lobby")
        await grace.send("hello ada")
        while (event := await ada.next_event(timeout=5))["type"] != "message":
            pass
        await ada.publish("lobby", "hello grace")
        lines = [await asyncio.wait_for(grace.recv(), 5) for _ in range(2)]
    await mine.stop()
    await protocol.stop()
    assert event["data"]["from"] == "grace" and "ada: hello grace" in lines, (event, lines)
    return "a protocol client and your own handler's client chatted in one room"


CHECKS: list[tuple[str, Check]] = [
    ("echo", _echo),
    ("json", _json),
    ("stream", _stream),
    ("rooms", _rooms),
]


async def _run_checks(out: TextIO) -> int:
    failed = 0
    for name, check in CHECKS:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(20):
                said = await check()
        except Exception as error:  # a self-test reports every failure, then goes on
            failed += 1
            print(f"FAIL {name:7} {type(error).__name__}: {error}", file=out)
        else:
            took = (time.perf_counter() - started) * 1000
            print(f"ok   {name:7} {said} ({took:.0f} ms)", file=out)
    await stop_all()
    left: list[object] = [*running_servers(), *registry.clients()]
    if left:
        failed += 1
        print(f"FAIL cleanup  still running: {left}", file=out)
    return failed


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the self-test; return the exit code (0: every check passed).

    Example::

        $ python -m wsnb demo
        wsnb 0.1.0, websockets 17.4, Python 3.11.7
        ok   echo    text and binary came back as they went (4 ms)
        ...
    """
    parser = argparse.ArgumentParser(
        prog="python -m wsnb demo",
        description="Check this install: real servers and clients on 127.0.0.1, then stopped.",
    )
    parser.parse_args(argv)
    stream_out = out or sys.stdout
    print(
        f"wsnb {__version__}, websockets {websockets_version}, Python {platform.python_version()}",
        file=stream_out,
    )
    failed = run(_run_checks(stream_out))
    print("all checks passed" if not failed else f"{failed} check(s) failed", file=stream_out)
    return 1 if failed else 0
