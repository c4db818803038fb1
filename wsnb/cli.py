"""The terminal face of wsnb: ``python -m wsnb serve|connect|check``.

* ``serve echo|hub|rooms`` runs a server until Ctrl-C, then stops cleanly;
* ``connect URL`` is an interactive client: what you type is sent, what
  arrives is printed (JSON pretty-printed; rooms events as chat lines;
  ``/join ROOM`` and friends speak docs/protocol.md);
* ``check NOTEBOOK...`` runs notebooks strictly with nbval and wsnb's
  sanitize rules, as this project's CI does.

Errors are one line on stderr and exit status 1, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .checking import add_check_parser, run_check
from .client import connect
from .core.envelope import request_envelope
from .echo import echo
from .errors import PortInUseError
from .hub import Hub
from .json_messages import encode_json
from .rooms import Rooms
from .server import serve
from .typing import Handler

__all__ = ["main"]

SERVER_KINDS = {
    "echo": "echo every message back",
    "hub": "relay every message to the other clients",
    "rooms": "chat rooms on docs/protocol.md",
}

COMMANDS = """commands (rooms protocol; anything else is sent as typed):
  /name NAME           say hello with a name
  /join ROOM           join a room (with its recent history)
  /leave ROOM          leave a room
  /say ROOM TEXT       publish TEXT in ROOM
  /rooms               list the rooms
  /members ROOM        list a room's members
  /history ROOM        the room's history"""


class CliError(Exception):
    """An error to report in one line."""


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


def _line_to_frame(line: str, next_id: int) -> str:
    """Turn a typed line into what to send: a /command becomes a protocol frame."""
    if not line.startswith("/"):
        return line
    command, _, rest = line[1:].partition(" ")
    if command == "say":  # the text as typed: apostrophes, quotes and spaces are chat
        room, _, text = rest.strip().partition(" ")
        if not room or not text.strip():
            raise CliError(f"unknown command {line!r}\n{COMMANDS}")
        return encode_json(request_envelope("publish", next_id, room, {"body": text.strip()}))
    try:
        words = shlex.split(line[1:]) if line.strip() != "/" else [""]
    except ValueError as exc:
        raise CliError(f"cannot read {line!r}: {exc}") from None
    command, args = words[0], words[1:]
    if command == "name" and len(args) == 1:
        frame = request_envelope("hello", next_id, data={"name": args[0]})
    elif command in ("join", "leave", "members", "history") and len(args) == 1:
        frame = request_envelope(command, next_id, args[0])
    elif command == "rooms" and not args:
        frame = request_envelope(command, next_id)
    else:
        raise CliError(f"unknown command {line!r}\n{COMMANDS}")
    return encode_json(frame)


def _render(message: str | bytes) -> str:
    """How an arriving message is printed: chat lines for rooms events, JSON pretty-printed."""
    if isinstance(message, bytes):
        more = "..." if len(message) > 32 else ""
        return f"< binary {len(message)} bytes: {message[:32].hex()}{more}"
    try:
        frame = json.loads(message)
    except ValueError:
        return f"< {message}"
    if isinstance(frame, dict) and frame.get("type") == "message":
        data = frame.get("data", {})
        body = data.get("body")
        text = body if isinstance(body, str) else json.dumps(body)
        return f"[{frame.get('room')} #{frame.get('seq')}] {data.get('from')}: {text}"
    if isinstance(frame, dict) and frame.get("type") == "presence":
        return _render_presence(frame.get("room"), frame.get("data", {}))
    return "< " + json.dumps(frame, indent=2, ensure_ascii=False).replace("\n", "\n  ")


def _render_presence(room: Any, data: dict[str, Any]) -> str:
    """One line for a presence event: ``[lobby] bob joined; eve left (3 here)``."""

    def names(key: str, verb: str) -> list[str]:
        people = data.get(key) or []
        if not people:
            return []
        shown = ", ".join(str(p.get("name")) for p in people[:5])
        more = f" and {len(people) - 5} more" if len(people) > 5 else ""
        return [f"{shown}{more} {verb}"]

    renamed = [f"{p.get('was')} is now {p.get('name')}" for p in (data.get("renamed") or [])[:5]]
    changes = names("joined", "joined") + names("left", "left") + renamed
    return f"[{room}] {'; '.join(changes) or 'no change'} ({data.get('count')} here)"


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


async def _print_incoming(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            print(_render(message), flush=True)


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


async def _send_outgoing(ws: ClientConnection, printer: asyncio.Task[None], linger: float) -> None:
    """Send each typed line until input ends (then linger for replies) or the server goes."""
    readline = await _stdin_reader()
    next_id = 1
    while not printer.done():
        read = asyncio.ensure_future(readline())
        await asyncio.wait({read, printer}, return_when=asyncio.FIRST_COMPLETED)
        if not read.done():
            read.cancel()
            return
        raw = read.result()
        if not raw:  # end of input: let replies arrive, then close
            await asyncio.wait({printer}, timeout=linger)
            return
        line = raw.decode().rstrip("\n")
        if line.strip() == "/help":
            print(COMMANDS, file=sys.stderr, flush=True)
            continue
        try:
            await ws.send(_line_to_frame(line, next_id))
            next_id += 1
        except CliError as exc:
            print(f"wsnb: {exc}", file=sys.stderr, flush=True)


async def _connect(url: str, linger: float) -> None:
    ws = await _open(url)
    print(
        f"wsnb: connected to {url}; type messages, /help for commands, Ctrl-D to quit",
        file=sys.stderr,
        flush=True,
    )
    printer = asyncio.create_task(_print_incoming(ws))
    try:
        await _send_outgoing(ws, printer, linger)
    finally:
        await ws.close()
        await printer
    if ws.close_code not in (1000, 1001, None):
        print(
            f"wsnb: closed by the server: {ws.close_code} {ws.close_reason}",
            file=sys.stderr,
            flush=True,
        )


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
        description="Send what you type; print what arrives (JSON pretty-printed).",
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
            asyncio.run(_connect(args.url, args.linger))
        else:
            return run_check(args, extra)
    except CliError as exc:
        print(f"wsnb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
