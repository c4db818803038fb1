"""Protocol errors: the stable codes of docs/protocol.md and the error reply they become.

Pure: no sockets, no asyncio. :mod:`wsnb.core.envelope` re-exports these names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ErrorCode", "ProtocolError", "json_kind"]


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
    TOO_LARGE = "too_large"
    SERVER_FULL = "server_full"
    NOT_TEXT = "not_text"
    UNAVAILABLE = "unavailable"


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
