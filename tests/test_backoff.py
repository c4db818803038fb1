"""wsnb.notebook_backoff: the reconnection delays a notebook wants (fast first, capped)."""

from __future__ import annotations

import wsnb


def test_notebook_backoff_retries_fast_first_and_is_capped():
    delays = wsnb.notebook_backoff()()
    first = next(delays)
    assert 0 < first <= 0.1
    assert all(0 < next(delays) <= 3.0 for _ in range(100))

    delays = wsnb.notebook_backoff(first=0.02, factor=3.0, cap=0.5)()
    values = [next(delays) for _ in range(50)]
    assert 0 < values[0] <= 0.02
    assert all(0 < v <= 0.5 for v in values)
    assert max(values[-20:]) > 0.25  # it does grow up to the cap
