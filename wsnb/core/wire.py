"""The bytes of a WebSocket connection, read back as its handshake and frames.

Pure: bytes in, records out, no sockets. :class:`Conversation` reads both
directions of one connection with websockets' own Sans-I/O parsers
(``http11.Request.parse`` / ``Response.parse`` for the opening handshake,
``frames.Frame.parse`` for every frame, ``Close.parse`` for close payloads,
``PerMessageDeflate`` to inflate compressed frames), and keeps what a learner
wants to see: the header fields, the masking key, the payload length on the
wire, a preview, the close code. Only the first ``keep`` bytes of a payload
are kept, and a payload over ``max_payload`` is skipped, not buffered.

>>> [frame] = read_frames(bytes.fromhex("818537fa213d7f9f4d5158"), sender="client")
>>> frame.opcode.name, frame.fin, frame.masked, frame.mask_key.hex(), frame.length, frame.preview
('TEXT', True, True, '37fa213d', 5, "'Hello'")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal

from websockets.exceptions import PayloadTooBig
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Close, Frame, Opcode
from websockets.headers import parse_extension
from websockets.http11 import Request, Response
from websockets.streams import StreamReader
from websockets.typing import ExtensionName

from .layout import layout

__all__ = [
    "ARROWS",
    "Conversation",
    "HttpMessage",
    "Sender",
    "WireFrame",
    "WireReader",
    "read_frames",
]

Sender = Literal["client", "server"]
#: How tables show a record's direction.
ARROWS: dict[str, str] = {"client": "C→S", "server": "S→C"}
_PREVIEW_CHARS = 40


@dataclass(frozen=True)
class HttpMessage:
    """One HTTP message of the opening handshake: the client's request or the server's response.

    >>> request = HttpMessage(1, 0.0, "client", "GET / HTTP/1.1", (("Upgrade", "websocket"),))
    >>> request.header("upgrade")
    'websocket'
    """

    connection: int
    time: float
    sender: Sender
    start_line: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def text(self) -> str:
        """The message as it went over the socket (without the final blank line)."""
        return "\n".join([self.start_line, *(f"{k}: {v}" for k, v in self.headers)])


@dataclass(frozen=True)
class WireFrame:
    """One frame as it went over the socket.

    ``length`` is the payload length on the wire (compressed, if RSV1 is set);
    ``header`` holds the header bytes (masking key included); ``payload`` the
    first bytes of the payload as sent (masked); ``data`` the first bytes
    after unmasking and inflating, and ``size`` their full length.
    """

    connection: int
    time: float
    sender: Sender
    opcode: Opcode
    fin: bool
    rsv1: bool
    masked: bool
    mask_key: bytes | None
    length: int
    header: bytes
    payload: bytes
    data: bytes
    size: int
    close: Close | None = None
    note: str = ""

    def __str__(self) -> str:
        """One line, no (random) masking key: ``C→S TEXT FIN=1 RSV1=0 MASK=1 len=5 'Hello'``."""
        flags = f"FIN={self.fin:d} RSV1={self.rsv1:d} MASK={self.masked:d} len={self.length:<4}"
        return f"{ARROWS[self.sender]} {self.opcode.name:<6} {flags} {self.preview}"

    @property
    def header_size(self) -> int:
        """Bytes before the payload: 2, plus 2 or 8 for a long length, plus 4 for a mask key."""
        return len(self.header)

    @property
    def close_code(self) -> int | None:
        """The close code of a close frame that carries one."""
        return None if self.close is None else int(self.close.code)

    @property
    def close_reason(self) -> str | None:
        """The close reason of a close frame that carries a code."""
        return None if self.close is None else self.close.reason

    @property
    def preview(self) -> str:
        """The payload in a form safe to print: text and bytes escaped, truncated."""
        if self.opcode is Opcode.CLOSE:
            return "(no code)" if self.close is None else f"{self.close.code} {self.close.reason!r}"
        if self.opcode is Opcode.TEXT or (self.opcode is Opcode.CONT and _is_text(self.data)):
            text = self.data.decode("utf-8", "replace")
            shown = repr(text[:_PREVIEW_CHARS])
        else:
            shown = repr(self.data[: _PREVIEW_CHARS // 2])
        cut = self.size > len(self.data) or len(self.data) > _PREVIEW_CHARS
        return shown + (f" … ({self.size} bytes)" if cut else "") + self.note

    def layout(self) -> str:
        """The frame's bytes with RFC 6455's fields labelled (section 5.2).

        >>> print(read_frames(bytes.fromhex("818537fa213d7f9f4d5158"), sender="client")[0].layout())
        byte 0      81              1 0 0 0 0001  FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (TEXT)
        byte 1      85              1 0000101     MASK=1 payload length=5
        bytes 2-5   37 fa 21 3d                   masking key
        bytes 6-10  7f 9f 4d 51 58                payload, masked -> 48 65 6c 6c 6f 'Hello'
        """
        return layout(self)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class WireReader:
    """One direction of one connection: bytes in (:meth:`feed`), records out.

    ``handshake=False`` starts at the first frame (for bytes without HTTP).

    >>> reader = WireReader("server", handshake=False)
    >>> [frame.preview for frame in reader.feed(bytes.fromhex("810548656c6c6f"), time=0.0)]
    ["'Hello'"]
    """

    def __init__(
        self,
        sender: Sender,
        connection: int = 1,
        *,
        handshake: bool = True,
        keep: int = 64,
        max_payload: int = 1 << 20,
    ) -> None:
        self.sender, self.connection = sender, connection
        self.keep, self.max_payload = keep, max_payload
        self.inflate: PerMessageDeflate | None = None
        self.error: str | None = None
        self._reader = StreamReader()
        self._out: list[WireFrame | HttpMessage] = []
        self._time = 0.0
        self._parser = self._parse(handshake)
        next(self._parser)

    def feed(self, data: bytes, time: float) -> list[WireFrame | HttpMessage]:
        """Read ``data`` (any slice of the stream) and return the records it completed."""
        if self.error is not None or not data:
            return []
        self._time = time
        self._reader.feed_data(data)
        try:
            next(self._parser)
        except StopIteration:  # after a refused handshake or an error: nothing more to read
            self._reader.discard()
        out, self._out = self._out, []
        return out

    def _parse(self, handshake: bool) -> Generator[None, None, None]:
        try:
            if handshake and not (yield from self._http()):
                return
            while True:
                yield from self._frame()
        except Exception as exc:  # the connection fails on it too; the reader stops
            self.error = f"{type(exc).__name__}: {exc}"

    def _http(self) -> Generator[None, None, bool]:
        read_line = self._reader.read_line
        if self.sender == "client":
            request = yield from Request.parse(read_line)
            start, headers = f"GET {request.path} HTTP/1.1", request.headers
        else:
            response = yield from Response.parse(
                read_line, self._reader.read_exact, self._reader.read_to_eof
            )
            start = f"HTTP/1.1 {response.status_code} {response.reason_phrase}"
            headers = response.headers
        raw = tuple(headers.raw_items())
        self._out.append(HttpMessage(self.connection, self._time, self.sender, start, raw))
        return self.sender == "client" or start.startswith("HTTP/1.1 101")

    def _frame(self) -> Generator[None, None, None]:
        reads: list[bytes] = []

        def read_exact(n: int) -> Generator[None, None, bytes]:
            data = bytes((yield from self._reader.read_exact(n)))
            reads.append(data)
            return data

        try:
            frame = yield from Frame.parse(
                read_exact, mask=self.sender == "client", max_size=self.max_payload,
                extensions=[_Inflate(self)],
            )  # fmt: skip
        except PayloadTooBig:
            yield from self._skip(reads)
            return
        self._out.append(self._record(reads, bytes(frame.data), frame.opcode, note=""))

    def _skip(self, reads: list[bytes]) -> Generator[None, None, None]:
        """A payload over max_payload (or too big once inflated): count it, do not keep it."""
        head, length = reads[0], _length(reads)
        header_reads = _header_reads(head)
        if len(reads) < header_reads:  # Frame.parse stopped before the masking key
            reads.append(bytes((yield from self._reader.read_exact(4))))
        if len(reads) == header_reads:  # ... and before the payload: skip it, unbuffered
            remaining = length
            while remaining > 0:
                if not self._reader.buffer:
                    yield
                    continue
                taken = min(remaining, len(self._reader.buffer))
                del self._reader.buffer[:taken]
                remaining -= taken
        note = f" (over {self.max_payload} bytes: not kept)"
        self._out.append(self._record(reads, b"", Opcode(head[0] & 15), note=note, size=length))

    def _record(
        self, reads: list[bytes], data: bytes, opcode: Opcode, *, note: str, size: int | None = None
    ) -> WireFrame:
        head = reads[0]
        masked = bool(head[1] & 128)
        header_reads = _header_reads(head)
        header = b"".join(reads[:header_reads])
        payload = reads[header_reads] if len(reads) > header_reads else b""
        close = Close.parse(data) if opcode is Opcode.CLOSE and len(data) >= 2 else None
        length, mask_key = _length(reads), header[-4:] if masked else None
        fin, rsv1, size = (
            bool(head[0] & 128),
            bool(head[0] & 64),
            len(data) if size is None else size,
        )
        return WireFrame(self.connection, self._time, self.sender, opcode, fin, rsv1, masked,
                         mask_key, length, header, payload[: self.keep], data[: self.keep], size,
                         close, note)  # fmt: skip


def _length(reads: list[bytes]) -> int:
    code = reads[0][1] & 127
    return code if code < 126 else int.from_bytes(reads[1], "big")


def _header_reads(head: bytes) -> int:
    """How many of Frame.parse's reads make the header: 2 bytes, a long length, a mask key."""
    return 1 + (head[1] & 127 >= 126) + (head[1] >> 7)


class _Inflate(Extension):
    """Inflates with the reader's permessage-deflate once negotiated, and lets RSV1 through.

    ``Frame.parse`` checks that reserved bits are 0 after its extensions; the
    record reads RSV1 from the header bytes. ``inflate`` is looked up per frame:
    the response that negotiates it may come after this direction's first frame began.
    """

    name = ExtensionName("wsnb-trace")

    def __init__(self, reader: WireReader) -> None:
        self.reader = reader

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if self.reader.inflate is not None:
            frame = self.reader.inflate.decode(frame, max_size=max_size)
        return dataclasses.replace(frame, rsv1=False)

    def encode(self, frame: Frame) -> Frame:  # pragma: no cover - never encodes
        return frame


class Conversation:
    """Both directions of one connection; the server's 101 response sets up inflating.

    >>> talk = Conversation(1, handshake=False)
    >>> talk.feed("server", bytes.fromhex("810548656c6c6f"), time=0.0)[0].preview
    "'Hello'"
    """

    def __init__(
        self, connection: int, *, handshake: bool = True, keep: int = 64, max_payload: int = 1 << 20
    ) -> None:
        self.connection = connection
        self.readers = {
            sender: WireReader(
                sender, connection, handshake=handshake, keep=keep, max_payload=max_payload
            )
            for sender in ("client", "server")
        }

    def feed(self, sender: Sender, data: bytes, time: float) -> list[WireFrame | HttpMessage]:
        """Bytes that ``sender`` wrote; returns the records they completed."""
        records = self.readers[sender].feed(data, time)
        for record in records:
            if isinstance(record, HttpMessage) and record.sender == "server":
                self._negotiated(record)
        return records

    def _negotiated(self, response: HttpMessage) -> None:
        offered = response.header("Sec-WebSocket-Extensions")
        for name, params in parse_extension(offered) if offered else []:
            if name == "permessage-deflate":
                options = dict(params)
                for sender in ("client", "server"):
                    other = "server" if sender == "client" else "client"
                    self.readers[sender].inflate = PerMessageDeflate(
                        remote_no_context_takeover=f"{sender}_no_context_takeover" in options,
                        local_no_context_takeover=f"{other}_no_context_takeover" in options,
                        remote_max_window_bits=_bits(options.get(f"{sender}_max_window_bits")),
                        local_max_window_bits=_bits(options.get(f"{other}_max_window_bits")),
                    )


def _bits(value: str | None) -> int:
    return 15 if value is None else int(value)


def read_frames(data: bytes, sender: Sender, *, keep: int = 64) -> list[WireFrame]:
    """The frames in ``data``, bytes that ``sender`` wrote after the handshake.

    >>> [f.opcode.name for f in read_frames(bytes.fromhex("8a00880203e8"), sender="server")]
    ['PONG', 'CLOSE']
    """
    records = WireReader(sender, handshake=False, keep=keep).feed(data, time=0.0)
    return [record for record in records if isinstance(record, WireFrame)]
