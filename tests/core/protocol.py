"""The protocol as the core tests speak it: the documented error codes, and Chat.

Chat is a RoomsCore to talk to in JSON text: members are strings, the clock
and epochs are injected.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from wsnb.core import Outgoing, RoomLimits, RoomsCore, request_envelope

NOW = 1795494545.25

#: The error codes of docs/protocol.md's error table.
DOCUMENTED_CODES = {
    "bad_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "too_long",
    "unknown_type",
    "unknown_room",
    "not_a_member",
    "too_many_rooms",
}


class Chat:
    """A RoomsCore with a fixed clock and predictable epochs (ep1, ep2... per room created)."""

    def __init__(
        self,
        limits: RoomLimits | None = None,
        rooms: list[str] | None = None,
        epoch_prefix: str = "ep",
    ) -> None:
        counter = itertools.count(1)
        self.core: RoomsCore[str] = RoomsCore(
            limits,
            rooms=rooms,
            clock=lambda: NOW,
            epoch_factory=lambda: f"{epoch_prefix}{next(counter)}",
        )
        self.keys: list[str] = []

    def connect(self, *keys: str, named: bool = True) -> None:
        for key in keys:
            self.core.connect(key, name=key if named else None)
            self.keys.append(key)

    def join(self, room: str, *keys: str) -> None:
        """Each of ``keys`` joins ``room``, in this order; every join must succeed."""
        for key in keys:
            self.ok(key, "join", room)

    def send(
        self, key: str, type: str, room: str | None = None, *, id: Any = None, **data: Any
    ) -> list[Outgoing[str]]:
        return self.raw(key, json.dumps(request_envelope(type, id, room, data)))

    def raw(self, key: str, raw: str | bytes) -> list[Outgoing[str]]:
        out = self.core.receive(key, raw)
        for o in out:  # whatever the core says must go on the wire as it is
            json.dumps(o.message, allow_nan=False)
        return out

    def ok(self, key: str, type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
        """Send a request that must succeed; return its reply's data."""
        out = self.send(key, type, room, **data)
        assert out[0].to == (key,), out
        assert out[0].message["type"] == "reply", out[0].message
        return out[0].message["data"]

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could change: rooms, members, histories, names."""
        rooms = {
            name: {
                "members": list(self.core.room(name).members.items()),
                "epoch": self.core.room(name).history.epoch,
                "seq": self.core.room(name).history.last_seq,
                "history": copy.deepcopy(list(self.core.room(name).history)),
            }
            for name in self.core.names()
        }
        return {"rooms": rooms, "names": {k: self.core.name_of(k) for k in self.keys}}


def messages_to(out: list[Outgoing[str]], key: str) -> list[dict[str, Any]]:
    return [o.message for o in out if key in o.to]


def body_seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]
