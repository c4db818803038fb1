"""Send and receive JSON over any websockets connection, with clear errors."""

from __future__ import annotations

import json
from typing import Any, Protocol

from .core.envelope import encode_json
from .errors import NotJSONError

__all__ = ["send_json", "recv_json", "decode_json", "encode_json"]


class _Connection(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str | bytes: ...


def decode_json(message: str | bytes) -> Any:
    """Decode one WebSocket message as JSON, or raise :class:`NotJSONError`.

    The error shows the first characters of what arrived and why it is not
    JSON; a binary message must be UTF-8 JSON.

    >>> decode_json('{"n": 1}')
    {'n': 1}
    >>> decode_json("hello")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wsnb.errors.NotJSONError: expected a JSON message, got a text message ... (char 0)): 'hello'
    """
    try:
        # Decode bytes here: json.loads would also guess UTF-16 and UTF-32.
        return json.loads(message.decode() if isinstance(message, bytes) else message)
    except UnicodeDecodeError as exc:
        raise NotJSONError(message, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise NotJSONError(message, str(exc)) from None


async def send_json(ws: _Connection, data: Any) -> None:
    """Encode ``data`` as JSON and send it as one text message.

    Non-ASCII text is sent as UTF-8, not escaped. Raises ``TypeError`` for a
    value JSON cannot represent, before anything is sent.

    Example::

        await wsnb.send_json(ws, {"type": "hello", "n": 1})
    """
    await ws.send(encode_json(data))


async def recv_json(ws: _Connection) -> Any:
    """Receive one message and decode it as JSON.

    Raises :class:`wsnb.NotJSONError` (with the message's first characters
    and the reason) if it is not JSON; the connection stays usable. Wrap it
    in ``asyncio.timeout(...)`` to bound the wait.

    Example::

        async with asyncio.timeout(2):
            reply = await wsnb.recv_json(ws)
    """
    return decode_json(await ws.recv())
