"""The JSON envelope of wsnb's protocol (docs/protocol.md): parsing and errors.

Pure functions and plain objects: no sockets, no asyncio. Every malformed
input becomes a :class:`ProtocolError` with a stable ``code``, a human
``message`` and, where a field is at fault, its ``path``; nothing else is
ever raised for bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Envelope",
    "ProtocolError",
    "ErrorCode",
    "parse_envelope",
    "json_kind",
    "MAX_TYPE_LENGTH",
]

#: A message type longer than this is refused (``too_long``).
MAX_TYPE_LENGTH = 32


class ErrorCode:
    """The stable error codes of docs/protocol.md, as constants.

    >>> ErrorCode.BAD_JSON
    'bad_json'
    """

    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    TOO_LONG = "too_long"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_ROOM = "unknown_room"
    NOT_A_MEMBER = "not_a_member"
    TOO_MANY_ROOMS = "too_many_rooms"


class ProtocolError(Exception):
    """A request the protocol refuses, as the error reply it becomes.

    ``code`` is one of :class:`ErrorCode`; ``path`` names the offending field
    (``"room"``, ``"data.since"``), ``request_id`` and ``request_type`` are
    those of the request when they could be read.

    >>> ProtocolError("missing_field", "'room' is required", path="room").to_message()
    {'type': 'error', 'code': 'missing_field', 'message': "'room' is required", 'path': 'room'}
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        path: str | None = None,
        request_id: str | int | None = None,
        request_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.request_id = request_id
        self.request_type = request_type

    def to_message(self) -> dict[str, Any]:
        """The ``error`` message sent to the client (docs/protocol.md)."""
        reply: dict[str, Any] = {"type": "error"}
        if self.request_id is not None:
            reply["id"] = self.request_id
        if self.request_type is not None:
            reply["re"] = self.request_type
        reply["code"] = self.code
        reply["message"] = self.message
        if self.path is not None:
            reply["path"] = self.path
        return reply


@dataclass(frozen=True, slots=True)
class Envelope:
    """One parsed client request: ``{"type", "id"?, "room"?, "data"?}``.

    >>> parse_envelope('{"type": "join", "id": 1, "room": "lobby"}')
    Envelope(type='join', id=1, room='lobby', data={})
    """

    type: str
    id: str | int | None = None
    room: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def fail(self, code: str, message: str, path: str | None = None) -> ProtocolError:
        """A :class:`ProtocolError` about this request, carrying its id and type."""
        return ProtocolError(code, message, path=path, request_id=self.id, request_type=self.type)


def json_kind(value: Any) -> str:
    """Name a decoded JSON value's kind with its article, for error messages.

    >>> json_kind([]), json_kind("x"), json_kind(None)
    ('an array', 'a string', 'null')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


#: Deeper JSON is refused (``bad_json``): what the server accepts it must be
#: able to send back, nested a few levels deeper in a reply.
MAX_DEPTH = 64


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value


def _check_decoded(value: Any) -> None:
    """Refuse what JSON text allows but the server could not send back."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError("nested too deeply")
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone surrogate (not UTF-8)") from None
        elif isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and browsers) do not.
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_parse_float)


def _plainly_sendable(text: str) -> bool:
    """Whether ``text`` cannot hide what :func:`_check_decoded` looks for (a cheap test).

    Lone surrogates come only from ``\\u`` escapes or non-ASCII text, and
    nesting deeper than MAX_DEPTH needs more than MAX_DEPTH brackets.
    """
    return text.isascii() and "\\u" not in text and text.count("[") + text.count("{") <= MAX_DEPTH


def parse_envelope(raw: str | bytes) -> Envelope:
    """Parse one WebSocket message into an :class:`Envelope`, or raise :class:`ProtocolError`.

    Checks the envelope only (that ``type`` is a short string, ``id`` a string
    or integer, ``room`` a string, ``data`` an object); what each type needs
    is checked by its handler.

    >>> parse_envelope("[1]")
    Traceback (most recent call last):
    ...
    wsnb.core.envelope.ProtocolError: a message must be a JSON object, not an array
    """
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        value = _decoder.decode(text)
        if not _plainly_sendable(text):
            _check_decoded(value)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            ErrorCode.BAD_JSON, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.BAD_JSON, "not valid JSON: not UTF-8 text") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_JSON, "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN or Infinity, or an integer too long to convert
        raise ProtocolError(ErrorCode.BAD_JSON, f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(
            ErrorCode.NOT_AN_OBJECT, f"a message must be a JSON object, not {json_kind(value)}"
        )

    request_id = value.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, str | int)
    ):
        raise ProtocolError(
            ErrorCode.WRONG_TYPE,
            f"'id' must be a string or an integer, not {json_kind(request_id)}",
            path="id",
        )
    request_type = value.get("type")
    if request_type is None:
        raise ProtocolError(
            ErrorCode.MISSING_FIELD, "'type' is required", path="type", request_id=request_id
        )
    if not isinstance(request_type, str):
        raise ProtocolError(
            ErrorCode.WRONG_TYPE,
            f"'type' must be a string, not {json_kind(request_type)}",
            path="type",
            request_id=request_id,
        )
    if len(request_type) > MAX_TYPE_LENGTH:
        raise ProtocolError(
            ErrorCode.TOO_LONG,
            f"'type' is longer than {MAX_TYPE_LENGTH} characters",
            path="type",
            request_id=request_id,
        )
    room = value.get("room")
    if room is not None and not isinstance(room, str):
        raise ProtocolError(
            ErrorCode.WRONG_TYPE,
            f"'room' must be a string, not {json_kind(room)}",
            path="room",
            request_id=request_id,
            request_type=request_type,
        )
    data = value.get("data", {})
    if not isinstance(data, dict):
        raise ProtocolError(
            ErrorCode.WRONG_TYPE,
            f"'data' must be an object, not {json_kind(data)}",
            path="data",
            request_id=request_id,
            request_type=request_type,
        )
    return Envelope(type=request_type, id=request_id, room=room, data=data)
