"""Hypothesis: any input at all, into parse_envelope and RoomsCore.receive (no sockets).

For any input, parse_envelope returns a well-typed Envelope or raises a
ProtocolError with a documented code, and RoomsCore.receive never raises and
only ever emits JSON that can go on the wire.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsnb.core import Envelope, Outgoing, ProtocolError, RoomsCore, parse_envelope
from wsnb.core.envelope import MAX_TYPE_LENGTH
from wsnb.json_messages import encode_json

from .protocol import DOCUMENTED_CODES

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
    st.sampled_from(["name", "body", "since", "history", "limit", "epoch", "seq"])
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
small_ints = st.integers(-2, 30)
# Requests close to valid ones, so that the handlers' own checks run too.
plausible_requests = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        "id": st.integers() | st.text(max_size=5),
        "room": st.sampled_from(["lobby", "other", "new"]) | st.text(max_size=70),
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


def _core_with_a_member() -> RoomsCore[str]:
    """ada in 'lobby' (with one message), bob connected; 'other' exists with bob only."""
    core: RoomsCore[str] = RoomsCore(clock=lambda: 1.0, epoch_factory=lambda: "e1")
    core.connect("ada", name="ada")
    core.connect("bob", name="bob")
    core.receive("ada", '{"type": "join", "room": "lobby"}')
    core.receive("ada", '{"type": "publish", "room": "lobby", "data": {"body": "hi"}}')
    core.receive("bob", '{"type": "join", "room": "other"}')
    return core


@SETTINGS
@given(raw_inputs)
def test_rooms_core_receive_never_raises_and_emits_wire_json(raw):
    """receive() on anything: Outgoing objects of strict, UTF-8-encodable JSON.

    For input parse_envelope refuses, exactly one error, to the sender only,
    with the same code.
    """
    core = _core_with_a_member()
    out = core.receive("ada", raw)
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Outgoing)
        assert isinstance(o.to, tuple) and o.to
        assert set(o.to) <= {"ada", "bob"}
        json.dumps(o.message, allow_nan=False)
        encode_json(o.message).encode("utf-8")
        assert o.message["type"] in ("reply", "error", "message", "presence")
    errors = [o for o in out if o.message["type"] == "error"]
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
    else:  # accepted: the sender gets exactly one reply, first
        assert out[0].to == ("ada",) and out[0].message["type"] == "reply"
        assert sum(o.message["type"] == "reply" for o in out) == 1
