"""parse_envelope and ProtocolError (docs/protocol.md, "Envelope" and "Errors"), no sockets.

Table tests for every documented error row; the Hypothesis properties (any
input at all) are in test_any_input.py.
"""

from __future__ import annotations

import json

import pytest

from wsnb.core import Envelope, ErrorCode, ProtocolError, parse_envelope
from wsnb.core.envelope import MAX_ID_LENGTH, MAX_TYPE_LENGTH

from .protocol import DOCUMENTED_CODES

CODES = {
    value for name, value in vars(ErrorCode).items() if name.isupper() and isinstance(value, str)
}


def refused(raw: str | bytes) -> ProtocolError:
    """The ProtocolError parse_envelope raises for ``raw`` (fails if it parses)."""
    with pytest.raises(ProtocolError) as info:
        parse_envelope(raw)
    return info.value


def test_error_codes_are_the_documented_ones():
    """ErrorCode holds exactly the codes of the protocol's error table."""
    assert CODES == DOCUMENTED_CODES


def test_the_error_table_of_the_spec_is_the_documented_codes():
    """docs/protocol.md's error table lists exactly these codes (the spec and the tests agree)."""
    from pathlib import Path

    spec = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    table = spec.split("## Errors", 1)[1].split("##", 1)[0]
    rows = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert rows == DOCUMENTED_CODES


# Valid envelopes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "rooms"}', Envelope("rooms")),
        ('{"type": "rooms", "id": 7}', Envelope("rooms", id=7)),
        ('{"type": "rooms", "id": 0}', Envelope("rooms", id=0)),
        ('{"type": "rooms", "id": -3}', Envelope("rooms", id=-3)),
        ('{"type": "rooms", "id": "req-7"}', Envelope("rooms", id="req-7")),
        ('{"type": "rooms", "id": ""}', Envelope("rooms", id="")),
        ('{"type": "join", "room": "lobby"}', Envelope("join", room="lobby")),
        (
            '{"type": "publish", "id": 7, "room": "lobby", "data": {"body": "hello"}}',
            Envelope("publish", id=7, room="lobby", data={"body": "hello"}),
        ),
        ('{"type": "hello", "data": {}}', Envelope("hello", data={})),
        ('{"type": "join", "room": "café ✓"}', Envelope("join", room="café ✓")),
        # null means absent for id and room
        ('{"type": "rooms", "id": null, "room": null}', Envelope("rooms")),
        # fields the envelope does not know are ignored
        ('{"type": "rooms", "extra": [1, 2]}', Envelope("rooms")),
        ('  {"type": "rooms"}\n', Envelope("rooms")),
        ('{"type": "' + "t" * MAX_TYPE_LENGTH + '"}', Envelope("t" * MAX_TYPE_LENGTH)),
        # integers up to what a JavaScript number holds exactly, either sign
        ('{"type": "rooms", "id": 9007199254740991}', Envelope("rooms", id=2**53 - 1)),
        ('{"type": "rooms", "id": -9007199254740991}', Envelope("rooms", id=-(2**53 - 1))),
        ('{"type": "rooms", "id": "' + "i" * MAX_ID_LENGTH + '"}', Envelope("rooms", id="i" * 64)),
        # characters, not bytes or UTF-16 units: 64 four-byte characters are fine
        ('{"type": "rooms", "id": "' + "𝄞" * MAX_ID_LENGTH + '"}', Envelope("rooms", id="𝄞" * 64)),
    ],
    ids=[
        "type-only",
        "int-id",
        "zero-id",
        "negative-id",
        "str-id",
        "empty-str-id",
        "room",
        "everything",
        "empty-data",
        "unicode-room",
        "null-id-and-room",
        "extra-field",
        "whitespace",
        "type-at-limit",
        "max-safe-id",
        "min-safe-id",
        "id-at-limit",
        "id-at-limit-astral",
    ],
)
def test_valid_envelopes(raw, expected):
    """A well-formed request parses into its fields; data defaults to {}."""
    assert parse_envelope(raw) == expected
    assert parse_envelope(raw.encode()) == expected  # a binary frame of UTF-8 JSON too


def test_surrogate_pair_escape_is_one_character():
    """A properly paired UTF-16 escape is a normal character, accepted."""
    env = parse_envelope('{"type": "publish", "data": {"body": "\\ud83d\\ude00"}}')
    assert env.data["body"] == "\N{GRINNING FACE}"


def test_parsed_envelope_has_documented_types():
    """id keeps its JSON type (int stays int, str stays str); data is a dict."""
    env = parse_envelope('{"type": "history", "id": 12, "room": "r", "data": {"since": 3}}')
    assert type(env.id) is int and type(env.room) is str and type(env.data) is dict
    assert env.data == {"since": 3}
    assert parse_envelope('{"type": "x"}').data == {}


# Error rows: (raw, code, path, request id carried, request type carried)

NO_ID = None

ERROR_ROWS = [
    # bad_json: not JSON, not UTF-8, NaN/Infinity, numbers Python refuses, too deep
    ('{"type": "publish",', ErrorCode.BAD_JSON, None, NO_ID, None),
    ("", ErrorCode.BAD_JSON, None, NO_ID, None),
    ("hello", ErrorCode.BAD_JSON, None, NO_ID, None),
    ("{'type': 'rooms'}", ErrorCode.BAD_JSON, None, NO_ID, None),
    ('{"type": "rooms"} {"type": "rooms"}', ErrorCode.BAD_JSON, None, NO_ID, None),
    (b"\xff\xfe", ErrorCode.BAD_JSON, None, NO_ID, None),
    (b'{"type": "rooms", "id": "\xc3\x28"}', ErrorCode.BAD_JSON, None, NO_ID, None),
    (b"\xed\xa0\x80", ErrorCode.BAD_JSON, None, NO_ID, None),  # a UTF-8-encoded surrogate
    ('{"type": "publish", "data": {"body": NaN}}', ErrorCode.BAD_JSON, None, NO_ID, None),
    ('{"type": "publish", "data": {"body": Infinity}}', ErrorCode.BAD_JSON, None, NO_ID, None),
    ('{"type": "publish", "data": {"body": -Infinity}}', ErrorCode.BAD_JSON, None, NO_ID, None),
    ("NaN", ErrorCode.BAD_JSON, None, NO_ID, None),
    ('{"type": "rooms", "id": ' + "9" * 5000 + "}", ErrorCode.BAD_JSON, None, NO_ID, None),
    (
        '{"type": "rooms", "data": {"n": -' + "1" * 5000 + "}}",
        ErrorCode.BAD_JSON,
        None,
        NO_ID,
        None,
    ),
    ("[" * 100_000 + "]" * 100_000, ErrorCode.BAD_JSON, None, NO_ID, None),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, ErrorCode.BAD_JSON, None, NO_ID, None),
    (
        '{"type": "publish", "data": {"body": ' + "[" * 50_000 + "]" * 50_000 + "}}",
        ErrorCode.BAD_JSON,
        None,
        NO_ID,
        None,
    ),
    # not_an_object
    ("[]", ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ('[{"type": "rooms"}]', ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ('"rooms"', ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ("42", ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ("4.5", ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ("null", ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ("true", ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    ("false", ErrorCode.NOT_AN_OBJECT, None, NO_ID, None),
    # missing type; the id is carried when it can be read
    ("{}", ErrorCode.MISSING_FIELD, "type", NO_ID, None),
    ('{"id": 7}', ErrorCode.MISSING_FIELD, "type", 7, None),
    ('{"id": "a", "room": "lobby"}', ErrorCode.MISSING_FIELD, "type", "a", None),
    ('{"type": null, "id": 7}', ErrorCode.MISSING_FIELD, "type", 7, None),
    # wrong-typed type
    ('{"type": 5, "id": 7}', ErrorCode.WRONG_TYPE, "type", 7, None),
    ('{"type": true}', ErrorCode.WRONG_TYPE, "type", NO_ID, None),
    ('{"type": ["join"], "id": "x"}', ErrorCode.WRONG_TYPE, "type", "x", None),
    ('{"type": {"t": "join"}}', ErrorCode.WRONG_TYPE, "type", NO_ID, None),
    # type too long
    (
        '{"type": "' + "t" * (MAX_TYPE_LENGTH + 1) + '", "id": 7}',
        ErrorCode.TOO_LONG,
        "type",
        7,
        None,
    ),
    # wrong-typed id (a boolean is not an integer); the id is then not echoed
    ('{"type": "rooms", "id": true}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    ('{"type": "rooms", "id": false}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    ('{"type": "rooms", "id": 1.5}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    ('{"type": "rooms", "id": 1.0}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    ('{"type": "rooms", "id": [1]}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    ('{"type": "rooms", "id": {}}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    # out-of-range integer ids (beyond 2^53 - 1 either way, or 400 digits): invalid_value
    ('{"type": "rooms", "id": 9007199254740992}', ErrorCode.INVALID_VALUE, "id", NO_ID, None),
    ('{"type": "rooms", "id": -9007199254740992}', ErrorCode.INVALID_VALUE, "id", NO_ID, None),
    ('{"type": "rooms", "id": ' + "9" * 400 + "}", ErrorCode.INVALID_VALUE, "id", NO_ID, None),
    ('{"type": "rooms", "id": 1e3}', ErrorCode.WRONG_TYPE, "id", NO_ID, None),
    # a string id over 64 characters: too_long, and not carried back
    ('{"type": "rooms", "id": "' + "i" * 65 + '"}', ErrorCode.TOO_LONG, "id", NO_ID, None),
    ('{"type": "rooms", "id": "' + "𝄞" * 65 + '"}', ErrorCode.TOO_LONG, "id", NO_ID, None),
    # wrong-typed room: id and type are carried
    ('{"type": "join", "id": 7, "room": 5}', ErrorCode.WRONG_TYPE, "room", 7, "join"),
    ('{"type": "join", "id": "r", "room": ["lobby"]}', ErrorCode.WRONG_TYPE, "room", "r", "join"),
    ('{"type": "join", "room": true}', ErrorCode.WRONG_TYPE, "room", NO_ID, "join"),
    ('{"type": "join", "room": {}}', ErrorCode.WRONG_TYPE, "room", NO_ID, "join"),
    # wrong-typed data
    ('{"type": "publish", "id": 7, "data": []}', ErrorCode.WRONG_TYPE, "data", 7, "publish"),
    ('{"type": "publish", "id": 7, "data": "hi"}', ErrorCode.WRONG_TYPE, "data", 7, "publish"),
    ('{"type": "publish", "data": 5}', ErrorCode.WRONG_TYPE, "data", NO_ID, "publish"),
    ('{"type": "publish", "data": null}', ErrorCode.WRONG_TYPE, "data", NO_ID, "publish"),
    ('{"type": "publish", "data": true}', ErrorCode.WRONG_TYPE, "data", NO_ID, "publish"),
]


def _row_id(row):
    raw, code, path, *_ = row
    text = raw if isinstance(raw, str) else repr(raw)
    return f"{code}-{path}-{text[:30]}"


@pytest.mark.parametrize(
    ("raw", "code", "path", "request_id", "request_type"),
    ERROR_ROWS,
    ids=[_row_id(r) for r in ERROR_ROWS],
)
def test_error_rows(raw, code, path, request_id, request_type):
    """Each bad input gives its documented code and path, and the id/type when readable."""
    error = refused(raw)
    assert error.code == code
    assert error.path == path
    assert error.request_id == request_id
    assert error.request_type == request_type
    assert error.message and str(error) == error.message

    message = error.to_message()
    assert message["type"] == "error"
    assert message["code"] == code
    assert message["message"] == error.message
    if path is None:
        assert "path" not in message
    else:
        assert message["path"] == path
    if request_id is None:
        assert "id" not in message
    else:
        assert message["id"] == request_id and type(message["id"]) is type(request_id)
    if request_type is None:
        assert "re" not in message
    else:
        assert message["re"] == request_type
    # The error reply itself always goes on the wire as strict JSON.
    json.dumps(message, allow_nan=False)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("[]", "an array"),
        ('"x"', "a string"),
        ("1", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ],
)
def test_not_an_object_names_what_arrived(raw, kind):
    """The human message says what kind of JSON value came instead of an object."""
    assert kind in refused(raw).message


def test_bad_json_message_says_where():
    """A syntax error's message points at the line and column."""
    message = refused('{"type": "rooms",\n  oops}').message
    assert "line 2" in message and "column" in message


def test_protocol_error_to_message_field_order_and_absent_fields():
    """to_message: type, id, re, code, message, path; absent parts are left out, not null."""
    full = ProtocolError(
        "not_a_member", "join first", path="room", request_id=7, request_type="publish"
    ).to_message()
    assert list(full) == ["type", "id", "re", "code", "message", "path"]
    bare = ProtocolError("bad_json", "no").to_message()
    assert bare == {"type": "error", "code": "bad_json", "message": "no"}


def test_envelope_fail_carries_id_and_type():
    """Envelope.fail builds an error about that request, id and type included."""
    env = parse_envelope('{"type": "publish", "id": "p1", "room": "lobby"}')
    error = env.fail(ErrorCode.NOT_A_MEMBER, "join 'lobby' first", "room")
    assert error.to_message() == {
        "type": "error",
        "id": "p1",
        "re": "publish",
        "code": "not_a_member",
        "message": "join 'lobby' first",
        "path": "room",
    }


# Known bugs: input that parses but cannot go back on the wire


def test_out_of_range_number_is_refused_like_infinity():
    """1e400 is read by Python as float('inf'): it must be refused like ``Infinity``.

    docs/protocol.md: bad_json when the frame "uses NaN/Infinity". Accepting
    1e400 lets an infinite float into the room, which the server then sends
    as the non-JSON token ``Infinity`` (see test_rooms_errors.py::
    test_every_message_the_core_emits_is_strict_json).
    """
    error = refused('{"type": "publish", "room": "lobby", "data": {"body": 1e400}}')
    assert error.code == ErrorCode.BAD_JSON


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "a\\ud83d"], ids=["high", "low", "tail"])
def test_lone_surrogate_escape_is_refused(escape):
    """A lone UTF-16 surrogate escape has no UTF-8 form: the server could never send it back.

    docs/protocol.md: frames are "UTF-8 encoded" JSON. parse_envelope accepts
    ``"\\ud800"`` as a string holding a lone surrogate; echoed in a reply or
    published in a room it makes the server's UTF-8 encoding fail (see
    tests/test_rooms_bad_input.py::test_lone_surrogate_body_does_not_poison_the_room).
    """
    error = refused('{"type": "publish", "room": "lobby", "data": {"body": "' + escape + '"}}')
    assert error.code == ErrorCode.BAD_JSON
