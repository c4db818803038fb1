"""Reconnection delays suited to a notebook: retry soon, never wait long.

websockets' reconnecting ``connect()`` waits a random 0-5 s before its first
retry and backs off to 90 s; a learner re-running a server cell wants the
client back within a fraction of a second. :class:`wsnb.Subscriber` uses
:func:`notebook_backoff` by default.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator

__all__ = ["notebook_backoff"]


def notebook_backoff(
    first: float = 0.1, factor: float = 2.0, cap: float = 3.0, *, fast_for: float = 2.5
) -> Callable[[], Generator[float]]:
    """Reconnection delays for a notebook: dense for ``fast_for`` s, then growing to ``cap`` s.

    The step stays at ``first`` until the delays add up to ``fast_for``
    seconds (a server cell re-run, or stopped and served again, is back
    within that: the client follows within one step); then it grows by
    ``factor`` at each retry, up to ``cap``, for a server that stays down.
    Each delay is drawn between half and all of the current step (jitter, so
    that many clients do not retry in lockstep). With the defaults: retries
    50-100 ms apart for 2.5 s (about 35 attempts), then 0.1-0.2 s, 0.2-0.4 s...
    up to 1.5-3 s; ``fast_for=0`` gives the plain doubling from ``first``.
    websockets' default waits a random 0-5 s before the first retry.

    >>> delays = notebook_backoff()()
    >>> all(0.05 <= next(delays) <= 0.1 for _ in range(20))
    True
    """

    def delays() -> Generator[float]:
        step, waited = first, 0.0
        while True:
            delay = step * random.uniform(0.5, 1.0)
            waited += delay
            yield delay
            if waited >= fast_for:
                step = min(step * factor, cap)

    return delays
