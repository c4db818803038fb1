"""The protocol as the core tests speak it: the documented error codes, requests, and Chat.

Chat is a RoomsCore to talk to in JSON text: members are strings, the clock
and epochs are injected, and presence ticks happen when the test says so
(:meth:`Chat.tick`), as the I/O layer's timers would.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from wsnb.core import Outgoing, RoomLimits, RoomsCore, request_envelope

NOW = 1795494545.25
MiB = 1024 * 1024

#: The error codes of docs/protocol.md's error table.
DOCUMENTED_CODES = {
    "bad_json",
    "not_text",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "too_long",
    "too_large",
    "unknown_type",
    "unknown_room",
    "not_a_member",
    "too_many_rooms",
    "server_full",
    "unavailable",
}


def E(type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
    """A request without an id (the test adds one or not)."""
    return request_envelope(type, None, room, data)


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
        return wire_checked(self.core.receive(key, raw))

    def ok(self, key: str, type: str, room: str | None = None, **data: Any) -> dict[str, Any]:
        """Send a request that must succeed; return its reply's data."""
        out = self.send(key, type, room, **data)
        assert out[0].to == (key,), out
        assert out[0].message["type"] == "reply", out[0].message
        return out[0].message["data"]  # type: ignore[no-any-return]

    def tick(self) -> list[Outgoing[str]]:
        """The presence events of every room with changes, as their timers would send them."""
        out: list[Outgoing[str]] = []
        for room, delay in self.core.take_due():
            assert delay > 0
            out += self.core.flush_presence(room)
        return wire_checked(out)

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could change: rooms, members, histories, names."""
        rooms = {
            name: {
                "members": list(self.core.room(name).members.items()),
                "joins": self.core.room(name).joins,
                "epoch": self.core.room(name).history.epoch,
                "seq": self.core.room(name).history.last_seq,
                "history": copy.deepcopy(list(self.core.room(name).history)),
                "presence": len(self.core.room(name).presence),
            }
            for name in self.core.names()
        }
        return {"rooms": rooms, "names": {k: self.core.name_of(k) for k in self.keys}}


def wire_checked(out: list[Outgoing[str]]) -> list[Outgoing[str]]:
    """``out``, after checking each message is strict JSON within a default client's 1 MiB."""
    for o in out:
        assert isinstance(o.text, str)
        assert len(o.text.encode()) <= MiB, len(o.text.encode())
        json.dumps(o.message, allow_nan=False)
    return out


def messages_to(out: list[Outgoing[str]], key: str) -> list[dict[str, Any]]:
    return [o.message for o in out if key in o.to]


def body_seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


def member(member_id: int, name: str) -> dict[str, Any]:
    """One entry of a member list (docs/protocol.md, "Members")."""
    return {"id": member_id, "name": name}


def presence_data(
    count: int,
    joined: list[dict[str, Any]] | None = None,
    left: list[dict[str, Any]] | None = None,
    renamed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``data`` of a presence event (docs/protocol.md, "Presence")."""
    return {"count": count, "joined": joined or [], "left": left or [], "renamed": renamed or []}


def apply_presence(members: dict[int, str], data: dict[str, Any]) -> dict[int, str]:
    """Apply a presence event to a map ``id -> name`` the way docs/protocol.md tells clients."""
    for change in data["joined"] + data["renamed"]:
        members[change["id"]] = change["name"]
    for change in data["left"]:
        members.pop(change["id"], None)
    return members


def truth(chat: Chat, room: str) -> dict[int, str]:
    """The room's members as the server knows them: ``id -> name``."""
    return {mid: chat.core.name_of(key) for key, mid in chat.core.room(room).members.items()}
