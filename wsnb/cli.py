"""The terminal face of wsnb: ``python -m wsnb serve|connect|demo|check``.

* ``serve echo|hub|rooms`` runs a server until Ctrl-C, then stops cleanly;
  ``serve rooms --redis URL`` runs one node of rooms shared through Redis
  (or Valkey): several such processes serve the same rooms;
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
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .client import connect
from .echo import echo
from .errors import PortInUseError
from .hub import Hub
from .rooms import Rooms
from .server import Server, serve
from .terminal import COMMANDS, Chat, CliError, Quit, close_report, presence_line
from .typing import Handler

__all__ = ["main"]

SERVER_KINDS = {
    "echo": "echo every message back",
    "hub": "relay every message to the other clients",
    "rooms": "chat rooms on docs/protocol.md",
}

#: Commands that never need wsnb.checking: importing it (nbformat, jsonschema) takes about a
#: second, which every server and client would pay at startup.
WITHOUT_CHECK = ("serve", "connect", "demo")

#: How long connect waits for a rooms server to answer what --name and --room send first.
OPENING_TIMEOUT = 2.0

# The name the presence line had here before it moved to wsnb/terminal.py.
_render_presence = presence_line


@dataclass(frozen=True)
class Shared:
    """``serve rooms --redis URL``: the Redis through which this node shares its rooms."""

    url: str
    prefix: str = "wsnb"
    node_ttl: float = 15.0

    def rooms(self) -> Rooms:
        """A ``Rooms`` on a :class:`wsnb.RedisBackend`, or a one-line error without redis-py."""
        from .redis_backend import RedisBackend  # redis-py only when asked for

        try:
            backend = RedisBackend(self.url, prefix=self.prefix, node_ttl=self.node_ttl)
        except ImportError as exc:
            raise CliError(f"--redis: {exc}") from None
        return Rooms(backend=backend)

    def where(self, rooms: Handler) -> str:
        """The line a node prints after its URL: which Redis, prefix and node id."""
        backend = getattr(rooms, "backend", None)
        return (
            f"wsnb: rooms shared through {self.safe_url} "
            f"(prefix {self.prefix!r}, node {getattr(backend, 'node', '?')})"
        )

    @property
    def safe_url(self) -> str:
        from .redis_client import _safe_url  # no password in what is printed

        return _safe_url(self.url)


def _make_handler(kind: str, shared: Shared | None = None) -> Handler:
    if kind == "echo":
        return echo
    if kind == "hub":
        return Hub()
    return Rooms() if shared is None else shared.rooms()


async def _start(
    handler: Handler, kind: str, host: str, port: int, shared: Shared | None
) -> Server:
    """Serve (connecting to Redis first when shared), or raise a one-line :class:`CliError`."""
    try:
        return await serve(handler, kind, host, port)
    except PortInUseError:
        raise CliError(
            f"port {port} on {host} is already in use; pick another with --port "
            "(or --port 0 for a free one)"
        ) from None
    except ConnectionError as exc:  # RedisBackend.start() says it; binding never raises it
        if shared is None:
            raise
        reason = str(exc).removeprefix("wsnb.RedisBackend: ").rstrip(". ")
        raise CliError(f"{reason}; is a Redis or Valkey server running there?") from None
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:  # redis-py refusing the URL (no redis://, a bad port)
        if shared is None:
            raise
        raise CliError(f"--redis {shared.safe_url}: {exc}") from None


async def _serve(kind: str, host: str, port: int, shared: Shared | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    handler = _make_handler(kind, shared)
    server = await _start(handler, kind, host, port, shared)
    print(f"wsnb: serving {kind} on {server.url} (Ctrl-C to stop)", flush=True)
    if shared is not None:
        print(shared.where(handler), flush=True)
    await stop.wait()
    try:
        await server.stop()  # shared: this node's members leave every room at once
    except Exception as exc:  # RedisBackend.close() raises its first background error
        if shared is None:
            raise
        raise CliError(f"stopped, but the Redis backend had failed: {exc}") from None
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


async def _print_incoming(ws: ClientConnection, chat: Chat, answered: asyncio.Event) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            for line in chat.render(message):
                print(line, flush=True)
            if chat.answer is not None:
                answered.set()


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


async def _opening(
    ws: ClientConnection,
    chat: Chat,
    printer: asyncio.Task[None],
    answered: asyncio.Event,
    name: str | None,
    room: str | None,
) -> None:
    """Send what --name and --room ask for, then wait for a rooms server's answer.

    The answer decides the mode, not the options: a hub relays the requests
    and an echo server sends them back, so with no rooms answer one line says
    so and plain lines are sent as typed. Nothing typed is sent before then.
    """
    frames = chat.opening(name, room)
    if not frames:
        return
    for frame in frames:
        await ws.send(frame)
    waiter = asyncio.ensure_future(answered.wait())
    await asyncio.wait(
        {waiter, printer}, timeout=OPENING_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    chat.not_rooms()  # unless the server answered as a rooms server
    if chat.answer is True or printer.done():  # gone: close_report says why
        return
    request = "hello" if name is not None else "join"
    why = (
        f"it sent the {request} back"
        if chat.answer is False
        else f"no answer to {request} in {OPENING_TIMEOUT:g} s"
    )
    _say(f"not a rooms server ({why}): names and rooms are for rooms servers; lines go as typed")


async def _connect(url: str, linger: float, chat: Chat, name: str | None, room: str | None) -> int:
    ws = await _open(url)
    where = (
        f"lines go to {room}"
        if room
        else "/join ROOM, then lines go to it"
        if chat.rooms_mode
        else "type lines to send them"
    )
    _say(f"connected to {url}; {where}, /help for commands, /quit or Ctrl-D to quit")
    answered = asyncio.Event()
    printer = asyncio.create_task(_print_incoming(ws, chat, answered))
    try:
        await _opening(ws, chat, printer, answered, name, room)
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


def _parser(check: bool = True) -> argparse.ArgumentParser:
    """The command line; ``check=False`` stands ``check`` in without importing wsnb.checking."""
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
    shared = serve_cmd.add_argument_group(
        "rooms shared by several processes",
        "Each `serve rooms --redis URL` is one node: nodes on the same Redis (or Valkey)\n"
        "and prefix serve the same rooms, with one numbering, history and member list.",
    )
    shared.add_argument(
        "--redis",
        metavar="URL",
        help="share the rooms through this Redis, e.g. redis://127.0.0.1:6379/0 "
        "(needs pip install 'wsnb[redis]')",
    )
    shared.add_argument(
        "--redis-prefix",
        metavar="PREFIX",
        default="wsnb",
        help="start of every key, so that several apps share one Redis (wsnb)",
    )
    shared.add_argument(
        "--redis-node-ttl",
        metavar="SECONDS",
        type=_seconds,
        default=15.0,
        help="a node silent this long is taken for dead and its members leave (15; "
        "a killed node's members leave within about 4/3 of it)",
    )

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
    if check:
        from .checking import add_check_parser

        add_check_parser(commands)
    else:
        commands.add_parser("check", help="run notebooks strictly, as wsnb's CI does")
    return parser


def _seconds(text: str) -> float:
    """argparse's type for a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of seconds, not {text!r}")
    return value


def _shared(args: argparse.Namespace) -> Shared | None:
    """``serve``'s --redis options, checked: None when the rooms stay in this process."""
    given = [
        option
        for option, value, default in (
            ("--redis-prefix", args.redis_prefix, "wsnb"),
            ("--redis-node-ttl", args.redis_node_ttl, 15.0),
        )
        if value != default
    ]
    if args.redis is None:
        if given:
            raise CliError(f"{given[0]} goes with --redis URL (rooms shared through Redis)")
        return None
    if args.kind != "rooms":
        raise CliError(
            f"--redis shares chat rooms between processes: serve rooms --redis URL "
            f"({args.kind} keeps nothing to share)"
        )
    if not args.redis_prefix:
        raise CliError("--redis-prefix must not be empty")
    return Shared(args.redis, args.redis_prefix, args.redis_node_ttl)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in words if not word.startswith("-")), None)
    parser = _parser(check=command not in WITHOUT_CHECK)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "check":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "serve":
            asyncio.run(_serve(args.kind, args.host, args.port, _shared(args)))
        elif args.command == "connect":
            chat = Chat(raw=args.json)
            return asyncio.run(_connect(args.url, args.linger, chat, args.name, args.room))
        elif args.command == "demo":
            from .demo import main as demo_main

            return demo_main([])
        else:
            from .checking import run_check

            return run_check(args, extra)
    except CliError as exc:
        print(f"wsnb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
