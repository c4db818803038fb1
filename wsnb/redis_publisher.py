"""Publishes to Redis auto-pipelined: many per round trip, in call order.

:meth:`RedisBackend.publish` queues its message and waits; one task sends
what is queued, up to :data:`MAX_BATCH` at a time, as one pipeline of the
publish script (:mod:`wsnb.redis_scripts`), so publishes made while another
round trip is in flight go together in the next one. Each caller hears its
own ``(epoch, seq, duplicate)``, or its own error: a broken connection fails
every publish of its pipeline, and :meth:`RedisPublisher.close` fails those
still queued.

Example::

    publisher = RedisPublisher(keys, 1000, lambda calls: store.run_many("publish", calls))
    publisher.begin()
    task = asyncio.create_task(publisher.run())
    epoch, seq, duplicate = await publisher.publish("lobby", '{"body": "hi"}', None)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .core.history import new_epoch
from .core.idempotency import KEY_WINDOW
from .redis_client import _text
from .redis_keys import RedisKeys
from .redis_scripts import _Call

__all__ = ["MAX_BATCH", "RedisPublisher"]

#: The most publishes sent in one pipeline.
MAX_BATCH = 1000


@dataclass(eq=False)
class _Publish:
    room: str
    data: str
    once: str | None
    future: asyncio.Future[tuple[str, int, bool]] = field(repr=False)


class RedisPublisher:
    """The queue of publishes, and the task that sends them (:meth:`run`).

    ``send`` runs the publish script once for each call, in one pipeline, and
    returns a result or an exception for each.
    """

    def __init__(
        self,
        keys: RedisKeys,
        history_size: int,
        send: Callable[[Sequence[_Call]], Awaitable[list[Any]]],
    ) -> None:
        self._keys = keys
        self._history_size = history_size
        self._send = send
        self._queue: deque[_Publish] = deque()
        self._queued: asyncio.Event | None = None

    def begin(self) -> None:
        """Before :meth:`run`: an event of the running loop, to be woken by publishes."""
        self._queued = asyncio.Event()

    async def publish(self, room: str, data: str, once: str | None) -> tuple[str, int, bool]:
        """Queue ``data`` for ``room`` (with idempotency key ``once``) and wait for its reply."""
        assert self._queued is not None
        future: asyncio.Future[tuple[str, int, bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Publish(room, data, once, future))
        self._queued.set()
        return await future

    async def run(self) -> None:
        assert self._queued is not None
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
                await self._publish_batch(batch)

    def close(self) -> None:
        """Fail every publish still queued (once :meth:`run` was cancelled)."""
        _fail(self._queue)
        self._queue.clear()

    async def _publish_batch(self, batch: list[_Publish]) -> None:
        window = int(KEY_WINDOW * 1000)
        key = self._keys.room
        calls = [
            (
                (
                    key(p.room, "meta"),
                    key(p.room, "hist"),
                    "" if p.once is None else key(p.room, f"once:{p.once}"),
                ),
                (new_epoch(), self._history_size, key(p.room, "ch"), p.data, window),
            )
            for p in batch
        ]
        try:
            results = await self._send(calls)
        except Exception as error:  # the connection, most likely: every caller hears of it
            results = [error] * len(batch)
        except BaseException:  # closed meanwhile
            _fail(batch)
            raise
        for publish, result in zip(batch, results, strict=True):
            if publish.future.done():  # its caller was cancelled
                continue
            try:
                if isinstance(result, BaseException):
                    raise result
                publish.future.set_result((_text(result[0]), int(result[1]), bool(result[2])))
            except Exception as error:
                publish.future.set_exception(error)


def _fail(publishes: Iterable[_Publish]) -> None:
    for publish in publishes:
        if not publish.future.done():
            publish.future.set_exception(RuntimeError("the RedisBackend was closed"))
