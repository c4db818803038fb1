"""History: numbering, the bound, since/limit, and all-or-nothing replay decisions.

docs/protocol.md, "Sequence numbers, epochs, resuming": seq is 1, 2, 3...;
the epoch changes when history is lost; a replay is never partial.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsnb.core import History, Replay
from wsnb.core.history import new_epoch


def filled(count: int, size: int = 1000, epoch: str = "e1") -> History:
    history = History(size=size, epoch=epoch)
    for i in range(1, count + 1):
        history.append({"body": f"m{i}"})
    return history


def seqs(messages) -> list[int]:
    return [m["seq"] for m in messages]


# Numbering and the bound


def test_seq_is_monotonic_from_1_and_set_on_the_message():
    """append numbers each message 1, 2, 3... in the dict itself, and returns that dict."""
    history = History(epoch="e1")
    assert (history.last_seq, len(history), history.first_seq) == (0, 0, 1)
    for expected in range(1, 6):
        message = {"body": expected}
        returned = history.append(message)
        assert returned is message
        assert message["seq"] == expected == history.last_seq
    assert seqs(history) == [1, 2, 3, 4, 5]
    assert [m["body"] for m in history] == [1, 2, 3, 4, 5]


def test_history_is_bounded_and_keeps_the_newest():
    """Past ``size`` messages the oldest are forgotten; numbering goes on."""
    history = filled(8, size=3)
    assert len(history) == 3
    assert seqs(history) == [6, 7, 8]
    assert history.first_seq == 6 and history.last_seq == 8
    assert [m["body"] for m in history] == ["m6", "m7", "m8"]


def test_default_size_is_1000():
    """The documented default: a room keeps its last 1000 messages."""
    history = filled(1005)
    assert History().size == 1000
    assert len(history) == 1000 and history.first_seq == 6


@pytest.mark.parametrize("size", [0, -1])
def test_size_below_one_is_refused(size):
    with pytest.raises(ValueError):
        History(size=size)


def test_new_epoch_is_random_8_hex():
    epochs = {new_epoch() for _ in range(20)}
    assert len(epochs) == 20
    assert all(len(e) == 8 and int(e, 16) >= 0 for e in epochs)
    assert History().epoch != History().epoch


# since() and limit


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (0, [4, 5, 6]),
        (2, [4, 5, 6]),
        (3, [4, 5, 6]),
        (4, [5, 6]),
        (5, [6]),
        (6, []),
        (99, []),
        (-5, [4, 5, 6]),
    ],
)
def test_since_returns_kept_messages_after_seq(since, expected):
    """since(seq): kept messages numbered above seq, oldest first."""
    assert seqs(filled(6, size=3).since(since)) == expected


@pytest.mark.parametrize(
    ("since", "limit", "expected"),
    [
        (0, None, [1, 2, 3, 4, 5]),
        (0, 2, [4, 5]),
        (0, 1, [5]),
        (0, 0, []),
        (0, 10, [1, 2, 3, 4, 5]),
        (2, 2, [4, 5]),
        (3, 5, [4, 5]),
        (5, 3, []),
    ],
)
def test_since_with_limit_keeps_the_newest(since, limit, expected):
    """limit: only the newest ``limit`` of the messages after ``since``."""
    assert seqs(filled(5).since(since, limit=limit)) == expected


def test_since_on_an_empty_history():
    history = History(epoch="e1")
    assert history.since(0) == [] and history.since(0, limit=5) == []


# Replay decisions


def test_replay_recovers_exactly_the_gap():
    """Same epoch, gap still kept: recovered, messages exactly seq+1..last, in order."""
    history = filled(10, size=5)  # keeps 6..10
    replay = history.replay("e1", 7)
    assert replay == Replay(True, tuple(history.since(7)), None)
    assert seqs(replay.messages) == [8, 9, 10]
    assert [m["body"] for m in replay.messages] == ["m8", "m9", "m10"]


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
    too_old = history.replay("e1", 4)  # first_seq - 2: message 5 is gone
    assert too_old == Replay(False, (), "gap_too_old")
    assert history.replay("e1", 0) == Replay(False, (), "gap_too_old")


def test_replay_seq_ahead():
    """A seq beyond the room's latest: seq_ahead, not recovered."""
    history = filled(4)
    assert history.replay("e1", 5) == Replay(False, (), "seq_ahead")
    assert History(epoch="e1").replay("e1", 1) == Replay(False, (), "seq_ahead")


def test_reset_starts_a_new_epoch_and_restarts_seq():
    """reset(): history forgotten, new epoch, seq restarts at 1; old seqs are epoch_changed."""
    history = filled(5, size=3)
    history.reset()
    assert history.epoch != "e1" and len(history.epoch) == 8
    assert (len(history), history.last_seq, history.first_seq) == (0, 0, 1)
    assert history.since(0) == []
    assert history.replay("e1", 5).reason == "epoch_changed"
    assert history.replay(history.epoch, 0) == Replay(True, (), None)
    assert history.append({"body": "again"})["seq"] == 1


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
