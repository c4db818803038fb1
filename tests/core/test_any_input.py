"""Hypothesis: any input at all, into parse_envelope and RoomsCore.receive (no sockets).

For any input, parse_envelope returns a well-typed Envelope or raises a
ProtocolError with a documented code, and RoomsCore.receive never raises and
only ever emits JSON that can go on the wire: strict, UTF-8, within the 1 MiB
a default client accepts, even from a room whose history would not fit in
one frame (docs/protocol.md, "Limits").
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsnb.core import Envelope, Outgoing, ProtocolError, RoomLimits, RoomsCore, parse_envelope
from wsnb.core.envelope import MAX_TYPE_LENGTH

from .protocol import DOCUMENTED_CODES, MiB

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
TYPES = ["hello", "join", "leave", "publish", "history", "members", "rooms"]
data_dicts = st.dictionaries(
    st.sampled_from(["name", "body", "since", "history", "limit", "after", "reply"])
    | st.text(max_size=6),
    json_values | st.fixed_dictionaries({}, optional={"epoch": json_values, "seq": json_values}),
    max_size=4,
)
envelope_dicts = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(TYPES) | st.text(max_size=40) | json_values,
        "id": st.integers() | st.text(max_size=10) | json_values,
        "room": st.sampled_from(["lobby", "other", "", "x" * 65])
        | st.text(max_size=70)
        | json_values,
        "data": data_dicts | json_values,
    },
)
small_ints = st.integers(-2, 30) | st.sampled_from([2**53 - 1, 2**53, -(2**53), 10**400])
# Requests close to valid ones, so that the handlers' own checks run too.
plausible_requests = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        "id": st.integers() | st.text(max_size=5),
        "room": st.sampled_from(["lobby", "big", "other", "new"]) | st.text(max_size=70),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "name": st.text(max_size=40) | json_values,
                "body": json_values,
                "since": small_ints
                | json_values
                | st.fixed_dictionaries(
                    {
                        "epoch": st.sampled_from(["e1", "zz"]) | json_values,
                        "seq": small_ints | json_values,
                    }
                ),
                "history": small_ints | json_values,
                "limit": small_ints | json_values,
                "after": small_ints | json_values,
                "reply": st.booleans() | json_values,
            },
        ),
    },
)
raw_inputs = st.one_of(
    st.text(),
    st.binary(),
    json_values.map(json.dumps),
    envelope_dicts.map(json.dumps),
    envelope_dicts.map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
    plausible_requests.map(json.dumps),
    plausible_requests.map(json.dumps),
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(raw_inputs)
def test_parse_envelope_returns_a_typed_envelope_or_a_protocol_error(raw):
    """Never any exception but ProtocolError, always with a documented code and a message."""
    try:
        env = parse_envelope(raw)
    except ProtocolError as error:
        assert error.code in DOCUMENTED_CODES
        assert isinstance(error.message, str) and error.message
        assert error.path is None or isinstance(error.path, str)
        assert error.request_id is None or (
            isinstance(error.request_id, str | int) and not isinstance(error.request_id, bool)
        )
        assert error.request_type is None or isinstance(error.request_type, str)
        json.dumps(error.to_message(), allow_nan=False)
        return
    assert isinstance(env, Envelope)
    assert isinstance(env.type, str) and len(env.type) <= MAX_TYPE_LENGTH
    assert env.id is None or (isinstance(env.id, str | int) and not isinstance(env.id, bool))
    assert env.room is None or isinstance(env.room, str)
    assert isinstance(env.data, dict)


# Two messages of 600 kB in 'big': any reply listing both would be over 1 MiB.
BIG_BODY = "b" * 600_000
#: The core is built once per setting and copied: the big messages are immutable strings.
_WORLDS: dict[bool, RoomsCore[str]] = {}


def _core_with_a_member(at_once: bool) -> RoomsCore[str]:
    """ada in 'lobby' (one message) and 'big' (two large ones), bob connected; 'other'
    exists with bob only. ``at_once``: presence_interval=0 (events come out of receive)."""
    import copy

    if at_once not in _WORLDS:
        limits = RoomLimits(presence_interval=0) if at_once else RoomLimits()
        core: RoomsCore[str] = RoomsCore(limits, clock=lambda: 1.0, epoch_factory=lambda: "e1")
        core.connect("ada", name="ada")
        core.connect("bob", name="bob")
        core.receive("ada", '{"type": "join", "room": "lobby"}')
        core.receive("ada", '{"type": "publish", "room": "lobby", "data": {"body": "hi"}}')
        core.receive("ada", '{"type": "join", "room": "big"}')
        for _ in range(2):
            core.publish("big", BIG_BODY, "ada")
        core.receive("bob", '{"type": "join", "room": "other"}')
        core.take_due()
        core.flush_presence()
        _WORLDS[at_once] = core
    return copy.deepcopy(_WORLDS[at_once])


def _assert_wire(out: list[Outgoing[str]]) -> None:
    for o in out:
        assert isinstance(o, Outgoing)
        assert isinstance(o.to, tuple) and o.to
        assert set(o.to) <= {"ada", "bob"}
        assert len(o.text.encode("utf-8")) <= MiB
        json.dumps(o.message, allow_nan=False)
        assert o.message["type"] in ("reply", "error", "message", "presence")


@SETTINGS
@given(raw_inputs, st.booleans())
def test_rooms_core_receive_never_raises_and_emits_wire_json(raw, at_once):
    """receive() on anything: Outgoing objects of strict UTF-8 JSON, each within 1 MiB.

    A binary frame is one not_text error; for text parse_envelope refuses,
    exactly one error, to the sender only, with the same code. Presence
    flushed afterwards is wire JSON too.
    """
    core = _core_with_a_member(at_once)
    out = core.receive("ada", raw)
    assert isinstance(out, list)
    _assert_wire(out)
    errors = [o for o in out if o.message["type"] == "error"]
    if isinstance(raw, bytes):
        assert [(o.to, o.message["code"]) for o in out] == [(("ada",), "not_text")]
        return
    try:
        parse_envelope(raw)
    except ProtocolError as error:
        assert len(out) == 1
        assert out[0].to == ("ada",)
        assert out[0].message == error.to_message()
        return
    if errors:  # refused by its handler: still exactly one error, to the sender alone
        assert len(out) == 1 and out[0].to == ("ada",)
        assert out[0].message["code"] in DOCUMENTED_CODES
    elif out and out[0].message["type"] != "reply":  # a publish with "reply": false
        assert json.loads(raw)["data"]["reply"] is False
        assert [o.message["type"] for o in out] == ["message"]
    else:  # accepted: the sender gets exactly one reply, first
        assert out[0].to == ("ada",) and out[0].message["type"] == "reply"
        assert sum(o.message["type"] == "reply" for o in out) == 1
    for room, delay in core.take_due():
        assert delay > 0
        _assert_wire(core.flush_presence(room))


printable = st.text(
    st.characters(blacklist_categories=["Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"]), min_size=1
).filter(lambda s: s.strip() and s.isprintable())
finite_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(
    finite_json, printable.filter(lambda s: len(s) <= 32), printable.filter(lambda s: len(s) <= 64)
)
def test_a_message_event_is_exactly_the_json_of_the_event(body, name, room):
    """The message event is written by hand around the body (a hot path): for any body,
    name and room it must be the very JSON that encoding the event would give."""
    from wsnb.core.envelope import encode_json

    core: RoomsCore[str] = RoomsCore(clock=lambda: 1795494545.25, epoch_factory=lambda: "e1")
    core.connect("ada", name=name)
    core.receive("ada", json.dumps({"type": "join", "room": room}))
    out = core.receive("ada", json.dumps({"type": "publish", "room": room, "data": {"body": body}}))
    event = {
        "type": "message",
        "room": room,
        "epoch": "e1",
        "seq": 1,
        "data": {"from": name, "body": body, "time": 1795494545.25},
    }
    assert out[1].text == encode_json(event)
    assert out[0].message == {"type": "reply", "re": "publish", "data": {"room": room, "seq": 1}}
