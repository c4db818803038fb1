"""TokenBucket, the pure rule behind wsnb.rate_limited, driven by an injected clock.

Clock steps are multiples of 1/4 s and rates small integers, so every refill
below is exact in floating point: no test depends on rounding.
"""

from __future__ import annotations

import pytest

from wsnb.core.ratelimit import TokenBucket


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def takes(bucket: TokenBucket, n: int) -> list[bool]:
    return [bucket.take() for _ in range(n)]


def test_starts_full_allows_a_burst_then_refuses():
    """A new bucket allows exactly ``burst`` events at once, then refuses."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert takes(bucket, 5) == [True, True, True, False, False]


def test_burst_of_one():
    """burst=1: one event, then nothing until a token is back."""
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    assert takes(bucket, 2) == [True, False]
    clock.advance(0.25)
    assert takes(bucket, 2) == [True, False]


def test_refill_at_rate_tokens_per_second():
    """Tokens come back at ``rate`` per second: 2/s gives one per half second."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=4, clock=clock)
    assert takes(bucket, 5) == [True] * 4 + [False]
    clock.advance(0.5)
    assert takes(bucket, 2) == [True, False]
    clock.advance(1.0)
    assert takes(bucket, 3) == [True, True, False]


def test_fractional_refills_accumulate_across_refusals():
    """Half a token is not enough, but it is kept: a refusal does not waste it."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    assert bucket.take() is True
    clock.advance(0.25)  # half a token
    assert bucket.take() is False
    clock.advance(0.25)  # the other half
    assert bucket.take() is True
    assert bucket.take() is False


def test_rate_below_one_per_second():
    """rate=0.5: one event every two seconds."""
    clock = FakeClock()
    bucket = TokenBucket(rate=0.5, burst=1, clock=clock)
    assert bucket.take() is True
    clock.advance(1.0)
    assert bucket.take() is False
    clock.advance(1.0)
    assert bucket.take() is True


def test_refusals_do_not_consume_tokens():
    """Many refused events in a row do not push the bucket into debt."""
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=2, clock=clock)
    assert takes(bucket, 2) == [True, True]
    assert not any(takes(bucket, 100))
    clock.advance(1.0)
    assert bucket.take() is True


def test_long_idle_refills_only_up_to_burst():
    """Idle time is capped at ``burst`` tokens: an hour of silence is not an hour of credit."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert takes(bucket, 3) == [True] * 3
    clock.advance(3600)
    assert takes(bucket, 4) == [True, True, True, False]


def test_idle_on_a_full_bucket_does_not_exceed_burst():
    """A bucket that never spent anything still allows only ``burst`` at once."""
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=2, clock=clock)
    clock.advance(1000)
    assert takes(bucket, 3) == [True, True, False]


def test_clock_start_is_read_at_construction():
    """Time is measured from when the bucket was made, not from zero."""
    clock = FakeClock(now=12345.0)
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    assert clock.calls == 1
    assert takes(bucket, 2) == [True, False]
    clock.advance(1.0)
    assert bucket.take() is True


def test_steady_rate_is_sustained():
    """At exactly the rate, every event is allowed; twice as fast, half of them."""
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    allowed = []
    for _ in range(20):
        allowed.append(bucket.take())
        clock.advance(0.25)
    assert all(allowed)

    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    allowed = []
    for _ in range(20):
        allowed.append(bucket.take())
        clock.advance(0.25)
    assert allowed == [True, False] * 10


def test_default_clock_is_monotonic_time():
    """Without a clock it uses time.monotonic: a burst of 1 then a refusal (the
    refill, 1 token per 1000 s, cannot come back between two calls)."""
    bucket = TokenBucket(rate=0.001, burst=1)
    assert takes(bucket, 2) == [True, False]


def test_attributes_keep_the_configuration():
    bucket = TokenBucket(rate=2.5, burst=7, clock=FakeClock())
    assert (bucket.rate, bucket.burst) == (2.5, 7)


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, 1), (-1, 1), (-0.5, 5), (1, 0), (1, -3), (0, 0)],
    ids=["rate-0", "rate-negative", "rate-negative-fraction", "burst-0", "burst-negative", "both"],
)
def test_invalid_configuration_raises_value_error(rate, burst):
    """A rate <= 0 or a burst < 1 is refused at construction, with a clear message."""
    with pytest.raises(ValueError, match=r"rate must be > 0 and burst >= 1"):
        TokenBucket(rate=rate, burst=burst, clock=FakeClock())
