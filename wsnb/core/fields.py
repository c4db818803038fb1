"""One checker for the fields of a decoded JSON request: present, of the right kind, in range.

The envelope parser and the rooms core check every field through
:func:`check_field`, so that a field is refused with the same code and the
same wording wherever it sits (a JSON integer is never a boolean; ``null``
counts as absent).

>>> from wsnb.core.errors import ProtocolError
>>> def fail(code, message, path):
...     return ProtocolError(code, message, path=path)
>>> check_field(3, "an integer", "data.limit", fail, minimum=1)
3
>>> check_field(True, "an integer", "data.limit", fail)
Traceback (most recent call last):
...
wsnb.core.errors.ProtocolError: 'data.limit' must be an integer, not a boolean
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from .errors import ErrorCode, ProtocolError, json_kind

__all__ = ["Fail", "Kind", "MAX_SAFE_INTEGER", "check_field", "is_integer"]

#: The largest integer a request may hold in a field (``id``, ``seq``, ``limit``...): the
#: largest a JavaScript number holds exactly, so a browser client can send it back.
MAX_SAFE_INTEGER = 2**53 - 1

Kind = Literal["a string", "an integer", "an object", "a string or an integer"]
"""The kinds a field can be required to have, worded as error messages say them."""

Fail = Callable[[str, str, str], ProtocolError]
"""Builds the error for ``(code, message, path)``, e.g. :meth:`Envelope.fail`."""


def is_integer(value: Any) -> bool:
    """Whether a decoded JSON value is an integer (Python's ``True`` is an int; JSON's is not).

    >>> is_integer(1), is_integer(True), is_integer(1.0)
    (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


_IS_KIND: dict[str, Callable[[Any], bool]] = {
    "a string": lambda value: isinstance(value, str),
    "an integer": is_integer,
    "an object": lambda value: isinstance(value, dict),
    "a string or an integer": lambda value: isinstance(value, str) or is_integer(value),
}


def check_field(
    value: Any,
    kind: Kind,
    path: str,
    fail: Fail,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int = MAX_SAFE_INTEGER,
) -> Any:
    """Return ``value`` if it is of ``kind`` (an integer: from ``minimum`` to ``maximum``),
    else raise ``fail(...)``.

    ``None`` (absent, or JSON ``null``) is returned as is unless ``required``.
    An integral float (``1.0``) is not an integer.
    """
    if value is None:
        if required:
            raise fail(ErrorCode.MISSING_FIELD, f"'{path}' is required", path)
        return None
    if not _IS_KIND[kind](value):
        raise fail(ErrorCode.WRONG_TYPE, f"'{path}' must be {kind}, not {json_kind(value)}", path)
    if isinstance(value, int):
        if minimum is not None and value < minimum:
            raise fail(ErrorCode.INVALID_VALUE, f"'{path}' must be >= {minimum}", path)
        if value > maximum or value < -MAX_SAFE_INTEGER:
            raise fail(ErrorCode.INVALID_VALUE, f"'{path}' must be <= {maximum}", path)
    return value
