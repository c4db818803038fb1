"""Publishing exactly once: the recent idempotency keys of a server's publishes.

A client that did not get the reply to a ``publish`` (its connection dropped)
cannot know whether the server took it; sending it again could publish it
twice. With ``"idempotency_key"`` in the publish's ``data``, a second publish
with the same key in the same room, within the window, is not published
again: its reply carries the first one's ``seq`` and ``"duplicate": true``.

:class:`RecentKeys` remembers ``(room, key) -> (epoch, seq)`` for ``window``
seconds, at most ``max_keys`` of them (the oldest go first, so the window is
shorter for a server that takes more than ``max_keys`` keyed publishes in it).
A key remembered in another epoch than the room's now means nothing: the
message it numbered was lost with that epoch's history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RecentKeys", "KEY_WINDOW", "MAX_KEYS"]

#: Seconds a publish's idempotency key is remembered.
KEY_WINDOW = 120.0

#: Keys remembered at most, for every room of a server together (about 200 bytes each).
MAX_KEYS = 100_000


class RecentKeys:
    """The idempotency keys of the last ``window`` seconds (at most ``max_keys``).

    >>> now = [0.0]
    >>> keys = RecentKeys(window=10, clock=lambda: now[0])
    >>> keys.put("lobby", "k1", "e1", 4)
    >>> keys.get("lobby", "k1", "e1"), keys.get("lobby", "k1", "e2"), keys.get("news", "k1", "e1")
    (4, None, None)
    >>> now[0] = 11.0; keys.get("lobby", "k1", "e1") is None
    True
    """

    def __init__(
        self,
        window: float = KEY_WINDOW,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.window = window
        self.max_keys = max_keys
        self._clock = clock or time.monotonic
        self._keys: OrderedDict[tuple[str, str], tuple[float, str, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, room: str, key: str, epoch: str) -> int | None:
        """The seq that ``key`` got in ``room`` in ``epoch``, if it is recent."""
        self._expire()
        found = self._keys.get((room, key))
        return found[2] if found is not None and found[1] == epoch else None

    def put(self, room: str, key: str, epoch: str, seq: int) -> None:
        """``key`` numbered message ``seq`` of ``room`` in ``epoch``."""
        self._keys[room, key] = (self._clock(), epoch, seq)
        self._keys.move_to_end((room, key))
        self._expire()

    def _expire(self) -> None:
        keys, oldest = self._keys, self._clock() - self.window
        while keys and (len(keys) > self.max_keys or next(iter(keys.values()))[0] <= oldest):
            keys.popitem(last=False)
