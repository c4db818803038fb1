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
    first: float = 0.1, factor: float = 2.0, cap: float = 3.0
) -> Callable[[], Generator[float]]:
    """Reconnection delays for a notebook: first retry within ``first`` s, capped at ``cap`` s.

    Each delay is drawn between half and all of the current step (jitter, so
    that many clients do not retry in lockstep); the step grows by ``factor``.
    websockets' default waits a random 0-5 s before the first retry.

    >>> delays = notebook_backoff()()
    >>> all(0.05 <= next(delays) <= 0.1 for _ in range(1))
    True
    """

    def delays() -> Generator[float]:
        step = first
        while True:
            yield step * random.uniform(0.5, 1.0)
            step = min(step * factor, cap)

    return delays
