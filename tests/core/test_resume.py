"""RoomCursor: the subscriber's pure resume decisions (wsnb/core/resume.py), without sockets.

Each test feeds the cursor what the server would send (join replies, live
``message`` events, ``history`` replies, shaped as in docs/protocol.md) and
checks what it tells the subscriber to do: deliver, skip, fetch, or report a loss.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsnb.core.resume import CursorStep, RoomCursor

ROOM = "lobby"


def msg(seq: int, epoch: str = "e1", room: str = ROOM) -> dict[str, Any]:
    """A ``message`` event as the server sends it."""
    return {
        "type": "message",
        "room": room,
        "epoch": epoch,
        "seq": seq,
        "data": {"from": "server", "body": f"m{seq}", "time": 0.0},
    }


def join_reply(epoch: str, seq: int, history: list[int] = (), **extra: Any) -> dict[str, Any]:
    """A join reply as protocol version 2 shapes it."""
    return {
        "room": ROOM,
        "protocol": 2,
        "epoch": epoch,
        "seq": seq,
        "count": 1,
        "you": 1,
        "members": [{"id": 1, "name": "sub"}],
        "history": [msg(s, epoch) for s in history],
        **extra,
    }


def history_reply(epoch: str, seq: int, messages: list[int], **extra: Any) -> dict[str, Any]:
    messages_ = [msg(s, epoch) for s in messages]
    return {"room": ROOM, "epoch": epoch, "seq": seq, "messages": messages_, **extra}


def seqs(step: CursorStep) -> list[int]:
    return [m["seq"] for m in step.deliver]


def joined(epoch: str = "e1", seq: int = 0) -> RoomCursor:
    """A cursor after its first join in a room at ``(epoch, seq)``."""
    cursor = RoomCursor(ROOM)
    cursor.on_join(join_reply(epoch, seq))
    return cursor


# First join, live delivery, duplicates ----------------------------------------------


def test_before_the_first_join_there_is_nothing_to_resume_from():
    assert RoomCursor(ROOM).since is None


def test_first_join_starts_from_now_without_replaying_the_recent_history():
    cursor = RoomCursor(ROOM)
    step = cursor.on_join(join_reply("e1", 42, history=[40, 41, 42]))
    assert step == CursorStep()  # nothing delivered, no loss, no fetch
    assert cursor.since == {"epoch": "e1", "seq": 42}
    assert seqs(cursor.on_live(msg(43))) == [43]


def test_live_messages_in_order_are_delivered_one_by_one():
    cursor = joined()
    for seq in range(1, 6):
        step = cursor.on_live(msg(seq))
        assert step.deliver == [msg(seq)]
        assert (step.lost, step.fetch_since, step.duplicate) == (None, None, False)
    assert cursor.since == {"epoch": "e1", "seq": 5}


@pytest.mark.parametrize("again", [1, 3, 5])
def test_a_message_delivered_already_is_skipped_as_a_duplicate(again):
    cursor = joined()
    for seq in range(1, 6):
        cursor.on_live(msg(seq))
    step = cursor.on_live(msg(again))
    assert step.duplicate
    assert step.deliver == [] and step.lost is None and step.fetch_since is None
    assert cursor.since == {"epoch": "e1", "seq": 5}
    assert seqs(cursor.on_live(msg(6))) == [6]


def test_a_held_message_arriving_again_is_a_duplicate_too():
    cursor = joined(seq=2)
    cursor.on_live(msg(5))  # held, 3 and 4 missing
    assert cursor.on_live(msg(5)).duplicate
    step = cursor.on_history(history_reply("e1", 5, [3, 4, 5]))
    assert seqs(step) == [3, 4, 5]  # 5 once


# Live gaps -----------------------------------------------------------------------------


def test_a_live_gap_asks_for_the_history_then_fills_it_and_releases_held_messages_in_order():
    cursor = joined(seq=2)
    step = cursor.on_live(msg(5))
    assert step.deliver == [] and step.fetch_since == 2 and step.lost is None
    # While the fetch is under way, later messages are held, without asking twice.
    step = cursor.on_live(msg(6))
    assert step == CursorStep()
    # The server's history reply was computed before 6 was published.
    step = cursor.on_history(history_reply("e1", 5, [3, 4, 5]))
    assert step.lost is None
    assert seqs(step) == [3, 4, 5, 6]
    assert cursor.since == {"epoch": "e1", "seq": 6}
    assert seqs(cursor.on_live(msg(7))) == [7]


def test_a_history_reply_that_overlaps_live_messages_delivers_each_once():
    cursor = joined(seq=2)
    assert cursor.on_live(msg(4)).fetch_since == 2
    cursor.on_live(msg(5))
    # Computed after 6 was published: 6 will also arrive live, later.
    step = cursor.on_history(history_reply("e1", 6, [3, 4, 5, 6]))
    assert seqs(step) == [3, 4, 5, 6]
    assert cursor.on_live(msg(6)).duplicate
    assert seqs(cursor.on_live(msg(7))) == [7]


def test_a_live_gap_older_than_the_history_is_lost_and_delivery_goes_on_from_the_oldest_kept():
    cursor = joined(seq=2)
    assert cursor.on_live(msg(10)).fetch_since == 2
    cursor.on_live(msg(11))
    # The server only keeps 6..11 now: 3, 4 and 5 are gone for good.
    step = cursor.on_history(history_reply("e1", 11, [6, 7, 8, 9, 10, 11]))
    assert step.lost == "gap_too_old"
    assert seqs(step) == [6, 7, 8, 9, 10, 11]
    assert cursor.since == {"epoch": "e1", "seq": 11}
    assert seqs(cursor.on_live(msg(12))) == [12]


def test_a_history_reply_from_another_epoch_reports_the_loss_and_moves_to_that_epoch():
    cursor = joined(seq=2)
    cursor.on_live(msg(5))
    step = cursor.on_history(history_reply("e2", 3, [1, 2, 3]))
    assert step.lost == "epoch_changed"
    assert step.deliver == []
    assert cursor.since == {"epoch": "e2", "seq": 3}
    # The message held from the old epoch is not delivered later.
    assert seqs(cursor.on_live(msg(4, "e2"))) == [4]


def test_after_a_gap_is_filled_a_new_gap_is_fetched_again():
    cursor = joined()
    assert cursor.on_live(msg(3)).fetch_since == 0
    cursor.on_history(history_reply("e1", 3, [1, 2, 3]))
    assert cursor.on_live(msg(6)).fetch_since == 3


def test_a_rejoin_forgets_a_fetch_that_the_old_connection_never_answered():
    cursor = joined(seq=2)
    assert cursor.on_live(msg(5)).fetch_since == 2  # the connection drops before the reply
    step = cursor.on_join(join_reply("e1", 5, history=[3, 4, 5], recovered=True))
    assert seqs(step) == [3, 4, 5]
    assert cursor.on_live(msg(8)).fetch_since == 5  # not stuck "fetching"


def test_a_message_held_after_a_fetch_is_answered_is_fetched_again_rather_than_stuck():
    """A message that arrived is not held until some later traffic happens to come.

    With ``Rooms(slow_clients="drop")`` a live connection can miss messages.
    Here the subscriber missed 3, 4 (gap: fetch since 2), then 8; the history
    reply was computed when the server had 7, but 9 was read off the socket
    in the same batch and handed to the cursor first (replies resolve a
    future, events go through a queue, so the subscriber can process them in
    either order). After the reply, 9 is held and 8 missing: the cursor must
    ask again. Today it returns no ``fetch_since`` and 9 stays undelivered
    until another message happens to arrive in the room (never, in a quiet one).
    """
    cursor = joined(seq=2)
    assert cursor.on_live(msg(5)).fetch_since == 2
    cursor.on_live(msg(9))  # held; a fetch is already under way
    step = cursor.on_history(history_reply("e1", 7, [3, 4, 5, 6, 7]))
    assert seqs(step) == [3, 4, 5, 6, 7]
    assert step.fetch_since == 7, "9 is held with nothing asking for 8"


# Resuming on a new connection ----------------------------------------------------------


def test_resume_recovered_delivers_exactly_the_gap():
    cursor = joined(seq=5)
    assert cursor.since == {"epoch": "e1", "seq": 5}
    step = cursor.on_join(join_reply("e1", 9, history=[6, 7, 8, 9], recovered=True))
    assert step.lost is None and step.fetch_since is None
    assert seqs(step) == [6, 7, 8, 9]
    assert cursor.since == {"epoch": "e1", "seq": 9}


def test_resume_recovered_with_more_pages_through_the_rest():
    """A gap too big for one join reply ("more": true): deliver its first part, then fetch
    ``since`` the last delivered until a page says more is false."""
    cursor = joined(seq=5)
    step = cursor.on_join(join_reply("e1", 12, history=[6, 7], recovered=True, more=True))
    assert seqs(step) == [6, 7] and step.fetch_since == 7 and step.lost is None
    assert cursor.on_live(msg(13)) == CursorStep()  # held while the pages come
    step = cursor.on_history(history_reply("e1", 13, [8, 9, 10], more=True))
    assert seqs(step) == [8, 9, 10] and step.fetch_since == 10
    step = cursor.on_history(history_reply("e1", 13, [11, 12, 13], more=False))
    assert seqs(step) == [11, 12, 13] and step.fetch_since is None
    assert cursor.since == {"epoch": "e1", "seq": 13}


def test_resume_recovered_with_nothing_missed_delivers_nothing():
    cursor = joined(seq=5)
    step = cursor.on_join(join_reply("e1", 5, history=[], recovered=True))
    assert step == CursorStep()
    assert cursor.since == {"epoch": "e1", "seq": 5}


def test_resume_recovered_skips_messages_it_already_delivered():
    cursor = joined(seq=5)
    step = cursor.on_join(join_reply("e1", 8, history=[3, 4, 5, 6, 7, 8], recovered=True))
    assert seqs(step) == [6, 7, 8]


def test_resume_recovered_releases_messages_held_before_the_drop():
    cursor = joined(seq=5)
    cursor.on_live(msg(9))  # held: a gap, then the connection dropped
    step = cursor.on_join(join_reply("e1", 8, history=[6, 7, 8], recovered=True))
    assert seqs(step) == [6, 7, 8, 9]
    assert cursor.on_live(msg(9)).duplicate


@pytest.mark.parametrize(
    ("reason", "epoch", "seq"),
    [("epoch_changed", "e2", 3), ("gap_too_old", "e1", 2000), ("seq_ahead", "e1", 1)],
)
def test_resume_not_recovered_reports_the_servers_reason_and_moves_to_the_rooms_position(
    reason, epoch, seq
):
    cursor = joined(seq=5)
    cursor.on_live(msg(9))  # held from the old connection
    recent = list(range(max(1, seq - 2), seq + 1))
    step = cursor.on_join(join_reply(epoch, seq, history=recent, recovered=False, reason=reason))
    assert step.lost == reason
    assert step.deliver == []  # the recent history is not passed off as the gap
    assert cursor.since == {"epoch": epoch, "seq": seq}
    # Delivery carries on from the room's current position.
    step = cursor.on_live(msg(seq + 1, epoch))
    assert seqs(step) == [seq + 1] and step.lost is None


def test_resume_not_recovered_without_a_reason_still_reports_a_loss():
    cursor = joined(seq=5)
    step = cursor.on_join(join_reply("e2", 0, recovered=False))
    assert step.lost  # some reason, never a silent carry-on


def test_an_epoch_change_on_a_live_message_reports_the_loss_and_delivers_the_message():
    cursor = joined(seq=5)
    step = cursor.on_live(msg(1, "e2"))
    assert step.lost == "epoch_changed"
    assert step.deliver == [msg(1, "e2")]
    assert cursor.since == {"epoch": "e2", "seq": 1}
    assert seqs(cursor.on_live(msg(2, "e2"))) == [2]
    assert cursor.on_live(msg(1, "e2")).duplicate


def test_cursors_of_different_rooms_are_independent():
    lobby, news = RoomCursor("lobby"), RoomCursor("news")
    lobby.on_join(join_reply("e1", 3))
    news.on_join({**join_reply("n1", 0), "room": "news"})
    assert seqs(lobby.on_live(msg(4))) == [4]
    assert seqs(news.on_live(msg(1, "n1", room="news"))) == [1]
    assert (lobby.since, news.since) == ({"epoch": "e1", "seq": 4}, {"epoch": "n1", "seq": 1})


# Property: whatever the live stream looks like, exactly 1..N in order ----------------


def draw_garbled_wire(data: st.DataObject, n: int) -> list[int]:
    """Seqs 1..n with neighbours swapped within a window, some dropped, some sent again later."""
    window = data.draw(st.integers(1, 5), label="window")
    order = list(range(1, n + 1))
    for i in range(n):
        j = data.draw(st.integers(i, min(n - 1, i + window - 1)))
        order[i], order[j] = order[j], order[i]
    dropped = data.draw(st.sets(st.sampled_from(order)), label="dropped")
    wire = [seq for seq in order if seq not in dropped]
    for seq in data.draw(st.lists(st.sampled_from(order), max_size=n), label="duplicates"):
        after = wire.index(seq) + 1 if seq in wire else 0  # a copy comes after the original
        wire.insert(data.draw(st.integers(after, len(wire))), seq)
    return wire


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_stream_with_duplicates_reorderings_and_drops_delivers_exactly_1_to_n(data):
    """A live stream of seqs 1..N, garbled, plus the server's history: exactly 1..N once.

    The server's history is a dict seq -> message that keeps everything. The
    live stream is 1..N with neighbours swapped within a window, some
    messages dropped, some sent again later. Each fetch the cursor asks for
    is answered, now or a few messages later, with what the server had when
    the request arrived; some connections drop and resume with ``since``
    (unanswered fetches are then forgotten, as the subscriber does). At the
    end a last resume brings whatever was dropped at the very end.
    """
    n = data.draw(st.integers(1, 60), label="n")
    history = {seq: msg(seq) for seq in range(1, n + 1)}
    wire = draw_garbled_wire(data, n)

    cursor = RoomCursor(ROOM)
    assert cursor.on_join({"epoch": "e1", "seq": 0, "history": []}) == CursorStep()
    delivered: list[int] = []
    published = 0  # the server's last seq: at least every seq seen on the wire
    pending: list[tuple[int, int]] = []  # fetches under way: (since, server's seq then)

    def apply(step: CursorStep) -> None:
        assert step.lost is None, f"nothing is lost, yet the cursor said {step.lost!r}"
        delivered.extend(seqs(step))

    def answer_fetch() -> None:
        since, last = pending.pop(0)
        step = cursor.on_history(
            {
                "room": ROOM,
                "epoch": "e1",
                "seq": last,
                "messages": [history[s] for s in range(since + 1, last + 1)],
            }
        )
        apply(step)
        if step.fetch_since is not None:  # it may ask again
            pending.append((step.fetch_since, published))

    def resume() -> None:
        pending.clear()  # the old connection's replies never come
        since = cursor.since
        assert since == {"epoch": "e1", "seq": cursor.seq}
        apply(
            cursor.on_join(
                {
                    "room": ROOM,
                    "epoch": "e1",
                    "seq": published,
                    "recovered": True,
                    "history": [history[s] for s in range(since["seq"] + 1, published + 1)],
                }
            )
        )

    for seq in wire:
        published = max(published, seq)
        step = cursor.on_live(history[seq])
        apply(step)
        if step.fetch_since is not None:
            published = data.draw(st.integers(published, n), label="server seq at fetch")
            pending.append((step.fetch_since, published))
        while pending and data.draw(st.booleans(), label="answer a fetch now"):
            answer_fetch()
        if data.draw(st.integers(0, 9), label="drop the connection") == 0:
            resume()
    while pending:
        answer_fetch()
    published = n
    resume()
    assert delivered == list(range(1, n + 1))
    assert cursor.since == {"epoch": "e1", "seq": n}
