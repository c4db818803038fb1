"""JSON messages for a handler of your own: send, receive, and dispatch on ``type``.

:class:`JsonProtocol` wraps one connection as the card's helper of that name
does (``send``, ``recv``, ``handle_loop``), on the rooms core's pieces: the
strict JSON reading of :mod:`wsnb.core.envelope` (no ``NaN``, no lone
surrogates, 64 levels deep at most), its :class:`~wsnb.core.Dispatcher` for
``type`` -> handler, and its error messages (docs/protocol.md's ``error``
shape and codes). Bad input is answered, and the connection stays open.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from .core import envelope as _envelope
from .core.dispatch import Dispatcher
from .core.envelope import decode_strictly
from .core.errors import ErrorCode, ProtocolError, json_kind
from .core.fields import check_field
from .json_messages import decode_json, encode_json

__all__ = ["JsonProtocol"]

Reply = Any | None
MessageHandler = Callable[[Any], Awaitable[Reply] | Reply]


def _typed(handlers: Mapping[str, MessageHandler]) -> Dispatcher[Awaitable[Reply] | Reply]:
    commands = Dispatcher[Awaitable[Reply] | Reply]()
    for message_type, handler in handlers.items():
        commands.on(message_type)(lambda message, envelope, handler=handler: handler(message))
    return commands


def _envelope_of(message: Any) -> _envelope.Envelope:
    """The ``type`` and ``id`` of a message to dispatch, checked as the rooms envelope is."""
    if not isinstance(message, dict):
        raise ProtocolError(
            ErrorCode.NOT_AN_OBJECT, f"a message must be a JSON object, not {json_kind(message)}"
        )
    request_id = message.get("id")
    if not (type(request_id) is int or type(request_id) is str):
        request_id = None  # not carried back

    def fail(code: str, text: str, path: str) -> ProtocolError:
        return ProtocolError(code, text, path=path, request_id=request_id)

    message_type = check_field(message.get("type"), "a string", "type", fail, required=True)
    return _envelope.Envelope(message_type, request_id)


class JsonProtocol:
    """One connection that speaks JSON: ``send``, ``recv`` and a dispatch loop.

    :meth:`handle_loop` reads every message and hands it to ``dispatch``;
    whatever that returns, if not ``None``, is sent back as JSON (the card's
    ``JsonProtocol(ws).handle_loop(dispatch)``). ``dispatch`` is either one
    function that gets every message, or a mapping from a message's
    ``"type"`` to the function for that type (typed dispatch). Functions may
    be coroutine functions.

    Bad input gets an ``error`` message (docs/protocol.md's shape and codes:
    ``bad_json``, and with a mapping ``not_an_object``, ``missing_field``,
    ``wrong_type``, ``unknown_type`` naming the known types); ``id`` and
    ``re`` are carried back when the message had them. A handler refuses a
    message with ``raise wsnb.core.ProtocolError(code, text, path=...)``,
    answered the same way. The connection stays open; anything else a
    handler raises is a bug and ends the connection (1011, logged).

    Example::

        async def ping(msg):
            return {"type": "pong", "n": msg.get("n")}

        async def api(ws):
            await wsnb.JsonProtocol(ws).handle_loop({"ping": ping})

        server = await wsnb.serve(api)
        await wsnb.exchange(server, [{"type": "ping", "n": 1}], json=True)
        # [{'type': 'pong', 'n': 1}]
    """

    def __init__(self, ws: Connection) -> None:
        self.ws = ws
        """The websockets connection."""

    async def send(self, data: Any) -> None:
        """Send ``data`` as one JSON text message (``TypeError`` first if it is not JSON)."""
        await self.ws.send(encode_json(data))

    async def recv(self) -> Any:
        """Receive one message, decoded (:class:`wsnb.NotJSONError` if it is not JSON)."""
        return decode_json(await self.ws.recv())

    async def handle_loop(self, dispatch: MessageHandler | Mapping[str, MessageHandler]) -> None:
        """Dispatch every message until the connection closes; send back non-``None`` results.

        Example::

            await wsnb.JsonProtocol(ws).handle_loop({"ping": ping, "add": add})
        """
        typed = _typed(dispatch) if isinstance(dispatch, Mapping) else None
        try:
            async for raw in self.ws:
                try:
                    reply = await self._handle(raw, dispatch, typed)
                except ProtocolError as error:
                    await self.ws.send(encode_json(error.to_message()))
                    continue
                if reply is not None:
                    await self.send(reply)
        except ConnectionClosed:
            pass

    async def _handle(
        self,
        raw: str | bytes,
        dispatch: Any,
        typed: Dispatcher[Awaitable[Reply] | Reply] | None,
    ) -> Reply:
        message = decode_strictly(raw)
        if typed is None:
            result = dispatch(message)
            return await result if inspect.isawaitable(result) else result
        envelope = _envelope_of(message)
        try:
            result = typed.dispatch(envelope, message)
            return await result if inspect.isawaitable(result) else result
        except ProtocolError as error:  # say which request it was about
            error.request_id = error.request_id if error.request_id is not None else envelope.id
            error.request_type = error.request_type or envelope.type
            raise
