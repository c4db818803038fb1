"""Replies built to fit: request fields read and checked, lists cut to a frame's bytes.

Every reply the rooms core sends goes through :func:`reply_text`; lists of
stored messages go in as the JSON text they were kept as (encoded once, when
published), cut by :func:`fit_newest` or :func:`fit_oldest` so that the
reply stays within the frame limit a default client accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .envelope import Envelope, ErrorCode, encode_json
from .errors import ProtocolError, json_kind
from .fields import MAX_SAFE_INTEGER, check_field
from .history import Stored

K = TypeVar("K", bound=Hashable)

__all__ = [
    "Outgoing",
    "data_text",
    "message_data",
    "PROTOCOL_VERSION",
    "check_int",
    "check_text",
    "fit_newest",
    "fit_oldest",
    "message_head",
    "message_text",
    "publish_reply_text",
    "reply_text",
]


@dataclass(frozen=True, slots=True)
class Outgoing(Generic[K]):
    """One message for the I/O layer to send, as the JSON ``text``, to each member in ``to``."""

    to: tuple[K, ...]
    text: str

    @property
    def message(self) -> dict[str, Any]:
        """The message decoded (for people and tests; the wire uses :attr:`text`)."""
        return json.loads(self.text)  # type: ignore[no-any-return]


#: The version of docs/protocol.md the server speaks; in ``hello`` and ``join`` replies.
PROTOCOL_VERSION = 2


def reply_text(
    envelope: Envelope, data: dict[str, Any], key: str | None = None, texts: Sequence[str] = ()
) -> str:
    """The JSON of the reply to ``envelope``; with ``key``, ``data[key]`` is the list of
    the (already encoded) ``texts``, spliced in as they are.

    >>> reply_text(Envelope("history", id=3), {"room": "a"}, "messages", ['{"seq":1}'])
    '{"type":"reply","id":3,"re":"history","data":{"room":"a","messages":[{"seq":1}]}}'
    """
    head: dict[str, Any] = {"type": "reply"}
    if envelope.id is not None:
        head["id"] = envelope.id
    head["re"] = envelope.type
    body = encode_json(data)
    if key is not None:
        items = ",".join(texts)
        body = f'{body[:-1]}{"," if data else ""}"{key}":[{items}]}}'
    return f'{encode_json(head)[:-1]},"data":{body}}}'


#: JSON for one string, as ``encode_json`` writes it (non-ASCII kept).
_string: Callable[[str], str] = json.encoder.encode_basestring


def message_head(room: str, epoch: str) -> str:
    """How every ``message`` event of ``room`` in ``epoch`` starts, up to its seq."""
    return f'{{"type":"message","room":{_string(room)},"epoch":{_string(epoch)},"seq":'


def message_text(head: str, seq: int, sender: str, body: Any, now: Any) -> str:
    """A ``message`` event's JSON, written around the encoded body (a publish's hot path).

    The same JSON as :func:`encode_json` of the event would give:

    >>> message_text(message_head("lobby", "e1"), 3, "ada", "hi", 0.5)
    '{"type":"message","room":"lobby","epoch":"e1","seq":3,"data":{"from":"ada","body":"hi","time":0.5}}'
    """  # noqa: E501
    body_text = _string(body) if type(body) is str else encode_json(body)
    now_text = repr(now) if type(now) is float else encode_json(now)
    return f'{head}{seq},"data":{{"from":{_string(sender)},"body":{body_text},"time":{now_text}}}}}'


def data_text(sender: str, body: Any, now: Any) -> str:
    """The JSON of a ``message`` event's ``data``: what a backend numbers and keeps.

    >>> data_text("ada", "hi", 0.5)
    '{"from":"ada","body":"hi","time":0.5}'
    """
    body_text = _string(body) if type(body) is str else encode_json(body)
    now_text = repr(now) if type(now) is float else encode_json(now)
    return f'{{"from":{_string(sender)},"body":{body_text},"time":{now_text}}}'


def message_data(head: str, seq: int, data: str) -> str:
    """A ``message`` event's JSON from its ``data`` JSON (:func:`data_text`), numbered.

    >>> message_data(message_head("lobby", "e1"), 3, data_text("ada", "hi", 0.5))
    '{"type":"message","room":"lobby","epoch":"e1","seq":3,"data":{"from":"ada","body":"hi","time":0.5}}'
    """  # noqa: E501
    return f'{head}{seq},"data":{data}}}'


def publish_reply_text(envelope: Envelope, room: str, seq: int, duplicate: bool = False) -> str:
    """:func:`reply_text` of a publish, written out (every publish with a reply builds one).

    >>> publish_reply_text(Envelope("publish", id="a"), "lobby", 4)
    '{"type":"reply","id":"a","re":"publish","data":{"room":"lobby","seq":4}}'
    >>> publish_reply_text(Envelope("publish"), "lobby", 4, duplicate=True)
    '{"type":"reply","re":"publish","data":{"room":"lobby","seq":4,"duplicate":true}}'
    """
    request_id = envelope.id
    if request_id is None:
        id_text = ""
    elif isinstance(request_id, str):
        id_text = f'"id":{_string(request_id)},'
    else:
        id_text = f'"id":{request_id},'
    more = ',"duplicate":true' if duplicate else ""
    return (
        f'{{"type":"reply",{id_text}"re":"publish",'
        f'"data":{{"room":{_string(room)},"seq":{seq}{more}}}}}'
    )


def fit_newest(messages: Sequence[Stored], budget: int) -> list[str]:
    """The texts of the newest ``messages`` whose bytes (with commas) fit in ``budget``.

    >>> from wsnb.core.history import Stored
    >>> fit_newest([Stored(1, "aaaa", 4), Stored(2, "bb", 2)], 5)
    ['bb']
    """
    total, start = 0, len(messages)
    while start > 0 and total + messages[start - 1].size + 1 <= budget:
        start -= 1
        total += messages[start].size + 1
    return [m.text for m in messages[start:]]


def fit_oldest(messages: Sequence[Stored], budget: int) -> list[str]:
    """The texts of the oldest ``messages`` that fit in ``budget``; at least one, so that
    paging always moves on (any one message fits: ``RoomLimits.max_event_bytes``).

    >>> from wsnb.core.history import Stored
    >>> fit_oldest([Stored(1, "aaaa", 4), Stored(2, "bb", 2)], 5)
    ['aaaa']
    """
    total, stop = 0, 0
    while stop < len(messages) and (stop == 0 or total + messages[stop].size + 1 <= budget):
        total += messages[stop].size + 1
        stop += 1
    return [m.text for m in messages[:stop]]


def check_int(
    envelope: Envelope, path: str, minimum: int, maximum: int = MAX_SAFE_INTEGER
) -> int | None:
    """The integer at ``path`` (``"data.limit"``) of the request, or None if absent or null."""
    value = envelope.data.get(path[5:])  # after "data."
    return check_field(value, "an integer", path, envelope.fail, minimum=minimum, maximum=maximum)  # type: ignore[no-any-return]


def too_large(envelope: Envelope, size: int, limit: int, about: str = "") -> ProtocolError:
    """The ``too_large`` error of a publish whose ``message`` event would be ``size`` bytes."""
    return envelope.fail(
        ErrorCode.TOO_LARGE,
        f"the message event would be {about}{size} bytes, over the limit of {limit}; "
        "send a smaller body",
        "data.body",
    )


def check_text(envelope: Envelope, value: Any, path: str, limit: int) -> str:
    """A required, non-blank, printable string of at most ``limit`` characters (code points)."""
    if value is None:
        raise envelope.fail(ErrorCode.MISSING_FIELD, f"'{path}' is required", path)
    if not isinstance(value, str):
        raise envelope.fail(
            ErrorCode.WRONG_TYPE, f"'{path}' must be a string, not {json_kind(value)}", path
        )
    if not value.strip():
        raise envelope.fail(ErrorCode.INVALID_VALUE, f"'{path}' must not be empty", path)
    if len(value) > limit:
        raise envelope.fail(ErrorCode.TOO_LONG, f"'{path}' is longer than {limit} characters", path)
    if not value.isprintable():
        raise envelope.fail(
            ErrorCode.INVALID_VALUE,
            f"'{path}' must be printable (no control, format or separator characters but space)",
            path,
        )
    return value
