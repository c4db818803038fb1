"""wsnb.notebook_backoff: the reconnection delays a notebook wants (dense first, capped)."""

from __future__ import annotations

import itertools
import statistics

import wsnb


def take(n: int, **options: float) -> list[float]:
    return list(itertools.islice(wsnb.notebook_backoff(**options)(), n))


def attempts_within(horizon: float, **options: float) -> int:
    """Connection attempts in ``horizon`` s: the immediate one, then one after each delay."""
    waited, attempts = 0.0, 1
    for delay in wsnb.notebook_backoff(**options)():
        waited += delay
        if waited > horizon:
            return attempts
        attempts += 1
    raise AssertionError("unreachable")


def test_the_first_seconds_retry_every_50_to_100_ms():
    """A server cell re-run comes back within 2.5 s: the client follows within 100 ms."""
    for _ in range(100):
        delays = take(60)
        assert 0.05 <= delays[0] <= 0.1
        waited = itertools.accumulate(delays)
        dense = [v for v, total in zip(delays, waited, strict=False) if total - v < 2.5]
        assert 25 <= len(dense) <= 50  # 2.5 s of steps of 0.05-0.1 s
        assert all(0.05 <= v <= 0.1 for v in dense)


def test_after_the_dense_seconds_the_step_doubles_up_to_the_cap():
    for _ in range(100):
        delays = take(200)
        waited = list(itertools.accumulate(delays))
        later = [v for v, total in zip(delays, waited, strict=True) if total - v >= 2.5]
        # Step 0.2, 0.4, 0.8, 1.6 s, then 3 s for good, each drawn in its upper half.
        for delay, step in zip(later, [0.2, 0.4, 0.8, 1.6, *[3.0] * 150], strict=False):
            assert step / 2 <= delay <= step
        assert all(1.5 <= v <= 3.0 for v in delays[-100:])


def test_the_jitter_spreads_clients_over_the_whole_half_step():
    """Many clients dropped at once by the same server must not retry in lockstep."""
    firsts = [take(1)[0] for _ in range(2000)]
    assert min(firsts) < 0.055 and max(firsts) > 0.095
    assert 0.07 < statistics.mean(firsts) < 0.08  # uniform over 50-100 ms
    assert len(set(firsts)) == len(firsts)


def test_what_it_costs_a_server_that_stays_down():
    """About 41 attempts per client in the first 10 s (9 when doubling from the start), 63 in 60 s.

    Deterministic bounds: every delay at its step's maximum (30 + 1 attempts in
    10 s) or minimum (58 + 1).
    """
    in_10 = [attempts_within(10.0) for _ in range(300)]
    in_60 = [attempts_within(60.0) for _ in range(300)]
    assert all(31 <= n <= 59 for n in in_10)
    assert 38 <= statistics.mean(in_10) <= 44
    assert 58 <= statistics.mean(in_60) <= 68
    plain = [attempts_within(10.0, fast_for=0) for _ in range(300)]
    assert 7 <= statistics.mean(plain) <= 11  # the old schedule: doubling from 0.1 s


def test_fast_for_zero_is_plain_doubling_from_first():
    for _ in range(100):
        delays = take(8, fast_for=0)
        for delay, step in zip(delays, [0.1, 0.2, 0.4, 0.8, 1.6, 3.0, 3.0, 3.0], strict=True):
            assert step / 2 <= delay <= step


def test_notebook_backoff_takes_its_own_first_step_factor_and_cap():
    values = take(200, first=0.02, factor=3.0, cap=0.5, fast_for=1.0)
    assert 0.01 <= values[0] <= 0.02
    assert all(0 < v <= 0.5 for v in values)
    assert max(values[-20:]) > 0.25  # it does grow up to the cap
    assert sum(itertools.takewhile(lambda v: v <= 0.02, values)) >= 1.0  # dense for 1 s
