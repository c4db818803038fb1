"""History: numbering, the bounds (count, bytes, the shared budget), pages, and replay.

docs/protocol.md, "Sequence numbers, epochs, resuming": seq is 1, 2, 3...;
a room keeps its last 1000 messages, fewer past 4 MiB, or when the server's
64 MiB for all rooms is full (the server's oldest messages go first); the
epoch changes when history is lost; a replay is never partial. Messages are
kept as the JSON text that went on the wire (``Stored``).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsnb.core import History, Replay
from wsnb.core.history import HistoryBudget, Stored, new_epoch, text_bytes
from wsnb.core.room_limits import MiB, RoomLimits


def text(seq: int, body: str = "") -> str:
    return json.dumps({"seq": seq, "body": body or f"m{seq}"}, separators=(",", ":"))


def add(history: History, body: str = "") -> Stored:
    return history.append(text(history.next_seq, body))


def filled(count: int, size: int = 1000, epoch: str = "e1", **options) -> History:
    history = History(size=size, epoch=epoch, **options)
    for _ in range(count):
        add(history)
    return history


def seqs(messages) -> list[int]:
    return [m.seq for m in messages]


# Numbering and the count bound


def test_seq_is_monotonic_from_1_and_the_text_is_kept_as_sent():
    """append numbers messages 1, 2, 3...; a Stored holds seq, the exact text and its bytes."""
    history = History(epoch="e1")
    assert (history.last_seq, len(history), history.first_seq, history.next_seq) == (0, 0, 1, 1)
    for expected in range(1, 6):
        sent = text(expected, "héllo")
        stored = history.append(sent)
        assert stored == Stored(expected, sent, len(sent.encode()))
        assert stored.message == {"seq": expected, "body": "héllo"}
        assert history.last_seq == expected and history.next_seq == expected + 1
    assert seqs(history) == [1, 2, 3, 4, 5]
    assert history.bytes == sum(m.size for m in history)


def test_a_known_size_is_taken_as_given():
    history = History(epoch="e1")
    assert history.append('{"a":1}', 7).size == 7 and history.bytes == 7


def test_text_bytes_counts_utf8():
    assert (text_bytes(""), text_bytes("abc"), text_bytes("é"), text_bytes("𝄞")) == (0, 3, 2, 4)


def test_history_is_bounded_and_keeps_the_newest():
    """Past ``size`` messages the oldest are forgotten; numbering goes on."""
    history = filled(8, size=3)
    assert seqs(history) == [6, 7, 8]
    assert history.first_seq == 6 and history.last_seq == 8
    assert [m.message["body"] for m in history] == ["m6", "m7", "m8"]
    assert history.bytes == sum(m.size for m in history)


def test_default_bounds_are_1000_messages_and_4_mib():
    """The documented defaults: 1000 messages, 4 MiB per room, 64 MiB for all rooms."""
    assert len(filled(1005)) == 1000 and filled(1005).first_seq == 6
    limits = RoomLimits()
    assert (limits.history_size, limits.history_bytes) == (1000, 4 * MiB)
    assert limits.total_history_bytes == 64 * MiB


@pytest.mark.parametrize("size", [0, -1])
def test_size_below_one_is_refused(size):
    with pytest.raises(ValueError):
        History(size=size)


def test_new_epoch_is_random_8_hex():
    epochs = {new_epoch() for _ in range(20)}
    assert len(epochs) == 20
    assert all(len(e) == 8 and int(e, 16) >= 0 for e in epochs)
    assert History().epoch != History().epoch


# The byte bounds


def test_max_bytes_forgets_the_oldest_but_always_keeps_the_newest():
    history = History(epoch="e1", max_bytes=100)
    for _ in range(10):
        add(history, "x" * 30)  # about 42 bytes each
    assert history.bytes <= 100 and seqs(history) == [9, 10]
    big = add(history, "y" * 500)  # over max_bytes alone: kept, the others go
    assert list(history) == [big] and history.bytes == big.size
    assert history.replay("e1", 10) == Replay(True, (big,), None)
    assert history.replay("e1", 9).reason == "gap_too_old"


def test_a_shared_budget_forgets_the_servers_oldest_messages_first():
    """Past the budget the oldest message of any room goes, whichever room it is in."""
    budget = HistoryBudget(max_bytes=300)
    a, b = History(epoch="a", budget=budget), History(epoch="b", budget=budget)
    for _ in range(3):
        add(a, "x" * 81)  # 100 bytes each
    assert (len(a), budget.bytes) == (3, 300)
    add(b, "y" * 81)  # 400 bytes: a's oldest goes
    assert (seqs(a), seqs(b), budget.bytes) == ([2, 3], [1], 300)
    add(b, "y" * 81)
    add(b, "y" * 81)
    assert (seqs(a), seqs(b), budget.bytes) == ([], [1, 2, 3], 300)
    assert budget.bytes == a.bytes + b.bytes


def test_the_budget_follows_what_each_room_forgets_itself():
    """A room's own limits and resets give the budget its bytes back; stale entries are skipped."""
    budget = HistoryBudget(max_bytes=10_000)
    a = History(size=2, epoch="a", budget=budget)
    b = History(epoch="b", budget=budget)
    for _ in range(50):
        add(a)
    assert budget.bytes == a.bytes and len(a) == 2
    add(b)
    b.reset("b2")
    assert budget.bytes == a.bytes
    budget.max_bytes = a.bytes - 1  # the next append must evict a's oldest kept one
    add(b)
    assert (seqs(a), seqs(b)) == ([50], [1])
    assert budget.bytes == a.bytes + b.bytes <= budget.max_bytes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 60)), max_size=60))
def test_the_budget_is_never_exceeded_and_always_adds_up(appends):
    """Whatever is appended where, the rooms together stay within the budget (when more
    than one message is kept), and the budget's count is the rooms' bytes."""
    budget = HistoryBudget(max_bytes=200)
    rooms = [History(size=5, epoch=f"e{i}", max_bytes=120, budget=budget) for i in range(3)]
    for room, length in appends:
        add(rooms[room], "z" * length)
        total = sum(r.bytes for r in rooms)
        assert budget.bytes == total
        assert total <= 200 or sum(len(r) for r in rooms) == 1
        assert all(r.bytes <= 120 or len(r) == 1 for r in rooms)


# since (a page, oldest first) and latest (the newest)


@pytest.mark.parametrize(
    ("since", "expected"),
    [(0, [4, 5, 6]), (3, [4, 5, 6]), (4, [5, 6]), (5, [6]), (6, []), (99, []), (-5, [4, 5, 6])],
)
def test_since_returns_kept_messages_after_seq(since, expected):
    """since(seq): kept messages numbered above seq, oldest first."""
    assert seqs(filled(6, size=3).since(since)) == expected


@pytest.mark.parametrize(
    ("since", "limit", "expected"),
    [
        (0, None, [1, 2, 3, 4, 5]),
        (0, 2, [1, 2]),
        (0, 1, [1]),
        (0, 0, []),
        (0, 10, [1, 2, 3, 4, 5]),
        (2, 2, [3, 4]),
        (3, 5, [4, 5]),
        (5, 3, []),
    ],
)
def test_since_with_limit_is_a_page_of_the_oldest(since, limit, expected):
    """limit: the oldest ``limit`` of the messages after ``since`` (a page forward)."""
    assert seqs(filled(5).since(since, limit)) == expected


def test_paging_forward_with_since_visits_every_message_once():
    history = filled(23, size=20)  # keeps 4..23
    got, since = [], 0
    while page := history.since(since, 7):
        got += seqs(page)
        since = page[-1].seq
    assert got == list(range(4, 24))


@pytest.mark.parametrize(("count", "expected"), [(0, []), (2, [4, 5]), (5, [1, 2, 3, 4, 5])])
def test_latest_is_the_newest_oldest_first(count, expected):
    history = filled(5)
    assert seqs(history.latest(count)) == expected
    assert seqs(history.latest(99)) == [1, 2, 3, 4, 5]


def test_since_and_latest_on_an_empty_history():
    history = History(epoch="e1")
    assert history.since(0) == [] and history.since(0, 5) == [] and history.latest(5) == []


# Replay decisions


def test_replay_recovers_exactly_the_gap():
    """Same epoch, gap still kept: recovered, messages exactly seq+1..last, in order."""
    history = filled(10, size=5)  # keeps 6..10
    replay = history.replay("e1", 7)
    assert replay == Replay(True, tuple(history.since(7)), None)
    assert seqs(replay.messages) == [8, 9, 10]
    assert [m.message["body"] for m in replay.messages] == ["m8", "m9", "m10"]


def test_replay_with_nothing_missed_recovers_an_empty_gap():
    """A client that saw the latest message recovers, with nothing to replay."""
    assert filled(4).replay("e1", 4) == Replay(True, (), None)


def test_replay_on_an_empty_history_from_zero():
    """A client that saw nothing of a room with no messages recovers nothing, fine."""
    assert History(epoch="e1").replay("e1", 0) == Replay(True, (), None)


def test_replay_other_epoch_is_epoch_changed():
    """A seq from another epoch means nothing: not recovered, no messages."""
    history = filled(4)
    assert history.replay("other", 4) == Replay(False, (), "epoch_changed")
    assert history.replay("other", 0) == Replay(False, (), "epoch_changed")


def test_replay_gap_too_old_exactly_at_the_boundary():
    """first_seq - 1 is the oldest recoverable seq; first_seq - 2 is gap_too_old."""
    history = filled(10, size=5)
    assert history.first_seq == 6
    at_boundary = history.replay("e1", 5)  # first_seq - 1: every missed message is kept
    assert at_boundary.recovered is True
    assert seqs(at_boundary.messages) == [6, 7, 8, 9, 10]
    assert history.replay("e1", 4) == Replay(False, (), "gap_too_old")
    assert history.replay("e1", 0) == Replay(False, (), "gap_too_old")


def test_replay_seq_ahead():
    """A seq beyond the room's latest: seq_ahead, not recovered."""
    assert filled(4).replay("e1", 5) == Replay(False, (), "seq_ahead")
    assert History(epoch="e1").replay("e1", 1) == Replay(False, (), "seq_ahead")


def test_reset_starts_a_new_epoch_and_restarts_seq():
    """reset(): history forgotten, new epoch, seq restarts at 1; old seqs are epoch_changed."""
    history = filled(5, size=3)
    history.reset()
    assert history.epoch != "e1" and len(history.epoch) == 8
    assert (len(history), history.last_seq, history.first_seq, history.bytes) == (0, 0, 1, 0)
    assert history.since(0) == []
    assert history.replay("e1", 5).reason == "epoch_changed"
    assert history.replay(history.epoch, 0) == Replay(True, (), None)
    assert add(history).seq == 1
    history.reset("chosen")
    assert history.epoch == "chosen"


# Never partial, for any history and any client position


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 12),
    count=st.integers(0, 40),
    seen=st.integers(0, 45),
    same_epoch=st.booleans(),
)
def test_replay_is_all_or_nothing(size, count, seen, same_epoch):
    """recovered => messages are exactly seen+1..last_seq; otherwise no messages and a reason."""
    history = filled(count, size=size)
    replay = history.replay("e1" if same_epoch else "e2", seen)
    if replay.recovered:
        assert replay.reason is None
        assert seqs(replay.messages) == list(range(seen + 1, count + 1))
    else:
        assert replay.messages == ()
        if not same_epoch:
            assert replay.reason == "epoch_changed"
        elif seen > count:
            assert replay.reason == "seq_ahead"
        else:
            assert replay.reason == "gap_too_old"
            assert seen < count - size  # message seen+1 is really gone
    # Recovery is possible exactly when nothing missed has been forgotten.
    assert replay.recovered == (same_epoch and max(0, count - size) <= seen <= count)
