"""Helpers shared by the benchmark scripts in this folder.

``echo.py``, ``broadcast.py``, ``rooms.py`` and ``reconnect.py`` import from
here with ``from harness import ...``: Python puts a script's folder first
on ``sys.path``, and the server processes they start with multiprocessing's
"spawn" method get the parent's ``sys.path``, so they find this module too.

Only what several scripts did the same way is here: CPU pinning, the open
files limit, SIGTERM handling, a log filter for the servers, the opening
handshake of the minimal raw WebSocket clients, and the number formats of
the reports. Nothing here imports websockets or wsnb at import time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import resource
import signal
import statistics
from collections.abc import Iterator, Sequence
from typing import Any

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's key suffix


# --------------------------------------------------------------------------
# Processes.
# --------------------------------------------------------------------------


def pick_cpus() -> tuple[int, int] | None:
    """Two CPUs this process may run on, or None if there are not two.

    The scripts pin their client side to the first and their server
    process(es) to the second.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


def raise_fd_limit(needed: int) -> None:
    """Raise this process's soft limit on open files to ``needed`` if it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            raise RuntimeError(
                f"need {needed} open files, the hard limit is {hard} (raise it with ulimit -Hn)"
            )


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM handler: raise KeyboardInterrupt, as Ctrl-C does."""
    raise KeyboardInterrupt  # unwinds through the finally clauses that stop the servers


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt; the previous handler after it.

    So that ``kill`` (and timeouts that send SIGTERM) unwind through the
    ``finally`` clauses that stop the server processes, as Ctrl-C does.
    """
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class QuietDisconnects(logging.Filter):
    """Drop the traceback websockets logs when a handler ends with ConnectionClosed.

    That happens when a client goes away abruptly (Ctrl-C, an error, or the
    parent aborting its clients at the end). A log filter leaves the
    handlers as they are, with nothing added per message. Install it with
    ``logging.getLogger("websockets.server").addFilter(QuietDisconnects())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for a record whose exception is a ConnectionClosed."""
        from websockets.exceptions import ConnectionClosed  # only when something is logged

        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionClosed))


# --------------------------------------------------------------------------
# Minimal raw WebSocket clients: the opening handshake.
# --------------------------------------------------------------------------


def handshake(host: str, port: int) -> tuple[bytes, bytes]:
    """An opening handshake request for ``host``:``port`` and the accept value it expects."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return request, base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def check_response(head: bytes, accept: bytes) -> None:
    """Raise ConnectionError unless ``head`` (the response up to its blank line) accepts.

    It must be a 101 with the expected Sec-WebSocket-Accept and no
    extension: the clients parse plain, uncompressed frames only.
    """
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {lines[0]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    if headers.get(b"sec-websocket-accept") != accept:
        raise ConnectionError("handshake: wrong Sec-WebSocket-Accept")
    if b"sec-websocket-extensions" in headers:
        raise ConnectionError("handshake: the server negotiated an extension")


# --------------------------------------------------------------------------
# Reports.
# --------------------------------------------------------------------------


def summary(values: Sequence[float], digits: int, scale: float = 1.0) -> str:
    """``median [min-max]`` of ``values`` times ``scale``, with ``digits`` decimals."""
    if scale != 1.0:
        values = [x * scale for x in values]
    return (
        f"{statistics.median(values):.{digits}f} "
        f"[{min(values):.{digits}f}-{max(values):.{digits}f}]"
    )


def fmt_rate(value: float, whole_from: float = float("inf")) -> str:
    """A rate in thousands: ``12.3k``; whole thousands (``123k``) from ``whole_from`` on."""
    return f"{value / 1000:.0f}k" if value >= whole_from else f"{value / 1000:.1f}k"


def stop_child(process: Any, conn: Any, stop_message: object, timeout: float = 5.0) -> None:
    """End a server's child process: ask it politely, then terminate, then kill.

    ``process`` is a multiprocessing process, ``conn`` its end of the pipe,
    ``stop_message`` what the child understands as "stop". Synchronous.
    """
    if process.is_alive():
        with contextlib.suppress(OSError):
            conn.send(stop_message)
        process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
    conn.close()
