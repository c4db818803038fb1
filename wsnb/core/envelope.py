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

from .errors import ErrorCode, ProtocolError, json_kind
from .fields import MAX_SAFE_INTEGER, check_field

__all__ = [
    "Envelope",
    "ProtocolError",
    "ErrorCode",
    "parse_envelope",
    "request_envelope",
    "json_kind",
    "MAX_TYPE_LENGTH",
    "MAX_ID_LENGTH",
    "encode_json",
    "decode_strictly",
]

#: A message type longer than this is refused (``too_long``).
MAX_TYPE_LENGTH = 32
#: A string ``id`` longer than this is refused (``too_long``): replies carry it back.
MAX_ID_LENGTH = 64


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


def request_envelope(
    message_type: str,
    request_id: str | int | None = None,
    room: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A client request as docs/protocol.md writes it, ready to encode: the inverse of parsing.

    Absent fields are left out, so what is sent is what :func:`parse_envelope` reads back.

    >>> request_envelope("join", 1, "lobby")
    {'type': 'join', 'id': 1, 'room': 'lobby'}
    >>> parse_envelope(json.dumps(request_envelope("publish", 2, "lobby", {"body": "hi"})))
    Envelope(type='publish', id=2, room='lobby', data={'body': 'hi'})
    """
    envelope: dict[str, Any] = {"type": message_type}
    if request_id is not None:
        envelope["id"] = request_id
    if room is not None:
        envelope["room"] = room
    if data:
        envelope["data"] = data
    return envelope


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(data: Any) -> str:
    """Encode ``data`` as compact JSON text, non-ASCII characters kept as they are.

    The one encoding wsnb uses for every JSON message it sends.

    >>> encode_json({"text": "héllo", "n": [1, 2]})
    '{"text":"héllo","n":[1,2]}'
    """
    return _encoder.encode(data)


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


def _request_id(value: Any, fail: Any) -> str | int | None:
    request_id = check_field(value, "a string or an integer", "id", fail)
    if isinstance(request_id, str) and len(request_id) > MAX_ID_LENGTH:
        # Not carried back in the error: it is what is wrong.
        raise ProtocolError(
            ErrorCode.TOO_LONG, f"'id' is longer than {MAX_ID_LENGTH} characters", path="id"
        )
    return request_id  # type: ignore[no-any-return]


def decode_strictly(raw: str | bytes) -> Any:
    """Decode one message as the protocol reads JSON, or raise a ``bad_json`` ProtocolError.

    Strict: UTF-8 only, no ``NaN``/``Infinity``, no number out of range, no
    lone surrogate, at most 64 levels deep (what the server could not send back).

    >>> decode_strictly('{"type": "ping"}')
    {'type': 'ping'}
    >>> decode_strictly("[NaN]")
    Traceback (most recent call last):
    ...
    wsnb.core.errors.ProtocolError: not valid JSON: NaN is not JSON
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
    return value


def parse_envelope(raw: str | bytes) -> Envelope:
    """Parse one WebSocket message into an :class:`Envelope`, or raise :class:`ProtocolError`.

    Checks the envelope only (that ``type`` is a short string, ``id`` a string
    or integer, ``room`` a string, ``data`` an object); what each type needs
    is checked by its handler.

    >>> parse_envelope("[1]")
    Traceback (most recent call last):
    ...
    wsnb.core.errors.ProtocolError: a message must be a JSON object, not an array
    """
    value = decode_strictly(raw)
    if not isinstance(value, dict):
        raise ProtocolError(
            ErrorCode.NOT_AN_OBJECT, f"a message must be a JSON object, not {json_kind(value)}"
        )
    # The common case, checked inline (a publish's hot path); anything else takes
    # the field-by-field path below, which says what is wrong.
    type_, request_id, room = value.get("type"), value.get("id"), value.get("room")
    data = value.get("data", _NO_DATA)
    if (
        type(type_) is str
        and len(type_) <= MAX_TYPE_LENGTH
        and (room is None or type(room) is str)
        and type(data) is dict
        and (
            request_id is None
            or (type(request_id) is int and -MAX_SAFE_INTEGER <= request_id <= MAX_SAFE_INTEGER)
            or (type(request_id) is str and len(request_id) <= MAX_ID_LENGTH)
        )
    ):
        return Envelope(type_, request_id, room, {} if data is _NO_DATA else data)
    return _checked_envelope(value)


_NO_DATA: dict[str, Any] = {}


def _checked_envelope(value: dict[str, Any]) -> Envelope:
    """The envelope of ``value``, checked field by field: the error names the first fault."""

    def fail(code: str, message: str, path: str) -> ProtocolError:
        return ProtocolError(
            code, message, path=path, request_id=request_id, request_type=request_type
        )

    request_id: str | int | None = None
    request_type: str | None = None  # set once it is known to be valid
    request_id = _request_id(value.get("id"), fail)
    type_ = check_field(value.get("type"), "a string", "type", fail, required=True)
    if len(type_) > MAX_TYPE_LENGTH:
        raise fail(
            ErrorCode.TOO_LONG, f"'type' is longer than {MAX_TYPE_LENGTH} characters", "type"
        )
    request_type = type_
    room = check_field(value.get("room"), "a string", "room", fail)
    data = value.get("data", {})
    if data is None:  # refused, not read as {}: the field is there, and it is not an object
        raise fail(ErrorCode.WRONG_TYPE, "'data' must be an object, not null", "data")
    check_field(data, "an object", "data", fail)
    return Envelope(type=request_type, id=request_id, room=room, data=data)
