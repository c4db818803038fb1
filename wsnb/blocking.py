"""Run a coroutine to completion from synchronous code, in a script or a notebook."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")

_patch_lock = threading.Lock()
_patched = False


def _allow_nested_running() -> None:
    """Apply nest-asyncio2's patch, once, on first need (never at import).

    The patch is process-wide and cannot be undone, so it waits until a
    caller actually runs a coroutine from inside a running loop. Version
    1.7.3 or newer is required: the archived ``nest_asyncio`` 1.6.0 (and
    nest-asyncio2 <= 1.7.2) break under ipykernel 7 as soon as another cell
    is queued behind the one that nests ("Run All").
    """
    global _patched
    with _patch_lock:
        if not _patched:
            import nest_asyncio2  # type: ignore[import-untyped]

            nest_asyncio2.apply()
            _patched = True


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code and return its result.

    * In a script (no loop running), this is ``asyncio.run(coro)``.
    * Inside a running loop (a notebook cell, a synchronous function called
      from a cell), ``asyncio.run`` would raise "cannot be called from a
      running event loop"; here the running loop runs ``coro`` to
      completion instead, nested, thanks to nest-asyncio2 (enabled on first
      such use). Servers started on that loop keep serving meanwhile.

    In a cell, plain top-level ``await`` is simpler; ``run`` is for
    synchronous code you cannot make async (a callback, a library).

    Example::

        def fetch_echo(url):                    # a synchronous function...
            return wsnb.run(wsnb.exchange(url, ["hi"]))

        fetch_echo(server.url)                  # ...called from a cell: ['hi']
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    _allow_nested_running()
    return loop.run_until_complete(coro)
