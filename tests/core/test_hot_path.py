"""The publish hot path writes its JSON by hand: it must be the JSON encoding would give.

``message_text`` and ``publish_reply_text`` (wsnb/core/pages.py) skip
``json.JSONEncoder`` for speed; these properties hold them to it, for any body,
name, room, epoch and request id the protocol lets through.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from wsnb.core.envelope import Envelope, encode_json
from wsnb.core.pages import message_head, message_text, publish_reply_text, reply_text

# Text that survives the parser: no lone surrogates.
text = st.text(st.characters(exclude_categories=("Cs",)))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
ids = st.none() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=64)


@given(room=text, epoch=text, seq=st.integers(0, 2**53), sender=text, body=json_values,
       now=st.floats(0, 2e9) | st.integers(0, 2**40))  # fmt: skip
def test_message_text_is_the_encoded_event(room, epoch, seq, sender, body, now):
    event = {
        "type": "message",
        "room": room,
        "epoch": epoch,
        "seq": seq,
        "data": {"from": sender, "body": body, "time": now},
    }
    written = message_text(message_head(room, epoch), seq, sender, body, now)
    assert written == encode_json(event)
    assert json.loads(written) == event


@given(request_id=ids, room=text, seq=st.integers(0, 2**53))
def test_publish_reply_text_is_reply_text(request_id, room, seq):
    envelope = Envelope("publish", id=request_id)
    expected = reply_text(envelope, {"room": room, "seq": seq})
    assert publish_reply_text(envelope, room, seq) == expected
