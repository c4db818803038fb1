"""The terminal client of ``python -m wsnb connect``: typed lines out, one short line per frame in.

Against any WebSocket server, a typed line is sent as one text message and
what arrives is printed after ``< ``. Against a :class:`wsnb.Rooms` server
(docs/protocol.md) it is a chat client: ``/join ROOM`` (or ``--room``) picks
the current room and plain lines are published there (``--name`` says
``hello`` first); replies are one short line (``* joined lobby: 2 here (ada,
bob)``); messages, history included, print as ``[lobby #1] ada: hello``;
errors as ``! not_a_member: ...``.
``--json`` prints every frame exactly as it arrived, for scripts.

What the server is decides the mode, not the options: the requests of
``--name`` and ``--room`` are sent first (:meth:`Chat.opening`) and rooms
mode starts when the server answers them as a rooms server does. A hub
relays them and an echo server sends them back; then plain lines stay
plain, sent as typed.

When the connection ends, the client says who closed it, with the code and
the reason; the exit status is 0 only when the user ended it (``/quit``,
Ctrl-D, the end of piped input).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

from .core.envelope import request_envelope
from .json_messages import encode_json

__all__ = ["COMMANDS", "CliError", "Chat", "close_report"]

COMMANDS = """commands (for a rooms server, docs/protocol.md):
  /join ROOM           join a room and make it the current one (with its recent history)
  TEXT                 a line without / is sent to the current room (to any other server: as typed)
  /say ROOM TEXT       publish TEXT in ROOM
  /name NAME           say hello with a name
  /leave ROOM          leave a room
  /rooms               list the rooms
  /members ROOM        list a room's members
  /history ROOM        the room's recent messages
  /help                this list
  /quit                quit (or Ctrl-D; Ctrl-C quits too)"""

#: Close codes in words, as the browser chat says them (docs/protocol.md has them all).
CLOSE_MEANINGS = {
    1000: "normal close",
    1001: "going away: the server stopped",
    1006: "no close frame: the server's process ended or the network dropped",
    1008: "policy violation",
    1009: "a message was too big",
    1011: "the server failed",
    1012: "the server is restarting",
    4401: "unauthorized",
    4408: "no authentication in time",
    4429: "too many messages",
}

#: At most this many names are printed for a room's members.
NAMES_SHOWN = 10


class CliError(Exception):
    """An error to report in one line."""


class Quit(Exception):
    """The user typed /quit."""


def _names(people: list[dict[str, Any]], count: int) -> str:
    shown = ", ".join(str(p.get("name")) for p in people[:NAMES_SHOWN])
    more = count - min(len(people), NAMES_SHOWN)
    return shown + (f" and {more} more" if more > 0 else "")


def message_line(frame: dict[str, Any], room: Any = None) -> str:
    """A room message as one chat line: ``[lobby #1] ada: hello``.

    >>> message_line({"room": "lobby", "seq": 1, "data": {"from": "ada", "body": "hi"}})
    '[lobby #1] ada: hi'
    """
    data = frame.get("data") or {}
    body = data.get("body")
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"[{frame.get('room', room)} #{frame.get('seq')}] {data.get('from')}: {text}"


def presence_line(room: Any, data: dict[str, Any]) -> str:
    """One line for a presence event: ``[lobby] bob joined; eve left (3 here)``.

    >>> presence_line("lobby", {"joined": [{"id": 2, "name": "bob"}], "count": 2})
    '[lobby] bob joined (2 here)'
    """

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


@dataclass
class Chat:
    """What the client knows of its session: rooms mode, the current room, the next id.

    Rooms mode starts with a rooms command typed (``/join``...) or when the
    server answers like a rooms server (a reply, an error with a code); then
    plain lines are published to the current room. The requests of
    ``--name`` and ``--room`` (:meth:`opening`) do not start it by
    themselves: the server's answer to them does (``answer``).

    Example::

        chat = Chat()
        chat.frame_for("/join lobby")     # '{"type":"join","id":1,"room":"lobby"}'
        chat.render('{"type":"reply","id":1,"re":"join","data":{...}}')  # ['* joined lobby...']
    """

    raw: bool = False
    rooms_mode: bool = False
    room: str | None = None
    next_id: int = 1
    answer: bool | None = None
    """What the server made of :meth:`opening`: True answered as a rooms server, False
    sent a request back (an echo server), None no answer yet (a hub never answers)."""
    _before_join: str | None = None
    _you: dict[str, Any] = field(default_factory=dict)  # room -> this client's member id
    _opening: frozenset[str] = frozenset()  # opening frames not answered yet

    # Out: typed lines to frames -------------------------------------------------------

    def opening(self, name: str | None = None, room: str | None = None) -> list[str]:
        """The frames ``--name`` (``hello``) and ``--room`` (``join``) send first.

        Unlike the same commands typed, they do not start rooms mode: they
        ask what the server is, and :meth:`render` reads its answer into
        :attr:`answer` (then :meth:`not_rooms` if it was not a rooms server).
        """
        frames = []
        if name is not None:
            frames.append(self._request("hello", data={"name": name}, starts_rooms=False))
        if room is not None:
            self._before_join, self.room = self.room, room
            frames.append(self._request("join", room, starts_rooms=False))
        self._opening = frozenset(frames)
        return frames

    def not_rooms(self) -> None:
        """The opening got no rooms answer: no current room, plain lines as typed."""
        if self._opening and self.answer is not True:
            self.rooms_mode, self.room = False, self._before_join
        self._opening = frozenset()

    def frame_for(self, line: str) -> str | None:
        """What to send for a typed line (None: nothing); :class:`CliError` for a bad command."""
        if line.startswith("/"):
            return self._command(line)
        if self.raw or not self.rooms_mode:
            return line
        if self.room is None:
            raise CliError("join a room first (/join lobby); then lines go to it")
        if not line.strip():
            return None
        return self._request("publish", self.room, {"body": line, "reply": False})

    def _request(
        self, kind: str, room: str | None = None, data: Any = None, *, starts_rooms: bool = True
    ) -> str:
        self.rooms_mode = self.rooms_mode or starts_rooms
        frame = request_envelope(kind, self.next_id, room, data)
        self.next_id += 1
        return encode_json(frame)

    def _command(self, line: str) -> str | None:
        command, _, rest = line[1:].partition(" ")
        if command in ("quit", "exit") and not rest.strip():
            raise Quit
        if command == "say":  # the text as typed: apostrophes, quotes and spaces are chat
            room, _, text = rest.strip().partition(" ")
            if not room or not text.strip():
                raise CliError(f"usage: /say ROOM TEXT (not {line!r})")
            return self._request("publish", room, {"body": text.strip(), "reply": False})
        try:
            words = shlex.split(line[1:]) if line.strip() != "/" else [""]
        except ValueError as exc:
            raise CliError(f"cannot read {line!r}: {exc}") from None
        command, args = words[0], words[1:]
        if command == "name" and len(args) == 1:
            return self._request("hello", data={"name": args[0]})
        if command == "join" and len(args) == 1:
            # The current room from now on, so that lines typed before the reply go there.
            self._before_join, self.room = self.room, args[0]
            return self._request(command, args[0])
        if command in ("leave", "members", "history") and len(args) == 1:
            return self._request(command, args[0])
        if command == "rooms" and not args:
            return self._request(command)
        raise CliError(f"unknown command {line!r} (/help lists them)")

    # In: frames to lines ----------------------------------------------------------------

    def render(self, message: str | bytes) -> list[str]:
        """The lines to print for an arriving message."""
        if isinstance(message, bytes):
            more = "..." if len(message) > 32 else ""
            return [f"< binary {len(message)} bytes: {message[:32].hex()}{more}"]
        if self._opening and self.answer is None:
            self._read_answer(message)
        if self.raw:
            return [message]
        try:
            frame = json.loads(message)
        except ValueError:
            return [f"< {message}"]
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "message":
            return [message_line(frame)]
        if kind == "presence":
            return self._presence(frame.get("room"), frame.get("data") or {})
        if kind == "reply" and "re" in frame:
            self.rooms_mode = True
            return self._reply(frame.get("re"), frame.get("data") or {})
        if kind == "error" and "code" in frame:
            return self._error(frame)
        return [f"< {message}"]

    def _read_answer(self, message: str) -> None:
        """Is this the server's answer to :meth:`opening`? Sets :attr:`answer` if so."""
        if message in self._opening:
            self.answer = False  # our own request, sent back
            return
        try:
            frame = json.loads(message)
        except ValueError:
            return  # a hub's other clients can send anything
        kind = frame.get("type") if isinstance(frame, dict) else None
        if (kind == "reply" and "re" in frame) or (kind == "error" and "code" in frame):
            self.answer = self.rooms_mode = True

    def _reply(self, re: Any, data: dict[str, Any]) -> list[str]:
        render = _REPLIES.get(re)
        if render is None:
            return [f"* {re}: {json.dumps(data, ensure_ascii=False)}"]
        return render(self, data)

    def _error(self, frame: dict[str, Any]) -> list[str]:
        if frame.get("re") == "join":
            self.room = self._before_join  # not joined: back to the room before
        path = f" (at {frame['path']})" if frame.get("path") else ""
        lines = [f"! {frame.get('code')}: {frame.get('message')}{path}"]
        if frame.get("code") == "bad_json" and not self.rooms_mode:
            lines.append(
                "! this server speaks wsnb's rooms protocol: /join ROOM first, then plain "
                "lines go to that room (/help)"
            )
        self.rooms_mode = True
        return lines

    def _presence(self, room: Any, data: dict[str, Any]) -> list[str]:
        you = self._you.get(room)  # your own arrival was said by the join reply
        others = [p for p in data.get("joined") or [] if p.get("id") != you]
        if not (others or data.get("left") or data.get("renamed")):
            return []
        return [presence_line(room, {**data, "joined": others})]

    def _joined(self, data: dict[str, Any]) -> list[str]:
        self.room = str(data.get("room"))
        self._you[self.room] = data.get("you")
        count = int(data.get("count") or 0)
        head = f"* joined {self.room}: {count} here ({_names(data.get('members') or [], count)})"
        history = [message_line(m, self.room) for m in data.get("history") or []]
        if data.get("recovered") is False:
            head += f"; missed messages could not be recovered ({data.get('reason')})"
        return [head, *history]

    def _left(self, data: dict[str, Any]) -> list[str]:
        if self.room == data.get("room"):
            self.room = None
        return [f"* left {data.get('room')}"]

    def _history(self, data: dict[str, Any]) -> list[str]:
        messages = data.get("messages") or []
        if not messages:
            return [f"* no messages in {data.get('room')}"]
        return [message_line(m, data.get("room")) for m in messages]


def _rooms_line(chat: Chat, data: dict[str, Any]) -> list[str]:
    rooms = data.get("rooms") or []
    listed = ", ".join(f"{r.get('room')} ({r.get('count')} here)" for r in rooms)
    return [f"* {data.get('count', len(rooms))} rooms" + (f": {listed}" if listed else "")]


def _members_line(chat: Chat, data: dict[str, Any]) -> list[str]:
    count = int(data.get("count") or 0)
    return [f"* {data.get('room')}: {count} here ({_names(data.get('members') or [], count)})"]


_REPLIES: dict[Any, Callable[[Chat, dict[str, Any]], list[str]]] = {
    "hello": lambda chat, data: [f"* you are {data.get('name')}"],
    "join": Chat._joined,
    "leave": Chat._left,
    "publish": lambda chat, data: [f"* sent #{data.get('seq')} to {data.get('room')}"],
    "history": Chat._history,
    "rooms": _rooms_line,
    "members": _members_line,
}


def close_report(ws: ClientConnection) -> tuple[str, bool]:
    """How the connection ended, in one line, and whether the other side ended it.

    Example::

        close_report(ws)  # ('the server closed the connection: 1001 (going away...)', True)
    """
    protocol = ws.protocol  # the Sans-I/O side knows which close frame came first
    received, sent = protocol.close_rcvd, protocol.close_sent
    if received is None:
        if sent is not None:
            return "closed", False
        return f"the connection was lost: 1006 ({CLOSE_MEANINGS[1006]})", True
    words = CLOSE_MEANINGS.get(received.code, "")
    reason = f": {received.reason}" if received.reason else ""
    detail = f"{received.code} ({words}{reason})" if words else f"{received.code}{reason}"
    if protocol.close_rcvd_then_sent is False:
        return f"closed: {detail}", False
    return f"the server closed the connection: {detail}", True
