"""See the wire: a connection's opening handshake and frames, as they went over the socket.

A :class:`Trace` plugs into websockets' documented ``create_connection``
option, for a server or for one client connection. The connection class it
gives records the bytes at the Sans-I/O boundary (what the socket delivered
to ``data_received``, what ``protocol.data_to_send()`` handed to the socket),
and :mod:`wsnb.core.wire` reads them back with websockets' own parsers. Off
by default, and free when off: without it, websockets' own classes run
unchanged. On, it parses every byte a second time (measured in
``benchmarks/echo.py``; see docs/design.md).

Example::

    trace = wsnb.Trace()
    server = await wsnb.serve(wsnb.echo, create_connection=trace.server)
    await wsnb.exchange(server, ["Hello"])
    trace                       # the handshake and every frame, as a table
    print(trace.frames[0].layout())   # one frame's bytes, fields labelled
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection

from .core.wire import ARROWS, Conversation, HttpMessage, Sender, WireFrame, read_frames
from .display import html_card, html_table

__all__ = ["Trace", "read_frames"]

C = TypeVar("C", bound=Connection)
_COLUMNS = ["#", "conn", "dir", "opcode", "FIN", "RSV1", "MASK", "key", "len", "hdr", "payload"]


class Trace:
    """A wire inspector: the last ``limit`` handshake messages and frames of traced connections.

    ``trace.server`` is a connection class for ``serve(create_connection=...)``
    (every connection of that server is traced); ``trace.client`` is one for
    ``connect(create_connection=...)``; ``trace.wrap(cls)`` traces another
    connection class (``wsnb.rate_limited(...)``'s, say). Payloads are kept
    up to ``keep`` bytes; one over ``max_payload`` is counted, not buffered.

    >>> trace = Trace(limit=50)
    >>> trace
    <wsnb.Trace 0 connections, 0 records (last 50 kept)>
    >>> issubclass(trace.server, ServerConnection), issubclass(trace.client, ClientConnection)
    (True, True)
    """

    def __init__(self, limit: int = 200, *, keep: int = 64, max_payload: int = 1 << 20) -> None:
        self.limit, self.keep, self.max_payload = limit, keep, max_payload
        self.records: deque[WireFrame | HttpMessage] = deque(maxlen=limit)
        self.conversations: deque[Conversation] = deque(maxlen=limit)
        self.connections = 0
        self._start = time.monotonic()
        self.server: type[ServerConnection] = self.wrap(ServerConnection)
        self.client: type[ClientConnection] = self.wrap(ClientConnection)

    def wrap(self, base: type[C]) -> type[C]:
        """A subclass of connection class ``base`` whose connections this trace records."""
        trace = self
        side: Sender = "server" if issubclass(base, ServerConnection) else "client"
        peer: Sender = "client" if side == "server" else "server"

        class Traced(base):  # type: ignore[valid-type,misc]
            def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
                super().__init__(protocol, *args, **kwargs)
                self.wire = talk = trace._conversation()
                data_to_send = protocol.data_to_send

                def sent() -> list[bytes]:
                    chunks: list[bytes] = data_to_send()
                    for chunk in chunks:
                        trace._feed(talk, side, chunk)
                    return chunks

                protocol.data_to_send = sent

            def data_received(self, data: bytes) -> None:
                trace._feed(self.wire, peer, data)
                super().data_received(data)

        Traced.__name__ = Traced.__qualname__ = f"Traced{base.__name__}"
        return Traced

    def _conversation(self) -> Conversation:
        self.connections += 1
        talk = Conversation(self.connections, keep=self.keep, max_payload=self.max_payload)
        self.conversations.append(talk)
        return talk

    def _feed(self, talk: Conversation, sender: Sender, data: bytes) -> None:
        if not data:
            return
        try:
            self.records.extend(talk.feed(sender, data, time.monotonic() - self._start))
        except Exception as exc:  # the inspector must never break the connection it watches
            talk.readers[sender].error = f"inspector error: {type(exc).__name__}: {exc}"

    @property
    def frames(self) -> list[WireFrame]:
        """The frames kept, oldest first."""
        return [record for record in self.records if isinstance(record, WireFrame)]

    @property
    def handshake(self) -> list[HttpMessage]:
        """The handshake messages kept (a request, then its response, per connection)."""
        return [record for record in self.records if isinstance(record, HttpMessage)]

    @property
    def errors(self) -> list[str]:
        """Bytes the inspector could not read (the connection fails on them too)."""
        return [
            f"connection {talk.connection}, {sender}: {reader.error}"
            for talk in self.conversations
            for sender, reader in talk.readers.items()
            if reader.error
        ]

    def handshake_text(self, connection: int | None = None) -> str:
        """The handshake of ``connection`` (default: the last one) as it went over the socket.

        >>> Trace().handshake_text()
        ''
        """
        messages = self.handshake
        if connection is None and messages:
            connection = messages[-1].connection
        return "\n\n".join(m.text() for m in messages if m.connection == connection)

    def clear(self) -> None:
        """Forget what was recorded; connections still open keep being traced."""
        self.records.clear()

    def text(self, records: Iterable[WireFrame | HttpMessage] | None = None) -> str:
        """A plain-text table of ``records`` (default: all kept); times last, in ms."""
        rows = [_row(record) for record in (self.records if records is None else records)]
        rows = [[str(i), *row] for i, row in enumerate(rows, 1)]
        table = [_COLUMNS + ["time"], *rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(_COLUMNS))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
            for row in table
        ]
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"<wsnb.Trace {self.connections} connections, {len(self.records)} records"
            f" (last {self.limit} kept)>"
        )

    def _repr_html_(self) -> str:
        rows = [[str(i), *_row(record)] for i, record in enumerate(self.records, 1)]
        fields = [
            ("connections", self.connections),
            ("records", len(self.records)),
            ("kept", f"last {self.limit}"),
        ]
        fields += [("could not read", error) for error in self.errors]
        return html_card("wsnb.Trace", fields, html_table([*_COLUMNS, "time"], rows))


def _row(record: WireFrame | HttpMessage) -> list[str]:
    """One table row: the columns of ``_COLUMNS`` after '#', then the time."""
    when = f"{record.time * 1000:.1f} ms"
    if isinstance(record, HttpMessage):
        summary = f"{record.start_line} ({len(record.headers)} headers)"
        return [str(record.connection), ARROWS[record.sender], "HTTP", *[""] * 6, summary, when]
    key = record.mask_key.hex() if record.mask_key is not None else ""
    return [
        str(record.connection),
        ARROWS[record.sender],
        record.opcode.name,
        str(int(record.fin)),
        str(int(record.rsv1)),
        str(int(record.masked)),
        key,
        str(record.length),
        str(record.header_size),
        record.preview,
        when,
    ]
