"""The terminal face of wsnb: ``python -m wsnb serve|connect|demo|check``.

* ``serve echo|hub|rooms`` runs a server until Ctrl-C, then stops cleanly;
* ``connect URL`` is an interactive client (wsnb/terminal.py): what you
  type is sent, what arrives is printed one line each; against a rooms
  server ``/join ROOM`` and plain lines chat (docs/protocol.md); it says
  who closed the connection and exits 1 when it was not you;
* ``demo`` checks an install: real servers and clients on 127.0.0.1;
* ``check NOTEBOOK...`` runs notebooks strictly with nbval and wsnb's
  sanitize rules, as this project's CI does.

Errors are one line on stderr and exit status 1, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .checking import add_check_parser, run_check
from .client import connect
from .echo import echo
from .errors import PortInUseError
from .hub import Hub
from .rooms import Rooms
from .server import serve
from .terminal import COMMANDS, Chat, CliError, Quit, close_report, presence_line
from .typing import Handler

__all__ = ["main"]

SERVER_KINDS = {
    "echo": "echo every message back",
    "hub": "relay every message to the other clients",
    "rooms": "chat rooms on docs/protocol.md",
}

# The name the presence line had here before it moved to wsnb/terminal.py.
_render_presence = presence_line


def _make_handler(kind: str) -> Handler:
    if kind == "echo":
        return echo
    if kind == "hub":
        return Hub()
    return Rooms()


async def _serve(kind: str, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = await serve(_make_handler(kind), kind, host, port)
    except PortInUseError:
        raise CliError(
            f"port {port} on {host} is already in use; pick another with --port "
            "(or --port 0 for a free one)"
        ) from None
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    print(f"wsnb: serving {kind} on {server.url} (Ctrl-C to stop)", flush=True)
    await stop.wait()
    await server.stop()
    print("wsnb: stopped", flush=True)


async def _open(url: str) -> ClientConnection:
    """Connect, or raise a one-line :class:`CliError` that says why not."""
    try:
        return await connect(url, open_timeout=5)
    except ConnectionRefusedError:
        raise CliError(
            f"cannot connect to {url}: connection refused (is a server listening there?)"
        ) from None
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise CliError(f"cannot connect to {url}: {reason}") from None
    except InvalidURI as exc:
        raise CliError(f"not a WebSocket URL: {exc.uri}") from None
    except InvalidHandshake as exc:
        raise CliError(f"{url} refused the connection: {exc}") from None


async def _print_incoming(ws: ClientConnection, chat: Chat) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            for line in chat.render(message):
                print(line, flush=True)


async def _stdin_reader() -> Callable[[], Awaitable[bytes]]:
    """A coroutine function that reads one line of stdin without blocking the loop."""
    reader = asyncio.StreamReader()
    try:
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        return reader.readline
    except ValueError:  # a regular file (connect URL < commands.txt) is not a pipe

        async def readline_in_thread() -> bytes:
            return await asyncio.to_thread(sys.stdin.buffer.readline)

        return readline_in_thread


def _say(text: str) -> None:
    print(f"wsnb: {text}", file=sys.stderr, flush=True)


async def _send_line(ws: ClientConnection, chat: Chat, line: str) -> None:
    """Send what a typed line stands for; a bad command is one line on stderr."""
    if line.strip() == "/help":
        print(COMMANDS, file=sys.stderr, flush=True)
        return
    try:
        frame = chat.frame_for(line)
    except CliError as exc:
        _say(str(exc))
        return
    if frame is not None:
        await ws.send(frame)


async def _send_outgoing(
    ws: ClientConnection, chat: Chat, printer: asyncio.Task[None], linger: float
) -> None:
    """Send typed lines until input ends or /quit (then linger for replies), or the server goes."""
    readline = await _stdin_reader()
    while not printer.done():
        read = asyncio.ensure_future(readline())
        await asyncio.wait({read, printer}, return_when=asyncio.FIRST_COMPLETED)
        if not read.done():
            read.cancel()
            return
        raw = read.result()
        try:
            if not raw:
                raise Quit  # end of input (Ctrl-D): the user's choice
            await _send_line(ws, chat, raw.decode().rstrip("\r\n"))
        except Quit:
            await asyncio.wait({printer}, timeout=linger)  # let replies arrive, then close
            return


async def _connect(url: str, linger: float, chat: Chat, name: str | None, room: str | None) -> int:
    ws = await _open(url)
    chat.rooms_mode = chat.rooms_mode or bool(name or room)
    where = (
        f"lines go to {room}"
        if room
        else "/join ROOM, then lines go to it"
        if chat.rooms_mode
        else "type lines to send them"
    )
    _say(f"connected to {url}; {where}, /help for commands, /quit or Ctrl-D to quit")
    printer = asyncio.create_task(_print_incoming(ws, chat))
    try:
        for line in ([f"/name {name}"] if name else []) + ([f"/join {room}"] if room else []):
            await _send_line(ws, chat, line)
        await _send_outgoing(ws, chat, printer, linger)
    except ConnectionClosed:
        pass  # said below
    finally:
        server_first = ws.protocol.close_rcvd is not None or printer.done()
        await ws.close()
        await printer
    report, by_them = close_report(ws)
    if server_first and by_them:
        _say(report)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsnb", description="WebSocket servers, clients and notebook checks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser(
        "serve",
        help="run a server until Ctrl-C",
        description="Run a wsnb server until Ctrl-C (or SIGTERM), then stop cleanly.",
        epilog="\n".join(f"  {name:6} {what}" for name, what in SERVER_KINDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_cmd.add_argument("kind", choices=list(SERVER_KINDS), help="which server")
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=8765, help="port (8765; 0: a free one)")

    connect_cmd = commands.add_parser(
        "connect",
        help="an interactive client",
        description="Send what you type; print what arrives, one line each. Against a rooms "
        "server, /join ROOM and then plain lines chat in that room.",
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connect_cmd.add_argument("url", help="ws:// or wss:// URL")
    connect_cmd.add_argument(
        "--linger",
        type=float,
        default=1.0,
        help="seconds to wait for replies once input ends (1.0)",
    )
    connect_cmd.add_argument("--name", help="rooms: say hello with this name first")
    connect_cmd.add_argument("--room", help="rooms: join this room first; lines go to it")
    connect_cmd.add_argument(
        "--json",
        action="store_true",
        help="print every frame exactly as it arrives and send lines as typed (for scripts)",
    )

    commands.add_parser(
        "demo", help="check this install: real servers and clients on 127.0.0.1, one line each"
    )
    add_check_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "check":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "serve":
            asyncio.run(_serve(args.kind, args.host, args.port))
        elif args.command == "connect":
            chat = Chat(raw=args.json)
            return asyncio.run(_connect(args.url, args.linger, chat, args.name, args.room))
        elif args.command == "demo":
            from .demo import main as demo_main

            return demo_main([])
        else:
            return run_check(args, extra)
    except CliError as exc:
        print(f"wsnb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
