"""RoomsCore(shared=True): what it asks of a backend, and what it makes of the answers.

No backend here: the tests play it, by answering the asks by hand.
"""

from __future__ import annotations

import json

from wsnb.core.asks import Fetch, Join, Leave, Publish, Rename, Unwatch
from wsnb.core.pages import data_text
from wsnb.core.rooms import RoomsCore


def core() -> RoomsCore[str]:
    return RoomsCore(shared=True, clock=lambda: 1.5)


def send(c: RoomsCore[str], key: str, **request: object) -> list[dict[str, object]]:
    return [out.message for out in c.receive(key, json.dumps(request))]


def joined(c: RoomsCore[str], key: str, room: str, member_id: int, *, epoch: str = "E",
           last_seq: int = 0, messages: list[tuple[int, str]] | None = None,
           remote: dict[int, str] | None = None, **data: object) -> dict[str, object]:  # fmt: skip
    """``key`` joins ``room``: the backend's part played (watch, then an id)."""
    assert send(c, key, type="join", room=room, data=data) == []
    (ask,) = c.take_asks()
    assert isinstance(ask, Join) and ask.room == room
    if not c.room(room).watched:
        c.load(room, epoch, last_seq, messages or [], remote or {})
    out = c.joined(ask, member_id)
    assert out[0].to == (key,)
    return out[0].message["data"]


def ada_and_bob_in_the_lobby() -> RoomsCore[str]:
    """A shared core where ada (id 1) and bob (id 2) joined "lobby", asks taken."""
    c = core()
    c.connect("a", "ada")
    c.connect("b", "bob")
    joined(c, "a", "lobby", 1)
    joined(c, "b", "lobby", 2)
    c.take_asks()
    return c


def test_a_publish_waits_for_its_number_then_replies_and_reaches_members() -> None:
    c = ada_and_bob_in_the_lobby()
    assert send(c, "a", type="publish", id=7, room="lobby", data={"body": "hi"}) == []
    (ask,) = c.take_asks()
    assert isinstance(ask, Publish)
    assert json.loads(ask.data) == {"from": "ada", "body": "hi", "time": 1.5}
    out = c.published(ask, "E", 1)
    assert out[0].to == ("a",) and out[0].message == {
        "type": "reply", "id": 7, "re": "publish", "data": {"room": "lobby", "seq": 1}
    }  # fmt: skip
    assert out[1].to == ("a", "b")
    assert out[1].message == {
        "type": "message", "room": "lobby", "epoch": "E", "seq": 1,
        "data": {"from": "ada", "body": "hi", "time": 1.5},
    }  # fmt: skip
    assert c.deliver("lobby", "E", 1, ask.data) == []  # its live copy: had it already


def test_messages_are_delivered_in_order_once_and_a_gap_is_fetched() -> None:
    c = core()
    c.connect("a", "ada")
    joined(c, "a", "lobby", 1, last_seq=3)
    d = [data_text("x", n, 0.0) for n in range(8)]
    assert [o.message["seq"] for o in c.deliver("lobby", "E", 4, d[4])] == [4]
    assert c.deliver("lobby", "E", 6, d[6]) == [] and c.deliver("lobby", "E", 7, d[7]) == []
    assert c.take_asks() == [Fetch("lobby", 4)]  # one fetch for the gap, not one per message
    out = c.fill("lobby", "E", 1, [(5, d[5]), (6, d[6])])
    assert [o.message["seq"] for o in out] == [5, 6, 7]
    assert c.room("lobby").history.last_seq == 7 and not c.room("lobby").fetching


def test_a_gap_the_backend_no_longer_keeps_is_skipped_not_waited_for() -> None:
    c = core()
    c.connect("a", "ada")
    joined(c, "a", "lobby", 1, last_seq=3)
    assert c.deliver("lobby", "E", 9, data_text("x", 9, 0.0)) == []
    assert c.take_asks() == [Fetch("lobby", 3)]
    out = c.fill("lobby", "E", 8, [(8, data_text("x", 8, 0.0))])
    assert [o.message["seq"] for o in out] == [8, 9]


def test_a_new_epoch_from_the_backend_is_followed() -> None:
    c = core()
    c.connect("a", "ada")
    joined(c, "a", "lobby", 1, epoch="E1", last_seq=5)
    out = c.deliver("lobby", "E2", 1, data_text("x", "again", 0.0))
    assert [(o.message["epoch"], o.message["seq"]) for o in out] == [("E2", 1)]
    assert c.room("lobby").history.epoch == "E2"


def test_a_join_reply_has_the_snapshot_and_every_process_s_members() -> None:
    c = core()
    c.connect("a", "ada")
    messages = [(s, data_text("eve", f"m{s}", 0.0)) for s in (4, 5)]
    data = joined(c, "a", "lobby", 9, last_seq=5, messages=messages, remote={3: "eve", 12: "z"})
    assert data["seq"] == 5 and data["you"] == 9 and data["count"] == 3
    assert [m["seq"] for m in data["history"]] == [4, 5]  # type: ignore[attr-defined]
    assert data["members"] == [
        {"id": 3, "name": "eve"}, {"id": 9, "name": "ada"}, {"id": 12, "name": "z"}
    ]  # fmt: skip


def test_a_resume_is_decided_on_the_copy_the_backend_filled() -> None:
    c = core()
    c.connect("a", "ada")
    messages = [(s, data_text("eve", s, 0.0)) for s in range(1, 6)]
    data = joined(c, "a", "lobby", 1, last_seq=5, messages=messages, since={"epoch": "E", "seq": 3})
    assert data["recovered"] is True
    assert [m["seq"] for m in data["history"]] == [4, 5]  # type: ignore[attr-defined]


def test_others_presence_reaches_members_here_at_the_tick() -> None:
    c = core()
    c.connect("a", "ada")
    joined(c, "a", "lobby", 1)
    c.flush_presence()
    c.remote_change("lobby", "join", 2, "bob")
    c.remote_change("lobby", "join", 2, "bob")  # told twice: harmless
    c.remote_change("lobby", "rename", 2, "rob")
    assert c.take_events() == [] and {room for room, _ in c.take_due()} == {"lobby"}
    (event,) = c.flush_presence("lobby")
    assert event.message["data"] == {
        "count": 2, "joined": [{"id": 2, "name": "rob"}], "left": [], "renamed": []
    }  # fmt: skip
    c.remote_change("lobby", "leave", 2, "rob")
    (event,) = c.flush_presence("lobby")
    assert event.message["data"]["count"] == 1 and event.message["data"]["left"] == [
        {"id": 2, "name": "rob"}
    ]


def test_leaving_and_renaming_are_told_and_the_last_one_out_stops_following() -> None:
    c = ada_and_bob_in_the_lobby()
    send(c, "b", type="hello", data={"name": "rob"})
    assert c.take_asks() == [Rename("lobby", 2, "rob")]
    c.disconnect("a")
    assert c.take_asks() == [Leave("lobby", 1)]
    send(c, "b", type="leave", room="lobby")
    assert c.take_asks() == [Leave("lobby", 2), Unwatch("lobby")]
    assert not c.room("lobby").watched


def test_a_join_in_flight_keeps_the_room_followed() -> None:
    c = core()
    c.connect("a", "ada")
    c.connect("b", "bob")
    joined(c, "a", "lobby", 1)
    send(c, "b", type="join", room="lobby")
    (ask,) = [a for a in c.take_asks() if isinstance(a, Join)]
    c.disconnect("a")  # the last member here leaves while bob's join is in flight
    assert Unwatch("lobby") not in c.take_asks()
    assert c.joined(ask, 2)[0].message["data"]["you"] == 2
    assert c.room("lobby").watched


def test_a_joiner_gone_before_its_id_came_is_taken_out_there_too() -> None:
    c = core()
    c.connect("a", "ada")
    send(c, "a", type="join", room="lobby")
    (ask,) = c.take_asks()
    assert isinstance(ask, Join)
    c.load("lobby", "E", 0, [], {})
    c.disconnect("a")
    assert c.joined(ask, 5) == []
    assert c.take_asks() == [Leave("lobby", 5), Unwatch("lobby")]


def test_what_the_backend_could_not_do_is_an_unavailable_error() -> None:
    c = core()
    c.connect("a", "ada")
    joined(c, "a", "lobby", 1)
    send(c, "a", type="publish", id=3, room="lobby", data={"body": "hi"})
    (ask,) = c.take_asks()
    assert isinstance(ask, Publish)
    (error,) = c.failed(ask, "ConnectionError")
    assert error.message["code"] == "unavailable" and error.message["id"] == 3


def test_a_message_too_large_is_refused_before_the_backend_sees_it() -> None:
    c = core()
    c.connect("a", "ada")
    joined(c, "a", "lobby", 1)
    body = "x" * c.limits.max_event_bytes
    (error,) = send(c, "a", type="publish", room="lobby", data={"body": body})
    assert error["code"] == "too_large" and c.take_asks() == []
